"""The customer decider (streams/domain/customer.py): value objects that cannot hold an invalid
value, every transition and rule (duplicate registration, the email cooldown and its
boundaries, no-ops, unknown customers, invalid values), each command decided once per event
id, refusals remembered, and the worker page's answers."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import pydantic.networks
import pytest

from schemas import topics
from schemas.codec import Codec
from schemas.events import Message, command
from schemas.statuses import CANCEL_REASONS, CUSTOMER_INACTIVE
from streams.domain import customer
from streams.domain.customer import (
    CustomerId,
    CustomerName,
    CustomerState,
    Email,
    InvalidValue,
    Phone,
)
from tests.factories import NOW, MemoryRegistry, types

DAY = 24 * 60 * 60 * 1000
COOLDOWN = 60_000


def _cmd(event_type: str, customer_id: str = "alice", key: str | None = None, **data: Any):
    body = {"customer_id": customer_id, **data}
    key = customer_id if key is None else key
    return command(event_type, topics.CUSTOMERS_COMMANDS.name, key, body, "corr", "test")


def _register(customer_id: str = "alice", **data: Any) -> Message:
    body = {"name": "Alice", "email": "alice@example.com", "phone": None, **data}
    return _cmd("RegisterCustomer", customer_id, **body)


def _change(email: str, customer_id: str = "alice") -> Message:
    return _cmd("ChangeCustomerEmail", customer_id, email=email)


def _deactivate(customer_id: str = "alice", reason: str | None = None) -> Message:
    return _cmd("DeactivateCustomer", customer_id, reason=reason)


def _reactivate(customer_id: str = "alice") -> Message:
    return _cmd("ReactivateCustomer", customer_id)


def _decide(state: CustomerState | None, msg: Message, now: int = NOW, cooldown: int = COOLDOWN):
    """Decide as the agent does: the state goes through its JSON form in the table, and every
    event sent is one the Avro contract encodes."""
    if state is not None:
        state = CustomerState.from_json(json.loads(json.dumps(state.to_json())))
    after, out = customer.decide(state, msg, now, email_cooldown_ms=cooldown)
    codec = Codec(MemoryRegistry())  # type: ignore[arg-type]
    for event in out:
        assert codec.decode(event.topic, event.key, codec.encode(event)).data == event.data
    return after, out


def _registered(now: int = NOW, **data: Any) -> CustomerState:
    state, out = _decide(None, _register(**data), now)
    assert state is not None and state.customer is not None and types(out) == ["CustomerRegistered"]
    return state


def _changed(state: CustomerState, email: str, now: int) -> CustomerState:
    after, out = _decide(state, _change(email), now)
    assert types(out) == ["CustomerEmailChanged"], customer.command_outcome(after, "")
    assert after is not None
    return after


def _refused(state: CustomerState | None, msg: Message, now: int = NOW) -> tuple[str, str]:
    """The decision on `msg` is a refusal: the customer did not change, nothing was sent, and
    the state remembers why; its code and sentence."""
    after, out = _decide(state, msg, now)
    assert out == [] and after is not None
    assert after.customer == (None if state is None else state.customer)
    outcome = customer.command_outcome(after, msg.envelope.event_id)
    assert outcome["outcome"] == "refused"
    return str(outcome["code"]), str(outcome["reason"])


def _no_op(state: CustomerState, msg: Message, now: int = NOW) -> CustomerState:
    """The decision on `msg` changes nothing and sends nothing, but counts as applied."""
    after, out = _decide(state, msg, now)
    assert out == [] and after is not None and after.customer == state.customer
    assert customer.command_outcome(after, msg.envelope.event_id)["outcome"] == "applied"
    return after


# --- value objects ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "bad", ["", "x" * 65, "al ice", "alice\n", "ali/ce", "zoë", "a@b", "\u200balice", 7, None]
)
def test_a_customer_id_outside_the_contract_cannot_be_built(bad: Any):
    with pytest.raises(InvalidValue, match=r"^customer_id: ") as refused:
        CustomerId(bad)
    assert refused.value.field == "customer_id"
    assert isinstance(refused.value, ValueError)


@pytest.mark.parametrize("good", ["a", "alice", "A-Z_a.z:0-9", "x" * 64, "..", "0"])
def test_a_customer_id_of_the_contract_is_kept_as_it_is(good: str):
    assert CustomerId(good).value == good and str(CustomerId(good)) == good


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "must not be empty"),
        ("   \t ", "must not be empty"),
        ("x" * 201, "must be at most 200 characters, not 201"),
        (" " + "x" * 201 + " ", "must be at most 200 characters, not 201"),
        ("Al\x00ice", "must not contain control characters"),
        ("Al\tice", "must not contain control characters"),
        ("Alice\nSmith", "must not contain control characters"),
        ("Alice\x7f", "must not contain control characters"),
        ("Alice\x85Smith", "must not contain control characters"),  # C1: NEL
        (None, "must be a string"),
        (42, "must be a string"),
    ],
)
def test_an_empty_over_long_or_control_character_name_cannot_be_built(bad: Any, reason: str):
    with pytest.raises(InvalidValue) as refused:
        CustomerName(bad)
    assert (refused.value.field, refused.value.reason) == ("name", reason)
    assert str(refused.value) == f"name: {reason}"


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("Alice", "Alice"),
        ("  Alice Smith \n", "Alice Smith"),  # whitespace around is stripped, not refused
        ("x" * 200, "x" * 200),
        ("  " + "x" * 200 + "  ", "x" * 200),
        ("Zoë Ñandú-O'Brien", "Zoë Ñandú-O'Brien"),
        ("李小龙", "李小龙"),
    ],
)
def test_a_name_is_kept_stripped(given: str, kept: str):
    assert CustomerName(given).value == kept


BAD_EMAILS = [
    "",
    "alice",
    "alice@",
    "@example.com",
    "alice@example",
    "a b@example.com",
    "alice@@example.com",
    "alice@example.com\n",
    "alice\r@example.com",
    "alice@b.test",  # special-use domains, as the API's EmailStr refuses them
    "alice@localhost",
    "alice@[192.0.2.1]",
    '"alice"@example.com',
    "alice@" + "x" * 2048 + ".com",
]
GOOD_EMAILS = [
    ("alice@example.com", "alice@example.com"),
    ("Alice@Example.COM", "Alice@example.com"),  # the domain is lower-cased, the local part not
    ("  bob@example.com ", "bob@example.com"),
    ("Bob Smith <bob@example.com>", "bob@example.com"),  # EmailStr's `Name <address>`
    ("ü@exämple.com", "ü@exämple.com"),
    ("a+tag@sub.example.co.uk", "a+tag@sub.example.co.uk"),
]


@pytest.mark.parametrize("bad", [*BAD_EMAILS, None, 1])
def test_an_invalid_email_cannot_be_built(bad: Any):
    with pytest.raises(InvalidValue, match=r"^email: ") as refused:
        Email(bad)
    assert refused.value.field == "email"


@pytest.mark.parametrize(("given", "kept"), GOOD_EMAILS)
def test_an_email_is_kept_normalized(given: str, kept: str):
    assert Email(given).value == kept


@pytest.mark.parametrize("given", BAD_EMAILS + [given for given, _ in GOOD_EMAILS])
def test_an_email_follows_the_rules_of_the_apis_email_str(given: str):
    """The API validates with pydantic's EmailStr: the decider never refuses an address the
    API accepted, nor keeps it in another form."""
    try:
        expected: str | None = pydantic.networks.validate_email(given)[1]
    except ValueError:
        expected = None
    try:
        actual: str | None = Email(given).value
    except InvalidValue:
        actual = None
    assert actual == expected


@pytest.mark.parametrize(
    ("bad", "reason"),
    [
        ("", "is not a phone number"),
        ("phone", "is not a phone number"),
        ("020 123 4567", "must start with + and a valid country code"),  # national form
        ("0031201234567", "must start with + and a valid country code"),
        ("+999 123 4567", "must start with + and a valid country code"),
        ("+31 20", "is not a valid phone number"),
        ("+31 20 123 45678 999", "is not a valid phone number"),
        ("+1 202 555 014", "is not a valid phone number"),
        ("+31 20 123 4567 ext. 12", "must not have an extension (E.164 has none)"),
        ("+" + "1" * 300, "is too long"),
        (None, "must be a string"),
        (31201234567, "must be a string"),
    ],
)
def test_a_phone_number_not_valid_in_e164_cannot_be_built(bad: Any, reason: str):
    with pytest.raises(InvalidValue) as refused:
        Phone(bad)
    assert (refused.value.field, refused.value.reason) == ("phone", reason)


@pytest.mark.parametrize(
    ("given", "kept"),
    [
        ("+31201234567", "+31201234567"),
        ("+31 20 123 4567", "+31201234567"),
        ("+31 (0)20-123 4567", "+31201234567"),
        ("+1 202-555-0143", "+12025550143"),
        ("+44 20 7946 0958", "+442079460958"),
        (" +31 6 1234 5678 ", "+31612345678"),
    ],
)
def test_a_phone_number_is_kept_in_e164(given: str, kept: str):
    assert Phone(given).value == kept


@pytest.mark.parametrize(
    ("kind", "given"),
    [
        (CustomerId, "alice"),
        (CustomerName, "  Alice "),
        (Email, "Bob <Bob@Example.COM>"),
        (Phone, "+31 20 123 4567"),
    ],
)
def test_a_value_is_frozen_and_its_normal_form_is_its_own(kind: type, given: str):
    value = kind(given)
    assert kind(value.value) == value  # normalizing twice changes nothing
    with pytest.raises(dataclasses.FrozenInstanceError):
        value.value = "changed"
    with pytest.raises(InvalidValue):
        dataclasses.replace(value, value="")  # no way around the check
    assert value != given and CustomerName("alice") != CustomerId("alice")


def test_a_refusal_does_not_repeat_the_value():
    with pytest.raises(InvalidValue) as refused:
        CustomerId("secret value")
    assert "secret" not in str(refused.value)


# --- registration ----------------------------------------------------------------------------


def test_registering_a_customer_announces_the_profile_as_of_record():
    msg = _register(name="  Alice Smith ", email="Alice@Example.COM", phone="+31 20 123 4567")
    state, out = _decide(None, msg)
    assert state is not None and state.customer is not None
    assert types(out) == ["CustomerRegistered"]
    (event,) = out
    assert (event.topic, event.key) == ("customers.events.v1", "alice")
    assert event.envelope.causation_id == msg.envelope.event_id
    assert event.envelope.correlation_id == "corr"
    assert event.envelope.producer == customer.PRODUCER == "customer-agent"
    assert event.envelope.occurred_at == NOW
    assert event.data == {
        "customer_id": "alice",
        "name": "Alice Smith",
        "email": "Alice@example.com",
        "phone": "+31201234567",
    }
    assert state.customer.registered_at == NOW and state.customer.active
    assert state.customer.email_changed_at is None
    assert customer.command_outcome(state, msg.envelope.event_id) == {
        "event_id": msg.envelope.event_id,
        "outcome": "applied",
        "code": None,
        "reason": None,
    }


def test_a_customer_may_register_without_a_phone():
    state, out = _decide(None, _cmd("RegisterCustomer", name="Alice", email="alice@example.com"))
    assert state is not None and state.customer is not None and state.customer.phone is None
    assert out[0].data["phone"] is None


def test_registering_an_id_registered_already_is_refused_and_changes_nothing():
    state = _registered()
    again = _register(name="Mallory", email="mallory@example.com")
    assert _refused(state, again) == ("CUSTOMER_EXISTS", "customer 'alice' is registered already")


def test_registering_a_deactivated_id_is_refused_too():
    state, _ = _decide(_registered(), _deactivate())
    assert _refused(state, _register())[0] == "CUSTOMER_EXISTS"


def test_another_id_is_another_customer():
    state, out = _decide(None, _register("bob", email="bob@example.com"))
    assert state is not None and state.customer_id == "bob" and types(out) == ["CustomerRegistered"]


# --- invalid values --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "Al\x00ice"}, "name"),
        ({"name": None}, "name"),
        ({"email": "not-an-email"}, "email"),
        ({"email": "alice@b.test"}, "email"),
        ({"email": None}, "email"),
        ({"phone": "020 123 4567"}, "phone"),
        ({"phone": "+31 20"}, "phone"),
        ({"phone": 31201234567}, "phone"),
    ],
)
def test_a_registration_with_an_invalid_value_is_refused_naming_the_field(
    data: dict[str, Any], field: str
):
    code, reason = _refused(None, _register(**data))
    assert code == "INVALID_VALUE" and reason.startswith(f"{field}: ")


@pytest.mark.parametrize("bad_id", ["", "x" * 65, "al ice", "ali/ce"])
def test_a_command_with_an_invalid_customer_id_is_refused(bad_id: str):
    for msg in (_register(bad_id), _change("a@example.com", bad_id), _deactivate(bad_id)):
        code, reason = _refused(None, msg)
        assert code == "INVALID_VALUE" and reason.startswith("customer_id: ")


def test_a_command_whose_customer_id_is_not_its_key_is_refused():
    msg = _cmd("RegisterCustomer", "alice", key="bob", name="A", email="a@example.com")
    assert _refused(None, msg) == ("INVALID_VALUE", "customer_id: is not the key of the record")


def test_an_invalid_value_for_a_registered_customer_is_refused_before_any_rule():
    state = _changed(_registered(), "new@example.com", NOW)  # inside the cooldown from here
    assert _refused(state, _change("nope"), NOW + 1)[0] == "INVALID_VALUE"
    assert _refused(state, _register(name=""))[0] == "INVALID_VALUE"


@pytest.mark.parametrize(
    "msg",
    [
        _register(name=["A"]),
        _register(email=b"alice@example.com"),
        _register(phone={"e164": "+31201234567"}),
        _register(name="\x00" * 5000),
        _change("\n"),
        _cmd("RegisterCustomer", customer_id=None, name="A", email="a@example.com"),  # type: ignore[arg-type]
    ],
)
def test_an_invalid_value_never_raises_out_of_decide(msg: Message):
    for state in (None, _registered()):
        after, out = customer.decide(state, msg, NOW)
        assert out == [] and after is not None
        outcome = customer.command_outcome(after, msg.envelope.event_id)
        assert outcome["code"] == "INVALID_VALUE", outcome


def test_a_record_missing_a_field_of_the_contract_is_a_type_error_as_for_every_decider():
    """Not a refusal: the Avro contract makes such a record undecodable, the shell parks it
    on the dead-letter topic."""
    with pytest.raises(TypeError):
        customer.decide(None, _cmd("RegisterCustomer", name="Alice"), NOW)


# --- the email and its cooldown --------------------------------------------------------------


def test_the_first_change_after_registration_is_allowed_at_once():
    state = _registered()
    after, out = _decide(state, _change("Alice.New@Example.com"), NOW + 1)
    assert after is not None and after.customer is not None
    assert out[0].data == {
        "customer_id": "alice",
        "old_email": "alice@example.com",
        "new_email": "Alice.New@example.com",
    }
    assert (out[0].topic, out[0].key) == ("customers.events.v1", "alice")
    assert after.customer.email.value == "Alice.New@example.com"
    assert after.customer.email_changed_at == NOW + 1


def test_a_change_one_ms_inside_the_cooldown_is_refused_naming_when_the_next_is_allowed():
    state = _changed(_registered(), "second@example.com", NOW + 5)
    allowed = NOW + 5 + COOLDOWN
    code, reason = _refused(state, _change("third@example.com"), allowed - 1)
    assert code == "EMAIL_COOLDOWN"
    assert reason == (
        f"the email was changed at {customer.iso(NOW + 5)}, less than {COOLDOWN} ms ago: "
        f"the next change is allowed from {allowed} ({customer.iso(allowed)})"
    )
    assert str(allowed) in reason and "2023-11-14T22:14:20.005+00:00" in reason


def test_a_change_exactly_one_cooldown_after_the_last_is_allowed():
    state = _changed(_registered(), "second@example.com", NOW)
    state = _changed(state, "third@example.com", NOW + COOLDOWN)
    assert state.customer is not None and state.customer.email_changed_at == NOW + COOLDOWN
    _refused(state, _change("fourth@example.com"), NOW + 2 * COOLDOWN - 1)
    _changed(state, "fourth@example.com", NOW + 2 * COOLDOWN)


def test_the_cooldown_defaults_to_24_hours_and_is_a_parameter():
    assert customer.EMAIL_COOLDOWN_MS == DAY
    state = _changed(_registered(), "second@example.com", NOW)
    late, out = customer.decide(state, _change("third@example.com"), NOW + DAY - 1)
    assert out == [] and late is not None and late.refused
    _, out = customer.decide(state, _change("third@example.com"), NOW + DAY)
    assert types(out) == ["CustomerEmailChanged"]
    _, out = customer.decide(state, _change("third@example.com"), NOW, email_cooldown_ms=0)
    assert types(out) == ["CustomerEmailChanged"]


def test_changing_to_the_email_of_record_is_no_change_even_inside_the_cooldown():
    state = _changed(_registered(), "second@example.com", NOW)
    after = _no_op(state, _change("second@EXAMPLE.com"), NOW + 1)  # the same once normalized
    assert after.customer is not None and after.customer.email_changed_at == NOW
    assert after.refused == {}


def test_a_deactivated_customer_may_still_change_the_email():
    state, _ = _decide(_registered(), _deactivate())
    assert state is not None
    after = _changed(state, "second@example.com", NOW)
    assert after.customer is not None and not after.customer.active


# --- deactivation ----------------------------------------------------------------------------


def test_deactivating_and_reactivating_announce_the_change():
    state, out = _decide(_registered(), _deactivate(reason="chargeback"))
    assert state is not None and state.customer is not None and not state.customer.active
    assert types(out) == ["CustomerDeactivated"]
    assert out[0].data == {"customer_id": "alice", "reason": "chargeback"}
    state, out = _decide(state, _reactivate())
    assert state is not None and state.customer is not None and state.customer.active
    assert types(out) == ["CustomerReactivated"] and out[0].data == {"customer_id": "alice"}


def test_a_deactivation_without_a_reason_says_none():
    _, out = _decide(_registered(), _deactivate())
    assert out[0].data == {"customer_id": "alice", "reason": None}


def test_deactivating_an_inactive_customer_and_reactivating_an_active_one_change_nothing():
    active = _registered()
    _no_op(active, _reactivate())
    inactive, _ = _decide(active, _deactivate())
    assert inactive is not None
    _no_op(inactive, _deactivate(reason="again"))


# --- unknown customers -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "msg", [_change("bob@example.com", "bob"), _deactivate("bob"), _reactivate("bob")]
)
def test_a_command_for_a_customer_never_registered_is_refused(msg: Message):
    assert _refused(None, msg) == ("UNKNOWN_CUSTOMER", "unknown customer 'bob'")
    after, _ = _decide(None, msg)
    assert after is not None and after.customer is None  # still unknown to readers
    assert customer.view(after) is None


def test_a_refusal_for_an_unknown_customer_stays_one_after_the_customer_registers():
    early = _deactivate("bob")
    state, _ = _decide(None, early)
    state, _ = _decide(state, _register("bob", email="bob@example.com"))
    assert state is not None and state.customer is not None
    again, out = _decide(state, early)  # redelivered
    assert out == [] and again is not None and again.customer is not None
    assert again.customer.active
    assert customer.command_outcome(again, early.envelope.event_id)["code"] == "UNKNOWN_CUSTOMER"


def test_a_customer_never_registered_may_register():
    state, _ = _decide(None, _deactivate())
    state, out = _decide(state, _register())
    assert types(out) == ["CustomerRegistered"] and state is not None and state.refused


def test_other_message_types_are_not_the_customers():
    state = _registered()
    other = command("PlaceOrder", topics.ORDERS_COMMANDS.name, "alice", {}, "corr", "test")
    assert customer.decide(state, other, NOW) == (state, [])
    assert customer.decide(None, other, NOW) == (None, [])


# --- once per event id -----------------------------------------------------------------------


def test_a_redelivered_registration_is_applied_once_and_not_refused():
    msg = _register()
    state, _ = _decide(None, msg)
    again, out = _decide(state, msg)
    assert out == [] and again == state
    assert customer.command_outcome(again, msg.envelope.event_id)["outcome"] == "applied"


def test_a_redelivered_change_is_applied_once_even_after_the_cooldown():
    state = _registered()
    change = _change("second@example.com")
    state, _ = _decide(state, change, NOW)
    again, out = _decide(state, change, NOW + 10 * COOLDOWN)
    assert out == [] and again == state


def test_a_redelivered_deactivation_sends_nothing_again():
    msg = _deactivate()
    state, out = _decide(_registered(), msg)
    state, _ = _decide(state, _reactivate())
    again, out = _decide(state, msg)
    assert out == [] and again == state
    assert again is not None and again.customer is not None and again.customer.active


def test_a_refusal_is_remembered_and_a_redelivery_stays_refused():
    state = _changed(_registered(), "second@example.com", NOW)
    refused = _change("third@example.com")
    state, _ = _decide(state, refused, NOW + 1)
    assert state is not None
    (entry,) = state.to_json()["refused"].values()
    assert entry["code"] == "EMAIL_COOLDOWN" and "allowed from" in entry["reason"]
    again, out = _decide(state, refused, NOW + COOLDOWN)  # allowed by now, but decided already
    assert out == [] and again == state


def test_the_memory_of_commands_is_bounded():
    state: CustomerState | None = _registered()
    deactivations = [_deactivate() for _ in range(customer.COMMAND_MEMORY + 6)]
    for msg in deactivations:
        state, _ = _decide(state, msg)
    refusals = [_register() for _ in range(customer.COMMAND_MEMORY + 6)]
    for msg in refusals:
        state, _ = _decide(state, msg)
    assert state is not None
    assert len(state.recent_commands) == len(state.refused) == customer.COMMAND_MEMORY == 64
    forgotten, kept = deactivations[0].envelope.event_id, deactivations[-1].envelope.event_id
    assert customer.command_outcome(state, forgotten)["outcome"] == "unknown"
    assert customer.command_outcome(state, kept)["outcome"] == "applied"
    assert customer.command_outcome(state, refusals[5].envelope.event_id)["outcome"] == "unknown"
    assert customer.command_outcome(state, refusals[6].envelope.event_id)["outcome"] == "refused"


# --- state, view and page --------------------------------------------------------------------


def test_the_state_goes_through_json_unchanged():
    state = _changed(_registered(phone="+31 20 123 4567"), "second@example.com", NOW + 7)
    state, _ = _decide(state, _register())  # a refusal to remember
    assert state is not None
    data = state.to_json()
    assert data == {
        "customer_id": "alice",
        "customer": {
            "customer_id": "alice",
            "name": "Alice",
            "email": "second@example.com",
            "phone": "+31201234567",
            "registered_at": NOW,
            "active": True,
            "email_changed_at": NOW + 7,
        },
        "recent_commands": list(state.recent_commands),
        "recent_orders": [],
        "refused": {
            eid: {"code": "CUSTOMER_EXISTS", "reason": "customer 'alice' is registered already"}
            for eid in state.refused
        },
    }
    assert CustomerState.from_json(json.loads(json.dumps(data))) == state


def test_the_view_of_a_customer():
    state = _registered(phone="+31 20 123 4567")
    assert state.customer is not None
    assert state.customer.view(COOLDOWN) == {
        "customer_id": "alice",
        "name": "Alice",
        "email": "alice@example.com",
        "phone": "+31201234567",
        "status": "ACTIVE",
        "registered_at": "2023-11-14T22:13:20.000+00:00",
        "email_changed_at": None,
        "next_email_change_at": None,  # never changed: a change is allowed at any time
    }
    state = _changed(state, "second@example.com", NOW + 1)
    state, _ = _decide(state, _deactivate())
    assert customer.view(state, COOLDOWN) == {
        "customer_id": "alice",
        "name": "Alice",
        "email": "second@example.com",
        "phone": "+31201234567",
        "status": "INACTIVE",
        "registered_at": "2023-11-14T22:13:20.000+00:00",
        "email_changed_at": "2023-11-14T22:13:20.001+00:00",
        "next_email_change_at": "2023-11-14T22:14:20.001+00:00",
    }
    assert customer.view(state)["next_email_change_at"] == "2023-11-15T22:13:20.001+00:00"  # type: ignore[index]


def test_times_read_as_iso_8601_in_utc_to_the_millisecond():
    assert customer.iso(0) == "1970-01-01T00:00:00.000+00:00"
    assert customer.iso(NOW + 999) == "2023-11-14T22:13:20.999+00:00"


def test_the_page_of_a_registered_customer():
    state = _registered()
    assert customer.page(state, "alice") == (200, customer.view(state))


def test_the_page_of_a_customer_never_registered_is_a_404():
    assert customer.page(None, "bob") == (404, {"detail": "unknown customer 'bob'"})
    state, _ = _decide(None, _deactivate("bob"))
    assert customer.page(state, "bob") == (404, {"detail": "unknown customer 'bob'"})


def test_the_page_says_what_became_of_a_command():
    register = _register()
    state, _ = _decide(None, register)
    duplicate = _register()
    state, _ = _decide(state, duplicate)
    status, body = customer.page(state, "alice", register.envelope.event_id, COOLDOWN)
    assert status == 200 and body["status"] == "ACTIVE"
    assert body["outcome"] == {
        "event_id": register.envelope.event_id,
        "outcome": "applied",
        "code": None,
        "reason": None,
    }
    status, body = customer.page(state, "alice", duplicate.envelope.event_id)
    assert status == 200 and body["outcome"] == {
        "event_id": duplicate.envelope.event_id,
        "outcome": "refused",
        "code": "CUSTOMER_EXISTS",
        "reason": "customer 'alice' is registered already",
    }
    status, body = customer.page(state, "alice", "not-decided-yet")
    assert status == 200 and body["outcome"]["outcome"] == "unknown"


def test_the_page_of_an_unknown_customer_reports_its_refused_command():
    unknown = _reactivate("bob")
    state, _ = _decide(None, unknown)
    status, body = customer.page(state, "bob", unknown.envelope.event_id)
    assert status == 404 and body == {
        "detail": "unknown customer 'bob'",
        "outcome": {
            "event_id": unknown.envelope.event_id,
            "outcome": "refused",
            "code": "UNKNOWN_CUSTOMER",
            "reason": "unknown customer 'bob'",
        },
    }
    status, body = customer.page(None, "carol", "e-1")
    assert status == 404 and body["outcome"]["outcome"] == "unknown"


def test_customer_inactive_is_a_cancel_reason():
    assert CUSTOMER_INACTIVE == "CUSTOMER_INACTIVE" and CUSTOMER_INACTIVE in CANCEL_REASONS


# --- the saga's question about an order's customer ---------------------------------------------


def _check(order_id: str, customer_id: str = "alice") -> Message:
    return _cmd("CheckCustomer", customer_id, order_id=order_id)


def _answer(out: list[Message]) -> dict[str, Any]:
    assert types(out) == ["CustomerChecked"]
    (checked,) = out
    assert checked.topic == topics.CUSTOMERS_CHECKS.name and checked.key == checked.data["order_id"]
    return dict(checked.data)


def test_an_unregistered_customer_id_is_a_guest_checkout_and_nothing_is_stored():
    state, out = _decide(None, _check("o-1", "guest-7"))
    assert state is None
    assert _answer(out) == {
        "order_id": "o-1",
        "customer_id": "guest-7",
        "registered": False,
        "active": True,
        "email": None,
        "email_as_of": None,
    }


def test_an_active_customer_answers_with_the_email_of_record_and_remembers_the_order():
    state = _registered()
    after, out = _decide(state, _check("o-1"))
    assert _answer(out) == {
        "order_id": "o-1",
        "customer_id": "alice",
        "registered": True,
        "active": True,
        "email": "alice@example.com",
        "email_as_of": NOW,
    }
    assert after is not None and after.recent_orders == ("o-1",)
    # a check is not a command: the API's commands keep their memory
    assert after.recent_commands == state.recent_commands
    # asked again (a redelivery): the same answer, the same event id, remembered once
    again, repeated = _decide(after, _check("o-1"))
    assert again == after and _answer(repeated) == _answer(out)


def test_a_redelivered_check_repeats_its_event_id():
    state = _registered()
    check = _check("o-1")
    _, first = _decide(state, check)
    _, second = _decide(state, check)
    assert first[0].envelope.event_id == second[0].envelope.event_id


def test_a_deactivated_customer_answers_inactive_and_the_order_is_not_remembered():
    state, _ = _decide(_registered(), _deactivate())
    assert state is not None
    after, out = _decide(state, _check("o-1"))
    answer = _answer(out)
    assert answer["registered"] is True and answer["active"] is False
    assert after is not None and after.recent_orders == ()


def test_an_email_change_tells_the_recent_orders_the_new_address():
    state = _registered()
    for order_id in ("o-1", "o-2"):
        state, _ = _decide(state, _check(order_id))
    after, out = _decide(state, _change("new@example.com"), NOW + 5)
    assert types(out) == ["CustomerEmailChanged", "CustomerChecked", "CustomerChecked"]
    told = [(m.key, m.data["email"], m.data["email_as_of"]) for m in out[1:]]
    assert told == [("o-1", "new@example.com", NOW + 5), ("o-2", "new@example.com", NOW + 5)]
    assert len({m.envelope.event_id for m in out}) == 3
    # no change, no news
    assert _decide(after, _change("new@example.com"), NOW + 6)[1] == []


def test_only_the_last_recent_orders_are_remembered():
    state = _registered()
    n = customer.RECENT_ORDERS + 3
    for i in range(n):
        state, _ = _decide(state, _check(f"o-{i}"))
    assert state is not None
    assert state.recent_orders == tuple(f"o-{i}" for i in range(3, n))
    assert CustomerState.from_json(json.loads(json.dumps(state.to_json()))) == state
