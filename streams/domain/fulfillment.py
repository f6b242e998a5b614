"""The fulfillment participant: picks the warehouse that serves the destination country and
schedules the shipment, once per order."""

from __future__ import annotations

from orderflow import topics
from schemas.events import Message

PRODUCER = "fulfillment-agent"

WAREHOUSES: dict[str, tuple[str, ...]] = {
    "WH-EU-AMS": ("NL", "BE", "LU", "DE", "FR", "AT", "DK", "PL", "CZ", "IT", "ES", "PT", "IE"),
    "WH-UK-MAN": ("GB",),
    "WH-US-NJ": ("US", "CA", "MX"),
    "WH-APAC-SG": ("SG", "JP", "AU", "NZ", "KR", "IN"),
}
DEFAULT_WAREHOUSE = "WH-EU-AMS"
_BY_COUNTRY = {country: wh for wh, countries in WAREHOUSES.items() for country in countries}


def warehouse_for(country: str) -> str:
    return _BY_COUNTRY.get(country.upper(), DEFAULT_WAREHOUSE)


def decide(state: str | None, msg: Message, now: int) -> tuple[str | None, list[Message]]:
    """State is the warehouse the order was scheduled at (None until scheduled)."""
    if msg.type != "ScheduleFulfillment":
        return state, []
    order_id = msg.data["order_id"]
    warehouse = state or warehouse_for(msg.data["shipping_address"]["country"])
    event = msg.caused(
        "FulfillmentScheduled",
        topics.FULFILLMENT_EVENTS.name,
        order_id,
        {"order_id": order_id, "warehouse": warehouse},
        PRODUCER,
        now,
    )
    return warehouse, [event]
