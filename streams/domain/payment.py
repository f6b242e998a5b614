"""The payment participant: a simulated gateway with retries, a fraud rule over a spend
window, and refunds. One verdict per order, remembered, so a repeated AuthorizePayment gets
the same answer and never a second authorization; a refund happens at most once.

Gateway scenarios (from the order's `payment.scenario`): `approve`, `decline`, and `error`:
the gateway fails transiently on every call, which the agent retries with exponential
backoff up to MAX_ATTEMPTS before declining with GATEWAY_ERROR."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from schemas import messages, topics
from schemas.events import Message, derive_id
from streams.domain.money import money

PRODUCER = "payment-agent"
AUTHORIZED = "PaymentAuthorized"
DECLINED = "PaymentDeclined"
MAX_ATTEMPTS = 4

# What one gateway call answers.
APPROVED = "approved"
REFUSED = "refused"
TRANSIENT = "transient-error"


@dataclass(frozen=True)
class Verdict:
    """What the gateway (with retries) and the fraud rule concluded for one authorization."""

    outcome: str  # AUTHORIZED | DECLINED
    code: str | None = None  # DECLINED, GATEWAY_ERROR, FRAUD_SUSPECTED
    reason: str | None = None
    attempts: int = 1


@dataclass(frozen=True)
class PaymentState:
    order_id: str
    customer_id: str
    outcome: str
    amount: str
    currency: str
    authorization_id: str | None = None
    code: str | None = None
    reason: str | None = None
    attempts: int = 1
    refunded: bool = False
    # when its last verdict was made (authorized, declined, refunded; epoch ms): retired after
    ended_at: int | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentState:
        return cls(**data)


def gateway_call(scenario: str, attempt: int) -> str:
    """The simulated gateway's answer to one call."""
    if scenario == "approve":
        return APPROVED
    if scenario == "error":
        return TRANSIENT
    return REFUSED


def backoff_s(attempt: int, base_s: float) -> float:
    """Delay before retry number `attempt` (1-based): base, 2*base, 4*base, ..."""
    return base_s * 2 ** (attempt - 1)


def verdict_after(answers: list[str]) -> Verdict:
    """The verdict once the calls made so far ended (a final answer, or attempts ran out)."""
    last, attempts = answers[-1], len(answers)
    if last == APPROVED:
        return Verdict(AUTHORIZED, attempts=attempts)
    if last == REFUSED:
        return Verdict(DECLINED, "DECLINED", "the gateway declined the card", attempts)
    return Verdict(
        DECLINED, "GATEWAY_ERROR", f"gateway unavailable after {attempts} attempts", attempts
    )


def fraud_suspected(spent_in_window: Decimal, amount: Decimal, limit: Decimal) -> bool:
    """The fraud rule: a customer's authorized spend within one window may not pass `limit`."""
    return spent_in_window + amount > limit


FRAUD = Verdict(DECLINED, "FRAUD_SUSPECTED", "spend limit for the time window exceeded")


def authorize(
    state: PaymentState | None, msg: Message, now: int, verdict: Verdict
) -> tuple[PaymentState, list[Message]]:
    """Record the verdict and announce it; an order already decided gets nothing new."""
    asked = messages.typed(msg, messages.AuthorizePayment)
    if state is not None:
        return state, []
    state = PaymentState(
        order_id=asked.order_id,
        customer_id=asked.customer_id,
        outcome=verdict.outcome,
        amount=str(money(asked.amount)),
        currency=asked.currency,
        authorization_id=(
            derive_id("authorization", asked.order_id) if verdict.outcome == AUTHORIZED else None
        ),
        code=verdict.code,
        reason=verdict.reason,
        attempts=verdict.attempts,
        ended_at=now,
    )
    common = {
        "order_id": state.order_id,
        "amount": money(state.amount),
        "currency": state.currency,
        "attempts": state.attempts,
    }
    if state.outcome == AUTHORIZED:
        details = {**common, "authorization_id": state.authorization_id}
    else:
        details = {**common, "reason": state.reason, "code": state.code}
    event = msg.caused(
        state.outcome, topics.PAYMENTS_EVENTS.name, state.order_id, details, PRODUCER, now
    )
    return state, [event]


def refund(
    state: PaymentState | None, msg: Message, now: int
) -> tuple[PaymentState | None, list[Message]]:
    """Refund an authorization once. The saga asks only for what was authorized, so a
    refund that finds no state is for an authorization retired since (streams/retirement.py):
    made from the command, which names the amount."""
    if state is None:
        asked = messages.typed(msg, messages.RefundPayment)
        state = PaymentState(
            order_id=asked.order_id,
            customer_id=asked.customer_id,
            outcome=AUTHORIZED,
            amount=str(money(asked.amount)),
            currency=asked.currency,
            authorization_id=derive_id("authorization", asked.order_id),
        )
    if state.outcome != AUTHORIZED:
        return state, []  # nothing was charged
    if state.refunded:
        return state, []
    state = replace(state, refunded=True, ended_at=now)
    event = msg.caused(
        "PaymentRefunded",
        topics.PAYMENTS_EVENTS.name,
        state.order_id,
        {
            "order_id": state.order_id,
            "amount": money(state.amount),
            "currency": state.currency,
            "authorization_id": state.authorization_id,
        },
        PRODUCER,
        now,
    )
    return state, [event]


def ended(state: Mapping[str, Any]) -> bool:
    """Every stored payment has its verdict: each is retired a window after its last one
    (streams/retirement.py); a refund asked later is made from its command (`refund`)."""
    return True


# The messages that create a payment's state: refused once older than the retirement window.
CREATES = ("AuthorizePayment", "RefundPayment")
