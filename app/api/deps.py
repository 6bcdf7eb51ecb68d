"""Dependencies shared by the routers."""

from __future__ import annotations

import email.message
import json
import time
from collections.abc import Callable, Coroutine, Iterator
from datetime import UTC, datetime
from email.utils import format_datetime
from functools import cached_property, lru_cache
from typing import Annotated, Any, Generic, TypeVar, get_origin
from urllib.parse import unquote_plus, unquote_to_bytes

from fastapi import Depends, Request, Response
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.params import Form
from fastapi.routing import APIRoute
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.json_schema import models_json_schema

from app.api.cursors import fingerprint
from app.budget import BudgetedSearch
from app.errors import (
    PROBLEM_MEDIA_TYPE,
    MalformedBody,
    NotUtf8,
    UnknownParameter,
    UnsupportedMediaType,
)
from app.schemas import ProblemDetail


async def get_search(request: Request) -> BudgetedSearch:
    """The search backend behind the time budget (it has the backend's methods, and `run`)."""
    return request.app.state.search


SearchDep = Annotated[BudgetedSearch, Depends(get_search)]


class QueryParams(BaseModel):
    """A route's query parameters. Read-only: QueryModel hands the same object to every
    request with the same query string, so what is derived from them is derived once."""

    model_config = ConfigDict(frozen=True)

    @cached_property
    def key(self) -> str:
        """Tells apart every request that renders differently (a page cache's key)."""
        return self.model_dump_json()

    @cached_property
    def fingerprint(self) -> str:
        """The query but its cursor and page size, as cursors are bound to it."""
        return fingerprint(self)


Model = TypeVar("Model", bound=QueryParams)
RECENT_QUERIES = 256  # query strings whose validated parameters are kept


class QueryModel(Generic[Model]):
    """A dependency that validates the query string into a pydantic model in one call.

    FastAPI's own `Annotated[Model, Query()]` inspects every field's annotation on every
    request: about 1 ms for GET /articles' 14 fields (FastAPI 0.165), where pydantic alone
    takes 20 us. Errors are FastAPI's (422, located in "query"); give the route
    `openapi_extra=query_model.openapi` to document the fields as FastAPI would.
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
        self._recent: dict[bytes, Model] = {}  # by query string, the oldest first
        fields = model.model_fields
        self.repeatable = {name for name, f in fields.items() if get_origin(f.annotation) is list}
        schema = model.model_json_schema()
        self.openapi = {
            "parameters": [
                {
                    "name": name,
                    "in": "query",
                    "required": name in schema.get("required", ()),
                    "schema": field,
                    **({"description": field["description"]} if "description" in field else {}),
                    # A field declared with FastAPI's Query(openapi_examples=...): as FastAPI does.
                    **(
                        {"examples": examples}
                        if (examples := getattr(fields[name], "openapi_examples", None))
                        else {}
                    ),
                }
                for name, field in schema["properties"].items()
            ]
        }

    async def __call__(self, request: Request) -> Model:
        raw: bytes = request.scope["query_string"]
        if (params := self._recent.get(raw)) is None:
            params = self._validated(request)
            if len(self._recent) >= RECENT_QUERIES:
                self._recent.pop(next(iter(self._recent)), None)
            self._recent[raw] = params
        return params

    def _validated(self, request: Request) -> Model:
        query = request.query_params
        values = {
            name: query.getlist(name) if name in self.repeatable else query[name]
            for name in query.keys()  # noqa: SIM118 (a multi-dict: keys once each)
            if name in self.model.model_fields  # others are ignored, as FastAPI does
        }
        # FastAPI would take the last of `q=a&q=b`: a client meaning both should hear it did not.
        repeated = [
            {"loc": ("query", name), "msg": "given more than once", "type": "value_error"}
            for name in values
            if name not in self.repeatable and len(query.getlist(name)) > 1
        ]
        try:
            params = self.model.model_validate(values)
        except ValidationError as error:
            errors = error.errors(include_url=False)  # the context: a pattern's words
            raise RequestValidationError(
                [*repeated, *({**e, "loc": ("query", *e["loc"])} for e in errors)]
            ) from None
        if repeated:
            raise RequestValidationError(repeated)
        return params


class CheckedRoute(APIRoute):
    """A route that answers 400 for a query parameter it does not declare: a typo such as
    `pubished_from` must not silently return everything; 400 for a query whose escapes are not
    UTF-8 (read with replacement characters, it would match all or nothing); 415 for a
    body that is not JSON where it reads JSON (FastAPI would validate its bytes as the JSON's
    value, and answer that a text is not an object); and 422 for a JSON body that is empty,
    not UTF-8 or not JSON, in words (the body's description, what to send, completes the
    first). Every router of the API uses it; routes left out of the OpenAPI document (the docs
    pages) take what their scripts send. Checked in the route's handler, not as a dependency:
    FastAPI's solving of one more dependency cost about 60 us a request (a quarter of a
    minimal endpoint's time)."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()
        if not self.include_in_schema:
            return handler
        known = declared_query(self)
        body = self.body_field
        reads_json = body is not None and not isinstance(body.field_info, Form)
        wanted = (body.field_info.description if body else None) or "a JSON object"

        async def checked(request: Request) -> Response:
            if raw := request.scope["query_string"]:
                _check_utf8(raw)
                query = request.query_params
                if unknown := [name for name in query.keys() if name not in known]:  # noqa: SIM118
                    raise UnknownParameter(unknown, known)
            if reads_json:
                await _read_json(request, wanted)
            return await handler(request)

        return checked


