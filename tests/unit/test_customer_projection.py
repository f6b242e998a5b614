"""The customers read model (indexer/customers.py): a customer's events fold to the same
document whatever their order or repetition, its figures come from the orders index's
aggregation; and the indexer's write (indexer/main.py) asks for the figures after the order
documents are written, against an in-memory Elasticsearch with optimistic concurrency, so
the document is the same size after 5 orders or 500."""

from __future__ import annotations

import copy
import itertools
import json
import time
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

import pytest

from indexer.customers import (
    GUEST,
    CustomerChange,
    Figures,
    customer_changes,
    figures_of,
    figures_query,
    project_customer,
)
from indexer.index import DAY_MS, EventIndices
from indexer.main import Indexer
from indexer.projection import amount, event_document, project, timeline_entry
from schemas import topics
from schemas.events import Envelope, Message, derive_id
from tests.factories import NOW

ISO_NOW = "2023-11-14T22:13:20.000+00:00"  # NOW


def _event(event_type: str, at: int, key: str = "alice", **data: Any) -> Message:
    """A customer event as the customer agent sends it, `at` ms after NOW."""
    envelope = Envelope(
        event_id=derive_id(key, event_type, str(at)),
        event_type=event_type,
        occurred_at=NOW + at,
        correlation_id=f"corr-{at}",
        causation_id=None,
        producer="customer-agent",
    )
    return Message(topics.CUSTOMERS_EVENTS.name, key, envelope, {"customer_id": key, **data})


def _registered(at: int = 0, key: str = "alice") -> Message:
    return _event(
        "CustomerRegistered",
        at,
        key,
        name="Alice Liddell",
        email="alice@example.com",
        phone="+31201234567",
    )


def _customer_events() -> list[Message]:
    return [
        _registered(0),
        _event("CustomerEmailChanged", 10, old_email="alice@example.com", new_email="a@x.org"),
        _event("CustomerDeactivated", 20, reason="asked to"),
        _event("CustomerReactivated", 30),
        _event("CustomerDeactivated", 40, reason=None),
    ]


def _at(second: int) -> str:
    return f"2023-11-14T22:13:2{second}.000+00:00"


# --- the customer's own events ---------------------------------------------------------------


def test_registration_gives_the_profile_of_record():
    doc = project_customer("alice", None, [_registered()])
    assert doc["customer_id"] == "alice" and doc["status"] == "ACTIVE"
    assert (doc["name"], doc["email"], doc["phone"]) == (
        "Alice Liddell",
        "alice@example.com",
        "+31201234567",
    )
    assert doc["registered_at"] == doc["updated_at"] == ISO_NOW
    assert doc["order_count"] == 0 and doc["last_order_at"] is None
    assert doc["lifetime_value_cents"] == 0 and doc["lifetime_value"] == "0.00"
    assert doc["lifetime_value_by_currency"] == [] and "orders" not in doc


def test_every_customer_event_is_in_the_timeline_and_shapes_the_profile():
    events = _customer_events()
    doc = project_customer("alice", None, events)
    assert [e["event_type"] for e in doc["timeline"]] == [m.type for m in events]
    assert doc["timeline"][1] == timeline_entry(events[1])  # the order documents' entry shape
    assert doc["email"] == "a@x.org" and doc["status"] == "INACTIVE"
    assert doc["registered_at"] == ISO_NOW
    assert doc["updated_at"] == "2023-11-14T22:13:20.040+00:00"
    reactivated = project_customer("alice", None, events[:4])
    assert reactivated["status"] == "ACTIVE"
    deactivated = project_customer("alice", None, events[:3])
    assert deactivated["status"] == "INACTIVE" and deactivated["email"] == "a@x.org"


def test_the_last_email_change_wins_even_over_a_registration_stamped_later():
    """A partition moved to a worker whose clock is behind: the registration's occurred_at
    may come after a change's. The change is still the email of record."""
    changed = _event("CustomerEmailChanged", 0, old_email="alice@example.com", new_email="n@x.org")
    doc = project_customer("alice", None, [changed, _registered(5)])
    assert doc["email"] == "n@x.org"


