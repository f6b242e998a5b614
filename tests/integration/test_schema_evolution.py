"""Contracts evolve safely: the real registry (BACKWARD) accepts a new optional field with a
default and refuses a change that would break old data, old and new records stay readable
both ways, and `orderflow schemas check|register` say which subject is refused and why.

Each test registers a real event schema under a subject of its own (a uuid in the topic part)
so reruns never meet an earlier run's versions, and deletes it afterwards."""

from __future__ import annotations

import copy
import io
import json
import os
import shutil
import subprocess
import uuid
from pathlib import Path
from typing import Any

import fastavro
import httpx
import pytest

from orderflow import config
from schemas.catalog import AVRO_DIR, COMPATIBILITY, load_catalog
from schemas.codec import Codec
from schemas.registry import RegistryError, SchemaRegistry
from tests.factories import place_order

pytestmark = pytest.mark.stack

EVENT = "OrderPlaced"
ORDERFLOW = Path(__file__).resolve().parents[2] / ".venv" / "bin" / "orderflow"
# A new field with a default: old records (which lack it) read with the default.
ADDED_WITH_DEFAULT = {
    "name": "sales_channel",
    "type": "string",
    "default": "web",
    "doc": "Where the order was placed: web, app or phone.",
}
# The same kind of field without a default: old records cannot be read with it.
ADDED_WITHOUT_DEFAULT = {
    "name": "loyalty_tier",
    "type": "string",
    "doc": "The customer's loyalty tier.",
}


def _with_field(schema: dict[str, Any], field: dict[str, Any]) -> dict[str, Any]:
    evolved = copy.deepcopy(schema)
    evolved["fields"].append(field)
    return evolved


def _retyped(schema: dict[str, Any], name: str, avro_type: Any) -> dict[str, Any]:
    evolved = copy.deepcopy(schema)
    next(f for f in evolved["fields"] if f["name"] == name)["type"] = avro_type
    return evolved


def _record(**extra: Any) -> dict[str, Any]:
    message = place_order()
    total = sum(line["quantity"] * line["unit_price"] for line in message.data["items"])
    return {
        "envelope": {**message.envelope.to_avro(), "event_type": EVENT},
        **message.data,
        "total_amount": total,
        **extra,
    }


def _write(schema: dict[str, Any], record: dict[str, Any]) -> bytes:
    buffer = io.BytesIO()
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(schema), record)
    return buffer.getvalue()


def _read(data: bytes, writer: dict[str, Any], reader: dict[str, Any]) -> dict[str, Any]:
    parsed_writer, parsed_reader = fastavro.parse_schema(writer), fastavro.parse_schema(reader)
    return dict(fastavro.schemaless_reader(io.BytesIO(data), parsed_writer, parsed_reader))


@pytest.fixture
def registry(stack: config.Settings):
    client = SchemaRegistry(stack.registry_url)
    yield client
    client.close()


def _topic() -> str:
    return f"evolution-{uuid.uuid4().hex}.v1"


def _delete(stack: config.Settings, subject: str) -> None:
    """Soft, then permanent delete (the Confluent API's two steps)."""
    for params in ({}, {"permanent": "true"}):
        httpx.delete(f"{stack.registry_url}/subjects/{subject}", params=params, timeout=10)


@pytest.fixture
def subject(stack: config.Settings):
    name = f"{_topic()}-com.orderflow.{EVENT}"
    yield name
    _delete(stack, name)


@pytest.fixture
def v1() -> dict[str, Any]:
    return load_catalog()[EVENT].schema


