"""The live per-minute figures: what counts, and that a record counted once never counts again."""

from __future__ import annotations

from decimal import Decimal
from types import SimpleNamespace

from schemas import topics
from schemas.events import Message, command
from streams.agents.analytics import counted_types
from streams.domain import analytics
from streams.offsets import Ledger
from streams.outbox import Stored
from streams.runtime import Shell


def _event(event_type: str, **data: object) -> Message:
    data = {"order_id": "o-1", **data}
    return command(event_type, topics.ORDERS_EVENTS.name, "o-1", data, "c", "test")


def test_orders_revenue_and_cancellations_count():
    placed = analytics.count(None, 10, _event("OrderPlaced"))
    assert placed == {"orders": "1", "offset": 10}
    confirmed = analytics.count(
        placed, 11, _event("OrderConfirmed", total_amount=Decimal("24.68"), currency="EUR")
    )
    assert confirmed == {"orders": "1", "revenue": "24.68", "offset": 11}
    cancelled = analytics.count(confirmed, 12, _event("OrderCancelled", reason="X"))
    assert cancelled == {"orders": "1", "revenue": "24.68", "cancellations": "1", "offset": 12}


def test_a_record_counted_before_counts_for_nothing():
    figures = analytics.count(None, 10, _event("OrderPlaced"))
    figures = analytics.count(figures, 11, _event("OrderPlaced"))
    assert figures == {"orders": "2", "offset": 11}
    # after a crash, the partition is read again from its last committed offset
    assert analytics.count(figures, 10, _event("OrderPlaced")) is None
    assert analytics.count(figures, 11, _event("OrderPlaced")) is None
    assert analytics.count(figures, 12, _event("OrderPlaced")) == {"orders": "3", "offset": 12}


def test_events_that_do_not_count_change_nothing():
    assert analytics.count({"orders": "1", "offset": 3}, 4, _event("OrderCompleted")) is None


def test_a_minute_is_the_sum_over_partitions():
    sets = [{"orders": "2", "revenue": "10.50", "offset": 7}, None, {"cancellations": "1"}, {}]
    assert analytics.total(sets) == {"orders": "2", "revenue": "10.50", "cancellations": "1"}
    assert Decimal(analytics.total([])["revenue"]) == 0


def test_an_orders_counted_types_read_from_every_form_its_entry_has_had():
    assert counted_types(None) == []
    assert counted_types(["OrderPlaced"]) == ["OrderPlaced"]  # before entries were retired
    entry = {"types": ["OrderPlaced", "OrderConfirmed"], "ended_at": 1}
    assert counted_types(entry) == ["OrderPlaced", "OrderConfirmed"]
    stamped = Stored(entry).to_json()  # as the sweep rewrites a value
    assert counted_types(stamped) == ["OrderPlaced", "OrderConfirmed"]
    # an entry without an outbox has nothing to wait for: the sweep may retire it
    shell = Shell(SimpleNamespace(), SimpleNamespace(), "t", Ledger(), partitions=6)  # type: ignore[arg-type]
    assert shell.has_left(Stored.from_table(entry))


def test_only_the_counted_types_contribute():
    """The agent skips records of other types undecoded (by their event_type header): each
    type outside COUNTED must contribute nothing."""
    samples = {
        "OrderConfirmed": {"total_amount": Decimal("1.00"), "currency": "EUR"},
        "OrderCancelled": {"reason": "X"},
    }
    for event_type in ("OrderPlaced", "OrderConfirmed", "OrderCancelled", "OrderCompleted"):
        counts = bool(analytics.contributions(_event(event_type, **samples.get(event_type, {}))))
        assert counts == (event_type in analytics.COUNTED), event_type


def _record(headers: list[tuple[str, bytes]]) -> SimpleNamespace:
    return SimpleNamespace(message=SimpleNamespace(headers=headers))


def test_records_passed_by_undecoded_are_those_whose_header_names_another_type():
    counted = analytics.COUNTED
    assert Shell.passes_by(_record([("event_type", b"OrderCompleted")]), counted)  # type: ignore[arg-type]
    assert not Shell.passes_by(_record([("event_type", b"OrderPlaced")]), counted)  # type: ignore[arg-type]
    # no header: decoded, and dead-lettered if it is not an event
    assert not Shell.passes_by(_record([]), counted)  # type: ignore[arg-type]
