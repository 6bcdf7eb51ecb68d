"""Articles: listing, full-text search, filters, facets, detail and related articles."""

from __future__ import annotations

import functools
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from pydantic import (
    AfterValidator,
    Field,
    FiniteFloat,
    Strict,
    TypeAdapter,
    field_validator,
)
from pydantic_core import to_json
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session, selectinload

from app.api.catalog import Catalog, CatalogDep, Listing, Page, detail, summaries
from app.api.cursors import INT_MAX, Cursors
from app.api.deps import CheckedRoute, QueryModel, last_modified, problems
from app.api.filters import (
    ArticleFilters,
    default_sort,
    entity_filters,
    known_sources,
    to_query,
)
from app.api.writes import WriterDep, get_extractor
from app.db import EngineDep, SessionDep
from app.errors import BadCursor, CursorExpired, NotFound, names_pattern
from app.ingest import stories
from app.ingest.load import Outcome
from app.ingest.parse import ParsedArticle, ParseError
from app.ingest.pipeline import ingest_article, ingest_text
from app.models import Article, Entity
from app.schemas import (
    ARTICLE_FORMS,
    ArticleDetail,
    ArticleFieldsIn,
    ArticleIn,
    ArticlePage,
    ArticleSummary,
    FacetBucket,
    RelatedArticle,
    RelatedPage,
    excerpt,
)
from app.search.base import (
    DAY_SHIFT,
    FACET_SIZE,
    PK_MASK,
    UNDATED_LAST,
    ArticleQuery,
    EntityFilter,
    FacetName,
    Position,
    SearchBackend,
    SearchPage,
    Sort,
    WalkExpired,
)

router = APIRouter(prefix="/articles", tags=["articles"], route_class=CheckedRoute)

FACET_NAMES = ("person", "place", "org", "source")
MAX_FACET_SIZE = 100
# The index cannot start a page after a score: a best-match page ranks every match above it
# again, so its cost grows with its depth. Like Elasticsearch's max_result_window, best-match
# order ends here (date order, a range query, has no such limit).
MAX_RELEVANCE_DEPTH = 10_000
MAX_SHARED_ENTITIES = 10
# An article page changes only when the article is ingested again or its entities are
# extracted again: clients may reuse it a while, then revalidate it with its ETag.
ARTICLE_CACHE = "public, max-age=300"
# Names separated by commas (and spaces): in the schema, so clients and fuzzers see the rule.
_FACET = f"(?:{'|'.join(FACET_NAMES)})"
FACETS_PATTERN = names_pattern(f"^[ ,]*(?:{_FACET}(?: *,[ ,]*{_FACET})*)?[ ,]*$", FACET_NAMES)


class ArticleParams(ArticleFilters):
    """Query parameters of GET /articles: the filters, and the page asked for."""

    sort: Sort = Field(
        default_factory=default_sort,
        description="Default: `relevance` with `q`, `-published_at` otherwise. Both date "
        "orders put undated articles last; best match breaks equal scores newest first",
    )
    limit: int = Field(20, ge=1, le=100, description="Items per page, 1 to 100")
    cursor: str | None = Field(None, max_length=512, description="`next_cursor` of the last page")
    facets: str | None = Field(
        None,
        max_length=100,
        pattern=FACETS_PATTERN,
        description="Comma list of person, place, org, source",
    )
    facet_size: int = Field(
        FACET_SIZE,
        ge=1,
        le=MAX_FACET_SIZE,
        description=f"Values listed per facet, the most frequent first (at most {MAX_FACET_SIZE})",
    )

    @field_validator("facets")
    @classmethod
    def _listed_facets(cls, value: str | None) -> str | None:
        """The names only (the pattern has checked them), so `person, ` is `person`."""
        return ",".join(n.strip() for n in (value or "").split(",") if n.strip()) or None

    def facet_names(self) -> tuple[FacetName, ...]:
        return tuple(self.facets.split(",")) if self.facets else ()  # type: ignore[arg-type]

    def needs_index(self) -> bool:
        """Text, a filter or facets: the index answers (else the articles table: `is_plain`)."""
        return self.filtered() or bool(self.facets) or self.sort == "relevance"


