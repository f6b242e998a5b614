"""Commit what was processed, and nothing else: our own ledger of processed offsets.

faust-streaming 0.15.3 decides what to commit from the offsets its streams acknowledged,
measured against its own idea of the committed offset, and both can be wrong around a restart
or a rebalance: its conductor drops a fetched message when no stream is attached yet (no
delivery, no ack), its head-gap guard treats the committed offset as the last processed
record (it is the next one to read), and it forgets the committed offset on a revoke. The crash
test lost records through each of these (a PaymentDeclined never seen by the order saga;
ReserveStock commands at the end of a partition committed past). Patching those paths one by
one kept missing one, so the commit decision is now ours:

- the Ledger learns, per partition, where the consumer starts reading (the committed offsets
  Faust seeks to after every assignment) and which records the agents finished (the shell
  marks each one once its effects are in Kafka and its state is stored: streams/runtime.py);
- Faust's `_new_offset` is replaced: the offset to commit is the ledger's *frontier*, the first
  record not yet finished, so every record below a committed offset was processed;
- a timer re-reads a partition from its frontier when the frontier is stuck while records
  exist beyond it: later records finished (a hole), or nothing of that partition arrived for
  IDLE_S (the record at the frontier was the last one fetched and was dropped). The records
  after it are processed again, which the idempotent deciders absorb.

Our topics have contiguous offsets (no transactions, no compaction), so "every offset from the
start up to the frontier finished" is exactly "nothing skipped".
"""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from typing import Any

import faust
from faust.transport.consumer import Consumer
from faust.transport.drivers import aiokafka as faust_aiokafka
from faust.types import TP

log = logging.getLogger("orderflow.streams")

STUCK_S = 5.0  # a frontier that has not moved this long, with records beyond it, is stuck
MISSED_S = 1.0  # the same, once an in-order reader saw a later record arrive first
IDLE_S = 6.0  # nothing of the partition arrived this long: its next record is not coming


class Ledger:
    """Per partition: the frontier (every record below it finished) and the finished records
    beyond it."""

    def __init__(self) -> None:
        self.frontier: dict[TP, int] = {}
        self._ahead: dict[TP, set[int]] = {}
        self._last_done: dict[TP, float] = {}
        self._stuck_since: dict[TP, tuple[int, float]] = {}
        self._missed: dict[TP, int] = {}  # frontier at which a later record arrived first
        self.busy = 0  # records an agent is processing right now

    def tracks(self, tp: TP) -> bool:
        return tp in self.frontier

    def start(self, tp: TP, offset: int) -> None:
        """The consumer reads `tp` from `offset` (the committed offset after an assignment).
        A record this process already finished stays finished."""
        frontier = max(offset, self.frontier.get(tp, offset))
        self.frontier[tp] = frontier
        self._ahead[tp] = {o for o in self._ahead.get(tp, ()) if o >= frontier}
        self._last_done[tp] = time.monotonic()
        self._advance(tp)

    def done(self, tp: TP, offset: int) -> None:
        """The record at `offset` is finished: its effects and state are stored."""
        frontier = self.frontier.get(tp)
        self._last_done[tp] = time.monotonic()
        if frontier is None or offset < frontier:
            return  # not started by an assignment we saw, or a record processed again
        self._ahead[tp].add(offset)
        self._advance(tp)

    def missed(self, tp: TP, at: int | None = None) -> None:
        """An in-order reader got a record beyond the one it expected next, `at` (default:
        the frontier): that record was dropped (records of a partition arrive in order), so
        once the frontier reaches it there is no need to wait long."""
        expected = self.frontier.get(tp) if at is None else at
        if expected is not None:
            self._missed[tp] = expected

    def _advance(self, tp: TP) -> None:
        frontier, ahead = self.frontier[tp], self._ahead[tp]
        while frontier in ahead:
            ahead.discard(frontier)
            frontier += 1
        self.frontier[tp] = frontier

    def lag(self, tp: TP, highwater: int | None) -> int | None:
        """Records of `tp` not finished yet: from the frontier up to the highwater (the offset
        the next record written will get). None if either is unknown."""
        frontier = self.frontier.get(tp)
        if frontier is None or highwater is None:
            return None
        return max(highwater - frontier, 0)

    def stuck(self, tp: TP, highwater: int | None, now: float) -> int | None:
        """The frontier to read again from, when records beyond it exist and either later ones
        finished (a hole) or none arrived for IDLE_S, for longer than STUCK_S; or, when an
        in-order reader saw a later record first, for longer than MISSED_S."""
        frontier = self.frontier.get(tp)
        if frontier is None or highwater is None or highwater <= frontier:
            self._stuck_since.pop(tp, None)
            return None
        missed = self._missed.get(tp) == frontier
        hole = bool(self._ahead[tp]) or missed
        # no record of this partition arrived for a while, and no agent is busy with one (a
        # slow record, such as a payment in backoff, holds the others back)
        idle = self.busy == 0 and now - self._last_done.get(tp, now) >= IDLE_S
        if not (hole or idle):
            self._stuck_since.pop(tp, None)
            return None
        at, since = self._stuck_since.setdefault(tp, (frontier, now))
        if at != frontier:
            self._stuck_since[tp] = (frontier, now)
            return None
        if now - since < (MISSED_S if missed else STUCK_S):
            return None
        del self._stuck_since[tp]
        self._missed.pop(tp, None)
        return frontier


