"""The test session's real stack: Kafka, the registry and Elasticsearch (infra/stack.sh) plus
OrderFlow's own worker, indexer and API, started once per session and stopped afterwards if
this session started them. Under CI=true a test that needs the stack fails when the stack
cannot be had; elsewhere it is skipped with the reason."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from ops import admin, services
from orderflow import config

SERVER_PORTS = {"kafka": 9092, "registry": 8081, "elasticsearch": 9200}
# The cluster's other two nodes (ORDERFLOW_BROKERS=3, infra/stack.sh).
CLUSTER_PORTS = {"kafka-2": 9094, "kafka-3": 9096}
# tests/cluster needs the local Kafka cluster: its own session, `make cluster` (ORDERFLOW_BROKERS=3)
collect_ignore = [] if config.load().brokers == 3 else ["cluster"]
# The simulated carrier and gateway retries, near zero for tests; shipping waits long enough
# for a test to cancel a confirmed order before it leaves the warehouse.
FAST = {
    "ORDERFLOW_SHIP_DELAY_S": "3",
    "ORDERFLOW_DELIVER_DELAY_S": "0.3",
    "ORDERFLOW_CARRIER_TICK_S": "0.1",
    "ORDERFLOW_PAYMENT_BACKOFF_S": "0.2",
    # the email cooldown, long enough for a test to meet it, short enough to wait out
    "ORDERFLOW_EMAIL_COOLDOWN_S": "3",
    # finished orders leave the agents' tables this long after they ended (test_retirement),
    # longer than any delay the crash test's kills put on a creating command (older ones are
    # refused, and their orders never end): on a 2-core machine with 17-19 % steal those
    # delays reached 70 s (2026-12-07: a window of 45 s failed the crash test, 60-67 orders
    # dead-lettered too-old, on the session's start and on its end alike)
    "ORDERFLOW_RETIRE_AFTER_S": "120",
    # a line per record decided, to follow an order through the logs (test_correlation)
    "ORDERFLOW_LOG_LEVEL": "DEBUG",
}


# Kafka, whenever the tests start it, looks for expired segments every few seconds, so a test
# sees its retention act (tests/integration/test_history_kept.py).
RETENTION_CHECK_MS = os.environ.setdefault("ORDERFLOW_KAFKA_RETENTION_CHECK_MS", "5000")


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the real stack is required under CI=true: {reason}", pytrace=False)
    pytest.skip(f"real stack unavailable: {reason}")


@pytest.fixture(scope="session")
def stack() -> Iterator[config.Settings]:
    settings = config.load()
    ports = {**SERVER_PORTS, **(CLUSTER_PORTS if settings.brokers == 3 else {})}
    servers_were_up = all(_listening(port) for port in ports.values())
    if settings.brokers == 3 and _listening(9092) and not _listening(9094):
        _unavailable("a single-broker stack is running; `make down` before the cluster's tests")
    started: list[str] = []
    try:
        if not servers_were_up:
            services.stack("up")
        admin.init(settings)
        services.development_key(settings)
        for name in services.NAMES:
            if services.pid_of(name) is None:
                services.start(name, env=FAST)
                started.append(name)
        services.wait_ready(settings)
    except (subprocess.CalledProcessError, RuntimeError, OSError) as exc:
        services.stop(*started)
        _unavailable(str(exc))
    yield settings
    services.stop(*started)
    if not servers_were_up:
        services.stack("down")


@pytest.fixture(scope="session")
def api(stack: config.Settings) -> Iterator[httpx.Client]:
    with httpx.Client(
        base_url=f"http://127.0.0.1:{stack.api_port}", timeout=60, headers=services.bearer()
    ) as client:
        yield client


@pytest.fixture
def unique() -> str:
    """A suffix that keeps this test's SKUs and customers apart from every other run's."""
    return uuid.uuid4().hex[:10].upper()


# --- what the services said while a test failed ----------------------------------------------
LOG_MARK = pytest.StashKey[dict[str, int]]()
ERROR_SIGNS = ("Traceback", '"level": "error"', '"level": "critical"', "Error:", "ERROR:")


def pytest_terminal_summary(terminalreporter: Any) -> None:
    """The Schemathesis run's totals, when it ran."""
    fuzzed = sys.modules.get("tests.integration.test_api_schema")
    if fuzzed is not None and fuzzed.TOTALS:
        terminalreporter.write_line(fuzzed.summary())


def pytest_runtest_setup(item: pytest.Item) -> None:
    """Note where each service's log ends when a test starts."""
    sizes = {}
    for name in services.NAMES:
        log = services.log_of(name)
        sizes[name] = log.stat().st_size if log.exists() else 0
    item.stash[LOG_MARK] = sizes


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """A failed test that used the stack reports the errors its services logged meanwhile, so
    a CI log shows the server-side cause (an API 500's traceback) and not only the symptom."""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if (
        report.when != "call"
        or not report.failed
        or "stack" not in getattr(item, "fixturenames", ())
    ):
        return
    for name, start in item.stash.get(LOG_MARK, {}).items():
        lines = _error_lines(services.log_of(name), start)
        if lines:
            report.sections.append((f"{name} log: errors during the test", "\n".join(lines)))


def _error_lines(log: Path, start: int, limit: int = 60) -> list[str]:
    """Lines from `start` on that look like an error, each traceback whole (to `limit`)."""
    try:
        with log.open("rb") as f:
            f.seek(start)
            text = f.read().decode(errors="replace")
    except OSError:
        return []
    found: list[str] = []
    in_traceback = False
    for line in text.splitlines():
        if line.startswith("Traceback"):
            in_traceback = True
        elif in_traceback and not line.startswith((" ", "\t")):
            in_traceback = False
            found.append(line[:2000])  # the exception line that ends it
            continue
        if in_traceback or any(sign in line for sign in ERROR_SIGNS):
            found.append(line[:2000])
    return found[-limit:]
