"""Payment: commands are keyed by order_id but partitioned by customer (schemas/topics.py),
so one customer's spend window (the fraud rule) and their orders' verdicts share a partition,
and one customer's commands are decided in the order they were read."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from datetime import timedelta
from decimal import Decimal
from typing import Any

import faust

from orderflow.roles import BY_NAME
from schemas.events import Message, now_millis
from streams.app import Read, Worker
from streams.domain import payment
from streams.domain.money import money
from streams.domain.schedule import Due
from streams.outbox import state_of, stored_states, stored_value


async def gateway_verdicts(
    by_customer: Mapping[str, list[tuple[Read, payment.Asked]]],
    spent: Callable[[str, Read], Decimal],
    limit: Decimal,
    call: Callable[[str, int], Awaitable[str]],
) -> dict[str, payment.Verdict]:
    """The verdict of each asking message, by its event id: one customer's calls one after
    the other in arrival order, each checked against the fraud window with what the earlier
    ones authorized (`spent`: the window's spend before the first), different customers'
    calls side by side."""
    verdicts: dict[str, payment.Verdict] = {}

    async def in_order(customer_id: str, asks: list[tuple[Read, payment.Asked]]) -> None:
        spend = spent(customer_id, asks[0][0])
        for read, asking in asks:
            if payment.fraud_suspected(spend, asking.amount, limit):
                verdict = payment.FRAUD
            else:
                verdict = payment.verdict_of(
                    asking.attempt, await call(asking.scenario, asking.attempt)
                )
            verdicts[read.message.envelope.event_id] = verdict
            if verdict.outcome == payment.AUTHORIZED:
                spend += asking.amount

    await asyncio.gather(*(in_order(c, asks) for c, asks in by_customer.items()))
    return verdicts


def install(worker: Worker) -> None:
    settings = worker.settings
    payments_table = worker.table(
        "payments", "Payment verdict per order_id (partitioned by customer)"
    )
    worker.retire(payments_table, payment.ended, payment.CREATES)
    spend_table = worker.table(
        "customer_spend",
        "Authorized spend per customer per fraud window",
        default=int,  # a window with no spend yet reads 0
        windowed=True,
    ).tumbling(
        timedelta(seconds=settings.fraud_window_s),
        expires=timedelta(seconds=settings.fraud_window_s * 2),
    )

    backoff_ms = int(settings.payment_backoff_s * 1000)

    def spent(customer_id: str, event: Any = None) -> Decimal:
        """The customer's authorized spend in the fraud window of `event` (None: Faust's
        current event)."""
        return money(spend_table[customer_id].current(event) or 0)

    def stored_payment(order_id: str) -> payment.PaymentState | None:
        stored = state_of(stored_value(payments_table, order_id))
        return None if stored is None else payment.PaymentState.from_json(stored)

    # the verdicts of what is being decided, by the asking message's event id (`ask`)
    verdicts: dict[str, payment.Verdict] = {}

    async def ask(reads: list[Read]) -> None:
        """Every gateway verdict a batch needs, before any of it is decided
        (`gateway_verdicts`). No call waits for a backoff (a transient failure is a verdict
        to retry: streams/domain/payment.py)."""
        verdicts.clear()
        by_customer: dict[str, list[tuple[Read, payment.Asked]]] = {}
        orders: set[str] = set()
        for read in reads:
            if read.message.type not in ("AuthorizePayment", payment.RETRY):
                continue
            order_id = read.message.key
            asking = payment.asked(stored_payment(order_id), read.message)
            if asking is not None and order_id not in orders:  # a repeat in the batch: once
                orders.add(order_id)
                by_customer.setdefault(asking.customer_id, []).append((read, asking))
        limit = money(settings.fraud_limit)
        found = await gateway_verdicts(
            by_customer, lambda c, read: spent(c, read.at), limit, gateway_call
        )
        verdicts.update(found)

    async def gateway_call(scenario: str, attempt: int) -> str:
        """One call to the (simulated) gateway."""
        return payment.gateway_call(scenario, attempt)

    def decide_payment(
        state: payment.PaymentState | None, msg: Message, now: int
    ) -> tuple[Any, list[Message]]:
        if msg.type == "RefundPayment":
            return payment.refund(state, msg, now)
        if payment.asked(state, msg) is None:
            return state, []
        return payment.authorize(state, msg, now, verdicts[msg.envelope.event_id], backoff_ms)

    # the retrying authorizations on this worker's partitions: order_id -> when due
    retries = Due()

    def committed(msg: Message, before: Any, after: Any) -> None:
        """Once stored: a new authorization counts against the customer's window; a retrying
        one is due again at its time."""
        retries.track(after.order_id, after.retry_at if after.outcome == payment.RETRYING else None)
        if after.outcome == payment.AUTHORIZED and (
            before is None or before.outcome == payment.RETRYING
        ):
            customer = after.customer_id
            spend_table[customer] = str(spent(customer) + money(after.amount))

    @worker.app.agent(worker.source(*BY_NAME["payment"].inputs), name=f"{__name__}.payment_agent")
    async def payment_agent(stream: faust.StreamT) -> None:
        await worker.shell.run_in_batches(
            stream,
            payments_table,
            decide_payment,
            payment.PaymentState.from_json,
            payment.PaymentState.to_json,
            committed=committed,
            prepare=ask,
        )

    @worker.app.timer(interval=max(0.05, settings.payment_backoff_s / 2))
    async def retry_clock() -> None:
        """Retrying authorizations whose backoff passed ask the gateway again, decided as one
        batch by the agent's shell."""
        app = worker.app
        if app.rebalancing:
            return
        left_over: list[str] = []
        if retries.rebuild_after_rebalance(
            app.consumer_generation_id,
            lambda: (
                (p.order_id, p.retry_at if p.outcome == payment.RETRYING else None)
                for p in stored_states(payments_table, payment.PaymentState.from_json, left_over)
            ),
        ):
            # a verdict the clock made just before a crash: it goes out (again) now
            for order_id in left_over:
                await worker.shell.resend_here(payments_table, order_id)
        now = now_millis()
        ticks = []
        for order_id in retries.due_now(now):
            state = stored_payment(order_id)
            tick = None if state is None else payment.retry_tick(state, now)
            if tick is None:
                retries.track(order_id, None)
            else:
                ticks.append(tick)
        if ticks:
            await worker.shell.decide_all_here(payments_table, ticks, payment.settled)
