"""Errors as data: a small family rendered as RFC 9457 problem+json by one set of handlers."""

from __future__ import annotations

import difflib
import logging
from collections.abc import Iterable, Mapping, Sequence
from http import HTTPStatus
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

log = logging.getLogger(__name__)

PROBLEM_MEDIA_TYPE = "application/problem+json"
# What each `pattern` constraint asks for, in words: a 422 says this, never the expression.
PATTERN_WORDS: dict[str, str] = {}
# A list pattern's names: its 422 names the items sent that are not among them.
PATTERN_NAMES: dict[str, tuple[str, ...]] = {}


def pattern(expression: str, words: str) -> str:
    """A regular expression for a field's `pattern`, with what it asks for in words."""
    PATTERN_WORDS[expression] = words
    return expression


def names_pattern(expression: str, names: Sequence[str]) -> str:
    """A `pattern` for a comma list of `names`."""
    PATTERN_NAMES[expression] = tuple(names)
    return pattern(expression, f"a comma list of {', '.join(names)}")


MAX_ECHOED = 64  # characters of a client's name an error repeats


def echoed(name: str) -> str:
    """A name the client sent, as an error repeats it: cut short (an unknown parameter's name
    may be 8,000 characters long)."""
    return name if len(name) <= MAX_ECHOED else name[: MAX_ECHOED - 1] + "\u2026"


class Problem(Exception):
    """An error a client can act on; its status and title say what kind."""

    status = 500
    title = "Internal Server Error"

    errors: list[dict[str, str]] | None = None  # (field, message) pairs, for field errors

    def __init__(self, detail: str, *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail)
        self.detail = detail
        self.headers = headers


class NotFound(Problem):
    status, title = 404, "Not Found"


class BadCursor(Problem):
    status, title = 400, "Bad Cursor"


class CursorExpired(Problem):
    status, title = 410, "Cursor Expired"


class UnknownParameter(Problem):
    status, title = 400, "Unknown Query Parameter"

    def __init__(self, unknown: list[str], known: Iterable[str]) -> None:
        valid = sorted(known)
        unknown = [echoed(name) for name in unknown]
        names = ", ".join(repr(name) for name in unknown)
        listed = ", ".join(valid) or "none"
        super().__init__(f"unknown query parameter {names}; this route takes: {listed}")
        self.errors = [
            {"field": name, "message": "unknown query parameter" + _suggestion(name, valid)}
            for name in unknown
        ]


def _suggestion(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    return f"; did you mean {close[0]}?" if close else ""


class BadRequest(Problem):
    """Parameters each valid, but not together (an interval too fine for the dates asked)."""

    status, title = 400, "Bad Request"


class NotUtf8(BadRequest):
    """A query parameter whose percent-escapes do not spell UTF-8 (`q=caf%E9`, Latin-1)."""

    def __init__(self, name: str | None, shown: str) -> None:
        words = "not valid UTF-8 (percent-encode UTF-8 bytes)"
        subject = "a query parameter's name" if name is None else echoed(name)
        super().__init__(f"{subject} is {words}")
        self.errors = [{"field": echoed(shown), "message": words}]


class MalformedBody(Problem):
    """A JSON body that is empty, not UTF-8 or not JSON: a 422 on the body as a whole, as the
    other faults of a body are 422s on its fields."""

    status, title = 422, HTTPStatus(422).phrase

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.errors = [{"field": "body", "message": detail}]


class UnsupportedMediaType(Problem):
    status, title = 415, "Unsupported Media Type"


class Unauthorized(Problem):
    status, title = 401, "Unauthorized"


class Forbidden(Problem):
    status, title = 403, "Forbidden"


class Unavailable(Problem):
    status, title = 503, "Service Unavailable"


def problem_response(
    status: int,
    detail: str,
    *,
    title: str | None = None,
    errors: list[dict[str, str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> JSONResponse:
    """Render one problem+json response."""
    title = title or HTTPStatus(status).phrase
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title,
        "status": status,
        "detail": detail,
    }
    if errors is not None:
        body["errors"] = errors
    return JSONResponse(body, status_code=status, media_type=PROBLEM_MEDIA_TYPE, headers=headers)


def _field(location: tuple[Any, ...]) -> str:
    """The field's name without where it was sent (a field may be called `body` too)."""
    if location and location[0] in ("body", "query", "path", "header", "cookie"):
        location = location[1:]
    return ".".join(str(part) for part in location)


async def _on_problem(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, Problem)
    return problem_response(
        error.status, error.detail, title=error.title, errors=error.errors, headers=error.headers
    )


async def _on_validation(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, RequestValidationError)
    # Field names and messages, not the input (but a list's unknown names, cut short). A
    # default made from other fields (`sort` from `q`) is not made when one of them is wrong:
    # that field's error says it all.
    errors = [
        {"field": _field(e["loc"]), "message": _message(e)}
        for e in error.errors()
        if e["type"] != "default_factory_not_called"
    ]
    detail = "; ".join(f"{e['field'] or 'request'}: {e['message']}" for e in errors)
    return problem_response(422, detail or "invalid request", errors=errors)


def _message(error: Mapping[str, Any]) -> str:
    """The error in words: what a pattern asks for, not the pattern (which few can read); our
    validators' own text, without pydantic's "Value error, " before it."""
    if error["type"] == "string_pattern_mismatch":
        expression = str((error.get("ctx") or {}).get("pattern"))
        words = PATTERN_WORDS.get(expression, "in the form its description gives")
        return f"must be {words}{_not_among(PATTERN_NAMES.get(expression), error['input'])}"
    return str(error["msg"]).removeprefix("Value error, ")


def _not_among(names: tuple[str, ...] | None, value: object) -> str:
    """` ('nope' is not one of them)`: the items of a comma list that are not among its names
    (each cut short, as every name a client sent that an error repeats)."""
    if not names or not isinstance(value, str):
        return ""
    unknown = [item for part in value.split(",") if (item := part.strip()) not in ("", *names)]
    if not unknown:
        return ""
    verb = "is" if len(unknown) == 1 else "are"
    return f" ({', '.join(repr(echoed(item)) for item in unknown)} {verb} not one of them)"


async def _on_http(_: Request, error: Exception) -> JSONResponse:
    assert isinstance(error, StarletteHTTPException)
    detail = error.detail if isinstance(error.detail, str) else HTTPStatus(error.status_code).phrase
    return problem_response(error.status_code, detail, headers=error.headers)


def disk_full_response() -> JSONResponse:
    """507: the write found the disk full (the operator must free space; nothing was saved)."""
    log.warning("a write failed: the disk is full")
    detail = "the server's disk is full: nothing was saved; try again later"
    return problem_response(507, detail, headers={"Retry-After": "60"})


async def _on_unexpected(_: Request, error: Exception) -> JSONResponse:
    log.exception("unhandled error", exc_info=error)
    return problem_response(500, "An unexpected error occurred; it has been logged.")


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(Problem, _on_problem)
    app.add_exception_handler(RequestValidationError, _on_validation)
    app.add_exception_handler(StarletteHTTPException, _on_http)
    app.add_exception_handler(Exception, _on_unexpected)
