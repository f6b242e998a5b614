"""The tests' reader of partition ends asks again while a partition's leadership moves: the
fresh-clone CI once failed the broker-kill test on a NOT_LEADER_FOR_PARTITION that librdkafka
does not flag as retriable."""

from __future__ import annotations

import pytest
from confluent_kafka import KafkaError, KafkaException, TopicPartition

from tests import kafka_reading


class _MovingLeader:
    """A consumer whose watermark lookup fails `failures` times, then answers."""

    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.asked = 0

    def get_watermark_offsets(self, _tp: TopicPartition, timeout: float) -> tuple[int, int]:
        self.asked += 1
        if self.asked <= self.failures:
            raise KafkaException(KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION))
        return 0, 42


@pytest.fixture
def no_sleep(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(kafka_reading.time, "sleep", lambda _s: None)


def test_not_leader_is_not_flagged_retriable_by_librdkafka():
    assert not KafkaError(KafkaError.NOT_LEADER_FOR_PARTITION).retriable()


def test_a_partition_whose_leader_moves_is_asked_again(no_sleep: None):
    consumer = _MovingLeader(failures=2)
    assert kafka_reading._end(consumer, TopicPartition("t", 0)) == 42  # type: ignore[arg-type]
    assert consumer.asked == 3


def test_an_error_that_lasts_past_the_deadline_is_raised(
    no_sleep: None, monkeypatch: pytest.MonkeyPatch
):
    clock = iter(range(0, 1000, 10))
    monkeypatch.setattr(kafka_reading.time, "monotonic", lambda: next(clock))
    consumer = _MovingLeader(failures=1000)
    with pytest.raises(KafkaException):
        kafka_reading._end(consumer, TopicPartition("t", 0))  # type: ignore[arg-type]
    assert consumer.asked == 4  # failures seen at 10, 20, 30 s are asked again; at 40 s, raised
