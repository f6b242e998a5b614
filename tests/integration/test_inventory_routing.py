"""GET /inventory/{sku} with two inventory workers: Faust shares the `stock` table's
partitions between them, and a request that reaches the worker not owning a SKU is routed to
the one that does. Every SKU reads the same through either worker and through the API."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import httpx
import pytest

from ops import services
from orderflow import config
from orderflow.config import REPO_ROOT
from tests.factories import stock

pytestmark = pytest.mark.stack

SECOND_PORT = 6090


def _owners(url: str) -> dict[str, list[int]]:
    """Host -> the `stock` changelog partitions it owns, from Faust's router."""
    hosts = httpx.get(f"{url}/router/", timeout=5).json()
    return {
        host: parts
        for host, tables in hosts.items()
        for name, parts in tables.items()
        if name.endswith("-stock-changelog") and parts
    }


def test_stock_reads_are_routed_to_the_owning_worker(
    stack: config.Settings, api: httpx.Client, unique: str
):
    skus = {f"ROUTE-{unique}-{n}": 10 + n for n in range(12)}
    for sku, on_hand in skus.items():
        assert stock(api, sku, on_hand).status_code == 200

    first = stack.worker_url("inventory")
    second = f"http://127.0.0.1:{SECOND_PORT}"
    log = services.log_of("worker-inventory-2").open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "ops.cli", "worker", "inventory"],
        env={**os.environ, "ORDERFLOW_WORKER_WEB_PORT": str(SECOND_PORT)},
        cwd=REPO_ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + 120
        while True:  # both workers ready, each owning some partitions
            try:
                ready = all(
                    httpx.get(f"{url}/readyz/", timeout=2).status_code == 200
                    for url in (first, second)
                )
                owners = _owners(first) if ready else {}
            except (httpx.HTTPError, ValueError):
                ready, owners = False, {}
            if len(owners) == 2:
                break
            assert process.poll() is None, f"second worker exited: {process.returncode}"
            assert time.monotonic() < deadline, f"no shared assignment: {owners}"
            time.sleep(1)
        print(f"\nstock partitions: {owners}")

        deadline = time.monotonic() + 60
        while True:
            seen = {
                (url, sku): httpx.get(url.format(sku=sku), timeout=5, headers=services.bearer())
                for url in (
                    f"{first}/inventory/{{sku}}/",
                    f"{second}/inventory/{{sku}}/",
                    f"http://127.0.0.1:{stack.api_port}/inventory/{{sku}}",
                )
                for sku in skus
            }
            wrong = {
                key: (answer.status_code, answer.text[:100])
                for key, answer in seen.items()
                if answer.status_code != 200 or answer.json()["on_hand"] != skus[key[1]]
            }
            if not wrong or time.monotonic() > deadline:
                break
            time.sleep(1)
        assert not wrong, wrong
    finally:
        process.terminate()
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
        log.close()
