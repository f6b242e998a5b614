"""The shell around a decider: decode a record (or dead-letter it), load state from the
table, decide, store the state with the outputs, send the outputs. Every agent is this loop
with its own decider.

Crash safety (at-least-once delivery, effectively-once effects): the new state is stored
together with the message's encoded outputs *before* they are sent (the outbox,
streams/outbox.py), and the message counts as finished (its offset may be committed) only once
Kafka acknowledged them. A worker killed at any point either handles the message again from
the old state (re-creating identical events with the same derived ids, which consumers drop),
or finds it handled and sends its stored outputs again. A reply can never be read before the
state that expects it exists.

Every agent decides a batch at a time (`run_in_batches`; analytics through `each_batch`), and
a decision the worker takes itself (a clock's) is a batch of its own between the agent's
(`decide_all_here`): one decision step (`_decide_reads`) on one crash argument (the outbox,
the ledger, what is known to have left)."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

import faust
from faust.types import TP

from orderflow import kafka, metrics, retry
from schemas import topics
from schemas.codec import Codec, DecodeError, dead_letter_headers, headers_for
from schemas.events import Message, now_millis
from schemas.registry import RegistryUnavailable
from streams import changelog
from streams.faust_patches import StandIn, reading
from streams.offsets import Ledger
from streams.outbox import Outgoing, RecentlySent, Stored, stored_value
from streams.retirement import Retirement

log = logging.getLogger("orderflow.streams")

Decision = tuple[Any, list[Message]]


class Stopping(Exception):
    """The worker is stopping, so its tables may be closed already: a closed store reads as
    empty, and a record decided against it would be decided against no state (a rolling
    restart's SIGTERM lost a ShipStock that way: decided as for an unknown SKU, nothing
    shipped, the offset committed). So nothing more is decided; the record is not finished,
    and the partition's next owner reads it again."""


Committed = Callable[[Message, Any, Any], None]
# (state, message, now) -> Decision; with a `Side`: (state, side, message, now) -> (state,
# side, outputs)
BatchDecide = Callable[..., tuple[Any, ...]]


