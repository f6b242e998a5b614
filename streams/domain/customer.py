"""The customer, a bounded context of its own (issue 15): per customer_id, the profile of
record (name, email, phone), whether the customer may order (active), and the rule that an
email address cannot be changed again within a cooldown.

Values. Each part of a profile is a frozen value object that cannot hold an invalid value:
building one from a bad value raises InvalidValue (a ValueError) naming the field, and a good
one is stored normalized. CustomerId is the contract's customer_id; CustomerName is 1..200
characters once surrounding whitespace is stripped, with no control character (Unicode Cc);
Email follows pydantic's EmailStr, which the API validates with, step for step (at most 2048
characters, no CR or LF, `Name <address>` taken as the address, surrounding spaces stripped,
then email-validator without the deliverability check, which would need DNS): the API and
this decider never disagree about an address. Phone is parsed by phonenumbers in
international form (+ and a country code), must be a valid number, and is kept in E.164; an
extension is refused, E.164 has no room for it and dropping it would lose what was given.

Rules. Registering a customer_id registered already is refused (CUSTOMER_EXISTS); any other
command for a customer_id never registered is refused (UNKNOWN_CUSTOMER); a command whose
values the value objects refuse is refused (INVALID_VALUE) and never raises out of `decide`.
Changing the email to the email of record is no change: no event, no refusal, even inside the
cooldown. Deactivating an inactive customer or reactivating an active one changes nothing
either. A deactivated customer's profile may still change (their email too): deactivation
is about ordering.

The cooldown runs from the last *change* of the email, not from registration: the rule is that
an address cannot be changed *again* within it, and a customer who registered with a typo
may fix it at once. A change exactly `email_cooldown_ms` after the last one is allowed, one
millisecond earlier is refused, with a sentence naming when the next change is allowed (epoch
ms and ISO 8601). The clock is `now`, passed in; the cooldown is a parameter of `decide`
(EMAIL_COOLDOWN_MS, 24 h, by default; the agent passes its configured one).

Once. Every command is decided once per event id: the state remembers the last
COMMAND_MEMORY applied ones (recent_commands; a no-op counts as applied) and the last
COMMAND_MEMORY refused ones with their code and sentence (refused), like the inventory
decider's adjustments, so a redelivery changes nothing and sends nothing, and whoever sent a
command can ask the worker's page what became of it (applied, refused and why, or unknown).
A customer_id never registered still gets a state when a command for it is refused, to
remember that refusal in (its customer is None: still unknown to readers), so a refused
command stays refused even if the customer registers later.

Orders. The order saga asks about an order's customer before it reserves stock (CheckCustomer,
keyed by customer_id, so the worker that owns the customer answers): CustomerChecked, keyed by
order_id, says whether the customer_id is registered (if not, a guest checkout), whether the
customer may order, and the email of record. The customer remembers the last RECENT_ORDERS
orders it answered for while active, and when the email changes it answers each of them again
with the new address, so later notifications of those orders go there (the saga keeps the
newest answer by email_as_of; an order that has ended ignores it). An order older than the
last RECENT_ORDERS keeps the address it was told. A check is not a command: it is not counted
in recent_commands (orders would crowd out the API's commands), and answering one again, a
redelivery, sends the same event id."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

import email_validator
import phonenumbers

from schemas import messages, topics
from schemas.events import Message
from schemas.statuses import (
    ACTIVE,
    ADJUSTMENT_APPLIED,
    ADJUSTMENT_REFUSED,
    ADJUSTMENT_UNKNOWN,
    CUSTOMER_EXISTS,
    EMAIL_COOLDOWN,
    INACTIVE,
    INVALID_VALUE,
    UNKNOWN_CUSTOMER,
)

PRODUCER = "customer-agent"
EMAIL_COOLDOWN_MS = 24 * 60 * 60 * 1000
# A redelivery comes within one commit interval, and the sender asks about its command right
# after sending it: a short memory of ids suffices for both (as for stock adjustments).
COMMAND_MEMORY = 64
# The orders told about an email change: an order is open for days at most, a customer places
# far fewer than this many orders in that time.
RECENT_ORDERS = 100


# --- value objects ---------------------------------------------------------------------------


class InvalidValue(ValueError):
    """A value a value object refuses: `field` names the contract's field, `reason` says why
    (without repeating the value)."""

    def __init__(self, field: str, reason: str) -> None:
        super().__init__(f"{field}: {reason}")
        self.field = field
        self.reason = reason


@dataclass(frozen=True)
class _Value:
    """A string that is valid by construction, kept in its normal form."""

    value: str
    FIELD: ClassVar[str]

    def __post_init__(self) -> None:
        if not isinstance(self.value, str):
            raise InvalidValue(self.FIELD, "must be a string")
        object.__setattr__(self, "value", self.normalized(self.value))

    @classmethod
    def normalized(cls, raw: str) -> str:
        """`raw` in its normal form; InvalidValue if it is not a valid value."""
        raise NotImplementedError

    def __str__(self) -> str:
        return self.value


_CUSTOMER_ID = re.compile(r"[A-Za-z0-9_.:-]{1,64}")


class CustomerId(_Value):
    FIELD = "customer_id"

    @classmethod
    def normalized(cls, raw: str) -> str:
        if not _CUSTOMER_ID.fullmatch(raw):
            raise InvalidValue(cls.FIELD, "must be 1 to 64 characters of A-Z a-z 0-9 _ . : -")
        return raw


NAME_MAX = 200


class CustomerName(_Value):
    FIELD = "name"

    @classmethod
    def normalized(cls, raw: str) -> str:
        name = raw.strip()
        if not name:
            raise InvalidValue(cls.FIELD, "must not be empty")
        if len(name) > NAME_MAX:
            raise InvalidValue(cls.FIELD, f"must be at most {NAME_MAX} characters, not {len(name)}")
        if any(unicodedata.category(c) == "Cc" for c in name):
            raise InvalidValue(cls.FIELD, "must not contain control characters")
        return name


# pydantic's EmailStr (pydantic.networks.validate_email) before it hands the address to
# email-validator: its length bound, its CR/LF rule and its `Name <address>` form
EMAIL_MAX = 2048
_NAME_CHARS = r"[\w.!#$%&'*+\-/=?^_`{|}~]"
_PRETTY_EMAIL = re.compile(
    rf'\s*(?:((?:{_NAME_CHARS}+\s+)*{_NAME_CHARS}+)|"((?:[^"]|\")+)")?\s*<(.+)>\s*'
)


class Email(_Value):
    FIELD = "email"

    @classmethod
    def normalized(cls, raw: str) -> str:
        if len(raw) > EMAIL_MAX:
            raise InvalidValue(cls.FIELD, f"must be at most {EMAIL_MAX} characters")
        if "\r" in raw or "\n" in raw:
            raise InvalidValue(cls.FIELD, "must not contain carriage returns or line feeds")
        pretty = _PRETTY_EMAIL.fullmatch(raw)
        address = (pretty.group(3) if pretty else raw).strip()
        try:
            valid = email_validator.validate_email(address, check_deliverability=False)
        except email_validator.EmailNotValidError as refused:
            raise InvalidValue(cls.FIELD, str(refused)) from None
        return str(valid.normalized)


_PHONE_PARSE_ERRORS = {
    phonenumbers.NumberParseException.INVALID_COUNTRY_CODE: (
        "must start with + and a valid country code"
    ),
    phonenumbers.NumberParseException.NOT_A_NUMBER: "is not a phone number",
    phonenumbers.NumberParseException.TOO_SHORT_AFTER_IDD: "is too short",
    phonenumbers.NumberParseException.TOO_SHORT_NSN: "is too short",
    phonenumbers.NumberParseException.TOO_LONG: "is too long",
}


class Phone(_Value):
    """A phone number in E.164 (+31201234567)."""

    FIELD = "phone"

    @classmethod
    def normalized(cls, raw: str) -> str:
        try:
            number = phonenumbers.parse(raw, None)  # no default region: + and a country code
        except phonenumbers.NumberParseException as refused:
            reason = _PHONE_PARSE_ERRORS.get(refused.error_type, "is not a phone number")
            raise InvalidValue(cls.FIELD, reason) from None
        if number.extension:
            raise InvalidValue(cls.FIELD, "must not have an extension (E.164 has none)")
        if not phonenumbers.is_valid_number(number):
            raise InvalidValue(cls.FIELD, "is not a valid phone number")
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164))


# --- the aggregate ---------------------------------------------------------------------------


def iso(epoch_ms: int) -> str:
    """Epoch milliseconds as ISO 8601 in UTC, to the millisecond (as the read model writes
    times): 2023-11-14T22:13:20.000+00:00."""
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=epoch_ms)
    return moment.isoformat(timespec="milliseconds")


def _iso_or_none(epoch_ms: int | None) -> str | None:
    return None if epoch_ms is None else iso(epoch_ms)


@dataclass(frozen=True)
class Customer:
    """A registered customer: every part of the profile valid, as the value objects are."""

    customer_id: CustomerId
    name: CustomerName
    email: Email
    phone: Phone | None
    registered_at: int  # epoch ms
    active: bool = True
    # epoch ms of the last change of the email; None: unchanged since registration (the
    # cooldown runs from a change only)
    email_changed_at: int | None = None

    @property
    def status(self) -> str:
        return ACTIVE if self.active else INACTIVE

    def next_email_change_at(self, email_cooldown_ms: int = EMAIL_COOLDOWN_MS) -> int | None:
        """From when (epoch ms) the email may change again; None: at any time."""
        if self.email_changed_at is None:
            return None
        return self.email_changed_at + email_cooldown_ms

    def profile(self) -> dict[str, Any]:
        """The profile of record, as CustomerRegistered announces it."""
        return {
            "customer_id": self.customer_id.value,
            "name": self.name.value,
            "email": self.email.value,
            "phone": None if self.phone is None else self.phone.value,
        }

    def view(self, email_cooldown_ms: int = EMAIL_COOLDOWN_MS) -> dict[str, Any]:
        """The customer as readers see it (GET /customers/{id}); times in ISO 8601, None
        where there is none (next_email_change_at None: the email may change at any time)."""
        return {
            **self.profile(),
            "status": self.status,
            "registered_at": iso(self.registered_at),
            "email_changed_at": _iso_or_none(self.email_changed_at),
            "next_email_change_at": _iso_or_none(self.next_email_change_at(email_cooldown_ms)),
        }

    def to_json(self) -> dict[str, Any]:
        return {
            **self.profile(),
            "registered_at": self.registered_at,
            "active": self.active,
            "email_changed_at": self.email_changed_at,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Customer:
        """Built through the value objects again, so a stored customer is as valid as a new
        one (a value the rules came to refuse after it was stored would be a ValueError)."""
        phone, changed = data.get("phone"), data.get("email_changed_at")
        return cls(
            customer_id=CustomerId(data["customer_id"]),
            name=CustomerName(data["name"]),
            email=Email(data["email"]),
            phone=None if phone is None else Phone(phone),
            registered_at=int(data["registered_at"]),
            active=bool(data.get("active", True)),
            email_changed_at=None if changed is None else int(changed),
        )


@dataclass(frozen=True)
class Refusal:
    """Why a command was refused: a code of schemas/statuses.py and a sentence."""

    code: str
    reason: str


@dataclass(frozen=True)
class CustomerState:
    """What the customer table holds per customer_id: the customer (None while never
    registered: the state then exists only to remember refusals) and the commands decided."""

    customer_id: str
    customer: Customer | None = None
    recent_commands: tuple[str, ...] = ()  # event ids applied, to apply a redelivered one once
    # event id -> why it was refused, the last COMMAND_MEMORY of them: a redelivered one stays
    # refused, and the sender can read the reason (command_outcome)
    refused: Mapping[str, Refusal] = field(default_factory=dict)
    # the orders checked while the customer was active, the last RECENT_ORDERS: told the new
    # address when the email changes
    recent_orders: tuple[str, ...] = ()

    def to_json(self) -> dict[str, Any]:
        return {
            "customer_id": self.customer_id,
            "customer": None if self.customer is None else self.customer.to_json(),
            "recent_commands": list(self.recent_commands),
            "recent_orders": list(self.recent_orders),
            "refused": {
                event_id: {"code": refusal.code, "reason": refusal.reason}
                for event_id, refusal in self.refused.items()
            },
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> CustomerState:
        customer = data.get("customer")
        return cls(
            customer_id=data["customer_id"],
            customer=None if customer is None else Customer.from_json(customer),
            recent_commands=tuple(data.get("recent_commands", ())),
            recent_orders=tuple(data.get("recent_orders", ())),
            refused={
                event_id: Refusal(code=entry["code"], reason=entry["reason"])
                for event_id, entry in data.get("refused", {}).items()
            },
        )


# --- the decider -----------------------------------------------------------------------------

# What a command comes to: the customer after it and the events to announce (type and payload),
# or why it is refused.
Decided = tuple[Customer, list[tuple[str, dict[str, Any]]]] | Refusal
Decision = tuple[CustomerState | None, list[Message]]


def _customer_id(given: str, key: str) -> CustomerId:
    """The command's customer_id, valid and the record's key (the state it changes)."""
    customer_id = CustomerId(given)
    if customer_id.value != key:
        raise InvalidValue("customer_id", "is not the key of the record")
    return customer_id


def _unknown(customer_id: CustomerId) -> Refusal:
    return Refusal(UNKNOWN_CUSTOMER, f"unknown customer {customer_id.value!r}")


def register_customer(customer: Customer | None, msg: Message, now: int, cooldown: int) -> Decided:
    asked = messages.typed(msg, messages.RegisterCustomer)
    registered = Customer(
        customer_id=_customer_id(asked.customer_id, msg.key),
        name=CustomerName(asked.name),
        email=Email(asked.email),
        phone=None if asked.phone is None else Phone(asked.phone),
        registered_at=now,
    )
    if customer is not None:
        return Refusal(
            CUSTOMER_EXISTS, f"customer {customer.customer_id.value!r} is registered already"
        )
    return registered, [("CustomerRegistered", registered.profile())]


def change_customer_email(
    customer: Customer | None, msg: Message, now: int, cooldown: int
) -> Decided:
    asked = messages.typed(msg, messages.ChangeCustomerEmail)
    customer_id, email = _customer_id(asked.customer_id, msg.key), Email(asked.email)
    if customer is None:
        return _unknown(customer_id)
    if email == customer.email:
        return customer, []
    changed_at = customer.email_changed_at
    if changed_at is not None and now < changed_at + cooldown:
        allowed_from = changed_at + cooldown
        return Refusal(
            EMAIL_COOLDOWN,
            f"the email was changed at {iso(changed_at)}, less than "
            f"{cooldown} ms ago: the next change is allowed from {allowed_from} "
            f"({iso(allowed_from)})",
        )
    changed = {
        "customer_id": customer_id.value,
        "old_email": customer.email.value,
        "new_email": email.value,
    }
    return replace(customer, email=email, email_changed_at=now), [("CustomerEmailChanged", changed)]


def deactivate_customer(
    customer: Customer | None, msg: Message, now: int, cooldown: int
) -> Decided:
    asked = messages.typed(msg, messages.DeactivateCustomer)
    customer_id = _customer_id(asked.customer_id, msg.key)
    if customer is None:
        return _unknown(customer_id)
    if not customer.active:
        return customer, []
    deactivated = {"customer_id": customer_id.value, "reason": asked.reason}
    return replace(customer, active=False), [("CustomerDeactivated", deactivated)]


def reactivate_customer(
    customer: Customer | None, msg: Message, now: int, cooldown: int
) -> Decided:
    asked = messages.typed(msg, messages.ReactivateCustomer)
    customer_id = _customer_id(asked.customer_id, msg.key)
    if customer is None:
        return _unknown(customer_id)
    if customer.active:
        return customer, []
    return replace(customer, active=True), [
        ("CustomerReactivated", {"customer_id": customer_id.value})
    ]


HANDLERS: dict[str, Callable[[Customer | None, Message, int, int], Decided]] = {
    "RegisterCustomer": register_customer,
    "ChangeCustomerEmail": change_customer_email,
    "DeactivateCustomer": deactivate_customer,
    "ReactivateCustomer": reactivate_customer,
}


def _last(decided: Mapping[str, Refusal], n: int) -> dict[str, Refusal]:
    """The last `n` entries, in the order they were added."""
    return dict(list(decided.items())[-n:])


def decide(
    state: CustomerState | None,
    msg: Message,
    now: int,
    email_cooldown_ms: int = EMAIL_COOLDOWN_MS,
) -> Decision:
    """Decide a customer command (customers.commands.v1, keyed by customer_id) against the
    customer's state: the state after it and the events to send (customers.events.v1). A
    command decided already (its event id remembered) changes nothing and sends nothing; a
    refused one is remembered with its code and sentence and sends nothing. Other message
    types are not the customer's: nothing. A record missing a field the contract requires is
    a TypeError, as for every decider (the shell parks it on the dead-letter topic)."""
    if msg.type == "CheckCustomer":
        return check_customer(state, msg, now)
    handler = HANDLERS.get(msg.type)
    if handler is None:
        return state, []
    current = state or CustomerState(customer_id=msg.key)
    event_id = msg.envelope.event_id
    if event_id in current.recent_commands or event_id in current.refused:
        return state, []  # decided already: a redelivery
    try:
        decided = handler(current.customer, msg, now, email_cooldown_ms)
    except InvalidValue as invalid:
        decided = Refusal(INVALID_VALUE, str(invalid))
    if isinstance(decided, Refusal):
        refused = _last({**current.refused, event_id: decided}, COMMAND_MEMORY)
        return replace(current, refused=refused), []
    customer, events = decided
    remembered = (*current.recent_commands, event_id)[-COMMAND_MEMORY:]
    updated = replace(current, customer=customer, recent_commands=remembered)
    topic, key = topics.CUSTOMERS_EVENTS.name, customer.customer_id.value
    outputs = [msg.caused(kind, topic, key, data, PRODUCER, now) for kind, data in events]
    if any(kind == "CustomerEmailChanged" for kind, _ in events):
        # the recent orders hear the new address (one answer each, told apart by order id)
        outputs += [_checked(msg, customer, order_id, now) for order_id in updated.recent_orders]
    return updated, outputs


def _checked(cause: Message, customer: Customer | None, order_id: str, now: int) -> Message:
    """CustomerChecked for `order_id`: the customer of record (None: a guest checkout)."""
    answer: dict[str, Any] = {
        "order_id": order_id,
        "customer_id": cause.key,
        "registered": customer is not None,
        "active": customer is None or customer.active,
        "email": None,
        "email_as_of": None,
    }
    if customer is not None:
        answer["email"] = customer.email.value
        answer["email_as_of"] = customer.email_changed_at or customer.registered_at
    topic = topics.CUSTOMERS_CHECKS.name
    return cause.caused("CustomerChecked", topic, order_id, answer, PRODUCER, now, order_id)


def check_customer(state: CustomerState | None, msg: Message, now: int) -> Decision:
    """Answer the saga's question about an order's customer (CheckCustomer, keyed by
    customer_id) with CustomerChecked (keyed by order_id). An active customer remembers the
    order, to tell it about a later email change."""
    order_id = messages.typed(msg, messages.CheckCustomer).order_id
    customer = None if state is None else state.customer
    answer = _checked(msg, customer, order_id, now)
    if state is None or customer is None or not customer.active or order_id in state.recent_orders:
        return state, [answer]
    recent = (*state.recent_orders, order_id)[-RECENT_ORDERS:]
    return replace(state, recent_orders=recent), [answer]


# --- what readers see ------------------------------------------------------------------------


def command_outcome(state: CustomerState | None, event_id: str) -> dict[str, Any]:
    """What became of the command `event_id`: applied (a no-op included), refused (with its
    code and sentence), or unknown (not decided yet, or forgotten COMMAND_MEMORY commands
    later)."""
    outcome, code, reason = ADJUSTMENT_UNKNOWN, None, None
    if state is not None and event_id in state.recent_commands:
        outcome = ADJUSTMENT_APPLIED
    elif state is not None and event_id in state.refused:
        refusal = state.refused[event_id]
        outcome, code, reason = ADJUSTMENT_REFUSED, refusal.code, refusal.reason
    return {"event_id": event_id, "outcome": outcome, "code": code, "reason": reason}


def view(
    state: CustomerState | None, email_cooldown_ms: int = EMAIL_COOLDOWN_MS
) -> dict[str, Any] | None:
    """The registered customer's view (Customer.view), or None for a customer_id never
    registered."""
    if state is None or state.customer is None:
        return None
    return state.customer.view(email_cooldown_ms)


def page(
    state: CustomerState | None,
    customer_id: str,
    command_event_id: str | None = None,
    email_cooldown_ms: int = EMAIL_COOLDOWN_MS,
) -> tuple[int, dict[str, Any]]:
    """GET /customers/{customer_id}/ on the customer worker: the status and JSON body. 200
    with the customer's view; 404 for a customer_id never registered. Asked about a command
    (its event id), either answer also says what became of it (`outcome`)."""
    shown = view(state, email_cooldown_ms)
    if shown is not None:
        status, body = 200, shown
    else:
        status, body = 404, {"detail": f"unknown customer {customer_id!r}"}
    if command_event_id is not None:
        body["outcome"] = command_outcome(state, command_event_id)
    return status, body
