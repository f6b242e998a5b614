"""The catalogue against the registry, subject by subject: register it (deploy time, `orderflow
schemas register` and `orderflow init`) or ask whether a change would be accepted without
registering anything (`orderflow schemas check`). The registry is the judge of compatibility;
these functions only ask it and say, per subject, what it answered."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from schemas.catalog import COMPATIBILITY, EventSchema
from schemas.docs import type_name
from schemas.registry import Registered, RegistryError, SchemaRegistry


@dataclass(frozen=True)
class SubjectOutcome:
    subject: str
    ok: bool
    verdict: str  # register: registered, unchanged, refused; check: compatible, incompatible
    detail: str

    def line(self) -> str:
        return f"{self.verdict:<12} {self.subject}: {self.detail}"


def _refusal(exc: RegistryError) -> str:
    return f"the registry answered {exc.status}: {exc.reason}"


def _refused(registry: SchemaRegistry, entry: EventSchema, exc: RegistryError) -> SubjectOutcome:
    detail = _refusal(exc)
    latest = registry.latest(entry.subject) if exc.status == 409 else None
    causes = likely_causes(latest[1], entry.schema) if latest else []
    if causes:
        detail += f" (likely: {'; '.join(causes)})"
    return SubjectOutcome(entry.subject, False, "refused", detail)


def register_catalog(
    registry: SchemaRegistry, catalog: dict[str, EventSchema], level: str = COMPATIBILITY
) -> list[SubjectOutcome]:
    """Register every schema under its subject with `level` set first, so the registry checks
    each new version against the last. A refusal (409 incompatible, 422 invalid) is reported
    for that subject and the others still proceed; an outage (RegistryUnavailable) raises."""
    outcomes = []
    for entry in catalog.values():
        try:
            registry.set_compatibility(entry.subject, level)
            found = registry.lookup(entry.subject, entry.schema)
            verdict = "unchanged"
            if found is None:
                schema_id = registry.register(entry.subject, entry.schema)
                found = registry.lookup(entry.subject, entry.schema) or Registered(
                    entry.subject, 0, schema_id
                )
                verdict = "registered"
        except RegistryError as exc:
            outcomes.append(_refused(registry, entry, exc))
            continue
        version = f"version {found.version}, " if found.version else ""
        detail = f"{version}id {found.schema_id} ({level})"
        outcomes.append(SubjectOutcome(entry.subject, True, verdict, detail))
    return outcomes


def check_catalog(
    registry: SchemaRegistry, catalog: dict[str, EventSchema]
) -> list[SubjectOutcome]:
    """Would the registry accept each local schema as its subject's next version?"""
    outcomes = []
    for entry in catalog.values():
        try:
            outcomes.append(_check(registry, entry))
        except RegistryError as exc:
            outcomes.append(SubjectOutcome(entry.subject, False, "incompatible", _refusal(exc)))
    return outcomes


def _check(registry: SchemaRegistry, entry: EventSchema) -> SubjectOutcome:
    found = registry.lookup(entry.subject, entry.schema)
    if found is not None:
        detail = f"unchanged (version {found.version}, id {found.schema_id})"
        return SubjectOutcome(entry.subject, True, "compatible", detail)
    latest = registry.latest(entry.subject)
    if latest is None:
        return SubjectOutcome(entry.subject, True, "compatible", "new subject")
    registered, registered_schema = latest
    level = registry.compatibility_level(entry.subject) or "the registry's default"
    answer = registry.check_compatibility(entry.subject, entry.schema)
    against = f"version {registered.version} under {level}"
    if answer.compatible:
        return SubjectOutcome(
            entry.subject, True, "compatible", f"would follow {against} as a new version"
        )
    why = list(answer.messages) or likely_causes(registered_schema, entry.schema)
    detail = f"with {against}: {'; '.join(why) or 'the registry gave no detail'}"
    return SubjectOutcome(entry.subject, False, "incompatible", detail)


def likely_causes(old: dict[str, Any], new: dict[str, Any]) -> list[str]:
    """What usually makes a record schema unable to read its previous version's records, for
    when the registry says no without saying why (Apicurio's ccompat API does)."""
    old_fields = {field["name"]: field for field in old.get("fields", ())}
    causes = []
    for field in new.get("fields", ()):
        before = old_fields.get(field["name"])
        if before is None and "default" not in field:
            causes.append(
                f"field {field['name']!r} ({type_name(field['type'])}) is new and has no default"
            )
        elif before is not None and type_name(before["type"]) != type_name(field["type"]):
            causes.append(
                f"field {field['name']!r} changed type from {type_name(before['type'])} "
                f"to {type_name(field['type'])}"
            )
    return causes
