"""The order saga as pure decisions: every transition and compensation, no Kafka."""

from __future__ import annotations

import json
from decimal import Decimal

from schemas import topics
from schemas.codec import Codec
from schemas.events import Message, command
from streams.domain import inventory, order
from tests.factories import NOW, MemoryRegistry, place_order, reply, types

CODEC = Codec(MemoryRegistry())  # type: ignore[arg-type]


def _decide(state: order.OrderState | None, msg: Message):
    """Decide as the agent does: state goes through its JSON form in the table between
    messages, and every output must encode against its Avro schema."""
    if state is not None:
        state = order.OrderState.from_json(json.loads(json.dumps(state.to_json())))
    new_state, outputs = order.decide(state, msg, NOW)
    for output in outputs:
        CODEC.encode(output)
    return new_state, outputs


def _run(state: order.OrderState | None, msg: Message):
    """The saga's decision without the notifications it hosts (test_notifications_* check
    those)."""
    new_state, outputs = _decide(state, msg)
    return new_state, [m for m in outputs if m.type != "NotificationSent"]


def _reserved(cmd: Message) -> Message:
    return reply(
        cmd,
        "StockReserved",
        topics.INVENTORY_EVENTS.name,
        order_id=cmd.data["order_id"],
        sku=cmd.data["sku"],
        quantity=cmd.data["quantity"],
    )


def _rejected(cmd: Message, reason: str = "OUT_OF_STOCK") -> Message:
    return reply(
        cmd,
        "StockRejected",
        topics.INVENTORY_EVENTS.name,
        order_id=cmd.data["order_id"],
        sku=cmd.data["sku"],
        quantity=cmd.data["quantity"],
        reason=reason,
        available=0,
    )


def test_place_order_announces_it_and_reserves_each_line_by_sku():
    msg = place_order(lines={"A": 1, "B": 3})
    state, out = _run(None, msg)
    assert state is not None and state.status == "PENDING"
    assert types(out) == ["OrderPlaced", "ReserveStock", "ReserveStock"]
    placed, *reserves = out
    assert placed.topic == topics.ORDERS_EVENTS.name and placed.key == msg.key
    assert placed.data["total_amount"] == Decimal("42.00")
    assert [(r.key, r.data["quantity"]) for r in reserves] == [("A", 1), ("B", 3)]
    assert all(r.topic == topics.INVENTORY_COMMANDS.name for r in reserves)
    # lineage: same correlation, caused by the command
    assert {m.envelope.correlation_id for m in out} == {"corr-1"}
    assert {m.envelope.causation_id for m in out} == {msg.envelope.event_id}


def test_each_reserve_stock_carries_the_lines_price_and_the_orders_currency():
    _, out = _run(None, place_order(lines={"A": 1, "B": 3}))
    reserves = [m for m in out if m.type == "ReserveStock"]
    assert [(r.data["unit_price"], r.data["currency"]) for r in reserves] == [
        (Decimal("10.50"), "EUR"),
        (Decimal("10.50"), "EUR"),
    ]
    decoded = CODEC.decode(reserves[0].topic, reserves[0].key, CODEC.encode(reserves[0]))
    assert decoded.data["unit_price"] == Decimal("10.50") and decoded.data["currency"] == "EUR"


def test_outputs_have_deterministic_event_ids_so_reprocessing_repeats_them():
    msg = place_order()
    _, first = _run(None, msg)
    _, again = _run(None, msg)
    assert [m.envelope.event_id for m in first] == [m.envelope.event_id for m in again]
    assert len({m.envelope.event_id for m in first}) == len(first)


def test_a_second_place_order_for_the_same_id_does_nothing():
    msg = place_order()
    state, _ = _run(None, msg)
    other = place_order(order_id=msg.key)
    assert _run(state, other) == (state, [])


def test_payment_is_asked_only_when_every_line_is_reserved():
    state, out = _run(None, place_order(lines={"A": 1, "B": 2}))
    state, first = _run(state, _reserved(out[1]))
    assert first == [] and state.stage == order.RESERVING
    state, second = _run(state, _reserved(out[2]))
    assert types(second) == ["AuthorizePayment"]
    assert second[0].data["amount"] == Decimal("31.50")
    assert second[0].topic == topics.PAYMENTS_COMMANDS.name


def test_a_redelivered_reservation_reserves_nothing_twice():
    state, out = _run(None, place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _reserved(out[1]))
    state2, again = _run(state, _reserved(out[1]))
    assert again == [] and state2.reserved == ("A",)


def test_rejection_releases_what_was_reserved_and_cancels_out_of_stock():
    state, out = _run(None, place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _reserved(out[1]))
    state, after = _run(state, _rejected(out[2]))
    assert state.status == "CANCELLED" and state.cancel_reason == "OUT_OF_STOCK"
    assert types(after) == ["ReleaseStock", "OrderCancelled"]
    assert after[0].key == "A" and after[0].data["quantity"] == 1
    assert after[1].data["reason"] == "OUT_OF_STOCK"


