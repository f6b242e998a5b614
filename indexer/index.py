"""The Elasticsearch side of the read model: the `orders-v1` index behind the `orders` alias
(one document per order), and `order-events-v1` (one document per event, for timeline search
and aggregations). Index templates carry the mappings, so a rebuilt or re-created index of
either family gets them too."""

from __future__ import annotations

from typing import Any

from elasticsearch import Elasticsearch

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


EVENTS_MAPPING: dict[str, Any] = {
    "dynamic": "strict",
    "properties": {
        **TIMELINE_ENTRY["properties"],
        "order_id": _KEYWORD,
    },
}
SETTINGS = {"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"}


def _template(es: Elasticsearch, name: str, pattern: str, mappings: dict[str, Any]) -> None:
    es.indices.put_index_template(
        name=name,
        index_patterns=[pattern],
        template={"settings": SETTINGS, "mappings": mappings},
        priority=100,
    )


def ensure_orders_index(es: Elasticsearch, index: str, alias: str) -> None:
    """Templates, the index and the alias, unless they exist (idempotent). An existing index
    gets fields added since it was created (additive mapping changes only)."""
    _template(es, "orderflow-orders", f"{index}*", ORDERS_MAPPING)
    if not es.indices.exists(index=index):
        es.indices.create(index=index)
    else:
        es.indices.put_mapping(index=index, properties=ORDERS_MAPPING["properties"])
    if not es.indices.exists_alias(name=alias):
        es.indices.put_alias(index=index, name=alias)


def ensure_events_index(es: Elasticsearch, index: str) -> None:
    _template(es, "orderflow-order-events", f"{index}*", EVENTS_MAPPING)
    if not es.indices.exists(index=index):
        es.indices.create(index=index)
