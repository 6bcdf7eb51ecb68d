"""Sources: who published the articles."""

from __future__ import annotations

from fastapi import APIRouter

from app.api.catalog import CatalogDep
from app.api.deps import CheckedRoute
from app.db import SessionDep
from app.schemas import SourceCount

router = APIRouter(tags=["sources"], route_class=CheckedRoute)


@router.get("/sources", response_model=list[SourceCount])
def list_sources(session: SessionDep, catalog: CatalogDep) -> list[SourceCount]:
    """List every source with its number of articles, most articles first."""
    return [SourceCount(name=name, article_count=n) for name, n in catalog.sources(session)]
