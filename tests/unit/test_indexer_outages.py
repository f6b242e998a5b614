"""The indexer (indexer/main.py) waits out what is away: an offset commit Kafka refuses (after
an outage, or a rebalance) never stops it, nor is anything committed past an unacknowledged
dead letter; an Elasticsearch that does not answer in time is asked again."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException
from elasticsearch import ConnectionTimeout

from indexer import main
from indexer.main import Indexer


class FakeConsumer:
    def __init__(self, refuse: KafkaException | None = None) -> None:
        self.refuse = refuse
        self.commits = 0

    def commit(self, asynchronous: bool) -> None:
        assert asynchronous is False
        self.commits += 1
        if self.refuse is not None:
            raise self.refuse


def _indexer(consumer: FakeConsumer, undelivered: int = 0) -> Indexer:
    indexer = Indexer.__new__(Indexer)  # no Kafka, Elasticsearch or registry behind it
    indexer.consumer = consumer  # type: ignore[assignment]
    indexer.dead_letters = SimpleNamespace(flush=lambda _timeout: undelivered)  # type: ignore[assignment]
    return indexer


def test_a_commit_refused_while_the_coordinator_loads_is_noted_not_fatal():
    refused = KafkaException(KafkaError(KafkaError.COORDINATOR_LOAD_IN_PROGRESS))
    consumer = FakeConsumer(refuse=refused)
    _indexer(consumer).commit()  # returns: the next batch's commit carries the position on
    assert consumer.commits == 1


def test_nothing_is_committed_past_a_dead_letter_kafka_has_not_acknowledged():
    consumer = FakeConsumer()
    _indexer(consumer, undelivered=1).commit()
    assert consumer.commits == 0
    _indexer(consumer, undelivered=0).commit()
    assert consumer.commits == 1


def test_an_elasticsearch_timeout_is_waited_out(monkeypatch: pytest.MonkeyPatch):
    """elastic-transport's ConnectionTimeout is not a ConnectionError: caught as one alone,
    a timeout stopped the indexer."""
    monkeypatch.setattr(main.time, "sleep", lambda _s: None)
    indexer = _indexer(FakeConsumer())
    indexer.stop = threading.Event()
    answers: list[object] = [ConnectionTimeout("timed out"), ConnectionTimeout("again"), "ok"]

    def call() -> object:
        answer = answers.pop(0)
        if isinstance(answer, Exception):
            raise answer
        return answer

    assert indexer.retry("bulk write", call) == "ok"
    assert answers == []


def test_every_outage_is_waited_out_with_the_same_doubling_waits():
    from itertools import islice

    from orderflow import retry

    assert list(islice(retry.waits(), 7)) == [0.5, 1.0, 2.0, 4.0, 8.0, 10.0, 10.0]
