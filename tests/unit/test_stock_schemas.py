"""Stock figures are Avro longs (they were ints until 2026-12): a count of units has no reason
to stop at 2**31 - 1, while an order line's quantity (1..1000) stays an int. int -> long is a
promotion Avro readers accept, so records written before the change still read; the
registry's side of it is in tests/integration/test_schema_evolution.py. The prices of record
(unit_price, currency on AdjustStock and ReserveStock) came later, optional with null
defaults: records from before them read with both null."""

from __future__ import annotations

import copy
import io
from typing import Any

import fastavro
import pytest

from schemas import topics
from schemas.catalog import load_catalog
from schemas.codec import Codec
from schemas.events import command
from tests.factories import MemoryRegistry

# Every stock figure of the contract, by event: each was an int and is a long now.
STOCK_FIGURES = {
    "AdjustStock": ("set_on_hand", "delta"),
    "StockRejected": ("available",),
    "StockLevelChanged": ("on_hand", "reserved", "available", "shipped"),
}
# Fields added after the int form, with defaults (absent from an old record).
ADDED_SINCE = ("unit_price", "currency")


def _as_before(schema: dict[str, Any], figures: tuple[str, ...]) -> dict[str, Any]:
    """The schema as it was: its stock figures ints, without the fields added since."""
    old = copy.deepcopy(schema)
    old["fields"] = [f for f in old["fields"] if f["name"] not in ADDED_SINCE]
    for field in old["fields"]:
        if field["name"] in figures:
            field["type"] = ["null", "int"] if isinstance(field["type"], list) else "int"
    return old


def _type_of(schema: dict[str, Any], name: str) -> Any:
    return next(f["type"] for f in schema["fields"] if f["name"] == name)


def _envelope(event_type: str) -> dict[str, Any]:
    message = command(event_type, topics.INVENTORY_LEVELS.name, "A", {}, "corr", "test")
    return message.envelope.to_avro()


OLD_RECORDS = {
    "AdjustStock": {"sku": "A", "set_on_hand": None, "delta": -3},
    "StockRejected": {
        "order_id": "o1",
        "sku": "A",
        "quantity": 2,
        "reason": "OUT_OF_STOCK",
        "available": 1,
    },
    "StockLevelChanged": {
        "sku": "A",
        "on_hand": 7,
        "reserved": 2,
        "available": 5,
        "cause": "ReserveStock",
        "shipped": 1,
    },
}


def test_every_stock_figure_is_a_long_and_every_line_quantity_an_int():
    catalog = load_catalog()
    for event, figures in STOCK_FIGURES.items():
        for name in figures:
            assert "long" in str(_type_of(catalog[event].schema, name)), (event, name)
            assert "int" not in str(_type_of(catalog[event].schema, name)), (event, name)
    for entry in catalog.values():
        names = {f["name"] for f in entry.schema["fields"]}
        if "quantity" in names:
            assert _type_of(entry.schema, "quantity") == "int", entry.name


@pytest.mark.parametrize("event", sorted(STOCK_FIGURES))
def test_a_record_written_with_the_int_schema_reads_with_the_long_one(event: str):
    new = load_catalog()[event].schema
    old = _as_before(new, STOCK_FIGURES[event])
    record = {"envelope": _envelope(event), **OLD_RECORDS[event]}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(old), record)
    buffer.seek(0)
    writer, reader = fastavro.parse_schema(old), fastavro.parse_schema(new)
    read = fastavro.schemaless_reader(buffer, writer, reader)
    added = {f["name"]: f["default"] for f in new["fields"] if f["name"] in ADDED_SINCE}
    read.pop("envelope")  # its timestamp reads back as a datetime; not what this is about
    assert read == {**OLD_RECORDS[event], **added}


def test_a_level_beyond_the_int_range_encodes_and_decodes():
    codec = Codec(MemoryRegistry())  # type: ignore[arg-type]
    figures = {"on_hand": 3_000_000_000, "reserved": 1, "available": 2_999_999_999}
    level = command(
        "StockLevelChanged",
        topics.INVENTORY_LEVELS.name,
        "A",
        {"sku": "A", **figures, "cause": "AdjustStock", "shipped": 2**40},
        "corr",
        "test",
    )
    decoded = codec.decode(level.topic, level.key, codec.encode(level))
    assert decoded.data == level.data


def test_a_reserve_stock_written_before_prices_of_record_reads_without_a_price():
    new = load_catalog()["ReserveStock"].schema
    old = _as_before(new, ())
    assert [f["name"] for f in new["fields"][-2:]] == list(ADDED_SINCE)
    record = {"envelope": _envelope("ReserveStock"), "order_id": "o1", "sku": "A", "quantity": 2}
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(old), record)
    buffer.seek(0)
    writer, reader = fastavro.parse_schema(old), fastavro.parse_schema(new)
    read = fastavro.schemaless_reader(buffer, writer, reader)
    assert (read["quantity"], read["unit_price"], read["currency"]) == (2, None, None)