class Shell:
    """What every agent shares: the app (for topics), the codec, and dead-lettering."""

    def __init__(
        self,
        app: faust.App,
        codec: Codec,
        consumer: str,
        ledger: Ledger,
        partitions: int,
    ) -> None:
        self.app = app
        self.codec = codec
        self.consumer = consumer
        self.ledger = ledger
        self.partitions = partitions  # of every topic (a topic's `partition_by` needs it)
        self._topics: dict[str, faust.TopicT] = {}
        self._sent = RecentlySent()
        self._landed = RecentlySent()  # causes whose side records are in the table
        self._batched: dict[int, _Participant] = {}  # per table: its agent's participant
        # per table: what it retires (streams/retirement.py), so messages too old are refused
        self._retirements: dict[int, Retirement] = {}

    def retires(self, retirement: Retirement) -> None:
        """From now on, a message that would create state in `retirement.table` and is older
        than its window is refused (dead-lettered `too-old`)."""
        self._retirements[id(retirement.table)] = retirement

    async def _too_old(
        self, table: faust.types.TableT, state: Any, message: Message, event: faust.EventT | None
    ) -> bool:
        """Whether `message` finds no state and would create some, but is older than the
        table's retirement window: the state it made may have been retired since, so it is a
        repeat, dead-lettered rather than acted on."""
        retirement = self._retirements.get(id(table))
        now = now_millis()
        if state is not None or retirement is None or not retirement.too_old(message, now):
            return False
        age_s = (now - message.envelope.occurred_at) / 1000
        detail = (
            f"{message.type} written {age_s:.0f}s ago, longer than the retirement window: "
            "the state it created may have been retired since"
        )
        if event is not None:
            await self.dead_letter(event, "too-old", detail)
        return True

    def ensure_running(self) -> None:
        """Raise Stopping once the app began to stop. Faust stops the app before its tables
        (and the tables before the agents), so a table read made with no `await` between this
        check and the read is a read of an open table."""
        if self.app.should_stop:
            raise Stopping(f"{self.consumer} is stopping")

    def has_left(self, stored: Stored) -> bool:
        """Whether a stored outbox is known to have been acknowledged by Kafka (an empty one
        has nothing to send)."""
        if not stored.outbox or stored.cause in self._sent:
            return True
        if stored.source is None:
            return False
        topic, partition, offset = stored.source
        frontier = self.ledger.frontier.get(TP(topic, partition))
        return frontier is not None and offset < frontier

    def _meter(self, stream: faust.StreamT) -> metrics.AgentMeter:
        return metrics.AgentMeter(stream.prefix.rpartition(".")[2] or self.consumer)

    def _finished(self, meter: metrics.AgentMeter, event: faust.EventT, taken: float) -> None:
        """The record's outputs and state are stored: its offset may be committed."""
        self.ledger.done(event.message.tp, event.message.offset)
        meter.finished(
            metrics.header(event.message.headers, "event_type"), time.perf_counter() - taken
        )

    def topic(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name, key_serializer="raw", value_serializer="raw", internal=False
            )
        return self._topics[name]

    async def encode(self, message: Message) -> Outgoing:
        value = await _until_registry_answers(partial(self.codec.encode, message))
        spec = topics.BY_NAME.get(message.topic)
        partition = kafka.partition_of(spec, message.data, self.partitions) if spec else None
        headers = headers_for(message)
        return Outgoing(message.topic, message.key.encode(), value, headers, partition)

    async def send_encoded(self, outgoing: Iterable[Outgoing]) -> None:
        """Send and wait until Kafka acknowledged every one."""
        pending = [
            await self.topic(out.topic).send(
                key=out.key, value=out.value, headers=out.headers, partition=out.partition
            )
            for out in outgoing
        ]
        if pending:
            await asyncio.gather(*pending)

    async def send_all(self, messages: list[Message]) -> None:
        """Encode, send and wait until Kafka acknowledged every one."""
        await self.send_encoded([await self.encode(message) for message in messages])
        _count_outcomes(messages)

    async def dead_letter(self, event: faust.EventT, reason: str, detail: str) -> None:
        source = event.message
        headers = dead_letter_headers(
            reason, detail, source.topic, source.partition, source.offset, self.consumer
        )
        sent = await self.topic(f"{source.topic}.dlq").send(
            key=source.key, value=source.value, headers=headers
        )
        await sent
        metrics.DEAD_LETTERS.labels(self.consumer, source.topic, reason).inc()
        log.warning(
            "dead-lettered record",
            extra={
                "correlation_id": metrics.header(source.headers, "correlation_id") or None,
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
                "reason": reason,
                "detail": detail,
            },
        )

    @staticmethod
    def passes_by(event: faust.EventT, acts_on: frozenset[str]) -> bool:
        """Whether the record's `event_type` header names a type outside `acts_on`: an agent
        that would only drop it need not decode it. A record without the header is decoded
        (and dead-lettered if it is not an event)."""
        event_type = metrics.header(event.message.headers, "event_type")
        return bool(event_type) and event_type not in acts_on

    async def decode(self, event: faust.EventT) -> Message | None:
        source = event.message
        key = source.key.decode(errors="replace") if source.key else ""
        try:
            return await _until_registry_answers(
                lambda: self.codec.decode(source.topic, key, source.value)
            )
        except DecodeError as exc:
            await self.dead_letter(event, exc.reason, exc.detail)
            return None

    async def run_in_batches(
        self,
        stream: faust.StreamT,
        table: faust.types.TableT,
        decide: BatchDecide,
        load: Callable[[Any], Any],
        dump: Callable[[Any], Any],
        most: int = 500,
        side: Side | None = None,
        acts_on: frozenset[str] | None = None,
        committed: Committed | None = None,
        prepare: Prepare | None = None,
    ) -> None:
        """Feed the stream through `decide` a batch at a time (`each_batch`). A batch is
        decided record by record in arrival order (a key's state carries from one of its
        records to the next), then each key's state is stored once with the outputs of all
        its records (one changelog record per key, all acknowledged together), then all
        outputs are sent and acknowledged together, and only then do the records count as
        finished. The crash guarantee is the one of `run`: a key's stored outbox holds every
        output of its records in the batch, and its cause is the last of them (the earlier
        ones are already in its state, which a decider treats as seen).

        `side`: each message may also read and write one record of its own beside its key's
        state, in the same table partition (`Side`); `decide(state, side_state, message,
        now)` returns (state, side_state, outputs). The side records a key's batch changed are
        stored inside the key's value with its outbox, then written under their own keys:
        after a crash between the two, the key's next read writes them again (`_land`).

        `acts_on`: the message types `decide` may change anything for; a record whose
        `event_type` header names another type is finished without being decoded.

        `committed(message, before, after)`: called for each key once its state is stored
        (before: its state when the batch began; message: its last one).
        `prepare(reads)`: awaited with the batch's decoded messages before any is decided:
        what decisions need from outside (payment: the gateway's verdicts) asked for all of
        them at once.

        `decide_all_here` and `resend_here` work on the table: one batch or one of those at a
        time."""
        participant = _Participant(
            table, decide, load, dump, lambda m: m.key, committed, side, acts_on, prepare
        )
        self._batched[id(table)] = participant
        await self.each_batch(stream, partial(self._decide_batch, participant), most=most)

    async def each_batch(
        self,
        stream: faust.StreamT,
        handle: Callable[[list[faust.EventT]], Awaitable[None]],
        in_order: bool = False,
        most: int = 500,
    ) -> None:
        """Hand the stream's records to `handle` a batch at a time: every record that arrived
        while the previous batch was handled (at most `most`), so a trickle costs a wake-up
        per batch, not per record. The records count as finished (their offsets may be
        committed) once `handle` returned; if it raises, none of them does (the ledger holds
        the commit and the partition is read again).

        `in_order`: strictly in offset order per partition, each record once. A record behind
        the ledger's frontier is finished already and skipped; one beyond the record expected
        next (a record before it never arrived, which Faust can drop around a restart) is left
        unfinished, so it comes again when the ledger re-reads the partition from the missing
        record (`_InOrder`)."""
        meter = self._meter(stream)
        arrived: asyncio.Queue[_Arrived] = asyncio.Queue(maxsize=2 * most)
        order = _InOrder(self.ledger) if in_order else None
        worker = asyncio.create_task(self._batches(handle, meter, arrived, most, order))
        try:
            async for event in stream.events():
                if order is not None and not order.takes(event):
                    continue
                if worker.done():  # it can only end by failing: the agent fails with it
                    await worker
                self.ledger.busy += 1  # from now on an agent has it (see Ledger.stuck)
                era = order.era(event) if order is not None else 0
                await arrived.put(_Arrived(event, time.perf_counter(), era))
            # the stream ended (the agent stops): finish what arrived
            finishing = asyncio.ensure_future(arrived.join())
            await asyncio.wait([finishing, worker], return_when=asyncio.FIRST_COMPLETED)
            if worker.done():
                finishing.cancel()
                await worker
        finally:
            worker.cancel()

    async def _batches(
        self,
        handle: Callable[[list[faust.EventT]], Awaitable[None]],
        meter: metrics.AgentMeter,
        arrived: asyncio.Queue[_Arrived],
        most: int,
        order: _InOrder | None,
    ) -> None:
        while True:
            batch = [await arrived.get()]
            while len(batch) < most and not arrived.empty():
                batch.append(arrived.get_nowait())
            # in order: what was taken before a batch of its partition failed waits for the
            # re-read (handled now, it would be counted before the records that failed)
            taken = [a for a in batch if order is None or order.current(a)]
            try:
                if taken:
                    await handle([a.event for a in taken])
            except Stopping:
                log.info("stopping: %d records left for the partitions' next owner", len(taken))
                if order is not None:
                    order.failed([a.event for a in taken])
            except Exception:
                # not finished: the ledger holds the commit and the partition is read again
                log.exception(
                    "batch of %d records from %s[%s]@%s failed", len(taken), *_where(taken[0].event)
                )
                if order is not None:
                    order.failed([a.event for a in taken])
            else:
                for a in taken:
                    self._finished(meter, a.event, a.taken)
            finally:
                self.ledger.busy -= len(batch)
                for _ in batch:
                    arrived.task_done()

    async def _decide_batch(self, p: _Participant, batch: list[faust.EventT]) -> None:
        """Decode a batch (see `run_in_batches`), then decide it, store, send."""
        reads: list[Read] = []
        for event in batch:
            if p.acts_on is not None and self.passes_by(event, p.acts_on):
                continue
            message = await self.decode(event)
            if message is not None:  # else dead-lettered
                reads.append(Read(message, event, event))
        if reads:
            async with p.turn:
                await self._decide_reads(p, reads)

    async def _decide_reads(self, p: _Participant, reads: list[Read]) -> dict[Any, _Decided]:
        """Decide messages in order (a key's state carries from one to the next), store each
        key's state once with all its outputs, then send them all. Returns what each key
        stored."""
        if p.prepare is not None:
            await p.prepare(reads)
        keys: dict[Any, _Decided] = {}
        sides: dict[str, Any] = {}  # side key -> its state as decided in this batch
        outgoing: list[Outgoing] = []
        outputs: list[Message] = []
        for read in reads:
            message = read.message
            key = p.key_of(message)
            cause = message.envelope.event_id
            decided = keys.get(key)
            if decided is None:
                self.ensure_running()  # no await between this and the read
                stored = Stored.from_table(stored_value(p.table, key))
                await self._land(p, stored, read.at)
                if stored.cause == cause:  # handled before; its outputs may not have left
                    await self.send_left_over(stored)
                    continue
                if stored.outbox:  # a crash left them: they go out before what follows
                    await self.send_left_over(stored)
                state = p.load(stored.state) if stored.state is not None else None
                before = state
                if await self._too_old(p.table, state, message, read.record):
                    continue
            elif decided.cause == cause:  # the same record twice in one batch
                continue
            else:
                state, before = decided.state, decided.before
            side_key = p.side.key_of(message) if p.side else None
            side_state = None
            if p.side and side_key is not None:
                self.ensure_running()
                side_state = (
                    sides[side_key] if side_key in sides else p.side.read(p.table, side_key)
                )
            try:
                if p.side:
                    new_state, new_side, produced = p.decide(
                        state, side_state, message, now_millis()
                    )
                else:
                    new_state, produced = p.decide(state, message, now_millis())
                    new_side = None
            except (KeyError, TypeError, ValueError, ArithmeticError) as exc:
                await self._cannot_act(message, read.record, exc)
                continue
            _log_processed(message, key, produced)
            side_changed = side_key is not None and new_side != side_state
            if not produced and new_state == state and not side_changed:
                continue  # nothing changed: nothing to store
            encoded = [await self.encode(output) for output in produced]
            outgoing.extend(encoded)
            outputs.extend(produced)
            if new_state is not None:
                earlier = decided.outbox if decided is not None else ()
                written = dict(decided.side) if decided is not None else {}
                if side_changed and p.side and side_key is not None:
                    sides[side_key] = new_side
                    written[side_key] = p.side.dump(new_side)
                keys[key] = _Decided(
                    new_state, before, read, cause, earlier + tuple(encoded), written
                )
        superseded = _superseded(outgoing)
        if superseded:  # a level written twice in the batch: only its last one goes out
            outgoing = [out for out in outgoing if id(out) not in superseded]
            for key, decided in keys.items():
                kept = tuple(out for out in decided.outbox if id(out) not in superseded)
                keys[key] = replace(decided, outbox=kept)
        if keys:
            # each key's state with its outputs (and side records), in the changelog before
            # they leave; then the side records under their own keys
            async with changelog.acknowledged():
                for key, decided in keys.items():
                    with reading(decided.read.at):  # the key's partition (see `reading`)
                        p.table[key] = Stored(
                            p.dump(decided.state),
                            decided.cause,
                            decided.read.source,
                            decided.outbox,
                            decided.side,
                        ).to_json()
                        if p.committed is not None:
                            p.committed(decided.read.message, decided.before, decided.state)
            await self._write_sides(p, [(d.side, d.read.at) for d in keys.values() if d.side])
        await self.send_encoded(outgoing)
        for decided in keys.values():
            self._sent.add(decided.cause)
            if decided.side:
                self._landed.add(decided.cause)
        _count_outcomes(outputs)
        return keys

    async def _land(self, p: _Participant, stored: Stored, at: Any) -> None:
        """Write again the side records a stored value holds, unless they are known to be in
        the table already: a crash may have come between the value and them."""
        if stored.side and stored.cause is not None and stored.cause not in self._landed:
            await self._write_sides(p, [(stored.side, at)])
            self._landed.add(stored.cause)

    async def _write_sides(
        self, p: _Participant, written: list[tuple[Mapping[str, Any], Any]]
    ) -> None:
        """Side records under their own keys, acknowledged by the changelog, each in the
        partition of the record that decided it (the partition of its key's state)."""
        if not written:
            return
        async with changelog.acknowledged():
            for records, at in written:
                with reading(at):
                    for side_key, value in records.items():
                        p.table[side_key] = value

    async def _cannot_act(
        self, message: Message, event: faust.EventT | None, exc: Exception
    ) -> None:
        """A well-formed record the decider cannot act on: log it, park it (a decision the
        worker takes itself has no record to park), keep going."""
        log.error(
            "cannot act on %s: %r",
            message.type,
            exc,
            extra={"correlation_id": message.envelope.correlation_id},
        )
        if event is not None:
            await self.dead_letter(event, "invalid-event", repr(exc))

    async def send_left_over(self, stored: Stored) -> None:
        """Send a stored outbox again unless it is known to have left."""
        if stored.outbox and not self.has_left(stored):
            await self.send_encoded(stored.outbox)
            if stored.cause is not None:
                self._sent.add(stored.cause)

    async def decide_all_here(
        self,
        table: faust.types.TableT,
        messages: list[Message],
        settled: Callable[[Any], bool] = lambda _state: False,
    ) -> bool:
        """Decide messages the worker makes itself (no Kafka record: a timer's ticks) as if
        they had been read after what the agent has read so far: as one batch between the
        agent's. Returns False when the table's agent is not running here yet.

        Their outboxes can be known to have left only in this process's memory (there is no
        offset to commit), so after a restart they are sent again (`send_left_over`) when a
        key's next message comes, or by whoever reads the table back (`resend_here`). When
        `settled` says a new state expects no next message, it is stored once more without
        its outbox once the outputs left, so nobody has to look at it again."""
        p = self._batched.get(id(table))
        if p is None:
            return False
        reads = [Read(m, StandIn(m.topic, self._partition_of(m)), None) for m in messages]
        try:
            async with p.turn:
                decided = await self._decide_reads(p, reads)
                self.ensure_running()  # the states below are stored in an open table
                done = {key: d for key, d in decided.items() if settled(d.state)}
                if done:
                    async with changelog.acknowledged():
                        for key, d in done.items():
                            with reading(d.read.at):
                                p.table[key] = Stored(p.dump(d.state), d.cause).to_json()
        except Stopping:
            pass  # the clock decides them again after the restart
        except Exception:
            log.exception("%d decisions of the worker's own failed", len(messages))
        return True

    async def resend_here(self, table: faust.types.TableT, key: Any) -> None:
        """Send a key's stored outbox again, unless known to have left, between the table's
        batches."""
        p = self._batched.get(id(table))
        if p is None:
            return
        async with p.turn:
            try:
                self.ensure_running()
                await self.send_left_over(Stored.from_table(stored_value(table, key)))
            except Stopping:
                pass
            except Exception:
                log.exception("re-sending the outbox of %r failed", key)

    def _partition_of(self, message: Message) -> int:
        spec = topics.BY_NAME[message.topic]
        return kafka.partition_for(spec, message.key, message.data, self.partitions)


