"""Where partitions end is asked again while a partition's leadership moves, by the tests'
reader (tests/kafka_reading.py) and by the indexer's replay (`orderflow rebuild`). The
fresh-clone CI once failed the broker-kill test on a NOT_LEADER_FOR_PARTITION that librdkafka
does not flag as retriable."""

from __future__ import annotations

import threading
from types import SimpleNamespace

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from indexer.main import TOPICS, Indexer
from orderflow import kafka
from tests import kafka_reading


class _MovingLeader:
    """A consumer of topics of two partitions whose watermark lookups fail `failures` times
    in all, then answer (3, 42)."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.asked = 0

    def list_topics(self, timeout: float) -> SimpleNamespace:
        two = SimpleNamespace(partitions={0: None, 1: None})
        return SimpleNamespace(topics=_Every(two))

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.asked <= self.failures:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return 3, 42

    def assign(self, _partitions: list[TopicPartition]) -> None:
        pass


class _Every(dict):
    """Topic metadata holding every topic asked for."""

    def __init__(self, metadata: SimpleNamespace) -> None:
        super().__init__()
        self.metadata = metadata

    def __contains__(self, _name: object) -> bool:
        return True

    def __getitem__(self, _name: str) -> SimpleNamespace:
        return self.metadata


@pytest.fixture(autouse=True)
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka.time, "sleep", lambda _s: None)


def test_not_leader_is_not_flagged_retriable_by_librdkafka():
    assert not KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION).retriable()


def test_the_tests_reader_asks_a_partition_whose_leader_moves_again():
    consumer = _MovingLeader(failures=2)
    ends = kafka_reading.partition_ends(consumer, ["t"])  # type: ignore[arg-type]
    assert ends == {TopicPartition("t", 0): 42, TopicPartition("t", 1): 42}
    assert consumer.asked == 4


def test_the_indexers_replay_asks_a_partition_whose_leader_moves_again():
    consumer = _MovingLeader(failures=2)
    indexer = Indexer.__new__(Indexer)  # no Kafka, Elasticsearch or registry behind it
    indexer.consumer = consumer  # type: ignore[assignment]
    indexer.stop = threading.Event()
    every = {(spec.name, p): 42 for spec in TOPICS for p in (0, 1)}
    assert indexer.replay(starts=every) == every  # from the ends: nothing to fold
    assert consumer.asked == 2 + 2 * len(TOPICS)


def test_an_error_that_lasts_past_the_deadline_is_raised(monkeypatch: pytest.MonkeyPatch):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(kafka.time, "monotonic", lambda: next(clock))
    consumer = _MovingLeader(failures=1000)
    with pytest.raises(RuntimeError, match="NOT_LEADER_FOR_PARTITION"):
        kafka_reading.partition_ends(consumer, ["t"])  # type: ignore[arg-type]
    assert consumer.asked == 4  # failures seen at 10, 20, 30 s are asked again; at 40 s, raised


def test_a_created_topic_counts_as_there_once_listed_with_every_partition_led():
    def admin(*leaders: int) -> SimpleNamespace:
        parts = {n: SimpleNamespace(leader=leader) for n, leader in enumerate(leaders)}
        meta = SimpleNamespace(partitions=parts, error=None)
        return SimpleNamespace(list_topics=lambda timeout: SimpleNamespace(topics={"t": meta}))

    kafka._listed(admin(1, 1, 2), ["t"], 3)  # there
    for waiting in (admin(1, -1, 2), admin(1, 1)):  # a partition without a leader, or missing
        with pytest.raises(RuntimeError):
            kafka._listed(waiting, ["t"], 3)
    with pytest.raises(RuntimeError):
        kafka._listed(admin(1, 1, 1), ["other"], 3)  # not listed at all
