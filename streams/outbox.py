"""The outbox: a message's outputs are stored in the table together with the state they come
from, *before* they are sent.

Why: the shell used to send a message's outputs first and store the state after. A worker
killed in between left outputs in Kafka whose cause the state did not show; after the restart
a reply to those outputs could be read before the cause was read again (they come from other
topics), and the saga, not expecting it yet, dropped it: the crash test caught an order that
never ended (its PaymentAuthorized read before the StockReserved that asked for it).

Now the table value of a key is the state, the event id of the message that produced it (the
cause) and that message's encoded outputs. A reply can only exist once the state that expects
it is stored. If the worker dies before the outputs left, they are sent again: when the cause
is read again, or before the next message of that key is handled (whichever comes first),
unless they are known to have left: this process sent them, or the cause's offset is below
the ledger's frontier (a record is finished, so committable, only after its outputs were
acknowledged). A re-sent output is byte-for-byte the same record, which consumers recognise by
its event id.
"""

from __future__ import annotations

import base64
import logging
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from schemas.codec import Headers

log = logging.getLogger("orderflow.streams")

_FIELDS = {"state", "cause", "source", "outbox"}
_SIDE = "side"  # present only when there are side records (run_in_batches, `side`)


def _stored_form(value: Any) -> bool:
    return isinstance(value, Mapping) and set(value) - {_SIDE} == _FIELDS


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass(frozen=True)
class Outgoing:
    """One output, encoded: what goes to Kafka, exactly."""

    topic: str
    key: bytes
    value: bytes
    headers: Headers
    partition: int | None = None  # None: the key's

    def to_json(self) -> dict[str, Any]:
        return {
            "topic": self.topic,
            "key": _b64(self.key),
            "value": _b64(self.value),
            "headers": [[name, _b64(value)] for name, value in self.headers],
            "partition": self.partition,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Outgoing:
        return cls(
            topic=data["topic"],
            key=base64.b64decode(data["key"]),
            value=base64.b64decode(data["value"]),
            headers=[(name, base64.b64decode(value)) for name, value in data["headers"]],
            partition=data.get("partition"),
        )


@dataclass(frozen=True)
class Stored:
    """A table value: the state (as the agent's `dump` wrote it), its cause (event id, and
    where that record was read: topic, partition, offset), the outbox, and the side records
    its cause wrote beside it (key -> value as stored), which go into the table after it."""

    state: Any = None
    cause: str | None = None
    source: tuple[str, int, int] | None = None
    outbox: tuple[Outgoing, ...] = ()
    side: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        value = {
            "state": self.state,
            "cause": self.cause,
            "source": list(self.source) if self.source else None,
            "outbox": [out.to_json() for out in self.outbox],
        }
        return value | ({_SIDE: dict(self.side)} if self.side else {})

    @classmethod
    def from_table(cls, value: Any) -> Stored:
        """A stored value; one written before the outbox existed is a bare state."""
        if value is None:
            return cls()
        if _stored_form(value):
            source = value["source"]
            return cls(
                state=value["state"],
                cause=value["cause"],
                source=(source[0], int(source[1]), int(source[2])) if source else None,
                outbox=tuple(Outgoing.from_json(out) for out in value["outbox"]),
                side=dict(value.get(_SIDE, {})),
            )
        return cls(state=value)


def stored_value(table: Any, key: Any) -> Any:
    """A table's value for `key`, or None, in one store read (Faust's `table.get` reads the
    store twice: whether the key is there, then its value). Any other mapping is read as is."""
    return getattr(table, "data", table).get(key)


def state_of(value: Any) -> Any:
    """The state inside a table value (for readers other than the shell), without decoding
    its outbox."""
    if _stored_form(value):
        return value["state"]
    return value


@dataclass
class RecentlySent:
    """Causes whose outbox this process saw acknowledged, the last `size` of them, so an
    outbox is sent again only when it may not have left (after a restart, in practice)."""

    size: int = 100_000
    _order: deque[str] = field(default_factory=deque)
    _ids: set[str] = field(default_factory=set)

    def add(self, cause: str) -> None:
        if cause in self._ids:
            return
        self._ids.add(cause)
        self._order.append(cause)
        if len(self._order) > self.size:
            self._ids.discard(self._order.popleft())

    def __contains__(self, cause: object) -> bool:
        return cause in self._ids


def stored_states(table: Any, load: Callable[[Any], Any], left_over: list[str]) -> Iterator[Any]:
    """Every state in `table` (a clock's schedule rebuilt after a rebalance), loaded; the keys
    whose stored outbox may not have left are also named in `left_over`. A state that does
    not load is logged and skipped."""
    for key, value in list(table.items()):
        stored = Stored.from_table(value)
        try:
            state = load(stored.state)
        except (KeyError, TypeError, ValueError):
            log.error("unreadable state, skipped", extra={"key": key})
            continue
        if stored.outbox:
            left_over.append(key)
        yield state
