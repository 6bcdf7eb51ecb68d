"""Dependencies shared by the routers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated, Any, Generic, TypeVar, get_origin

from fastapi import Depends, Request
from fastapi.dependencies.models import Dependant
from fastapi.exceptions import RequestValidationError
from fastapi.routing import APIRoute
from pydantic import BaseModel, ValidationError

from app.budget import BudgetedSearch
from app.errors import PROBLEM_MEDIA_TYPE, UnknownParameter
from app.schemas import ProblemDetail


async def get_search(request: Request) -> BudgetedSearch:
    """The search backend behind the time budget (it has the backend's methods, and `run`)."""
    return request.app.state.search


SearchDep = Annotated[BudgetedSearch, Depends(get_search)]


Model = TypeVar("Model", bound=BaseModel)


class QueryModel(Generic[Model]):
    """A dependency that validates the query string into a pydantic model in one call.

    FastAPI's own `Annotated[Model, Query()]` inspects every field's annotation on every
    request: about 1 ms for GET /articles' 14 fields (FastAPI 0.165), where pydantic alone
    takes 20 us. Errors are FastAPI's (422, located in "query"); give the route
    `openapi_extra=query_model.openapi` to document the fields as FastAPI would.
    """

    def __init__(self, model: type[Model]) -> None:
        self.model = model
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
                }
                for name, field in schema["properties"].items()
            ]
        }

    async def __call__(self, request: Request) -> Model:
        query = request.query_params
        values = {
            name: query.getlist(name) if name in self.repeatable else query[name]
            for name in query.keys()  # noqa: SIM118 (a multi-dict: keys once each)
            if name in self.model.model_fields  # others are ignored, as FastAPI does
        }
        try:
            return self.model.model_validate(values)
        except ValidationError as error:
            errors = error.errors(include_url=False, include_context=False)
            raise RequestValidationError(
                [{**e, "loc": ("query", *e["loc"])} for e in errors]
            ) from None


async def reject_unknown_query(request: Request) -> None:
    """Answer 400 for a query parameter the route does not declare: a typo such as
    `pubished_from` must not silently return everything. On every route the API documents
    (the app's own dependency); the docs pages are not in it and take what their scripts send."""
    query, route = request.query_params, request.scope["route"]
    if not query or not route.include_in_schema:
        return
    known = declared_query(route)
    if unknown := [name for name in query.keys() if name not in known]:  # noqa: SIM118
        raise UnknownParameter(unknown, known)


def declared_query(route: APIRoute) -> frozenset[str]:
    """The query parameters a route declares (its dependencies' and those it documents as a
    QueryModel's), worked out on its first request."""
    names: frozenset[str] | None = route.__dict__.get("_declared_query")
    if names is None:
        extra = (route.openapi_extra or {}).get("parameters", [])
        documented = {p["name"] for p in extra if p.get("in") == "query"}
        names = frozenset(_query_fields(route.dependant)) | documented
        route.__dict__["_declared_query"] = names
    return names


def _query_fields(dependant: Dependant) -> Iterator[str]:
    for field in dependant.query_params:
        yield field.alias
    for sub in dependant.dependencies:
        yield from _query_fields(sub)


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document problem+json error responses in OpenAPI."""
    return {
        status: {"model": ProblemDetail, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses
    }
