"""Customers (issue 15): commands to the customer agent, which alone decides (a customer_id
registered twice, an email changed again inside the cooldown, an unknown customer); the API
reports its answer, read live from the customer table with what became of the command.
A customer's orders come from the read model."""

from __future__ import annotations

import json
import uuid
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Path, Query, Request
from fastapi.responses import JSONResponse

from api.auth import need
from api.errors import documented
from api.keys import CUSTOMERS_READ, CUSTOMERS_WRITE
from api.models import ChangeEmailRequest, CustomerId, DeactivateRequest, RegisterCustomerRequest
from api.services import PRODUCER, Services, orders_page, services, until, worker_page
from schemas import statuses, topics
from schemas.events import command

router = APIRouter(tags=["customers"])
PathCustomerId = Annotated[CustomerId, Path(description="The customer's id")]
# what the customer agent's refusal codes mean to a client
ANSWER_BY_REFUSAL = {
    statuses.CUSTOMER_EXISTS: 409,
    statuses.EMAIL_COOLDOWN: 409,
    statuses.UNKNOWN_CUSTOMER: 404,
    statuses.INVALID_VALUE: 422,
}
DECIDED_OUTCOMES = (statuses.ADJUSTMENT_APPLIED, statuses.ADJUSTMENT_REFUSED)
DECIDED: dict[int | str, dict[str, Any]] = {
    200: {"description": "Done: the customer as the customer table now shows it"},
    202: {"description": "Accepted; the customer agent has not decided yet"},
}


async def _customer_page(
    svc: Services, customer_id: str, command_id: str | None = None
) -> tuple[bool, dict[str, Any]]:
    params = {"customer_id": customer_id} | ({"command": command_id} if command_id else {})
    return await worker_page(svc.customers, "customer worker", "/customers/", params)


async def _send(
    svc: Services, event_type: str, customer_id: str, data: dict[str, Any]
) -> JSONResponse:
    """Send the command, wait (5 s at most) for the customer agent's answer: 200 with the
    customer when applied, the refusal's status with its reason, 202 while undecided."""
    message = command(
        event_type,
        topics.CUSTOMERS_COMMANDS.name,
        customer_id,
        {"customer_id": customer_id, **data},
        str(uuid.uuid4()),
        PRODUCER,
    )
    await svc.publish(message)
    command_id = message.envelope.event_id

    async def look() -> tuple[bool, dict[str, Any]]:
        try:  # from here on the command is in Kafka: a worker away means 202, not 503
            return await _customer_page(svc, customer_id, command_id)
        except HTTPException:
            return False, {}

    def outcome(seen: tuple[bool, dict[str, Any]]) -> dict[str, Any]:
        found: dict[str, Any] = seen[1].get("outcome") or {}
        return found

    seen = await until(
        look,
        lambda seen: outcome(seen).get("outcome") in DECIDED_OUTCOMES,
        5.0,
        every_s=0.05,
    )
    answer = outcome(seen)
    if answer.get("outcome") == statuses.ADJUSTMENT_REFUSED:
        raise HTTPException(ANSWER_BY_REFUSAL.get(answer["code"], 409), answer["reason"])
    found, view = seen
    view.pop("outcome", None)
    if answer.get("outcome") == statuses.ADJUSTMENT_APPLIED and found:
        return JSONResponse(view, status_code=200)
    return JSONResponse({"customer_id": customer_id, "detail": "accepted"}, status_code=202)


@router.post(
    "/customers",
    status_code=202,
    dependencies=[need(CUSTOMERS_WRITE)],
    responses={
        202: {"description": "Registered, or accepted and not decided yet"},
        **documented(401, 403, 409, 413, 422, 503, _409="The customer_id is registered already"),
    },
)
async def register_customer(body: RegisterCustomerRequest, request: Request) -> JSONResponse:
    """Register a customer (`customer_id` made by the API when not given). 202 with the
    customer once the customer agent registered it."""
    customer_id = body.customer_id or str(uuid.uuid4())
    data = {"name": body.name, "email": str(body.email), "phone": body.phone}
    answer = await _send(services(request), "RegisterCustomer", customer_id, data)
    return JSONResponse(json.loads(bytes(answer.body)), status_code=202)  # done or on its way


@router.get(
    "/customers/{customer_id}",
    dependencies=[need(CUSTOMERS_READ)],
    responses=documented(401, 403, 404, 422, 503, _404="No such customer"),
)
async def get_customer(customer_id: PathCustomerId, request: Request) -> dict[str, Any]:
    """The customer, live from the customer table: profile, status (ACTIVE or INACTIVE) and
    when the email may change next."""
    found, view = await _customer_page(services(request), customer_id)
    if not found:
        raise HTTPException(404, f"customer {customer_id} not found")
    return view


@router.put(
    "/customers/{customer_id}/email",
    dependencies=[need(CUSTOMERS_WRITE)],
    responses={
        **DECIDED,
        **documented(
            401,
            403,
            404,
            409,
            413,
            422,
            503,
            _404="No such customer",
            _409="Changed too recently: the detail names when the next change is allowed",
        ),
    },
)
async def change_email(
    customer_id: PathCustomerId, body: ChangeEmailRequest, request: Request
) -> JSONResponse:
    """Change the email of record (notifications go there). Not again within the cooldown
    (24 h by default, ORDERFLOW_EMAIL_COOLDOWN_S): 409 naming when it is allowed."""
    return await _send(services(request), "ChangeCustomerEmail", customer_id, {"email": body.email})


def _lifecycle(event_type: str, what: str) -> Any:
    async def change(
        customer_id: PathCustomerId, request: Request, body: DeactivateRequest | None = None
    ) -> JSONResponse:
        reason = body.reason if body else None
        data = {"reason": reason} if event_type == "DeactivateCustomer" else {}
        return await _send(services(request), event_type, customer_id, data)

    change.__doc__ = what
    return change


router.post(
    "/customers/{customer_id}/deactivate",
    dependencies=[need(CUSTOMERS_WRITE)],
    responses={**DECIDED, **documented(401, 403, 404, 413, 422, 503, _404="No such customer")},
    name="deactivate_customer",
)(
    _lifecycle(
        "DeactivateCustomer",
        "The customer may not order any more (their orders end CANCELLED, CUSTOMER_INACTIVE); "
        "deactivating an inactive customer changes nothing.",
    )
)
router.post(
    "/customers/{customer_id}/reactivate",
    dependencies=[need(CUSTOMERS_WRITE)],
    responses={**DECIDED, **documented(401, 403, 404, 413, 422, 503, _404="No such customer")},
    name="reactivate_customer",
)(_lifecycle("ReactivateCustomer", "The customer may order again."))


@router.get(
    "/customers/{customer_id}/orders",
    dependencies=[need(CUSTOMERS_READ)],
    responses=documented(401, 403, 422, 503),
)
async def customer_orders(
    customer_id: PathCustomerId,
    request: Request,
    page: Annotated[int, Query(ge=1, le=100, description="1-based page of `size` orders")] = 1,
    size: Annotated[int, Query(ge=1, le=100)] = 50,
) -> dict[str, Any]:
    """The customer's orders from the read model, newest first, without their timelines
    (guest orders under the same customer_id included)."""
    filters = [{"term": {"customer_id": customer_id}}]
    return {"customer_id": customer_id, **await orders_page(services(request), filters, page, size)}
