"""`orderflow rebuild`: the read model again from the Kafka topics, into a new index, then the
`orders` alias moves to it. Readers never see a gap: they read the old index through the alias
until the atomic switch, and the new one after it.

1. create `orders-v1-<UTC timestamp>` (the index template gives it the mappings);
2. fold every event from the beginning of each topic up to its current end into it;
3. switch the alias (one atomic `update_aliases`: remove from the old, add to the new);
4. fold what arrived meanwhile (from those ends to the new ends), now through the alias.
The live indexer keeps writing through the alias all along; its writes and the rebuild's
never undo each other (optimistic concurrency in Indexer.write). The old index is kept, and
printed, for the operator to delete."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from elasticsearch import Elasticsearch

from indexer.index import ensure_events_index, ensure_orders_index
from indexer.main import Indexer
from orderflow import config


@dataclass(frozen=True)
class Rebuilt:
    index: str
    previous: list[str]
    documents: int
    records: int


def rebuild(settings: config.Settings, stop: threading.Event | None = None) -> Rebuilt:
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=60)
    ensure_orders_index(es, settings.orders_index, settings.orders_alias)
    ensure_events_index(es, settings.events_index)
    new = f"{settings.orders_index}-{datetime.now(UTC):%Y%m%d%H%M%S}"
    es.indices.create(index=new)
    indexer = Indexer(
        settings,
        stop or threading.Event(),
        target=new,
        group_id=f"orderflow-rebuild-{uuid.uuid4()}",
    )
    try:
        first = indexer.replay()
        previous = sorted(es.indices.get_alias(name=settings.orders_alias).body)
        es.indices.update_aliases(
            actions=[
                *({"remove": {"index": old, "alias": settings.orders_alias}} for old in previous),
                {"add": {"index": new, "alias": settings.orders_alias}},
            ]
        )
        indexer.target = settings.orders_alias
        last = indexer.replay(first)
    finally:
        indexer.consumer.close()
    es.indices.refresh(index=new)
    return Rebuilt(
        index=new,
        previous=previous,
        documents=int(es.count(index=new)["count"]),
        records=sum(last.values()),
    )
