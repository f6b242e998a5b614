"""The event catalogue: every `.avsc` under `schemas/avro/<topic>/`, with shared named types
(`schemas/avro/_types/`) inlined so each schema is self-contained for the registry.

Everything reads the catalogue under AVRO_DIR; `orderflow schemas register|check|doc
--schemas-dir DIR` points the same code at another tree of the same layout (a candidate
change, or a test's copy)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any

import fastavro

AVRO_DIR = Path(__file__).resolve().parent / "avro"
NAMESPACE = "com.orderflow"
# Every subject's compatibility level: a new version must read every older version's records.
COMPATIBILITY = "BACKWARD"


@dataclass(frozen=True)
class EventSchema:
    topic: str
    name: str  # short record name == envelope event_type
    schema: dict[str, Any]  # self-contained Avro schema (shared types inlined)

    @property
    def full_name(self) -> str:
        return f"{self.schema.get('namespace', NAMESPACE)}.{self.name}"

    @property
    def subject(self) -> str:
        """TopicRecordNameStrategy: `<topic>-<record full name>`."""
        return f"{self.topic}-{self.full_name}"

    @property
    def parsed(self) -> Any:
        return _parse(json.dumps(self.schema, sort_keys=True))


@cache
def _parse(schema_json: str) -> Any:
    return fastavro.parse_schema(json.loads(schema_json))


def _shared_types(avro_dir: Path) -> dict[str, dict[str, Any]]:
    types = {}
    for path in sorted((avro_dir / "_types").glob("*.avsc")):
        schema = json.loads(path.read_text())
        types[f"{schema['namespace']}.{schema['name']}"] = schema
    return types


def inline_shared_types(schema: Any, shared: dict[str, dict[str, Any]], seen: set[str]) -> Any:
    """Replace the first reference to each shared named type by its definition; later
    references stay names, as Avro requires."""
    if isinstance(schema, str) and schema in shared:
        if schema in seen:
            return schema
        seen.add(schema)
        return inline_shared_types(shared[schema], shared, seen)
    if isinstance(schema, list):
        return [inline_shared_types(item, shared, seen) for item in schema]
    if isinstance(schema, dict):
        return {key: inline_shared_types(value, shared, seen) for key, value in schema.items()}
    return schema


@cache
def load_catalog(avro_dir: Path = AVRO_DIR) -> dict[str, EventSchema]:
    """Record short name -> schema. Short names are unique across topics (checked here)."""
    shared = _shared_types(avro_dir)
    catalog: dict[str, EventSchema] = {}
    for path in sorted(avro_dir.glob("*.v*/*.avsc")):
        raw = json.loads(path.read_text())
        schema = inline_shared_types(raw, shared, set())
        entry = EventSchema(topic=path.parent.name, name=raw["name"], schema=schema)
        if entry.name in catalog:
            raise ValueError(f"event type {entry.name} is declared twice ({path})")
        catalog[entry.name] = entry
    return catalog


def schema_for(event_type: str) -> EventSchema:
    try:
        return load_catalog()[event_type]
    except KeyError:
        raise KeyError(f"no schema for event type {event_type!r}") from None
