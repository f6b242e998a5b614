"""A small client for the Confluent Schema Registry REST API (served by Apicurio's ccompat
API locally). Ids and schemas are cached: nothing here is called per message once warm."""

from __future__ import annotations

import json
import threading
from typing import Any

import httpx

_CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"


class RegistryError(RuntimeError):
    """The registry refused a request; the message carries its answer."""


class RegistryUnavailable(RuntimeError):
    """The registry could not be reached; retry later (this is an outage, not bad data)."""


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
            raise RegistryError(
                f"{method} {path} -> {response.status_code}: {response.text.strip()[:500]}"
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

    def set_compatibility(self, subject: str, level: str) -> None:
        self._call("PUT", f"/config/{subject}", {"compatibility": level})

    def subjects(self) -> list[str]:
        return list(self._call("GET", "/subjects"))

    def close(self) -> None:
        self._http.close()
