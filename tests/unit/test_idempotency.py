"""The API's memory of Idempotency-Keys (api/idempotency.py) stays bounded: keys older than
the window are forgotten, and a key's lock lives only while requests with it are in flight."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest

from api.idempotency import IdempotencyConflict, IdempotencyStore


def test_a_key_is_remembered_for_the_window_then_forgotten(tmp_path: Path):
    store = IdempotencyStore(tmp_path / "keys", window_s=100)
    store.remember("k1", "body-1", {"order_id": "o1", "correlation_id": "c1"})
    assert store.recall("k1", "body-1") == {"order_id": "o1", "correlation_id": "c1"}
    with pytest.raises(IdempotencyConflict):
        store.recall("k1", "body-2")
    assert store.purge(now=time.time() + 99) == 0
    assert store.recall("k1", "body-1") is not None
    assert store.purge(now=time.time() + 101) == 1
    assert store.recall("k1", "body-1") is None
    store.close()


def test_a_keys_lock_is_dropped_once_its_last_request_left(tmp_path: Path):
    store = IdempotencyStore(tmp_path / "keys", window_s=100)
    order: list[str] = []

    async def request(name: str) -> None:
        async with store.lock("k1"):
            order.append(f"{name} in")
            await asyncio.sleep(0.01)
            order.append(f"{name} out")

    async def both() -> int:
        first = asyncio.create_task(request("a"))
        second = asyncio.create_task(request("b"))
        await asyncio.sleep(0.005)
        during = store.in_flight()
        await asyncio.gather(first, second)
        return during

    assert asyncio.run(both()) == 1
    assert order == ["a in", "a out", "b in", "b out"]  # one at a time
    assert store.in_flight() == 0
    store.close()
