"""Confluent wire format: magic byte 0, the 4-byte big-endian schema id, then the Avro body.
Encoding uses ids registered once (cached); decoding looks ids up once and caches them."""

from __future__ import annotations

import io
import json
import struct
from decimal import Decimal
from typing import Any

import fastavro

from schemas.catalog import EventSchema, load_catalog, schema_for
from schemas.events import Envelope, Message
from schemas.registry import RegistryError, SchemaRegistry

_MAGIC = 0
Headers = list[tuple[str, bytes]]
_HEADER = struct.Struct(">bI")


class DecodeError(ValueError):
    """The bytes are not a record this project can read; `reason` names why."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


class Codec:
    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry
        self._writer_ids: dict[str, int] = {}
        self._readers: dict[int, Any] = {}

    def register_all(self) -> dict[str, int]:
        """Register every catalogued schema (idempotent) and cache the ids for encoding."""
        for entry in load_catalog().values():
            self._writer_id(entry)
        return dict(self._writer_ids)

    def _writer_id(self, entry: EventSchema) -> int:
        schema_id = self._writer_ids.get(entry.name)
        if schema_id is None:
            schema_id = self.registry.register(entry.subject, entry.schema)
            self._writer_ids[entry.name] = schema_id
            self._readers.setdefault(schema_id, entry.parsed)
        return schema_id

    def encodes_offline(self, event_type: str) -> bool:
        """Whether encoding `event_type` needs no registry call (its schema id is cached):
        then it is a few microseconds of CPU, not worth handing to a thread."""
        return event_type in self._writer_ids

    def encode(self, message: Message) -> bytes:
        entry = schema_for(message.type)
        if entry.topic != message.topic:
            raise ValueError(f"{message.type} belongs on {entry.topic}, not {message.topic}")
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(_MAGIC, self._writer_id(entry)))
        record = {"envelope": message.envelope.to_avro(), **message.data}
        fastavro.schemaless_writer(buffer, entry.parsed, record)
        return buffer.getvalue()

    def decode(self, topic: str, key: str, value: bytes | None) -> Message:
        """Bytes from `topic` to a Message, or DecodeError saying what is wrong with them."""
        if not value or len(value) < _HEADER.size or value[0] != _MAGIC:
            raise DecodeError("not-confluent-avro", "missing magic byte 0 and schema id")
        _, schema_id = _HEADER.unpack_from(value)
        reader = self._reader(schema_id)
        try:
            record = fastavro.schemaless_reader(io.BytesIO(value[_HEADER.size :]), reader)
        except Exception as exc:  # fastavro raises several types for truncated/garbled bodies
            raise DecodeError("invalid-avro", f"schema id {schema_id}: {exc!r}") from exc
        if not isinstance(record, dict) or "envelope" not in record:
            raise DecodeError("invalid-event", f"schema id {schema_id} has no envelope")
        envelope = Envelope.from_avro(record.pop("envelope"))
        return Message(topic=topic, key=key, envelope=envelope, data=record)

    def _reader(self, schema_id: int) -> Any:
        reader = self._readers.get(schema_id)
        if reader is None:
            try:
                reader = fastavro.parse_schema(self.registry.schema_by_id(schema_id))
            except RegistryError as exc:  # an outage (RegistryUnavailable) propagates: retry
                raise DecodeError("unknown-schema-id", f"{schema_id}: {exc}") from exc
            self._readers[schema_id] = reader
        return reader


def for_confluent(headers: Headers) -> list[tuple[str, str | bytes | None]]:
    """The same headers, typed as confluent-kafka's producer declares them."""
    return list(headers)


def headers_for(message: Message) -> Headers:
    """Kafka headers repeating what kcat users need without Avro."""
    return [
        ("event_type", message.type.encode()),
        ("correlation_id", message.envelope.correlation_id.encode()),
        ("event_id", message.envelope.event_id.encode()),
    ]


def to_json_value(value: Any) -> Any:
    """Avro values to JSON-safe values: decimals as strings so cents stay exact."""
    if isinstance(value, Decimal):
        return f"{value:.2f}"
    if isinstance(value, dict):
        return {key: to_json_value(item) for key, item in value.items()}
    if isinstance(value, list | tuple):
        return [to_json_value(item) for item in value]
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def dumps(value: Any) -> str:
    return json.dumps(to_json_value(value), separators=(",", ":"))


def dead_letter_headers(
    reason: str, detail: str, topic: str, partition: int, offset: int, consumer: str
) -> Headers:
    """Headers of a record parked on `<topic>.dlq`: why, where it came from, who parked it."""
    return [
        ("error", reason.encode()),
        ("error_detail", detail.encode()[:2000]),
        ("source_topic", topic.encode()),
        ("source_partition", str(partition).encode()),
        ("source_offset", str(offset).encode()),
        ("consumer", consumer.encode()),
    ]