@dataclass(frozen=True)
class _Arrived:
    """A record waiting for its batch: when it arrived, and (in order) its partition's era."""

    event: faust.EventT
    taken: float
    era: int


class _InOrder:
    """Where an in-order reader is, per partition. It takes the ledger's frontier (the first
    record not finished; where a re-read starts) or the record after the last it took (taken
    records are ahead of the frontier until their batch finishes). A record beyond both means
    one before it never arrived: the ledger re-reads the partition from there. When a batch
    fails, its partitions start a new era: nothing more of them is taken until the ledger
    re-reads from the frontier, and what was taken in the old era is dropped unhandled."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger
        self._next: dict[TP, int] = {}
        self._era: dict[TP, int] = {}
        self._blocked: set[TP] = set()

    def takes(self, event: faust.EventT) -> bool:
        tp, offset = event.message.tp, event.message.offset
        frontier = self.ledger.frontier.get(tp)
        if frontier is None:
            return True
        expected = None if tp in self._blocked else self._next.get(tp)
        if offset in (frontier, expected):
            self._blocked.discard(tp)
            self._next[tp] = offset + 1
            return True
        next_one = frontier if expected is None else max(frontier, expected)
        if offset > next_one:
            self.ledger.missed(tp, at=next_one)
        return False

    def era(self, event: faust.EventT) -> int:
        return self._era.get(event.message.tp, 0)

    def current(self, arrived: _Arrived) -> bool:
        return arrived.era == self.era(arrived.event)

    def failed(self, events: list[faust.EventT]) -> None:
        for tp in {event.message.tp for event in events}:
            self._era[tp] = self._era.get(tp, 0) + 1
            self._blocked.add(tp)
            self._next.pop(tp, None)


@dataclass(frozen=True)
class Read:
    """A message to decide, and where it comes from: `record`, the Kafka record it was read
    from (None: a decision the worker takes itself); `at`, Faust's current event while its
    key's state is written (the record, or a `StandIn` for the partition it belongs to)."""

    message: Message
    at: Any
    record: faust.EventT | None

    @property
    def source(self) -> tuple[str, int, int] | None:
        if self.record is None:
            return None
        return _where(self.record)