def test_customer_events_in_any_order_and_repetition_give_the_same_document():
    events = _customer_events()
    expected = project_customer("alice", None, events)
    for permutation in itertools.permutations(events):
        doc = None
        for event in permutation:  # one event per batch, each batch re-reading the doc
            doc = project_customer("alice", doc, [event])
        doc = project_customer("alice", doc, list(permutation))  # and a full replay on top
        assert doc == expected


# --- its figures ----------------------------------------------------------------------------


def test_a_customer_seen_only_on_orders_is_a_guest_until_registered():
    guest = project_customer("bob", None, figures=Figures(1, {}, _at(1)))
    assert guest["status"] == GUEST and guest["name"] is None and guest["email"] is None
    assert guest["order_count"] == 1 and guest["registered_at"] is None
    assert guest["updated_at"] == guest["last_order_at"] == _at(1)
    registered = project_customer("bob", guest, [_registered(30_000, key="bob")])
    assert registered["status"] == "ACTIVE" and registered["name"] == "Alice Liddell"
    assert registered["order_count"] == 1  # no figures given: the document's stay
    assert registered["updated_at"] == registered["registered_at"]  # later than the order


def test_currencies_are_summed_and_also_kept_apart():
    figures = Figures(3, {"USD": 500, "EUR": 1001}, _at(3))
    doc = project_customer("alice", None, figures=figures)
    assert doc["lifetime_value_cents"] == 1501 and doc["lifetime_value"] == "15.01"
    assert doc["lifetime_value_by_currency"] == [
        {"currency": "EUR", "value_cents": 1001, "value": "10.01"},
        {"currency": "USD", "value_cents": 500, "value": "5.00"},
    ]


def _bucket(customer_id: str, count: int, latest: str, cents: dict[str, float]) -> dict:
    """A bucket of the answer to figures_query, in the shape Elasticsearch 8.19 gives."""
    return {
        "key": customer_id,
        "doc_count": count,
        "latest": {"hits": {"hits": [{"_source": {"created_at": latest}, "sort": [0]}]}},
        "completed": {
            "doc_count": len(cents),
            "currencies": {
                "buckets": [
                    {"key": c, "doc_count": 1, "cents": {"value": v}} for c, v in cents.items()
                ]
            },
        },
    }


def test_the_figures_are_read_from_the_aggregation_and_a_customer_without_orders_has_none():
    query = figures_query({"bob", "alice"})
    assert query["size"] == 0 and query["query"] == {"terms": {"customer_id": ["alice", "bob"]}}
    buckets = [_bucket("alice", 4, _at(4), {"EUR": 1249.0})]
    answer = {"aggregations": {"customers": {"buckets": buckets}}}
    assert figures_of(answer) == {"alice": Figures(4, {"EUR": 1249}, _at(4))}


def test_figures_and_customer_events_in_any_order_and_repetition_converge():
    """Batches may fold in any order, or again: the events are a set, and each batch carries
    the figures the orders index had after it (the last batch's are the latest)."""
    steps: list[list[Message]] = [[_registered()], [], [_event("CustomerDeactivated", 9_000)]]
    latest = Figures(3, {"EUR": 1050}, _at(3))
    expected = None
    for permutation in itertools.permutations(steps):
        doc = None
        for messages in permutation:
            doc = project_customer("alice", doc, messages, Figures(1, {}, _at(1)))
        doc = project_customer("alice", doc, list(permutation[0]), latest)
        expected = expected or doc
        assert doc == expected
    assert expected is not None
    assert expected["status"] == "INACTIVE" and expected["order_count"] == 3
    assert expected["lifetime_value_cents"] == 1050 and expected["last_order_at"] == _at(3)


# --- entries from order documents ------------------------------------------------------------


