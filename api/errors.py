"""One error shape for every 4xx and 5xx the API answers, and the OpenAPI entries that
document them, so a client reads every refusal the same way:

    {"status": 422, "title": "Unprocessable Content",
     "detail": "body.items.0.quantity: Input should be greater than or equal to 1",
     "errors": [{"loc": ["body", "items", 0, "quantity"], "msg": "...", "type": "..."}]}

`detail` is one sentence a person can read (it names every field at fault); `errors` lists
them for a program (empty when no field is at fault). A refusal never echoes more than a short
prefix of what the client sent."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import Match

log = logging.getLogger("orderflow.api")

ECHO_LIMIT = 80  # characters of a client's value a message may repeat
DETAIL_LIMIT = 1000


class FieldError(BaseModel):
    loc: list[str | int]
    msg: str
    type: str


class ErrorBody(BaseModel):
    status: int
    title: str
    detail: str
    errors: list[FieldError] = []


def shorten(text: str, limit: int = ECHO_LIMIT) -> str:
    return text if len(text) <= limit else f"{text[:limit]}... ({len(text)} characters)"


def body(status: int, detail: str, errors: Sequence[FieldError] = ()) -> dict[str, Any]:
    title = HTTPStatus(status).phrase if status in HTTPStatus._value2member_map_ else "Error"
    return ErrorBody(
        status=status, title=title, detail=shorten(detail, DETAIL_LIMIT), errors=list(errors)
    ).model_dump()


def field_errors(raw: Iterable[Mapping[str, Any]]) -> list[FieldError]:
    """Pydantic's errors without their `input` and `ctx` (which may hold megabytes, or a NaN
    that JSON cannot carry); messages cut to a short prefix."""
    return [
        FieldError(
            loc=[part if isinstance(part, int) else shorten(str(part)) for part in e["loc"]],
            msg=shorten(str(e["msg"]), 200),
            type=str(e["type"]),
        )
        for e in raw
    ]


def summary(errors: Sequence[FieldError]) -> str:
    return "; ".join(f"{'.'.join(map(str, e.loc))}: {e.msg}" for e in errors)


async def _http_error(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, StarletteHTTPException)
    headers = dict(exc.headers or {})
    if exc.status_code == 400:
        # FastAPI's answer to a body it cannot decode at all (not UTF-8): as unreadable as
        # malformed JSON, which it answers 422, so the same status and shape
        unreadable = FieldError(loc=["body"], msg=str(exc.detail), type="body_unreadable")
        return JSONResponse(body(422, summary([unreadable]), [unreadable]), 422)
    if exc.status_code == 405:
        # Starlette names only the first route that matched the path; a path served by
        # several routes (GET and POST /orders) allows all of theirs
        headers["Allow"] = ", ".join(allowed_methods(request))
    return JSONResponse(body(exc.status_code, str(exc.detail)), exc.status_code, headers)


def allowed_methods(request: Request) -> list[str]:
    methods: set[str] = set()
    for route in _routes(request.app.router.routes):
        match, _ = route.matches({**request.scope, "method": "GET"})
        if match != Match.NONE:
            methods |= set(getattr(route, "methods", None) or ())
    return sorted(methods)


def _routes(routes: Iterable[Any]) -> Iterator[Any]:
    """Every route, those of included routers too (FastAPI keeps them nested; none of ours
    has a prefix)."""
    for route in routes:
        nested = getattr(route, "original_router", None)
        yield from _routes(nested.routes) if nested is not None else (route,)


async def _invalid(request: Request, exc: Exception) -> JSONResponse:
    assert isinstance(exc, RequestValidationError)
    errors = field_errors(exc.errors())
    return JSONResponse(body(422, summary(errors), errors), 422)


async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
    log.exception("unexpected error", extra={"path": request.url.path})
    return JSONResponse(body(500, "internal error; the API log has the details"), 500)


def install(app: FastAPI) -> None:
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _invalid)
    app.add_exception_handler(Exception, _unexpected)


DESCRIPTIONS = {
    401: "No valid API key (`Authorization: Bearer <key>`)",
    403: "The key lacks the scope this operation needs",
    404: "Not found",
    409: "Conflicts with the resource's current state",
    413: "Request body over the size limit",
    422: "Invalid request: `detail` and `errors` name each field at fault",
    503: "A dependency (Kafka, the registry, Elasticsearch or a worker) is unavailable; "
    "retry later",
}


def documented(*statuses: int, **described: str) -> dict[int | str, dict[str, Any]]:
    """OpenAPI `responses` for the given error statuses, each with the one error shape;
    `described` overrides a description (`_404="order not found"`)."""
    return {
        status: {
            "model": ErrorBody,
            "description": described.get(f"_{status}", DESCRIPTIONS.get(status, "Error")),
        }
        for status in statuses
    }
