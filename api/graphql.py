"""GraphQL at /graphql (issue 15): the query side the other systems offer, over what the REST
API already reads. Every field calls the same helpers the REST routes call (api/services.py:
`read_order`, `orders_page`, `ask_worker`) and validates its arguments with the same types
(api/models.py), so there is no second set of rules; there are no mutations.

Keys: a request without a valid `Authorization: Bearer <key>` is the REST API's 401, before
any field runs. Each field then needs the scope the matching REST route needs (order, orders
and an order's timeline `orders:read`; customer and a customer's orders `customers:read`;
inventory `inventory:read`); a key without it gets a GraphQL error with the REST API's 403
sentence (naming the scope) and `extensions.status` 403, and the field is null: one query may
ask for fields of several scopes, and those the key holds still answer. Invalid arguments
(422) and a dependency that cannot answer (503) are GraphQL errors the same way, each with the
REST API's `detail` as its message; anything unexpected is logged and masked.

The router is left out of the OpenAPI document (Schemathesis fuzzes that one; GraphQL has its
own schema). A GET without a query, the GraphiQL page, is open like /docs: it holds no data."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Mapping
from typing import Annotated, Any, TypeVar

import strawberry
from fastapi import HTTPException, Request
from fastapi.routing import APIWebSocketRoute
from fastapi.security import HTTPAuthorizationCredentials
from graphql import GraphQLError
from pydantic import Field, TypeAdapter, ValidationError
from strawberry.extensions import MaskErrors, MaxAliasesLimiter, QueryDepthLimiter
from strawberry.fastapi import BaseContext, GraphQLRouter
from strawberry.scalars import JSON
from strawberry.types import ExecutionContext, Info

from api import keys
from api.auth import REALM, Credentials, allowed
from api.errors import field_errors, summary
from api.keys import CUSTOMERS_READ, INVENTORY_READ, ORDERS_READ
from api.models import CustomerId, OrderId, Sku, Status
from api.services import Services, ask_worker, order_filters, orders_page, read_order

log = logging.getLogger("orderflow.api")
T = TypeVar("T")
PATH = "/graphql"
MAX_DEPTH = 6  # customer { orders { orders { timeline { details } } } } is 5
MAX_ALIASES = 10  # each alias may cost a page of 100 orders


# --- who asks ------------------------------------------------------------------------------
class Caller(BaseContext):
    """What every resolver knows: the services and the key's credentials (checked per field
    by api/auth.py, so its 403 sentences are the REST API's)."""

    def __init__(self, svc: Services, credentials: HTTPAuthorizationCredentials | None) -> None:
        super().__init__()
        self.svc = svc
        self.credentials = credentials


async def caller(request: Request, credentials: Credentials) -> Caller:
    """A valid key, whatever its scopes: 401 otherwise, in the REST API's shape and with its
    WWW-Authenticate. A GET without a query (the GraphiQL page) needs none."""
    svc: Services = request.app.state.services
    if request.method == "GET" and "query" not in request.query_params:
        return Caller(svc, None)
    if credentials is None:
        raise HTTPException(
            401,
            "GraphQL needs an API key (each field names the scope it needs): "
            "send 'Authorization: Bearer <key>'",
            headers={"WWW-Authenticate": REALM},
        )
    if keys.find(request.app.state.api_keys, credentials.credentials) is None:
        raise HTTPException(
            401,
            "the API key is not valid",
            headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
        )
    return Caller(svc, credentials)


class Refused(GraphQLError):
    """What REST would answer with an error status, as a GraphQL error: its `detail` as the
    message, its status in `extensions.status`."""

    def __init__(self, status: int, detail: str, **extensions: Any) -> None:
        super().__init__(detail, extensions={"status": status, **extensions})


async def require(info: Info[Caller, None], scope: str) -> Services:
    """The services, if the key holds `scope` (api/auth.py decides, as for a REST route)."""
    request = info.context.request
    assert isinstance(request, Request)  # no websocket route (below)
    try:
        await allowed(scope)(request, info.context.credentials)
    except HTTPException as refused:
        raise Refused(refused.status_code, str(refused.detail), scope=scope) from None
    return info.context.svc


async def asked(answer: Awaitable[T]) -> T:
    """A helper's answer; its HTTPException (503: Elasticsearch or a worker away) as an error."""
    try:
        return await answer
    except HTTPException as refused:
        raise Refused(refused.status_code, str(refused.detail)) from None


