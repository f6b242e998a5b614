"""KeyLocks (streams/runtime.py): what lets the payment agent run gateway calls side by side."""

from __future__ import annotations

import asyncio

from streams.runtime import KeyLocks


def test_one_key_waits_its_turn_while_other_keys_run_side_by_side():
    locks = KeyLocks()
    trace: list[str] = []

    async def handle(key: str, name: str) -> None:
        async with locks.hold(key):
            trace.append(f"start {name}")
            await asyncio.sleep(0.01)
            trace.append(f"end {name}")

    async def main() -> None:
        await asyncio.gather(handle("alice", "a1"), handle("alice", "a2"), handle("bob", "b1"))

    asyncio.run(main())
    # a2 starts only after a1 ended; b1 started before a1 ended
    assert trace.index("start a2") > trace.index("end a1")
    assert trace.index("start b1") < trace.index("end a1")
    assert len(locks) == 0  # nothing kept once nobody holds or waits


def test_a_failing_holder_releases_the_key():
    locks = KeyLocks()

    async def main() -> None:
        try:
            async with locks.hold("alice"):
                raise ValueError("gateway exploded")
        except ValueError:
            pass
        async with asyncio.timeout(1):
            async with locks.hold("alice"):
                pass

    asyncio.run(main())
    assert len(locks) == 0
