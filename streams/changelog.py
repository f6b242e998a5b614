"""Table writes that are in Kafka before anything follows from them.

A Faust table write goes to the local RocksDB at once and to its changelog topic later, through
a buffer that Faust's pre-commit flush may leave non-empty (it gives up after 0.1 s without
progress). After a SIGKILL, recovery replays the changelog from the last offset it saw
acknowledged, which can put an older value over a newer local one. So a source record whose
table write never reached the changelog could already be committed, and its effect is gone:
the tables "come back short". The crash test saw it as live analytics one order short.

`acknowledged()` collects the changelog sends of the table writes made inside it (Faust's
`send_changelog` is wrapped to report them, per asyncio task) and waits until Kafka
acknowledged them all. The shell stores state this way before it sends a record's outputs and
before the record counts as finished.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from contextvars import ContextVar
from typing import Any

from faust.tables.base import Collection

_SENDS: ContextVar[list[asyncio.Future[Any]] | None] = ContextVar("changelog_sends", default=None)
_original_send_changelog = Collection.send_changelog


def _send_changelog(self: Collection, *args: Any, **kwargs: Any) -> Any:
    sent = _original_send_changelog(self, *args, **kwargs)
    sends = _SENDS.get()
    if sends is not None:
        sends.append(sent)
    return sent


def install() -> None:
    Collection.send_changelog = _send_changelog  # type: ignore[method-assign]


@asynccontextmanager
async def acknowledged() -> AsyncIterator[None]:
    """The table writes inside the block are acknowledged by Kafka when it ends."""
    sends: list[asyncio.Future[Any]] = []
    token = _SENDS.set(sends)
    try:
        yield
    finally:
        _SENDS.reset(token)
    if sends:
        await asyncio.gather(*sends)