def test_unknown_sku_cancels_with_unknown_sku():
    state, out = _run(None, place_order(lines={"NOPE": 1}))
    state, after = _run(state, _rejected(out[1], reason="UNKNOWN_SKU"))
    assert types(after) == ["OrderCancelled"] and state.cancel_reason == "UNKNOWN_SKU"


def test_a_price_mismatch_releases_what_was_reserved_and_cancels_as_such():
    state, out = _run(None, place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _reserved(out[1]))
    state, after = _run(state, _rejected(out[2], reason="PRICE_MISMATCH"))
    assert state.status == "CANCELLED" and state.cancel_reason == "PRICE_MISMATCH"
    assert types(after) == ["ReleaseStock", "OrderCancelled"]
    assert after[1].data["reason"] == "PRICE_MISMATCH"
    assert after[1].data["detail"] == "B: the line's price or currency is not the price of record"


def test_a_line_priced_otherwise_than_the_inventory_ends_the_order_price_mismatch():
    """The saga's ReserveStock through the inventory decider and back: SKU A costs 9.99 EUR
    there, the customer saw 10.50."""
    stocked = command(
        "AdjustStock",
        topics.INVENTORY_COMMANDS.name,
        "A",
        {"sku": "A", "set_on_hand": 5, "unit_price": Decimal("9.99"), "currency": "EUR"},
        "corr",
        "test",
    )
    item, _ = inventory.decide(None, stocked, NOW)
    state, out = _run(None, place_order(lines={"A": 1}))
    item, answer = inventory.decide(item, out[1], NOW)
    assert types(answer) == ["StockRejected"]
    state, after = _run(state, answer[0])
    assert state.cancel_reason == "PRICE_MISMATCH" and types(after) == ["OrderCancelled"]
    assert after[0].data["reason"] == "PRICE_MISMATCH"


def test_a_reservation_arriving_after_the_cancel_is_given_back():
    state, out = _run(None, place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _rejected(out[1]))
    state, late = _run(state, _reserved(out[2]))
    assert types(late) == ["ReleaseStock"] and late[0].key == "B"
    assert state.status == "CANCELLED"


def _authorizing() -> tuple[order.OrderState, Message]:
    state, out = _run(None, place_order(lines={"A": 1}))
    state, asked = _run(state, _reserved(out[1]))
    return state, asked[0]


def _authorized(ask: Message, state: order.OrderState) -> Message:
    return reply(
        ask,
        "PaymentAuthorized",
        topics.PAYMENTS_EVENTS.name,
        order_id=state.order_id,
        amount=Decimal("10.50"),
        currency="EUR",
        authorization_id="auth-1",
    )


def test_authorized_payment_confirms_and_schedules_fulfillment():
    state, ask = _authorizing()
    state, out = _run(state, _authorized(ask, state))
    assert state.status == "CONFIRMED"
    assert types(out) == ["OrderConfirmed", "ScheduleFulfillment"]
    assert out[1].topic == topics.FULFILLMENT_COMMANDS.name
    assert out[1].data["shipping_address"]["country"] == "NL"


def _declined(ask: Message, state: order.OrderState) -> Message:
    return reply(
        ask,
        "PaymentDeclined",
        topics.PAYMENTS_EVENTS.name,
        order_id=state.order_id,
        amount=Decimal("10.50"),
        currency="EUR",
        reason="declined",
    )


def test_declined_payment_releases_stock_and_cancels():
    state, ask = _authorizing()
    state, out = _run(state, _declined(ask, state))
    assert state.cancel_reason == "PAYMENT_DECLINED"
    assert types(out) == ["ReleaseStock", "OrderCancelled"]


def test_fulfillment_scheduled_moves_the_status_on():
    state, ask = _authorizing()
    state, out = _run(state, _authorized(ask, state))
    state, nothing = _run(
        state,
        reply(
            out[1],
            "FulfillmentScheduled",
            topics.FULFILLMENT_EVENTS.name,
            order_id=state.order_id,
            warehouse="WH-EU-AMS",
        ),
    )
    assert nothing == [] and state.status == "FULFILLMENT_SCHEDULED"


def test_state_survives_its_json_form():
    state, _ = _run(None, place_order(lines={"A": 1}))
    assert order.OrderState.from_json(order.OrderState.to_json(state)).to_json() == state.to_json()


def test_events_for_an_unknown_order_are_ignored():
    _, out = _run(None, place_order(lines={"A": 1}))
    assert _run(None, _reserved(out[1])) == (None, [])


def _confirmed() -> tuple[order.OrderState, Message]:
    state, ask = _authorizing()
    state, out = _run(state, _authorized(ask, state))
    return state, out[1]


def _fulfillment(cause: Message, event_type: str, state: order.OrderState, **data) -> Message:
    return reply(cause, event_type, topics.FULFILLMENT_EVENTS.name, order_id=state.order_id, **data)


