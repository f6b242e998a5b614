"""KeyedLanes (streams/lanes.py): records side by side, one key at a time, in order."""

from __future__ import annotations

import asyncio

from streams.lanes import KeyedLanes


def _run(limit: int, jobs: list[tuple[str, str, float]], fail: str = "") -> tuple[list[str], int]:
    """Submit (key, name, seconds) jobs; returns the trace and the most running at once."""
    trace: list[str] = []
    running = [0, 0]

    async def main() -> None:
        lanes = KeyedLanes(limit)
        finished = asyncio.Event()
        left = [len(jobs)]

        def job(name: str, seconds: float):
            async def work() -> None:
                running[0] += 1
                running[1] = max(running)
                trace.append(f"start {name}")
                try:
                    await asyncio.sleep(seconds)
                    if name == fail:
                        raise RuntimeError(name)
                    trace.append(f"end {name}")
                finally:
                    running[0] -= 1
                    left[0] -= 1
                    if not left[0]:
                        finished.set()

            return work

        for key, name, seconds in jobs:
            await lanes.submit(key, job(name, seconds))
        await asyncio.wait_for(finished.wait(), 5)
        await asyncio.sleep(0)
        assert len(lanes) == 0  # nothing kept once a key's work ended

    asyncio.run(main())
    return trace, running[1]


def test_one_key_in_order_other_keys_side_by_side():
    trace, most = _run(8, [("a", "a1", 0.03), ("a", "a2", 0.0), ("b", "b1", 0.01)])
    assert trace.index("start a2") > trace.index("end a1")  # a2 waited for a1
    assert trace.index("end b1") < trace.index("end a1")  # b1 did not wait for a1
    assert most == 2


def test_no_more_than_the_limit_at_once():
    _trace, most = _run(3, [(f"k{n}", f"j{n}", 0.01) for n in range(10)])
    assert most == 3


def test_a_failed_work_does_not_hold_its_key():
    trace, _ = _run(4, [("a", "a1", 0.0), ("a", "a2", 0.0)], fail="a1")
    assert "end a2" in trace
