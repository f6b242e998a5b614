"""Payment commands are keyed by order but partitioned, and handled one at a time, by customer
(`partition_by` in schemas/topics.py, applied by orderflow/kafka.py, `lane_of` in the shell)."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from decimal import Decimal
from types import SimpleNamespace
from typing import Any

from aiokafka.partitioner import DefaultPartitioner
from faust.types import TP

from orderflow import kafka
from schemas import topics
from schemas.codec import Codec
from schemas.events import Message, command
from streams.offsets import Ledger
from streams.outbox import Outgoing
from streams.runtime import Shell
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


def test_one_customer_s_commands_are_handled_one_at_a_time_others_side_by_side():
    messages = [_authorize(f"o-{n}", f"c-{n % 2}") for n in range(6)]
    running: dict[str, int] = {"c-0": 0, "c-1": 0}
    most: dict[str, int] = {"c-0": 0, "c-1": 0}
    overlapped = []

    async def decide(state: Any, message: Message, _now: int) -> tuple[Any, list[Message]]:
        customer = message.data["customer_id"]
        running[customer] += 1
        most[customer] = max(most[customer], running[customer])
        overlapped.append(sum(running.values()))
        await asyncio.sleep(0.01)  # a gateway call
        running[customer] -= 1
        return {"done": message.key}, []

    async def events() -> AsyncIterator[Any]:
        tp = TP(topics.PAYMENTS_COMMANDS.name, 0)
        for offset, message in enumerate(messages):
            yield SimpleNamespace(
                message=SimpleNamespace(
                    tp=tp,
                    topic=tp.topic,
                    partition=0,
                    offset=offset,
                    key=message.key.encode(),  # each its own order: the key would not serialise
                    value=message,
                    headers=[],
                )
            )

    codec = SimpleNamespace(decode=lambda _t, _k, value: value)
    shell = Shell(
        SimpleNamespace(should_stop=False), codec, "t", Ledger(), partitions=6, side_by_side=8
    )  # type: ignore[arg-type]
    shell.ledger.start(TP(topics.PAYMENTS_COMMANDS.name, 0), 0)
    table: dict[str, Any] = {}
    stream = SimpleNamespace(prefix="streams.agents.payment.payment_agent", events=events)
    asyncio.run(
        shell.run(
            stream,  # type: ignore[arg-type]
            table,  # type: ignore[arg-type]
            decide,
            load=lambda stored: stored,
            dump=lambda state: state,
            lane_of=lambda m: str(m.data["customer_id"]),
        )
    )
    assert most == {"c-0": 1, "c-1": 1}
    assert max(overlapped) == 2  # the two customers side by side
    assert sorted(table) == [f"o-{n}" for n in range(6)]


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