ARTICLE_PARAMS = QueryModel(ArticleParams)


@router.get(
    "",
    response_model=ArticlePage,
    responses=problems(400, 410, 422),
    openapi_extra=ARTICLE_PARAMS.openapi,
)
async def list_articles(request: Request) -> Response:
    """List, search and filter articles, newest first or best match first."""
    # The parameters validated and the app's parts read here, not as dependencies: each one
    # FastAPI solves costs 15-30 us, a tenth of what a plain listing costs in all. The
    # parameters are documented by `openapi_extra` either way.
    params = await ARTICLE_PARAMS(request)
    state = request.app.state
    engine, search, catalog, cursors = state.engine, state.search, state.catalog, state.cursors
    key = params.key
    # A page rendered recently is answered here on the event loop, without a thread, the
    # database or the index. Searches run on the bounded search pool (all their work, the
    # session's too: one thread hop), plain listings on the thread pool (stuck searches never
    # hold them up), or on the event loop when only their page is left to read.
    if (page := catalog.recent_page(key)) is None:
        if params.needs_index():
            body = await search.run(_search, params, engine, search, catalog, cursors)
            catalog.remember_search(key, body)
            page = (body, None)  # the index may lag the database: no time to vouch for
        elif catalog.pages_at_once(engine):
            page = _listing(params, engine, catalog, cursors, key)
        else:
            page = await run_in_threadpool(_listing, params, engine, catalog, cursors, key)
    body, modified = page
    return _json(body, headers=last_modified(modified))


def _listing(
    params: ArticleParams, engine: Engine, catalog: Catalog, cursors: Cursors, key: str
) -> Page:
    """A plain listing, from the articles table's date index: no session, no filter to
    resolve."""
    query = article_query(params, cursors, sources=(), entities=())
    render = functools.partial(_render_listing, cursors, params)
    return catalog.listing(engine, query, key=key, render=render)


def _render_listing(cursors: Cursors, params: ArticleParams, page: Listing) -> bytes:
    """`ArticlePage`'s fields in its order, encoded straight from the columns read: the model
    would check values of the same types again (a test holds the two renderings equal)."""
    next_cursor = cursors.encode(page.after, params.fingerprint) if page.after else None
    return to_json(
        {
            "items": page.items,
            "next_cursor": next_cursor,
            "total": page.total,
            "total_estimated": False,
            "facets": None,
            "facets_estimated": False,
        }
    )


def _search(
    params: ArticleParams,
    engine: Engine,
    search: SearchBackend,
    catalog: Catalog,
    cursors: Cursors,
) -> str:
    """A page the index answers: names resolved, searched, rendered."""
    with Session(engine) as session:
        return _search_page(params, session, search, catalog, cursors)


def _search_page(
    params: ArticleParams,
    session: Session,
    search: SearchBackend,
    catalog: Catalog,
    cursors: Cursors,
) -> str:
    entities = entity_filters(catalog, session, params)
    sources = known_sources(catalog, session, params.source)
    if entities is None or sources is None:  # a filter names nothing we have
        empty = ArticlePage(items=[], next_cursor=None, total=0, facets=_no_facets(params))
        return empty.model_dump_json()
    query = article_query(params, cursors, sources=sources, entities=entities)
    try:
        page = search.search(query)
    except WalkExpired as expired:
        raise CursorExpired(str(expired)) from None
    return _render(catalog, session, cursors, params, page)


def article_query(
    params: ArticleParams,
    cursors: Cursors,
    *,
    sources: tuple[str, ...],
    entities: tuple[EntityFilter, ...],
) -> ArticleQuery:
    """The query the parameters ask for, with source and entity names resolved."""
    return to_query(
        params,
        sources=sources,
        entities=entities,
        sort=params.sort,
        limit=params.limit,
        after=_position(cursors, params) if params.cursor else None,
        facets=params.facet_names(),
        facet_size=params.facet_size,
    )


