"""The workers refuse a faust-streaming their patches were not written for, and their Kafka
producer writes with idempotence."""

from __future__ import annotations

import asyncio

import faust
import pytest

from streams import faust_patches


def test_the_installed_faust_is_one_the_patches_were_written_for() -> None:
    faust_patches.check_version(faust.__version__)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.0.0"])
def test_another_faust_is_refused_naming_both_versions(version: str) -> None:
    with pytest.raises(faust_patches.UnsupportedFaust, match=f"faust-streaming {version} is"):
        faust_patches.check_version(version)


def test_a_workers_kafka_producer_is_idempotent_and_waits_for_every_in_sync_replica() -> None:
    # the producer patch alone: build() would also install the consumer patches, which
    # tests/unit/test_offsets.py compares against Faust's own
    faust_patches._idempotent_producer()
    app = faust.App("producer-test", broker="kafka://127.0.0.1:1")

    async def made() -> tuple[object, object]:
        producer = app.producer._new_producer()  # type: ignore[attr-defined]
        return producer._txn_manager, producer._sender._acks

    manager, acks = asyncio.run(made())
    assert manager is not None  # aiokafka keeps sequence numbers only when idempotent
    assert acks == -1  # all


def test_a_workers_kafka_consumer_fetches_as_its_app_says() -> None:
    # the fetch patch alone, for the reason above
    faust_patches._fetch_batching()
    app = faust.App("fetch-test", broker="kafka://127.0.0.1:1")
    faust_patches._FETCHING[app] = faust_patches.Fetching(min_bytes=4096, max_wait_ms=25)
    other = faust.App("fetch-default-test", broker="kafka://127.0.0.1:1")  # not installed

    async def made(of: faust.App) -> tuple[int, int]:
        thread = of.consumer._thread  # type: ignore[attr-defined]
        consumer = thread._create_worker_consumer(of.transport)
        return consumer._fetch_min_bytes, consumer._fetch_max_wait_ms

    assert asyncio.run(made(app)) == (4096, 25)
    assert asyncio.run(made(other)) == (1, 1500)  # Faust's own: 1 byte, 1.5 s
