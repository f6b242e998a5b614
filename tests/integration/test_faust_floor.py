"""The benchmark's Faust floor (ops/faust_floor.py) really runs a Faust worker over the
real broker: every record it counts was forwarded, and with a table, stored (one changelog
record each)."""

from __future__ import annotations

import time

import pytest

from ops import faust_floor
from orderflow import config
from tests.kafka_reading import partition_ends, reader

pytestmark = pytest.mark.stack


def test_the_floor_forwards_and_stores_every_record(stack: config.Settings) -> None:
    floor = faust_floor.measure(records=300, record_bytes=200, with_table=True)
    assert floor.records == 300 and floor.table
    assert floor.seconds > 0 and floor.cpu_seconds > 0
    consumer = reader(stack, "floor-check")
    try:
        written = partition_ends(consumer, [floor.sink, floor.changelog])
    finally:
        consumer.close()
        faust_floor.drop(floor)
    assert sum(end for tp, end in written.items() if tp.topic == floor.sink) == 300
    # one changelog record per write (1000 keys, so each of the 300 is its own)
    assert sum(end for tp, end in written.items() if tp.topic == floor.changelog) == 300
    # and the run leaves no topics behind (Kafka deletes them in the background)
    consumer = reader(stack, "floor-check")
    try:
        deadline = time.monotonic() + 30
        while any(floor.run_id in name for name in consumer.list_topics().topics):
            assert time.monotonic() < deadline, "the floor's topics were not deleted"
            time.sleep(0.5)
    finally:
        consumer.close()


def test_the_paced_floor_forwards_records_written_while_it_runs(stack: config.Settings) -> None:
    floor = faust_floor.measure(records=300, record_bytes=200, with_table=True, paced=100.0)
    try:
        assert floor.paced == 100.0 and floor.table
        assert floor.records == 240  # the first fifth came while the worker started: uncounted
        # 240 records written at 100/s take about 2.4 s: they trickled in, no backlog
        assert floor.seconds > 2.0 and floor.cpu_seconds > 0
        consumer = reader(stack, "floor-check")
        try:
            written = partition_ends(consumer, [floor.sink])
        finally:
            consumer.close()
        assert sum(written.values()) == 300
    finally:
        faust_floor.drop(floor)