def _order_events(order_id: str, customer_id: str, *steps: str) -> list[Message]:
    """OrderPlaced (10.50 EUR) and then events of `steps`, one millisecond apart."""
    placed = Message(
        topics.ORDERS_EVENTS.name,
        order_id,
        Envelope(derive_id(order_id, "placed"), "OrderPlaced", NOW, "corr", None, "order-agent"),
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "customer_email": f"{customer_id}@example.com",
            "currency": "EUR",
            "items": [{"sku": "A", "quantity": 1, "unit_price": Decimal("10.50")}],
            "shipping_address": {"country": "NL", "city": None, "postal_code": None, "line1": None},
            "payment_method": "card",
            "payment_scenario": "approve",
            "total_amount": Decimal("10.50"),
        },
    )
    later = [
        placed.caused(
            step, topics.ORDERS_EVENTS.name, order_id, {"order_id": order_id}, "t", NOW + n
        )
        for n, step in enumerate(steps, start=1)
    ]
    return [placed, *later]


def test_the_customers_of_a_batch_are_those_its_order_documents_name_and_its_events_own():
    events = _order_events("o1", "alice", "OrderConfirmed", "OrderCompleted")
    order_doc = project("o1", None, events)
    unplaced = project("o2", None, events[1:2])  # OrderPlaced not seen yet: no customer
    bobs = project("o3", None, _order_events("o3", "bob"))
    registered = [_registered()]
    changes = customer_changes([order_doc, unplaced, bobs], {"alice": registered, "carol": []})
    assert changes == {
        "alice": CustomerChange(registered),
        "carol": CustomerChange([]),
        "bob": CustomerChange([]),
    }


def test_customer_events_are_event_documents_with_a_customer_id():
    registered = _registered()
    assert event_document(registered) == {
        **timeline_entry(registered),
        "order_id": None,
        "customer_id": "alice",
    }
    placed = _order_events("o1", "alice")[0]
    assert event_document(placed)["customer_id"] == "alice"
    confirmed = _order_events("o1", "alice", "OrderConfirmed")[1]
    assert "customer_id" not in event_document(confirmed)


def test_amounts_from_cents_have_two_places():
    assert [amount(c) for c in (0, 5, 100, 1249, 1234567890123499)] == [
        "0.00",
        "0.05",
        "1.00",
        "12.49",
        "12345678901234.99",
    ]


# --- the indexer's write, against an Elasticsearch in memory --------------------------------


