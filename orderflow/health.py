"""Readiness checks of the servers OrderFlow depends on: does Kafka, the schema registry,
Elasticsearch answer right now? Each check has a short timeout and never raises; the API's
`/readyz` and a worker's `/readyz/` run theirs concurrently."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Mapping

import httpx
from aiokafka.client import AIOKafkaClient

from orderflow import config

TIMEOUT_S = 1.0
UP = "up"


async def kafka(bootstrap: str, timeout_s: float = TIMEOUT_S) -> None:
    """A metadata request to a bootstrap broker answers."""
    client = AIOKafkaClient(
        bootstrap_servers=bootstrap,
        request_timeout_ms=int(timeout_s * 1000),
        connections_max_idle_ms=int(timeout_s * 2000),
        client_id="orderflow-readyz",
    )
    try:
        await client.bootstrap()
    finally:
        await client.close()


async def http_ok(url: str, timeout_s: float = TIMEOUT_S) -> None:
    async with httpx.AsyncClient(timeout=timeout_s) as client:
        (await client.get(url)).raise_for_status()


async def state_of(check: Awaitable[None], timeout_s: float = TIMEOUT_S) -> str:
    """ "up", or why not, in a few words."""
    try:
        await asyncio.wait_for(check, timeout_s)
    except TimeoutError:
        return f"down: no answer within {timeout_s:g}s"
    except Exception as exc:
        return f"down: {type(exc).__name__}: {exc}"[:300]
    return UP


def checks(settings: config.Settings, *names: str) -> dict[str, Awaitable[None]]:
    """The named checks (kafka, schema_registry, elasticsearch) against this configuration."""
    every = {
        "kafka": lambda: kafka(settings.kafka_bootstrap),
        "schema_registry": lambda: http_ok(f"{settings.registry_url}/subjects"),
        # the cluster answers (any status); the local stack refuses GET / (405)
        "elasticsearch": lambda: http_ok(f"{settings.elasticsearch_url}/_cluster/health"),
    }
    return {name: every[name]() for name in names}


async def states(pending: Mapping[str, Awaitable[None]]) -> dict[str, str]:
    """Every check's state, run concurrently: the slowest one bounds the wait."""
    answers = await asyncio.gather(*(state_of(check) for check in pending.values()))
    return dict(zip(pending, answers, strict=True))


def ready(found: Mapping[str, str]) -> bool:
    return all(state == UP for state in found.values())
