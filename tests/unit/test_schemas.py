"""The event catalogue and the Confluent wire format, with an in-memory registry stand-in
(the real registry round trip is in tests/integration/test_avro_registry.py)."""

from __future__ import annotations

import struct
from decimal import Decimal

import pytest

from schemas import topics
from schemas.catalog import load_catalog
from schemas.codec import Codec, DecodeError
from tests.factories import MemoryRegistry, place_order


def test_every_event_type_has_the_envelope_and_lives_on_a_public_topic():
    catalog = load_catalog()
    assert {"PlaceOrder", "OrderPlaced", "StockReserved", "PaymentAuthorized"} <= set(catalog)
    for entry in catalog.values():
        assert entry.topic in topics.BY_NAME
        assert entry.schema["fields"][0]["name"] == "envelope"
        assert entry.subject == f"{entry.topic}-com.orderflow.{entry.name}"
        assert entry.parsed  # fastavro accepts it


def test_wire_format_round_trip_with_cached_ids():
    registry = MemoryRegistry()
    codec = Codec(registry)  # type: ignore[arg-type]
    message = place_order()
    assert not codec.encodes_offline(message.type)
    first = codec.encode(message)
    assert codec.encodes_offline(message.type)  # the API encodes on its event loop now
    codec.encode(message)
    assert registry.calls == 1  # the id is cached after the first record
    magic, schema_id = struct.unpack(">bI", first[:5])
    assert magic == 0 and schema_id == 1
    decoded = codec.decode(message.topic, message.key, first)
    assert decoded.envelope == message.envelope
    assert decoded.data["items"][0]["unit_price"] == Decimal("10.50")


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (b'{"json": true}', "not-confluent-avro"),
        (b"", "not-confluent-avro"),
        (b"\x00\x00\x00\x00\x63garbage", "unknown-schema-id"),
    ],
)
def test_undecodable_bytes_say_why(value: bytes, reason: str):
    with pytest.raises(DecodeError) as caught:
        Codec(MemoryRegistry()).decode("t", "k", value)  # type: ignore[arg-type]
    assert caught.value.reason == reason


def test_truncated_body_is_invalid_avro():
    codec = Codec(MemoryRegistry())  # type: ignore[arg-type]
    message = place_order()
    data = codec.encode(message)
    with pytest.raises(DecodeError) as caught:
        codec.decode(message.topic, message.key, data[:12])
    assert caught.value.reason == "invalid-avro"


def test_an_event_on_the_wrong_topic_is_refused():
    message = place_order()
    wrong = type(message)(
        topic=topics.ORDERS_EVENTS.name,
        key=message.key,
        envelope=message.envelope,
        data=message.data,
    )
    with pytest.raises(ValueError, match="belongs on"):
        Codec(MemoryRegistry()).encode(wrong)  # type: ignore[arg-type]