class MemoryElasticsearch:
    """mget and bulk as Elasticsearch answers them, with seq_no concurrency and aliases.
    `meanwhile[index]` runs once before the next bulk that writes to `index` (a concrete one,
    not an alias): another writer
    between the indexer's read and its write."""

    def __init__(self) -> None:
        self.docs: dict[tuple[str, str], tuple[dict, int]] = {}
        self.aliases = {"orders": "orders-v1", "customers": "customers-v1"}
        self.seq_no = 0
        self.conflicts = 0
        self.meanwhile: dict[str, Any] = {}
        self.searchable: dict[tuple[str, str], tuple[dict, int]] = {}  # as of the last refresh
        self.indices = SimpleNamespace(refresh=self.refresh)

    def refresh(self, index: str) -> None:
        concrete = self.aliases.get(index, index)
        self.searchable |= {key: doc for key, doc in self.docs.items() if key[0] == concrete}

    def search(self, index: str, size: int, query: dict, aggs: dict) -> SimpleNamespace:
        """The aggregation of figures_query, over the documents searchable since the last
        refresh."""
        concrete, wanted = self.aliases.get(index, index), set(query["terms"]["customer_id"])
        orders: dict[str, list[dict]] = {}
        for (in_index, _), (doc, _) in self.searchable.items():
            if in_index == concrete and doc.get("customer_id") in wanted:
                orders.setdefault(doc["customer_id"], []).append(doc)
        buckets = []
        for customer_id, docs in orders.items():
            cents: dict[str, float] = {}
            for doc in docs:
                if doc["status"] == "COMPLETED":
                    cents[doc["currency"]] = cents.get(doc["currency"], 0.0) + doc["total_cents"]
            latest = max(doc["created_at"] for doc in docs)
            buckets.append(_bucket(customer_id, len(docs), latest, cents))
        return SimpleNamespace(body={"aggregations": {"customers": {"buckets": buckets}}})

    def put(self, index: str, doc_id: str, source: dict) -> None:
        self.seq_no += 1
        stored = json.loads(json.dumps(source))  # as Elasticsearch keeps it: JSON
        self.docs[(self.aliases.get(index, index), doc_id)] = (stored, self.seq_no)

    def source(self, index: str, doc_id: str) -> dict:
        return copy.deepcopy(self.docs[(self.aliases.get(index, index), doc_id)][0])

    def mget(self, index: str, ids: list[str]) -> dict:
        concrete = self.aliases.get(index, index)
        docs = []
        for doc_id in ids:
            stored = self.docs.get((concrete, doc_id))
            if stored is None:
                docs.append({"_index": concrete, "_id": doc_id, "found": False})
            else:
                source, seq_no = stored
                docs.append(
                    {
                        "_index": concrete,
                        "_id": doc_id,
                        "found": True,
                        "_source": copy.deepcopy(source),
                        "_seq_no": seq_no,
                        "_primary_term": 1,
                    }
                )
        return {"docs": docs}

    def bulk(self, operations: list[dict]) -> dict:
        for action in operations[::2]:
            (meta,) = action.values()
            hook = self.meanwhile.pop(self.aliases.get(meta["_index"], meta["_index"]), None)
            if hook is not None:
                hook()
        items = []
        for action, source in zip(operations[::2], operations[1::2], strict=True):
            ((kind, meta),) = action.items()
            index, doc_id = self.aliases.get(meta["_index"], meta["_index"]), meta["_id"]
            stored = self.docs.get((index, doc_id))
            conflict = (kind == "create" and stored is not None) or (
                "if_seq_no" in meta and (stored is None or stored[1] != meta["if_seq_no"])
            )
            result: dict[str, Any] = {"_index": index, "_id": doc_id}
            if conflict:
                self.conflicts += 1
                result.update(status=409, error={"type": "version_conflict_engine_exception"})
            else:
                self.put(index, doc_id, source)
                result["status"] = 201
            items.append({kind: result})
        return {"errors": any("error" in r for i in items for r in i.values()), "items": items}


@pytest.fixture
def indexer() -> Indexer:
    indexer = Indexer.__new__(Indexer)  # no Kafka, registry or real Elasticsearch behind it
    indexer.es = MemoryElasticsearch()  # type: ignore[assignment]
    indexer.target, indexer.customers_target = "orders", "customers"
    indexer.events = EventIndices("order-events-v1", "order-events", DAY_MS, 3650 * DAY_MS)
    indexer.customers_every_s = 2.0
    indexer._customers, indexer._customers_at, indexer._orders_unrefreshed = {}, 0.0, False
    return indexer


def test_the_indexer_writes_orders_then_their_customers(indexer: Indexer):
    es: MemoryElasticsearch = indexer.es  # type: ignore[assignment]
    order_events = _order_events("o1", "alice", "OrderConfirmed", "OrderCompleted")
    guest_events = _order_events("o2", "bob")
    indexer.write({"o1": order_events, "o2": guest_events}, {"alice": [_registered()]})
    alice, bob = es.source("customers", "alice"), es.source("customers", "bob")
    assert alice["status"] == "ACTIVE" and alice["lifetime_value_cents"] == 1050
    assert alice["order_count"] == 1 and alice["last_order_at"] == ISO_NOW
    assert bob["status"] == GUEST and bob["order_count"] == 1
    registered = _registered().envelope
    events_index = indexer.events.index_for(registered.occurred_at)  # order-events-v1-<day>
    assert es.source(events_index, registered.event_id)["customer_id"] == "alice"

    writes = es.seq_no
    indexer.write({"o1": order_events, "o2": guest_events}, {"alice": [_registered()]})
    documents = {key for key in es.docs if not key[0].startswith("order-events-v1")}
    assert es.seq_no - writes == len(es.docs) - len(documents)  # a replay: event documents only


