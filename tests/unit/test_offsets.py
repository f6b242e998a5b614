"""The ledger of streams/offsets.py: what may be committed, and when a partition is read again."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer
from faust.types import TP

from streams import offsets
from streams.offsets import IDLE_S, STUCK_S, Ledger, commit_offset
from streams.runtime import Shell

TP0 = TP("payments.events.v1", 4)


def _faust(committed: int | None, acked: list[int]) -> Any:
    """Faust's consumer bookkeeping, as its `_new_offset` reads it."""
    return SimpleNamespace(
        _acked=defaultdict(list, {TP0: list(acked)}),
        _acked_index=defaultdict(set, {TP0: set(acked)}),
        _committed_offset=defaultdict(lambda: None, {TP0: committed}),
        _gap=defaultdict(dict),
    )


def test_faust_alone_commits_past_a_record_that_was_never_processed():
    # why the ledger exists: committed 298 means "read 298 next"; 299 and 300 were
    # processed, 298 never reached the agent, and Faust commits 301
    assert Consumer._new_offset(_faust(298, [299, 300]), TP0) == 301


def test_the_commit_stops_at_the_first_record_not_finished():
    ledger = Ledger()
    ledger.start(TP0, 298)
    ledger.done(TP0, 299)
    ledger.done(TP0, 300)
    assert commit_offset(_faust(298, [299, 300]), TP0, ledger) == 298
    ledger.done(TP0, 298)
    assert commit_offset(_faust(298, [298, 299, 300]), TP0, ledger) == 301


def test_a_partition_the_ledger_never_saw_start_is_not_committed():
    assert commit_offset(_faust(None, [5, 6]), TP0, Ledger()) is None


def test_faust_acknowledged_offsets_below_the_commit_are_dropped():
    ledger = Ledger()
    ledger.start(TP0, 10)
    for offset in (10, 11, 13):
        ledger.done(TP0, offset)
    faust = _faust(10, [10, 11, 13])
    assert commit_offset(faust, TP0, ledger) == 12
    assert faust._acked[TP0] == [13]
    assert faust._acked_index[TP0] == {13}


def test_a_restart_from_the_committed_offset_keeps_what_this_process_finished():
    ledger = Ledger()
    ledger.start(TP0, 100)
    for offset in (100, 101, 102, 104):
        ledger.done(TP0, offset)
    ledger.start(TP0, 100)  # a rebalance: Faust seeks back to the committed offset
    assert ledger.frontier[TP0] == 103
    ledger.start(TP0, 200)  # another worker committed further meanwhile
    assert ledger.frontier[TP0] == 200
    ledger.done(TP0, 150)  # a record processed again, below the frontier: no effect
    assert ledger.frontier[TP0] == 200


def test_a_hole_is_read_again_once_it_lasts():
    ledger = Ledger()
    ledger.start(TP0, 298)
    ledger.done(TP0, 299)  # 298 never arrived
    ledger.busy = 1  # even while agents are busy: later records finished, 298 is lost
    assert ledger.stuck(TP0, highwater=300, now=1000.0) is None
    assert ledger.stuck(TP0, highwater=300, now=1000.0 + STUCK_S - 0.1) is None
    assert ledger.stuck(TP0, highwater=300, now=1000.0 + STUCK_S) == 298


def test_a_lost_last_record_is_read_again_once_the_partition_is_idle(monkeypatch):
    clock = [1000.0]
    monkeypatch.setattr(offsets.time, "monotonic", lambda: clock[0])
    ledger = Ledger()
    ledger.start(TP0, 298)  # a record exists at 298 (highwater 299) but never arrives
    assert ledger.stuck(TP0, highwater=299, now=clock[0] + IDLE_S - 0.1) is None
    first = clock[0] + IDLE_S
    assert ledger.stuck(TP0, highwater=299, now=first) is None  # stuck from now on
    assert ledger.stuck(TP0, highwater=299, now=first + STUCK_S) == 298