# --- arguments, checked as the REST API checks its parameters --------------------------------
PageNumber = Annotated[int, Field(ge=1, le=100)]  # GET /orders: 10,000 orders at most
PageSize = Annotated[int, Field(ge=1, le=100)]
_ADAPTERS: dict[Any, TypeAdapter[Any]] = {
    kind: TypeAdapter(kind) for kind in (OrderId, CustomerId, Sku, Status, PageNumber, PageSize)
}


def valid(kind: Any, argument: str, value: Any) -> Any:
    """`value` if it is a valid `kind` (a type of api/models.py); otherwise a 422 naming the
    argument, and nothing is asked."""
    try:
        return _ADAPTERS[kind].validate_python(value)
    except ValidationError as exc:
        errors = field_errors({**e, "loc": (argument, *e["loc"])} for e in exc.errors())
        raise Refused(422, summary(errors), errors=[e.model_dump() for e in errors]) from None


# --- types ---------------------------------------------------------------------------------
@strawberry.type(description="One event about an order, from any topic")
class TimelineEntry:
    event_id: strawberry.ID
    event_type: str
    occurred_at: str
    topic: str
    correlation_id: str | None
    causation_id: str | None
    details: JSON

    @classmethod
    def of(cls, entry: Mapping[str, Any]) -> TimelineEntry:
        return cls(
            event_id=strawberry.ID(entry["event_id"]),
            event_type=entry["event_type"],
            occurred_at=entry["occurred_at"],
            topic=entry["topic"],
            correlation_id=entry.get("correlation_id"),
            causation_id=entry.get("causation_id"),
            details=JSON(entry.get("details") or {}),
        )


@strawberry.type(description="One line of an order (prices as exact decimal strings)")
class Item:
    sku: str
    quantity: int
    unit_price: str


@strawberry.type(description="An order as the read model shows it (GET /orders/{id})")
class Order:
    order_id: strawberry.ID
    customer_id: str | None
    customer_email: str | None
    status: str | None
    cancel_reason: str | None
    currency: str | None
    total_amount: str | None
    items: list[Item]
    created_at: str | None
    updated_at: str | None
    known_timeline: strawberry.Private[list[dict[str, Any]] | None]

    @classmethod
    def of(cls, doc: Mapping[str, Any]) -> Order:
        return cls(
            order_id=strawberry.ID(doc["order_id"]),
            customer_id=doc.get("customer_id"),
            customer_email=doc.get("customer_email"),
            status=doc.get("status"),
            cancel_reason=doc.get("cancel_reason"),
            currency=doc.get("currency"),
            total_amount=doc.get("total_amount"),
            items=[
                Item(sku=i["sku"], quantity=i["quantity"], unit_price=i["unit_price"])
                for i in doc.get("items") or []
            ],
            created_at=doc.get("created_at"),
            updated_at=doc.get("updated_at"),
            known_timeline=doc.get("timeline"),
        )

    @strawberry.field(
        description="Every event about the order, in the order they occurred (orders:read). "
        "A page of orders holds none: asked there, each order is read again."
    )
    async def timeline(self, info: Info[Caller, None]) -> list[TimelineEntry]:
        svc = await require(info, ORDERS_READ)
        entries = self.known_timeline
        if entries is None:
            doc = await asked(read_order(svc, self.order_id))
            entries = [] if doc is None else doc.get("timeline") or []
        return [TimelineEntry.of(entry) for entry in entries]


@strawberry.type(description="A page of orders, newest first")
class OrderPage:
    total: int
    page: int
    size: int
    orders: list[Order]

    @classmethod
    def of(cls, found: Mapping[str, Any]) -> OrderPage:
        return cls(
            total=found["total"],
            page=found["page"],
            size=found["size"],
            orders=[Order.of(doc) for doc in found["orders"]],
        )


async def page_of_orders(
    svc: Services, filters: list[dict[str, Any]], page: int, size: int
) -> OrderPage:
    page = valid(PageNumber, "page", page)
    size = valid(PageSize, "size", size)
    return OrderPage.of(await asked(orders_page(svc, filters, page, size)))


@strawberry.input(description="Orders matching every field given (GET /orders' parameters)")
class OrderFilter:
    customer_id: str | None = None
    status: str | None = None
    sku: str | None = None

    def filters(self) -> list[dict[str, Any]]:
        """The read model's filter, built as GET /orders builds it."""
        return order_filters(
            customer_id=valid(CustomerId, "filter.customerId", self.customer_id)
            if self.customer_id
            else None,
            status=valid(Status, "filter.status", self.status) if self.status else None,
            sku=valid(Sku, "filter.sku", self.sku) if self.sku else None,
        )


