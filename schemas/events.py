"""The Python side of the event contract: the envelope and the message every component passes
around. Pure values; nothing here talks to Kafka or the registry."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

# Fixed namespace so that derived ids are the same on every machine and every replay.
_EVENT_NAMESPACE = uuid.UUID("6f1c1d8e-4a55-4c1b-9b1e-0f5f0b7c9a10")


def derive_id(*parts: str) -> str:
    """A deterministic uuid: the same inputs give the same id, so an event re-emitted after a
    crash carries the same event_id and consumers drop it as a duplicate."""
    return str(uuid.uuid5(_EVENT_NAMESPACE, "/".join(parts)))


def now_millis() -> int:
    return time.time_ns() // 1_000_000


@dataclass(frozen=True)
class Envelope:
    event_id: str
    event_type: str
    occurred_at: int  # epoch milliseconds, UTC
    correlation_id: str
    causation_id: str | None
    producer: str

    def to_avro(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "event_type": self.event_type,
            "occurred_at": self.occurred_at,
            "correlation_id": self.correlation_id,
            "causation_id": self.causation_id,
            "producer": self.producer,
        }

    @classmethod
    def from_avro(cls, data: Mapping[str, Any]) -> Envelope:
        occurred = data["occurred_at"]
        if not isinstance(occurred, int):  # fastavro hands timestamp-millis back as datetime
            occurred = int(occurred.timestamp() * 1000)
        return cls(
            event_id=data["event_id"],
            event_type=data["event_type"],
            occurred_at=occurred,
            correlation_id=data["correlation_id"],
            causation_id=data.get("causation_id"),
            producer=data["producer"],
        )


@dataclass(frozen=True)
class Message:
    """One event or command: where it goes, its key, its envelope and its payload fields."""

    topic: str
    key: str
    envelope: Envelope
    data: Mapping[str, Any] = field(default_factory=dict)

    @property
    def type(self) -> str:
        return self.envelope.event_type

    def caused(
        self,
        event_type: str,
        topic: str,
        key: str,
        data: Mapping[str, Any],
        producer: str,
        occurred_at: int,
        discriminator: str = "",
    ) -> Message:
        """A message caused by this one: same correlation id, causation = this event_id, and
        an event_id derived from this one so re-processing re-creates the identical event."""
        return Message(
            topic=topic,
            key=key,
            envelope=Envelope(
                event_id=derive_id(self.envelope.event_id, event_type, discriminator),
                event_type=event_type,
                occurred_at=occurred_at,
                correlation_id=self.envelope.correlation_id,
                causation_id=self.envelope.event_id,
                producer=producer,
            ),
            data=data,
        )

    def with_data(self, **changes: Any) -> Message:
        return replace(self, data={**self.data, **changes})


def command(
    event_type: str,
    topic: str,
    key: str,
    data: Mapping[str, Any],
    correlation_id: str,
    producer: str,
    event_id: str | None = None,
) -> Message:
    """A message that starts a chain (from the API or a CLI): it has no cause."""
    return Message(
        topic=topic,
        key=key,
        envelope=Envelope(
            event_id=event_id or str(uuid.uuid4()),
            event_type=event_type,
            occurred_at=now_millis(),
            correlation_id=correlation_id,
            causation_id=None,
            producer=producer,
        ),
        data=data,
    )
