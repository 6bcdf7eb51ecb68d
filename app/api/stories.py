"""Stories: the sets of articles that report the same event, listed and in detail."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query
from pydantic import Field, TypeAdapter, field_validator
from sqlalchemy import and_, func, or_, select
from sqlalchemy.orm import Session

from app.api.articles import summary
from app.api.catalog import CatalogDep
from app.api.cursors import Count, Cursors, CursorsDep, RowId
from app.api.deps import CheckedRoute, QueryModel, QueryParams, SearchDep, problems
from app.api.filters import entity_filters
from app.db import SessionDep
from app.errors import NotFound
from app.models import Article, Entity, Story, StoryEntity
from app.schemas import (
    IsoDate,
    StoryArticle,
    StoryDetail,
    StoryEntityCount,
    StoryPage,
    StorySummary,
    excerpt,
    no_blank,
)
from app.search.base import ArticleQuery

router = APIRouter(prefix="/stories", tags=["stories"], route_class=CheckedRoute)

# Filters look at the stories of matching articles, counted inside the index: the stories with
# the most matching articles first, at most this many (beyond it, narrow the query).
FILTERED_STORIES = 10_000
LISTED_ENTITIES = 5
DETAIL_ENTITIES = 25
MAX_DETAIL_ARTICLES = 100
TITLE_CHARS = 120

StorySort = Literal["size", "recency"]


class StoryParams(QueryParams):
    """Query parameters of GET /stories."""

    q: str | None = Field(
        None,
        max_length=500,
        description="Full-text query, as on /articles: stories with a matching article",
    )
    person: list[str] = Field([], description="Person name or alias; repeatable, all must hold")
    place: list[str] = Field([], description="Place name or alias; repeatable, all must hold")
    org: list[str] = Field([], description="Organisation name or alias; repeatable, all must hold")
    entity: list[str] = Field([], description="Entity id; repeatable, all must hold")
    sort: StorySort = Field(
        "size",
        description="`size`: most articles first; `recency`: latest publication first "
        "(stories with no dated article last)",
    )
    limit: int = Field(20, ge=1, le=100, description="Items per page, 1 to 100")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page")
    _no_blank_q = field_validator("q")(no_blank)

    def filtered(self) -> bool:
        return bool(self.q or self.person or self.place or self.org or self.entity)


STORY_PARAMS = QueryModel(StoryParams)


@router.get(
    "",
    response_model=StoryPage,
    responses=problems(400, 422),
    openapi_extra=STORY_PARAMS.openapi,
)
def list_stories(
    params: Annotated[StoryParams, Depends(STORY_PARAMS)],
    session: SessionDep,
    search: SearchDep,
    catalog: CatalogDep,
    cursors: CursorsDep,
) -> StoryPage:
    """List stories, biggest or latest first; filter them by text and entities as articles are
    filtered (a story matches when one of its articles does)."""
    statement = select(Story).where(Story.article_count > 0)
    matching: dict[str, int] | None = None
    if params.filtered():
        entities = entity_filters(catalog, session, params)
        if entities is None:  # a filter names nothing we have
            return StoryPage(items=[], next_cursor=None, total=0)
        query = ArticleQuery(text=params.q, entities=entities)
        found, all_matching = search.stories(query, limit=FILTERED_STORIES)
        matching = dict(found)
        statement = statement.where(Story.id.in_(list(matching)))
    total = session.scalar(select(func.count()).select_from(statement.subquery())) or 0
    if matching is not None and len(matching) >= FILTERED_STORIES:
        total = max(total, all_matching)  # more stories match than are listed
    if params.cursor:
        statement = statement.where(_after(cursors, params))
    order = (
        (Story.article_count.desc(), Story.id)
        if params.sort == "size"
        else (Story.last_published.desc().nulls_last(), Story.id)
    )
    rows = session.scalars(statement.order_by(*order).limit(params.limit + 1)).all()
    items = _summaries(session, rows[: params.limit], matching)
    next_cursor = None
    if len(rows) > params.limit:
        last = rows[params.limit - 1]
        position: list[object] = (
            [last.article_count, last.id]
            if params.sort == "size"
            else [last.last_published.isoformat() if last.last_published else None, last.id]
        )
        next_cursor = cursors.encode(position, params.fingerprint)
    return StoryPage(items=items, next_cursor=next_cursor, total=total)


BY_SIZE = TypeAdapter(tuple[Count, RowId])  # (article count, story id)
BY_RECENCY = TypeAdapter(tuple[IsoDate | None, RowId])  # (last published, story id)


def _after(cursors: Cursors, params: StoryParams):  # type: ignore[no-untyped-def]
    """The keyset condition for the stories after the cursor's position."""
    query = params.fingerprint
    if params.sort == "size":
        count, story_id = cursors.decode(params.cursor or "", query, BY_SIZE)
        return or_(
            Story.article_count < count,
            and_(Story.article_count == count, Story.id > story_id),
        )
    day, story_id = cursors.decode(params.cursor or "", query, BY_RECENCY)
    if day is None:
        return and_(Story.last_published.is_(None), Story.id > story_id)
    return or_(
        Story.last_published < day,
        and_(Story.last_published == day, Story.id > story_id),
        Story.last_published.is_(None),
    )


