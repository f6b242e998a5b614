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
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from schemathesis import Case

from ops import services
from orderflow import config

pytestmark = pytest.mark.stack
MAX_EXAMPLES = 25
TOTALS: collections.Counter[str] = collections.Counter()


@pytest.fixture(scope="session")
def api_schema(stack: config.Settings) -> Any:
    schema = schemathesis.openapi.from_url(f"http://127.0.0.1:{stack.api_port}/openapi.json")
    schema.config.update(headers=services.bearer(), request_timeout=70)
    schema.config.generation.update(max_examples=MAX_EXAMPLES)
    return schema


schema = schemathesis.pytest.from_fixture("api_schema")


@schemathesis.hook
def filter_body(ctx: Any, body: Any) -> bool:
    """The one rule JSON Schema cannot state (its operation's description does): the SKUs of
    an order are distinct. A generated valid order that repeats one is not sent."""
    if ctx.operation.path != "/orders" or not isinstance(body, dict):
        return True
    items = body.get("items")
    if not isinstance(items, list) or not all(isinstance(i, dict) for i in items):
        return True
    skus = [json.dumps(item.get("sku")) for item in items]
    return len(skus) == len(set(skus))


@schema.parametrize()
def test_every_answer_is_the_one_the_openapi_document_promises(case: Case) -> None:
    response = case.call_and_validate()
    TOTALS[f"{case.method} {case.path}"] += 1
    TOTALS[str(response.status_code)] += 1


@pytest.fixture(scope="module", autouse=True)
def _report() -> Iterator[None]:
    yield
    requests = sum(n for key, n in TOTALS.items() if " " in key)
    operations = sum(1 for key in TOTALS if " " in key)
    by_status = {k: n for k, n in sorted(TOTALS.items()) if " " not in k}
    print(f"\nschemathesis: {operations} operations, {requests} requests, statuses {by_status}")
