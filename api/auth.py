"""The API's gate: `Depends(allowed(scope))` on a route needs a bearer key with that scope.
401 without a valid key, 403 with a key that lacks the scope; both say which scope and carry
`WWW-Authenticate` as RFC 6750 describes. The scheme is FastAPI's HTTPBearer, so it is in the
OpenAPI document and Swagger UI's Authorize button sends the key."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import Depends, HTTPException, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from api import keys

log = logging.getLogger("orderflow.api")
REALM = 'Bearer realm="orderflow"'
bearer = HTTPBearer(
    auto_error=False,
    description="An API key: `Authorization: Bearer <key>`. Scopes: "
    + "; ".join(f"`{scope}` {what}" for scope, what in keys.SCOPES.items()),
)
Credentials = Annotated[HTTPAuthorizationCredentials | None, Depends(bearer)]


def allowed(scope: str) -> Callable[[Request, Credentials], Awaitable[keys.ApiKey]]:
    """A dependency that lets the request through only with a key holding `scope`."""
    assert scope in keys.SCOPES, scope

    async def check(request: Request, credentials: Credentials) -> keys.ApiKey:
        if credentials is None:
            raise HTTPException(
                401,
                f"this operation needs an API key with scope {scope}: "
                "send 'Authorization: Bearer <key>'",
                headers={"WWW-Authenticate": REALM},
            )
        configured: list[keys.ApiKey] = request.app.state.api_keys
        key = keys.find(configured, credentials.credentials)
        if key is None:
            raise HTTPException(
                401,
                "the API key is not valid",
                headers={"WWW-Authenticate": f'{REALM}, error="invalid_token"'},
            )
        if scope not in key.scopes:
            raise HTTPException(
                403,
                f"the key {key.name!r} lacks the scope {scope} this operation needs",
                headers={
                    "WWW-Authenticate": f'{REALM}, error="insufficient_scope", scope="{scope}"'
                },
            )
        return key

    return check


def need(scope: str) -> Any:
    """`dependencies=[need(ORDERS_READ)]` on a route: the key must hold that scope."""
    return Depends(allowed(scope))
