"""The order saga as pure decisions: every transition and compensation, no Kafka."""

from __future__ import annotations

import json
from decimal import Decimal

from schemas import topics
from schemas.codec import Codec
from schemas.events import Message, command
from streams.domain import inventory, order
from tests.factories import NOW, MemoryRegistry, customer_checked, place_order, reply, types

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


def _placed(msg: Message, **answer) -> tuple[order.OrderState, list[Message]]:
    """PlaceOrder, then the customer worker's answer (a guest by default): the state and the
    order's announcement followed by what the answer sent (the reservations, in line order)."""
    state, out = _run(None, msg)
    state, after = _run(state, customer_checked(out[1], **answer))
    return state, [out[0], *after]


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


def test_place_order_announces_it_and_asks_the_customer_worker_first():
    msg = place_order(lines={"A": 1, "B": 3})
    state, out = _run(None, msg)
    assert state is not None and state.status == "PENDING" and state.stage == order.CHECKING
    assert types(out) == ["OrderPlaced", "CheckCustomer"]
    placed, check = out
    assert placed.topic == topics.ORDERS_EVENTS.name and placed.key == msg.key
    assert placed.data["total_amount"] == Decimal("42.00")
    # keyed by customer: the worker owning the customer answers
    assert check.topic == topics.CUSTOMERS_COMMANDS.name and check.key == "alice"
    assert check.data == {"customer_id": "alice", "order_id": msg.key}
    # lineage: same correlation, caused by the command
    assert {m.envelope.correlation_id for m in out} == {"corr-1"}
    assert {m.envelope.causation_id for m in out} == {msg.envelope.event_id}


def test_the_answer_reserves_each_line_by_sku():
    msg = place_order(lines={"A": 1, "B": 3})
    state, out = _placed(msg)
    assert state.stage == order.RESERVING and types(out[1:]) == ["ReserveStock", "ReserveStock"]
    reserves = out[1:]
    assert [(r.key, r.data["quantity"]) for r in reserves] == [("A", 1), ("B", 3)]
    assert all(r.topic == topics.INVENTORY_COMMANDS.name for r in reserves)
    assert {m.envelope.correlation_id for m in reserves} == {"corr-1"}


def test_a_deactivated_customers_order_is_cancelled_before_anything_is_reserved():
    state, out = _run(None, place_order(lines={"A": 1, "B": 3}))
    answer = customer_checked(out[1], registered=True, active=False, email="a@x.org", email_as_of=5)
    state, after = _decide(state, answer)
    assert state.status == "CANCELLED" and state.cancel_reason == "CUSTOMER_INACTIVE"
    assert state.reserved == () and state.stage == order.ENDED
    sent = [m for m in after if m.type != "NotificationSent"]
    assert types(sent) == ["OrderCancelled"]  # nothing to release, nothing to refund
    assert sent[0].data["reason"] == "CUSTOMER_INACTIVE"
    assert sent[0].data["detail"] == "customer alice is deactivated"
    notices = [(m.data["template"], m.data["recipient"]) for m in after if m not in sent]
    assert notices == [("OrderPlaced", "a@x.org"), ("OrderCancelled", "a@x.org")]
    # a redelivered or later answer changes nothing
    assert _decide(state, answer) == (state, [])


def test_a_guest_checkout_goes_on_with_the_orders_own_address():
    state, out = _run(None, place_order(lines={"A": 1}))
    state, after = _decide(state, customer_checked(out[1]))
    assert state.stage == order.RESERVING and not state.customer_registered
    notices = [
        (m.data["template"], m.data["recipient"]) for m in after if m.type == "NotificationSent"
    ]
    assert notices == [("OrderPlaced", "alice@example.com")]
    # an answer for the same customer_id registered later does not move a guest's address
    later = customer_checked(out[1], registered=True, email="new@x.org", email_as_of=9)
    assert _decide(state, later) == (state, [])


