"""The customer routes in-process, the customer worker's page stubbed: what the API answers
for each answer of the customer agent (tests/unit/test_customer.py has the agent's rules;
tests/integration/test_customers.py the real thing)."""

from __future__ import annotations

from typing import Any

import pytest


def _agent_answers(client, monkeypatch, outcome: dict[str, Any] | None, found: bool = True):
    class Answer:
        def __init__(self, status: int, body: dict[str, Any]) -> None:
            self.status_code, self.body = status, body

        def json(self) -> dict[str, Any]:
            return self.body

    async def get(path, params=None):
        view = {"customer_id": params["customer_id"], "name": "A", "status": "ACTIVE"}
        body = view if found else {"detail": "unknown customer"}
        if outcome is not None and "command" in params:
            body = {**body, "outcome": {"event_id": params["command"], **outcome}}
        return Answer(200 if found else 404, body)

    monkeypatch.setattr(client.app.state.services.customers, "get", get)


def test_a_registration_is_a_202_with_the_customer(client, monkeypatch):
    _agent_answers(client, monkeypatch, {"outcome": "applied", "code": None, "reason": None})
    answer = client.post("/customers", json={"name": "Alice", "email": "alice@example.com"})
    assert answer.status_code == 202, answer.text
    (sent,) = client.sent
    assert sent.type == "RegisterCustomer" and answer.json()["customer_id"] == sent.key


@pytest.mark.parametrize(
    ("code", "status"),
    [("CUSTOMER_EXISTS", 409), ("EMAIL_COOLDOWN", 409), ("UNKNOWN_CUSTOMER", 404)],
)
def test_the_agents_refusal_is_the_answer(client, monkeypatch, code, status):
    reason = f"because {code}"
    _agent_answers(client, monkeypatch, {"outcome": "refused", "code": code, "reason": reason})
    answer = client.put("/customers/alice/email", json={"email": "new@example.com"})
    assert answer.status_code == status, answer.text
    assert answer.json()["detail"] == reason


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "A", "email": "a@example.com", "phone": "+1"}, "phone"),
        ({"name": "A", "email": "a@example.com", "phone": "+12345678"}, "phone"),
        ({"name": "   ", "email": "a@example.com"}, "name"),
        ({"name": "A\u0007", "email": "a@example.com"}, "name"),
        ({"name": "A", "email": "a@shop.test"}, "email"),
        ({"customer_id": "has space", "name": "A", "email": "a@example.com"}, "customer_id"),
    ],
)
def test_a_bad_customer_is_a_422_and_nothing_is_sent(client, body, field):
    answer = client.post("/customers", json=body)
    assert answer.status_code == 422, answer.text
    assert answer.json()["errors"][0]["loc"][-1] == field
    assert client.sent == []


def test_customers_need_their_scopes(client):
    reader = {"Authorization": "Bearer orders-reader-key"}
    answer = client.post("/customers", json={"name": "A", "email": "a@example.com"}, headers=reader)
    assert answer.status_code == 403 and "customers:write" in answer.json()["detail"]
    assert client.get("/customers/alice", headers={"Authorization": ""}).status_code == 401
