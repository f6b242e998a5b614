"""The event catalogue as Markdown (docs/events.md), generated from the `.avsc` files and the
topic map so it cannot drift: `orderflow schemas doc` writes it, a unit test fails when the
committed file differs from what the schemas say."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from schemas import topics
from schemas.catalog import AVRO_DIR, COMPATIBILITY, NAMESPACE, EventSchema, load_catalog

DOC_PATH = Path(__file__).resolve().parent.parent / "docs" / "events.md"
_NAMED = ("record", "enum", "fixed")
_PRIMITIVES = {"null", "boolean", "int", "long", "float", "double", "bytes", "string"}


def short_name(name: str) -> str:
    return name.removeprefix(f"{NAMESPACE}.")


def type_name(avro_type: Any) -> str:
    """An Avro type as people read it: `string`, `null | string`, `decimal(18,2)`,
    `timestamp-millis`, `array<OrderLine>`, `Address`."""
    if isinstance(avro_type, str):
        return short_name(avro_type)
    if isinstance(avro_type, list):
        return " | ".join(type_name(branch) for branch in avro_type)
    logical = avro_type.get("logicalType")
    if logical == "decimal":
        return f"decimal({avro_type['precision']},{avro_type.get('scale', 0)})"
    if logical:
        return str(logical)
    kind = avro_type["type"]
    if kind in _NAMED:
        return short_name(avro_type["name"])
    if kind == "array":
        return f"array<{type_name(avro_type['items'])}>"
    if kind == "map":
        return f"map<{type_name(avro_type['values'])}>"
    return type_name(kind)


def named_types(avro_type: Any) -> Iterator[dict[str, Any]]:
    """Every named type defined inside `avro_type` (shared types are inlined once each)."""
    if isinstance(avro_type, list):
        for branch in avro_type:
            yield from named_types(branch)
    elif isinstance(avro_type, dict):
        if avro_type.get("type") in _NAMED:
            yield avro_type
        for field in avro_type.get("fields", ()):
            yield from named_types(field["type"])
        for key in ("items", "values"):
            if key in avro_type:
                yield from named_types(avro_type[key])


def _referenced_names(avro_type: Any) -> list[str]:
    if isinstance(avro_type, str):
        return [] if avro_type in _PRIMITIVES else [short_name(avro_type)]
    if isinstance(avro_type, list):
        return [name for branch in avro_type for name in _referenced_names(branch)]
    if avro_type.get("type") in _NAMED:
        return [short_name(avro_type["name"])]
    return [
        name
        for key in ("items", "values")
        if key in avro_type
        for name in _referenced_names(avro_type[key])
    ]


def _anchor(name: str) -> str:
    """GitHub's heading anchor for a heading that is just `name`."""
    return "".join(c for c in name.lower() if c.isalnum() or c in "-_ ").replace(" ", "-")


def _cell(text: str) -> str:
    return " ".join(text.split()).replace("|", "\\|")


def _fields_table(record: dict[str, Any]) -> list[str]:
    rows = ["| field | type | default | doc |", "| --- | --- | --- | --- |"]
    for field in record["fields"]:
        shown = f"`{_cell(type_name(field['type']))}`"
        referenced = _referenced_names(field["type"])
        if referenced:  # link the type to the named type's own table
            shown = f"[{shown}](#{_anchor(referenced[0])})"
        default = f"`{_cell(json.dumps(field['default']))}`" if "default" in field else ""
        rows.append(f"| `{field['name']}` | {shown} | {default} | {_cell(field.get('doc', ''))} |")
    return rows


def _named_section(named: dict[str, Any]) -> list[str]:
    lines = [f"### {short_name(named['name'])}", "", _cell(named.get("doc", "")), ""]
    if named["type"] == "record":
        lines += _fields_table(named)
    elif named["type"] == "enum":
        lines.append("Symbols: " + ", ".join(f"`{s}`" for s in named["symbols"]))
    else:
        lines.append(f"Fixed, {named['size']} bytes.")
    return [*lines, ""]


def _topic_order(catalog: dict[str, EventSchema]) -> list[str]:
    declared = [spec.name for spec in topics.ALL]
    return declared + sorted({e.topic for e in catalog.values()} - set(declared))


def render_catalogue(avro_dir: Path = AVRO_DIR) -> str:
    catalog = load_catalog(avro_dir)
    by_topic: dict[str, list[EventSchema]] = {}
    for entry in catalog.values():
        by_topic.setdefault(entry.topic, []).append(entry)
    order = [topic for topic in _topic_order(catalog) if topic in by_topic]

    lines = [
        "# Event catalogue",
        "",
        "<!-- Generated from schemas/avro/ and schemas/topics.py by `orderflow schemas doc`;",
        "     do not edit by hand (tests/unit/test_catalogue_doc.py fails when it drifts). -->",
        "",
        "Every event and command type on OrderFlow's topics, one Avro record each",
        "(`schemas/avro/<topic>/<Type>.avsc`). Records travel in the Confluent wire format",
        "(magic byte 0, 4-byte schema id, Avro body). Each type is registered under the subject",
        f"`<topic>-{NAMESPACE}.<Type>` (TopicRecordNameStrategy) with compatibility",
        f"`{COMPATIBILITY}`: a new version may add fields with defaults, never one without.",
        "Money is `decimal(18,2)` (Avro bytes); in JSON it is a string with two places.",
        "",
        "Every type starts with the shared [envelope](#envelope); Kafka headers repeat",
        "`event_type`, `correlation_id` and `event_id`. A record a consumer cannot decode or",
        "act on goes to `<topic>.dlq` untouched (same key and value) with the headers `error`,",
        "`error_detail`, `source_topic`, `source_partition`, `source_offset` and `consumer`.",
        "",
        "## Topics",
        "",
        "| topic | key | written by | types |",
        "| --- | --- | --- | --- |",
    ]
    for topic in order:
        spec = topics.BY_NAME.get(topic)
        key = f"`{spec.key}`" if spec else "(not in schemas/topics.py)"
        written_by = spec.written_by if spec else ""
        types = ", ".join(f"[{e.name}](#{_anchor(e.name)})" for e in by_topic[topic])
        lines.append(f"| [`{topic}`](#{_anchor(topic)}) | {key} | {written_by} | {types} |")

    shared: dict[str, dict[str, Any]] = {}
    for entry in catalog.values():
        for named in named_types(entry.schema):
            if named is not entry.schema:
                shared.setdefault(named["name"], named)
    lines += ["", "## Shared types", ""]
    for named in shared.values():
        lines += _named_section(named)

    for topic in order:
        spec = topics.BY_NAME.get(topic)
        lines += [f"## {topic}", ""]
        if spec:
            lines += [f"Key: `{spec.key}`. Written by: {spec.written_by}.", ""]
            if spec.latest:
                lines += [
                    "Each record is its key's whole current value, not a change: of the "
                    "records one batch of its writer decides under a key, only the last is "
                    "written.",
                    "",
                ]
        for entry in by_topic[topic]:
            lines += [
                f"### {entry.name}",
                "",
                _cell(entry.schema.get("doc", "")),
                "",
                f"Subject: `{entry.subject}`",
                "",
                *_fields_table(entry.schema),
                "",
            ]
    return "\n".join(lines).rstrip("\n") + "\n"


def write_catalogue(path: Path = DOC_PATH, avro_dir: Path = AVRO_DIR) -> Path:
    path.write_text(render_catalogue(avro_dir))
    return path
