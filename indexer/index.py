"""The Elasticsearch side of the read model: the `orders-v1` index behind the `orders` alias."""

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
        # Money as its exact decimal string (keyword); sums and ranges come with the
        # read-model issue (a scaled integer field beside it).
        "total_amount": _KEYWORD,
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


def ensure_orders_index(es: Elasticsearch, index: str, alias: str) -> None:
    """Create the index and point the alias at it, unless they exist (idempotent)."""
    if not es.indices.exists(index=index):
        es.indices.create(
            index=index,
            settings={"number_of_shards": 1, "number_of_replicas": 0, "refresh_interval": "1s"},
            mappings=ORDERS_MAPPING,
        )
    if not es.indices.exists_alias(name=alias):
        es.indices.put_alias(index=index, name=alias)
