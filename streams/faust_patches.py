"""Everything OrderFlow changes inside faust-streaming, installed in one place at start-up, and
only on the version it was written for (each patch replaces a private method whose behaviour
was read in that version's source):

- streams/offsets.py: what to commit is decided by our ledger of finished records
  (`Consumer._new_offset`, the aiokafka driver's `seek_to_committed`), plus a timer that
  re-reads a partition stuck behind a record that never arrived;
- streams/changelog.py: a table write's changelog send is reported, so the shell can wait
  until Kafka acknowledged it (`Collection.send_changelog`);
- `reading` (here): sets Faust's current event (`faust.streams._current_event`) so a table
  write outside a stream's iteration goes to the right partition.
- `active_stores` (here): the RocksDB of each table partition a worker owns, read for the
  retirement sweep (streams/retirement.py);
- `_fetch_batching` (here): the worker's consumer fetches with the app's `fetch_min_bytes`
  and `fetch_max_wait_ms` (Faust passes neither setting: aiokafka's 1 byte, Faust's 1,500 ms,
  `AIOKafkaConsumerThread._create_worker_consumer`);
- `_idempotent_producer` (here): Faust's aiokafka producer writes with idempotence, so a send
  retried after a lost acknowledgement is written once (Faust turns it on only inside
  transactions: `Producer._settings_extra`).

A faust-streaming upgrade is a decision: read the new version's source for these methods,
then add it to SUPPORTED."""

from __future__ import annotations

import time
import weakref
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import faust
from faust.streams import _current_event
from faust.types import TP

from streams import changelog, offsets

SUPPORTED = ("0.15.",)


class UnsupportedFaust(SystemExit):
    pass


def check_version(version: str = faust.__version__) -> None:
    """Refuse to run on a faust-streaming these patches were not written for."""
    if not version.startswith(SUPPORTED):
        raise UnsupportedFaust(
            f"faust-streaming {version} is installed; OrderFlow's patches to it "
            f"(streams/faust_patches.py) were written for {', '.join(SUPPORTED)}x"
        )


@dataclass(frozen=True)
class Fetching:
    """How the worker's consumer fetches: the broker answers once it has `min_bytes` for the
    fetch or waited `max_wait_ms`."""

    min_bytes: int = 1
    max_wait_ms: int = 1500


_FETCHING: weakref.WeakKeyDictionary[Any, Fetching] = weakref.WeakKeyDictionary()


def install(app: faust.App, fetching: Fetching | None = None) -> None:
    """Check the version, then install every patch (once per app: the offsets guard adds a
    timer to it)."""
    check_version()
    offsets.guard(app)
    changelog.install()
    _idempotent_producer()
    _FETCHING[app] = fetching or Fetching()
    _fetch_batching()


def _fetch_batching() -> None:
    """The worker consumer of an app installed here fetches as its `Fetching` says. aiokafka
    reads both settings from the consumer when it starts its fetcher, so they are set on the
    consumer Faust made, before it starts."""
    from faust.transport.drivers import aiokafka as driver

    thread = driver.AIOKafkaConsumerThread
    if getattr(thread._create_worker_consumer, "fetching", False):
        return
    create = thread._create_worker_consumer

    def _create_worker_consumer(self: Any, transport: Any) -> Any:
        consumer = create(self, transport)
        fetching = _FETCHING.get(self.app)
        if fetching is not None:
            consumer._fetch_min_bytes = fetching.min_bytes
            consumer._fetch_max_wait_ms = fetching.max_wait_ms
        return consumer

    _create_worker_consumer.fetching = True  # type: ignore[attr-defined]
    thread._create_worker_consumer = _create_worker_consumer  # type: ignore[method-assign]


def _idempotent_producer() -> None:
    """Every producer Faust makes gets `enable_idempotence` with `acks=all` (the broker keeps
    a sequence number per producer and partition and drops a batch it already has). aiokafka
    sends one request per broker at a time either way, so the throughput is the same."""
    from faust.transport.drivers import aiokafka as driver

    if getattr(driver.Producer._settings_extra, "idempotent", False):
        return
    extra = driver.Producer._settings_extra

    def _settings_extra(self: Any) -> dict[str, Any]:
        return {**extra(self), "acks": "all", "enable_idempotence": True}

    _settings_extra.idempotent = True  # type: ignore[attr-defined]
    driver.Producer._settings_extra = _settings_extra  # type: ignore[method-assign]


@contextmanager
def reading(event: Any) -> Iterator[None]:
    """Inside it, `event` is Faust's current event: a table write goes to the RocksDB and
    changelog partition of the event's record, which Faust takes from the current event (and
    refuses to write without one). Faust holds it weakly; the caller keeps it alive."""
    token = _current_event.set(weakref.ref(event))
    try:
        yield
    finally:
        _current_event.reset(token)


class StandIn:
    """What Faust reads of its current event when a table is written: the record's topic
    and partition (for a decision the worker takes itself: streams/runtime.py,
    Shell.decide_all_here)."""

    def __init__(self, topic: str, partition: int) -> None:
        self.message = StandInRecord(topic, partition, time.time())


@dataclass(frozen=True)
class StandInRecord:
    topic: str
    partition: int
    timestamp: float  # seconds, as Faust's: a windowed table's window is the one of now

    @property
    def tp(self) -> TP:
        return TP(self.topic, self.partition)


Items = Callable[[bytes | None], Iterator[tuple[bytes, bytes]]]


def active_stores(table: Any) -> Iterator[tuple[int, Items]]:
    """Per partition of `table` this worker owns as active (not as a standby): its number and
    a function iterating its keys and stored values from a key on (None: the first), without
    Faust's own offset record (`Store._dbs`, `Store.offset_key`, as `Store._iteritems` reads
    them)."""
    store = table.data
    actives = table.app.assignor.assigned_actives()
    topic = table.changelog_topic.get_topic_name()
    for partition, db in list(store._dbs.items()):
        if TP(topic, partition) not in actives:
            continue

        def items(from_key: bytes | None, db: Any = db) -> Iterator[tuple[bytes, bytes]]:
            for key, value in db.items(from_key=from_key):
                if key != store.offset_key:
                    yield key, value

        yield partition, items
