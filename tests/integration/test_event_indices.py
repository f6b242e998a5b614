"""The per-event documents over time on the real Elasticsearch: the live indexer writes each
event into the index of its day behind the `order-events` alias, and pruning deletes the
indices whose every event is past the retention, never the current one."""

from __future__ import annotations

from datetime import datetime

import httpx
import pytest
from elasticsearch import Elasticsearch

from indexer.index import DAY_MS, EventIndices
from orderflow import config
from schemas.events import now_millis
from tests.factories import await_order, post_order, stock

pytestmark = pytest.mark.stack


def test_events_land_in_the_index_of_their_day_behind_the_alias(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"EVX-{unique}"
    assert stock(api, sku, 5, price="2.00").status_code == 200
    order_id = post_order(api, sku, f"evx-{unique}", price="2.00", country="FR")
    done = await_order(api, order_id, lambda d: d["status"] == "COMPLETED", "never completed")
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    es.indices.refresh(index=stack.events_alias)
    found = es.search(index=stack.events_alias, query={"term": {"order_id": order_id}}, size=100)
    hits = found["hits"]["hits"]
    assert {h["_source"]["event_id"] for h in hits} == {e["event_id"] for e in done["timeline"]}
    events = EventIndices.of(stack)
    for hit in hits:
        occurred = datetime.fromisoformat(hit["_source"]["occurred_at"]).timestamp() * 1000
        assert hit["_index"] == events.index_for(int(occurred)), hit["_index"]
    recent = api.get("/events/recent", params={"limit": 5})
    assert recent.status_code == 200 and recent.json()["events"], recent.text


def test_pruning_deletes_what_is_past_the_retention(stack: config.Settings, unique: str):
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    prefix = f"events-pruned-{unique.lower()}"
    events = EventIndices(prefix, f"{prefix}-alias", DAY_MS, 10 * DAY_MS, template=prefix)
    now = now_millis()
    events.ensure(es, now)
    for age_days in (0, 3, 11, 40):
        occurred = now - age_days * DAY_MS
        es.index(
            index=events.index_for(occurred),
            id=f"e-{age_days}",
            document={"event_id": f"e-{age_days}", "occurred_at": occurred},
            refresh=True,
        )
    behind = set(es.indices.get_alias(name=events.alias).body)
    assert behind == {events.index_for(now - d * DAY_MS) for d in (0, 3, 11, 40)}

    deleted = events.prune(es, now)

    assert set(deleted) == {events.index_for(now - d * DAY_MS) for d in (11, 40)}
    kept = set(es.indices.get_alias(name=events.alias).body)
    assert kept == {events.index_for(now - d * DAY_MS) for d in (0, 3)}
    later = now + 20 * DAY_MS  # as the indexer does it: the current index first, then prune
    events.ensure(es, later)
    assert set(events.prune(es, later)) == {events.index_for(now - d * DAY_MS) for d in (0, 3)}
    assert set(es.indices.get_alias(name=events.alias).body) == {events.index_for(later)}
    es.indices.delete(index=events.index_for(later))
    es.indices.delete_index_template(name=prefix)
