"""The inventory decider as the one judge of a stock adjustment: its bounds, the refusals it
remembers and reports, and the worker page that reports them (streams/domain/inventory.py)."""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any

import pytest

from schemas import topics
from schemas.events import Message, command
from schemas.statuses import MAX_ON_HAND
from streams.domain import inventory
from tests.factories import NOW, types

PRICE = Decimal("19.99")


def _adjust(set_on_hand: int | None = None, delta: int | None = None, **data: Any) -> Message:
    body = {"sku": "A", "set_on_hand": set_on_hand, "delta": delta, **data}
    return command("AdjustStock", topics.INVENTORY_COMMANDS.name, "A", body, "corr", "test")


def _reserve(order_id: str, quantity: int, **data: Any) -> Message:
    body = {"order_id": order_id, "sku": "A", "quantity": quantity, **data}
    return command("ReserveStock", topics.INVENTORY_COMMANDS.name, "A", body, "corr", "test")


def _decide(
    item: inventory.StockItem | None, msg: Message, hold: inventory.Hold | None = None
) -> tuple[inventory.StockItem | None, list[Message]]:
    """Decide as the agent does: the item goes through its JSON form in the table; `hold` is
    the hold of the command's order, if it has one."""
    if item is not None:
        item = inventory.StockItem.from_json(json.loads(json.dumps(item.to_json())))
    after, _hold, out = inventory.decide(item, hold, msg, NOW)
    return after, out


def _stocked(on_hand: int, reserved: int = 0) -> inventory.StockItem:
    """SKU A with `on_hand` units at 19.99 EUR, `reserved` of them held for order o-held."""
    item, _ = _decide(None, _adjust(set_on_hand=on_hand, unit_price=PRICE, currency="EUR"))
    if reserved:
        item, _ = _decide(item, _reserve("o-held", reserved))
    assert item is not None and (item.on_hand, item.reserved) == (on_hand, reserved)
    return item


def _refusal(item: inventory.StockItem | None, msg: Message) -> str:
    """The decision on `msg` is a refusal: no stock figure moved, nothing was sent, and the
    item remembers why; that reason."""
    after, out = _decide(item, msg)
    assert out == [] and after is not None
    if item is not None:
        assert after.view() == item.view() and after.reserved == item.reserved
    outcome = inventory.adjustment_outcome(after, msg.envelope.event_id)
    assert outcome["outcome"] == "refused"
    return str(outcome["reason"])


# --- bounds ----------------------------------------------------------------------------------


def test_on_hand_may_be_set_to_exactly_the_limit_and_not_one_more():
    assert MAX_ON_HAND == inventory.MAX_ON_HAND == 1_000_000_000
    item, out = _decide(_stocked(0), _adjust(set_on_hand=MAX_ON_HAND))
    assert item is not None and item.on_hand == MAX_ON_HAND and types(out) == ["StockLevelChanged"]
    assert out[0].data["on_hand"] == MAX_ON_HAND
    assert _refusal(_stocked(0), _adjust(set_on_hand=MAX_ON_HAND + 1)) == (
        "on_hand would be 1000000001, above the limit of 1000000000"
    )


def test_a_delta_past_the_limit_is_refused_naming_the_figures():
    item, _ = _decide(_stocked(MAX_ON_HAND - 5), _adjust(delta=5))
    assert item is not None and item.on_hand == MAX_ON_HAND
    assert _refusal(item, _adjust(delta=5)) == (
        "on_hand would be 1000000005, above the limit of 1000000000"
    )


def test_on_hand_below_what_is_reserved_is_refused():
    assert _refusal(_stocked(8, reserved=5), _adjust(set_on_hand=3)) == (
        "on_hand would be 3, below the 5 units reserved"
    )
    assert _refusal(_stocked(8, reserved=1), _adjust(delta=-8)) == (
        "on_hand would be 0, below the 1 unit reserved"
    )
    # down to exactly what is reserved is fine: available 0
    item, out = _decide(_stocked(8, reserved=5), _adjust(delta=-3))
    assert item is not None and (item.on_hand, item.available) == (5, 0)
    assert types(out) == ["StockLevelChanged"]


def test_on_hand_below_zero_is_refused():
    assert _refusal(_stocked(2), _adjust(delta=-3)) == "on_hand would be -1, below zero"
    assert _refusal(_stocked(2), _adjust(set_on_hand=-1)) == "on_hand would be -1, below zero"


# --- refusals remembered and reported ------------------------------------------------------


def test_a_refused_adjustment_stays_refused_when_redelivered_even_if_it_would_fit_now():
    item = _stocked(2)
    take_three = _adjust(delta=-3)
    item, _ = _decide(item, take_three)
    item, _ = _decide(item, _adjust(delta=10))  # stock arrives in between
    assert item is not None and item.on_hand == 12
    again, out = _decide(item, take_three)
    assert out == [] and again == item and again.on_hand == 12


