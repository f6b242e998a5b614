"""The read model fold: same document whatever the order or repetition of events."""

from __future__ import annotations

import itertools
from decimal import Decimal

from indexer.projection import cents, event_document, project
from schemas import topics
from streams.domain import order
from tests.factories import NOW, customer_checked, place_order, reply


def _saga(state, msg, now):
    """The saga's decision without the notifications it hosts (their own events)."""
    state, outputs = order.decide(state, msg, now)
    return state, [m for m in outputs if m.type != "NotificationSent"]


def _placed(cmd):
    """PlaceOrder and the customer worker's answer (a guest): the saga's state, OrderPlaced,
    and the line's ReserveStock."""
    state, (placed, check) = _saga(None, cmd, NOW)
    state, (reserve,) = _saga(state, customer_checked(check), NOW)
    return state, placed, reserve


def _out_of_stock(reserve):
    """The inventory's answer to a line's ReserveStock: none left."""
    return reply(
        reserve,
        "StockRejected",
        topics.INVENTORY_EVENTS.name,
        order_id=reserve.data["order_id"],
        sku=reserve.data["sku"],
        quantity=reserve.data["quantity"],
        reason="OUT_OF_STOCK",
        available=0,
    )


def _lifecycle():
    cmd = place_order(lines={"A": 1})
    state, placed, reserve = _placed(cmd)
    reserved = reserve.caused(
        "StockReserved",
        topics.INVENTORY_EVENTS.name,
        cmd.key,
        {"order_id": cmd.key, "sku": "A", "quantity": 1},
        "test",
        NOW + 1,
    )
    state, (ask,) = _saga(state, reserved, NOW + 1)
    authorized = ask.caused(
        "PaymentAuthorized",
        topics.PAYMENTS_EVENTS.name,
        cmd.key,
        {
            "order_id": cmd.key,
            "amount": Decimal("10.50"),
            "currency": "EUR",
            "authorization_id": "x",
        },
        "test",
        NOW + 2,
    )
    state, (confirmed, schedule) = _saga(state, authorized, NOW + 3)
    scheduled = schedule.caused(
        "FulfillmentScheduled",
        topics.FULFILLMENT_EVENTS.name,
        cmd.key,
        {"order_id": cmd.key, "warehouse": "WH-EU-AMS"},
        "test",
        NOW + 4,
    )
    return cmd.key, [placed, reserved, authorized, confirmed, scheduled]


def test_a_full_lifecycle_reads_as_the_order_document():
    order_id, events = _lifecycle()
    doc = project(order_id, None, events)
    assert doc["status"] == "FULFILLMENT_SCHEDULED"
    assert doc["customer_id"] == "alice" and doc["total_amount"] == "10.50"
    assert [e["event_type"] for e in doc["timeline"]] == [
        "OrderPlaced",
        "StockReserved",
        "PaymentAuthorized",
        "OrderConfirmed",
        "FulfillmentScheduled",
    ]
    entry = doc["timeline"][1]
    assert entry["topic"] == topics.INVENTORY_EVENTS.name
    assert entry["causation_id"] == events[1].envelope.causation_id
    assert entry["occurred_at"] == "2023-11-14T22:13:20.001+00:00"
    assert entry["correlation_id"] == "corr-1" and entry["details"]["sku"] == "A"


def test_any_order_and_any_repetition_give_the_same_document():
    order_id, events = _lifecycle()
    expected = project(order_id, None, events)
    for permutation in itertools.permutations(events):
        doc = None
        for event in permutation:  # one event per batch, each batch re-reading the doc
            doc = project(order_id, doc, [event])
        doc = project(order_id, doc, list(permutation))  # and a full replay on top
        assert doc == expected


def test_cancel_overrides_progress_and_names_the_reason():
    cmd = place_order(lines={"A": 1})
    state, placed, reserve = _placed(cmd)
    rejected = _out_of_stock(reserve)
    _, (cancelled,) = _saga(state, rejected, NOW + 1)
    doc = project(cmd.key, None, [cancelled, rejected, placed])
    assert doc["status"] == "CANCELLED" and doc["cancel_reason"] == "OUT_OF_STOCK"


def test_events_before_order_placed_still_make_a_document():
    order_id, events = _lifecycle()
    doc = project(order_id, None, [events[1]])
    assert doc["status"] is None and len(doc["timeline"]) == 1


def test_money_is_kept_exact_as_text_and_as_integer_cents():
    order_id, events = _lifecycle()
    doc = project(order_id, None, events)
    assert doc["total_amount"] == "10.50" and doc["total_cents"] == 1050
    assert cents("0.10") + cents("0.20") == cents("0.30") == 30  # no float drift
    assert cents("12345678901234.99") == 1234567890123499


def test_each_event_is_a_document_of_its_own():
    order_id, events = _lifecycle()
    doc = event_document(events[1])
    assert doc["order_id"] == order_id and doc["event_type"] == "StockReserved"
    assert doc["event_id"] == events[1].envelope.event_id
    assert doc == {**project(order_id, None, events)["timeline"][1], "order_id": order_id}


def test_within_one_millisecond_a_notification_follows_the_transition_it_announces():
    while True:  # an order whose notice's event id sorts first: the id cannot decide
        cmd = place_order(lines={"A": 1})
        state, _, reserve = _placed(cmd)
        rejected = _out_of_stock(reserve)
        # OrderCancelled and its notice, one clock reading
        _, outputs = order.decide(state, rejected, NOW + 1)
        cancelled = next(m for m in outputs if m.type == "OrderCancelled")
        notice = next(m for m in outputs if m.type == "NotificationSent")
        if notice.envelope.event_id < cancelled.envelope.event_id:
            break
    assert cancelled.envelope.occurred_at == notice.envelope.occurred_at
    for events in ([cancelled, notice], [notice, cancelled]):
        doc = project(cmd.key, None, events)
        assert [e["event_type"] for e in doc["timeline"]] == ["OrderCancelled", "NotificationSent"]
