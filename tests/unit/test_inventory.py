"""The inventory decider as the one judge of a stock adjustment: its bounds, the refusals it
remembers and reports, and the worker page that reports them (streams/domain/inventory.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from schemas import topics
from schemas.events import Message, command
from schemas.statuses import MAX_ON_HAND
from streams.domain import inventory
from tests.factories import NOW, types


def _adjust(set_on_hand: int | None = None, delta: int | None = None, **data: Any) -> Message:
    body = {"sku": "A", "set_on_hand": set_on_hand, "delta": delta, **data}
    return command("AdjustStock", topics.INVENTORY_COMMANDS.name, "A", body, "corr", "test")


def _reserve(order_id: str, quantity: int, **data: Any) -> Message:
    body = {"order_id": order_id, "sku": "A", "quantity": quantity, **data}
    return command("ReserveStock", topics.INVENTORY_COMMANDS.name, "A", body, "corr", "test")


def _decide(item: inventory.StockItem | None, msg: Message):
    """Decide as the agent does: the item goes through its JSON form in the table."""
    if item is not None:
        item = inventory.StockItem.from_json(json.loads(json.dumps(item.to_json())))
    return inventory.decide(item, msg, NOW)


def _stocked(on_hand: int, reserved: int = 0) -> inventory.StockItem:
    item, _ = _decide(None, _adjust(set_on_hand=on_hand))
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
        assert after.view() == item.view() and after.holds == item.holds
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
