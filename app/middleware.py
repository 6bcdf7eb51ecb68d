"""What wraps every request: security headers, HEAD, compression, conditional GET, CORS, a
request-body limit and the time budget. All pure ASGI (no `BaseHTTPMiddleware`): each only
wraps `send`, so a request pays a function call per layer."""

from __future__ import annotations

import hashlib
import logging
from email.utils import parsedate_to_datetime
from urllib.parse import parse_qsl

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.datastructures import Headers, MutableHeaders
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.cors import CORSMiddleware
from starlette.routing import Match
from starlette.types import ASGIApp, Message, Receive, Scope, Send
from starlette_compress import CompressMiddleware, add_compress_type

from app.budget import install_budget
from app.config import Settings
from app.errors import PROBLEM_MEDIA_TYPE, problem_response

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


# Problems are JSON too; exports stream NDJSON or CSV, compressed and flushed chunk by chunk.
add_compress_type(PROBLEM_MEDIA_TYPE)
for _streamed in ("application/x-ndjson", "application/jsonl", "text/csv"):
    add_compress_type(_streamed, streaming=True)
# Below this a response goes out as it is: compressing would save less than a packet.
COMPRESS_MIN_BYTES = 1024
# Each encoding's fastest level: 2-4x the speed of starlette-compress's defaults (4) for
# 7-15 % more bytes (news NDJSON on one core: zstd 290 against 109 MB/s, brotli 157 against
# 43, gzip 82 against 43), which an export of hundreds of MB streamed at 20,000 articles/s
# needs, and a 9 kB page compressed in 0.1 ms instead of 0.2 (as long as the rest of it).
ZSTD_LEVEL = BROTLI_QUALITY = GZIP_LEVEL = 1
# What a 304 drops of the 200 it stands for: what describes the body it does not send. The
# rest stays, a route's own Content-Security-Policy above all: a browser updates its stored
# page with the 304's headers, and the API's default policy would then block the page's scripts.
NOT_MODIFIED_DROPS = frozenset(
    {b"content-length", b"content-type", b"content-encoding", b"transfer-encoding"}
)
DEFAULT_CACHE_CONTROL = "no-cache"  # may be stored, revalidated each time (cheap with ETag)


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


class NulMiddleware:
    """Answer 400 for a NUL character in the path or the query string, on every backend alike:
    no stored id or name holds one (PostgreSQL's text cannot), so no lookup could match, and
    PostgreSQL's driver refuses to send one."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and (detail := _nul_in(scope)) is not None:
            await problem_response(400, detail)(scope, receive, send)
            return
        await self.app(scope, receive, send)


def _nul_in(scope: Scope) -> str | None:
    """Say where the request's path or query holds a NUL character; None if it holds none."""
    if "\x00" in scope["path"]:
        return "the path contains a NUL character (%00)"
    raw: bytes = scope["query_string"]
    if b"%00" not in raw and b"\x00" not in raw:  # most requests: no parsing
        return None
    for name, value in parse_qsl(raw.decode("latin-1"), keep_blank_values=True):  # as Starlette
        if "\x00" in name + value:
            where = f"parameter {name}" if name.isidentifier() else "query string"
            return f"the {where} contains a NUL character (%00)"
    return None


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


# Set in the scope of a HEAD run as a GET: a route whose body costs (the export) may skip it.
HEAD_SCOPE_KEY = "newscorpus.head"


def is_head(scope: Scope) -> bool:
    """Whether this GET answers a HEAD: only its status and headers will be sent."""
    return bool(scope.get(HEAD_SCOPE_KEY))