def _summaries(
    session: Session, stories: Sequence[Story], matching: dict[str, int] | None
) -> list[StorySummary]:
    entities = _top_entities(session, [s.pk for s in stories], LISTED_ENTITIES)
    return [
        _summary(s, entities.get(s.pk, []), matching.get(s.id) if matching else None)
        for s in stories
    ]


def _summary(
    story: Story, entities: list[StoryEntityCount], matching: int | None = None
) -> StorySummary:
    return StorySummary(
        id=story.id,
        title=story.title or excerpt(story.excerpt, TITLE_CHARS),
        article_count=story.article_count,
        first_published=story.first_published,
        last_published=story.last_published,
        entities=entities,
        matching_articles=matching,
    )


def _top_entities(
    session: Session, story_pks: list[int], per_story: int
) -> dict[int, list[StoryEntityCount]]:
    """The most mentioned entities of each story, off the story_entities index."""
    if not story_pks:
        return {}
    rank = (
        func.row_number()
        .over(
            partition_by=StoryEntity.story_pk,
            order_by=(StoryEntity.article_count.desc(), Entity.mention_count.desc(), Entity.name),
        )
        .label("rank")
    )
    ranked = (
        select(
            StoryEntity.story_pk,
            StoryEntity.article_count,
            Entity.id,
            Entity.name,
            Entity.type,
            rank,
        )
        .join(Entity, Entity.pk == StoryEntity.entity_pk)
        .where(StoryEntity.story_pk.in_(story_pks))
        .subquery()
    )
    result: dict[int, list[StoryEntityCount]] = {}
    for story_pk, count, entity_id, name, entity_type, _ in session.execute(
        select(ranked).where(ranked.c.rank <= per_story).order_by(ranked.c.story_pk, ranked.c.rank)
    ):
        result.setdefault(story_pk, []).append(
            StoryEntityCount(id=entity_id, name=name, type=entity_type, articles=count)
        )
    return result


def get_story_or_404(
    session: SessionDep,
    story_id: Annotated[str, Path(alias="id", max_length=64, description="Story id")],
) -> Story:
    """Load a story, or answer 404."""
    story = session.scalar(select(Story).where(Story.id == story_id, Story.article_count > 0))
    if story is None:
        raise NotFound(f"no story with id {story_id!r}")
    return story


# (publication date or None, article pk): publication order, undated last
IN_STORY = TypeAdapter(tuple[IsoDate | None, Count])


@router.get("/{id}", response_model=StoryDetail, responses=problems(400, 404, 422))
def get_story(
    story: Annotated[Story, Depends(get_story_or_404)],
    session: SessionDep,
    cursors: CursorsDep,
    limit: Annotated[
        int,
        Query(
            ge=1,
            le=MAX_DETAIL_ARTICLES,
            description=f"Articles per page (at most {MAX_DETAIL_ARTICLES})",
        ),
    ] = MAX_DETAIL_ARTICLES,
    cursor: Annotated[
        str | None,
        Query(max_length=512, description="`next_cursor` of the last page of its articles"),
    ] = None,
) -> StoryDetail:
    """Get one story: its entities, and its articles in publication order (undated last),
    a page at a time."""
    statement = select(Article).where(Article.story_pk == story.pk)
    if cursor:
        statement = statement.where(_after_article(cursors.decode(cursor, story.id, IN_STORY)))
    rows = session.scalars(
        statement.order_by(Article.published_at.is_(None), Article.published_at, Article.pk).limit(
            limit + 1
        )
    ).all()
    articles = rows[:limit]
    next_cursor = None
    if len(rows) > limit:
        last = articles[-1]
        day = last.published_at.isoformat() if last.published_at else None
        next_cursor = cursors.encode([day, last.pk], story.id)
    originals = {
        pk: article_id
        for pk, article_id in session.execute(
            select(Article.pk, Article.id).where(
                Article.pk.in_({a.duplicate_of_pk for a in articles if a.duplicate_of_pk})
            )
        )
    }
    entities = _top_entities(session, [story.pk], DETAIL_ENTITIES).get(story.pk, [])
    return StoryDetail(
        **_summary(story, entities).model_dump(),
        articles=[
            StoryArticle(
                **summary(a).model_dump(),
                duplicate_of=originals.get(a.duplicate_of_pk) if a.duplicate_of_pk else None,
            )
            for a in articles
        ],
        next_cursor=next_cursor,
    )


def _after_article(position: tuple[date | None, int]):  # type: ignore[no-untyped-def]
    """The keyset condition for a story's articles after the position, undated last."""
    day, pk = position
    if day is None:
        return and_(Article.published_at.is_(None), Article.pk > pk)
    return or_(
        Article.published_at > day,
        and_(Article.published_at == day, Article.pk > pk),
        Article.published_at.is_(None),
    )
