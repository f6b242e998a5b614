"""The Elasticsearch side of the read model: the `orders-v1` index behind the `orders` alias
(one document per order), `customers-v1` behind the `customers` alias (one document per
customer_id, indexer/customers.py), and the per-event documents (order and customer events
alike, for timeline search and `/events/recent`) in one index per period of their occurred_at
behind the `order-events` alias, kept for a retention (EventIndices). Index templates carry
the mappings, so a rebuilt or re-created index of any family gets them too."""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from elasticsearch import Elasticsearch, NotFoundError

from orderflow import config

_KEYWORD = {"type": "keyword"}
_DATE = {"type": "date"}

TIMELINE_ENTRY = {
    "properties": {
        "event_id": _KEYWORD,
        "event_type": _KEYWORD,
        "occurred_at": _DATE,
        "topic": _KEYWORD,
        "correlation_id": _KEYWORD,
        "causation_id": _KEYWORD,
        "producer": _KEYWORD,
        # Each event type has its own fields: stored as-is, not indexed, so one type's field
        # can never clash with another's in the mapping.
        "details": {"type": "object", "enabled": False},
    }
}

ORDERS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "order_id": _KEYWORD,
        "customer_id": _KEYWORD,
        "customer_email": _KEYWORD,
        "status": _KEYWORD,
        "cancel_reason": _KEYWORD,
        "currency": _KEYWORD,
        # Money: the exact decimal string as written in the events, and beside it the same
        # amount in cents as an integer, for exact sums and ranges (never a float).
        "total_amount": _KEYWORD,
        "total_cents": {"type": "long"},
        "items": {
            "properties": {"sku": _KEYWORD, "quantity": {"type": "integer"}, "unit_price": _KEYWORD}
        },
        "shipping_address": {
            "properties": {
                "country": _KEYWORD,
                "city": _KEYWORD,
                "postal_code": _KEYWORD,
                "line1": {"type": "text"},
            }
        },
        "created_at": _DATE,
        "updated_at": _DATE,
        "timeline": TIMELINE_ENTRY,
    },
}


CUSTOMERS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        "customer_id": _KEYWORD,
        "name": {"type": "text", "fields": {"keyword": _KEYWORD}},
        "email": _KEYWORD,
        "phone": _KEYWORD,
        "status": _KEYWORD,  # ACTIVE, INACTIVE, or GUEST (seen on orders, never registered)
        "registered_at": _DATE,
        "updated_at": _DATE,
        "order_count": {"type": "integer"},
        # The sum across currencies, in cents and as a decimal string; beside it the honest
        # figure, per currency (indexer/customers.py says why both)
        "lifetime_value_cents": {"type": "long"},
        "lifetime_value": _KEYWORD,
        "lifetime_value_by_currency": {
            "properties": {"currency": _KEYWORD, "value_cents": {"type": "long"}, "value": _KEYWORD}
        },
        "last_order_at": _DATE,
        # order_id -> {...}: no longer written (the figures are aggregated from the orders
        # index); documents written before 2026-12-07 hold it until their next write
        "orders": {"type": "object", "enabled": False},
        "timeline": TIMELINE_ENTRY,
    },
}

EVENTS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        **TIMELINE_ENTRY["properties"],
        "order_id": _KEYWORD,
        "customer_id": _KEYWORD,  # customer events, and order events that name one
    },
}
SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def _template(
    es: Elasticsearch,
    name: str,
    pattern: str,
    mappings: dict[str, Any],
    aliases: dict[str, Any] | None = None,
) -> None:
    es.indices.put_index_template(
        name=name,
        index_patterns=[pattern],
        template={"settings": SETTINGS, "mappings": mappings, "aliases": aliases or {}},
        priority=100,
    )


