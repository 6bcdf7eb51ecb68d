"""What wraps every request: security headers, a request-body limit, CORS and the time budget."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from app.budget import install_budget
from app.config import Settings
from app.errors import problem_response

log = logging.getLogger(__name__)

# JSON never needs scripts, frames or plugins; the docs pages run Swagger UI and ReDoc from
# our own assets (with their small inline start-up scripts, styles and ReDoc's blob worker).
API_CSP = "default-src 'none'; frame-ancestors 'none'"
DOCS_CSP = (
    "default-src 'self'; script-src 'self' 'unsafe-inline'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; frame-ancestors 'none'"
)
DOCS_PATHS = ("/docs", "/redoc")
HTTP_METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS")
SECURITY_HEADERS = {
    "x-content-type-options": "nosniff",
    "x-frame-options": "DENY",
    "referrer-policy": "no-referrer",
    "cross-origin-opener-policy": "same-origin",
}


class BodyTooLarge(StarletteHTTPException):
    """Raised while a body streams in past the limit; FastAPI passes HTTP errors through."""

    def __init__(self, limit: int) -> None:
        super().__init__(413, f"the request body is larger than {limit} bytes")


class BodyLimitMiddleware:
    """Answer 413 for a body over `limit` bytes: from Content-Length before reading anything,
    or as soon as a streamed (chunked) body passes the limit."""

    def __init__(self, app: ASGIApp, *, limit: int) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = Headers(scope=scope).get("content-length")
        if declared is not None:
            if not declared.isdigit():
                response = problem_response(400, "the Content-Length header is not a number")
                await response(scope, receive, send)
                return
            if int(declared) > self.limit:
                await problem_response(413, BodyTooLarge(self.limit).detail)(scope, receive, send)
                return
        received = 0

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.limit:
                    raise BodyTooLarge(self.limit)
            return message

        await self.app(scope, limited_receive, send)


class SecurityHeadersMiddleware:
    """Add security headers to every response, including the last-resort 500 rendered here."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False
        csp = DOCS_CSP if scope["path"].startswith(DOCS_PATHS) else API_CSP

        async def send_with_headers(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
                headers = MutableHeaders(scope=message)
                for name, value in (*SECURITY_HEADERS.items(), ("content-security-policy", csp)):
                    headers.setdefault(name, value)
            await send(message)

        try:
            await self.app(scope, receive, send_with_headers)
        except Exception:
            # Errors no handler took would otherwise be answered outside this middleware,
            # without these headers. Log here and answer the same problem+json 500.
            log.exception("unhandled error")
            if started:
                raise
            response = problem_response(500, "An unexpected error occurred; it has been logged.")
            await response(scope, receive, send_with_headers)


async def _method_not_allowed(request: Request, error: Exception) -> JSONResponse:
    """Answer 405 naming every method this path takes (Starlette names only those of the first
    route that matched: GET /articles would hide POST /articles)."""
    routes = request.app.router.routes
    allowed = [
        method
        for method in HTTP_METHODS
        if any(
            route.matches({**request.scope, "method": method})[0] is Match.FULL for route in routes
        )
    ]
    return problem_response(405, "Method Not Allowed", headers={"Allow": ", ".join(allowed)})


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Install the middleware stack, outermost last: headers > CORS > body limit > budget."""
    install_budget(app, budget_ms=settings.query_budget_ms)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    if settings.cors_origins:  # off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
            expose_headers=["Location", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(SecurityHeadersMiddleware)
