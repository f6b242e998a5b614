"""GET /analytics/today, /analytics/range and /events/recent in-process: the pure functions
that build each Elasticsearch request and shape its answer (checked against hand-written
answers), parameter validation, keys, Elasticsearch away, and the OpenAPI document. The same
on the real stack: tests/integration/test_analytics_reports.py."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from elastic_transport import ApiResponseMeta, HttpHeaders, NodeConfig, ObjectApiResponse
from elasticsearch import ConnectionTimeout

from api.routes import analytics
from api.routes.analytics import (
    NOT_REVENUE,
    Window,
    average_cents,
    figures_query,
    money,
    order_figures,
    recent_events,
    recent_events_query,
    today,
)

ANONYMOUS = {"Authorization": ""}
REPORTS = ("/analytics/today", "/analytics/range?from=2026-01-01T00:00:00Z", "/events/recent")
WINDOW = Window(
    datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 3, 2, 12, tzinfo=timezone(timedelta(hours=2)))
)


def _bucket(key: str, count: int, **sub: Any) -> dict[str, Any]:
    return {"key": key, "doc_count": count, **sub}


def _revenue(count: int, cents: float) -> dict[str, Any]:
    # Elasticsearch sums a long field as a double: 1001 comes back as 1001.0
    return {"revenue": {"doc_count": count, "cents": {"value": cents}}}


# What Elasticsearch answers figures_query(WINDOW): 7 orders, 2 of them cancelled; in EUR two
# orders earn 10.01 (5.005 each: half to even is 5.00, half up would be 5.01); in USD one order,
# pending, earns nothing yet
FIGURES_ANSWER: dict[str, Any] = {
    "hits": {"total": {"value": 7, "relation": "eq"}, "hits": []},
    "aggregations": {
        "by_status": {
            "buckets": [_bucket("COMPLETED", 3), _bucket("CANCELLED", 2), _bucket("PENDING", 2)]
        },
        "cancelled": {
            "doc_count": 2,
            "by_reason": {"buckets": [_bucket("OUT_OF_STOCK", 1), _bucket("PAYMENT_DECLINED", 1)]},
        },
        "top_skus": {
            "doc_count_error_upper_bound": 0,
            "sum_other_doc_count": 0,
            "buckets": [_bucket("MUG-1", 4), _bucket("TSHIRT-M", 2)],
        },
        "by_currency": {
            "buckets": [
                _bucket("EUR", 6, **_revenue(2, 1001.0)),
                _bucket("USD", 1, **_revenue(0, 0.0)),
            ]
        },
    },
}


def _es_answer(body: dict[str, Any]) -> ObjectApiResponse[Any]:
    meta = ApiResponseMeta(200, "1.1", HttpHeaders(), 0.01, NodeConfig("http", "127.0.0.1", 9200))
    return ObjectApiResponse(body=body, meta=meta)


@pytest.fixture
def asked(client, monkeypatch) -> list[dict[str, Any]]:
    """Every search the API sends, answered as FIGURES_ANSWER (with EVENT hits)."""
    searches: list[dict[str, Any]] = []

    async def search(**kwargs: Any) -> ObjectApiResponse[Any]:
        searches.append(kwargs)
        return _es_answer({**FIGURES_ANSWER, "hits": {"total": {"value": 7}, "hits": EVENT_HITS}})

    monkeypatch.setattr(client.app.state.services.es, "search", search)
    return searches


# --- the figures: the request ---------------------------------------------------------------
def test_the_figures_ask_for_orders_created_in_the_window_exactly_counted():
    query = figures_query(WINDOW)
    assert query["size"] == 0 and query["track_total_hits"] is True
    (bounds,) = [f["range"]["created_at"] for f in query["query"]["bool"]["filter"]]
    assert bounds == {
        "gte": int(WINDOW.start.timestamp() * 1000),
        "lt": int(WINDOW.end.timestamp() * 1000),
        "format": "epoch_millis",
    }


def test_the_figures_aggregate_statuses_reasons_skus_and_revenue_per_currency():
    aggs = figures_query(WINDOW)["aggs"]
    assert aggs["by_status"]["terms"]["field"] == "status"
    assert aggs["cancelled"]["filter"] == {"term": {"status": "CANCELLED"}}
    assert aggs["cancelled"]["aggs"]["by_reason"]["terms"]["field"] == "cancel_reason"
    top = aggs["top_skus"]["terms"]
    assert top["field"] == "items.sku" and top["size"] == 10
    assert top["order"] == [{"_count": "desc"}, {"_key": "asc"}]  # ties the same every time
    per_currency = aggs["by_currency"]
    assert per_currency["terms"]["field"] == "currency"
    revenue = per_currency["aggs"]["revenue"]
    assert revenue["filter"] == {"bool": {"must_not": [NOT_REVENUE]}}
    assert revenue["aggs"]["cents"] == {"sum": {"field": "total_cents"}}


def test_revenue_is_what_analytics_orders_counts_as_revenue(client, monkeypatch):
    """One rule for both: confirmed and not cancelled (neither PENDING nor CANCELLED)."""
    bodies: list[dict[str, Any]] = []

    async def search(**kwargs: Any) -> dict[str, Any]:
        bodies.append(kwargs)
        return {
            "hits": {"total": {"value": 0}},
            "aggregations": {"by_status": {"buckets": []}, "revenue": {"by_day": {"buckets": []}}},
        }

    monkeypatch.setattr(client.app.state.services.es, "search", search)
    assert client.get("/analytics/orders").status_code == 200
    assert bodies[0]["aggs"]["revenue"]["filter"]["bool"]["must_not"] == [NOT_REVENUE]
    assert NOT_REVENUE == {"terms": {"status": ["PENDING", "CANCELLED"]}}


# --- the figures: the answer ----------------------------------------------------------------
def test_an_answer_becomes_the_figures_per_currency():
    figures = order_figures(WINDOW, FIGURES_ANSWER).model_dump(by_alias=True)
    assert figures["from"] == WINDOW.start and figures["to"] == WINDOW.end
    assert figures["orders"] == 7
    assert figures["by_status"] == {"COMPLETED": 3, "CANCELLED": 2, "PENDING": 2}
    assert figures["cancellations"] == {
        "total": 2,
        "by_reason": {"OUT_OF_STOCK": 1, "PAYMENT_DECLINED": 1},
    }
    assert figures["top_skus"] == [{"sku": "MUG-1", "orders": 4}, {"sku": "TSHIRT-M", "orders": 2}]
    assert figures["by_currency"] == {
        "EUR": {
            "orders": 6,
            "revenue_orders": 2,
            "revenue": "10.01",
            "revenue_cents": 1001,
            "average_order_value": "5.00",  # 5.005, half to even
        },
        "USD": {
            "orders": 1,
            "revenue_orders": 0,
            "revenue": "0.00",
            "revenue_cents": 0,
            "average_order_value": None,
        },
    }


def test_no_orders_at_all_is_zero_everywhere():
    empty = {
        "hits": {"total": {"value": 0}, "hits": []},
        "aggregations": {
            "by_status": {"buckets": []},
            "cancelled": {"doc_count": 0, "by_reason": {"buckets": []}},
            "top_skus": {"buckets": []},
            "by_currency": {"buckets": []},
        },
    }
    figures = order_figures(WINDOW, empty)
    assert figures.orders == 0 and figures.cancellations.total == 0
    assert figures.by_status == {} and figures.top_skus == [] and figures.by_currency == {}


@pytest.mark.parametrize(
    ("total", "count", "average"),
    [
        (1001, 2, 500),  # 500.5: half to even, down
        (1003, 2, 502),  # 501.5: half to even, up
        (1000, 3, 333),
        (2000, 3, 667),
        (999_999_999_999_999, 1, 999_999_999_999_999),  # no float on the way
        (10**17 + 1, 2, 5 * 10**16),  # past what a double holds exactly: still exact
    ],
)
def test_the_average_is_rounded_exactly_half_to_even(total, count, average):
    assert average_cents(total, count) == average


@pytest.mark.parametrize(
    ("cents", "shown"), [(0, "0.00"), (5, "0.05"), (2468, "24.68"), (10**20, f"{10**18}.00")]
)
def test_money_has_two_places(cents, shown):
    assert money(cents) == shown


def test_today_is_the_utc_day_so_far():
    late_in_amsterdam = datetime(2026, 3, 2, 0, 30, tzinfo=timezone(timedelta(hours=1)))
    window = today(late_in_amsterdam)
    assert window.start == datetime(2026, 3, 1, tzinfo=UTC)
    assert window.end == late_in_amsterdam and window.end.tzinfo == UTC


# --- the figures through the API ------------------------------------------------------------
def test_today_asks_the_orders_alias_for_the_utc_day(client, asked):
    before = datetime.now(UTC)
    answer = client.get("/analytics/today")
    assert answer.status_code == 200, answer.text
    body = answer.json()
    start, end = (datetime.fromisoformat(body[k].replace("Z", "+00:00")) for k in ("from", "to"))
    assert start == before.replace(hour=0, minute=0, second=0, microsecond=0)
    assert before <= end <= datetime.now(UTC)
    (search,) = asked
    assert search["index"] == client.app.state.services.settings.orders_alias
    assert {k: v for k, v in search.items() if k != "index"} == figures_query(Window(start, end))
    assert body["by_currency"]["EUR"]["average_order_value"] == "5.00"


def test_a_range_is_the_same_report_for_its_window(client, asked):
    window = {"from": "2026-03-01T00:00:00Z", "to": "2026-03-02T12:00:00+02:00"}
    answer = client.get("/analytics/range", params=window)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["from"] == "2026-03-01T00:00:00Z" and body["to"] == "2026-03-02T12:00:00+02:00"
    expected = order_figures(WINDOW, FIGURES_ANSWER).model_dump(mode="json", by_alias=True)
    assert body == expected
    assert {k: v for k, v in asked[0].items() if k != "index"} == figures_query(WINDOW)


def test_a_range_without_to_ends_now(client, asked):
    answer = client.get("/analytics/range", params={"from": "2026-01-01T00:00:00Z"})
    assert answer.status_code == 200, answer.text
    end = datetime.fromisoformat(answer.json()["to"].replace("Z", "+00:00"))
    assert abs(end - datetime.now(UTC)) < timedelta(seconds=10)


def test_an_empty_window_is_allowed(client, asked):
    instant = "2026-03-01T00:00:00Z"
    assert (
        client.get("/analytics/range", params={"from": instant, "to": instant}).status_code == 200
    )


def _locations(answer) -> list[list[Any]]:
    assert answer.status_code == 422, answer.text
    assert set(answer.json()) == {"status", "title", "detail", "errors"}
    return [error["loc"] for error in answer.json()["errors"]]


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({}, "from"),
        ({"from": "yesterday"}, "from"),
        ({"from": "2026-13-01T00:00:00Z"}, "from"),
        ({"from": "2026-01-01"}, "from"),  # a date-time, not a date
        ({"from": "2026-01-01T00:00:00"}, "from"),  # with its offset
        ({"from": "1767225600"}, "from"),  # never epoch seconds
        ({"from": "2026-01-01T00:00:00Z", "to": "now"}, "to"),
        ({"from": "2026-01-01T00:00:00Z", "to": "2026-02-30T00:00:00Z"}, "to"),
    ],
)
def test_a_bad_window_is_a_422_naming_the_parameter(client, asked, params, field):
    assert _locations(client.get("/analytics/range", params=params)) == [["query", field]]
    assert asked == []


def test_from_after_to_is_a_422_naming_both(client, asked):
    window = {"from": "2026-03-02T00:00:00Z", "to": "2026-03-02T00:59:59+01:00"}  # 23:59:59 UTC
    answer = client.get("/analytics/range", params=window)
    assert _locations(answer) == [["query", "from"], ["query", "to"]]
    assert "query.from" in answer.json()["detail"] and "query.to" in answer.json()["detail"]
    assert asked == []


def test_from_after_now_without_to_is_a_422_naming_both(client, asked):
    tomorrow = (datetime.now(UTC) + timedelta(days=1)).isoformat()
    answer = client.get("/analytics/range", params={"from": tomorrow})
    assert _locations(answer) == [["query", "from"], ["query", "to"]]
    assert "now" in answer.json()["detail"]
    assert asked == []


def test_the_widest_window_reaches_elasticsearch_as_epoch_milliseconds(client, asked):
    """Year 1 to 9999 with offsets that leave them in UTC: the same bounds GET /orders takes."""
    window = {"from": "0001-01-01T00:00:00+23:59", "to": "9999-12-31T23:59:59-23:59"}
    assert client.get("/analytics/range", params=window).status_code == 200
    (bounds,) = [f["range"]["created_at"] for f in asked[0]["query"]["bool"]["filter"]]
    assert bounds["lt"] == 253402387139000 and bounds["gte"] < 0


# --- the newest events ----------------------------------------------------------------------
def _event(n: int, **extra: Any) -> dict[str, Any]:
    return {
        "event_id": f"e-{n}",
        "event_type": "OrderCompleted",
        "occurred_at": f"2026-03-01T12:00:0{n}.000+00:00",
        "topic": "orders.events.v1",
        "correlation_id": "c-1",
        "causation_id": f"e-{n - 1}",
        "producer": "order-agent",
        "details": {"order_id": "o-1"},
        "order_id": "o-1",
        **extra,
    }


EVENT_HITS = [
    {"_id": "e-2", "_source": _event(2, customer_id="alice"), "sort": [2, "e-2"]},
    {"_id": "e-1", "_source": _event(1), "sort": [1, "e-1"]},
]


def test_the_newest_events_are_asked_newest_first_then_by_event_id():
    query = recent_events_query(5, None)
    assert query["size"] == 5 and query["query"] == {"bool": {"filter": []}}
    assert query["sort"] == [{"occurred_at": {"order": "desc"}}, {"event_id": {"order": "desc"}}]
    typed = recent_events_query(20, "OrderCompleted")
    assert typed["query"] == {"bool": {"filter": [{"term": {"event_type": "OrderCompleted"}}]}}


def test_events_come_back_with_envelope_topic_ids_and_details():
    page = recent_events(5, None, {"hits": {"hits": EVENT_HITS}}).model_dump()
    assert page["limit"] == 5 and page["type"] is None
    first, second = page["events"]
    assert first == {**_event(2), "customer_id": "alice"}
    assert second == {**_event(1), "customer_id": None}  # the index may not record one


def test_recent_events_asks_the_events_index(client, asked):
    answer = client.get("/events/recent", params={"limit": 2, "type": "OrderCompleted"})
    assert answer.status_code == 200, answer.text
    assert [e["event_id"] for e in answer.json()["events"]] == ["e-2", "e-1"]
    (search,) = asked
    assert search["index"] == client.app.state.services.settings.events_alias
    assert {k: v for k, v in search.items() if k != "index"} == recent_events_query(
        2, "OrderCompleted"
    )
    assert client.get("/events/recent").status_code == 200
    assert asked[-1]["size"] == 20


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 101}, "limit"),
        ({"limit": "ten"}, "limit"),
        ({"type": "NoSuchEvent"}, "type"),
        ({"type": "orderplaced"}, "type"),
        ({"type": "PlaceOrder"}, "type"),  # a command: never in the events index
        ({"type": ""}, "type"),
    ],
)
def test_a_bad_limit_or_type_is_a_422_naming_it(client, asked, params, field):
    assert _locations(client.get("/events/recent", params=params)) == [["query", field]]
    assert asked == []


def test_every_event_type_of_the_catalogue_is_accepted_and_no_command():
    assert {"OrderPlaced", "OrderCompleted", "OrderCancelled", "PaymentDeclined"} <= set(
        analytics.EVENT_TYPES
    )
    assert {"PlaceOrder", "CancelOrder", "ReserveStock"}.isdisjoint(analytics.EVENT_TYPES)


# --- keys, Elasticsearch away, the document -------------------------------------------------
@pytest.mark.parametrize("path", REPORTS)
def test_without_a_key_a_report_is_a_401(client, asked, path):
    answer = client.get(path, headers=ANONYMOUS)
    assert answer.status_code == 401, answer.text
    assert "orders:read" in answer.json()["detail"]
    assert asked == []


@pytest.mark.parametrize("path", REPORTS)
def test_a_report_needs_orders_read(client, asked, path, monkeypatch, tmp_path):
    from api import keys
    from tests.unit.conftest import KEYS

    stocker = keys.key_line("stocker", "stock-only-key", [keys.INVENTORY_WRITE])
    lines = [keys.key_line(name, key, scopes) for name, (key, scopes) in KEYS.items()]
    client.app.state.api_keys = keys.parse(";".join([*lines, stocker]), "test")
    answer = client.get(path, headers={"Authorization": "Bearer stock-only-key"})
    assert answer.status_code == 403 and "orders:read" in answer.json()["detail"]


@pytest.mark.parametrize("path", REPORTS)
def test_an_elasticsearch_away_is_a_503(client, monkeypatch, path):
    async def cannot(*_args: Any, **_kwargs: Any) -> None:
        raise ConnectionTimeout("timed out")

    monkeypatch.setattr(client.app.state.services.es, "search", cannot)
    answer = client.get(path)
    assert answer.status_code == 503, answer.text
    assert "Elasticsearch unavailable" in answer.json()["detail"]


def test_the_openapi_document_lists_the_reports_with_their_statuses():
    from api.app import app

    document = app.openapi()
    for path in ("/analytics/today", "/analytics/range", "/events/recent"):
        operation = document["paths"][path]["get"]
        assert set(operation["responses"]) == {"200", "401", "403", "422", "503"}, path
        assert operation["security"], path
    figures = document["components"]["schemas"]["OrderFigures"]
    assert {"from", "to", "orders", "by_status", "cancellations", "top_skus", "by_currency"} == set(
        figures["required"]
    )
    assert "not units sold" in figures["properties"]["top_skus"]["description"]
    per_currency = document["components"]["schemas"]["CurrencyFigures"]["properties"]
    assert "ROUND_HALF_EVEN" in per_currency["average_order_value"]["description"]
    parameters = {p["name"]: p for p in document["paths"]["/analytics/range"]["get"]["parameters"]}
    assert parameters["from"]["required"] is True
    assert parameters["from"]["schema"]["format"] == "date-time"
    events = {p["name"]: p for p in document["paths"]["/events/recent"]["get"]["parameters"]}
    assert events["limit"]["schema"]["minimum"] == 1 and events["limit"]["schema"]["maximum"] == 100
    (enum,) = [s["enum"] for s in events["type"]["schema"]["anyOf"] if "enum" in s]
    assert enum == list(analytics.EVENT_TYPES)
