"""Inventory, payment and fulfillment decisions."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal

from schemas import topics
from schemas.codec import Codec
from schemas.events import command
from streams import retirement
from streams.domain import fulfillment, inventory, notification, payment
from tests.factories import NOW, MemoryRegistry, types


def _cmd(event_type: str, key: str, **data):
    topic = {
        "AuthorizePayment": topics.PAYMENTS_COMMANDS,
        "ScheduleFulfillment": topics.FULFILLMENT_COMMANDS,
    }.get(event_type, topics.INVENTORY_COMMANDS)
    return command(event_type, topic.name, key, data, "corr", "test")


class Shelf:
    """SKU A as the inventory agent keeps it: its item, and each order's hold under a key of
    its own (the shell's side records), both through their JSON form."""

    def __init__(self, on_hand: int | None = None) -> None:
        self.item: inventory.StockItem | None = None
        self.holds: dict[str, dict] = {}
        if on_hand is not None:
            adjust = _cmd(
                "AdjustStock",
                "A",
                sku="A",
                set_on_hand=on_hand,
                delta=None,
                unit_price=Decimal("2.50"),
                currency="EUR",
            )
            self.decide(adjust)

    def decide(self, msg) -> list:
        key = inventory.hold_of(msg)
        stored = self.holds.get(key) if key else None
        hold = inventory.Hold.from_json(stored) if stored is not None else None
        item = self.item
        if item is not None:
            item = inventory.StockItem.from_json(json.loads(json.dumps(item.to_json())))
        self.item, hold, out = inventory.decide(item, hold, msg, NOW)
        if key is not None and hold is not None:
            self.holds[key] = hold.to_json()
        return out


def _reserve(order_id: str, quantity: int):
    return _cmd("ReserveStock", "A", order_id=order_id, sku="A", quantity=quantity)


def _release(order_id: str, quantity: int = 2):
    return _cmd("ReleaseStock", "A", order_id=order_id, sku="A", quantity=quantity)


def test_set_stock_creates_the_sku_and_reports_its_level():
    shelf = Shelf()
    out = shelf.decide(_cmd("AdjustStock", "A", sku="A", set_on_hand=5, delta=None))
    assert shelf.item is not None and shelf.item.view() == {
        "sku": "A",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "unit_price": None,
        "currency": None,
    }
    assert types(out) == ["StockLevelChanged"] and out[0].topic == topics.INVENTORY_LEVELS.name


def test_delta_adds_to_on_hand():
    shelf = Shelf(5)
    shelf.decide(_cmd("AdjustStock", "A", sku="A", set_on_hand=None, delta=-2))
    assert shelf.item is not None and shelf.item.on_hand == 3


def test_stock_cannot_be_set_below_what_is_reserved():
    shelf = Shelf(5)
    shelf.decide(_reserve("o1", 4))
    before = shelf.item
    assert before is not None
    adjust = _cmd("AdjustStock", "A", sku="A", set_on_hand=3, delta=None)
    assert shelf.decide(adjust) == []
    assert shelf.item is not None and shelf.item.view() == before.view()
    assert dict(shelf.item.refused_adjustments) == {
        adjust.envelope.event_id: "on_hand would be 3, below the 4 units reserved"
    }


def test_reserve_holds_units_under_the_orders_own_key_and_answers_on_the_order_key():
    shelf = Shelf(5)
    out = shelf.decide(_reserve("o1", 2))
    assert shelf.item is not None and (shelf.item.reserved, shelf.item.available) == (2, 3)
    assert shelf.holds == {"A/o1": {"units": 2, "status": "HELD", "ended_at": None}}
    assert "o1" not in json.dumps(shelf.item.to_json())  # the SKU's own item names no order
    assert types(out) == ["StockReserved", "StockLevelChanged"]
    assert out[0].key == "o1" and out[0].topic == topics.INVENTORY_EVENTS.name


def test_a_skus_item_is_the_same_size_however_many_orders_hold_it():
    few, many = Shelf(10_000), Shelf(10_000)
    for n in range(3):
        few.decide(_reserve(f"o{n}", 1))
    for n in range(3000):
        many.decide(_reserve(f"o{n}", 1))
        if n % 2:
            many.decide(_release(f"o{n}", 1))
    assert few.item is not None and many.item is not None and many.item.reserved == 1500
    size = len(json.dumps(few.item.to_json()))
    assert len(json.dumps(many.item.to_json())) <= size + 3  # "reserved": 3 -> 1500
    assert len(many.holds) == 3000


def test_reservation_never_drives_available_below_zero():
    shelf = Shelf(1)
    out = shelf.decide(_reserve("o1", 2))
    assert shelf.item is not None and shelf.item.reserved == 0 and shelf.holds == {}
    assert types(out) == ["StockRejected"]
    assert out[0].data["reason"] == "OUT_OF_STOCK" and out[0].data["available"] == 1


def test_unknown_sku_is_rejected_as_such():
    shelf = Shelf()
    out = shelf.decide(_reserve("o1", 1))
    assert shelf.item is None and out[0].data["reason"] == "UNKNOWN_SKU"


def test_reserve_is_idempotent_per_order_and_sku():
    shelf = Shelf(5)
    shelf.decide(_reserve("o1", 2))
    item = shelf.item
    assert types(shelf.decide(_reserve("o1", 2))) == ["StockReserved"]
    assert shelf.item == item


def test_release_gives_units_back_once():
    shelf = Shelf(5)
    shelf.decide(_reserve("o1", 2))
    out = shelf.decide(_release("o1"))
    assert shelf.item is not None and shelf.item.reserved == 0
    assert types(out) == ["StockReleased", "StockLevelChanged"]
    item = shelf.item
    assert shelf.decide(_release("o1")) == [] and shelf.item == item
    # and a late duplicate ReserveStock for that order does not hold units again
    assert shelf.decide(_reserve("o1", 2)) == [] and shelf.item == item


def test_ship_takes_the_held_units_out_once():
    shelf = Shelf(5)
    shelf.decide(_reserve("o1", 2))
    ship = _at(_cmd("ShipStock", "A", order_id="o1", sku="A", quantity=2), NOW)
    assert types(shelf.decide(ship)) == ["StockShipped", "StockLevelChanged"]
    assert shelf.item is not None
    assert (shelf.item.on_hand, shelf.item.reserved, shelf.item.shipped) == (3, 0, 2)
    assert shelf.holds["A/o1"] == {"units": 2, "status": "SHIPPED", "ended_at": NOW}
    assert shelf.decide(ship) == [] and shelf.decide(_release("o1")) == []


def test_a_settled_hold_is_retired_after_its_memory_of_event_time():
    shelf = Shelf(5)
    shelf.decide(_reserve("o1", 1))
    shelf.decide(_at(_release("o1", 1), NOW))  # settled at the event time of its release
    memory = inventory.SETTLED_MEMORY_MS
    settled, held = shelf.holds["A/o1"], {"units": 1, "status": "HELD", "ended_at": None}
    assert inventory.hold_ended(settled) and not inventory.hold_ended(held)
    assert shelf.item is not None and not inventory.hold_ended(shelf.item.to_json())
    assert retirement.verdict(settled, inventory.hold_ended, NOW + memory - 1, memory) == "keep"
    assert retirement.verdict(settled, inventory.hold_ended, NOW + memory, memory) == "retire"


def test_the_event_clock_stands_still_while_nothing_is_decided():
    clock = retirement.EventClock()
    assert clock() is None
    clock.saw(_at(_reserve("o1", 1), NOW + 5))
    clock.saw(_at(_reserve("o2", 1), NOW))  # a record read again: time does not go back
    assert clock() == NOW + 5


def _at(message, occurred_at: int):
    return dataclasses.replace(
        message, envelope=dataclasses.replace(message.envelope, occurred_at=occurred_at)
    )


def test_an_item_stored_before_holds_had_keys_hands_its_holds_over_one_by_one():
    memory = inventory.SETTLED_MEMORY_MS
    stored = {"sku": "A", "on_hand": 9, "holds": {"o9": 2, "o8": 1}, "released": ["o1"]}
    stored |= {"shipped_orders": {"o2": NOW}, "shipped": 1, "unit_price": "2.50"}
    shelf = Shelf()
    shelf.item = inventory.StockItem.from_json(stored | {"currency": "EUR"})
    assert shelf.item.reserved == 3 and set(shelf.item.legacy_holds) == {"o9", "o8", "o1", "o2"}
    assert inventory.StockItem.from_json(shelf.item.to_json()) == shelf.item
    # the held o9 is released: its hold now lives under its key, and leaves the item
    assert types(shelf.decide(_at(_release("o9"), NOW + memory))) == [
        "StockReleased",
        "StockLevelChanged",
    ]
    assert shelf.holds["A/o9"]["status"] == "RELEASED" and shelf.item.reserved == 1
    # o1 (undated: 0) was forgotten by then, o2 (settled at NOW) not yet, o8 still held
    assert set(shelf.item.legacy_holds) == {"o8", "o2"}
    assert shelf.decide(_reserve("o2", 1)) == []  # shipped already: holds nothing again
    assert types(shelf.decide(_reserve("o8", 1))) == ["StockReserved"]  # answered again
    assert shelf.holds["A/o8"]["status"] == "HELD" and set(shelf.item.legacy_holds) == set()


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


def _gateway(scenario: str, attempt: int = 1) -> payment.Verdict:
    """What the agent makes of one gateway call."""
    return payment.verdict_of(attempt, payment.gateway_call(scenario, attempt))


def test_payment_approve_and_decline():
    _state, out = payment.authorize(None, _authorize("approve"), NOW, _gateway("approve"))
    assert types(out) == ["PaymentAuthorized"] and out[0].data["authorization_id"]
    _, out = payment.authorize(None, _authorize("decline"), NOW, _gateway("decline"))
    assert types(out) == ["PaymentDeclined"] and out[0].data["code"] == "DECLINED"


def test_a_transient_gateway_error_is_a_state_asked_again_by_the_clock_a_bounded_number_of_times():
    command = _authorize("error")
    state, out = payment.authorize(None, command, NOW, _gateway("error"), base_ms=100)
    assert out == [] and state is not None and state.outcome == payment.RETRYING
    assert payment.ended(state.to_json()) is False  # not retired while retrying
    assert payment.retry_tick(state, NOW + 99) is None  # not due yet
    assert payment.authorize(state, command, NOW, _gateway("error")) == (state, [])  # a repeat
    now, waits = NOW, []
    while state.outcome == payment.RETRYING:
        waits.append(state.retry_at - now)
        now = state.retry_at
        tick = payment.retry_tick(state, now)
        assert tick is not None and tick.data["customer_id"] == "c"
        asking = payment.asked(state, tick)
        assert asking is not None and asking.attempt == state.attempts + 1
        verdict = _gateway(asking.scenario, asking.attempt)
        state, out = payment.authorize(state, tick, now, verdict, base_ms=100)
        assert payment.authorize(state, tick, now, verdict, base_ms=100) == (state, [])  # again
    assert waits == [100, 200, 400]  # doubling
    assert types(out) == ["PaymentDeclined"] and out[0].data["code"] == "GATEWAY_ERROR"
    assert out[0].data["attempts"] == payment.MAX_ATTEMPTS == state.attempts
    assert out[0].envelope.correlation_id == command.envelope.correlation_id
    assert payment.settled(state) and payment.ended(state.to_json())


def test_a_retry_that_is_approved_authorizes_once():
    state, _ = payment.authorize(None, _authorize("error"), NOW, _gateway("error"), base_ms=10)
    assert state is not None
    tick = payment.retry_tick(state, NOW + 10)
    assert tick is not None
    state, out = payment.authorize(state, tick, NOW + 10, _gateway("approve", 2))
    assert types(out) == ["PaymentAuthorized"] and state is not None and state.attempts == 2
    assert payment.retry_tick(state, NOW + 10_000) is None


def test_backoff_doubles():
    assert [payment.backoff_ms(n, 100) for n in (1, 2, 3)] == [100, 200, 400]


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
