"""The public topic map (DESIGN.md, Topology): names users watch, what each is keyed by, and
who writes it. A contract like the events on them (schemas/avro/<topic>/), so it lives here;
which partition a record lands in is Kafka's business (orderflow/kafka.py)."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class TopicSpec:
    name: str
    key: str
    written_by: str
    # The payload field whose value picks the partition, when not the key: records keep their
    # key but land where a record keyed by that field would (orderflow/kafka.py, partition_of).
    partition_by: str | None = None
    # A history topic keeps every record for good (DESIGN.md, "Over time and in operation"):
    # the read model is rebuilt from it and users read it as the record of what happened.
    # The others carry commands and replies, kept for a bounded window (orderflow/kafka.py).
    history: bool = False
    # Each record is its key's whole current value (a level, not a change): of the records
    # one batch of an agent writes under a key, only the last is written.
    latest: bool = False

    @property
    def dlq(self) -> str:
        return f"{self.name}.dlq"


ORDERS_COMMANDS = TopicSpec("orders.commands.v1", "order_id", "api")
ORDERS_EVENTS = TopicSpec("orders.events.v1", "order_id", "order agent", history=True)
INVENTORY_COMMANDS = TopicSpec("inventory.commands.v1", "sku", "order agent, api")
INVENTORY_EVENTS = TopicSpec("inventory.events.v1", "order_id", "inventory agent", history=True)
INVENTORY_LEVELS = TopicSpec(
    "inventory.levels.v1", "sku", "inventory agent", history=True, latest=True
)
# Keyed by order_id, partitioned by customer: one customer's payments (and fraud window) are
# handled by one worker, one after the other.
PAYMENTS_COMMANDS = TopicSpec(
    "payments.commands.v1", "order_id", "order agent", partition_by="customer_id"
)
PAYMENTS_EVENTS = TopicSpec("payments.events.v1", "order_id", "payment agent", history=True)
FULFILLMENT_COMMANDS = TopicSpec("fulfillment.commands.v1", "order_id", "order agent")
FULFILLMENT_EVENTS = TopicSpec(
    "fulfillment.events.v1", "order_id", "fulfillment agent", history=True
)
NOTIFICATIONS_EVENTS = TopicSpec("notifications.events.v1", "order_id", "order agent", history=True)
CUSTOMERS_COMMANDS = TopicSpec("customers.commands.v1", "customer_id", "api, order agent")
CUSTOMERS_EVENTS = TopicSpec("customers.events.v1", "customer_id", "customer agent", history=True)
# The customer agent's answers about an order's customer (CustomerChecked), keyed by order_id
# so the saga reads them co-partitioned with its table: the order's side of the validation
# step (the question, CheckCustomer, goes by customer_id to the worker owning the customer).
CUSTOMERS_CHECKS = TopicSpec("customers.checks.v1", "order_id", "customer agent")

ALL: tuple[TopicSpec, ...] = (
    ORDERS_COMMANDS,
    ORDERS_EVENTS,
    INVENTORY_COMMANDS,
    INVENTORY_EVENTS,
    INVENTORY_LEVELS,
    PAYMENTS_COMMANDS,
    PAYMENTS_EVENTS,
    FULFILLMENT_COMMANDS,
    FULFILLMENT_EVENTS,
    NOTIFICATIONS_EVENTS,
    CUSTOMERS_COMMANDS,
    CUSTOMERS_EVENTS,
    CUSTOMERS_CHECKS,
)

BY_NAME = {spec.name: spec for spec in ALL}

# Every event about an order, from every event topic: what the indexer folds into timelines.
ORDER_EVENT_TOPICS: tuple[TopicSpec, ...] = (
    ORDERS_EVENTS,
    INVENTORY_EVENTS,
    PAYMENTS_EVENTS,
    FULFILLMENT_EVENTS,
    NOTIFICATIONS_EVENTS,
)
