"""The outbox (streams/outbox.py) in the shell: state and outputs are stored before the
outputs leave, and a restart sends stored outputs again before anything that follows them.
Every agent decides a batch at a time (`Shell.run_in_batches`)."""

from __future__ import annotations

import asyncio
import dataclasses
from collections.abc import AsyncIterator
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from schemas.events import Message
from streams.offsets import Ledger
from streams.outbox import Outgoing, RecentlySent, Stored, state_of, stored_states
from streams.runtime import Shell, Side
from tests.factories import place_order, reply

TP0 = TP("orders.commands.v1", 1)


class Kafka:
    """Topics that record what was sent, and when (what the table held at that moment)."""

    def __init__(self, table: dict[str, Any]) -> None:
        self.table = table
        self.sent: list[tuple[str, Any]] = []

    def topic(self, name: str, **_: Any) -> Any:
        kafka = self

        class Topic:
            async def send(self, **record: Any) -> asyncio.Future[None]:
                kafka.sent.append((record["value"].decode(), dict(kafka.table)))
                done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
                done.set_result(None)
                return done

        return Topic()


class _Event:
    """A Faust event's fields the shell reads (Faust refers to its current event weakly,
    which a SimpleNamespace does not allow)."""

    def __init__(self, message: Any) -> None:
        self.message = message


def _stream(messages: list[Message], first: int = 0) -> Any:
    async def events() -> AsyncIterator[Any]:
        for offset, message in enumerate(messages, start=first):
            yield _Event(
                SimpleNamespace(
                    tp=TP0,
                    topic=TP0.topic,
                    partition=TP0.partition,
                    offset=offset,
                    key=message.key.encode(),
                    value=message,  # the fake codec hands it back decoded
                    headers=[("event_type", message.type.encode())],
                )
            )

    return SimpleNamespace(prefix="streams.agents.test.outbox_test", events=events)


def _shell(kafka: Kafka, committed: int = 0) -> Shell:
    """One worker process: a new shell (nothing remembered) reading the partition from the
    `committed` offset (its records are numbered from 0 by list order)."""
    codec = SimpleNamespace(
        decode=lambda _topic, _key, value: value, encode=lambda m: m.type.encode()
    )
    app = SimpleNamespace(topic=kafka.topic, should_stop=False)
    shell = Shell(app, codec, "orderflow-test", Ledger(), partitions=6)  # type: ignore[arg-type]
    shell.ledger.start(TP0, committed)
    return shell


async def _agent(
    shell: Shell, kafka: Kafka, messages: list[Message], decide: Any, committed: int = 0
) -> None:
    await shell.run_in_batches(
        _stream(messages, first=committed),
        kafka.table,  # type: ignore[arg-type]
        decide,
        load=lambda stored: stored,
        dump=lambda state: state,
    )


def _run(kafka: Kafka, messages: list[Message], decide: Any, committed: int = 0) -> None:
    """One worker process over the same table, its agent reading `messages`."""
    asyncio.run(_agent(_shell(kafka, committed), kafka, messages, decide, committed))


PLACED = place_order(order_id="o-1")
RESERVED = reply(PLACED, "StockReserved", "inventory.events.v1", order_id="o-1", sku="S")
AUTHORIZED = reply(PLACED, "PaymentAuthorized", "payments.events.v1", order_id="o-1")


def _outbox(kafka: Kafka, key: str) -> list[str]:
    return [out.value.decode() for out in Stored.from_table(kafka.table[key]).outbox]


def _decide(calls: list[str]):
    def decide(state: Any, message: Message, _now: int) -> tuple[Any, list[Message]]:
        calls.append(message.type)
        answer = {"PlaceOrder": "ReserveStock", "StockReserved": "AuthorizePayment"}
        output = answer.get(message.type, "OrderConfirmed")
        return f"after {message.type}", [reply(message, output, "any.topic", order_id=message.key)]

    return decide


