"""The typed payloads (schemas/messages.py) are the .avsc files, field for field: every event
of the catalogue has its class, and every field its name, order, type and optionality."""

from __future__ import annotations

import json
import typing
from dataclasses import MISSING, fields
from decimal import Decimal
from typing import Any

import pytest

from schemas import messages
from schemas.catalog import AVRO_DIR, load_catalog
from tests.factories import place_order, reply

_PRIMITIVE = {"string": "str", "int": "int", "long": "int", "boolean": "bool", "double": "float"}


def _python(avro: Any) -> str:
    """The annotation an Avro type is written as in schemas/messages.py."""
    if isinstance(avro, list):
        (inner,) = [t for t in avro if t != "null"]
        return f"{_python(inner)} | None"
    if isinstance(avro, dict):
        if avro.get("logicalType") == "decimal":
            return "Decimal"
        if avro["type"] == "array":
            return f"tuple[{_python(avro['items'])}, ...]"
        if avro["type"] == "record":
            return str(avro["name"])
        return _python(avro["type"])
    return _PRIMITIVE.get(avro) or avro.rsplit(".", 1)[-1]


def _raw(path_glob: str) -> list[dict[str, Any]]:
    return [json.loads(path.read_text()) for path in sorted(AVRO_DIR.glob(path_glob))]


def _assert_same(schema: dict[str, Any], cls: type) -> None:
    expected = [
        (f["name"], _python(f["type"]), f.get("default", MISSING))
        for f in schema["fields"]
        if f["name"] != "envelope"
    ]
    actual = [(f.name, str(cls.__annotations__[f.name]), f.default) for f in fields(cls)]
    assert actual == expected, schema["name"]


def test_every_event_of_the_catalogue_has_its_class_and_no_other() -> None:
    assert set(messages.BY_TYPE) == set(load_catalog())


@pytest.mark.parametrize("schema", _raw("*.v*/*.avsc"), ids=lambda s: s["name"])
def test_each_class_has_the_fields_of_its_schema(schema: dict[str, Any]) -> None:
    _assert_same(schema, messages.BY_TYPE[schema["name"]])


@pytest.mark.parametrize(
    "schema", [s for s in _raw("_types/*.avsc") if s["name"] != "Envelope"], ids=lambda s: s["name"]
)
def test_each_shared_record_has_the_fields_of_its_schema(schema: dict[str, Any]) -> None:
    _assert_same(schema, getattr(messages, schema["name"]))


def test_a_payload_is_built_with_its_nested_records_and_exact_decimals() -> None:
    placed = messages.typed(
        place_order(order_id="o-1", lines={"A": 2, "B": 1}), messages.PlaceOrder
    )
    assert placed.order_id == "o-1"
    assert placed.items == (
        messages.OrderLine(sku="A", quantity=2, unit_price=Decimal("10.50")),
        messages.OrderLine(sku="B", quantity=1, unit_price=Decimal("10.50")),
    )
    assert placed.shipping_address.country == "NL" and placed.shipping_address.line1 is None
    assert typing.get_type_hints(messages.PlaceOrder)["items"] == tuple[messages.OrderLine, ...]


def test_a_field_a_newer_writer_added_is_ignored_and_a_missing_one_refused() -> None:
    cause = place_order(order_id="o-1")
    newer = reply(
        cause,
        "StockReleased",
        "inventory.events.v1",
        order_id="o-1",
        sku="A",
        quantity=1,
        added_later="x",
    )
    assert messages.payload(newer) == messages.StockReleased(order_id="o-1", sku="A", quantity=1)
    with pytest.raises(TypeError):
        messages.payload(reply(cause, "StockReleased", "inventory.events.v1", order_id="o-1"))
    with pytest.raises(TypeError, match="is not a"):
        messages.typed(newer, messages.StockReserved)
