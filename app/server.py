"""The HTTP/1.1 protocol `newscorpus serve` runs: uvicorn's (httptools), with the limits on a
request's head that uvicorn leaves out.

- Headers over `MAX_HEADER_BYTES` in all: 431 (RFC 6585), the connection closed.
- A request's head must arrive within `NEWSCORPUS_HEADER_TIMEOUT_SECONDS` of its first byte
  (or of the connection opening): a client that dribbles its headers gets 408 and is cut off.
  uvicorn's keep-alive timeout cannot do this: any byte received cancels it.
- A request that is not valid HTTP, raw non-ASCII bytes in its URL among them: a 400
  problem+json with the security headers, like every other error (uvicorn's is plain text),
  saying what the parser found wrong (uvicorn says the same of every fault).
"""

from __future__ import annotations

import asyncio
import json
import sys
from http import HTTPStatus
from typing import Any

import httptools
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from app.config import get_settings
from app.errors import PROBLEM_MEDIA_TYPE
from app.middleware import API_CSP, SECURITY_HEADERS

MAX_HEADER_BYTES = 64 * 1024
PROTOCOL = "app.server:GuardedHttpToolsProtocol"

NOT_HTTP = "the request is not valid HTTP/1.1"
DETAILS = {
    400: NOT_HTTP,
    408: "the request's headers did not arrive in time",
    431: f"the request's headers are larger than {MAX_HEADER_BYTES} bytes in all",
}


def parse_fault(error: BaseException | None) -> str:
    """A 400's detail for what the parser refused: its own reason (a fixed text of llhttp's,
    never the client's bytes), in words for the two faults a client most often makes."""
    if isinstance(error, httptools.HttpParserCallbackError):  # raised in uvicorn's callbacks
        error = error.__context__  # (which parse the URL once the head is in)
    if isinstance(error, httptools.HttpParserInvalidMethodError):
        return f"{NOT_HTTP}: malformed request line (it must start with a method, such as GET)"
    if isinstance(error, httptools.HttpParserInvalidURLError):
        return (
            f"{NOT_HTTP}: malformed URL (a URL must be ASCII, without spaces or control "
            "characters: percent-encode other bytes)"
        )
    if isinstance(error, httptools.HttpParserError) and error.args:
        return f"{NOT_HTTP}: {error.args[0]}"  # "Invalid header token"
    return NOT_HTTP


class _Refused(Exception):
    """Raised in a parser callback: httptools stops parsing and reports a parser error."""


def problem_bytes(
    status: int, default_headers: list[tuple[bytes, bytes]], detail: str | None = None
) -> bytes:
    """A whole problem+json response closing the connection, written by the protocol itself."""
    phrase = HTTPStatus(status).phrase
    body = json.dumps(
        {
            "type": "about:blank",
            "title": phrase,
            "status": status,
            "detail": detail or DETAILS[status],
        }
    ).encode()
    headers = [
        *default_headers,
        (b"content-type", PROBLEM_MEDIA_TYPE.encode()),
        (b"content-length", str(len(body)).encode()),
        *((name.encode(), value.encode()) for name, value in SECURITY_HEADERS.items()),
        (b"content-security-policy", API_CSP.encode()),
        (b"connection", b"close"),
    ]
    head = b"".join(name + b": " + value + b"\r\n" for name, value in headers)
    return f"HTTP/1.1 {status} {phrase}\r\n".encode() + head + b"\r\n" + body


class GuardedHttpToolsProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with a size limit and a deadline on each request's head."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.header_timeout = get_settings().header_timeout_seconds
        self._head_bytes = 0
        self._refusal = 400
        self._head_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._arm_head_deadline()  # a connection that never sends a request is cut off too

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm_head_deadline()
        super().connection_lost(exc)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0
        if self._head_deadline is None:
            self._arm_head_deadline()

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        self._count(len(url))

    def on_header(self, name: bytes, value: bytes) -> None:
        super().on_header(name, value)
        self._count(len(name) + len(value) + 4)  # ": " and CRLF

    def on_headers_complete(self) -> None:
        self._disarm_head_deadline()
        super().on_headers_complete()

    def send_400_response(self, msg: str) -> None:
        # Called by uvicorn for any parser error, our refusals included, from its `except
        # HttpParserError` block with one message for all: the error being handled says which.
        detail = parse_fault(sys.exc_info()[1]) if self._refusal == 400 else None
        self._refuse(self._refusal, detail)

    def _count(self, size: int) -> None:
        self._head_bytes += size
        if self._head_bytes > MAX_HEADER_BYTES:
            self._refusal = 431
            raise _Refused

    def _arm_head_deadline(self) -> None:
        loop = asyncio.get_running_loop()
        self._head_deadline = loop.call_later(self.header_timeout, self._refuse, 408)

    def _disarm_head_deadline(self) -> None:
        if self._head_deadline is not None:
            self._head_deadline.cancel()
            self._head_deadline = None

    def _refuse(self, status: int, detail: str | None = None) -> None:
        self._disarm_head_deadline()
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            self.transport.close()  # a response is under way: no room for another
            return
        self.transport.write(problem_bytes(status, self.server_state.default_headers, detail))
        self.transport.close()