def test_an_optional_field_with_a_default_is_accepted_and_both_sides_keep_reading(
    registry: SchemaRegistry, subject: str, v1: dict[str, Any]
):
    v2 = _with_field(v1, ADDED_WITH_DEFAULT)
    registry.set_compatibility(subject, COMPATIBILITY)
    v1_id = registry.register(subject, v1)
    assert registry.check_compatibility(subject, v2).compatible
    v2_id = registry.register(subject, v2)
    assert v2_id != v1_id
    latest = registry.latest(subject)
    assert latest is not None and latest[0].version == 2
    assert registry.compatibility_level(subject) == COMPATIBILITY

    # old data, new consumer: the record written with v1 reads with v2, the field defaulted
    old_record = _record()
    upgraded = _read(_write(v1, old_record), writer=v1, reader=v2)
    assert upgraded["sales_channel"] == "web"
    assert upgraded["order_id"] == old_record["order_id"]
    assert upgraded["total_amount"] == old_record["total_amount"]

    # new data, old consumer: the record written with v2 reads with v1, the field dropped
    new_record = _record(sales_channel="app")
    downgraded = _read(_write(v2, new_record), writer=v2, reader=v1)
    assert "sales_channel" not in downgraded
    assert downgraded["order_id"] == new_record["order_id"]
    assert downgraded["items"] == new_record["items"]

    # and the project's codec, which reads with the writer's schema fetched by id, decodes
    # both versions' records on the wire
    codec = Codec(registry)
    for schema_id, schema, record in ((v1_id, v1, old_record), (v2_id, v2, new_record)):
        framed = b"\x00" + schema_id.to_bytes(4, "big") + _write(schema, record)
        decoded = codec.decode("evolution", record["order_id"], framed)
        assert decoded.type == EVENT and decoded.data["order_id"] == record["order_id"]
    assert decoded.data["sales_channel"] == "app"


@pytest.mark.parametrize(
    "breaking",
    [
        pytest.param(lambda v1: _with_field(v1, ADDED_WITHOUT_DEFAULT), id="new-field-no-default"),
        pytest.param(lambda v1: _retyped(v1, "customer_id", "int"), id="field-type-changed"),
    ],
)
def test_an_incompatible_change_is_refused_and_nothing_is_registered(
    registry: SchemaRegistry, subject: str, v1: dict[str, Any], breaking: Any
):
    v2 = breaking(v1)
    registry.set_compatibility(subject, COMPATIBILITY)
    registry.register(subject, v1)
    assert not registry.check_compatibility(subject, v2).compatible
    with pytest.raises(RegistryError) as refused:
        registry.register(subject, v2)
    assert refused.value.status == 409
    latest = registry.latest(subject)
    assert latest is not None and latest[0].version == 1
    # and the reason is real: old data cannot be read with the refused schema
    with pytest.raises(Exception):  # noqa: B017 - fastavro's resolution/decoding errors vary
        _read(_write(v1, _record()), writer=v1, reader=v2)


# Stock figures were Avro ints until 2026-12 and are longs now: int -> long is a promotion a
# reader accepts, so the change is BACKWARD compatible (tests/unit/test_stock_schemas.py reads
# old records with the new schema without a registry).
STOCK_EVENT = "StockLevelChanged"
STOCK_FIGURES = ("on_hand", "reserved", "available", "shipped")


def _stock_record(**figures: Any) -> dict[str, Any]:
    message = place_order()
    return {
        "envelope": {**message.envelope.to_avro(), "event_type": STOCK_EVENT},
        "sku": "SKU-1",
        "on_hand": 7,
        "reserved": 2,
        "available": 5,
        "cause": "ReserveStock",
        "shipped": 1,
        **figures,
    }


def test_stock_figures_widened_from_int_to_long_are_accepted_and_old_records_still_read(
    stack: config.Settings, registry: SchemaRegistry, request: pytest.FixtureRequest
):
    subject = f"{_topic()}-com.orderflow.{STOCK_EVENT}"
    request.addfinalizer(lambda: _delete(stack, subject))
    longs = load_catalog()[STOCK_EVENT].schema
    ints = longs
    for name in STOCK_FIGURES:
        ints = _retyped(ints, name, "int")
    assert ints != longs  # the catalogue's figures are longs

    registry.set_compatibility(subject, COMPATIBILITY)
    ints_id = registry.register(subject, ints)
    assert registry.check_compatibility(subject, longs).compatible
    longs_id = registry.register(subject, longs)
    assert longs_id != ints_id
    latest = registry.latest(subject)
    assert latest is not None and latest[0].version == 2

    # old data, new consumer: the figures written as ints read as the same numbers
    old_record = _stock_record()
    upgraded = _read(_write(ints, old_record), writer=ints, reader=longs)
    assert {name: upgraded[name] for name in STOCK_FIGURES} == {
        name: old_record[name] for name in STOCK_FIGURES
    }

    # the codec decodes both versions' records on the wire, a level past the int range too
    codec = Codec(registry)
    big = _stock_record(on_hand=3_000_000_000, available=2_999_999_998)
    for schema_id, schema, record in ((ints_id, ints, old_record), (longs_id, longs, big)):
        framed = b"\x00" + schema_id.to_bytes(4, "big") + _write(schema, record)
        decoded = codec.decode("evolution", "SKU-1", framed)
        assert decoded.type == STOCK_EVENT and decoded.data["on_hand"] == record["on_hand"]


