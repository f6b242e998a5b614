"""The payment participant: a simulated gateway. The scenario travels with the order
(`payment.scenario`): approve, decline. One decision per order, remembered, so a repeated
AuthorizePayment gets the same answer and never a second authorization."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

from orderflow import topics
from schemas.events import Message, derive_id

PRODUCER = "payment-agent"
APPROVE = "approve"
DECLINE = "decline"


@dataclass(frozen=True)
class PaymentState:
    order_id: str
    outcome: str  # PaymentAuthorized | PaymentDeclined
    authorization_id: str | None
    reason: str | None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> PaymentState:
        return cls(**data)


def gateway(order_id: str, scenario: str) -> PaymentState:
    """The simulated gateway's verdict for a scenario."""
    if scenario == APPROVE:
        return PaymentState(order_id, "PaymentAuthorized", derive_id("auth", order_id), None)
    return PaymentState(order_id, "PaymentDeclined", None, f"gateway declined ({scenario})")


def decide(
    state: PaymentState | None, msg: Message, now: int
) -> tuple[PaymentState | None, list[Message]]:
    if msg.type != "AuthorizePayment":
        return state, []
    order_id = msg.data["order_id"]
    if state is None:
        state = gateway(order_id, msg.data["scenario"])
    common = {"order_id": order_id, "amount": msg.data["amount"], "currency": msg.data["currency"]}
    if state.outcome == "PaymentAuthorized":
        data = {**common, "authorization_id": state.authorization_id}
    else:
        data = {**common, "reason": state.reason}
    event = msg.caused(state.outcome, topics.PAYMENTS_EVENTS.name, order_id, data, PRODUCER, now)
    return state, [event]
