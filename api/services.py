"""What every route of the API shares: the clients it talks to (opened once per process), the
one way to ask Elasticsearch, the one way to call a worker, and the one way to wait for a
read-your-writes condition. No business rule lives here."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterator, Sequence
from contextlib import contextmanager
from datetime import datetime
from typing import Any, TypeVar

import httpx
from elasticsearch import ApiError, AsyncElasticsearch, NotFoundError
from fastapi import HTTPException, Request

from api.idempotency import IdempotencyStore
from api.producer import AsyncProducer, KafkaUnavailable
from orderflow import config, elastic
from schemas.codec import Codec, headers_for
from schemas.events import Message
from schemas.registry import RegistryUnavailable, SchemaRegistry

PRODUCER = "api"  # the `producer` of every command the API writes
T = TypeVar("T")

log = logging.getLogger("orderflow.api")


# A worker that cannot be reached. AttributeError: a worker killed while httpx connects can
# leave anyio reading the peer of a socket that is gone ('NoneType' object has no attribute
# 'getpeername'); the crash test met it as a 500 on POST /inventory/{sku}/adjustments.
WORKER_UNREACHABLE = (httpx.HTTPError, OSError, AttributeError)


class WorkerInstances:
    """The instances of one worker role the API may ask. Any of them answers for every key (it
    forwards to the key's owner), so a request goes to the one that answered last, and on to
    the next while one cannot be reached or answers 503 (stopping, or its tables unreadable).
    When none answers otherwise: a 503 one gave (it says why), else the last error raised."""

    def __init__(self, urls: Sequence[str], transport: httpx.AsyncBaseTransport | None = None):
        self.clients = [
            httpx.AsyncClient(base_url=url, timeout=5.0, transport=transport) for url in urls
        ]
        self.first = 0

    async def get(self, path: str, params: dict[str, Any] | None = None) -> httpx.Response:
        busy: httpx.Response | None = None
        refused: Exception | None = None
        for step in range(len(self.clients)):
            n = (self.first + step) % len(self.clients)
            try:
                answer = await self.clients[n].get(path, params=params)
            except WORKER_UNREACHABLE as exc:
                refused = exc
                continue
            if answer.status_code == 503:
                busy = answer
                continue
            self.first = n
            return answer
        if busy is None:
            assert refused is not None, "a role has at least one address"
            raise refused
        return busy

    async def aclose(self) -> None:
        for client in self.clients:
            await client.aclose()


class Services:
    """Everything the handlers talk to, opened once per process."""

    def __init__(self, settings: config.Settings) -> None:
        self.settings = settings
        self.codec = Codec(SchemaRegistry(settings.registry_url, timeout_s=3.0))
        self.producer = AsyncProducer(settings.kafka_bootstrap, settings.produce_timeout_s)
        self.es = AsyncElasticsearch(settings.elasticsearch_url, request_timeout=10)
        self.orders = WorkerInstances(settings.worker_urls("order"))
        self.customers = WorkerInstances(settings.worker_urls("customer"))
        self.inventory = WorkerInstances(settings.worker_urls("inventory"))
        self.analytics = WorkerInstances(settings.worker_urls("analytics"))
        self.idempotency = IdempotencyStore(
            settings.state_dir / "api-idempotency", config.IDEMPOTENCY_WINDOW_S
        )

    async def publish(self, message: Message) -> None:
        try:
            if self.codec.encodes_offline(message.type):
                value = self.codec.encode(message)
            else:  # the first of its type asks the registry: not on the event loop
                value = await asyncio.to_thread(self.codec.encode, message)
        except RegistryUnavailable as exc:
            raise HTTPException(503, f"schema registry unavailable: {exc}") from exc
        try:
            await self.producer.send(message.topic, message.key, value, headers_for(message))
        except KafkaUnavailable as exc:
            raise HTTPException(503, f"Kafka unavailable, nothing was accepted: {exc}") from exc

    async def forget_old_keys(self) -> None:
        """Forget Idempotency-Keys older than the window, hourly (the store stays a day's keys;
        an older key is answered from the read model: api/idempotency.py)."""
        while True:
            forgotten = await asyncio.to_thread(self.idempotency.purge)
            if forgotten:
                log.info("forgot %d Idempotency-Keys older than the window", forgotten)
            await asyncio.sleep(3600)

    async def close(self) -> None:
        self.producer.close()
        await self.es.close()
        await self.orders.aclose()
        await self.customers.aclose()
        await self.inventory.aclose()
        await self.analytics.aclose()
        self.idempotency.close()


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


@contextmanager
def elasticsearch() -> Iterator[None]:
    """Elasticsearch away, too slow, or answering 5xx or 429 (shards not allocated yet after
    a restart, overload): 503 with the reason."""
    try:
        yield
    except elastic.UNREACHABLE as exc:
        raise HTTPException(503, f"Elasticsearch unavailable: {exc}") from exc
    except ApiError as exc:
        if elastic.passing(exc.meta.status):
            raise HTTPException(503, f"Elasticsearch unavailable: {exc.message}") from exc
        # every parameter is checked before it reaches Elasticsearch (api/models.py), so a
        # refusal left is the API's fault, not the client's
        raise HTTPException(500, f"Elasticsearch refused the query: {exc.message}") from exc


async def read_order(svc: Services, order_id: str) -> dict[str, Any] | None:
    """An order's document from the read model, or None."""
    with elasticsearch():
        try:
            found = await svc.es.get(index=svc.settings.orders_alias, id=order_id)
        except NotFoundError:
            return None
    return dict(found["_source"])


def order_filters(
    customer_id: str | None = None,
    status: str | None = None,
    sku: str | None = None,
    created_from: datetime | None = None,
    created_before: datetime | None = None,
) -> list[dict[str, Any]]:
    """The read model's filter for orders (GET /orders and GraphQL `orders`), from values
    already validated."""
    filters: list[dict[str, Any]] = []
    if customer_id:
        filters.append({"term": {"customer_id": customer_id}})
    if status:
        filters.append({"term": {"status": status}})
    if sku:
        filters.append({"term": {"items.sku": sku}})
    if created_from or created_before:
        # as epoch milliseconds: an offset can carry a date past year 9999 (or before 1) in
        # UTC, which Elasticsearch refuses to parse as text
        bounds: dict[str, Any] = {
            k: int(v.timestamp() * 1000)
            for k, v in (("gte", created_from), ("lt", created_before))
            if v
        }
        filters.append({"range": {"created_at": {**bounds, "format": "epoch_millis"}}})
    return filters


async def orders_page(
    svc: Services, filters: list[dict[str, Any]], page: int, size: int
) -> dict[str, Any]:
    """Orders from the read model that match `filters`, newest first, without their
    timelines: one page of `size`."""
    with elasticsearch():
        found = await svc.es.search(
            index=svc.settings.orders_alias,
            query={"bool": {"filter": filters}},
            sort=[{"created_at": {"order": "desc", "missing": "_last"}}, {"order_id": "asc"}],
            from_=(page - 1) * size,
            size=size,
            source_excludes=["timeline"],
        )
    hits = found["hits"]
    return {
        "total": hits["total"]["value"],
        "page": page,
        "size": size,
        "orders": [hit["_source"] for hit in hits["hits"]],
    }


async def ask_worker(
    worker: WorkerInstances, what: str, path: str, params: dict[str, Any] | None = None
) -> dict[str, Any] | None:
    """A worker's page as JSON, or None when it answers 404. A worker that cannot be reached
    or answers anything else: 503 naming `what`."""
    found, body = await worker_page(worker, what, path, params)
    return body if found else None


async def worker_page(
    worker: WorkerInstances, what: str, path: str, params: dict[str, Any] | None = None
) -> tuple[bool, dict[str, Any]]:
    """A worker's page: (found, its JSON), found False for a 404 (whose body may still say
    something, such as what became of a command). Unreachable, or any other answer: 503."""
    try:
        answer = await worker.get(path, params=params)
    except WORKER_UNREACHABLE as exc:
        raise HTTPException(503, f"{what} unavailable: {exc!r}") from exc
    if answer.status_code not in (200, 404):
        raise HTTPException(503, f"{what} answered {answer.status_code}")
    try:
        body = answer.json()
    except ValueError:
        body = None
    if not isinstance(body, dict):
        raise HTTPException(503, f"{what} answered {answer.status_code} without a JSON object")
    return answer.status_code == 200, body


async def until(
    look: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    timeout_s: float,
    every_s: float = 0.1,
) -> T:
    """Read-your-writes: `look()` again every `every_s` until `done` says so or `timeout_s`
    passed; returns the last look (the caller says what a timeout means)."""
    deadline = time.monotonic() + timeout_s
    while True:
        seen = await look()
        if done(seen) or time.monotonic() >= deadline:
            return seen
        await asyncio.sleep(every_s)
