"""Deploy-time set-up, idempotent: topics (and their dead-letter topics), schemas in the
registry, the Elasticsearch index and alias. Run by `orderflow init` and by `make up`."""

from __future__ import annotations

import logging
from functools import partial

import httpx
from confluent_kafka import Producer
from elasticsearch import Elasticsearch

from indexer.index import EventIndices, ensure_customers_index, ensure_orders_index
from orderflow import config, kafka
from schemas import topics
from schemas.catalog import COMPATIBILITY, load_catalog
from schemas.codec import Codec
from schemas.compat import SubjectOutcome, register_catalog
from schemas.events import now_millis
from schemas.registry import SchemaRegistry

log = logging.getLogger("ops.admin")


def fill(producer: Producer, topic: str, payload: bytes, records: int, keys: int = 1000) -> None:
    """Produce `records` copies of `payload` to `topic` over `keys` keys (as orders spread
    over partitions), waiting for room whenever the producer's queue is full; then flush."""
    for n in range(records):
        while True:
            try:
                producer.produce(topic, value=payload, key=str(n % keys).encode())
                break
            except BufferError:
                producer.poll(0.01)
        if n % 10000 == 0:
            producer.poll(0)
    producer.flush(60)


KEEP_EVERY_RECORD = {"cleanup.policy": "delete", "retention.ms": "-1", "retention.bytes": "-1"}


def topic_configs(settings: config.Settings) -> dict[str, dict[str, str]]:
    """Each topic's retention (DESIGN.md, "Over time and in operation"): history topics and
    every dead-letter topic keep every record; command and reply topics keep theirs for
    `command_retention_s`, at least the idempotency window."""
    bounded = {
        "cleanup.policy": "delete",
        "retention.ms": str(int(settings.command_retention_s * 1000)),
        "retention.bytes": "-1",
    }
    wanted: dict[str, dict[str, str]] = {}
    for spec in topics.ALL:
        wanted[spec.name] = KEEP_EVERY_RECORD if spec.history else bounded
        wanted[spec.dlq] = KEEP_EVERY_RECORD
    return wanted


def create_topics(settings: config.Settings) -> tuple[list[str], dict[str, dict[str, str]]]:
    """Create the topics that are missing and correct the retention of those that exist (an
    upgrade from topics made with the broker's default); returns both."""
    wanted = topic_configs(settings)
    created = kafka.ensure_topics(
        settings.kafka_bootstrap,
        settings.partitions,
        wanted,
        settings.replication_factor,
        settings.min_insync_replicas,
    )
    corrected = kafka.correct_topic_configs(settings.kafka_bootstrap, wanted)
    return created, corrected


def register_schemas(settings: config.Settings) -> list[SubjectOutcome]:
    """Every schema under its subject, compatibility set first. An unreachable registry is
    waited for; a refused schema stops the deploy, naming the subject and the reason."""
    registry = SchemaRegistry(settings.registry_url)
    outcomes = kafka.eventually(
        "register schemas", lambda: register_catalog(registry, load_catalog(), COMPATIBILITY)
    )
    refused = [outcome.line() for outcome in outcomes if not outcome.ok]
    if refused:
        raise RuntimeError("the schema registry refused:\n" + "\n".join(refused))
    return outcomes


def create_index(settings: config.Settings) -> None:
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=30)
    kafka.eventually(
        "create index",
        lambda: ensure_orders_index(es, settings.orders_index, settings.orders_alias),
    )
    events = EventIndices.of(settings)
    kafka.eventually("create events index", lambda: events.ensure(es, now_millis()))
    kafka.eventually(
        "create customers index",
        lambda: ensure_customers_index(es, settings.customers_index, settings.customers_alias),
    )


def init(settings: config.Settings) -> None:
    created, corrected = create_topics(settings)
    print(
        f"topics: {len(created)} created, {len(topics.ALL) * 2 - len(created)} already there, "
        f"retention corrected on {len(corrected)}"
        + "".join(f"\n  {name}: {changed}" for name, changed in sorted(corrected.items()))
    )
    outcomes = register_schemas(settings)
    added = sum(outcome.verdict == "registered" for outcome in outcomes)
    print(f"schemas: {len(outcomes)} subjects ({added} new versions), {COMPATIBILITY}")
    create_index(settings)
    print(
        f"elasticsearch: index {settings.orders_index} behind alias {settings.orders_alias}, "
        f"index {settings.customers_index} behind alias {settings.customers_alias}, "
        f"indices {settings.events_index}-<day> behind alias {settings.events_alias}"
    )


def _stock_of(worker: httpx.Client, sku: str) -> dict | None:
    answer = worker.get(f"/inventory/{sku}/")
    if answer.status_code not in (200, 404):
        raise RuntimeError(f"worker answered {answer.status_code} for {sku}")
    return dict(answer.json()) if answer.status_code == 200 else None


def seed(settings: config.Settings) -> int:
    """Stock and price every demo SKU the inventory has never seen, and price those stocked
    before they had prices; a re-run leaves stock and prices alone."""
    from ops.demo import CATALOGUE, CURRENCY

    codec = Codec(SchemaRegistry(settings.registry_url))
    producer = Producer(kafka.producer_settings(settings.kafka_bootstrap))
    seeded = 0
    with httpx.Client(base_url=settings.worker_url("inventory"), timeout=5) as worker:
        for sku, price, on_hand in CATALOGUE:
            known = kafka.eventually("read stock", partial(_stock_of, worker, sku))
            if known is not None and known.get("unit_price") is not None:
                continue
            stocked = {"set_on_hand": on_hand if known is None else None, "delta": None}
            data = {"sku": sku, **stocked, "unit_price": price, "currency": CURRENCY}
            produce_command(
                producer, codec, "AdjustStock", topics.INVENTORY_COMMANDS.name, sku, data
            )
            seeded += 1
    seeded += _seed_customers(settings, codec, producer)
    if producer.flush(30) != 0:
        raise RuntimeError("seeding: Kafka did not acknowledge every record")
    return seeded


def _seed_customers(settings: config.Settings, codec: Codec, producer: Producer) -> int:
    """Register the demo customers the customer table does not know yet."""
    from ops.demo import CUSTOMERS

    def known(worker: httpx.Client, customer_id: str) -> bool:
        answer = worker.get("/customers/", params={"customer_id": customer_id})
        if answer.status_code not in (200, 404):
            raise RuntimeError(f"customer worker answered {answer.status_code}")
        return answer.status_code == 200

    registered = 0
    with httpx.Client(base_url=settings.worker_url("customer"), timeout=5) as worker:
        for customer_id, name, email, phone in CUSTOMERS:
            if kafka.eventually("read customer", partial(known, worker, customer_id)):
                continue
            data = {"customer_id": customer_id, "name": name, "email": email, "phone": phone}
            topic = topics.CUSTOMERS_COMMANDS.name
            produce_command(producer, codec, "RegisterCustomer", topic, customer_id, data)
            registered += 1
    return registered


def produce_command(
    producer: Producer, codec: Codec, event_type: str, topic: str, key: str, data: dict
) -> None:
    """One command, as the API would send it (its acknowledgement: the caller's flush)."""
    from schemas.codec import for_confluent, headers_for
    from schemas.events import command

    message = command(event_type, topic, key, data, "demo-seed", "seed")
    producer.produce(
        topic,
        key=key.encode(),
        value=codec.encode(message),
        headers=for_confluent(headers_for(message)),
    )