def test_a_registered_customers_notifications_follow_the_newest_email_of_record():
    state, out = _run(None, place_order(lines={"A": 1}))
    check = out[1]
    state, after = _decide(
        state, customer_checked(check, registered=True, email="a@x.org", email_as_of=5)
    )
    assert [m.data["recipient"] for m in after if m.type == "NotificationSent"] == ["a@x.org"]
    changed = reply(
        check,
        "CustomerChecked",
        topics.CUSTOMERS_CHECKS.name,
        order_id=state.order_id,
        customer_id="alice",
        registered=True,
        active=True,
        email="b@x.org",
        email_as_of=7,
    )
    state, nothing = _decide(state, changed)
    assert nothing == [] and state.recipient == "b@x.org" and state.stage == order.RESERVING
    # an older answer arriving late does not undo it
    state, _ = _decide(
        state, customer_checked(check, registered=True, email="old@x.org", email_as_of=6)
    )
    assert state.recipient == "b@x.org"
    for cmd in [m for m in after if m.type == "ReserveStock"]:
        state, outputs = _decide(state, _reserved(cmd))
    assert [m.type for m in outputs] == ["AuthorizePayment"]
    state, out = _decide(state, _declined(outputs[0], state))
    assert [m.data["recipient"] for m in out if m.type == "NotificationSent"] == ["b@x.org"]


def test_a_cancel_while_checking_waits_for_the_answer_which_says_who_to_tell():
    msg = place_order(lines={"A": 1})
    state, out = _run(None, msg)
    cancel = _cancel_cmd(state, msg)
    state, nothing = _decide(state, cancel)
    assert nothing == [] and state.stage == order.CHECKING
    assert state.cancel_pending == (cancel.envelope.event_id,)
    assert _decide(state, cancel) == (state, [])  # redelivered: once
    # the answer: a registered customer, even a deactivated one; the customer's cancel ends it
    answer = customer_checked(out[1], registered=True, active=False, email="a@x.org", email_as_of=5)
    state, after = _decide(state, answer)
    assert state.cancel_reason == "CUSTOMER_REQUEST" and state.reserved == ()
    assert state.cancelled_by == (cancel.envelope.event_id,) and state.cancel_pending == ()
    assert types(after) == ["OrderCancelled", "NotificationSent", "NotificationSent"]
    notices = [(m.data["template"], m.data["recipient"]) for m in after[1:]]
    assert notices == [("OrderPlaced", "a@x.org"), ("OrderCancelled", "a@x.org")]
    assert _decide(state, answer) == (state, [])  # the answer again changes nothing
    assert _decide(state, cancel) == (state, [])  # nor the cancel (it ended the order)


def test_a_redelivered_place_order_while_checking_repeats_its_outputs():
    msg = place_order(lines={"A": 1})
    state, out = _run(None, msg)
    assert _run(state, msg) == (state, out)
    state, _ = _placed(msg)
    assert _run(state, msg) == (state, [])  # acted on long since


def test_each_reserve_stock_carries_the_lines_price_and_the_orders_currency():
    _, out = _placed(place_order(lines={"A": 1, "B": 3}))
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
    state, out = _placed(place_order(lines={"A": 1, "B": 2}))
    state, first = _run(state, _reserved(out[1]))
    assert first == [] and state.stage == order.RESERVING
    state, second = _run(state, _reserved(out[2]))
    assert types(second) == ["AuthorizePayment"]
    assert second[0].data["amount"] == Decimal("31.50")
    assert second[0].topic == topics.PAYMENTS_COMMANDS.name


def test_a_redelivered_reservation_reserves_nothing_twice():
    state, out = _placed(place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _reserved(out[1]))
    state2, again = _run(state, _reserved(out[1]))
    assert again == [] and state2.reserved == ("A",)


def test_rejection_releases_what_was_reserved_and_cancels_out_of_stock():
    state, out = _placed(place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _reserved(out[1]))
    state, after = _run(state, _rejected(out[2]))
    assert state.status == "CANCELLED" and state.cancel_reason == "OUT_OF_STOCK"
    assert types(after) == ["ReleaseStock", "OrderCancelled"]
    assert after[0].key == "A" and after[0].data["quantity"] == 1
    assert after[1].data["reason"] == "OUT_OF_STOCK"


def test_unknown_sku_cancels_with_unknown_sku():
    state, out = _placed(place_order(lines={"NOPE": 1}))
    state, after = _run(state, _rejected(out[1], reason="UNKNOWN_SKU"))
    assert types(after) == ["OrderCancelled"] and state.cancel_reason == "UNKNOWN_SKU"


def test_a_price_mismatch_releases_what_was_reserved_and_cancels_as_such():
    state, out = _placed(place_order(lines={"A": 1, "B": 2}))
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
    item, _, _ = inventory.decide(None, None, stocked, NOW)
    state, out = _placed(place_order(lines={"A": 1}))
    item, _, answer = inventory.decide(item, None, out[1], NOW)
    assert types(answer) == ["StockRejected"]
    state, after = _run(state, answer[0])
    assert state.cancel_reason == "PRICE_MISMATCH" and types(after) == ["OrderCancelled"]
    assert after[0].data["reason"] == "PRICE_MISMATCH"


