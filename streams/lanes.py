"""Keyed lanes: work side by side, one key at a time, in submission order (the shell's
record-at-a-time loop, streams/runtime.py, `Shell.run`)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any


class KeyedLanes:
    """Runs work side by side, at most `limit` at once, one key at a time in submission
    order: each key's work waits for that key's previous work to end."""

    def __init__(self, limit: int) -> None:
        self._slots = asyncio.Semaphore(limit)
        self._tails: dict[Any, asyncio.Task[None]] = {}

    async def submit(self, key: Any, work: Callable[[], Awaitable[None]]) -> None:
        await self._slots.acquire()
        previous = self._tails.get(key)
        task = asyncio.create_task(self._run(key, previous, work))
        self._tails[key] = task

    async def _run(
        self, key: Any, previous: asyncio.Task[None] | None, work: Callable[[], Awaitable[None]]
    ) -> None:
        try:
            if previous is not None:
                await asyncio.wait([previous])
            await work()
        finally:
            self._slots.release()
            if self._tails.get(key) is asyncio.current_task():
                del self._tails[key]

    async def drain(self) -> None:
        """Wait until all submitted work ended."""
        while self._tails:
            await asyncio.wait(list(self._tails.values()))

    def __len__(self) -> int:
        return len(self._tails)