def test_state_and_outputs_are_stored_before_the_outputs_leave() -> None:
    kafka = Kafka({})
    _run(kafka, [PLACED], _decide([]))
    [(value, table_then)] = kafka.sent
    assert value == "ReserveStock"
    stored = Stored.from_table(table_then["o-1"])
    assert stored.state == "after PlaceOrder"
    assert stored.cause == PLACED.envelope.event_id
    assert [out.value for out in stored.outbox] == [b"ReserveStock"]


def test_a_message_read_again_after_a_restart_sends_its_stored_outputs_again_unchanged() -> None:
    kafka = Kafka({})
    _run(kafka, [PLACED, RESERVED], _decide([]))
    assert [value for value, _ in kafka.sent] == ["ReserveStock", "AuthorizePayment"]
    kafka.sent.clear()
    calls: list[str] = []
    _run(kafka, [RESERVED], _decide(calls))  # restarted: the commit had not passed it
    assert calls == []  # not decided again
    assert [value for value, _ in kafka.sent] == _outbox(kafka, "o-1")  # sent again
    # the outbox holds the outputs of the key's records in the batch (both arrived before the
    # first was handled)
    assert _outbox(kafka, "o-1") == ["ReserveStock", "AuthorizePayment"]


def test_after_a_restart_the_previous_outputs_go_out_before_a_reply_is_acted_on() -> None:
    # killed after StockReserved's state was stored; its AuthorizePayment may not have left.
    # The reply to it is read first after the restart: the outbox leaves before its effects.
    kafka = Kafka({})
    _run(kafka, [PLACED, RESERVED], _decide([]))
    kafka.sent.clear()
    left_over = _outbox(kafka, "o-1")
    calls: list[str] = []
    _run(kafka, [AUTHORIZED], _decide(calls))
    assert calls == ["PaymentAuthorized"]  # acted on, from the state StockReserved left
    assert [value for value, _ in kafka.sent] == [*left_over, "OrderConfirmed"]


def test_outputs_of_a_committed_record_are_known_to_have_left() -> None:
    # PlaceOrder@0 and StockReserved@1 were finished and committed (offset 2) before the
    # restart: their outputs left, so nothing is sent again before the reply is acted on
    kafka = Kafka({})
    _run(kafka, [PLACED, RESERVED], _decide([]))
    kafka.sent.clear()
    _run(kafka, [AUTHORIZED], _decide([]), committed=2)
    assert [value for value, _ in kafka.sent] == ["OrderConfirmed"]


def test_within_one_process_nothing_is_sent_twice() -> None:
    kafka = Kafka({})
    calls: list[str] = []
    _run(kafka, [PLACED, PLACED, RESERVED], _decide(calls))  # PLACED delivered twice
    assert calls == ["PlaceOrder", "StockReserved"]
    assert [value for value, _ in kafka.sent] == ["ReserveStock", "AuthorizePayment"]


def test_a_value_stored_before_the_outbox_existed_is_read_as_a_bare_state():
    assert state_of({"sku": "S", "on_hand": 3}) == {"sku": "S", "on_hand": 3}
    assert state_of(None) is None
    out = Outgoing("t", b"k", b"\x00\x01", [("event_type", b"X")])
    stored = Stored({"sku": "S"}, "e-1", ("inventory.commands.v1", 2, 41), (out,))
    assert Stored.from_table(stored.to_json()) == stored


def test_recently_sent_forgets_the_oldest():
    sent = RecentlySent(size=2)
    for cause in ("a", "b", "c"):
        sent.add(cause)
    assert "a" not in sent and "b" in sent and "c" in sent


def test_a_message_that_changes_nothing_stores_nothing() -> None:
    kafka = Kafka({})

    def decide(state: Any, message: Message, _now: int) -> tuple[Any, list[Message]]:
        if message.type == "PlaceOrder":
            return "placed", [reply(message, "ReserveStock", "any.topic", order_id="o-1")]
        return state, []  # e.g. a StockShipped the saga has nothing to do with

    _run(kafka, [PLACED, RESERVED], decide)
    assert Stored.from_table(kafka.table["o-1"]).cause == PLACED.envelope.event_id