def _render(
    catalog: Catalog, session: Session, cursors: Cursors, params: ArticleParams, page: SearchPage
) -> str:
    return ArticlePage(
        items=summaries(session, page),
        next_cursor=cursors.encode(page.hits[-1].position, params.fingerprint)
        if page.has_more and page.hits
        else None,
        total=page.total,
        total_estimated=page.total_estimated,
        facets=_facets(catalog, session, page) if params.facets else None,
        facets_estimated=page.facets_estimated,
    ).model_dump_json()


def _json(body: str | bytes, **response: Any) -> Response:
    """Send JSON serialised once, in pydantic's core: pages are built from checked values, so
    FastAPI need not validate them against the response model again."""
    return Response(body, media_type="application/json", **response)


def _sort_key_in_range(key: int) -> int:
    day = key >> DAY_SHIFT
    if (day > date.max.toordinal() and day != UNDATED_LAST) or (key & PK_MASK) > INT_MAX:
        raise ValueError("not a date and an article's primary key")
    return key


# (score, sort key: day << DAY_SHIFT | pk (undated: day 0 or UNDATED_LAST), articles shown
# before it, and the index version a best-match walk ranks on, or the newest pk a date-order
# walk with dedupe sees, or 0)
POSITION = TypeAdapter(
    tuple[
        FiniteFloat,
        Annotated[int, Strict(), Field(ge=0), AfterValidator(_sort_key_in_range)],
        Annotated[int, Strict(), Field(ge=0, le=1_000_000)],
        Annotated[int, Strict(), Field(ge=0, le=INT_MAX)],
    ]
)


def _position(cursors: Cursors, params: ArticleParams) -> Position:
    position = cursors.decode(params.cursor or "", params.fingerprint, POSITION)
    if params.sort == "relevance" and position[2] >= MAX_RELEVANCE_DEPTH:
        raise BadCursor(
            f"best-match order ends after {MAX_RELEVANCE_DEPTH} results; sort by date, or use "
            "/articles/export, to go on"
        )
    return position


def summary(article: Article, **extra: object) -> ArticleSummary:
    """Shape an article (with its story loaded) for a listing."""
    return ArticleSummary(
        id=article.id,
        title=article.title,
        source=article.source,
        author=article.author,
        published_at=article.published_at,
        excerpt=excerpt(article.body),
        word_count=article.word_count,
        story_id=article.story.id if article.story else None,
        **extra,  # type: ignore[arg-type]
    )


def _facets(
    catalog: Catalog, session: Session, page: SearchPage
) -> dict[str, list[dict[str, Any]]]:
    """`FacetBucket` fields per facet (plain dicts: the page model validates them in core)."""
    ids = [key for name, buckets in page.facets.items() if name != "source" for key, _ in buckets]
    entities = catalog.entities(session, ids)
    return {
        facet: [
            {"name": key, "count": n}
            if facet == "source"
            else {"id": key, "name": entity[0] if (entity := entities[key]) else key, "count": n}
            for key, n in buckets
        ]
        for facet, buckets in page.facets.items()
    }


def _no_facets(params: ArticleParams) -> dict[str, list[FacetBucket]] | None:
    return {name: [] for name in params.facet_names()} if params.facets else None


def get_article_or_404(
    session: SessionDep,
    article_id: Annotated[str, Path(alias="id", max_length=64, description="Article id")],
) -> Article:
    """Load an article (its own row: what finding related articles needs), or answer 404."""
    article = session.scalar(select(Article).where(Article.id == article_id))
    if article is None:
        raise NotFound(f"no article with id {article_id!r}")
    return article


