"""Every failure as OpenAI's error shape, and never a traceback.

    {"error": {"message": "...", "type": "invalid_request_error", "param": "n", "code": null}}

`APIError` is raised by the handlers for a request they refuse. `Guard` is the outermost
middleware of the app: it checks the bearer key, and turns any exception that escaped a handler
into a one-line 500 (logged to stderr in one line, with the key masked should it appear).
"""

from __future__ import annotations

import hmac
import json
import sys
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

# Paths that answer without the key: a load balancer's health check carries none.
OPEN_PATHS = frozenset({"/health"})


class APIError(Exception):
    def __init__(
        self, status: int, message: str, *, param: str | None = None, code: str | None = None,
        type: str = "invalid_request_error",
    ) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.param = param
        self.code = code
        self.type = type

    def response(self) -> JSONResponse:
        return JSONResponse(error_body(self.message, self.type, self.param, self.code), status_code=self.status)


def error_body(
    message: str, type: str = "invalid_request_error", param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    return {"error": {"message": message, "type": type, "param": param, "code": code}}


def first_line(e: BaseException) -> str:
    lines = str(e).strip().splitlines()
    return f"{type(e).__name__}: {lines[0]}" if lines else type(e).__name__


# Friendlier messages than pydantic's for fields that take several shapes.
SHAPES = {
    "prompt": "prompt must be a string, a list of strings, a list of token ids or a list of lists of token ids",
    "stop": "stop must be a string or a list of strings",
    "content": "a message's content must be a string or a list of {\"type\": \"text\", \"text\": ...} parts",
}


def validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    """(message, param) for the first problem pydantic found."""
    errors = exc.errors()
    if not errors:
        return "invalid request", None
    first = errors[0]
    if first.get("type") in ("json_invalid", "json_type"):
        detail = (first.get("ctx") or {}).get("error")
        return f"the request body is not valid JSON{f' ({detail})' if detail else ''}", None
    loc = [str(x) for x in first.get("loc", ()) if x != "body"]
    if not loc:
        return f"the request body must be a JSON object ({first.get('msg')})", None
    named = [part for part in loc if not part.isdigit()]
    param = named[0] if named else loc[0]
    if first.get("type") == "missing":
        return f"missing required field {'.'.join(loc)}", param
    for field, message in SHAPES.items():
        if field in loc:
            return message, field
    return f"{'.'.join(loc)}: {first.get('msg')}", param


def install_handlers(app: FastAPI) -> None:
    @app.exception_handler(APIError)
    async def api_error(request: Request, exc: APIError) -> JSONResponse:
        return exc.response()

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        message, param = validation_message(exc)
        if "json" not in request.headers.get("content-type", ""):  # FastAPI reads JSON bodies only
            message, param = "send the request body as JSON, with the header `Content-Type: application/json`", None
        return JSONResponse(error_body(message, param=param), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        if exc.status_code == 404:
            message = f"no such endpoint: {request.method} {request.url.path}"
        elif exc.status_code == 405:
            message = f"{request.method} is not allowed on {request.url.path}"
        else:
            message = str(exc.detail)
        return JSONResponse(error_body(message), status_code=exc.status_code, headers=getattr(exc, "headers", None))


class Guard:
    """Pure ASGI middleware: the bearer key check, and the last line of defence against a
    traceback reaching a client or the log."""

    def __init__(self, app: ASGIApp, api_key: str | None = None) -> None:
        self.app = app
        self._expected = f"Bearer {api_key}".encode() if api_key else None
        self._key = api_key

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        if self._expected is not None and scope["path"] not in OPEN_PATHS:
            given = dict(scope.get("headers") or []).get(b"authorization", b"")
            if not hmac.compare_digest(given, self._expected):
                message = "missing or wrong API key: send the header `Authorization: Bearer <key>`"
                await _send_json(send, 401, error_body(message, code="invalid_api_key"))
                return
        started = False

        async def tracked(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracked)
        except Exception as e:  # anything a handler did not expect: one line, never a traceback
            line = self._masked(f"harness serve: internal error on {scope.get('method')} {scope['path']}: {first_line(e)}")
            print(line, file=sys.stderr, flush=True)
            if not started:
                message = self._masked(f"internal server error: {first_line(e)}")
                await _send_json(send, 500, error_body(message, type="server_error"))

    def _masked(self, text: str) -> str:
        return text.replace(self._key, "***") if self._key else text


async def _send_json(send: Send, status: int, body: dict[str, Any]) -> None:
    payload = json.dumps(body).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(payload)).encode())]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": payload})
