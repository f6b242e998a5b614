"""The OpenAPI document is the API: Schemathesis generates requests from it, valid and invalid,
sends them to the running API (authenticated, against the real stack) and runs all its
default checks on every answer: no 5xx, every status and body as documented, valid requests
accepted, invalid ones refused, undeclared methods a 405 with a true `Allow`, a missing key
a 401.

Bounded: MAX_EXAMPLES generated cases per operation and mode, plus Schemathesis's coverage
cases (boundaries of every constraint). Its totals print at the end of the session."""

from __future__ import annotations

import collections
import json
from datetime import UTC, datetime
from typing import Any

import httpx
import phonenumbers
import pytest
import schemathesis
from schemathesis import Case

from api.app import app
from ops import services
from orderflow import config

pytestmark = pytest.mark.stack
MAX_EXAMPLES = 25
TOTALS: collections.Counter[str] = collections.Counter()


# The document the API serves, built in-process so the cases exist at collection time (the
# stack starts later, in the session fixture; Schemathesis's lazy fixture loader does not run
# on this pytest); the test checks the served document is this one.
schema = schemathesis.openapi.from_dict(app.openapi())
schema.config.update(request_timeout=70)
schema.config.generation.update(max_examples=MAX_EXAMPLES)
# 413 (a body over the documented 64 KiB, answered before it is parsed) refuses invalid data
# as surely as a 422 does; Schemathesis's default list only lacks it
rejected = schema.config.checks.negative_data_rejection
rejected.expected_statuses = [*rejected.expected_statuses, "413"]


@schemathesis.hook
def filter_case(ctx: Any, case: Case) -> bool:
    """The rules JSON Schema cannot state (their descriptions do): the SKUs of an order are
    distinct, a phone number is one a country assigns (libphonenumber), not only
    E.164-shaped, and GET /analytics/range's `from` is not after its `to`. A generated valid
    request that breaks one is not sent; one that breaks the schema as well still is."""
    if case.path == "/analytics/range" and _valid(case):
        return _in_order(case.query or {})
    body = case.body
    if not isinstance(body, dict) or not _valid(case):
        return True
    if case.path == "/customers":
        return body.get("phone") is None or _assigned(body["phone"])
    if case.path != "/orders":
        return True
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return True
    skus = [json.dumps(item.get("sku")) for item in items]
    return len(skus) == len(set(skus))


def test_the_served_document_is_the_one_fuzzed(stack: config.Settings) -> None:
    served = httpx.get(f"http://127.0.0.1:{stack.api_port}/openapi.json", timeout=10)
    assert served.json() == json.loads(json.dumps(app.openapi()))


@schema.auth()
class ApiKey:
    """The key Schemathesis sends where the document asks for one (and leaves out where it
    tests that a missing key is refused): the development key. Schemathesis builds its example
    cases while collecting, before the stack fixture runs, so the key is made here if this is
    the first thing to need it (the same call as the stack fixture's: it keeps one key)."""

    def get(self, case: Case, ctx: Any) -> str:
        services.development_key(config.load())
        return services.client_key()

    def set(self, case: Case, data: str, ctx: Any) -> None:
        case.headers = {**(case.headers or {}), "Authorization": f"Bearer {data}"}


def _in_order(query: dict[str, Any]) -> bool:
    """`from` not after `to` (now, when `to` is absent); dates that do not parse are the
    server's to refuse."""
    try:
        start = _instant(query["from"])
        end = datetime.now(UTC) if query.get("to") is None else _instant(query["to"])
    except (KeyError, TypeError, ValueError):
        return True
    return start <= end


def _instant(value: Any) -> datetime:
    return datetime.fromisoformat(str(value).upper().replace("Z", "+00:00"))


def _assigned(phone: Any) -> bool:
    try:
        return bool(phonenumbers.is_valid_number(phonenumbers.parse(str(phone), None)))
    except phonenumbers.NumberParseException:
        return False


def _valid(case: Case) -> bool:
    meta = case.meta
    return meta is None or meta.generation.mode.is_positive


@schema.parametrize()
def test_every_answer_is_the_one_the_openapi_document_promises(
    case: Case, stack: config.Settings
) -> None:
    TOTALS[f"{case.method} {case.path}"] += 1
    TOTALS["failed"] += 1  # until the checks pass
    response = case.call_and_validate(base_url=f"http://127.0.0.1:{stack.api_port}")
    TOTALS["failed"] -= 1
    TOTALS[str(response.status_code)] += 1


def summary() -> str:
    """The totals, which tests/conftest.py prints at the end of the session (the note quotes
    them)."""
    requests = sum(n for key, n in TOTALS.items() if " " in key)
    operations = sum(1 for result in schema.get_all_operations() if result.ok())
    by_status = {k: n for k, n in sorted(TOTALS.items()) if " " not in k and k != "failed"}
    return (
        f"schemathesis: {operations} operations, {requests} requests, "
        f"{TOTALS['failed']} failing a check; statuses {by_status}"
    )
