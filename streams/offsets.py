"""Never commit past a record that was not processed.

faust-streaming 0.15.3 commits, per partition, the first run of consecutive acknowledged
offsets. Its guard against a hole at the head of that run compares with the committed offset
as if it were the last processed record (`min(acked) - committed > 1`), but the committed
offset is the *next* record to read. So when the record at the committed offset never reached
the agent (dropped around a restart or rebalance) while the ones after it were processed, the
consumer commits past it and the record is lost for good. The crash test caught this: a
PaymentDeclined was never seen by the order saga and its order never ended.

Two repairs, both small:
- `_new_offset` refuses to commit while the head record is unacknowledged (unless it is a
  known gap, such as a compacted or transaction-marker offset);
- a timer looks for lost records: a hole at the head of the acknowledged offsets, or, once
  the agents have been idle for IDLE_S, a record at the committed offset that exists but was
  never acknowledged (the record was the last one fetched). One that lasts longer than
  HOLE_GRACE_S is not coming by itself, so the partition is sought back to its committed
  offset and read again (the records after it are processed again too, which the idempotent
  deciders absorb).

Where Faust drops the record: its conductor delivers a fetched message only to the channels
subscribed at that moment and silently drops it when there are none, which happens when a
restarted worker fetches before its agents have attached their streams.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any

import faust
from faust.transport.consumer import Consumer
from faust.types import TP

log = logging.getLogger("orderflow.streams")

HOLE_GRACE_S = 5.0
IDLE_S = 6.0  # longer than Faust's commit interval (2.8 s): acked records are committed
_original_new_offset = Consumer._new_offset


# The last committed offset seen per partition. Faust forgets its own on a revoke (the
# rebalance after a restart), and a commit in that window would again jump any hole.
_last_known: dict[TP, int] = {}


def _committed(consumer: Any, tp: TP) -> int | None:
    committed: int | None = consumer._committed_offset[tp]
    if committed is not None:
        _last_known[tp] = committed
        return committed
    return _last_known.get(tp)


def _head_is_missing(consumer: Any, tp: TP) -> bool:
    acked = consumer._acked[tp]
    committed = _committed(consumer, tp)
    if not acked or committed is None or min(acked) <= committed:
        return False
    return not consumer._gap[tp].overlaps(committed)


def _new_offset(self: Consumer, tp: TP) -> int | None:
    if _head_is_missing(self, tp):
        return None
    if self._committed_offset[tp] is None and tp in _last_known:
        return None  # Faust lost track of this partition (a rebalance): commit nothing yet
    return _original_new_offset(self, tp)


def _tail_is_missing(consumer: Any, tp: TP) -> bool:
    """A record exists at the committed offset, but it is not acknowledged (and, when asked,
    the agents have been idle long enough that it is not merely queued)."""
    committed = _committed(consumer, tp)
    if committed is None or committed in consumer._acked_index[tp]:
        return False
    try:
        highwater = consumer.highwater(tp)
    except Exception:  # not fetched yet: nothing to say
        return False
    return highwater is not None and highwater > committed


def guard(app: faust.App, idle_s: Callable[[], float]) -> None:
    """Install the commit guard and the timer that re-reads lost records. `idle_s` tells how
    long the role's agents have had nothing to process."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    holes: dict[TP, float] = {}

    @app.timer(interval=1.0)
    async def reread_lost_records() -> None:
        consumer: Any = app.consumer
        now = time.monotonic()
        idle = idle_s() >= IDLE_S
        for tp in consumer.assignment():
            # a hole at the head (later records done) is certain; a record at the end is
            # only called lost once the agents have been idle for a while
            if not (_head_is_missing(consumer, tp) or (idle and _tail_is_missing(consumer, tp))):
                holes.pop(tp, None)
                continue
            since = holes.setdefault(tp, now)
            if now - since < HOLE_GRACE_S:
                continue
            committed = _committed(consumer, tp)
            log.warning(
                "record %s[%s]@%s was never processed; reading the partition again from it",
                tp.topic,
                tp.partition,
                committed,
            )
            await consumer.seek(tp, committed)
            holes.pop(tp, None)
