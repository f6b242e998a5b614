"""The Elasticsearch side of the read model: the `orders-v1` index behind the `orders` alias
(one document per order), `customers-v1` behind the `customers` alias (one document per
customer_id, indexer/customers.py), and `order-events-v1` (one document per event, order and
customer events alike, for timeline search and aggregations). Index templates carry the
mappings, so a rebuilt or re-created index of any family gets them too."""

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
        # order_id -> {created_at, total_cents, currency, status}: what the figures above are
        # computed from; stored, not indexed (its keys are order ids)
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


def _template(es: Elasticsearch, name: str, pattern: str, mappings: dict[str, Any]) -> None:
    es.indices.put_index_template(
        name=name,
        index_patterns=[pattern],
        template={"settings": SETTINGS, "mappings": mappings},
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


def ensure_events_index(es: Elasticsearch, index: str) -> None:
    _ensure_index(es, "orderflow-order-events", index, EVENTS_MAPPING, alias=None)