def _check_utf8(query: bytes) -> None:
    """Refuse percent-escapes that do not spell UTF-8: Starlette would read them as
    replacement characters, and `q=caf%E9` search for `caf\ufffd`. Only a `%` can bring them
    (the server refuses raw non-ASCII bytes in a URL), so most queries cost one scan."""
    if b"%" not in query:
        return
    for pair in query.split(b"&"):
        name, _, value = pair.partition(b"=")
        if not (_is_utf8(name) and _is_utf8(value)):
            shown = unquote_plus(name.decode("latin-1"))  # as Starlette reads it
            raise NotUtf8(shown if _is_utf8(name) else None, shown)


def _is_utf8(escaped: bytes) -> bool:
    try:
        unquote_to_bytes(escaped).decode()
    except UnicodeDecodeError:
        return False
    return True


async def _read_json(request: Request, wanted: str) -> None:
    """Read a JSON body (Starlette keeps it for FastAPI), or say in words what is wrong with
    it: FastAPI would answer that a field "" is required, name a character's position as a
    field, or answer a 400 for bytes that are not UTF-8."""
    if not await _sent_as_json(request):
        raise UnsupportedMediaType(
            "the request body must be JSON, sent with Content-Type: application/json"
        )
    body = await request.body()
    if not body.strip():
        raise MalformedBody(f"the request body is empty: send {wanted}")
    try:
        body.decode()  # strictly: JSON's own decoding lets UTF-16 and surrogates through
    except UnicodeDecodeError:
        raise MalformedBody("the body is not UTF-8") from None
    try:
        await request.json()
    except json.JSONDecodeError as error:
        where = f"at line {error.lineno}, column {error.colno}"
        raise MalformedBody(f"the body is not valid JSON ({where})") from None
    except RecursionError:  # `[[[[...]]]]`: deeper than Python's parser goes
        raise MalformedBody("the body's JSON nests too deeply") from None


async def _sent_as_json(request: Request) -> bool:
    """Whether the body is JSON as FastAPI reads it (`application/json` or `application/*+json`),
    or there is no body at all (which `_read_json` then names as empty)."""
    content_type = request.headers.get("content-type")
    if content_type is None:
        return not await request.body()  # FastAPI reads the body anyway (and keeps it)
    message = email.message.Message()
    message["content-type"] = content_type
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameters a route declares: its dependencies' and those it documents as a
    QueryModel's."""
    extra = (route.openapi_extra or {}).get("parameters", [])
    documented = {p["name"] for p in extra if p.get("in") == "query"}
    return frozenset(_query_fields(route.dependant)) | documented


def _query_fields(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        yield field.alias
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def last_modified(moment: datetime | None) -> dict[str, str]:
    """A Last-Modified header for a stored time (naive: UTC). None for a time within the
    current second: HTTP dates count whole seconds, so a change later in that second would
    carry the same date and an If-Modified-Since could not tell them apart."""
    if moment is None:
        return {}
    moment = moment if moment.tzinfo else moment.replace(tzinfo=UTC)
    if int(moment.timestamp()) >= int(time.time()):
        return {}
    return {"Last-Modified": _http_date(int(moment.timestamp()))}


@lru_cache(maxsize=64)  # a corpus changes far less often than it is read
def _http_date(seconds: int) -> str:
    return format_datetime(datetime.fromtimestamp(seconds, UTC), usegmt=True)


PROBLEM_CONTENT = {PROBLEM_MEDIA_TYPE: {"schema": {"$ref": "#/components/schemas/ProblemDetail"}}}


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document error responses in OpenAPI as the problem+json they are sent as (FastAPI's
    `model` would put them under the route's own media type, application/json)."""
    return {status: {"content": PROBLEM_CONTENT} for status in statuses}


def problem_schemas() -> dict[str, Any]:
    """The problem schema and what it refers to, for the document's components."""
    _, schemas = models_json_schema(
        [(ProblemDetail, "serialization")], ref_template="#/components/schemas/{model}"
    )
    return schemas["$defs"]
