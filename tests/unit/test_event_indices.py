"""indexer/index.py EventIndices: which index an event goes to, and which events are kept."""

from __future__ import annotations

from indexer.index import DAY_MS, EventIndices

NOON = 1_796_558_400_000  # 2026-12-06T12:00:00Z


def test_an_event_goes_to_the_index_of_its_period():
    daily = EventIndices("order-events-v1", "order-events", DAY_MS, 30 * DAY_MS)
    assert daily.index_for(NOON) == "order-events-v1-2026.12.06"
    assert daily.index_for(NOON + 12 * 3600_000 - 1) == "order-events-v1-2026.12.06"
    assert daily.index_for(NOON + 12 * 3600_000) == "order-events-v1-2026.12.07"
    minutes = EventIndices("order-events-v1", "order-events", 60_000, 600_000)
    assert minutes.index_for(NOON + 61_000) == "order-events-v1-2026.12.06-120100"


def test_events_older_than_the_retention_are_not_kept():
    daily = EventIndices("order-events-v1", "order-events", DAY_MS, 30 * DAY_MS)
    assert daily.kept(NOON - 30 * DAY_MS, NOON)
    assert not daily.kept(NOON - 30 * DAY_MS - 1, NOON)
