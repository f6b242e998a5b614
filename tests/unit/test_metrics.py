"""The Prometheus series (orderflow/metrics.py), counted where they are counted: the shell
of every agent, the API's request middleware, the readiness checks. No Kafka, no network
beyond a refused local port."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator
from functools import partial
from types import SimpleNamespace
from typing import Any

import pytest
from fastapi.testclient import TestClient
from faust.types import TP
from prometheus_client import REGISTRY

from orderflow import health, metrics
from schemas.events import Message
from streams.offsets import Ledger
from streams.runtime import Shell
from tests.factories import place_order, reply
from tests.unit.conftest import EVERY_SCOPE, VALID, configure_keys, read_model_holds

TP0 = TP("orders.commands.v1", 3)


def value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


# --- pure parts ------------------------------------------------------------------------------
def test_terminal_order_events_are_outcomes_and_nothing_else_is():
    assert metrics.saga_outcome("OrderCompleted", {"order_id": "o"}) == "COMPLETED"
    assert (
        metrics.saga_outcome("OrderCancelled", {"reason": "OUT_OF_STOCK"})
        == "CANCELLED:OUT_OF_STOCK"
    )
    assert metrics.saga_outcome("OrderConfirmed", {"reason": "x"}) is None


def test_event_type_is_read_from_the_headers_in_either_shape():
    headers = [("correlation_id", b"c"), ("event_type", b"PlaceOrder")]
    assert metrics.header(headers, "event_type") == "PlaceOrder"
    assert metrics.header(dict(headers), "event_type") == "PlaceOrder"
    assert metrics.header([("correlation_id", b"c")], "event_type") == ""
    assert metrics.header(None, "event_type") == ""


def test_lag_is_highwater_minus_frontier_and_unknown_without_either():
    ledger = Ledger()
    assert ledger.lag(TP0, 10) is None  # never started
    ledger.start(TP0, 4)
    assert ledger.lag(TP0, None) is None  # not fetched yet
    assert ledger.lag(TP0, 10) == 6
    for offset in (4, 5, 7):  # 6 is not finished: the frontier stays at 6
        ledger.done(TP0, offset)
    assert ledger.lag(TP0, 10) == 4
    assert ledger.lag(TP0, 3) == 0  # never negative


def test_lag_is_read_when_scraped():
    readings: list[metrics.LagReading] = [("orders.commands.v1", 3, 7)]
    collector = metrics.LagCollector(lambda: iter(readings))
    [family] = collector.collect()
    assert [(s.labels, s.value) for s in family.samples] == [
        ({"topic": "orders.commands.v1", "partition": "3"}, 7)
    ]
    readings[0] = ("orders.commands.v1", 3, 0)
    [family] = collector.collect()
    assert family.samples[0].value == 0


# --- the shell of every agent ----------------------------------------------------------------
class FakeStream:
    """What Shell.each_batch reads of a Faust stream: its prefix (the agent's name) and events."""

    def __init__(self, prefix: str, offsets: list[int], event_type: str) -> None:
        self.prefix = prefix
        self.records = [
            SimpleNamespace(
                message=SimpleNamespace(
                    tp=TP0,
                    topic=TP0.topic,
                    partition=TP0.partition,
                    offset=o,
                    headers=[("event_type", event_type.encode())],
                )
            )
            for o in offsets
        ]

    async def events(self) -> AsyncIterator[Any]:
        for record in self.records:
            yield record


def test_a_record_counts_as_processed_once_the_agent_finished_it():
    ledger = Ledger()
    ledger.start(TP0, 0)
    shell = Shell(SimpleNamespace(), SimpleNamespace(), "orderflow-test", ledger, partitions=6)  # type: ignore[arg-type]
    agent_name, kind = "metrics_test_agent", "MetricsTestEvent"
    processed = {"agent": agent_name, "event_type": kind}

    async def handle(batch: list[Any], fail_at: int | None = None) -> None:
        assert value("orderflow_events_processed_total", **processed) == batch[0].message.offset
        for event in batch:
            if event.message.offset == fail_at:
                raise RuntimeError("crashed mid-record")
            await asyncio.sleep(0.002)

    def agent(offsets: list[int], fail_at: int | None = None) -> None:
        stream = FakeStream(f"streams.agents.test.{agent_name}", offsets, kind)
        asyncio.run(shell.each_batch(stream, partial(handle, fail_at=fail_at)))  # type: ignore[arg-type]

    agent([0, 1])
    assert value("orderflow_events_processed_total", **processed) == 2
    assert value("orderflow_processing_seconds_count", agent=agent_name) == 2
    assert value("orderflow_processing_seconds_sum", agent=agent_name) >= 0.004
    # the time measured is the agent's: its 2 ms per record put each one above 1 ms
    assert value("orderflow_processing_seconds_bucket", agent=agent_name, le="0.001") == 0

    agent([2], fail_at=2)  # the batch failed: logged, and its record not finished
    assert value("orderflow_events_processed_total", **processed) == 2
    assert ledger.frontier[TP0] == 2


class FakeTopic:
    def __init__(self, sent: list[bytes]) -> None:
        self.sent = sent

    async def send(self, **record: Any) -> asyncio.Future[None]:
        self.sent.append(record["value"])
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        done.set_result(None)
        return done


def _shell_sending_to(sent: list[bytes]) -> Shell:
    app = SimpleNamespace(topic=lambda *_, **__: FakeTopic(sent))
    codec = SimpleNamespace(encode=lambda message: message.type.encode())
    return Shell(app, codec, "orderflow-test", Ledger(), partitions=6)  # type: ignore[arg-type]


def test_saga_outcomes_count_the_terminal_events_sent():
    placed = place_order()
    completed = reply(placed, "OrderCompleted", "orders.events.v1", order_id=placed.key)
    cancelled = reply(
        placed, "OrderCancelled", "orders.events.v1", order_id=placed.key, reason="FRAUD_SUSPECTED"
    )
    confirmed = reply(placed, "OrderConfirmed", "orders.events.v1", order_id=placed.key)
    before = {
        o: value("orderflow_saga_outcomes_total", outcome=o)
        for o in ("COMPLETED", "CANCELLED:FRAUD_SUSPECTED")
    }
    sent: list[bytes] = []
    outputs: list[Message] = [confirmed, completed, cancelled]
    asyncio.run(_shell_sending_to(sent).send_all(outputs))
    assert sent == [b"OrderConfirmed", b"OrderCompleted", b"OrderCancelled"]
    assert value("orderflow_saga_outcomes_total", outcome="COMPLETED") == before["COMPLETED"] + 1
    assert (
        value("orderflow_saga_outcomes_total", outcome="CANCELLED:FRAUD_SUSPECTED")
        == before["CANCELLED:FRAUD_SUSPECTED"] + 1
    )


def test_a_dead_letter_is_counted_by_consumer_topic_and_reason():
    labels = {"consumer": "orderflow-test", "topic": "orders.commands.v1", "reason": "bad-bytes"}
    before = value("orderflow_dead_letters_total", **labels)
    record = SimpleNamespace(
        message=SimpleNamespace(
            topic="orders.commands.v1", partition=3, offset=9, key=b"k", value=b"\x00", headers=[]
        )
    )
    sent: list[bytes] = []
    asyncio.run(_shell_sending_to(sent).dead_letter(record, "bad-bytes", "garbled"))  # type: ignore[arg-type]
    assert sent == [b"\x00"]
    assert value("orderflow_dead_letters_total", **labels) == before + 1


# --- the API ---------------------------------------------------------------------------------
@pytest.fixture
def api_client(tmp_path, monkeypatch):
    """The API with nothing to talk to: publishing is recorded, every server is a refused
    local port."""
    monkeypatch.setenv("ORDERFLOW_STATE_DIR", str(tmp_path))
    monkeypatch.setenv("ORDERFLOW_KAFKA_BOOTSTRAP", "127.0.0.1:1")
    monkeypatch.setenv("ORDERFLOW_REGISTRY_URL", "http://127.0.0.1:1/apis/ccompat/v7")
    monkeypatch.setenv("ORDERFLOW_ES_URL", "http://127.0.0.1:1")
    from api import app as api_app

    async def record(self, message: Message) -> None:
        pass

    monkeypatch.setattr(api_app.Services, "publish", record)
    configure_keys(monkeypatch, tmp_path)
    with TestClient(api_app.app, headers=EVERY_SCOPE) as client:
        yield client


def test_requests_are_counted_by_route_template_never_the_raw_path(api_client):
    post = {"method": "POST", "route": "/orders", "status": "202"}
    by_id = {"method": "GET", "route": "/orders/{order_id}", "status": "422"}
    nowhere = {"method": "GET", "route": metrics.UNMATCHED_ROUTE, "status": "404"}
    before = {
        "post": value("orderflow_http_requests_total", **post),
        "by_id": value("orderflow_http_requests_total", **by_id),
        "nowhere": value("orderflow_http_requests_total", **nowhere),
        "accepted": value("orderflow_orders_accepted_total"),
        "timed": value("orderflow_http_request_seconds_count", method="POST", route="/orders"),
    }
    assert api_client.post("/orders", json=VALID).status_code == 202
    assert api_client.get("/orders/some-id", params={"wait_for": "NOPE"}).status_code == 422
    assert api_client.get("/no/such/path").status_code == 404

    assert value("orderflow_http_requests_total", **post) == before["post"] + 1
    assert value("orderflow_http_requests_total", **by_id) == before["by_id"] + 1
    assert value("orderflow_http_requests_total", **nowhere) == before["nowhere"] + 1
    assert value("orderflow_orders_accepted_total") == before["accepted"] + 1
    timed = value("orderflow_http_request_seconds_count", method="POST", route="/orders")
    assert timed == before["timed"] + 1

    scraped = api_client.get("/metrics")
    assert scraped.status_code == 200
    assert scraped.headers["content-type"].startswith("text/plain")
    assert 'route="/orders/{order_id}"' in scraped.text
    assert "/orders/some-id" not in scraped.text


def test_an_idempotent_repeat_is_not_a_second_accepted_order(api_client, monkeypatch):
    read_model_holds(monkeypatch, {})
    before = value("orderflow_orders_accepted_total")
    for _ in range(2):
        answer = api_client.post("/orders", json=VALID, headers={"Idempotency-Key": "k-1"})
        assert answer.status_code == 202
    assert value("orderflow_orders_accepted_total") == before + 1


def test_not_ready_while_the_servers_do_not_answer_and_says_which(api_client):
    started = time.monotonic()
    answer = api_client.get("/readyz")
    assert time.monotonic() - started < 3
    assert answer.status_code == 503
    body = answer.json()
    assert body["ready"] is False
    assert set(body["dependencies"]) == {"kafka", "schema_registry", "elasticsearch"}
    assert all(state.startswith("down") for state in body["dependencies"].values()), body
    assert api_client.get("/healthz").status_code == 200  # alive all the same


# --- readiness checks ------------------------------------------------------------------------
def test_checks_run_concurrently_and_a_slow_one_is_cut_short():
    async def answers_after(seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def refuses() -> None:
        raise ConnectionRefusedError("refused")

    async def run() -> dict[str, str]:
        return await health.states(
            {
                "fast": answers_after(0.01),
                "slow": answers_after(10),
                "refusing": refuses(),
                "also_fast": answers_after(0.01),
            }
        )

    started = time.monotonic()
    found = asyncio.run(run())
    assert time.monotonic() - started < health.TIMEOUT_S + 0.5
    assert found["fast"] == found["also_fast"] == health.UP
    assert found["slow"].startswith("down: no answer")
    assert "refused" in found["refusing"]
    assert not health.ready(found)
    assert health.ready({"fast": health.UP})