@strawberry.type(description="A customer, live from the customer table (GET /customers/{id})")
class Customer:
    customer_id: strawberry.ID
    name: str
    email: str
    phone: str | None
    status: str
    registered_at: str
    email_changed_at: str | None
    next_email_change_at: str | None

    @classmethod
    def of(cls, view: Mapping[str, Any]) -> Customer:
        return cls(
            customer_id=strawberry.ID(view["customer_id"]),
            name=view["name"],
            email=view["email"],
            phone=view.get("phone"),
            status=view["status"],
            registered_at=view["registered_at"],
            email_changed_at=view.get("email_changed_at"),
            next_email_change_at=view.get("next_email_change_at"),
        )

    @strawberry.field(description="The customer's orders from the read model (customers:read)")
    async def orders(self, info: Info[Caller, None], page: int = 1, size: int = 50) -> OrderPage:
        svc = await require(info, CUSTOMERS_READ)
        filters = [{"term": {"customer_id": str(self.customer_id)}}]
        return await page_of_orders(svc, filters, page, size)


@strawberry.type(description="A SKU's stock and price, live from the inventory table")
class StockLevel:
    sku: strawberry.ID
    on_hand: int
    reserved: int
    available: int
    unit_price: str | None
    currency: str | None


# --- the queries ---------------------------------------------------------------------------
@strawberry.type
class Query:
    @strawberry.field(description="An order with its timeline; null when unknown (orders:read)")
    async def order(self, info: Info[Caller, None], id: strawberry.ID) -> Order | None:
        svc = await require(info, ORDERS_READ)
        doc = await asked(read_order(svc, valid(OrderId, "id", id)))
        return None if doc is None else Order.of(doc)

    @strawberry.field(description="Orders, newest first; page 1..100, size 1..100 (orders:read)")
    async def orders(
        self,
        info: Info[Caller, None],
        filter: OrderFilter | None = None,
        page: int = 1,
        size: int = 50,
    ) -> OrderPage:
        svc = await require(info, ORDERS_READ)
        filters = filter.filters() if filter is not None else []
        return await page_of_orders(svc, filters, page, size)

    @strawberry.field(description="A customer; null when unknown (customers:read)")
    async def customer(self, info: Info[Caller, None], id: strawberry.ID) -> Customer | None:
        svc = await require(info, CUSTOMERS_READ)
        params = {"customer_id": valid(CustomerId, "id", id)}
        view = await asked(ask_worker(svc.customers, "customer worker", "/customers/", params))
        return None if view is None else Customer.of(view)

    @strawberry.field(description="A SKU's stock; null when never stocked (inventory:read)")
    async def inventory(self, info: Info[Caller, None], sku: strawberry.ID) -> StockLevel | None:
        svc = await require(info, INVENTORY_READ)
        path = f"/inventory/{valid(Sku, 'sku', sku)}/"
        view = await asked(ask_worker(svc.inventory, "inventory worker", path))
        if view is None:
            return None
        return StockLevel(
            sku=strawberry.ID(view["sku"]),
            on_hand=view["on_hand"],
            reserved=view["reserved"],
            available=view["available"],
            unit_price=view.get("unit_price"),
            currency=view.get("currency"),
        )


def unexpected(error: GraphQLError) -> bool:
    """An error that is none of ours (a bug): masked, as the REST API answers a 500."""
    return error.original_error is not None and not isinstance(error.original_error, GraphQLError)


class QuerySchema(strawberry.Schema):
    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        """Log what went wrong on our side; a refusal is the caller's answer, not a fault."""
        for error in errors:
            if unexpected(error):
                log.error("GraphQL: %s", error.message, exc_info=error.original_error)


schema = QuerySchema(
    query=Query,
    extensions=[
        lambda: QueryDepthLimiter(max_depth=MAX_DEPTH),
        lambda: MaxAliasesLimiter(max_alias_count=MAX_ALIASES),
        lambda: MaskErrors(
            should_mask_error=unexpected, error_message="internal error; see the API log"
        ),
    ],
)
router: GraphQLRouter[Caller, None] = GraphQLRouter(
    schema,
    path=PATH,
    context_getter=caller,
    subscription_protocols=(),
    include_in_schema=False,
)
# No subscriptions: without its websocket route a websocket to /graphql is refused by Starlette
# as for any path, instead of failing in `caller` (which reads a Request's bearer key)
router.routes = [route for route in router.routes if not isinstance(route, APIWebSocketRoute)]
