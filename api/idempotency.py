"""Idempotency-Key handling for POST /orders: the same key and body give the same order and
create nothing new; the same key with another body is a conflict (409).

The order id of a keyed request is derived from the key, so a request whose answer was lost
(the API crashed after Kafka acknowledged it), or that reaches another API instance, is placed
onto the same order id, which the saga de-duplicates while it holds the order. Beyond that:
- this instance remembers each key's answer and body in a local RocksDB (rocksdict) for the
  idempotency window (`purge` drops older ones), which also catches another body (409);
- a key it does not remember is looked up in the read model, which keeps every order: an
  order that exists there is answered again, never placed again (after the saga retired it,
  placing it again would bring it back: streams/retirement.py).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import time
from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
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
    def __init__(self, path: Path, window_s: float) -> None:
        path.mkdir(parents=True, exist_ok=True)
        self._db = Rdict(str(path))
        self.window_s = window_s
        # one lock per key while requests with it are in flight (dropped when the last leaves)
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}

    @asynccontextmanager
    async def lock(self, key: str) -> AsyncIterator[None]:
        """Requests with the same key one at a time."""
        lock, waiting = self._locks.get(key, (asyncio.Lock(), 0))
        self._locks[key] = (lock, waiting + 1)
        try:
            async with lock:
                yield
        finally:
            lock, waiting = self._locks[key]
            if waiting == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, waiting - 1)

    def recall(self, key: str, body_fingerprint: str) -> dict[str, str] | None:
        """The earlier answer for this key, None if new; IdempotencyConflict if the body differs."""
        stored = self._db.get(key)
        if stored is None:
            return None
        record: dict[str, Any] = json.loads(stored)
        if record["fingerprint"] != body_fingerprint:
            raise IdempotencyConflict(key)
        return {k: v for k, v in record.items() if k not in ("fingerprint", "at")}

    def remember(self, key: str, body_fingerprint: str, answer: Mapping[str, str]) -> None:
        self._db[key] = json.dumps({**answer, "fingerprint": body_fingerprint, "at": time.time()})

    def purge(self, now: float | None = None) -> int:
        """Forget the keys remembered longer than the window ago; returns how many."""
        horizon = (time.time() if now is None else now) - self.window_s
        old = [key for key, stored in self._db.items() if json.loads(stored).get("at", 0) < horizon]
        for key in old:
            del self._db[key]
        return len(old)

    def in_flight(self) -> int:
        return len(self._locks)

    def close(self) -> None:
        self._locks.clear()
        self._db.close()
