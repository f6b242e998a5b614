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
- a timer looks for such holes; one that lasts longer than HOLE_GRACE_S means the record will
  not come by itself, so the partition is sought back to its committed offset and read again
  (the records after it are processed again too, which the idempotent deciders absorb).
"""

from __future__ import annotations

import logging
import time
from typing import Any

import faust
from faust.transport.consumer import Consumer
from faust.types import TP

log = logging.getLogger("orderflow.streams")

HOLE_GRACE_S = 5.0
_original_new_offset = Consumer._new_offset


def _head_is_missing(consumer: Any, tp: TP) -> bool:
    acked = consumer._acked[tp]
    committed = consumer._committed_offset[tp]
    if not acked or committed is None or min(acked) <= committed:
        return False
    return not consumer._gap[tp].overlaps(committed)


def _new_offset(self: Consumer, tp: TP) -> int | None:
    if _head_is_missing(self, tp):
        return None
    return _original_new_offset(self, tp)


def guard(app: faust.App) -> None:
    """Install the commit guard and the timer that re-reads lost records."""
    Consumer._new_offset = _new_offset  # type: ignore[method-assign]
    holes: dict[TP, float] = {}

    @app.timer(interval=1.0)
    async def reread_lost_records() -> None:
        consumer: Any = app.consumer
        now = time.monotonic()
        for tp in list(consumer._acked):
            if not _head_is_missing(consumer, tp):
                holes.pop(tp, None)
                continue
            since = holes.setdefault(tp, now)
            if now - since < HOLE_GRACE_S or tp not in consumer.assignment():
                continue
            committed = consumer._committed_offset[tp]
            log.warning(
                "record %s[%s]@%s was never processed; reading the partition again from it",
                tp.topic,
                tp.partition,
                committed,
            )
            await consumer.seek(tp, committed)
            holes.pop(tp, None)