def test_an_applied_adjustment_redelivered_is_applied_once():
    item = _stocked(2)
    add = _adjust(delta=3)
    item, out = _decide(item, add)
    assert item is not None and item.on_hand == 5 and types(out) == ["StockLevelChanged"]
    again, nothing = _decide(item, add)
    assert nothing == [] and again == item and again.on_hand == 5
    assert inventory.adjustment_outcome(again, add.envelope.event_id) == {
        "event_id": add.envelope.event_id,
        "outcome": "applied",
        "reason": None,
    }


def test_an_adjustment_not_decided_yet_is_unknown():
    assert inventory.adjustment_outcome(_stocked(1), "e-1") == {
        "event_id": "e-1",
        "outcome": "unknown",
        "reason": None,
    }
    assert inventory.adjustment_outcome(None, "e-1")["outcome"] == "unknown"


def test_refusals_are_remembered_as_long_as_applied_adjustments_and_survive_the_table():
    item: inventory.StockItem | None = _stocked(0)
    refused = [_adjust(delta=-1) for _ in range(inventory.ADJUSTMENT_MEMORY + 3)]
    for msg in refused:
        item, _ = _decide(item, msg)
    assert item is not None
    assert list(item.refused_adjustments) == [
        m.envelope.event_id for m in refused[-inventory.ADJUSTMENT_MEMORY :]
    ]
    assert inventory.StockItem.from_json(json.loads(json.dumps(item.to_json()))) == item
    first, last = refused[0].envelope.event_id, refused[-1].envelope.event_id
    assert inventory.adjustment_outcome(item, first)["outcome"] == "unknown"  # forgotten
    assert inventory.adjustment_outcome(item, last) == {
        "event_id": last,
        "outcome": "refused",
        "reason": "on_hand would be -1, below zero",
    }


def test_a_refusal_for_a_sku_never_stocked_is_remembered_while_the_sku_stays_unknown():
    refused = _adjust(delta=-4)
    assert _refusal(None, refused) == "on_hand would be -4, below zero"
    item, _ = _decide(None, refused)
    assert item is not None and not item.stocked and item.on_hand == 0
    status, body = inventory.stock_page(item, "A", refused.envelope.event_id)
    assert status == 404 and body["detail"] == "unknown sku 'A'"
    assert body["adjustment"]["outcome"] == "refused"
    # it is not for sale either
    _, out = _decide(item, _reserve("o1", 1))
    assert types(out) == ["StockRejected"] and out[0].data["reason"] == "UNKNOWN_SKU"
    # and the first adjustment that fits stocks it
    item, out = _decide(item, _adjust(delta=4))
    assert item is not None and item.stocked and item.on_hand == 4
    assert types(out) == ["StockLevelChanged"]
    assert inventory.stock_page(item, "A")[0] == 200


def test_items_stored_before_refusals_were_remembered_load_as_stocked():
    stored = {"sku": "A", "on_hand": 3, "holds": {}, "recent_adjustments": ["e1"]}
    item = inventory.StockItem.from_json(stored)
    assert item.stocked and dict(item.refused_adjustments) == {}


# --- the worker page -----------------------------------------------------------------------


@pytest.mark.parametrize("asked", [None, "e-1"])
def test_the_page_of_a_sku_never_seen_is_a_404(asked: str | None):
    status, body = inventory.stock_page(None, "NOPE", asked)
    assert status == 404 and body["detail"] == "unknown sku 'NOPE'"
    assert ("adjustment" in body) == (asked is not None)


def test_the_page_shows_the_stock_and_what_became_of_an_adjustment():
    item = _stocked(8, reserved=5)
    refused = _adjust(set_on_hand=3)
    item, _ = _decide(item, refused)
    status, body = inventory.stock_page(item, "A")
    assert status == 200 and "adjustment" not in body
    assert {k: body[k] for k in ("sku", "on_hand", "reserved", "available")} == {
        "sku": "A",
        "on_hand": 8,
        "reserved": 5,
        "available": 3,
    }
    status, body = inventory.stock_page(item, "A", refused.envelope.event_id)
    assert status == 200 and body["adjustment"] == {
        "event_id": refused.envelope.event_id,
        "outcome": "refused",
        "reason": "on_hand would be 3, below the 5 units reserved",
    }


# --- prices of record ----------------------------------------------------------------------


