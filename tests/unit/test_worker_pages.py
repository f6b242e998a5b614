"""The pages the API asks workers for, through Faust's web view as a request reaches them:
the inventory worker's `/inventory/{sku}/` (with `?adjustment=<event_id>`) and the order
worker's `/orders/{order_id}/`. No broker: the request is served as on the worker that owns
the key (Faust's router says "same node") and the table read is a dict of stored values. The
owner answers 503 while its tables cannot be read right (streams/app.py, owner_page)."""

from __future__ import annotations

import asyncio
import dataclasses
import importlib
import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import make_mocked_request
from faust.exceptions import SameNode

from orderflow import config
from schemas import topics
from schemas.events import command
from streams.app import build
from streams.domain import inventory, order
from streams.outbox import Stored
from tests.factories import NOW, place_order

ROUTES = {"inventory": ("/inventory/{sku}/", "sku"), "order": ("/orders/{order_id}/", "order_id")}


@pytest.fixture
def get(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    """GET a path on a role's worker whose table holds `stored` (key -> state JSON): the
    status and the JSON body."""

    def _get(
        role: str, path: str, key: str, stored: dict[str, Any], state: str = "ready"
    ) -> tuple[int, Any]:
        settings = dataclasses.replace(config.load(), role=role, state_dir=tmp_path)
        worker = build(settings)
        module = importlib.import_module(f"streams.agents.{role}")
        module.install(worker)
        route, match = ROUTES[role]

        async def same_node(*_: Any) -> None:
            raise SameNode()

        monkeypatch.setattr(worker.app.router, "route_req", same_node)
        values = {k: Stored(state).to_json() for k, state in stored.items()}
        monkeypatch.setattr(module, "stored_value", lambda _table, k: values.get(k))
        app: Any = worker.app
        if state != "recovering":  # a started worker's tables were recovered once
            app.tables.recovery.completed.set()
        app.rebalancing = state == "rebalancing"
        if state == "stopping":
            app._stopped.set()
        view = worker.app.web.views[route]  # type: ignore[attr-defined]
        request = make_mocked_request("GET", path, match_info={match: key})
        response = asyncio.run(view.dispatch(request))
        return response.status, json.loads(response.body)

    return _get


def _stocked_item() -> tuple[inventory.StockItem, str]:
    """SKU A stocked and priced, then an adjustment refused; that adjustment's event id."""
    item = None
    outcome = ""
    for data in (
        {"set_on_hand": 5, "unit_price": Decimal("19.99"), "currency": "EUR"},
        {"delta": -6},
    ):
        msg = command(
            "AdjustStock", topics.INVENTORY_COMMANDS.name, "A", {"sku": "A", **data}, "c", "test"
        )
        item, _, _ = inventory.decide(item, None, msg, NOW)
        outcome = msg.envelope.event_id
    assert item is not None
    return item, outcome


def test_the_inventory_page_shows_the_stock_and_an_adjustments_outcome(get: Any):
    item, refused = _stocked_item()
    stored = {"A": item.to_json()}
    status, body = get("inventory", "/inventory/A/", "A", stored)
    assert status == 200 and body == {
        "sku": "A",
        "on_hand": 5,
        "reserved": 0,
        "available": 5,
        "unit_price": "19.99",
        "currency": "EUR",
    }
    status, body = get("inventory", f"/inventory/A/?adjustment={refused}", "A", stored)
    assert status == 200 and body["adjustment"] == {
        "event_id": refused,
        "outcome": "refused",
        "reason": "on_hand would be -1, below zero",
    }


@pytest.mark.parametrize("query", ["", "?adjustment=e-1"])
def test_the_inventory_page_of_a_sku_never_stocked_is_a_404(query: str, get: Any):
    status, body = get("inventory", f"/inventory/B/{query}", "B", {})
    assert status == 404 and body["detail"] == "unknown sku 'B'"
    if query:
        assert body["adjustment"] == {"event_id": "e-1", "outcome": "unknown", "reason": None}


def test_the_order_page_shows_the_sagas_view(get: Any):
    placed = place_order(order_id="o-1", lines={"A": 1})
    state, _ = order.decide(None, placed, NOW)
    assert state is not None
    stored = {"o-1": state.to_json()}
    status, body = get("order", "/orders/o-1/", "o-1", stored)
    assert status == 200 and body == {
        "order_id": "o-1",
        "status": "PENDING",
        "stage": "CHECKING",
        "cancel_reason": None,
        "cancelled_by": [],
        "correlation_id": "corr-1",
        "cancel_refused": {},
    }
    status, body = get("order", "/orders/o-2/", "o-2", stored)
    assert status == 404 and body == {"detail": "unknown order 'o-2'"}


@pytest.mark.parametrize(
    ("state", "why"),
    [
        ("recovering", "tables are being recovered from their changelogs"),
        ("rebalancing", "partitions are being reassigned"),
        ("stopping", "stopping"),
    ],
)
@pytest.mark.parametrize(
    ("role", "path", "key"), [("inventory", "/inventory/A/", "A"), ("order", "/orders/o-1/", "o-1")]
)
def test_an_owner_that_cannot_read_its_table_right_answers_503_not_a_404(
    role: str, path: str, key: str, state: str, why: str, get: Any
):
    # a partition just taken over is empty until its changelog is replayed: the key would
    # read as unknown (404) although it exists
    status, body = get(role, path, key, {}, state=state)
    assert status == 503 and body == {"detail": f"{role} worker: {why}"}


class _Answer:
    """An aiohttp answer, as much of it as the analytics page reads: the other instance's page
    served when the answer is entered."""

    def __init__(self, served: Any) -> None:
        self._served = served

    async def __aenter__(self) -> _Answer:
        response = await self._served
        self.status, self._body = response.status, response.body
        return self

    async def __aexit__(self, *_: Any) -> None:
        return None

    async def json(self) -> Any:
        return json.loads(self._body)


def _analytics(tmp_path: Path, port: int, figures: dict[str, dict[str, str]]) -> Any:
    """An analytics worker on `port` whose windows hold `figures` (key -> figure set) in every
    minute."""
    settings = dataclasses.replace(
        config.load(), role="analytics", state_dir=tmp_path, worker_web_port=port
    )
    worker = build(settings)
    importlib.import_module("streams.agents.analytics").install(worker)
    app: Any = worker.app
    app.tables.recovery.completed.set()
    app.rebalancing = False
    app.tables["per_minute"]._windowed_timestamp = lambda key, _ts: figures.get(key, {})
    return app


def test_the_live_figures_are_summed_over_every_partition_from_the_instances_that_own_them(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    # two instances, each holding its own three partitions' figures (one order per partition
    # and minute, revenue 10 + the partition)
    def figures(partitions: range) -> dict[str, dict[str, str]]:
        return {f"partition-{p}": {"orders": "1", "revenue": str(10 + p)} for p in partitions}

    here = _analytics(tmp_path / "a", 6166, figures(range(0, 6, 2)))
    there = _analytics(tmp_path / "b", 6266, figures(range(1, 6, 2)))
    changelog = here.tables["per_minute"].changelog_topic.get_topic_name()
    owners = {
        str(here.conf.canonical_url): {changelog: [0, 2, 4]},
        str(there.conf.canonical_url): {changelog: [1, 3, 5]},
    }
    for app in (here, there):
        monkeypatch.setattr(app.router, "table_metadata", lambda _name: owners)
    asked: list[str] = []

    class Client:  # `here` asks `there` over HTTP: served by there's page itself
        def get(self, url: str, params: dict[str, Any], timeout: Any) -> _Answer:
            asked.append(url)
            path = url.removeprefix(str(there.conf.canonical_url))
            query = "&".join(f"{k}={v}" for k, v in params.items())
            view = there.web.views[path]
            return _Answer(view.dispatch(make_mocked_request("GET", f"{path}?{query}")))

    async def ask() -> Any:
        view = here.web.views["/analytics/per-minute/"]
        return await view.dispatch(make_mocked_request("GET", "/analytics/per-minute/?minutes=2"))

    here.http_client = Client()
    response = asyncio.run(ask())
    assert asked == [f"{there.conf.canonical_url}/analytics/per-minute/here/"]
    assert response.status == 200
    rows = json.loads(response.body)["minutes"]
    assert [r["minutes_ago"] for r in rows] == [0, 1]
    assert all(r["orders"] == "6" and r["revenue"] == "75" for r in rows), rows

    # an owner that cannot read its table (here: rebalancing) makes the sum a 503
    there.rebalancing = True
    response = asyncio.run(ask())
    assert response.status == 503
    assert json.loads(response.body)["detail"].endswith(":6266 answered 503")
    # and so does a partition nobody owns yet
    there.rebalancing = False
    owners.pop(str(there.conf.canonical_url))
    response = asyncio.run(ask())
    assert response.status == 503
    assert "partitions [1, 3, 5]" in json.loads(response.body)["detail"]
