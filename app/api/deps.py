"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from app.errors import PROBLEM_MEDIA_TYPE
from app.schemas import ProblemDetail
from app.search.base import SearchBackend


async def get_search(request: Request) -> SearchBackend:
    return request.app.state.search


SearchDep = Annotated[SearchBackend, Depends(get_search)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document problem+json error responses in OpenAPI."""
    return {
        status: {"model": ProblemDetail, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses
    }
