"""`orderflow rebuild`: the read model rebuilt from Kafka into new indices while readers keep
reading (every read during the rebuild answers 200) and orders keep flowing; afterwards the
`orders` and `customers` aliases point at the new indices alone, the documents are the same,
and new orders (and their customers' entries) land there."""

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
from tests.factories import accept_order, await_order, post_order, stock
from tests.integration.test_customers_index import await_customer

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
    # a registered customer with a completed order, settled in the customers read model
    customer_id = f"rb-{unique}"
    registered = api.post(
        "/customers", json={"customer_id": customer_id, "name": "Rae", "email": "r@example.com"}
    )
    assert registered.status_code in (200, 202), registered.text
    customer_order = _completed(api, accept_order(api, sku, customer_id, price="1.99")["order_id"])
    customer_before = await_customer(
        es,
        stack.customers_alias,
        customer_id,
        lambda d: d["status"] == "ACTIVE" and d["lifetime_value_cents"] == 199,
        "never showed its registration and completed order",
    )
    assert customer_before["last_order_at"] == customer_order["created_at"]
    old_customer_indices = set(es.indices.get_alias(name=stack.customers_alias).body)

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
    after = _completed(api, after_id)
    assert es.exists(index=new_index, id=after_id)
    assert old_indices <= set(es.indices.get(index=f"{stack.orders_index}*").body)  # kept

    # the customers alias moved with it, to an index of the same moment holding the same
    # documents; the orders placed during and after the rebuild reach its customer there
    customers_now = set(es.indices.get_alias(name=stack.customers_alias).body)
    assert len(customers_now) == 1 and customers_now.isdisjoint(old_customer_indices)
    (new_customers,) = customers_now
    assert new_customers == new_index.replace(stack.orders_index, stack.customers_index, 1)
    assert es.get(index=new_customers, id=customer_id)["_source"] == customer_before
    es.indices.refresh(index=new_index)
    rebuilders = es.count(index=new_index, query={"term": {"customer_id": "rebuilder"}})["count"]
    assert rebuilders >= 3  # before, during and after the rebuild
    rebuilder = await_customer(
        es,
        new_customers,
        "rebuilder",
        lambda d: d["order_count"] == rebuilders and d["last_order_at"] == after["created_at"],
        "does not count the orders placed before, during and after the rebuild",
    )
    assert rebuilder["status"] == "GUEST"
    assert old_customer_indices <= set(es.indices.get(index=f"{stack.customers_index}*").body)
