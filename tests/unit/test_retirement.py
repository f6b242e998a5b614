"""Retirement's pure decisions (streams/retirement.py): which stored states go, which
messages are refused as too old, and what each role counts as ended."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal

from schemas import topics
from schemas.events import Message, command
from streams import retirement
from streams.domain import fulfillment, order, payment
from tests.factories import NOW, place_order

WINDOW = 60_000


def _at(message: Message, occurred_at: int) -> Message:
    return replace(message, envelope=replace(message.envelope, occurred_at=occurred_at))


def test_an_ended_state_is_kept_for_the_window_then_retired():
    ended = {"stage": order.ENDED, "ended_at": NOW}
    assert retirement.verdict(ended, order.ended, NOW + WINDOW - 1, WINDOW) == retirement.KEEP
    assert retirement.verdict(ended, order.ended, NOW + WINDOW, WINDOW) == retirement.RETIRE


def test_a_live_state_is_never_retired_however_old():
    live = {"stage": order.FULFILLING, "ended_at": None}
    assert retirement.verdict(live, order.ended, NOW + 100 * WINDOW, WINDOW) == retirement.KEEP
    assert retirement.verdict(None, order.ended, NOW, WINDOW) == retirement.KEEP


def test_a_state_ended_before_it_carried_its_end_time_is_stamped_first():
    assert retirement.verdict({"stage": order.ENDED}, order.ended, NOW, WINDOW) == "stamp"


def test_only_a_creating_message_older_than_the_window_is_too_old():
    rule = retirement.Retirement(None, order.ended, frozenset(order.CREATES), WINDOW)
    placed = _at(place_order(), NOW)
    assert not rule.too_old(placed, NOW + WINDOW)
    assert rule.too_old(placed, NOW + WINDOW + 1)
    cancel = _at(
        command("CancelOrder", topics.ORDERS_COMMANDS.name, "o1", {"order_id": "o1"}, "c", "t"),
        NOW,
    )
    assert not rule.too_old(cancel, NOW + 10 * WINDOW)  # finds no state: changes nothing


def test_the_saga_stamps_when_an_order_ends():
    state = order.OrderState("o1", {"items": []}, "c", "e", stage=order.FULFILLING)
    assert not order.ended(state.to_json())
    delivered = command(
        "OrderDelivered", topics.FULFILLMENT_EVENTS.name, "o1", {"order_id": "o1"}, "c", "t"
    )
    done, _ = order.order_delivered(replace(state, status="SHIPPED"), delivered, NOW)
    assert done is not None and done.ended_at == NOW and order.ended(done.to_json())
    # the end time survives the table's JSON
    assert order.OrderState.from_json(json.loads(json.dumps(done.to_json()))).ended_at == NOW


def test_a_shipment_ends_when_delivered_or_stopped():
    shipment = fulfillment.Shipment("o1", "AMS", fulfillment.SHIPPED, NOW, "c", "e")
    assert not fulfillment.ended(shipment.to_json())
    assert fulfillment.ended(replace(shipment, stage=fulfillment.DELIVERED).to_json())
    assert fulfillment.ended(replace(shipment, stage=fulfillment.CANCELLED).to_json())


def test_a_refund_for_a_retired_authorization_is_made_from_the_command_once():
    refund = command(
        "RefundPayment",
        topics.PAYMENTS_COMMANDS.name,
        "o1",
        {"order_id": "o1", "customer_id": "c", "amount": Decimal("12.50"), "currency": "EUR"},
        "corr",
        "test",
    )
    state, out = payment.refund(None, refund, NOW)
    assert [m.type for m in out] == ["PaymentRefunded"]
    assert out[0].data["amount"] == Decimal("12.50") and state is not None
    assert state.refunded and state.ended_at == NOW
    assert payment.refund(state, refund, NOW + 1) == (state, [])
