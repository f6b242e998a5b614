"""Inventory, payment and fulfillment decisions."""

from __future__ import annotations

from orderflow import topics
from schemas.events import command
from streams.domain import fulfillment, inventory, payment
from tests.factories import NOW, types


def _cmd(event_type: str, key: str, **data):
    topic = {
        "AuthorizePayment": topics.PAYMENTS_COMMANDS,
        "ScheduleFulfillment": topics.FULFILLMENT_COMMANDS,
    }.get(event_type, topics.INVENTORY_COMMANDS)
    return command(event_type, topic.name, key, data, "corr", "test")


def _stock(on_hand: int) -> inventory.StockItem:
    item, _ = inventory.decide(
        None, _cmd("AdjustStock", "A", sku="A", set_on_hand=on_hand, delta=None), NOW
    )
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
    }
    assert types(out) == ["StockLevelChanged"] and out[0].topic == topics.INVENTORY_LEVELS.name


def test_delta_adds_to_on_hand():
    item, _ = inventory.decide(
        _stock(5), _cmd("AdjustStock", "A", sku="A", set_on_hand=None, delta=-2), NOW
    )
    assert item is not None and item.on_hand == 3


def test_stock_cannot_be_set_below_what_is_reserved():
    item, _ = inventory.decide(_stock(5), _reserve("o1", 4), NOW)
    same, out = inventory.decide(
        item, _cmd("AdjustStock", "A", sku="A", set_on_hand=3, delta=None), NOW
    )
    assert same == item and out == []


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


def _authorize(scenario: str):
    return _cmd(
        "AuthorizePayment",
        "o1",
        order_id="o1",
        customer_id="c",
        amount="10.00",
        currency="EUR",
        method="card",
        scenario=scenario,
    )


def test_payment_approve_and_decline():
    state, out = payment.decide(None, _authorize("approve"), NOW)
    assert state is not None and types(out) == ["PaymentAuthorized"]
    assert out[0].data["authorization_id"]
    state, out = payment.decide(None, _authorize("decline"), NOW)
    assert types(out) == ["PaymentDeclined"]


def test_payment_decision_is_remembered_so_nothing_is_authorized_twice():
    state, first = payment.decide(None, _authorize("approve"), NOW)
    same, second = payment.decide(state, _authorize("decline"), NOW)
    assert same == state and types(second) == ["PaymentAuthorized"]
    assert second[0].data["authorization_id"] == first[0].data["authorization_id"]


def test_fulfillment_picks_the_warehouse_by_country():
    schedule = _cmd(
        "ScheduleFulfillment", "o1", order_id="o1", shipping_address={"country": "US"}, items=[]
    )
    state, out = fulfillment.decide(None, schedule, NOW)
    assert state == "WH-US-NJ" and out[0].data["warehouse"] == "WH-US-NJ"
    assert fulfillment.warehouse_for("zz") == fulfillment.DEFAULT_WAREHOUSE
