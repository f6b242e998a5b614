"""Inventory, payment and fulfillment decisions."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from schemas import topics
from schemas.codec import Codec
from schemas.events import command
from streams.domain import fulfillment, inventory, notification, payment
from tests.factories import NOW, MemoryRegistry, types


def _cmd(event_type: str, key: str, **data):
    topic = {
        "AuthorizePayment": topics.PAYMENTS_COMMANDS,
        "ScheduleFulfillment": topics.FULFILLMENT_COMMANDS,
    }.get(event_type, topics.INVENTORY_COMMANDS)
    return command(event_type, topic.name, key, data, "corr", "test")


def _stock(on_hand: int) -> inventory.StockItem:
    """SKU A stocked and priced (a SKU without a price is not for sale)."""
    adjust = _cmd(
        "AdjustStock",
        "A",
        sku="A",
        set_on_hand=on_hand,
        delta=None,
        unit_price=Decimal("2.50"),
        currency="EUR",
    )
    item, _ = inventory.decide(None, adjust, NOW)
    assert item is not None
    return item


def _reserve(order_id: str, quantity: int):
    return _cmd("ReserveStock", "A", order_id=order_id, sku="A", quantity=quantity)


def test_set_stock_creates_the_sku_and_reports_its_level():
    item, out = inventory.decide(
        None, _cmd("AdjustStock", "A", sku="A", set_on_hand=5, delta=None), NOW
    )
    assert item is not None and item.view() == {
        "sku": "A",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "unit_price": None,
        "currency": None,
    }
    assert types(out) == ["StockLevelChanged"] and out[0].topic == topics.INVENTORY_LEVELS.name


def test_delta_adds_to_on_hand():
    item, _ = inventory.decide(
        _stock(5), _cmd("AdjustStock", "A", sku="A", set_on_hand=None, delta=-2), NOW
    )
    assert item is not None and item.on_hand == 3


def test_stock_cannot_be_set_below_what_is_reserved():
    item, _ = inventory.decide(_stock(5), _reserve("o1", 4), NOW)
    assert item is not None
    adjust = _cmd("AdjustStock", "A", sku="A", set_on_hand=3, delta=None)
    after, out = inventory.decide(item, adjust, NOW)
    assert out == [] and after is not None and after.view() == item.view()
    assert dict(after.refused_adjustments) == {
        adjust.envelope.event_id: "on_hand would be 3, below the 4 units reserved"
    }


def test_reserve_holds_units_and_answers_on_the_order_key():
    item, out = inventory.decide(_stock(5), _reserve("o1", 2), NOW)
    assert item is not None and (item.reserved, item.available) == (2, 3)
    assert types(out) == ["StockReserved", "StockLevelChanged"]
    assert out[0].key == "o1" and out[0].topic == topics.INVENTORY_EVENTS.name


def test_reservation_never_drives_available_below_zero():
    item, out = inventory.decide(_stock(1), _reserve("o1", 2), NOW)
    assert item is not None and item.reserved == 0
    assert types(out) == ["StockRejected"]
    assert out[0].data["reason"] == "OUT_OF_STOCK" and out[0].data["available"] == 1


def test_unknown_sku_is_rejected_as_such():
    item, out = inventory.decide(None, _reserve("o1", 1), NOW)
    assert item is None and out[0].data["reason"] == "UNKNOWN_SKU"


def test_reserve_is_idempotent_per_order_and_sku():
    item, _ = inventory.decide(_stock(5), _reserve("o1", 2), NOW)
    again, out = inventory.decide(item, _reserve("o1", 2), NOW)
    assert again == item and types(out) == ["StockReserved"]


def test_release_gives_units_back_once():
    item, _ = inventory.decide(_stock(5), _reserve("o1", 2), NOW)
    release = _cmd("ReleaseStock", "A", order_id="o1", sku="A", quantity=2)
    item, out = inventory.decide(item, release, NOW)
    assert (
        item is not None
        and item.reserved == 0
        and types(out) == ["StockReleased", "StockLevelChanged"]
    )
    again, nothing = inventory.decide(item, release, NOW)
    assert again == item and nothing == []
    # and a late duplicate ReserveStock for that order does not hold units again
    late, silent = inventory.decide(item, _reserve("o1", 2), NOW)
    assert late == item and silent == []


def _at(message, occurred_at: int):
    return dataclasses.replace(
        message, envelope=dataclasses.replace(message.envelope, occurred_at=occurred_at)
    )


def test_settled_holds_are_forgotten_after_their_memory_of_event_time():
    memory = inventory.SETTLED_MEMORY_MS
    item = _stock(100)
    for n, order_id in enumerate(["o1", "o2"]):
        item, _ = inventory.decide(item, _reserve(order_id, 1), NOW)
        release = _cmd("ReleaseStock", "A", order_id=order_id, sku="A", quantity=1)
        item, _ = inventory.decide(item, _at(release, NOW + n * memory), NOW)
    assert item is not None and dict(item.released) == {"o1": NOW, "o2": NOW + memory}
    item, _ = inventory.decide(item, _reserve("o3", 1), NOW)
    ship = _cmd("ShipStock", "A", order_id="o3", sku="A", quantity=1)
    item, _ = inventory.decide(item, _at(ship, NOW + memory), NOW)
    release = _cmd("ReleaseStock", "A", order_id="o4", sku="A", quantity=1)
    item, _ = inventory.decide(item, _reserve("o4", 1), NOW)
    item, _ = inventory.decide(item, _at(release, NOW + memory + 1), NOW)
    # o1 was released longer than the memory (in event time) before o4: forgotten; the rest kept
    assert item is not None and set(item.released) == {"o2", "o4"}
    assert dict(item.shipped_orders) == {"o3": NOW + memory}
    # within the memory a late ReserveStock of a released order still holds nothing
    late, silent = inventory.decide(item, _reserve("o2", 1), NOW)
    assert late == item and silent == []


def test_stock_items_stored_before_settled_holds_were_dated_still_load():
    stored = {"sku": "A", "on_hand": 3, "holds": {"o9": 1}, "released": ["o1"]}
    item = inventory.StockItem.from_json(stored | {"shipped_orders": ["o2"], "shipped": 1})
    assert (dict(item.released), dict(item.shipped_orders)) == ({"o1": 0}, {"o2": 0})
    assert inventory.StockItem.from_json(item.to_json()) == item


def _authorize(scenario: str, order_id: str = "o1"):
    return _cmd(
        "AuthorizePayment",
        order_id,
        order_id=order_id,
        customer_id="c",
        amount=Decimal("10.00"),
        currency="EUR",
        method="card",
        scenario=scenario,
    )


def _gateway(scenario: str) -> payment.Verdict:
    """The retry policy as the agent runs it, without the sleeping."""
    answers: list[str] = []
    while True:
        answers.append(payment.gateway_call(scenario, len(answers) + 1))
        if answers[-1] != payment.TRANSIENT or len(answers) >= payment.MAX_ATTEMPTS:
            return payment.verdict_after(answers)


def test_payment_approve_decline_and_bounded_retries():
    _state, out = payment.authorize(None, _authorize("approve"), NOW, _gateway("approve"))
    assert types(out) == ["PaymentAuthorized"] and out[0].data["authorization_id"]
    _, out = payment.authorize(None, _authorize("decline"), NOW, _gateway("decline"))
    assert types(out) == ["PaymentDeclined"] and out[0].data["code"] == "DECLINED"
    _, out = payment.authorize(None, _authorize("error"), NOW, _gateway("error"))
    assert out[0].data["code"] == "GATEWAY_ERROR"
    assert out[0].data["attempts"] == payment.MAX_ATTEMPTS


def test_backoff_doubles():
    assert [payment.backoff_s(n, 0.1) for n in (1, 2, 3)] == [0.1, 0.2, 0.4]


def test_payment_decision_is_remembered_so_nothing_is_authorized_twice():
    state, _first = payment.authorize(None, _authorize("approve"), NOW, _gateway("approve"))
    same, second = payment.authorize(state, _authorize("decline"), NOW, _gateway("decline"))
    assert same == state and second == []


def test_fraud_rule_over_the_spend_window():
    assert not payment.fraud_suspected(Decimal("90"), Decimal("10"), Decimal("100"))
    assert payment.fraud_suspected(Decimal("90.01"), Decimal("10"), Decimal("100"))
    _, out = payment.authorize(None, _authorize("approve"), NOW, payment.FRAUD)
    assert out[0].data["code"] == "FRAUD_SUSPECTED"


def test_refund_only_what_was_authorized_and_only_once():
    state, _ = payment.authorize(None, _authorize("approve"), NOW, _gateway("approve"))
    refund = _cmd(
        "RefundPayment",
        "o1",
        order_id="o1",
        customer_id="c",
        amount=Decimal("10.00"),
        currency="EUR",
    )
    state, out = payment.refund(state, refund, NOW)
    assert types(out) == ["PaymentRefunded"] and state is not None and state.refunded
    assert payment.refund(state, refund, NOW) == (state, [])
    declined, _ = payment.authorize(None, _authorize("decline", "o2"), NOW, _gateway("decline"))
    assert payment.refund(declined, refund, NOW)[1] == []


DELAYS = fulfillment.CarrierDelays(ship_ms=100, deliver_ms=200)


def _schedule(country: str = "US"):
    return _cmd(
        "ScheduleFulfillment", "o1", order_id="o1", shipping_address={"country": country}, items=[]
    )


def test_fulfillment_picks_the_warehouse_by_country():
    state, out = fulfillment.decide(None, _schedule(), NOW, DELAYS)
    assert state is not None and state.warehouse == "WH-US-NJ"
    assert out[0].data["warehouse"] == "WH-US-NJ"
    assert fulfillment.warehouse_for("zz") == fulfillment.DEFAULT_WAREHOUSE


def test_the_carrier_ships_then_delivers_when_due():
    line = {"sku": "A", "quantity": 1, "unit_price": Decimal("2.50")}
    schedule = _cmd(
        "ScheduleFulfillment", "o1", order_id="o1", shipping_address={"country": "US"}, items=[line]
    )
    state, _ = fulfillment.decide(None, schedule, NOW, DELAYS)
    assert state is not None
    state = fulfillment.Shipment.from_json(json.loads(json.dumps(state.to_json())))
    assert fulfillment.due_tick(state, NOW + 99) is None
    tick = fulfillment.due_tick(state, NOW + 100)
    assert tick is not None and tick.type == "AdvanceShipment"
    assert fulfillment.due_tick(state, NOW + 150).envelope.event_id == tick.envelope.event_id
    state, out = fulfillment.decide(state, tick, NOW + 100, DELAYS)
    assert types(out) == ["OrderShipped"] and state is not None and state.stage == "SHIPPED"
    Codec(MemoryRegistry()).encode(out[0])  # type: ignore[arg-type]  # items encode as decimals
    again, nothing = fulfillment.decide(state, tick, NOW + 101, DELAYS)  # a duplicate tick
    assert nothing == [] and again == state
    tick = fulfillment.due_tick(state, NOW + 300)
    assert tick is not None
    state, out = fulfillment.decide(state, tick, NOW + 300, DELAYS)
    assert types(out) == ["OrderDelivered"] and fulfillment.due_tick(state, NOW + 999) is None


def test_cancel_stops_a_shipment_only_before_it_left():
    state, _ = fulfillment.decide(None, _schedule(), NOW, DELAYS)
    cancel = _cmd("CancelFulfillment", "o1", order_id="o1")
    stopped, out = fulfillment.decide(state, cancel, NOW, DELAYS)
    assert types(out) == ["FulfillmentCancelled"] and stopped is not None
    assert fulfillment.due_tick(stopped, NOW + 10_000) is None
    tick = fulfillment.due_tick(state, NOW + 100)  # type: ignore[arg-type]
    shipped, _ = fulfillment.decide(state, tick, NOW + 100, DELAYS)
    assert fulfillment.decide(shipped, cancel, NOW + 101, DELAYS)[1] == []


def test_a_notice_per_customer_visible_transition_only():
    placed = _cmd("OrderPlaced", "o1", order_id="o1", customer_email="a@b.c")
    released = _cmd("StockReleased", "o1", order_id="o1")
    notice = notification.notice(placed, "OrderPlaced", "a@b.c", NOW)
    assert notice is not None and notice.type == "NotificationSent"
    assert notice.data["recipient"] == "a@b.c"
    assert notice.data["template"] == "OrderPlaced" and notice.key == "o1"
    assert notification.notice(released, "StockReleased", "a@b.c", NOW) is None
    assert notification.notice(placed, "OrderPlaced", "a@b.c", NOW) == notice  # same id
    # another cause (the check that said to whom), another event id, the same template
    other = notification.notice(released, "OrderPlaced", "a@b.c", NOW)
    assert other is not None and other.envelope.event_id != notice.envelope.event_id
