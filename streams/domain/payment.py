"""The payment participant: a simulated gateway with retries, a fraud rule over a spend
window, and refunds. One verdict per order, remembered, so a repeated AuthorizePayment gets
the same answer and never a second authorization; a refund happens at most once.

Gateway scenarios (from the order's `payment.scenario`): `approve`, `decline`, and `error`:
the gateway fails transiently on every call. A transient failure is a state, not a wait: the
authorization is stored as retrying, and the worker's clock asks the gateway again once its
backoff passed (`retry_tick`), up to MAX_ATTEMPTS calls, then declines with GATEWAY_ERROR.
So no batch of payments waits for one card's retries. Before every call the fraud rule is
checked against the customer's spend at that moment."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, replace
from decimal import Decimal
from typing import Any

from schemas import messages, topics
from schemas.events import Envelope, Message, derive_id
from streams.domain.money import money

PRODUCER = "payment-agent"
AUTHORIZED = "PaymentAuthorized"
DECLINED = "PaymentDeclined"
RETRYING = "PaymentRetrying"  # a state only: the gateway failed transiently, asked again later
RETRY = "RetryPayment"  # the worker's own message (never on Kafka): ask the gateway again
MAX_ATTEMPTS = 4

# What one gateway call answers.
APPROVED = "approved"
REFUSED = "refused"
TRANSIENT = "transient-error"


@dataclass(frozen=True)
class Verdict:
    """What the gateway (with retries) and the fraud rule concluded for one authorization."""

    outcome: str  # AUTHORIZED | DECLINED | RETRYING
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
    # while RETRYING: what the next gateway call needs, and when it is due (epoch ms)
    scenario: str | None = None
    correlation_id: str | None = None
    command_id: str | None = None  # the AuthorizePayment's event id
    retry_at: int | None = None

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


def backoff_ms(attempt: int, base_ms: int) -> int:
    """Delay after failed call number `attempt` (1-based): base, 2*base, 4*base, ..."""
    return base_ms * 2 ** (attempt - 1)


def verdict_of(attempt: int, answer: str) -> Verdict:
    """The verdict after call number `attempt` (1-based) answered `answer`: final, or RETRYING
    while attempts are left."""
    if answer == APPROVED:
        return Verdict(AUTHORIZED, attempts=attempt)
    if answer == REFUSED:
        return Verdict(DECLINED, "DECLINED", "the gateway declined the card", attempt)
    if attempt < MAX_ATTEMPTS:
        return Verdict(RETRYING, attempts=attempt)
    return Verdict(
        DECLINED, "GATEWAY_ERROR", f"gateway unavailable after {attempt} attempts", attempt
    )


@dataclass(frozen=True)
class Asked:
    """What a message asks of the gateway now: a new authorization's first call, or a due
    retry's next one."""

    order_id: str
    customer_id: str
    amount: Decimal
    scenario: str
    attempt: int


def asked(state: PaymentState | None, msg: Message) -> Asked | None:
    """What `msg` asks of the gateway given the order's payment state; None: nothing (a
    verdict made already, a repeated command, a retry that is not the one due)."""
    if msg.type == "AuthorizePayment" and state is None:
        command = messages.typed(msg, messages.AuthorizePayment)
        return Asked(
            command.order_id, command.customer_id, money(command.amount), command.scenario, 1
        )
    if (
        msg.type == RETRY
        and state is not None
        and state.outcome == RETRYING
        and msg.data.get("attempt") == state.attempts + 1
    ):
        return Asked(
            state.order_id,
            state.customer_id,
            money(state.amount),
            state.scenario or "approve",
            state.attempts + 1,
        )
    return None


def fraud_suspected(spent_in_window: Decimal, amount: Decimal, limit: Decimal) -> bool:
    """The fraud rule: a customer's authorized spend within one window may not pass `limit`."""
    return spent_in_window + amount > limit


FRAUD = Verdict(DECLINED, "FRAUD_SUSPECTED", "spend limit for the time window exceeded")


def authorize(
    state: PaymentState | None, msg: Message, now: int, verdict: Verdict, base_ms: int = 0
) -> tuple[PaymentState | None, list[Message]]:
    """Record the verdict of what `msg` asked (`asked`) and announce a final one; a RETRYING
    verdict is stored with when to ask again (`backoff_ms` from base_ms). A message
    that asks nothing changes nothing."""
    ask = asked(state, msg)
    if ask is None:
        return state, []
    if verdict.outcome == RETRYING:
        command_id = state.command_id if state is not None else msg.envelope.event_id
        retrying = PaymentState(
            order_id=ask.order_id,
            customer_id=ask.customer_id,
            outcome=RETRYING,
            amount=str(ask.amount),
            currency=msg.data["currency"] if state is None else state.currency,
            attempts=verdict.attempts,
            scenario=ask.scenario,
            correlation_id=msg.envelope.correlation_id,
            command_id=command_id,
            retry_at=now + backoff_ms(verdict.attempts, base_ms),
        )
        return retrying, []
    state = PaymentState(
        order_id=ask.order_id,
        customer_id=ask.customer_id,
        outcome=verdict.outcome,
        amount=str(ask.amount),
        currency=msg.data["currency"] if state is None else state.currency,
        authorization_id=(
            derive_id("authorization", ask.order_id) if verdict.outcome == AUTHORIZED else None
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


def retry_tick(state: PaymentState, now: int) -> Message | None:
    """The worker's own message asking the gateway again for a retrying authorization once
    its backoff passed. One id per attempt: a tick decided twice is a recognisable repeat."""
    if state.outcome != RETRYING or state.retry_at is None or now < state.retry_at:
        return None
    attempt = state.attempts + 1
    command_id = state.command_id or state.order_id
    return Message(
        topic=topics.PAYMENTS_COMMANDS.name,
        key=state.order_id,
        envelope=Envelope(
            event_id=derive_id(command_id, RETRY, str(attempt)),
            event_type=RETRY,
            occurred_at=now,
            correlation_id=state.correlation_id or state.order_id,
            causation_id=state.command_id,
            producer="payment-clock",
        ),
        # customer_id: the partition of payments.commands.v1 (schemas/topics.py)
        data={"order_id": state.order_id, "customer_id": state.customer_id, "attempt": attempt},
    )


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
        return state, []  # nothing was charged (or not yet: a refund is asked only of
        # an authorization, which a retrying payment is not)
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
    """Every stored payment but a retrying one has its verdict: each is retired a window after
    its last one (streams/retirement.py); a refund asked later is made from its command
    (`refund`)."""
    return state.get("outcome") != RETRYING


def settled(state: PaymentState) -> bool:
    """A verdict the clock's retry made needs nothing more: once sent, stored without it."""
    return state.outcome != RETRYING


# The messages that create a payment's state: refused once older than the retirement window.
CREATES = ("AuthorizePayment", "RefundPayment")