def test_narrowing_a_stock_figure_back_to_int_is_refused(
    stack: config.Settings, registry: SchemaRegistry, request: pytest.FixtureRequest
):
    subject = f"{_topic()}-com.orderflow.{STOCK_EVENT}"
    request.addfinalizer(lambda: _delete(stack, subject))
    longs = load_catalog()[STOCK_EVENT].schema
    registry.set_compatibility(subject, COMPATIBILITY)
    registry.register(subject, longs)
    assert not registry.check_compatibility(subject, _retyped(longs, "on_hand", "int")).compatible


def _orderflow(stack: config.Settings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(ORDERFLOW), *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "ORDERFLOW_REGISTRY_URL": stack.registry_url},
    )


def test_the_schemas_command_checks_registers_and_names_what_is_refused(
    stack: config.Settings,
    registry: SchemaRegistry,
    tmp_path: Path,
    request: pytest.FixtureRequest,
):
    """`orderflow schemas check|register --schemas-dir` on a copy of the catalogue holding one
    real schema under a topic of its own: v1, then a compatible v2, then a breaking v3."""
    topic = _topic()
    subject = f"{topic}-com.orderflow.{EVENT}"
    request.addfinalizer(lambda: _delete(stack, subject))
    avro = tmp_path / "avro"
    shutil.copytree(AVRO_DIR / "_types", avro / "_types")
    (avro / topic).mkdir()
    contract = avro / topic / f"{EVENT}.avsc"
    original = json.loads(next(AVRO_DIR.glob(f"*/{EVENT}.avsc")).read_text())
    schemas_dir = ("--schemas-dir", str(avro))

    contract.write_text(json.dumps(original))
    checked = _orderflow(stack, "schemas", "check", *schemas_dir)
    assert checked.returncode == 0, checked.stderr
    assert f"compatible   {subject}: new subject" in checked.stdout
    registered = _orderflow(stack, "schemas", "register", *schemas_dir)
    assert registered.returncode == 0, registered.stderr
    assert f"registered   {subject}: version 1, id " in registered.stdout
    assert registry.compatibility_level(subject) == COMPATIBILITY

    contract.write_text(json.dumps(_with_field(original, ADDED_WITH_DEFAULT)))
    checked = _orderflow(stack, "schemas", "check", *schemas_dir)
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert f"compatible   {subject}: would follow version 1 under BACKWARD" in checked.stdout
    latest = registry.latest(subject)
    assert latest is not None and latest[0].version == 1  # check registers nothing
    registered = _orderflow(stack, "schemas", "register", *schemas_dir)
    assert registered.returncode == 0, registered.stderr
    assert f"registered   {subject}: version 2, id " in registered.stdout
    again = _orderflow(stack, "schemas", "register", *schemas_dir)
    assert f"unchanged    {subject}: version 2" in again.stdout

    contract.write_text(
        json.dumps(_with_field(_with_field(original, ADDED_WITH_DEFAULT), ADDED_WITHOUT_DEFAULT))
    )
    checked = _orderflow(stack, "schemas", "check", *schemas_dir)
    assert checked.returncode == 1
    assert f"incompatible {subject}: with version 2 under BACKWARD" in checked.stdout
    assert "'loyalty_tier' (string) is new and has no default" in checked.stdout
    assert f"1 of 1 subjects incompatible: {subject}" in checked.stderr
    refused = _orderflow(stack, "schemas", "register", *schemas_dir)
    assert refused.returncode == 1
    assert f"refused      {subject}: the registry answered 409" in refused.stdout
    assert "loyalty_tier" in refused.stdout
    assert f"1 of 1 subjects refused by the registry: {subject}" in refused.stderr
    latest = registry.latest(subject)
    assert latest is not None and latest[0].version == 2  # nothing was registered
