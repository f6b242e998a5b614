"""Idempotency-Key handling for POST /orders: the same key and body give the same order and
create nothing new; the same key with another body is a conflict (409).

Remembered in a local RocksDB (rocksdict) next to the API process. The order id of a keyed
request is derived from the key, so even a request whose answer was lost (the API crashed
after Kafka acknowledged it) is retried onto the same order id, which the saga de-duplicates.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from rocksdict import Rdict

from schemas.events import derive_id


class IdempotencyConflict(Exception):
    """The key was used before with a different request body."""


def fingerprint(body: Mapping[str, Any]) -> str:
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def order_id_for(key: str) -> str:
    return derive_id("idempotency-key", key)


class IdempotencyStore:
    def __init__(self, path: Path) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path))
        self._locks: dict[str, asyncio.Lock] = {}

    def lock(self, key: str) -> asyncio.Lock:
        return self._locks.setdefault(key, asyncio.Lock())

    def recall(self, key: str, body_fingerprint: str) -> dict[str, str] | None:
        """The earlier answer for this key, None if new; IdempotencyConflict if the body differs."""
        stored = self._db.get(key)
        if stored is None:
            return None
        record: dict[str, str] = json.loads(stored)
        if record["fingerprint"] != body_fingerprint:
            raise IdempotencyConflict(key)
        return record

    def remember(self, key: str, body_fingerprint: str, answer: Mapping[str, str]) -> None:
        self._db[key] = json.dumps({**answer, "fingerprint": body_fingerprint})

    def close(self) -> None:
        self._locks.clear()
        self._db.close()