LEDGER = Ledger()


def commit_offset(consumer: Any, tp: TP, ledger: Ledger = LEDGER) -> int | None:
    """Faust's `_new_offset`, decided by the ledger: the frontier of a partition it knows
    (Faust's acknowledged offsets below it are dropped, as Faust does after a commit)."""
    frontier = ledger.frontier.get(tp)
    if frontier is None:
        return None  # never started from a committed offset we saw: commit nothing
    acked = consumer._acked[tp]
    if acked:
        consumer._acked[tp] = [o for o in acked if o >= frontier]
        consumer._acked_index[tp].difference_update(o for o in acked if o < frontier)
    return frontier


def _new_offset(self: Consumer, tp: TP) -> int | None:
    return commit_offset(self, tp)


_original_seek_to_committed = faust_aiokafka.Consumer.seek_to_committed


async def _seek_to_committed(self: Any) -> Mapping[TP, int]:
    """Faust seeks every assigned partition to its committed offset after each rebalance; the
    ledger starts there. A partition with nothing committed starts at its earliest offset."""
    committed: Mapping[TP, int] = await _original_seek_to_committed(self)
    ours = {tp: o for tp, o in committed.items() if self.app.topics.acks_enabled_for(tp.topic)}
    never = [tp for tp, offset in ours.items() if offset is None or offset < 0]
    earliest = await self.earliest_offsets(*never) if never else {}
    for tp, offset in ours.items():  # the agents' topics (not changelogs)
        start = earliest.get(tp) if tp in earliest else offset
        if start is not None:
            LEDGER.start(TP(tp.topic, tp.partition), start)
    return committed


def guard(app: faust.App) -> None:
    """Install the ledger's commit decision and the timer that re-reads lost records."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    faust_aiokafka.Consumer.seek_to_committed = _seek_to_committed  # type: ignore[method-assign]

    @app.timer(interval=1.0)
    async def reread_lost_records() -> None:
        if app.rebalancing:
            return
        consumer: Any = app.consumer
        now = time.monotonic()
        for tp in consumer.assignment():
            if not LEDGER.tracks(tp):
                continue
            try:
                highwater = consumer.highwater(tp)
            except Exception:  # not fetched yet: nothing to say
                continue
            frontier = LEDGER.stuck(tp, highwater, now)
            if frontier is None:
                continue
            log.warning(
                "record %s[%s]@%s was never processed; reading the partition again from it",
                tp.topic,
                tp.partition,
                frontier,
            )
            await consumer.seek(tp, frontier)
