"""docs/events.md is generated from the schemas (`orderflow schemas doc`) and every field of
every contract says what it means."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

from schemas.catalog import AVRO_DIR, load_catalog
from schemas.docs import DOC_PATH, render_catalogue, type_name


def test_the_committed_catalogue_matches_the_schemas():
    assert DOC_PATH.read_text() == render_catalogue(), (
        "docs/events.md is out of date with schemas/avro/: run `orderflow schemas doc` to "
        "regenerate it"
    )


def _undocumented(schema: Any, where: str) -> Iterator[str]:
    if isinstance(schema, list):
        for branch in schema:
            yield from _undocumented(branch, where)
    elif isinstance(schema, dict):
        if schema.get("type") in ("record", "enum", "fixed"):
            where = f"{where}/{schema['name']}"
            if not str(schema.get("doc", "")).strip():
                yield where
        for field in schema.get("fields", ()):
            if not str(field.get("doc", "")).strip():
                yield f"{where}.{field['name']}"
            yield from _undocumented(field["type"], f"{where}.{field['name']}")
        for key in ("items", "values"):
            if key in schema:
                yield from _undocumented(schema[key], where)


def test_every_type_and_field_is_documented():
    files = sorted(AVRO_DIR.glob("*/*.avsc"))
    assert any(path.parent.name == "_types" for path in files)
    missing = [
        hole
        for path in files
        for hole in _undocumented(json.loads(path.read_text()), str(path.relative_to(AVRO_DIR)))
    ]
    # and as registered: shared types inlined into every schema
    for entry in load_catalog().values():
        missing += _undocumented(entry.schema, entry.subject)
    assert missing == [], f'add a non-empty "doc" to: {sorted(set(missing))}'


def test_types_read_as_people_write_them():
    assert type_name({"type": "bytes", "logicalType": "decimal", "precision": 18, "scale": 2}) == (
        "decimal(18,2)"
    )
    assert type_name(["null", "string"]) == "null | string"
    assert type_name({"type": "array", "items": "com.orderflow.OrderLine"}) == "array<OrderLine>"
    assert type_name({"type": "long", "logicalType": "timestamp-millis"}) == "timestamp-millis"
    doc = render_catalogue()
    assert "| `unit_price` | `decimal(18,2)` |" in doc
    assert "`null \\| string` | `null` |" in doc
    assert doc.count("### Envelope") == 1
