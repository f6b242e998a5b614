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


class _Table(dict):
    """What the sweep touches of a Faust table: its name, changelog topic, writes, deletes."""

    name = "orders"

    def __init__(self) -> None:
        super().__init__()
        self.deleted: list[str] = []

    def __delitem__(self, key: str) -> None:
        self.deleted.append(key)

    class changelog_topic:  # the attribute Faust's table has
        @staticmethod
        def get_topic_name() -> str:
            return "orderflow-order-orders-changelog"


def _stored(state: dict) -> bytes:
    return json.dumps({"state": state, "cause": "c", "source": None, "outbox": []}).encode()


def _sweeper(monkeypatch, partitions: dict[int, dict[bytes, bytes]], budget: int, left=True):
    def stores(_table):
        for partition, rows in partitions.items():
            yield (
                partition,
                lambda start, rows=rows: iter(
                    sorted((k, v) for k, v in rows.items() if start is None or k >= start)
                ),
            )

    monkeypatch.setattr(retirement, "active_stores", stores)
    table = _Table()
    rule = retirement.Retirement(table, order.ended, frozenset(order.CREATES), WINDOW)
    return table, retirement.Sweeper(rule, lambda _stored: left, budget=budget)


def test_the_sweep_retires_due_keys_a_budget_at_a_time_and_comes_round_again(monkeypatch):
    due = {"stage": order.ENDED, "ended_at": NOW - WINDOW}
    live = {"stage": order.FULFILLING}
    rows = {f"o{i}".encode(): _stored(due if i % 2 else live) for i in range(6)}
    table, sweeper = _sweeper(monkeypatch, {0: rows}, budget=4)
    assert sweeper.sweep(NOW)["retire"] == 2  # o0..o3: o1, o3
    assert sweeper.sweep(NOW)["retire"] == 1  # o4, o5: o5, then the pass is whole
    assert sweeper.sweep(NOW)["retire"] == 2  # from the first key again
    assert table.deleted == ["o1", "o3", "o5", "o1", "o3"]


def test_the_sweep_keeps_a_key_whose_outputs_may_not_have_left(monkeypatch):
    rows = {b"o1": _stored({"stage": order.ENDED, "ended_at": NOW - WINDOW})}
    _table, sweeper = _sweeper(monkeypatch, {0: rows}, budget=10, left=False)
    assert sweeper.sweep(NOW) == {"retire": 0, "stamp": 0}


def test_the_sweep_stamps_a_state_ended_before_it_had_an_end_time(monkeypatch):
    rows = {b"o1": _stored({"stage": order.ENDED})}
    table, sweeper = _sweeper(monkeypatch, {3: rows}, budget=10)
    assert sweeper.sweep(NOW) == {"retire": 0, "stamp": 1}
    assert table["o1"]["state"] == {"stage": order.ENDED, "ended_at": NOW}


def test_a_walked_partition_waits_for_the_others_and_a_whole_pass_rests(monkeypatch):
    due = {"stage": order.ENDED, "ended_at": NOW - WINDOW}
    small = {b"s1": _stored(due)}
    large = {f"o{i}".encode(): _stored(due) for i in range(6)}
    table, sweeper = _sweeper(monkeypatch, {0: small, 1: large}, budget=4)
    sweeper.rest_s = 60.0
    assert sweeper.sweep(NOW, monotonic=0.0)["retire"] == 3  # s1, o0, o1: two keys each
    assert sweeper.due(0.0)
    # the small one was walked: the large one alone, o2..o5, which ends the pass
    assert sweeper.sweep(NOW, monotonic=1.0)["retire"] == 4
    assert not sweeper.due(60.9) and sweeper.due(61.0)  # rests, then from the first keys
    assert sweeper.sweep(NOW, monotonic=61.0)["retire"] == 3
    assert table.deleted == ["s1", "o0", "o1", "o2", "o3", "o4", "o5", "s1", "o0", "o1"]