def test_a_batch_passes_by_undecoded_the_types_its_decider_does_not_act_on() -> None:
    kafka = Kafka({})
    calls: list[str] = []
    shell = _shell(kafka)
    decoded: list[str] = []
    decode = shell.codec.decode
    shell.codec.decode = lambda topic, key, value: (
        decoded.append(value.type)
        or decode(  # type: ignore[method-assign]
            topic, key, value
        )
    )
    acting = shell.run_in_batches(
        _stream([PLACED, RESERVED, AUTHORIZED]),
        kafka.table,  # type: ignore[arg-type]
        _decide(calls),
        load=lambda stored: stored,
        dump=lambda state: state,
        acts_on=frozenset({"PlaceOrder", "PaymentAuthorized"}),
    )
    asyncio.run(acting)
    assert decoded == calls == ["PlaceOrder", "PaymentAuthorized"]
    assert shell.ledger.frontier[TP0] == 3  # the one passed by is finished too


TICK = reply(PLACED, "AdvanceShipment", "fulfillment.commands.v1", order_id="o-1")


def test_a_decision_the_worker_takes_itself_is_stored_then_sent_after_what_was_read() -> None:
    kafka = Kafka({})
    other = reply(TICK, "AdvanceShipment", "fulfillment.commands.v1", order_id="o-2")

    async def worker() -> None:
        shell = _shell(kafka)
        await _agent(shell, kafka, [PLACED], _decide([]))
        assert await shell.decide_all_here(kafka.table, [TICK, other])  # type: ignore[arg-type]

    asyncio.run(worker())
    _, (value, table_then), _ = kafka.sent
    assert value == "OrderConfirmed"
    stored = Stored.from_table(table_then["o-1"])
    assert stored.cause == TICK.envelope.event_id and stored.source is None
    assert [out.value for out in stored.outbox] == [b"OrderConfirmed"]  # stored, then sent
    # the worker's decisions are one batch: both stored before either was sent
    assert Stored.from_table(table_then["o-2"]).cause == other.envelope.event_id


def test_a_decision_the_worker_takes_itself_waits_for_its_agent() -> None:
    shell = _shell(Kafka({}))
    assert not asyncio.run(shell.decide_all_here({}, [TICK]))  # type: ignore[arg-type]


def test_a_workers_own_decision_is_sent_again_after_a_restart_unless_settled() -> None:
    kafka = Kafka({})

    async def before_the_crash() -> None:
        shell = _shell(kafka)
        await _agent(shell, kafka, [PLACED], _decide([]))
        await shell.decide_all_here(kafka.table, [TICK])  # type: ignore[arg-type]

    async def after_the_restart() -> None:
        shell = _shell(kafka, committed=1)
        await _agent(shell, kafka, [], _decide([]), committed=1)
        await shell.resend_here(kafka.table, "o-1")  # type: ignore[arg-type]

    asyncio.run(before_the_crash())
    kafka.sent.clear()
    asyncio.run(after_the_restart())  # no offset says the tick's outputs left: again
    assert [value for value, _ in kafka.sent] == ["OrderConfirmed"]

    async def settled() -> None:
        shell = _shell(kafka, committed=1)
        await _agent(shell, kafka, [], _decide([]), committed=1)
        again = reply(TICK, "AdvanceShipment", "fulfillment.commands.v1", order_id="o-1")
        table: Any = kafka.table
        await shell.decide_all_here(table, [again], lambda _state: True)

    asyncio.run(settled())
    assert Stored.from_table(kafka.table["o-1"]).outbox == ()  # nothing left to send again