def test_nothing_is_read_again_while_an_agent_is_busy_or_when_all_is_finished():
    ledger = Ledger()
    ledger.start(TP0, 298)
    ledger.busy = 1  # a slow record (a payment in backoff) holds the partition back
    for second in range(0, 60, 5):
        assert ledger.stuck(TP0, highwater=299, now=1000.0 + second) is None
    ledger.busy = 0
    ledger.done(TP0, 298)
    for second in range(0, 60, 5):
        assert ledger.stuck(TP0, highwater=299, now=2000.0 + second) is None


def test_a_moving_frontier_is_not_stuck():
    ledger = Ledger()
    ledger.start(TP0, 0)
    ledger.done(TP0, 2)  # a hole at 0..1 while they are being processed
    assert ledger.stuck(TP0, highwater=10, now=1000.0) is None
    ledger.done(TP0, 0)  # the frontier moved (0 -> 1): the clock starts again
    assert ledger.stuck(TP0, highwater=10, now=1000.0 + STUCK_S) is None
    assert ledger.stuck(TP0, highwater=10, now=1000.0 + 2 * STUCK_S) == 1


def test_an_in_order_reader_skips_finished_records_and_leaves_records_after_a_hole():
    ledger = Ledger()
    ledger.start(TP0, 5)
    shell = Shell(SimpleNamespace(), SimpleNamespace(), "orderflow-test", ledger, partitions=6)  # type: ignore[arg-type]

    async def events() -> AsyncIterator[Any]:
        for offset in (4, 5, 7, 6):  # 4 done before; 7 arrives before 6 (a dropped record)
            yield SimpleNamespace(message=SimpleNamespace(tp=TP0, offset=offset, headers=[]))

    stream = SimpleNamespace(prefix="streams.agents.test.in_order_test", events=events)
    seen: list[int] = []

    async def handle(batch: list[Any]) -> None:
        seen.extend(event.message.offset for event in batch)

    asyncio.run(shell.each_batch(stream, handle, in_order=True))  # type: ignore[arg-type]
    assert seen == [5, 6]  # 7 is left for the re-read from 7
    assert ledger.frontier[TP0] == 7
    assert ledger._missed[TP0] == 6  # 7 came before 6: the frontier (6) was reported missed


def test_a_record_missed_by_an_in_order_reader_is_read_again_after_a_second():
    ledger = Ledger()
    ledger.start(TP0, 298)
    ledger.busy = 1
    ledger.missed(TP0)  # 299 arrived while the frontier waits at 298
    assert ledger.stuck(TP0, highwater=300, now=1000.0) is None
    assert ledger.stuck(TP0, highwater=300, now=1000.0 + offsets.MISSED_S) == 298
    ledger.done(TP0, 298)  # read again: the frontier moves, the miss is forgotten
    assert ledger.stuck(TP0, highwater=300, now=1100.0) is None


def test_after_a_failed_batch_an_in_order_reader_takes_nothing_until_the_re_read():
    ledger = Ledger()
    ledger.start(TP0, 5)
    shell = Shell(SimpleNamespace(), SimpleNamespace(), "orderflow-test", ledger, partitions=6)  # type: ignore[arg-type]
    failed = asyncio.Event()
    handled: list[list[int]] = []

    def record(offset: int) -> Any:
        where = {"topic": TP0.topic, "partition": TP0.partition, "offset": offset}
        return SimpleNamespace(message=SimpleNamespace(tp=TP0, headers=[], **where))

    async def events() -> AsyncIterator[Any]:
        for offset in (5, 6, 7):
            yield record(offset)
        await failed.wait()  # the batch 5-7 failed
        yield record(8)  # beyond the frontier (5): not taken, the partition is to be re-read
        for offset in (5, 6, 7, 8):  # the ledger's re-read
            yield record(offset)

    async def handle(batch: list[Any]) -> None:
        offsets = [event.message.offset for event in batch]
        handled.append(offsets)
        if len(handled) == 1:
            failed.set()
            raise RuntimeError("the first batch fails")

    stream = SimpleNamespace(prefix="streams.agents.test.in_order_test", events=events)
    asyncio.run(shell.each_batch(stream, handle, in_order=True))  # type: ignore[arg-type]
    assert handled == [[5, 6, 7], [5, 6, 7, 8]]
    assert ledger.frontier[TP0] == 9
    assert ledger._missed[TP0] == 5  # 8 came while 5 was still to be read again