@router.get("/{id}", response_model=ArticleDetail, responses=problems(404, 422))
def get_article(
    session: SessionDep,
    article_id: Annotated[str, Path(alias="id", max_length=64, description="Article id")],
) -> Response:
    """Get one article with its full text and the entities it mentions."""
    body, modified = _detail_json(session, article_id)
    headers = {"Cache-Control": ARTICLE_CACHE, **last_modified(modified)}
    return _json(body, headers=headers)


def _detail_json(session: Session, article_id: str) -> tuple[str, datetime]:
    """The article's page, and when the article last changed (its text, entities or story)."""
    fields = detail(session, article_id)
    if fields is None:
        raise NotFound(f"no article with id {article_id!r}")
    return ArticleDetail.model_validate(fields).model_dump_json(), fields["updated_at"]


@router.get("/{id}/related", response_model=RelatedPage, responses=problems(404, 422))
def related_articles(
    article: Annotated[Article, Depends(get_article_or_404)],
    session: SessionDep,
    limit: Annotated[int, Query(ge=1, le=50, description="Articles to return, 1 to 50")] = 10,
) -> RelatedPage:
    """List articles related to one, best first: its story's first, then those sharing its
    rarest entities or words, each with a score and the reason."""
    found = stories.related(session, article, limit=limit)
    rows = {
        a.pk: a
        for a in session.scalars(
            select(Article)
            .where(Article.pk.in_([r.article_pk for r in found]))
            .options(selectinload(Article.story))
        )
    }
    wanted = {entity_id for r in found for entity_id in r.shared_entities}
    # Rarest first: a shared minister says more than a shared country.
    names = dict(
        session.execute(
            select(Entity.id, Entity.name)
            .where(Entity.id.in_(wanted))
            .order_by(Entity.article_count, Entity.name)
        ).all()
    )
    rank = {entity_id: n for n, entity_id in enumerate(names)}
    for r in found:  # rarest first; an entity gone since (re-extraction) is not shown
        shared = sorted((e for e in r.shared_entities if e in rank), key=rank.__getitem__)
        r.shared_entities = shared[:MAX_SHARED_ENTITIES]
    return RelatedPage(
        items=[
            RelatedArticle(
                **summary(rows[r.article_pk]).model_dump(exclude={"score", "snippet"}),
                score=r.score,
                reason=r.reason,
                duplicate=r.duplicate,
                shared_entities=[names[e] for e in r.shared_entities],
            )
            for r in found
            if r.article_pk in rows
        ]
    )


@router.post(
    "",
    response_model=ArticleDetail,
    status_code=201,
    dependencies=[WriterDep],
    responses={
        200: {"model": ArticleDetail, "description": "Already there"},
        **problems(400, 401, 403, 413, 415, 422, 507),
    },
)
def add_article(
    new: Annotated[ArticleIn, Body(description=ARTICLE_FORMS)],
    request: Request,
    engine: EngineDep,
    session: SessionDep,
    catalog: CatalogDep,
) -> Response:
    """Add one article (needs X-API-Key), as raw text parsed like a file or as fields; the
    same content again returns the existing one."""
    extractor = get_extractor(request)
    if isinstance(new, ArticleFieldsIn):
        parsed = ParsedArticle(
            body=new.body.strip(),
            title=new.title,
            source=new.source,
            author=new.author,
            published_at=new.published_at,
        )
        article_id, outcome = ingest_article(
            parsed, url=new.url, engine=engine, extractor=extractor
        )
    else:
        try:
            article_id, outcome = ingest_text(
                new.raw, url=new.url, engine=engine, extractor=extractor
            )
        except ParseError as error:
            raise RequestValidationError(
                [{"loc": ("body", "raw"), "msg": str(error), "type": "value_error"}]
            ) from None
    catalog.forget()  # this process's next listing reads the table again
    return _json(
        _detail_json(session, article_id)[0],
        status_code=200 if outcome is Outcome.UNCHANGED else 201,
        headers={"Location": f"/articles/{article_id}"},
    )
