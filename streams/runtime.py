"""The shell around a decider: decode a record (or dead-letter it), load state from the
table, decide, store state, send the outputs. Every agent is this loop with its own decider."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

import faust

from schemas.codec import Codec, DecodeError, dead_letter_headers, headers_for
from schemas.events import Message, now_millis
from schemas.registry import RegistryUnavailable

log = logging.getLogger("orderflow.streams")

Decide = Callable[[Any, Message, int], tuple[Any, list[Message]]]


class Shell:
    """What every agent shares: the app (for topics), the codec, and dead-lettering."""

    def __init__(self, app: faust.App, codec: Codec) -> None:
        self.app = app
        self.codec = codec
        self._topics: dict[str, faust.TopicT] = {}

    def topic(self, name: str) -> faust.TopicT:
        if name not in self._topics:
            self._topics[name] = self.app.topic(
                name, key_serializer="raw", value_serializer="raw", internal=False
            )
        return self._topics[name]

    async def send(self, message: Message) -> None:
        value = await _until_registry_answers(lambda: self.codec.encode(message))
        await self.topic(message.topic).send(
            key=message.key.encode(), value=value, headers=headers_for(message)
        )

    async def dead_letter(self, event: faust.EventT, reason: str, detail: str) -> None:
        source = event.message
        headers = dead_letter_headers(reason, detail, source.topic, source.partition, source.offset)
        await self.topic(f"{source.topic}.dlq").send(
            key=source.key, value=source.value, headers=headers
        )
        log.warning(
            "dead-lettered record",
            extra={
                "topic": source.topic,
                "partition": source.partition,
                "offset": source.offset,
                "reason": reason,
                "detail": detail,
            },
        )

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

    async def run(
        self,
        stream: faust.StreamT,
        table: faust.types.TableT,
        decide: Decide,
        load: Callable[[Any], Any],
        dump: Callable[[Any], Any],
    ) -> None:
        """Feed each record of the stream through `decide` with the state of its key."""
        async for event in stream.events():
            message = await self.decode(event)
            if message is None:
                continue
            stored = table.get(message.key)
            state = load(stored) if stored is not None else None
            try:
                new_state, outputs = decide(state, message, now_millis())
            except (KeyError, TypeError, ValueError) as exc:
                # A well-formed record the decider cannot act on: park it, keep going.
                await self.dead_letter(event, "invalid-event", repr(exc))
                continue
            if new_state is not None and new_state != state:
                table[message.key] = dump(new_state)
            for output in outputs:
                await self.send(output)
            log.info(
                "processed %s",
                message.type,
                extra={
                    "correlation_id": message.envelope.correlation_id,
                    "order_id": message.data.get("order_id"),
                    "key": message.key,
                    "outputs": [o.type for o in outputs],
                },
            )


async def _until_registry_answers(call: Callable[[], Any]) -> Any:
    """Run a codec call, waiting out a registry outage with capped backoff."""
    delay = 0.5
    while True:
        try:
            return call()
        except RegistryUnavailable as exc:
            log.warning("schema registry unavailable, retrying in %.1fs: %s", delay, exc)
            await asyncio.sleep(delay)
            delay = min(delay * 2, 10.0)