def test_a_customers_document_is_the_same_size_after_5_orders_or_500(indexer: Indexer):
    es: MemoryElasticsearch = indexer.es  # type: ignore[assignment]
    indexer.write({}, {"alice": [_registered()]})
    sizes = {}
    for n in range(500):
        order_id = f"o{n}"
        indexer.write({order_id: _order_events(order_id, "alice", "OrderCompleted")})
        if n + 1 in (5, 500):
            sizes[n + 1] = len(json.dumps(es.source("customers", "alice")))
    alice = es.source("customers", "alice")
    assert alice["order_count"] == 500 and alice["lifetime_value_cents"] == 500 * 1050
    assert sizes[500] - sizes[5] <= 16, sizes  # five figures two digits longer, no more


def test_a_customer_written_meanwhile_is_read_and_folded_again(indexer: Indexer):
    es: MemoryElasticsearch = indexer.es  # type: ignore[assignment]
    indexer.write({}, {"alice": [_registered()]})
    deactivated = _event("CustomerDeactivated", 5, reason=None)

    def another_writer() -> None:  # a rebuild catching up writes alice between read and write
        es.put(
            "customers",
            "alice",
            project_customer("alice", es.source("customers", "alice"), [deactivated]),
        )

    es.meanwhile["customers-v1"] = another_writer
    indexer.write({"o1": _order_events("o1", "alice", "OrderCompleted")})
    assert es.conflicts == 1
    alice = es.source("customers", "alice")
    assert alice["status"] == "INACTIVE" and alice["lifetime_value_cents"] == 1050


def test_customer_events_go_to_the_customer_fold_and_without_a_customer_id_to_the_dlq(
    indexer: Indexer, monkeypatch: pytest.MonkeyPatch
):
    registered = _registered()
    nameless = _event("CustomerReactivated", 1).with_data(customer_id="")
    batch = [SimpleNamespace(error=lambda: None) for _ in range(2)]  # two Kafka records
    decoded = {id(batch[0]): registered, id(batch[1]): nameless}
    parked: list[str] = []
    written: list[tuple[dict, dict]] = []
    monkeypatch.setattr(indexer, "decode", lambda record, park: decoded[id(record)], raising=False)
    monkeypatch.setattr(
        indexer, "dead_letter", lambda record, reason, detail: parked.append(detail)
    )
    monkeypatch.setattr(
        indexer, "write", lambda o, c, customers_now: written.append((dict(o), dict(c)))
    )
    monkeypatch.setattr(indexer, "commit", lambda: None)
    indexer.handle(batch)  # type: ignore[arg-type]
    assert parked == ["event has no customer_id"]
    assert written == [({}, {"alice": [registered]})]


def test_live_customers_are_written_every_few_seconds_and_their_records_committed_after(
    indexer: Indexer, monkeypatch: pytest.MonkeyPatch
):
    """Each write of customers costs a refresh of the orders index: live, the indexer writes
    them every `customers_every_s`, and commits nothing read before they are written (a
    crash meanwhile reads those records again)."""
    es: MemoryElasticsearch = indexer.es  # type: ignore[assignment]
    events = _order_events("o1", "alice", "OrderCompleted")
    batch = [SimpleNamespace(error=lambda: None) for _ in events]
    decoded = {id(record): message for record, message in zip(batch, events, strict=True)}
    commits: list[int] = []
    monkeypatch.setattr(indexer, "decode", lambda record, park: decoded[id(record)], raising=False)
    monkeypatch.setattr(indexer, "commit", lambda: commits.append(1))
    indexer.customers_every_s, indexer._customers_at = 3600.0, time.monotonic()
    indexer.handle(batch)  # type: ignore[arg-type]
    assert es.source("orders", "o1")["status"] == "COMPLETED"
    assert ("customers-v1", "alice") not in es.docs and commits == []
    indexer._customers_at -= 3600.0  # the interval has passed
    indexer.handle([])
    assert es.source("customers", "alice")["lifetime_value_cents"] == 1050 and commits == [1]
