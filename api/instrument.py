"""Request metrics of the API: every request counted and timed under its route template
(`/orders/{order_id}`, never the raw path, so one order is not one series)."""

from __future__ import annotations

import time
from collections.abc import MutableMapping
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from orderflow import metrics


def route_of(scope: MutableMapping[str, Any]) -> str:
    """The template of the route that served the request (the router leaves it in the
    scope), or one label for every path no route matched."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else metrics.UNMATCHED_ROUTE


class RequestMetrics:
    """ASGI middleware: `orderflow_http_requests_total{method, route, status}` and
    `orderflow_http_request_seconds{method, route}`. A handler that raises counts as 500."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def send_and_note(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_and_note)
        finally:
            method, route = scope["method"], route_of(scope)
            metrics.HTTP_REQUESTS.labels(method, route, str(status)).inc()
            metrics.HTTP_REQUEST_SECONDS.labels(method, route).observe(
                time.perf_counter() - started
            )
