"""Payment: commands are keyed by order_id but partitioned by customer (schemas/topics.py),
so one customer's spend window (the fraud rule) and their orders' verdicts share a partition,
and one customer's commands are handled one at a time."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from decimal import Decimal
from typing import Any

import faust

from orderflow.roles import BY_NAME
from schemas import messages
from schemas.events import Message
from streams.app import Worker
from streams.domain import payment
from streams.domain.money import money


def _command(msg: Message) -> messages.AuthorizePayment | messages.RefundPayment:
    """A payment command (what payments.commands.v1 carries)."""
    command = messages.payload(msg)
    if not isinstance(command, messages.AuthorizePayment | messages.RefundPayment):
        raise TypeError(f"{msg.type} on {msg.topic}")
    return command


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

    async def gateway(scenario: str) -> payment.Verdict:
        """Call the (simulated) gateway, retrying transient errors with exponential backoff."""
        answers: list[str] = []
        while True:
            answers.append(payment.gateway_call(scenario, len(answers) + 1))
            if answers[-1] != payment.TRANSIENT or len(answers) >= payment.MAX_ATTEMPTS:
                return payment.verdict_after(answers)
            await asyncio.sleep(payment.backoff_s(len(answers), settings.payment_backoff_s))

    def spent(customer_id: str) -> Decimal:
        return money(spend_table[customer_id].current() or 0)

    async def decide_payment(
        state: payment.PaymentState | None, msg: Message, now: int
    ) -> tuple[Any, list[Message]]:
        if msg.type == "RefundPayment":
            return payment.refund(state, msg, now)
        if msg.type != "AuthorizePayment" or state is not None:
            return state, []
        asked = messages.typed(msg, messages.AuthorizePayment)
        amount = money(asked.amount)
        if payment.fraud_suspected(spent(asked.customer_id), amount, money(settings.fraud_limit)):
            verdict = payment.FRAUD
        else:
            verdict = await gateway(asked.scenario)
        return payment.authorize(state, msg, now, verdict)

    def count_spend(msg: Message, before: Any, after: Any) -> None:
        """Once a new authorization is stored, it counts against the customer's window."""
        if before is None and after.outcome == payment.AUTHORIZED:
            customer = after.customer_id
            spend_table[customer] = str(spent(customer) + money(after.amount))

    @worker.app.agent(worker.source(*BY_NAME["payment"].inputs), name=f"{__name__}.payment_agent")
    async def payment_agent(stream: faust.StreamT) -> None:
        await worker.shell.run(
            stream,
            payments_table,
            decide_payment,
            payment.PaymentState.from_json,
            payment.PaymentState.to_json,
            key_of=lambda m: _command(m).order_id,
            committed=count_spend,
            # gateway calls wait (retries back off for seconds): many side by side; one
            # customer's commands one at a time (the fraud window reads and adds their spend)
            side_by_side=settings.payment_side_by_side,
            lane_of=lambda m: _command(m).customer_id,
        )
