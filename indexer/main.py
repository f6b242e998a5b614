"""The Elasticsearch sink: consumes every order event topic and the customers' events, folds
them into order documents (indexer/projection.py) and customer documents
(indexer/customers.py) and writes them in bulk: the orders every batch, the customers a batch
touched every few seconds (ORDERFLOW_CUSTOMER_FIGURES_S), their figures aggregated from the
order documents written. Offsets are committed only after Elasticsearch acknowledged both (a
crash in between reads the records again, and folding them again changes nothing); outages of
Elasticsearch or the registry are waited out."""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial
from typing import Any, Generic, TypeVar

import prometheus_client
from confluent_kafka import Consumer, KafkaException, Producer, TopicPartition
from confluent_kafka import Message as KafkaRecord
from elasticsearch import ApiError, Elasticsearch
from elasticsearch import ConnectionError as EsConnectionError

from indexer.customers import (
    CustomerChange,
    Figures,
    customer_changes,
    figures_of,
    figures_query,
    project_customer,
)
from indexer.index import EventIndices, ensure_customers_index, ensure_orders_index
from indexer.projection import customer_id_of, event_document, order_id_of, project
from orderflow import config, elastic, kafka, metrics, retry
from orderflow.logs import setup_logging
from schemas import topics
from schemas.codec import Codec, DecodeError, dead_letter_headers, for_confluent
from schemas.events import Message, now_millis
from schemas.registry import RegistryUnavailable, SchemaRegistry

log = logging.getLogger("orderflow.indexer")
T = TypeVar("T")
C = TypeVar("C")  # what a batch brings one document
GROUP_ID = "orderflow-indexer"
AGENT = "indexer"  # its label in orderflow_events_processed_total
TP = tuple[str, int]  # (topic, partition)
# What the indexer reads: every event about an order, and the customers' own events.
TOPICS = (*topics.ORDER_EVENT_TOPICS, topics.CUSTOMERS_EVENTS)


@dataclass(frozen=True)
class Documents(Generic[C]):
    """A kind of document the indexer keeps: how what a batch brings one document (C) folds
    into it, which events of that get event documents, and the id its log lines name."""

    fold: Callable[[str, dict[str, Any] | None, C], dict[str, Any]]
    events_of: Callable[[C], Sequence[Message]]
    id_field: str


ORDERS: Documents[list[Message]] = Documents(project, lambda messages: messages, "order_id")
CUSTOMERS: Documents[CustomerChange] = Documents(
    lambda customer_id, current, change: project_customer(
        customer_id, current, change.messages, change.figures
    ),
    lambda change: change.messages,
    "customer_id",
)


