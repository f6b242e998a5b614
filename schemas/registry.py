"""A small client for the Confluent Schema Registry REST API (served by Apicurio's ccompat
API locally). Ids and schemas are cached: nothing here is called per message once warm."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass
from typing import Any

import httpx

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry refused a request; the message carries its answer, `status` the HTTP
    status (409: incompatible, 422: invalid schema), `error_code` the registry's code (40401:
    no such subject, 40403: no such schema) and `reason` the registry's own words."""

    def __init__(
        self, message: str, status: int = 0, error_code: int = 0, reason: str = ""
    ) -> None:
        super().__init__(message)
        self.status = status
        self.error_code = error_code
        self.reason = reason or message


class RegistryUnavailable(RuntimeError):
    """The registry could not be reached; retry later (this is an outage, not bad data)."""


@dataclass(frozen=True)
class Registered:
    """A schema as registered under a subject."""

    subject: str
    version: int
    schema_id: int


@dataclass(frozen=True)
class Compatibility:
    compatible: bool
    messages: tuple[str, ...] = ()


class SchemaRegistry:
    def __init__(self, url: str, timeout_s: float = 10.0) -> None:
        self.url = url.rstrip("/")
        self._http = httpx.Client(timeout=timeout_s, headers={"Content-Type": _CONTENT_TYPE})
        self._ids: dict[tuple[str, str], int] = {}
        self._schemas: dict[int, dict[str, Any]] = {}
        self._lock = threading.Lock()

    def _call(self, method: str, path: str, body: Any = None) -> Any:
        try:
            response = self._http.request(
                method, f"{self.url}{path}", content=None if body is None else json.dumps(body)
            )
        except httpx.TransportError as exc:
            raise RegistryUnavailable(f"{method} {self.url}{path}: {exc!r}") from exc
        if response.status_code >= 500:
            raise RegistryUnavailable(f"{method} {path} -> {response.status_code}")
        if response.status_code >= 400:
            text = response.text.strip()[:500]
            try:
                answer = response.json()
                error_code, reason = int(answer.get("error_code", 0)), str(answer["message"])
            except (ValueError, KeyError, AttributeError, TypeError):
                error_code, reason = 0, text
            raise RegistryError(
                f"{method} {path} -> {response.status_code}: {text}",
                status=response.status_code,
                error_code=error_code,
                reason=reason,
            )
        return response.json()

    def register(self, subject: str, schema: dict[str, Any]) -> int:
        """Register (or find) the schema under the subject and return its id."""
        text = json.dumps(schema, sort_keys=True)
        with self._lock:
            cached = self._ids.get((subject, text))
        if cached is not None:
            return cached
        answer = self._call(
            "POST", f"/subjects/{subject}/versions", {"schema": text, "schemaType": "AVRO"}
        )
        schema_id = int(answer["id"])
        with self._lock:
            self._ids[(subject, text)] = schema_id
            self._schemas[schema_id] = schema
        return schema_id

    def schema_by_id(self, schema_id: int) -> dict[str, Any]:
        with self._lock:
            cached = self._schemas.get(schema_id)
        if cached is not None:
            return cached
        answer = self._call("GET", f"/schemas/ids/{schema_id}")
        schema = json.loads(answer["schema"])
        with self._lock:
            self._schemas[schema_id] = schema
        return dict(schema)

    def lookup(self, subject: str, schema: dict[str, Any]) -> Registered | None:
        """The version of `subject` holding exactly this schema, or None."""
        text = json.dumps(schema, sort_keys=True)
        try:
            answer = self._call(
                "POST", f"/subjects/{subject}", {"schema": text, "schemaType": "AVRO"}
            )
        except RegistryError as exc:
            if exc.status == 404:  # no such subject (40401) or not under it (40403)
                return None
            raise
        return Registered(subject, int(answer["version"]), int(answer["id"]))

    def latest(self, subject: str) -> tuple[Registered, dict[str, Any]] | None:
        """The subject's latest version and its schema; None for a subject never registered."""
        try:
            answer = self._call("GET", f"/subjects/{subject}/versions/latest")
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        registered = Registered(subject, int(answer["version"]), int(answer["id"]))
        return registered, json.loads(answer["schema"])

    def check_compatibility(self, subject: str, schema: dict[str, Any]) -> Compatibility:
        """Would the registry accept `schema` as the subject's next version (under the
        subject's compatibility level)? Registers nothing."""
        answer = self._call(
            "POST",
            f"/compatibility/subjects/{subject}/versions/latest?verbose=true",
            {"schema": json.dumps(schema, sort_keys=True), "schemaType": "AVRO"},
        )
        return Compatibility(
            compatible=bool(answer["is_compatible"]),
            messages=tuple(str(m) for m in answer.get("messages") or ()),
        )

    def compatibility_level(self, subject: str) -> str | None:
        """The subject's compatibility level (the global one if it has none of its own)."""
        try:
            answer = self._call("GET", f"/config/{subject}?defaultToGlobal=true")
        except RegistryError as exc:
            if exc.status == 404:
                return None
            raise
        return str(answer.get("compatibilityLevel") or answer.get("compatibility"))

    def set_compatibility(self, subject: str, level: str) -> None:
        self._call("PUT", f"/config/{subject}", {"compatibility": level})

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def close(self) -> None:
        self._http.close()