def test_a_batch_tells_what_each_key_stored_and_asks_what_it_needs_first() -> None:
    """`prepare` sees the batch's messages before any is decided; `committed` hears of each
    key once, with its state before the batch and after it."""
    kafka = Kafka({})
    seen: list[list[str]] = []
    told: list[tuple[str, Any, Any]] = []

    async def prepare(reads: Any) -> None:
        seen.append([read.message.type for read in reads])

    other = place_order(order_id="o-2")
    asyncio.run(
        _shell(kafka).run_in_batches(
            _stream([PLACED, other, RESERVED]),
            kafka.table,  # type: ignore[arg-type]
            _decide([]),
            load=lambda stored: stored,
            dump=lambda state: state,
            committed=lambda m, before, after: told.append((m.type, before, after)),
            prepare=prepare,
        )
    )
    assert seen == [["PlaceOrder", "PlaceOrder", "StockReserved"]]
    assert told == [
        ("StockReserved", None, "after StockReserved"),
        ("PlaceOrder", None, "after PlaceOrder"),
    ]


class _Writes(dict[str, Any]):
    """A table that counts its writes per key."""

    def __init__(self) -> None:
        super().__init__()
        self.writes: dict[str, int] = {}

    def __setitem__(self, key: str, value: Any) -> None:
        self.writes[key] = self.writes.get(key, 0) + 1
        super().__setitem__(key, value)


def test_a_batch_stores_each_key_once_with_all_its_outputs_before_any_leaves() -> None:
    table = _Writes()
    kafka = Kafka(table)
    other = place_order(order_id="o-2")
    shell = _shell(kafka)
    asyncio.run(_agent(shell, kafka, [PLACED, other, RESERVED], _decide([])))
    sent = [value for value, _ in kafka.sent]
    assert sent == ["ReserveStock", "ReserveStock", "AuthorizePayment"]  # in decision order
    assert shell.ledger.frontier[TP0] == 3  # all three finished
    stored = Stored.from_table(table["o-1"])
    assert stored.state == "after StockReserved"
    # all three arrived before the first was handled: one batch
    assert table.writes == {"o-1": 1, "o-2": 1}
    _, table_then = kafka.sent[0]
    assert set(table_then) == {"o-1", "o-2"}  # every key stored before anything left
    assert stored.cause == RESERVED.envelope.event_id  # the key's last record
    assert [out.value for out in stored.outbox] == [b"ReserveStock", b"AuthorizePayment"]


def test_a_stopping_worker_decides_nothing_more_and_finishes_nothing() -> None:
    """Faust closes a stopping worker's tables before its agents, and a closed store reads as
    empty: a record decided then would be decided against no state (a rolling restart lost a
    ShipStock that way). Once the app stops, nothing is read, decided, stored or sent, and no
    record is finished: the partition's next owner reads them again."""
    kafka = Kafka({})
    shell = _shell(kafka)
    shell.app.should_stop = True  # type: ignore[misc]
    calls: list[str] = []
    asyncio.run(_agent(shell, kafka, [PLACED, RESERVED], _decide(calls)))
    assert calls == [] and kafka.sent == [] and kafka.table == {}
    assert shell.ledger.frontier.get(TP0, 0) == 0  # nothing finished: read again


class _Ordered(dict[str, Any]):
    """A table that records the order of its writes."""

    def __init__(self) -> None:
        super().__init__()
        self.order: list[str] = []

    def __setitem__(self, key: str, value: Any) -> None:
        self.order.append(key)
        super().__setitem__(key, value)


def _with_side(calls: list[str]) -> Any:
    """A decider whose messages each also count on a record of their own ("<key>/<order>")."""

    def decide(state: Any, side: Any, message: Message, now: int) -> Any:
        calls.append(message.type)
        return (state or 0) + 1, (side or 0) + 1, [reply(message, "Done", "t", order_id="o-1")]

    return decide


SIDE = Side(lambda m: f"{m.key}/o-1", load=lambda v: v, dump=lambda v: v)


