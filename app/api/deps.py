"""Dependencies shared by the routers."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Request

from app.budget import BudgetedSearch
from app.errors import PROBLEM_MEDIA_TYPE
from app.schemas import ProblemDetail


async def get_search(request: Request) -> BudgetedSearch:
    """The search backend behind the time budget (it has the backend's methods, and `run`)."""
    return request.app.state.search


SearchDep = Annotated[BudgetedSearch, Depends(get_search)]


def problems(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Document problem+json error responses in OpenAPI."""
    return {
        status: {"model": ProblemDetail, "content": {PROBLEM_MEDIA_TYPE: {}}} for status in statuses
    }
