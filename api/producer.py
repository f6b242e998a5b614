"""An asyncio face on confluent-kafka's producer: `await send(...)` resolves when the broker
acknowledged the record, or raises KafkaUnavailable within the configured timeout."""

from __future__ import annotations

import asyncio
import threading

from confluent_kafka import KafkaError, Producer

from orderflow import kafka
from schemas.codec import Headers, for_confluent


class KafkaUnavailable(RuntimeError):
    """Kafka did not acknowledge in time; the API answers 503."""


class AsyncProducer:
    def __init__(self, bootstrap: str, timeout_s: float) -> None:
        self.timeout_s = timeout_s
        self._producer = Producer(
            kafka.producer_settings(
                bootstrap,
                **{
                    "enable.idempotence": True,
                    "acks": "all",
                    "linger.ms": 2,
                    "message.timeout.ms": int(timeout_s * 1000),
                    "socket.connection.setup.timeout.ms": int(timeout_s * 1000),
                },
            )
        )
        self._closed = threading.Event()
        self._poller = threading.Thread(target=self._poll, name="kafka-poll", daemon=True)
        self._poller.start()

    def _poll(self) -> None:
        while not self._closed.is_set():
            self._producer.poll(0.1)

    async def send(self, topic: str, key: str, value: bytes, headers: Headers) -> None:
        loop = asyncio.get_running_loop()
        done: asyncio.Future[None] = loop.create_future()

        def settle(error: KafkaError | None, _msg: object) -> None:
            loop.call_soon_threadsafe(_settle, done, error)

        try:
            self._producer.produce(
                topic,
                value=value,
                key=key.encode(),
                headers=for_confluent(headers),
                on_delivery=settle,
            )
        except BufferError as exc:
            raise KafkaUnavailable(f"producer queue full: {exc}") from exc
        try:
            await asyncio.wait_for(done, self.timeout_s + 1.0)
        except TimeoutError as exc:
            raise KafkaUnavailable(f"no acknowledgement from Kafka in {self.timeout_s}s") from exc

    def close(self) -> None:
        self._producer.flush(self.timeout_s)
        self._closed.set()


def _settle(done: asyncio.Future[None], error: KafkaError | None) -> None:
    if done.done():
        return
    if error is None:
        done.set_result(None)
    else:
        done.set_exception(KafkaUnavailable(str(error)))
