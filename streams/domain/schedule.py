"""When each of a worker's keys is next due (a payment's retry), kept in memory for the
worker's clock so it reads only those instead of every stored state each tick; rebuilt from
the table once per consumer generation, since a rebalance changes which keys are here."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field


@dataclass
class Due:
    due: dict[str, int] = field(default_factory=dict)  # key -> when due (epoch ms)
    generation: int | None = None  # the consumer generation it was last rebuilt for

    def track(self, key: str, due_at: int | None) -> None:
        """`key` is next due at `due_at` (None: not any more)."""
        if due_at is None:
            self.due.pop(key, None)
        else:
            self.due[key] = due_at

    def rebuild_after_rebalance(
        self, generation: int | None, stored: Callable[[], Iterable[tuple[str, int | None]]]
    ) -> bool:
        """Rebuild from the stored (key, due_at) once per consumer generation. True if it
        rebuilt."""
        if generation == self.generation:
            return False
        self.due.clear()
        for key, due_at in stored():
            self.track(key, due_at)
        self.generation = generation
        return True

    def due_now(self, now: int) -> list[str]:
        return [key for key, due_at in self.due.items() if due_at <= now]