class HeadMiddleware:
    """Answer HEAD on every GET route (RFC 9110): run the GET, send its head, drop its body.
    The routes are declared GET only, so the OpenAPI document lists each operation once."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return
        finished = False

        async def head_only(message: Message) -> None:
            nonlocal finished
            if message["type"] == "http.response.start":
                await send(message)
            elif not finished and not message.get("more_body", False):
                finished = True
                await send({"type": "http.response.body", "body": b""})

        await self.app({**scope, "method": "GET", HEAD_SCOPE_KEY: True}, receive, head_only)


class ConditionalGetMiddleware:
    """An ETag (a hash of the body) and Cache-Control on every successful GET, and 304 Not
    Modified when If-None-Match shows the client has it.

    The ETag is weak: compression, outside this middleware, sends other bytes for the same
    page. A streamed response (several body messages) keeps whatever validators it set."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "GET":
            await self.app(scope, receive, send)
            return
        held: Message | None = None

        async def validated(message: Message) -> None:
            nonlocal held
            if message["type"] == "http.response.start" and message["status"] == 200:
                held = message  # until the body is known
                return
            if held is None:
                await send(message)
                return
            start, held = held, None
            headers = MutableHeaders(scope=start)
            headers.setdefault("cache-control", DEFAULT_CACHE_CONTROL)
            if message["type"] == "http.response.body" and not message.get("more_body", False):
                body = message.get("body", b"")
                # SHA-1 has CPU instructions: half BLAKE2b's time on a listing's 9 kB.
                tag = hashlib.sha1(body, usedforsecurity=False).hexdigest()
                headers.setdefault("etag", f'W/"{tag}"')
                if _not_modified(Headers(scope=scope), headers):
                    kept = [(k, v) for k, v in start["headers"] if k not in NOT_MODIFIED_DROPS]
                    await send({"type": "http.response.start", "status": 304, "headers": kept})
                    await send({"type": "http.response.body", "body": b""})
                    return
            await send(start)
            await send(message)

        await self.app(scope, receive, validated)


def _not_modified(request: Headers, response: MutableHeaders) -> bool:
    """Whether the client's copy is current: one of its If-None-Match tags is ours or, without
    If-None-Match (which takes precedence, RFC 9110 13.2.2), nothing changed since its
    If-Modified-Since; an invalid date is ignored."""
    if (tags := request.get("if-none-match")) is not None:
        ours = _opaque(response["etag"])
        return any(tag.strip() == "*" or _opaque(tag) == ours for tag in tags.split(","))
    since, modified = request.get("if-modified-since"), response.get("last-modified")
    if since is None or modified is None:
        return False
    try:
        return parsedate_to_datetime(modified) <= parsedate_to_datetime(since)
    except (TypeError, ValueError):  # unparsable, or without a zone (naive against aware)
        return False


def _opaque(tag: str) -> str:
    """The tag without its weakness: If-None-Match compares weakly."""
    return tag.strip().removeprefix("W/")


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
    if "GET" in allowed:  # HeadMiddleware answers HEAD wherever GET is
        allowed.insert(allowed.index("GET") + 1, "HEAD")
    return problem_response(405, "Method Not Allowed", headers={"Allow": ", ".join(allowed)})


def install_middleware(app: FastAPI, settings: Settings) -> None:
    """Install the middleware stack, outermost last: headers > NUL > HEAD > compression > CORS >
    conditional GET > body limit > budget."""
    install_budget(app, budget_ms=settings.query_budget_ms)
    app.add_exception_handler(405, _method_not_allowed)
    app.add_middleware(BodyLimitMiddleware, limit=settings.max_body_bytes)
    app.add_middleware(ConditionalGetMiddleware)
    if settings.cors_origins:  # off unless configured
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.cors_origins,
            allow_methods=["GET", "HEAD", "POST"],
            allow_headers=["Content-Type", "X-API-Key"],
            expose_headers=["Location", "Retry-After"],
            max_age=600,
        )
    app.add_middleware(
        CompressMiddleware,
        minimum_size=COMPRESS_MIN_BYTES,
        zstd_level=ZSTD_LEVEL,
        brotli_quality=BROTLI_QUALITY,
        gzip_level=GZIP_LEVEL,
    )
    app.add_middleware(HeadMiddleware)
    app.add_middleware(NulMiddleware)
    app.add_middleware(SecurityHeadersMiddleware)
