"""Retiring finished orders from the agents' tables, so a table holds the orders of the last
window, not every order ever placed (docs/data-lifecycle.md).

A key's state is *ended* when its role says so (the saga: the order completed or cancelled;
payment: a verdict made; fulfillment: delivered or stopped) and carries `ended_at`, when it
ended. A sweep walks the table partitions this worker owns, a bounded number of keys per tick,
and deletes every key that ended more than the window ago: a tombstone in the changelog, which
compaction then drops, so neither the table nor its restore grows with history.

Why a retired order cannot come back to life, be charged, reserved or shipped again:
- every message that creates a key's state (PlaceOrder, AuthorizePayment, RefundPayment,
  ScheduleFulfillment) was written before that state ended, so once the state is retired such
  a message is older than the window: the shell refuses it (dead-lettered `too-old`, the
  evidence kept), whether Kafka delivers it again or somebody replays it;
- the API answers a repeated Idempotency-Key from its own memory or from the read model, which
  keeps every order, never by placing the order again (api/idempotency.py);
- a reply or a cancel that arrives for a retired key finds no state and changes nothing, the
  deciders' rule for an unknown key (and the API answers such a cancel from the read model).
A key is deleted only once its stored outputs are known to have left, and with no `await`
between reading it and deleting it, so a record decided meanwhile is never lost."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import faust

from orderflow import metrics
from schemas.events import Message, now_millis
from streams import changelog
from streams.faust_patches import StandIn, active_stores, reading
from streams.outbox import Stored, state_of

log = logging.getLogger("orderflow.streams")

KEEP, STAMP, RETIRE = "keep", "stamp", "retire"


@dataclass(frozen=True)
class Retirement:
    """What a table retires: which stored states are ended, which messages create state (and
    are refused once older than the window), and the window."""

    table: faust.types.TableT
    ended: Callable[[Mapping[str, Any]], bool]
    creates: frozenset[str]
    window_ms: int

    def too_old(self, message: Message, now: int) -> bool:
        """A message that would create state, written longer than the window ago: any state
        it made may have been retired since, so acting on it could bring that back."""
        return message.type in self.creates and now - message.envelope.occurred_at > self.window_ms


def verdict(
    state: Any, ended: Callable[[Mapping[str, Any]], bool], now: int, window_ms: int
) -> str:
    """What the sweep does with a stored state: KEEP it, STAMP it with the time it is first
    seen ended (a state stored before states carried `ended_at`: its window starts now), or
    RETIRE it."""
    if not isinstance(state, Mapping) or not ended(state):
        return KEEP
    ended_at = state.get("ended_at")
    if ended_at is None:
        return STAMP
    return RETIRE if now - int(ended_at) >= window_ms else KEEP


class EventClock:
    """The newest occurred_at among the messages a worker decided: a time that stands still
    while the worker is down, so a memory kept for a span of it outlasts any outage (the
    inventory's settled holds). None until the first message."""

    def __init__(self) -> None:
        self.now: int | None = None

    def saw(self, message: Message) -> None:
        at = message.envelope.occurred_at
        self.now = at if self.now is None else max(self.now, at)

    def __call__(self) -> int | None:
        return self.now


class Sweeper:
    """Walks one table's owned partitions, `budget` keys per tick (where the last tick
    stopped), retiring what is due. A pass goes through every owned partition; a partition
    walked to its end waits for the others, and after a whole pass the sweep rests `rest_s`.
    So a pass over N keys takes N / budget ticks: with a tick a second and 5,000 keys, a
    table of 18 M keys (7 days at 30 orders/s) is walked in an hour, and the sweep keeps up
    with anything below ~500 new keys a second per worker (a fixed tick of ten a window
    could not: at 7 days, 5,000 keys per 10 minutes is 8 a second)."""

    def __init__(
        self,
        retirement: Retirement,
        has_left: Callable[[Stored], bool],
        budget: int = 5000,
        rest_s: float = 0.0,
        clock: Callable[[], int | None] = now_millis,
    ) -> None:
        self.retirement = retirement
        self.has_left = has_left
        self.budget = budget
        self.rest_s = rest_s
        self.clock = clock  # what "now" is for the window: wall time, or an EventClock
        self._next: dict[int, bytes | None] = {}  # per partition: the key to look at next
        self._walked: set[int] = set()  # partitions walked to their end in this pass
        self._rest_until = 0.0  # monotonic seconds

    def due(self, monotonic: float) -> bool:
        """Whether a tick at `monotonic` should sweep (not resting after a whole pass)."""
        return monotonic >= self._rest_until

    def sweep(self, now: int | None = None, monotonic: float = 0.0) -> dict[str, int]:
        """One tick, synchronous (nothing else runs while a key is checked and deleted);
        returns how many keys it retired and stamped. The caller awaits the changelog."""
        now = self.clock() if now is None else now
        table, r = self.retirement.table, self.retirement
        done = {RETIRE: 0, STAMP: 0}
        if now is None:  # an event clock that saw nothing yet: no time has passed
            return done
        stores = [(p, items) for p, items in active_stores(table) if p not in self._walked]
        share = max(1, self.budget // max(1, len(stores)))
        for partition, items in stores:
            seen = 0
            for raw_key, raw in items(self._next.get(partition)):
                if seen == share:
                    self._next[partition] = raw_key
                    break
                seen += 1
                data = json.loads(raw)
                state = state_of(data)
                action = verdict(state, r.ended, now, r.window_ms)
                if action == KEEP:
                    continue
                value = Stored.from_table(data)  # its outbox decoded only now
                if not self.has_left(value):
                    continue
                key = raw_key.decode()
                with reading(StandIn(table.changelog_topic.get_topic_name(), partition)):
                    if action == RETIRE:
                        del table[key]
                    else:
                        stamped = {**state, "ended_at": now}
                        table[key] = Stored(
                            stamped, value.cause, value.source, value.outbox, value.side
                        ).to_json()
                done[action] += 1
            else:
                self._next[partition] = None  # walked: from the first key next pass
                self._walked.add(partition)
        if not stores or all(p in self._walked for p, _ in stores):
            self._walked.clear()  # a whole pass: rest, then from the first keys again
            self._rest_until = monotonic + self.rest_s
        if done[RETIRE]:
            metrics.RETIRED.labels(table.name).inc(done[RETIRE])
        return done


async def sweep(sweeper: Sweeper) -> dict[str, int]:
    """A tick of `sweeper` whose deletions are in Kafka's changelog when it returns."""
    async with changelog.acknowledged():
        return sweeper.sweep(monotonic=time.monotonic())