def _ensure_index(
    es: Elasticsearch, template: str, index: str, mappings: dict[str, Any], alias: str | None
) -> None:
    """The template, the index and the alias, unless they exist (idempotent). Every existing
    index of the family (the first one, rebuilt ones behind the alias) gets the fields added
    since it was created (additive mapping changes only)."""
    _template(es, template, f"{index}*", mappings)
    if not es.indices.exists(index=index):
        es.indices.create(index=index)
    es.indices.put_mapping(index=f"{index}*", properties=mappings["properties"])
    if alias is not None and not es.indices.exists_alias(name=alias):
        es.indices.put_alias(index=index, name=alias)


def ensure_orders_index(es: Elasticsearch, index: str, alias: str) -> None:
    _ensure_index(es, "orderflow-orders", index, ORDERS_MAPPING, alias)


def ensure_customers_index(es: Elasticsearch, index: str, alias: str) -> None:
    _ensure_index(es, "orderflow-customers", index, CUSTOMERS_MAPPING, alias)


DAY_MS = 86_400_000


@dataclass(frozen=True)
class EventIndices:
    """The per-event documents over time, as Curator would keep them (this Elasticsearch build
    has no ILM): an event goes to the index of the period its occurred_at falls in,
    `<prefix>-2026.12.06` for daily periods, `<prefix>-2026.12.06-143000` for shorter ones;
    the template puts every index of the family behind `alias`, which readers search. `prune`
    deletes each index whose newest event is older than the retention, and the indexer writes
    no event older than that (a rebuild replays every topic from its start): the events kept
    are those of the last `retention_ms`, so their size is bounded by the event rate times
    the retention. An index named `<prefix>` alone (made before periods) stays behind the
    alias until its newest event is past the retention too."""

    prefix: str
    alias: str
    period_ms: int
    retention_ms: int
    template: str = "orderflow-order-events"

    @classmethod
    def of(cls, settings: config.Settings) -> EventIndices:
        return cls(
            settings.events_index,
            settings.events_alias,
            settings.events_index_period_s * 1000,
            int(settings.events_retention_s * 1000),
        )

    def index_for(self, occurred_at_ms: int) -> str:
        start = occurred_at_ms - occurred_at_ms % self.period_ms
        pattern = "%Y.%m.%d" if self.period_ms % DAY_MS == 0 else "%Y.%m.%d-%H%M%S"
        return f"{self.prefix}-{time.strftime(pattern, time.gmtime(start / 1000))}"

    def kept(self, occurred_at_ms: int, now_ms: int) -> bool:
        return occurred_at_ms >= now_ms - self.retention_ms

    def ensure(self, es: Elasticsearch, now_ms: int) -> None:
        """The template (mappings and alias), the current period's index, and an index of the
        family made before the alias (an upgrade) behind the alias; idempotent."""
        alias: dict[str, Any] = {self.alias: {}}
        _template(es, self.template, f"{self.prefix}*", EVENTS_MAPPING, alias)
        current = self.index_for(now_ms)
        if not es.indices.exists(index=current):
            es.indices.create(index=current)  # the template puts it behind the alias
        es.indices.put_mapping(index=f"{self.prefix}*", properties=EVENTS_MAPPING["properties"])
        if es.indices.exists(index=self.prefix):
            es.indices.put_alias(index=self.prefix, name=self.alias)

    def prune(self, es: Elasticsearch, now_ms: int) -> list[str]:
        """Delete the indices behind the alias whose newest event is older than the
        retention (or that hold none), never the current period's; returns their names."""
        current, cutoff = self.index_for(now_ms), now_ms - self.retention_ms
        deleted = []
        for index in sorted(es.indices.get_alias(name=self.alias).body):
            if index == current:
                continue
            try:
                newest = es.search(
                    index=index, size=0, aggs={"newest": {"max": {"field": "occurred_at"}}}
                )["aggregations"]["newest"]["value"]
                if newest is None or newest < cutoff:
                    es.indices.delete(index=index)
                    deleted.append(index)
            except NotFoundError:  # deleted meanwhile (an operator, another pruner): gone
                continue
        return deleted
