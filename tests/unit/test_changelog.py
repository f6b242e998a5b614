"""streams/changelog.py: a block of table writes ends only when their changelog records are
acknowledged."""

from __future__ import annotations

import asyncio
from typing import Any

from streams import changelog


def test_the_block_waits_for_the_changelog_sends_made_inside_it(monkeypatch):
    sends: list[asyncio.Future[Any]] = []

    def fake_send(_table: Any, *_args: Any, **_kwargs: Any) -> asyncio.Future[Any]:
        sends.append(asyncio.get_running_loop().create_future())
        return sends[-1]

    monkeypatch.setattr(changelog, "_original_send_changelog", fake_send)
    trace: list[str] = []

    async def writer() -> None:
        changelog._send_changelog(object())  # a write outside any block: not waited for
        async with changelog.acknowledged():
            changelog._send_changelog(object())
            changelog._send_changelog(object())
        trace.append("block ended")

    async def kafka() -> None:
        await asyncio.sleep(0.01)
        trace.append("acknowledging")
        for sent in sends[1:]:
            sent.set_result("metadata")

    async def main() -> None:
        await asyncio.gather(writer(), kafka())

    asyncio.run(main())
    assert trace == ["acknowledging", "block ended"]
    assert len(sends) == 3 and not sends[0].done()
