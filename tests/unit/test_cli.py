"""`orderflow up`: a Ctrl-C while it starts leaves nothing running behind the user's back."""

from __future__ import annotations

import argparse

import pytest

from ops import cli, services


def test_an_interrupted_start_stops_what_it_started(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []

    def interrupted_up(_settings: object) -> None:
        calls.append("up")
        raise KeyboardInterrupt  # Ctrl-C while waiting for the workers to be ready

    monkeypatch.setattr(services, "up", interrupted_up)
    monkeypatch.setattr(services, "down", lambda: calls.append("down"))
    with pytest.raises(SystemExit) as exited:
        cli._up(argparse.Namespace(foreground=True))
    assert exited.value.code == 130  # as a shell reports an interrupted command
    assert calls == ["up", "down"]


def test_further_instances_of_a_role_run_the_same_worker_on_ports_of_their_own() -> None:
    from ops import services
    from orderflow import config

    settings = config.Settings()
    assert services.instance_name("inventory", 1) == "worker-inventory"
    assert services.instance_name("inventory", 3) == "worker-inventory-3"
    for name in ("worker-inventory", "worker-inventory-2", "worker-inventory-3"):
        assert services.command_of(name) == ["worker", "inventory"]
    assert services.command_of("indexer") == ["indexer"]
    first = settings.worker_port("inventory")
    ports = [services._worker_port(f"worker-inventory-{n}", settings) for n in (2, 3)]
    assert services._worker_port("worker-inventory", settings) is None  # its usual port
    assert ports == [first + 100, first + 200]
    every_first = {settings.worker_port(role) for role in ("order", "inventory", "customer")}
    assert not every_first & set(ports)  # never another role's port


def test_the_cluster_mode_sets_its_addresses_and_copies(monkeypatch: pytest.MonkeyPatch) -> None:
    from orderflow import config

    for name in (
        "ORDERFLOW_KAFKA_BOOTSTRAP",
        "ORDERFLOW_REPLICATION_FACTOR",
        "ORDERFLOW_STATE_DIR",
    ):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ORDERFLOW_MIN_INSYNC_REPLICAS", raising=False)
    monkeypatch.setenv("ORDERFLOW_BROKERS", "3")
    cluster = config.load()
    assert cluster.kafka_bootstrap == "127.0.0.1:9092,127.0.0.1:9094,127.0.0.1:9096"
    assert (cluster.replication_factor, cluster.min_insync_replicas) == (3, 2)
    assert cluster.state_dir.name == "orderflow-cluster"
    monkeypatch.setenv("ORDERFLOW_BROKERS", "1")
    single = config.load()
    assert single.kafka_bootstrap == "127.0.0.1:9092"
    assert (single.replication_factor, single.min_insync_replicas) == (1, 1)
    assert single.state_dir.name == "orderflow"
