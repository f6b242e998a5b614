"""How every process of ours waits out an outage of Kafka, the schema registry or
Elasticsearch: again and again, with waits that double from half a second up to ten, never
giving up (a deploy-time step gives up after a while: orderflow/kafka.py, `eventually`)."""

from __future__ import annotations

from collections.abc import Iterator

FIRST_S = 0.5
MOST_S = 10.0


def waits(first_s: float = FIRST_S, most_s: float = MOST_S) -> Iterator[float]:
    """The seconds to wait before each next attempt: first_s, doubling, capped at most_s."""
    wait = first_s
    while True:
        yield wait
        wait = min(wait * 2, most_s)
