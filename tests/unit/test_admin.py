"""ops/admin.py's topic settings: what each topic keeps (DESIGN.md, "Over time and in
operation")."""

from __future__ import annotations

import pytest

from ops import admin
from orderflow import config
from schemas import topics

HISTORY = {
    "orders.events.v1",
    "inventory.events.v1",
    "inventory.levels.v1",
    "payments.events.v1",
    "fulfillment.events.v1",
    "notifications.events.v1",
    "customers.events.v1",
}


def test_history_and_dead_letters_keep_every_record_commands_a_window():
    wanted = admin.topic_configs(config.Settings(command_retention_s=3 * 86400.0))
    assert set(wanted) == {name for s in topics.ALL for name in (s.name, s.dlq)}
    kept = {name for name, conf in wanted.items() if conf["retention.ms"] == "-1"}
    assert kept == HISTORY | {spec.dlq for spec in topics.ALL}
    for name in set(wanted) - kept:
        assert wanted[name]["retention.ms"] == str(3 * 86400 * 1000), name
    assert all(conf["cleanup.policy"] == "delete" for conf in wanted.values())


def test_command_retention_never_below_the_idempotency_window(monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("ORDERFLOW_COMMAND_RETENTION_S", "60")
    assert config.load().command_retention_s == config.IDEMPOTENCY_WINDOW_S
