"""`orderflow rebuild`: the read model again from the Kafka topics, into new indices, then the
`orders` and `customers` aliases move to them. Readers never see a gap: they read the old
indices through the aliases until the atomic switch, and the new ones after it.

1. create `orders-v1-<UTC timestamp>` and `customers-v1-<the same timestamp>` (the index
   templates give them the mappings);
2. fold every event from the beginning of each topic the indexer reads up to its current end
   into them;
3. switch both aliases (one atomic `update_aliases`: remove from the old, add to the new), so
   no reader sees new orders beside old customers;
4. fold what arrived meanwhile (from those ends to the new ends), now through the aliases.
The live indexer keeps writing through the aliases all along; its writes and the rebuild's
never undo each other (optimistic concurrency in Indexer.upsert). The old indices are kept,
and printed, for the operator to delete."""

from __future__ import annotations

import threading
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from elasticsearch import Elasticsearch

from indexer.index import EventIndices, ensure_customers_index, ensure_orders_index
from indexer.main import Indexer
from orderflow import config
from schemas.events import now_millis


@dataclass(frozen=True)
class Rebuilt:
    """The new orders index, the indices the `orders` alias left and the orders now in the
    new index; the records folded; the same three for the customers."""

    index: str
    previous: list[str]
    documents: int
    records: int
    customers_index: str
    customers_previous: list[str]
    customers: int


def _alias_moves(es: Elasticsearch, alias: str, new: str) -> tuple[list[str], list[dict]]:
    """The indices behind `alias` now, and the actions that move it to `new` alone."""
    previous = sorted(es.indices.get_alias(name=alias).body)
    actions: list[dict[str, Any]] = [
        *({"remove": {"index": old, "alias": alias}} for old in previous),
        {"add": {"index": new, "alias": alias}},
    ]
    return previous, actions


def rebuild(settings: config.Settings, stop: threading.Event | None = None) -> Rebuilt:
    es = Elasticsearch(settings.elasticsearch_url, request_timeout=60)
    ensure_orders_index(es, settings.orders_index, settings.orders_alias)
    ensure_customers_index(es, settings.customers_index, settings.customers_alias)
    EventIndices.of(settings).ensure(es, now_millis())
    stamp = f"{datetime.now(UTC):%Y%m%d%H%M%S}"
    new, new_customers = f"{settings.orders_index}-{stamp}", f"{settings.customers_index}-{stamp}"
    es.indices.create(index=new)
    es.indices.create(index=new_customers)
    indexer = Indexer(
        settings,
        stop or threading.Event(),
        target=new,
        group_id=f"orderflow-rebuild-{uuid.uuid4()}",
        customers_target=new_customers,
    )
    try:
        first = indexer.replay()
        previous, orders_moves = _alias_moves(es, settings.orders_alias, new)
        customers_previous, customers_moves = _alias_moves(
            es, settings.customers_alias, new_customers
        )
        es.indices.update_aliases(actions=[*orders_moves, *customers_moves])
        indexer.target = settings.orders_alias
        indexer.customers_target = settings.customers_alias
        last = indexer.replay(first)
    finally:
        indexer.consumer.close()
    es.indices.refresh(index=[new, new_customers])
    return Rebuilt(
        index=new,
        previous=previous,
        documents=int(es.count(index=new)["count"]),
        records=sum(last.values()),
        customers_index=new_customers,
        customers_previous=customers_previous,
        customers=int(es.count(index=new_customers)["count"]),
    )