async def _side_agent(shell: Shell, kafka: Kafka, messages: list[Message], decide: Any) -> None:
    await shell.run_in_batches(
        _stream(messages),
        kafka.table,  # type: ignore[arg-type]
        decide,
        load=lambda stored: stored,
        dump=lambda state: state,
        side=SIDE,
    )


def test_a_side_record_is_stored_with_its_keys_state_then_under_its_own_key_then_sent() -> None:
    table = _Ordered()
    kafka = Kafka(table)
    calls: list[str] = []
    asyncio.run(_side_agent(_shell(kafka), kafka, [PLACED, RESERVED], _with_side(calls)))
    assert table.order == ["o-1", "o-1/o-1"]  # the key's value (with the side record) first
    stored = Stored.from_table(table["o-1"])
    assert stored.state == 2 and stored.side == {"o-1/o-1": 2} and table["o-1/o-1"] == 2
    _, table_when_sent = kafka.sent[0]
    assert table_when_sent["o-1/o-1"] == 2  # in the table before any output left


def test_a_side_record_lost_in_a_crash_is_written_again_when_its_key_is_read() -> None:
    """The crash came after the key's value and before its side record: the record read
    again finds its value, writes the side record from it, and sends the outputs again."""
    done = reply(PLACED, "Done", "t", order_id="o-1")
    codec_form = Outgoing("t", b"o-1", done.type.encode(), [])
    kafka = Kafka(
        {"o-1": Stored(1, PLACED.envelope.event_id, None, (codec_form,), {"o-1/o-1": 1}).to_json()}
    )
    calls: list[str] = []
    asyncio.run(_side_agent(_shell(kafka), kafka, [PLACED], _with_side(calls)))
    assert calls == [] and kafka.table["o-1/o-1"] == 1  # not decided again: landed
    assert [value for value, _ in kafka.sent] == ["Done"]


def test_of_a_keys_levels_decided_in_one_batch_only_the_last_is_stored_and_sent() -> None:
    """inventory.levels.v1 carries a SKU's whole level: three commands for one SKU in a batch
    write one level, the last (their replies all go out)."""
    kafka = Kafka({})

    def decide(state: Any, message: Message, _now: int) -> tuple[Any, list[Message]]:
        reserved = (state or 0) + 1
        answer = reply(message, "StockReserved", "inventory.events.v1", order_id="o")
        level = reply(message, "StockLevelChanged", "inventory.levels.v1", reserved=reserved)
        return reserved, [answer, level]

    commands = [
        dataclasses.replace(
            reply(place_order(order_id=f"o-{n}"), "ReserveStock", "inventory.commands.v1"),
            key="S",
        )
        for n in range(3)
    ]
    shell = _shell(kafka)
    shell.codec.encode = lambda m: f"{m.type} {m.data.get('reserved', '')}".strip().encode()  # type: ignore[method-assign]
    asyncio.run(
        shell.run_in_batches(
            _stream(commands),
            kafka.table,  # type: ignore[arg-type]
            decide,
            load=lambda stored: stored,
            dump=lambda state: state,
        )
    )
    sent = [value for value, _table in kafka.sent]
    assert sent == ["StockReserved"] * 3 + ["StockLevelChanged 3"]
    assert _outbox(kafka, "S") == sent


def test_a_clock_reads_every_stored_state_and_the_keys_whose_outbox_may_be_left():
    out = Outgoing("t", b"o-2", b"Done", [])
    table = {
        "o-1": Stored({"n": 1}, "e-1").to_json(),
        "o-2": Stored({"n": 2}, "e-2", None, (out,)).to_json(),
        "o-3": Stored({"broken": True}, "e-3").to_json(),
    }
    left_over: list[str] = []
    states = list(stored_states(table, lambda state: {"n": state["n"]}, left_over))
    assert states == [{"n": 1}, {"n": 2}]  # the unreadable one skipped
    assert left_over == ["o-2"]