@dataclass(frozen=True)
class _Decided:
    """A key's state so far within a batch: what to store for it once the batch is decided."""

    state: Any
    before: Any  # its state when the batch began
    read: Read  # its last message: its cause, and where its state is written
    cause: str
    outbox: tuple[Outgoing, ...]
    side: Mapping[str, Any] = field(default_factory=dict)  # side key -> value as stored


Prepare = Callable[[list[Read]], Awaitable[None]]


@dataclass(frozen=True)
class _Participant:
    """What an agent's shell needs to decide one message: its table, its decider, the
    state's JSON form, which key a message belongs to, and what to do once stored."""

    table: faust.types.TableT
    decide: BatchDecide
    load: Callable[[Any], Any]
    dump: Callable[[Any], Any]
    key_of: Callable[[Message], str]
    committed: Committed | None
    side: Side | None = None
    # the message types the decider acts on (None: every type); others pass by undecoded
    acts_on: frozenset[str] | None = None
    prepare: Prepare | None = None
    # a batch table's: held while a batch, or a decision the worker takes itself, is decided
    turn: asyncio.Lock = field(default_factory=asyncio.Lock)


@dataclass(frozen=True)
class Side:
    """A record a message reads and writes beside its key's state, in the table partition of
    that state (inventory: an order's hold on a SKU, streams/domain/inventory.py): its key
    for a message (None: none), and its JSON form. Side records are stored bare (no outbox)."""

    key_of: Callable[[Message], str | None]
    load: Callable[[Any], Any]
    dump: Callable[[Any], Any]

    def read(self, table: Any, key: str) -> Any:
        value = stored_value(table, key)
        return None if value is None else self.load(value)


