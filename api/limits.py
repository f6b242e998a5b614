"""The request body limit: a body over MAX_BODY_BYTES is a 413 before it is read whole (by
its Content-Length when it says, or as soon as a chunked body passes the limit), so a client
cannot make the API parse, hold or echo megabytes."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from api.errors import body

MAX_BODY_BYTES = 64 * 1024
TOO_LARGE = f"the request body is over the limit of {MAX_BODY_BYTES} bytes"


class TooLarge(HTTPException):
    """Raised from the body reader: FastAPI passes an HTTPException on untouched, so the
    API's error handler answers it like any other 4xx."""

    def __init__(self) -> None:
        super().__init__(413, TOO_LARGE)


def _refusal() -> JSONResponse:
    return JSONResponse(body(413, TOO_LARGE), 413)


class BodyLimit:
    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and declared.isdigit() and int(declared) > self.limit:
            await _refusal()(scope, receive, send)
            return
        seen = 0
        started = False

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            if message["type"] == "http.request":
                seen += len(message.get("body", b""))
                if seen > self.limit:
                    raise TooLarge
            return message

        async def watched(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, counted, watched)
        except TooLarge:
            if not started:
                await _refusal()(scope, receive, send)
