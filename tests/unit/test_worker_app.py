"""Each role's worker is built from settings (no broker needed, nothing on import): the
agents, tables and pages its module installs are there, under the names the rest of the
system relies on (changelog topics, metric labels, the API's worker calls)."""

from __future__ import annotations

import dataclasses
import importlib
from pathlib import Path

import pytest

from orderflow import config, roles
from streams.app import build, compaction

EXPECTED = {
    "order": ({"orders"}, {"order_saga"}, {"/orders/{order_id}/"}),
    "inventory": ({"stock"}, {"inventory_agent"}, {"/inventory/{sku}/"}),
    "payment": ({"payments", "customer_spend"}, {"payment_agent"}, set()),
    "fulfillment": ({"shipments"}, {"fulfillment_agent"}, set()),
    "analytics": (
        {"per_minute", "counted"},
        {"analytics_agent"},
        {"/analytics/per-minute/", "/analytics/per-minute/here/"},
    ),
    "customer": ({"customers"}, {"customer_agent"}, {"/customers/"}),
}


@pytest.mark.parametrize("role", roles.NAMES)
def test_a_roles_worker_has_its_agents_tables_and_pages(role: str, tmp_path: Path) -> None:
    settings = dataclasses.replace(config.load(), role=role, state_dir=tmp_path)
    worker = build(settings)
    importlib.import_module(f"streams.agents.{role}").install(worker)
    tables, agents, pages = EXPECTED[role]
    assert set(worker.app.tables) == tables
    assert {name.rpartition(".")[2] for name in worker.app.agents} == agents
    assert all(name.startswith(f"streams.agents.{role}.") for name in worker.app.agents)
    routes = {route for route, *_ in worker.app.web.views.items()}  # type: ignore[attr-defined]
    assert {"/metrics/", "/healthz/", "/readyz/"} | pages <= routes
    assert worker.app.conf.id == f"orderflow-{role}"
    (agent,) = worker.app.agents.values()
    assert set(agent.channel.topics) == set(roles.BY_NAME[role].inputs)  # type: ignore[attr-defined]


def test_an_unknown_role_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="the role must be one of"):
        build(dataclasses.replace(config.load(), role="billing", state_dir=tmp_path))


@pytest.mark.parametrize("role", roles.NAMES)
def test_the_workers_web_servers_listen_on_loopback_and_only_read(
    role: str, tmp_path: Path
) -> None:
    """The API's keys guard every write; a worker's pages must be no way around them: bound
    to 127.0.0.1 unless an operator says otherwise, and every page a read (GET only)."""
    settings = dataclasses.replace(config.load(), role=role, state_dir=tmp_path)
    worker = build(settings)
    importlib.import_module(f"streams.agents.{role}").install(worker)
    assert worker.app.conf.web_bind == "127.0.0.1"
    for route, view in worker.app.web.views.items():  # type: ignore[attr-defined]
        handlers = {m for m in ("get", "post", "put", "patch", "delete") if m in vars(type(view))}
        assert handlers == {"get"}, (route, handlers)


@pytest.mark.parametrize(
    ("window_s", "segment_ms", "tombstone_ms"),
    [(45, 10_000, 45_000), (1_200, 120_000, 1_200_000), (7 * 86400, 3_600_000, 86_400_000)],
)
def test_a_changelog_rolls_and_compacts_within_a_tenth_of_the_window(
    window_s: float, segment_ms: int, tombstone_ms: int
) -> None:
    assert compaction(window_s) == {
        "segment.ms": str(segment_ms),
        "max.compaction.lag.ms": str(2 * segment_ms),
        "delete.retention.ms": str(tombstone_ms),
    }