def test_the_price_of_record_is_stored_and_shown_with_the_stock():
    item, out = _decide(None, _adjust(set_on_hand=5, unit_price=Decimal("19.9"), currency="eur"))
    assert item is not None and (item.unit_price, item.currency) == ("19.90", "EUR")
    assert item.view() == {
        "sku": "A",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "unit_price": "19.90",
        "currency": "EUR",
    }
    assert "unit_price" not in out[0].data  # StockLevelChanged carries the levels only
    assert inventory.StockItem.from_json(json.loads(json.dumps(item.to_json()))) == item


def test_a_sku_never_priced_shows_a_null_price_and_is_not_for_sale():
    item, _ = _decide(None, _adjust(set_on_hand=5))
    assert item is not None and item.view()["unit_price"] is None
    assert item.view()["currency"] is None
    same, out = _decide(item, _reserve("o1", 1, unit_price=PRICE, currency="EUR"))
    assert same == item and types(out) == ["StockRejected"]
    assert out[0].data["reason"] == "UNKNOWN_SKU" and out[0].data["available"] == 5


def test_an_adjustment_without_a_price_keeps_the_price_and_one_with_a_price_changes_it():
    item, _ = _decide(_stocked(5), _adjust(delta=2))
    assert item is not None and (item.on_hand, item.unit_price, item.currency) == (
        7,
        "19.99",
        "EUR",
    )
    item, out = _decide(item, _adjust(set_on_hand=7, unit_price=Decimal("21.00"), currency="USD"))
    assert item is not None and (item.unit_price, item.currency) == ("21.00", "USD")
    assert types(out) == ["StockLevelChanged"]


@pytest.mark.parametrize(
    ("price", "reason"),
    [
        (
            {"unit_price": Decimal("1.00")},
            "unit_price given without currency: a price of record needs both",
        ),
        ({"currency": "EUR"}, "currency given without unit_price: a price of record needs both"),
        (
            {"unit_price": Decimal("-0.01"), "currency": "EUR"},
            "unit_price would be -0.01, below zero",
        ),
    ],
)
def test_a_price_that_cannot_be_the_price_of_record_is_refused(price: dict[str, Any], reason: str):
    item = _stocked(5)
    assert _refusal(item, _adjust(delta=1, **price)) == reason
    after, _ = _decide(item, _adjust(delta=1, **price))
    assert after is not None and (after.unit_price, after.currency) == ("19.99", "EUR")


def test_a_line_at_the_price_of_record_is_reserved():
    item, out = _decide(
        _stocked(5), _reserve("o1", 2, unit_price=Decimal("19.990"), currency="EUR")
    )
    assert item is not None and item.reserved == 2
    assert types(out) == ["StockReserved", "StockLevelChanged"]
    assert "unit_price" not in out[0].data


@pytest.mark.parametrize(
    "line",
    [
        pytest.param({"unit_price": Decimal("18.99"), "currency": "EUR"}, id="price"),
        pytest.param({"unit_price": PRICE, "currency": "USD"}, id="currency"),
        pytest.param({"unit_price": Decimal("0.00"), "currency": "EUR"}, id="free"),
    ],
)
def test_a_line_at_another_price_or_currency_is_a_price_mismatch(line: dict[str, Any]):
    item = _stocked(5)
    same, out = _decide(item, _reserve("o1", 1, **line))
    assert same == item and types(out) == ["StockRejected"]
    assert out[0].data["reason"] == "PRICE_MISMATCH" and out[0].data["available"] == 5
    assert out[0].key == "o1" and out[0].topic == topics.INVENTORY_EVENTS.name


def test_a_price_mismatch_is_decided_before_the_stock_is_counted():
    _, out = _decide(_stocked(1), _reserve("o1", 3, unit_price=Decimal("1.00"), currency="EUR"))
    assert out[0].data["reason"] == "PRICE_MISMATCH"


def test_a_reserve_stock_from_before_prices_is_not_compared_but_needs_a_priced_sku():
    old = _reserve("o1", 2)  # no unit_price, no currency
    assert "unit_price" not in old.data
    item, out = _decide(_stocked(5), old)
    assert item is not None and item.reserved == 2 and types(out)[0] == "StockReserved"
    unpriced, _ = _decide(None, _adjust(set_on_hand=5))
    _, out = _decide(unpriced, old)
    assert types(out) == ["StockRejected"] and out[0].data["reason"] == "UNKNOWN_SKU"


def test_a_hold_is_answered_again_even_after_the_price_changed():
    reserve = _reserve("o1", 2, unit_price=PRICE, currency="EUR")
    item, hold, _ = inventory.decide(_stocked(5), None, reserve, NOW)
    item, _ = _decide(item, _adjust(delta=0, unit_price=Decimal("25.00"), currency="EUR"))
    again, out = _decide(item, reserve, hold)
    assert again == item and types(out) == ["StockReserved"]
