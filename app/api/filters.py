"""The filters GET /articles takes, shared by every route that answers over a set of articles
(the listing, the timeline, the export): one parameter model, resolved in one place."""

from __future__ import annotations

from typing import Any, Protocol, Self

from fastapi import Query
from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError
from sqlalchemy.orm import Session

from app.api.catalog import Catalog
from app.api.deps import QueryParams
from app.ingest.names import source_key
from app.schemas import IsoDate, no_blank
from app.search.base import ArticleQuery, EntityFilter, Sort
from app.search.query import SYNTAX, SYNTAX_EXAMPLES


def default_sort(fields: dict[str, Any]) -> Sort:
    """The order when none is asked for: best match first with text, else newest first.
    A default factory, so the validated query holds the order it stands for: a cursor from
    `?q=x` is good for `?q=x&sort=relevance` (generated clients send defaults)."""
    return "relevance" if fields.get("q") else "-published_at"


class ArticleFilters(QueryParams):
    """Which articles: text, entities, sources, dates, story, one per story."""

    q: str | None = Query(
        None,
        max_length=500,
        description=SYNTAX,
        openapi_examples={
            name: {"summary": summary, "value": value}
            for name, (summary, value) in SYNTAX_EXAMPLES.items()
        },
    )
    person: list[str] = Field([], description="Person name or alias; repeatable, all must hold")
    place: list[str] = Field([], description="Place name or alias; repeatable, all must hold")
    org: list[str] = Field([], description="Organisation name or alias; repeatable, all must hold")
    entity: list[str] = Field([], description="Entity id; repeatable, all must hold")
    source: list[str] = Field([], description="Source name; repeatable, any may match")
    published_from: IsoDate | None = Field(
        None,
        description="Inclusive ISO date, not after `published_to`; a date range matches dated "
        "articles only",
    )
    published_to: IsoDate | None = Field(
        None,
        description="Inclusive ISO date, not before `published_from`; a date range matches "
        "dated articles only",
    )
    undated: bool | None = Field(
        None,
        description="`true`: only articles without a publication date; `false`: only dated "
        "ones; unset: both",
    )
    story: str | None = Field(None, max_length=64, description="Story id: only its articles")
    dedupe: bool = Field(
        False,
        description="One article per story: the first of each story's matching articles in "
        "the requested order (best match, newest or oldest); `total` then counts stories "
        "(beyond 10,000 matching articles, an estimate within a few percent)",
    )
    # Blank text searches nothing: no text at all, so the query (a cursor's, a page cache's
    # key) is the same whether a client sends `q=` or leaves it out. (A validator, not an
    # Annotated type: pydantic would merge FastAPI's Query, and its examples, away.)
    _no_blank_q = field_validator("q")(no_blank)

    @model_validator(mode="after")
    def _forwards(self) -> Self:
        """Refuse a backwards date range, naming both ends: it could only ever match nothing,
        which a client would take for an empty corpus rather than a slip."""
        start, end = self.published_from, self.published_to
        if start is None or end is None or start <= end:
            return self
        ends = (
            ("published_from", "later than published_to"),
            ("published_to", "earlier than published_from"),
        )
        raise ValidationError.from_exception_data(
            type(self).__name__,
            [
                InitErrorDetails(
                    type=PydanticCustomError("date_range", f"must not be {words}"),
                    loc=(name,),
                    input=getattr(self, name),
                )
                for name, words in ends
            ],
        )

    def filtered(self) -> bool:
        """Text or any filter: only the index can answer."""
        filters = (self.person, self.place, self.org, self.entity, self.source, self.story)
        return bool(
            self.q
            or any(filters)
            or self.published_from
            or self.published_to
            or self.undated is not None
            or self.dedupe
        )


class EntityParams(Protocol):
    @property
    def person(self) -> list[str]: ...
    @property
    def place(self) -> list[str]: ...
    @property
    def org(self) -> list[str]: ...
    @property
    def entity(self) -> list[str]: ...


def resolve(
    filters: ArticleFilters, session: Session, catalog: Catalog, **query: Any
) -> ArticleQuery | None:
    """The index query for these filters (with `query`'s other ArticleQuery fields), source
    and entity names resolved; None when a filter names nothing we have (nothing matches)."""
    entities = entity_filters(catalog, session, filters)
    sources = known_sources(catalog, session, filters.source)
    if entities is None or sources is None:
        return None
    return to_query(filters, sources=sources, entities=entities, **query)


def to_query(
    filters: ArticleFilters,
    *,
    sources: tuple[str, ...],
    entities: tuple[EntityFilter, ...],
    **query: Any,
) -> ArticleQuery:
    """The index query for these filters, given their names resolved."""
    return ArticleQuery(
        text=filters.q,
        sources=sources,
        entities=entities,
        published_from=filters.published_from,
        published_to=filters.published_to,
        undated=filters.undated,
        story=filters.story,
        dedupe=filters.dedupe,
        **query,
    )


def entity_filters(
    catalog: Catalog, session: Session, params: EntityParams
) -> tuple[EntityFilter, ...] | None:
    """Resolve each name or id to entity ids; None if one of them matches no entity."""
    filters = []
    for entity_type, names in (
        ("person", params.person),
        ("place", params.place),
        ("org", params.org),
    ):
        for name in names:
            if not (ids := catalog.entity_ids(session, entity_type, name)):
                return None
            filters.append(EntityFilter(entity_type, ids))
    known = catalog.entities(session, params.entity)
    for entity_id in params.entity:
        if (entity := known[entity_id]) is None:
            return None
        filters.append(EntityFilter(entity[1], (entity_id,)))
    return tuple(filters)


def known_sources(catalog: Catalog, session: Session, names: list[str]) -> tuple[str, ...] | None:
    """Match source names as the loader folds them ("the Example Wire News" finds "Example
    Wire"); None if none of them exists."""
    if not names:
        return ()
    wanted = {source_key(n) for n in names}
    matches = tuple(
        sorted(name for name, _ in catalog.sources(session) if source_key(name) in wanted)
    )
    return matches or None
