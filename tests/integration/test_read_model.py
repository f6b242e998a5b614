"""The Elasticsearch read model is exact whatever the indexer sees: the same events again
(a replay), the events of an order in reverse order across topics and batches, or an
Elasticsearch outage in the middle of a stream. Each time every order ends with the same
document, every event once."""

from __future__ import annotations

import time
from decimal import Decimal
from typing import Any

import httpx
import pytest
from confluent_kafka import Consumer, Producer, TopicPartition
from elasticsearch import Elasticsearch

from indexer.main import GROUP_ID as INDEXER
from ops import services
from orderflow import config
from schemas import topics
from tests.factories import post_order, stock
from tests.kafka_reading import partition_ends, read_range, reader

pytestmark = pytest.mark.stack

EVENT_TOPICS = [spec.name for spec in topics.ORDER_EVENT_TOPICS]
FULL_TIMELINE = 15  # 9 lifecycle events and 6 notifications of a completed order


def _order(api: httpx.Client, sku: str, n: int = 0) -> str:
    return post_order(api, sku, f"reader-{n}")


def _completed(es: Elasticsearch, order_ids: list[str], timeout_s: float = 120) -> dict:
    """Wait until every order's document is COMPLETED with its whole timeline."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            found = es.mget(index="orders", ids=order_ids)["docs"]
            docs = {d["_id"]: d["_source"] for d in found if d.get("found")}
        except Exception:  # Elasticsearch is still coming back
            docs = {}
        done = {
            o: d
            for o, d in docs.items()
            if d["status"] == "COMPLETED" and len(d["timeline"]) >= FULL_TIMELINE
        }
        if len(done) == len(order_ids):
            return done
        assert time.monotonic() < deadline, (
            f"{len(order_ids) - len(done)} of {len(order_ids)} orders not complete in ES"
        )
        time.sleep(0.5)


def _records_of(settings: config.Settings, order_id: str) -> list[Any]:
    """Every record about the order on the event topics, in topic/partition/offset order."""
    consumer = reader(settings, "read-model-test")
    beginnings = {tp: 0 for tp in partition_ends(consumer, EVENT_TOPICS)}
    consumer.close()
    return [r for r in read_range(settings, beginnings) if r.key() == order_id.encode()]


def _indexer_caught_up(settings: config.Settings, timeout_s: float = 60) -> None:
    consumer = Consumer({"bootstrap.servers": settings.kafka_bootstrap, "group.id": INDEXER})
    metadata = consumer.list_topics(timeout=10).topics
    tps = [TopicPartition(t, p) for t in EVENT_TOPICS for p in metadata[t].partitions]
    deadline = time.monotonic() + timeout_s
    while True:
        committed = consumer.committed(tps, timeout=10)
        lag = sum(
            consumer.get_watermark_offsets(tp, timeout=10)[1] - max(tp.offset, 0)
            for tp in committed
        )
        if lag == 0:
            break
        assert time.monotonic() < deadline, f"indexer lag stays at {lag}"
        time.sleep(0.5)
    consumer.close()


def test_replayed_and_reordered_events_give_the_same_document(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"RM-{unique}"
    assert stock(api, sku, 5).status_code == 200
    order_id = _order(api, sku)
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    original = _completed(es, [order_id])[order_id]
    records = _records_of(stack, order_id)
    assert len({dict(r.headers())["event_id"] for r in records}) == FULL_TIMELINE

    producer = Producer({"bootstrap.servers": stack.kafka_bootstrap})

    def send(record: Any) -> None:
        producer.produce(
            record.topic(),
            key=record.key(),
            value=record.value(),
            headers=record.headers(),
            partition=record.partition(),
        )
        assert producer.flush(10) == 0

    # out of order: the document is gone, the events come back newest first, one at a time
    _indexer_caught_up(stack)
    es.delete(index="orders", id=order_id, refresh=True)
    for record in reversed(records):
        send(record)
        time.sleep(0.2)  # separate indexer batches
    rebuilt = _completed(es, [order_id])[order_id]
    assert rebuilt == original

    # a replay: everything again, in the original order
    for record in records:
        send(record)
    _indexer_caught_up(stack)
    es.indices.refresh(index="orders")
    assert es.get(index="orders", id=order_id)["_source"] == original


def test_an_elasticsearch_outage_is_waited_out(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"ESO-{unique}"
    assert stock(api, sku, 100).status_code == 200
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    before = [_order(api, sku, n) for n in range(10)]
    services.stack("down", "elasticsearch")
    try:
        during = [_order(api, sku, n) for n in range(10, 20)]
        time.sleep(5)  # the saga carries on; the indexer waits
    finally:
        services.stack("up", "elasticsearch")
    docs = _completed(es, before + during, timeout_s=180)
    for order_id, doc in docs.items():
        event_ids = [entry["event_id"] for entry in doc["timeline"]]
        assert len(event_ids) == len(set(event_ids)) == FULL_TIMELINE, order_id


def test_queries_filters_paging_events_index_and_aggregations(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"Q-{unique}"
    customer = f"q-{unique}"
    assert stock(api, sku, 10, price="0.10").status_code == 200
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    before = api.get("/analytics/orders").json()
    ids = []
    for _ in range(3):
        answer = api.post(
            "/orders",
            json={
                "customer_id": customer,
                "customer_email": "q@example.com",
                "currency": "EUR",
                "items": [{"sku": sku, "quantity": 1, "unit_price": "0.10"}],
                "shipping_address": {"country": "NL"},
            },
        )
        assert answer.status_code == 202, answer.text
        ids.append(answer.json()["order_id"])
    _completed(es, ids)
    es.indices.refresh(index="orders")

    mine = api.get("/orders", params={"customer_id": customer}).json()
    assert mine["total"] == 3 and {o["order_id"] for o in mine["orders"]} == set(ids)
    assert all("timeline" not in o and o["total_cents"] == 10 for o in mine["orders"])
    first = api.get("/orders", params={"customer_id": customer, "size": 2}).json()
    second = api.get("/orders", params={"customer_id": customer, "size": 2, "page": 2}).json()
    paged = [o["order_id"] for o in first["orders"] + second["orders"]]
    assert len(first["orders"]) == 2 and sorted(paged) == sorted(ids)
    assert api.get("/orders", params={"sku": sku}).json()["total"] == 3
    assert api.get("/orders", params={"sku": sku, "status": "CANCELLED"}).json()["total"] == 0
    created = sorted(o["created_at"] for o in mine["orders"])
    window = {"customer_id": customer, "from": created[0], "to": created[-1]}
    # `from` is inclusive, `to` exclusive: the orders created before the last one (two, unless
    # two of them were placed in the same millisecond, as the saga may do in one batch)
    before_last = sum(c < created[-1] for c in created)
    assert before_last < 3
    assert api.get("/orders", params=window).json()["total"] == before_last
    assert api.get("/orders", params={"status": "LOST"}).status_code == 422

    # one document per event in order-events-v1
    es.indices.refresh(index=stack.events_alias)
    events = es.count(index=stack.events_alias, query={"term": {"order_id": ids[0]}})
    assert events["count"] == FULL_TIMELINE

    after = api.get("/analytics/orders").json()
    assert after["by_status"]["COMPLETED"] >= before["by_status"].get("COMPLETED", 0) + 3
    today = {d["day"]: d for d in after["revenue_by_day"]}[created[0][:10]]
    earlier = {d["day"]: d for d in before["revenue_by_day"]}.get(created[0][:10])
    grown = Decimal(today["revenue"]) - Decimal(earlier["revenue"] if earlier else "0")
    assert grown >= Decimal("0.30"), (earlier, today)
