"""`orderflow rebuild`: the read model rebuilt from Kafka into a new index while readers keep
reading (every read during the rebuild answers 200) and orders keep flowing; afterwards the
alias points at the new index alone, the documents are the same, and new orders land there."""

from __future__ import annotations

import subprocess
import threading
import time

import httpx
import pytest
from elasticsearch import Elasticsearch

from ops import services
from orderflow import config
from orderflow.config import REPO_ROOT
from tests.factories import await_order, post_order, stock

pytestmark = pytest.mark.stack

ORDERFLOW = REPO_ROOT / ".venv" / "bin" / "orderflow"


def _place(api: httpx.Client, sku: str) -> str:
    return post_order(api, sku, "rebuilder", price="1.99", country="DE")


def _completed(api: httpx.Client, order_id: str) -> dict:
    return await_order(
        api,
        order_id,
        lambda doc: doc["status"] == "COMPLETED" and len(doc["timeline"]) >= 15,
        "never completed with its whole timeline",
    )


def test_rebuild_into_a_new_index_without_downtime(
    stack: config.Settings, api: httpx.Client, unique: str
):
    sku = f"RB-{unique}"
    assert stock(api, sku, 10, price="1.99").status_code == 200
    before_id = _place(api, sku)
    before = _completed(api, before_id)
    es = Elasticsearch(stack.elasticsearch_url, request_timeout=30)
    old_indices = set(es.indices.get_alias(name=stack.orders_alias).body)

    reads: list[int] = []
    stop = threading.Event()

    def read_all_the_time() -> None:
        with httpx.Client(
            base_url=f"http://127.0.0.1:{stack.api_port}", timeout=10, headers=services.bearer()
        ) as client:
            while not stop.is_set():
                reads.append(client.get(f"/orders/{before_id}").status_code)
                time.sleep(0.02)

    reader = threading.Thread(target=read_all_the_time)
    reader.start()
    try:
        rebuilding = subprocess.Popen(
            [str(ORDERFLOW), "rebuild"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        during_id = _place(api, sku)  # an order that flows while the rebuild runs
        output, _ = rebuilding.communicate(timeout=600)
    finally:
        stop.set()
        reader.join()
    assert rebuilding.returncode == 0, output
    print(f"\n{output.strip()}; {len(reads)} reads during the rebuild")

    assert reads and set(reads) == {200}, f"reads during the rebuild: {sorted(set(reads))}"
    now = set(es.indices.get_alias(name=stack.orders_alias).body)
    assert len(now) == 1 and now.isdisjoint(old_indices), (old_indices, now)
    (new_index,) = now
    assert new_index.startswith(f"{stack.orders_index}-")
    assert es.get(index=new_index, id=before_id)["_source"] == before
    during = _completed(api, during_id)
    assert es.get(index=new_index, id=during_id)["_source"]["status"] == during["status"]
    after_id = _place(api, sku)  # the live indexer writes through the moved alias
    _completed(api, after_id)
    assert es.exists(index=new_index, id=after_id)
    assert old_indices <= set(es.indices.get(index=f"{stack.orders_index}*").body)  # kept