class Indexer:
    def __init__(
        self,
        settings: config.Settings,
        stop: threading.Event,
        target: str | None = None,
        group_id: str = GROUP_ID,
        customers_target: str | None = None,
    ) -> None:
        self.settings = settings
        self.stop = stop
        self.es = Elasticsearch(settings.elasticsearch_url, request_timeout=30)
        self.codec = Codec(SchemaRegistry(settings.registry_url))
        # where order and customer documents go: the aliases, or during a rebuild the new
        # indices
        self.target = target or settings.orders_alias
        self.customers_target = customers_target or settings.customers_alias
        self.events = EventIndices.of(settings)
        self._pruned_at = 0.0
        self.customers_every_s = settings.customer_figures_s
        self._customers: dict[str, list[Message]] = {}  # waiting for their write (`write`)
        self._customers_at = 0.0  # monotonic: when they were last written
        self._orders_unrefreshed = False  # order documents written since the last refresh
        self.consumer = Consumer(
            {
                "bootstrap.servers": settings.kafka_bootstrap,
                "group.id": group_id,
                "enable.auto.commit": False,
                "auto.offset.reset": "earliest",
                "fetch.min.bytes": settings.fetch_min_bytes,
                "fetch.wait.max.ms": settings.fetch_max_wait_ms,
            }
        )
        self.dead_letters = Producer(kafka.producer_settings(settings.kafka_bootstrap))

    def retry(self, what: str, call: Callable[[], T]) -> T:
        """Call until it succeeds (or we are stopping): outages are waited out, not fatal
        (orderflow/retry.py)."""
        waits = retry.waits()
        while True:
            try:
                return call()
            except (*elastic.UNREACHABLE, RegistryUnavailable) as exc:
                error: Exception = exc
            except ApiError as exc:
                if not elastic.passing(exc.meta.status):
                    raise
                error = exc
            if self.stop.is_set():
                raise SystemExit(0)
            wait = next(waits)
            log.warning("%s failed, retrying in %.1fs: %r", what, wait, error)
            time.sleep(wait)

    def run(self) -> None:
        settings = self.settings
        self.retry(
            "create index",
            lambda: ensure_orders_index(self.es, settings.orders_index, settings.orders_alias),
        )
        self.retry(
            "create customers index",
            lambda: ensure_customers_index(
                self.es, settings.customers_index, settings.customers_alias
            ),
        )
        self.retry("create events index", lambda: self.events.ensure(self.es, now_millis()))
        self.consumer.subscribe([spec.name for spec in TOPICS])
        log.info("indexer consuming %s", [spec.name for spec in TOPICS])
        try:
            while not self.stop.is_set():
                records = self.consumer.consume(num_messages=1000, timeout=0.5)
                if records:
                    self.handle(records)
                elif self._customers and self._customers_due():
                    self.retry("customers bulk write", self.write_customers)
                    self.commit()
                self.prune_events()
        finally:
            self.consumer.close()
            self.dead_letters.flush(10)

    def prune_events(self) -> None:
        """Now and then (a tenth of an event index's period, ten minutes at most): delete the
        event indices past their retention, and make the current period's index."""
        every_s = min(600.0, self.settings.events_index_period_s / 10)
        if time.monotonic() - self._pruned_at < every_s:
            return
        self._pruned_at = time.monotonic()
        now = now_millis()
        self.retry("create events index", lambda: self.events.ensure(self.es, now))
        deleted = self.retry("prune event indices", lambda: self.events.prune(self.es, now))
        if deleted:
            log.info("event indices past their retention deleted", extra={"indices": deleted})

    def handle(self, records: list[KafkaRecord], live: bool = True) -> None:
        """Fold a batch. Live: park undecodable records and commit offsets afterwards; a
        rebuild does neither (the live indexer parked them already, and it owns no offsets)."""
        by_order: dict[str, list[Message]] = defaultdict(list)
        by_customer: dict[str, list[Message]] = defaultdict(list)
        for record in records:
            if record.error():
                log.warning("consumer error: %s", record.error())
                continue
            message = self.decode(record, park=live)
            if message is None:
                continue
            # a customer's own events have a customer_id and no order_id
            if message.topic == topics.CUSTOMERS_EVENTS.name:
                key, into, id_field = customer_id_of(message), by_customer, "customer_id"
            else:
                key, into, id_field = order_id_of(message), by_order, "order_id"
            if key is None:
                if live:
                    self.dead_letter(record, "invalid-event", f"event has no {id_field}")
                continue
            into[key].append(message)
        # live, customers are written every `customers_every_s` (a rebuild: every batch)
        self.write(by_order, by_customer, customers_now=not live or self._customers_due())
        if live:
            folded = [m for by_id in (by_order, by_customer) for ms in by_id.values() for m in ms]
            for event_type, n in Counter(m.type for m in folded).items():
                metrics.EVENTS_PROCESSED.labels(AGENT, event_type).inc(n)
            if not self._customers:  # what was read is written, customers included
                self.commit()

    def _customers_due(self) -> bool:
        return time.monotonic() - self._customers_at >= self.customers_every_s

    def commit(self) -> None:
        """Commit what was consumed, once every dead letter of it is in Kafka. The offsets
        are only a bookmark (the projection is insensitive to repetition): a commit Kafka
        refuses, as it does while a broker that was away loads its group coordinator, or
        after a rebalance meanwhile, means only that those records are read again. So it is
        noted and the next batch's commit carries the position on; it never stops the
        indexer (which a Kafka outage once did: COORDINATOR_LOAD_IN_PROGRESS, uncaught)."""
        if self.dead_letters.flush(10):
            log.warning("dead letters not acknowledged yet; committing after the next batch")
            return
        try:
            self.consumer.commit(asynchronous=False)
        except KafkaException as exc:
            log.warning("offset commit refused, records will be read again: %s", exc)

    def replay(self, starts: Mapping[TP, int] | None = None) -> dict[TP, int]:
        """Fold every record from `starts` (default: the beginning) up to the end each
        partition has now, without committing; returns those ends. Where partitions begin and
        end is asked again while Kafka cannot say (a broker away, a partition's leader
        moving: NOT_LEADER_FOR_PARTITION, which librdkafka does not flag as retriable)."""
        names = [spec.name for spec in TOPICS]
        metadata = kafka.eventually(
            "list topics", lambda: self.consumer.list_topics(timeout=10).topics
        )
        low: dict[TP, int] = {}
        ends: dict[TP, int] = {}
        for name in names:
            for partition in metadata[name].partitions:
                tp = (name, partition)
                low[tp], ends[tp] = kafka.eventually(
                    f"the offsets of {name} [{partition}]",
                    partial(
                        self.consumer.get_watermark_offsets,
                        TopicPartition(name, partition),
                        timeout=10,
                    ),
                )
        begin = {tp: max((starts or {}).get(tp, low[tp]), low[tp]) for tp in ends}
        self.consumer.assign([TopicPartition(t, p, begin[(t, p)]) for t, p in ends])
        left = {tp for tp in ends if ends[tp] > begin[tp]}
        while left and not self.stop.is_set():
            batch = []
            for record in self.consumer.consume(num_messages=1000, timeout=0.5):
                if record.error():
                    continue
                tp = (record.topic() or "", record.partition() or 0)
                batch.append(record)
                if (record.offset() or 0) + 1 >= ends[tp]:
                    left.discard(tp)
            if batch:
                self.handle(batch, live=False)
        return ends

    def decode(self, record: KafkaRecord, park: bool = True) -> Message | None:
        key = (record.key() or b"").decode(errors="replace")
        topic = record.topic() or ""
        try:
            return self.retry("decode", lambda: self.codec.decode(topic, key, record.value()))
        except DecodeError as exc:
            if park:
                self.dead_letter(record, exc.reason, exc.detail)
            return None

    def write(
        self,
        by_order: Mapping[str, list[Message]],
        by_customer: Mapping[str, list[Message]] | None = None,
        customers_now: bool = True,
    ) -> None:
        """Fold the batch into the order documents, then note the customers it touches (its
        customer events, and every customer an order document names); with `customers_now`,
        write every customer noted so far (`write_customers`). Live, the indexer writes them
        every `customers_every_s` and commits its offsets only once they are written, so a
        crash meanwhile reads those records again: nothing noted is lost."""
        orders = (
            self.retry("bulk write", lambda: self.upsert(self.target, ORDERS, by_order))
            if by_order
            else {}
        )
        self._orders_unrefreshed |= bool(orders)
        for customer_id, change in customer_changes(orders.values(), by_customer or {}).items():
            self._customers.setdefault(customer_id, []).extend(change.messages)
        if customers_now and self._customers:
            self.retry("customers bulk write", self.write_customers)

    def write_customers(self) -> None:
        """The noted customers' documents: their events, and their figures aggregated from
        the orders index once the order documents written are searchable (a refresh of that
        index, once per write: the reason customers are written every few seconds, not every
        batch). A crash between the orders and this is harmless (see `write`)."""
        changes = {customer: CustomerChange(list(new)) for customer, new in self._customers.items()}
        if self._orders_unrefreshed:
            self.es.indices.refresh(index=self.target)
            self._orders_unrefreshed = False
        figures = figures_of(self.es.search(index=self.target, **figures_query(changes)).body)
        for customer_id, change in changes.items():
            change.figures = figures.get(customer_id, Figures())
        self.upsert(self.customers_target, CUSTOMERS, changes)
        self._customers.clear()
        self._customers_at = time.monotonic()

    def upsert(
        self, index: str, documents: Documents[C], changes: Mapping[str, C]
    ) -> dict[str, dict[str, Any]]:
        """Fold each change into its document in `index` (an alias or an index); returns the
        documents as folded. Optimistic concurrency: a document is replaced only if nobody
        wrote it since it was read (if_seq_no), and a new one is created only if it does not
        exist yet; on a conflict it is read and folded again. So another writer (a rebuild
        catching up, a second indexer) is never undone. A document the fold leaves as it was
        is not written again (a replay writes event documents only)."""
        folded: dict[str, dict[str, Any]] = {}
        pending = dict(changes)
        while pending:
            pending = self._upsert_once(index, documents, pending, folded)
        return folded

    def _upsert_once(
        self,
        index: str,
        documents: Documents[C],
        changes: dict[str, C],
        folded: dict[str, dict[str, Any]],
    ) -> dict[str, C]:
        found = self.es.mget(index=index, ids=list(changes))
        current = {doc["_id"]: doc for doc in found["docs"] if doc.get("found")}
        operations: list[dict[str, Any]] = []
        changed: set[str] = set()
        now = now_millis()
        for doc_id, change in changes.items():
            doc = current.get(doc_id)
            before = doc["_source"] if doc is not None else None
            folded[doc_id] = after = documents.fold(doc_id, before, change)
            if doc is None:
                operations.append({"create": {"_index": index, "_id": doc_id}})
            elif after != before:
                operations.append(
                    {
                        "index": {
                            "_index": doc["_index"],
                            "_id": doc_id,
                            "if_seq_no": doc["_seq_no"],
                            "if_primary_term": doc["_primary_term"],
                        }
                    }
                )
            if after != before:
                operations.append(after)
                changed.add(doc_id)
            for message in documents.events_of(change):  # one document per event, by event_id
                occurred_at = message.envelope.occurred_at
                if not self.events.kept(occurred_at, now):
                    continue
                index_of_event = self.events.index_for(occurred_at)
                operations.append(
                    {"index": {"_index": index_of_event, "_id": message.envelope.event_id}}
                )
                operations.append(event_document(message))
        conflicted = self._bulk(operations, changes) if operations else {}
        if log.isEnabledFor(logging.DEBUG):  # a line per document: ORDERFLOW_LOG_LEVEL=DEBUG
            self._log_indexed(documents, changes, changed, conflicted)
        return conflicted

    @staticmethod
    def _log_indexed(
        documents: Documents[C], changes: Mapping[str, C], changed: set[str], conflicted: dict
    ) -> None:
        for doc_id, change in changes.items():
            messages = documents.events_of(change)
            if doc_id not in conflicted and (messages or doc_id in changed):
                log.debug(
                    "indexed",
                    extra={
                        documents.id_field: doc_id,
                        "correlation_id": messages[0].envelope.correlation_id if messages else None,
                        "events": [m.type for m in messages],
                    },
                )

    def _bulk(self, operations: list[dict[str, Any]], changes: dict[str, C]) -> dict[str, C]:
        """Send the operations; the changes whose document someone else wrote meanwhile
        (409), to fold again. Items Elasticsearch may take later are raised, to retry."""
        answer = self.es.bulk(operations=operations)
        conflicted: dict[str, C] = {}
        if not answer["errors"]:
            return conflicted
        failed = [
            result for item in answer["items"] for result in item.values() if "error" in result
        ]
        retryable = [f for f in failed if elastic.passing(f.get("status", 500))]
        if retryable:
            raise EsConnectionError(f"bulk items failed: {retryable[:3]}")
        for item in failed:
            if item["status"] == 409 and item["_id"] in changes:
                conflicted[item["_id"]] = changes[item["_id"]]
                continue
            log.error(  # a document the mapping refuses: say so loudly, move on
                "document rejected",
                extra={"index": item["_index"], "id": item["_id"], "error": item["error"]},
            )
        return conflicted

    def dead_letter(self, record: KafkaRecord, reason: str, detail: str) -> None:
        headers = dead_letter_headers(
            reason,
            detail,
            record.topic() or "",
            record.partition() or 0,
            record.offset() or 0,
            GROUP_ID,
        )
        self.dead_letters.produce(
            f"{record.topic()}.dlq",
            value=record.value(),
            key=record.key(),
            headers=for_confluent(headers),
        )
        metrics.DEAD_LETTERS.labels(GROUP_ID, record.topic() or "", reason).inc()
        log.warning(
            "dead-lettered record",
            extra={"topic": record.topic(), "reason": reason, "offset": record.offset()},
        )


def main() -> None:
    setup_logging()
    settings = config.load()
    # GET /metrics: the same series as the workers' (orderflow/metrics.py), agent "indexer"
    prometheus_client.start_http_server(
        settings.indexer_metrics_port, addr=settings.worker_web_host
    )
    stop = threading.Event()
    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, lambda *_: stop.set())
    Indexer(settings, stop).run()
