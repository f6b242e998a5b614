"""Payment commands are keyed by order but partitioned by customer (`partition_by` in
schemas/topics.py, applied by orderflow/kafka.py), and one customer's gateway calls are made
one at a time (streams/agents/payment.py, `gateway_verdicts`)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner

from orderflow import kafka
from schemas import topics
from schemas.codec import Codec
from schemas.events import Message, command
from streams.agents.payment import gateway_verdicts
from streams.domain import payment
from streams.offsets import Ledger
from streams.outbox import Outgoing
from streams.runtime import Read, Shell
from tests.factories import MemoryRegistry

PARTITIONS = 6


def _authorize(order_id: str, customer_id: str) -> Message:
    return command(
        "AuthorizePayment",
        topics.PAYMENTS_COMMANDS.name,
        order_id,
        {
            "order_id": order_id,
            "customer_id": customer_id,
            "amount": Decimal("10.00"),
            "currency": "EUR",
            "method": "card",
            "scenario": "approve",
        },
        "corr",
        "test",
    )


def test_a_payment_command_lands_where_a_record_keyed_by_its_customer_would():
    default = DefaultPartitioner()
    spec = topics.PAYMENTS_COMMANDS
    for n in range(200):
        customer = f"customer-{n}"
        expected = default(customer.encode(), list(range(PARTITIONS)), list(range(PARTITIONS)))
        for order in (f"a-{n}", f"b-{n}"):  # every order of the customer: one partition
            assert (
                kafka.partition_of(spec, _authorize(order, customer).data, PARTITIONS) == expected
            )
    assert kafka.partition_of(topics.PAYMENTS_EVENTS, {"order_id": "o"}, PARTITIONS) is None


def test_the_shell_sends_it_to_that_partition_and_the_outbox_keeps_it():
    shell = Shell(SimpleNamespace(), Codec(MemoryRegistry()), "t", Ledger(), partitions=6)  # type: ignore[arg-type]
    message = _authorize("o-1", "customer-7")
    outgoing = asyncio.run(shell.encode(message))
    assert outgoing.key == b"o-1"  # still keyed by order
    assert outgoing.partition == kafka.partition_of(topics.PAYMENTS_COMMANDS, message.data, 6)
    assert Outgoing.from_json(outgoing.to_json()) == outgoing
    stored_before = {k: v for k, v in outgoing.to_json().items() if k != "partition"}
    assert Outgoing.from_json(stored_before).partition is None  # outboxes stored before


def test_one_customer_s_gateway_calls_are_made_one_at_a_time_in_order_others_side_by_side():
    """A batch's gateway calls (streams/agents/payment.py): one customer's in arrival order,
    each checked against the fraud window with what the earlier ones of the batch authorized;
    the two customers' calls overlap."""
    asks: dict[str, list[Any]] = {"c-0": [], "c-1": []}
    for n in range(6):
        customer = f"c-{n % 2}"
        # the fake gateway below tells the customer by the scenario
        asking = payment.Asked(f"o-{n}", customer, Decimal("10.00"), customer, 1)
        asks[customer].append((Read(_authorize(f"o-{n}", customer), None, None), asking))
    running: dict[str, int] = {"c-0": 0, "c-1": 0}
    most: dict[str, int] = {"c-0": 0, "c-1": 0}
    overlapped: list[int] = []
    calls: list[str] = []

    async def gateway(customer: str, _attempt: int) -> str:
        calls.append(customer)
        running[customer] += 1
        most[customer] = max(most[customer], running[customer])
        overlapped.append(sum(running.values()))
        await asyncio.sleep(0.01)
        running[customer] -= 1
        return payment.APPROVED

    verdicts = asyncio.run(
        gateway_verdicts(asks, lambda _c, _read: Decimal("0"), Decimal("25.00"), gateway)
    )
    assert most == {"c-0": 1, "c-1": 1} and max(overlapped) == 2
    outcomes = [
        verdicts[read.message.envelope.event_id].code
        for customer in ("c-0", "c-1")
        for read, _asking in asks[customer]
    ]
    # 10 + 10 authorized; a third 10 would pass 25: each customer's third is fraud, uncalled
    assert outcomes == [None, None, "FRAUD_SUSPECTED"] * 2
    assert sorted(calls) == ["c-0", "c-0", "c-1", "c-1"]


def test_a_records_partition_is_its_keys_unless_a_field_picks_it():
    from aiokafka.partitioner import murmur2

    key = "order-42"
    by_key = (murmur2(key.encode()) & 0x7FFFFFFF) % PARTITIONS
    assert (
        kafka.partition_for(topics.FULFILLMENT_COMMANDS, key, {"order_id": key}, PARTITIONS)
        == by_key
    )
    data = {"order_id": key, "customer_id": "alice"}
    assert kafka.partition_for(topics.PAYMENTS_COMMANDS, key, data, PARTITIONS) == (
        kafka.partition_of(topics.PAYMENTS_COMMANDS, data, PARTITIONS)
    )
