"""The workers refuse a faust-streaming their patches were not written for, and their Kafka
producer writes with idempotence."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import faust
import pytest

from orderflow import config
from streams import faust_patches
from streams.app import build


def test_the_installed_faust_is_one_the_patches_were_written_for() -> None:
    faust_patches.check_version(faust.__version__)


@pytest.mark.parametrize("version", ["0.16.0", "0.14.9", "1.0.0"])
def test_another_faust_is_refused_naming_both_versions(version: str) -> None:
    with pytest.raises(faust_patches.UnsupportedFaust, match=f"faust-streaming {version} is"):
        faust_patches.check_version(version)


def test_a_workers_kafka_producer_is_idempotent_and_waits_for_every_in_sync_replica(
    tmp_path: Path,
) -> None:
    worker = build(dataclasses.replace(config.load(), role="inventory", state_dir=tmp_path))

    async def made() -> tuple[object, object]:
        producer = worker.app.producer._new_producer()  # type: ignore[attr-defined]
        return producer._txn_manager, producer._sender._acks

    manager, acks = asyncio.run(made())
    assert manager is not None  # aiokafka keeps sequence numbers only when idempotent
    assert acks == -1  # all
