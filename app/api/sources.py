"""Sources: who published the articles."""

from __future__ import annotations

from fastapi import APIRouter
from sqlalchemy import func, select

from app.db import SessionDep
from app.models import Article
from app.schemas import SourceCount

router = APIRouter(tags=["sources"])


@router.get("/sources", response_model=list[SourceCount])
def list_sources(session: SessionDep) -> list[SourceCount]:
    """List every source with its number of articles, most articles first."""
    count = func.count().label("article_count")
    rows = session.execute(
        select(Article.source, count)
        .where(Article.source.is_not(None))
        .group_by(Article.source)
        .order_by(count.desc(), Article.source)
    )
    return [SourceCount(name=name, article_count=n) for name, n in rows]