def test_shipped_ships_the_stock_and_delivered_completes_the_order():
    state, schedule = _confirmed()
    state, _ = _run(state, _fulfillment(schedule, "FulfillmentScheduled", state, warehouse="W"))
    state, out = _run(
        state,
        _fulfillment(schedule, "OrderShipped", state, warehouse="W", tracking_id="T", items=[]),
    )
    assert state.status == "SHIPPED" and types(out) == ["ShipStock"] and out[0].key == "A"
    state, out = _run(state, _fulfillment(schedule, "OrderDelivered", state, tracking_id="T"))
    assert state.status == "COMPLETED" and types(out) == ["OrderCompleted"]
    # a late customer cancel changes nothing
    cancel = reply(schedule, "CancelOrder", topics.ORDERS_COMMANDS.name, order_id=state.order_id)
    assert _run(state, cancel) == (state, [])


def _cancel_cmd(state: order.OrderState, cause: Message) -> Message:
    return reply(
        cause, "CancelOrder", topics.ORDERS_COMMANDS.name, order_id=state.order_id, note=None
    )


def test_cancel_while_reserving_releases_and_cancels_at_once():
    msg = place_order(lines={"A": 1, "B": 1})
    state, out = _run(None, msg)
    state, _ = _run(state, _reserved(out[1]))
    state, after = _run(state, _cancel_cmd(state, msg))
    assert types(after) == ["ReleaseStock", "OrderCancelled"]
    assert state.cancel_reason == "CUSTOMER_REQUEST"
    state, late = _run(state, _reserved(out[2]))  # B's reservation arrives afterwards
    assert types(late) == ["ReleaseStock"] and late[0].key == "B"


def test_cancel_while_authorizing_refunds_a_late_authorization():
    state, ask = _authorizing()
    state, after = _run(state, _cancel_cmd(state, ask))
    assert types(after) == ["ReleaseStock", "OrderCancelled"]
    state, late = _run(state, _authorized(ask, state))
    assert types(late) == ["RefundPayment"] and late[0].data["amount"] == Decimal("10.50")
    assert state.refunded


def test_cancel_after_confirmation_asks_the_warehouse_first():
    state, schedule = _confirmed()
    state, asked = _run(state, _cancel_cmd(state, schedule))
    assert types(asked) == ["CancelFulfillment"] and state.stage == order.CANCELLING
    state, out = _run(state, _fulfillment(schedule, "FulfillmentCancelled", state, warehouse="W"))
    assert types(out) == ["ReleaseStock", "RefundPayment", "OrderCancelled"]
    assert state.status == "CANCELLED" and state.cancel_reason == "CUSTOMER_REQUEST"


def test_shipment_wins_the_race_against_a_cancel():
    state, schedule = _confirmed()
    state, _ = _run(state, _cancel_cmd(state, schedule))
    state, out = _run(
        state,
        _fulfillment(schedule, "OrderShipped", state, warehouse="W", tracking_id="T", items=[]),
    )
    assert state.status == "SHIPPED" and types(out) == ["ShipStock"]
    assert state.stage == order.FULFILLING


def test_fraud_decline_cancels_as_fraud_suspected():
    state, ask = _authorizing()
    state, out = _run(
        state,
        reply(
            ask,
            "PaymentDeclined",
            topics.PAYMENTS_EVENTS.name,
            order_id=state.order_id,
            amount=Decimal("10.50"),
            currency="EUR",
            reason="limit",
            code="FRAUD_SUSPECTED",
        ),
    )
    assert state.cancel_reason == "FRAUD_SUSPECTED" and types(out)[-1] == "OrderCancelled"


def _notified(state: order.OrderState | None, msg: Message):
    state, outputs = _decide(state, msg)
    return state, [m.data["template"] for m in outputs if m.type == "NotificationSent"]


def test_notifications_one_per_visible_transition_of_a_completed_order():
    state, schedule = _confirmed()
    sent = []
    for event_type, data in (
        ("FulfillmentScheduled", {"warehouse": "W"}),
        ("OrderShipped", {"warehouse": "W", "tracking_id": "T", "items": []}),
        ("OrderDelivered", {"tracking_id": "T"}),
    ):
        event = _fulfillment(schedule, event_type, state, **data)
        state, templates = _notified(state, event)
        sent += templates
        assert _notified(state, event) == (state, []), f"{event_type} again notified again"
    assert sent == ["FulfillmentScheduled", "OrderShipped", "OrderDelivered", "OrderCompleted"]


def test_notifications_go_to_the_order_address_caused_by_the_transition():
    msg = place_order(lines={"A": 1})
    state, outputs = _decide(None, msg)
    placed, notice = outputs[0], outputs[-1]
    assert notice.type == "NotificationSent" and notice.topic == topics.NOTIFICATIONS_EVENTS.name
    assert notice.data["recipient"] == "alice@example.com"
    assert notice.data["template"] == "OrderPlaced"
    assert notice.envelope.causation_id == placed.envelope.event_id
    assert notice.key == msg.key
    # confirmed, then cancelled by a decline: one each
    state, ask = _authorizing()
    declined = _declined(ask, state)
    state, templates = _notified(state, declined)
    assert templates == ["OrderCancelled"]
    assert _notified(state, declined) == (state, [])