def test_a_reservation_arriving_after_the_cancel_is_given_back():
    state, out = _placed(place_order(lines={"A": 1, "B": 2}))
    state, _ = _run(state, _rejected(out[1]))
    state, late = _run(state, _reserved(out[2]))
    assert types(late) == ["ReleaseStock"] and late[0].key == "B"
    assert state.status == "CANCELLED"


def _authorizing() -> tuple[order.OrderState, Message]:
    state, out = _placed(place_order(lines={"A": 1}))
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
    state, _ = _placed(place_order(lines={"A": 1}))
    assert order.OrderState.from_json(order.OrderState.to_json(state)).to_json() == state.to_json()


def test_events_for_an_unknown_order_are_ignored():
    _, out = _placed(place_order(lines={"A": 1}))
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
    # a late customer cancel sends nothing and is refused as too late
    cancel = reply(schedule, "CancelOrder", topics.ORDERS_COMMANDS.name, order_id=state.order_id)
    after, out = _run(state, cancel)
    assert out == [] and after.status == "COMPLETED"
    assert dict(after.cancel_refused) == {cancel.envelope.event_id: "TOO_LATE"}


def _cancel_cmd(state: order.OrderState, cause: Message) -> Message:
    return reply(
        cause, "CancelOrder", topics.ORDERS_COMMANDS.name, order_id=state.order_id, note=None
    )


def test_cancel_while_reserving_releases_and_cancels_at_once():
    msg = place_order(lines={"A": 1, "B": 1})
    state, out = _placed(msg)
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
    state, placed = _decide(None, msg)
    assert "NotificationSent" not in types(placed)  # not before the check said to whom
    answer = customer_checked(placed[1])
    state, outputs = _decide(state, answer)
    notice = outputs[-1]
    assert notice.type == "NotificationSent" and notice.topic == topics.NOTIFICATIONS_EVENTS.name
    assert notice.data["recipient"] == "alice@example.com"
    assert notice.data["template"] == "OrderPlaced"
    assert notice.envelope.causation_id == answer.envelope.event_id
    assert notice.key == msg.key
    # confirmed, then cancelled by a decline: one each
    state, ask = _authorizing()
    declined = _declined(ask, state)
    state, templates = _notified(state, declined)
    assert templates == ["OrderCancelled"]
    assert _notified(state, declined) == (state, [])


# --- cancels the saga does not honour --------------------------------------------------------


def _cancel(state: order.OrderState) -> Message:
    """A customer's CancelOrder with an event id of its own (each POST /orders/{id}/cancel)."""
    return command(
        "CancelOrder",
        topics.ORDERS_COMMANDS.name,
        state.order_id,
        {"order_id": state.order_id, "note": None},
        "corr-1",
        "test",
    )


def _refused_silently(state: order.OrderState, cancel: Message) -> order.OrderState:
    """`cancel` is refused: the order is as it was, nothing is sent (no notice either)."""
    after, outputs = _decide(state, cancel)
    assert outputs == [] and after is not None
    assert (after.status, after.stage, after.cancel_reason) == (
        state.status,
        state.stage,
        state.cancel_reason,
    )
    return after


def _shipped(state: order.OrderState, cause: Message) -> order.OrderState:
    state, _ = _run(
        state,
        _fulfillment(cause, "OrderShipped", state, warehouse="W", tracking_id="T", items=[]),
    )
    return state


def test_a_cancel_after_shipment_delivery_or_completion_is_too_late():
    state, schedule = _confirmed()
    state = _shipped(state, schedule)
    for _ in range(2):  # shipped, then delivered (which completes the order)
        cancel = _cancel(state)
        after = _refused_silently(state, cancel)
        assert after.cancel_refused[cancel.envelope.event_id] == "TOO_LATE"
        state, _ = _run(after, _fulfillment(schedule, "OrderDelivered", state, tracking_id="T"))
    assert state.status == "COMPLETED" and len(state.cancel_refused) == 2


def test_a_cancel_of_an_order_cancelled_for_another_reason_is_already_cancelled():
    state, out = _placed(place_order(lines={"A": 1}))
    state, _ = _run(state, _rejected(out[1]))
    assert state.cancel_reason == "OUT_OF_STOCK"
    cancel = _cancel(state)
    after = _refused_silently(state, cancel)
    assert dict(after.cancel_refused) == {cancel.envelope.event_id: "ALREADY_CANCELLED"}
    # redelivered, it stays refused once
    assert _decide(after, cancel) == (after, [])


