"""The framework's floor: what one Faust worker process does per record on this machine with
nothing of OrderFlow in it. `python -m ops.faust_floor RECORDS BYTES [--table]` writes
RECORDS records of BYTES to a fresh topic, then runs a Faust agent that forwards each one to
another topic (and, with --table, first stores it in a RocksDB table, which writes a changelog
record), and prints one JSON line: records, seconds and CPU seconds from the first record
handled to the last. `orderflow bench` runs both variants next to the broker baseline; an
agent of OrderFlow does at least this much per record, so the floor bounds orders/s from above
(BENCHMARKS.md, "What limits it").

Drained from a backlog, each of the worker's wake-ups carries many records; the pipeline's
agents get theirs a few at a time. So the floor also runs *paced* (`--paced RATE`): a second
process writes the records at RATE a second while the worker forwards them, and the CPU per
record is what a trickle at that rate costs (the bench paces it at the rate its latency run fed
the order saga)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import asdict, dataclass
from typing import Any

import faust
from confluent_kafka import Producer

from ops import admin
from orderflow import config, kafka


@dataclass
class Floor:
    run_id: str
    table: bool
    records: int
    seconds: float
    cpu_seconds: float
    paced: float = 0.0  # records/s written while the worker ran; 0: drained from a backlog

    @property
    def source(self) -> str:
        return f"bench.floor.{self.run_id}"

    @property
    def sink(self) -> str:
        return f"{self.source}.out"

    @property
    def app_id(self) -> str:
        return f"orderflow-floor-{self.run_id}"

    @property
    def changelog(self) -> str:
        return f"{self.app_id}-floor-changelog"

    @property
    def topics(self) -> list[str]:
        """Every topic the run made: its two, the table's changelog, Faust's leader topic."""
        return [self.source, self.sink, self.changelog, f"{self.app_id}-__assignor-__leader"]

    @property
    def per_s(self) -> float:
        return self.records / self.seconds if self.seconds else 0.0

    @property
    def cpu_ms_per_record(self) -> float:
        return 1000 * self.cpu_seconds / self.records if self.records else 0.0


def _create_topics(settings: config.Settings, floor: Floor) -> None:
    brief = {"retention.ms": "600000"}
    kafka.ensure_topics(
        settings.kafka_bootstrap, settings.partitions, {floor.source: brief, floor.sink: brief}
    )


def _producer(settings: config.Settings) -> Producer:
    return Producer({"bootstrap.servers": settings.kafka_bootstrap, "linger.ms": 5})


def _await_worker(floor: Floor, timeout_s: float = 60.0) -> None:
    """Until the worker's consumer group is stable (its partitions assigned), then a second
    more: records written before that would wait for it as a backlog."""
    from confluent_kafka import ConsumerGroupState
    from confluent_kafka.admin import AdminClient

    client = AdminClient({"bootstrap.servers": config.load().kafka_bootstrap})
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            group = client.describe_consumer_groups([floor.app_id])[floor.app_id].result(10)
            if group.state == ConsumerGroupState.STABLE and group.members:
                break
        except Exception:  # not there yet
            pass
        time.sleep(0.5)
    time.sleep(1.0)


def feed(floor: Floor, record_bytes: int) -> None:
    """Write the floor's records at `floor.paced` a second (over the same 1000 keys as
    admin.fill), for the worker to forward as they come."""
    producer = _producer(config.load())
    payload = os.urandom(record_bytes)
    _await_worker(floor)
    started = time.perf_counter()
    for n in range(floor.records):
        delay = started + n / floor.paced - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        producer.produce(floor.source, value=payload, key=str(n % 1000).encode())
        producer.poll(0)
    producer.flush(60)


def run(records: int, record_bytes: int, with_table: bool, floor: Floor | None = None) -> Floor:
    """Forward `records` through one Faust worker (in this process), time it. Without a
    `floor` the topic is filled first (a backlog); with one (a paced run) its topics exist
    and another process writes them meanwhile."""
    settings = config.load()
    if floor is None:
        floor = Floor(uuid.uuid4().hex[:8], with_table, records, 0.0, 0.0)
        _create_topics(settings, floor)
        admin.fill(_producer(settings), floor.source, os.urandom(record_bytes), floor.records)
    datadir = tempfile.mkdtemp(prefix="orderflow-floor-")
    app = faust.App(
        floor.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        store="rocksdb://",
        datadir=datadir,
        topic_partitions=settings.partitions,
        topic_replication_factor=1,
        consumer_auto_offset_reset="earliest",
        producer_linger_ms=settings.producer_linger_ms,
        web_enabled=False,
    )
    source = app.topic(floor.source, key_serializer="raw", value_serializer="raw")
    sink = app.topic(floor.sink, key_serializer="raw", value_serializer="raw")
    table = app.Table("floor", partitions=settings.partitions, options={"driver": "rocksdict"})
    # a paced run counts from its fifth record on: the ones written while the worker was
    # still starting came as a backlog
    skip = records // 5 if floor.paced else 0
    seen = {"n": 0, "wall": 0.0, "cpu": 0.0}
    result: list[Floor] = []
    stopping: list[asyncio.Future[None]] = []
    worker = faust.Worker(app, loglevel="WARNING", quiet=True)

    @app.agent(source)
    async def forward(stream: Any) -> None:
        async for event in stream.events():
            if seen["n"] == skip:
                seen["wall"], seen["cpu"] = time.perf_counter(), time.process_time()
            if with_table:
                table[event.key] = event.value
            await sink.send(key=event.key, value=event.value)
            seen["n"] += 1
            if seen["n"] == records:
                await app.producer.flush()
                floor.records = records - skip
                floor.seconds = time.perf_counter() - seen["wall"]
                floor.cpu_seconds = time.process_time() - seen["cpu"]
                result.append(floor)
                stopping.append(asyncio.ensure_future(worker.stop()))

    with contextlib.suppress(SystemExit):  # the worker exits the process's way when stopped
        worker.execute_from_commandline()
    shutil.rmtree(datadir, ignore_errors=True)
    if not result:
        raise RuntimeError(f"the floor's worker stopped after {seen['n']} of {records} records")
    return result[0]


def measure(
    records: int,
    record_bytes: int,
    with_table: bool,
    timeout_s: float = 300,
    paced: float = 0.0,
) -> Floor:
    """Run the floor in a process of its own (a Faust worker owns its process's event loop);
    `paced`: records/s written by a second process while it runs (0: a backlog first)."""
    args = [sys.executable, "-m", "ops.faust_floor", str(records), str(record_bytes)]
    args += ["--table"] if with_table else []
    feeder = None
    if paced:
        floor = Floor(uuid.uuid4().hex[:8], with_table, records, 0.0, 0.0, paced)
        _create_topics(config.load(), floor)
        args += ["--paced", json.dumps(asdict(floor))]
        feed_args = ["--feed", json.dumps(asdict(floor)), str(record_bytes)]
        feeder = subprocess.Popen(
            [sys.executable, "-m", "ops.faust_floor", *feed_args],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=timeout_s, check=False)
    finally:
        if feeder is not None:
            feeder.kill()
            feeder.wait()
    # Faust's worker writes terminal control codes ahead of the line
    lines = [line[line.index("{") :] for line in done.stdout.splitlines() if '{"' in line]
    if done.returncode != 0 or not lines:
        raise RuntimeError(f"the Faust floor failed ({done.returncode}): {done.stderr[-2000:]}")
    return Floor(**json.loads(lines[-1]))


def drop(floor: Floor) -> None:
    """Delete the run's topics and consumer group (each run makes its own)."""
    from confluent_kafka.admin import AdminClient

    client = AdminClient({"bootstrap.servers": config.load().kafka_bootstrap})
    for future in client.delete_topics(floor.topics).values():
        with contextlib.suppress(Exception):  # already gone, or never made: nothing to drop
            future.result()
    for future in client.delete_consumer_groups([floor.app_id]).values():
        with contextlib.suppress(Exception):
            future.result()


def main() -> None:
    if sys.argv[1] == "--feed":
        feed(Floor(**json.loads(sys.argv[2])), int(sys.argv[3]))
        return
    records, record_bytes, options = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3:]
    paced = (
        Floor(**json.loads(options[options.index("--paced") + 1])) if "--paced" in options else None
    )
    floor = run(records, record_bytes, "--table" in options, paced)
    print(json.dumps(asdict(floor)), flush=True)


if __name__ == "__main__":
    main()