def _count_outcomes(messages: list[Message]) -> None:
    """Only the order saga emits terminal order events; counted once Kafka acknowledged them
    (an outbox sent again after a crash is not counted again)."""
    for message in messages:
        outcome = metrics.saga_outcome(message.type, message.data)
        if outcome is not None:
            metrics.SAGA_OUTCOMES.labels(outcome).inc()


def _superseded(outgoing: list[Outgoing]) -> set[int]:
    """The outputs (their ids) to a `latest` topic that a later output of the same list
    writes again under the same key and partition: each record there is its key's whole value,
    so only the last one says anything."""
    last: dict[tuple[str, bytes, int | None], Outgoing] = {}
    superseded: set[int] = set()
    for out in outgoing:
        spec = topics.BY_NAME.get(out.topic)
        if spec is None or not spec.latest:
            continue
        earlier = last.get((out.topic, out.key, out.partition))
        if earlier is not None:
            superseded.add(id(earlier))
        last[(out.topic, out.key, out.partition)] = out
    return superseded


def _log_processed(message: Message, key: str, outputs: list[Message]) -> None:
    """One line per record decided, at DEBUG (ORDERFLOW_LOG_LEVEL=DEBUG follows an order
    through the logs): at INFO the hot path writes none, and builds nothing for it."""
    if not log.isEnabledFor(logging.DEBUG):
        return
    log.debug(
        "processed %s",
        message.type,
        extra={
            "correlation_id": message.envelope.correlation_id,
            "order_id": message.data.get("order_id"),
            "key": key,
            "outputs": [o.type for o in outputs],
        },
    )


def _where(event: faust.EventT) -> tuple[str, int, int]:
    return event.message.topic, event.message.partition, event.message.offset


async def _until_registry_answers(call: Callable[[], Any]) -> Any:
    """Run a codec call, waiting out a registry outage (orderflow/retry.py)."""
    waits = retry.waits()
    while True:
        try:
            return call()
        except RegistryUnavailable as exc:
            wait = next(waits)
            log.warning("schema registry unavailable, retrying in %.1fs: %s", wait, exc)
            await asyncio.sleep(wait)