def test_a_second_cancel_of_an_order_the_customer_cancelled_is_refused_the_first_stands():
    state, _ask = _authorizing()
    first = _cancel(state)
    state, _ = _run(state, first)
    assert state.cancel_reason == "CUSTOMER_REQUEST"
    assert state.cancelled_by == (first.envelope.event_id,)
    assert _decide(state, first) == (state, [])  # the same cancel redelivered: still honoured
    second = _cancel(state)
    refused, sent = _decide(state, second)
    assert sent == [] and refused.cancel_refused == {second.envelope.event_id: "ALREADY_CANCELLED"}
    assert refused.cancelled_by == (first.envelope.event_id,)


def test_a_cancel_while_another_is_in_progress_is_no_refusal_and_shares_its_outcome():
    state, schedule = _confirmed()
    first = _cancel(state)
    state, asked = _run(state, first)
    assert types(asked) == ["CancelFulfillment"] and state.cancel_pending == (
        first.envelope.event_id,
    )
    second = _cancel(state)
    state, nothing = _run(state, second)
    assert nothing == [] and state.stage == order.CANCELLING and state.cancel_refused == {}
    assert state.cancel_pending == (first.envelope.event_id, second.envelope.event_id)
    assert _run(state, second) == (state, [])  # redelivered: no second entry
    state, out = _run(state, _fulfillment(schedule, "FulfillmentCancelled", state, warehouse="W"))
    assert state.cancel_reason == "CUSTOMER_REQUEST" and types(out)[-1] == "OrderCancelled"
    assert state.cancel_pending == () and state.cancel_refused == {}
    assert state.cancelled_by == (first.envelope.event_id, second.envelope.event_id)


def test_a_cancel_of_an_unknown_order_is_ignored():
    unknown = order.OrderState(order_id="o-x", placed={}, correlation_id="c", placed_event_id="e")
    assert _decide(None, _cancel(unknown)) == (None, [])


def test_a_pending_cancel_that_loses_to_the_shipment_is_refused_too_late():
    state, schedule = _confirmed()
    cancel = _cancel(state)
    state, _ = _run(state, cancel)
    assert state.stage == order.CANCELLING
    state = _shipped(state, schedule)
    assert state.status == "SHIPPED" and state.stage == order.FULFILLING
    assert dict(state.cancel_refused) == {cancel.envelope.event_id: "TOO_LATE"}
    assert state.cancel_pending == ()
    # and the warehouse's late "could not stop it" changes nothing
    late = _fulfillment(schedule, "FulfillmentCancelled", state, warehouse="W")
    assert _run(state, late) == (state, [])


def test_refusals_are_remembered_for_the_last_few_cancels_and_survive_the_table():
    state, schedule = _confirmed()
    state = _shipped(state, schedule)
    cancels = [_cancel(state) for _ in range(order.CANCEL_MEMORY + 2)]
    for cancel in cancels:
        state, _ = _decide(state, cancel)
    assert list(state.cancel_refused) == [
        c.envelope.event_id for c in cancels[-order.CANCEL_MEMORY :]
    ]
    assert order.OrderState.from_json(json.loads(json.dumps(state.to_json()))) == state


def test_states_stored_before_cancel_refusals_load_without_them():
    state, _ = _placed(place_order(lines={"A": 1}))
    stored = state.to_json()
    del stored["cancel_refused"], stored["cancel_pending"]
    loaded = order.OrderState.from_json(stored)
    assert loaded.cancel_refused == {} and loaded.cancel_pending == ()


# --- the order worker's page -------------------------------------------------------------------


def test_the_order_page_shows_the_sagas_view_and_its_cancel_refusals():
    state, schedule = _confirmed()
    state = _shipped(state, schedule)
    cancel = _cancel(state)
    state, _ = _decide(state, cancel)
    status, body = order.order_page(state, state.order_id)
    assert status == 200 and body == {
        "order_id": state.order_id,
        "status": "SHIPPED",
        "stage": "FULFILLING",
        "cancel_reason": None,
        "cancel_refused": {cancel.envelope.event_id: "TOO_LATE"},
        "cancelled_by": [],
        "correlation_id": "corr-1",
    }
    json.dumps(body)  # as the page sends it


def test_the_order_page_of_an_order_the_saga_does_not_know_is_a_404():
    assert order.order_page(None, "o-x") == (404, {"detail": "unknown order 'o-x'"})
