"""Export: every article matching the filters of GET /articles, streamed as NDJSON or CSV.

The matches are walked in the requested order a batch at a time and each batch written out
before the next is read: a plain listing's rows straight along the articles table's date index
(each statement starting past the last one's), anything else's keys from the index (past the
last batch's) with their rows read by primary key. Memory stays flat at any size, and a client
that goes away stops the walk at the next batch. Exports run without the request time
budget; `NEWSCORPUS_EXPORT_CONCURRENCY` bounds how many stream at once.
"""

from __future__ import annotations

import asyncio
import functools
import re
import threading
import unicodedata
from collections import defaultdict
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import UTC, date
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.concurrency import run_in_threadpool
from pydantic import Field
from pydantic_core import to_json
from sqlalchemy import Engine, Select, bindparam, select
from sqlalchemy.orm import Session
from starlette.requests import ClientDisconnect
from starlette.responses import StreamingResponse
from starlette.types import Receive, Scope, Send

from app.api.catalog import Catalog, CatalogDep, date_ordered, is_plain
from app.api.deps import CheckedRoute, QueryModel, SearchDep, problems
from app.api.filters import ArticleFilters, default_sort, resolve
from app.budget import lift_deadline
from app.db import EngineDep
from app.errors import Unavailable, names_pattern
from app.middleware import is_head
from app.models import Article, Entity, Mention, Story
from app.search.base import ArticleQuery, SearchBackend, Sort, oldest_key, sort_key

router = APIRouter(tags=["articles"], route_class=CheckedRoute)

BATCH = 5_000  # matches found at a time (each read of the index goes past the last one's)
ROWS = 500  # articles read and written at a time: a few MB of text with their bodies
RETRY_SECONDS = 10  # when every export slot is taken
# Every field of an article, in the order columns come; `fields=` picks some.
FIELDS = (
    "id",
    "title",
    "source",
    "author",
    "published_at",
    "url",
    "word_count",
    "story_id",
    "duplicate_of",
    "credits",
    "photo_credit",
    "content_hash",
    "ingested_at",
    "body",
)
ENTITY_COLUMNS = {"person": "people", "place": "places", "org": "organisations"}  # CSV only
_FIELD = f"(?:{'|'.join(FIELDS)})"
FIELDS_PATTERN = names_pattern(f"^ *{_FIELD}(?: *, *{_FIELD})* *$", FIELDS)
MEDIA_TYPES = {"ndjson": "application/x-ndjson", "csv": "text/csv; charset=utf-8; header=present"}


class ExportParams(ArticleFilters):
    """Query parameters of GET /articles/export: the filters of GET /articles, the order and
    what to write."""

    format: Literal["ndjson", "csv"] = Field(
        "ndjson", description="`ndjson`: one JSON object per line; `csv`: RFC 4180 with a header"
    )
    sort: Sort = Field(
        default_factory=default_sort,
        description="Default: `relevance` with `q`, `-published_at` otherwise",
    )
    fields: str | None = Field(
        None,
        max_length=300,
        pattern=FIELDS_PATTERN,
        description="Comma list of fields to write, in this order; default all: "
        + ", ".join(FIELDS),
    )
    include: Literal["entities"] | None = Field(
        None,
        description="`entities`: each article's entities (NDJSON: id, name, type, spans; CSV: "
        "the names in `people`, `places` and `organisations` columns, `; ` between them)",
    )

    def columns(self) -> tuple[str, ...]:
        """The fields asked for, each once, in the order first asked."""
        if not self.fields:
            return FIELDS
        return tuple(dict.fromkeys(n.strip() for n in self.fields.split(",")))


EXPORT_PARAMS = QueryModel(ExportParams)


class ExportSlots:
    """How many exports may stream at once; one more is refused, not queued."""

    def __init__(self, limit: int) -> None:
        self.limit, self.running = limit, 0
        self._lock = threading.Lock()

    def take(self) -> bool:
        with self._lock:
            if self.running >= self.limit:
                return False
            self.running += 1
            return True

    def give_back(self) -> None:
        with self._lock:
            self.running -= 1


class ExportResponse(StreamingResponse):
    """A streamed export that gives its slot back however the stream ends."""

    def __init__(self, content: AsyncIterator[bytes], slots: ExportSlots, **kwargs: Any) -> None:
        super().__init__(content, **kwargs)
        self.slots = slots

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        try:
            await super().__call__(scope, receive, send)
        except ClientDisconnect:
            pass  # gone: the walk stopped at the batch being sent; nothing to log
        finally:
            self.slots.give_back()


async def get_slots(request: Request) -> ExportSlots:
    return request.app.state.export_slots


NDJSON_EXAMPLE = (
    '{"id": "d02d653c8f4c463b", "title": "Putin Approves Military Deal", "source": "Reuters", '
    '"published_at": "2017-03-14", "story_id": "28207b55f111275a", "body": "..."}\n'
)
CSV_EXAMPLE = (
    "id,title,source,published_at,body\r\n"
    'd02d653c8f4c463b,Putin Approves Military Deal,Reuters,2017-03-14,"First line\r\n'
    'said ""no"" again"\r\n'
)


@router.get(
    "/articles/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "Every matching article, streamed; `Content-Disposition` names a file",
            "content": {
                "application/x-ndjson": {"schema": {"type": "string"}, "example": NDJSON_EXAMPLE},
                "text/csv": {"schema": {"type": "string"}, "example": CSV_EXAMPLE},
            },
        },
        **problems(400, 422),
    },
    openapi_extra=EXPORT_PARAMS.openapi,
)
async def export_articles(
    params: Annotated[ExportParams, Depends(EXPORT_PARAMS)],
    slots: Annotated[ExportSlots, Depends(get_slots)],
    engine: EngineDep,
    search: SearchDep,
    catalog: CatalogDep,
    request: Request,
) -> StreamingResponse:
    """Export every article matching the filters of GET /articles, in the requested order,
    as NDJSON or CSV: no limit, streamed. At most NEWSCORPUS_EXPORT_CONCURRENCY at once
    (beyond: 503 with Retry-After); not bound by the request time budget."""
    headers = {
        "Content-Disposition": f'attachment; filename="{filename(params)}"',
        # Not kept by caches: a file of any size, and revalidating it would mean exporting
        # again (its validator is known only once the whole file has been written).
        "Cache-Control": "no-store",
    }
    if is_head(request.scope):  # the export's headers, without running it
        # Streamed as the export is (one empty chunk): no Content-Length, no ETag either.
        return StreamingResponse(
            iter([b""]), media_type=MEDIA_TYPES[params.format], headers=headers
        )
    if not slots.take():
        raise Unavailable(
            f"{slots.limit} exports are already running; try again later",
            headers={"Retry-After": str(RETRY_SECONDS)},
        )
    try:
        query = await run_in_threadpool(_query, params, engine, catalog)
    except BaseException:
        slots.give_back()
        raise
    stream = _stream(params, query, engine, search.backend, catalog)
    return ExportResponse(stream, slots, media_type=MEDIA_TYPES[params.format], headers=headers)


def _query(params: ExportParams, engine: Engine, catalog: Catalog) -> ArticleQuery | None:
    with Session(engine) as session:
        return resolve(params, session, catalog, sort=params.sort)


def filename(params: ExportParams, today: date | None = None) -> str:
    """`newscorpus-<words of the query>-<date>.<format>`: ASCII letters and digits only."""
    ascii = unicodedata.normalize("NFKD", params.q or "").encode("ascii", "ignore").decode()
    words = re.findall(r"[a-z0-9]+", ascii.lower())
    slug = "-".join(words)[:40].strip("-") or "articles"
    return f"newscorpus-{slug}-{(today or date.today()).isoformat()}.{params.format}"


async def _stream(
    params: ExportParams,
    query: ArticleQuery | None,
    engine: Engine,
    search: SearchBackend,
    catalog: Catalog,
) -> AsyncIterator[bytes]:
    lift_deadline()  # for the threads below too: they copy this context
    columns = params.columns()
    entity_columns = tuple(ENTITY_COLUMNS.values()) if params.include else ()
    if params.format == "csv":
        yield _csv([[*columns, *entity_columns]])
    if query is None:  # a filter names nothing we have
        return
    write = functools.partial(
        _write, params, columns, engine, _rows(query, columns, engine, search)
    )
    # The next batch is read and written in a thread while this one is compressed and sent
    # on the event loop (zstd and zlib let go of the GIL): both cores at once.
    upcoming = asyncio.ensure_future(run_in_threadpool(write))
    try:
        while (chunk := await upcoming) is not None:
            upcoming = asyncio.ensure_future(run_in_threadpool(write))
            if chunk:
                yield chunk
    finally:
        upcoming.cancel()  # a stopped export reads no batch past the one in hand


def _rows(
    query: ArticleQuery, columns: tuple[str, ...], engine: Engine, search: SearchBackend
) -> Iterator[list[tuple[Any, ...]]]:
    """The matches' rows (published_at, pk, then the columns) in order, up to ROWS at a time:
    a plain listing read along the articles table's date index (each statement starting past
    the last one's), anything else found in the search index and read by primary key."""
    if is_plain(query):
        newest_first = query.sort != "published_at"
        key = sort_key if newest_first else oldest_key
        after = query.after[1] if query.after else None
        while rows := date_ordered(engine, _columns(columns), after, ROWS, newest_first):
            yield rows
            after = key(rows[-1][0], rows[-1][1])
        return
    for pks in search.walk(query, batch=BATCH):
        for at in range(0, len(pks), ROWS):
            chunk = pks[at : at + ROWS]
            with engine.connect() as connection:
                read = connection.execute(_by_pk(columns), {"pks": chunk})
                found = {row[1]: tuple(row) for row in read}
            yield [found[pk] for pk in chunk if pk in found]  # not found: deleted since indexed


def _write(
    params: ExportParams,
    columns: tuple[str, ...],
    engine: Engine,
    batches: Iterator[list[tuple[Any, ...]]],
) -> bytes | None:
    """The next batch written out; None at the end."""
    if (rows := next(batches, None)) is None:
        return None
    entities: dict[int, list[dict[str, Any]]] = {}
    if params.include:
        with engine.connect() as connection:
            entities = _entities(connection, [row[1] for row in rows])
    if params.format == "ndjson":
        return _ndjson(rows, columns, entities if params.include else None)
    convert = [(at, CSV_VALUES[name]) for at, name in enumerate(columns) if name in CSV_VALUES]
    table = []
    for row in rows:
        cells = list(row[2:])  # None is an empty field, dates and numbers are written as text
        for at, value in convert:
            if cells[at] is not None:
                cells[at] = value(cells[at])
        if params.include:
            names = defaultdict(list)
            for entity in entities.get(row[1], []):
                names[entity["type"]].append(entity["name"])
            cells += ["; ".join(names[t]) for t in ENTITY_COLUMNS]
        table.append(cells)
    return _csv(table)


def _ndjson(
    rows: list[tuple[Any, ...]],
    columns: tuple[str, ...],
    entities: dict[int, list[dict[str, Any]]] | None,
) -> bytes:
    """One JSON object a line, encoded by pydantic's core (16x faster than json.dumps here)."""
    lines = []
    for row in rows:
        record = dict(zip(columns, row[2:], strict=True))
        if (ingested := record.get("ingested_at")) is not None:  # stored naive UTC: sent as UTC
            record["ingested_at"] = ingested.replace(tzinfo=UTC)
        if entities is not None:
            record["entities"] = entities.get(row[1], [])
        lines.append(to_json(record))
    return b"\n".join(lines) + b"\n" if lines else b""


def _csv(rows: list[list[Any]]) -> bytes:
    """RFC 4180 as the csv module writes it (minimal quoting, CRLF line ends), which took 15x
    longer over long bodies: a field is quoted when it holds a comma, a quote or a line end,
    its quotes doubled; None is an empty field."""
    return "".join([_csv_line(row) for row in rows]).encode()


def _csv_line(row: list[Any]) -> str:
    cells = [_csv_field(value) for value in row]
    if cells == [""]:  # a lone empty field, quoted as the csv module does: not a blank line
        cells = ['""']
    return ",".join(cells) + "\r\n"


def _csv_field(value: Any) -> str:
    text = "" if value is None else value if isinstance(value, str) else str(value)
    if '"' in text:
        return '"' + text.replace('"', '""') + '"'
    if "," in text or "\n" in text or "\r" in text:
        return '"' + text + '"'
    return text


# What CSV writes otherwise than as text (None is an empty field).
CSV_VALUES: dict[str, Callable[[Any], str]] = {
    "credits": lambda names: "; ".join(map(str, names)),
    # Stored naive UTC; written as the API writes it.
    "ingested_at": lambda moment: moment.replace(tzinfo=UTC).isoformat().replace("+00:00", "Z"),
}


_ORIGINAL = Article.__table__.alias("original")
_COLUMNS = {
    **{name: getattr(Article, name) for name in FIELDS if hasattr(Article, name)},
    "story_id": Story.id.label("story_id"),
    "duplicate_of": _ORIGINAL.c.id.label("duplicate_of"),
}


@functools.cache
def _by_pk(columns: tuple[str, ...]) -> Select:
    """`_columns` of the articles with the given pks (an expanding IN: one cached statement)."""
    return _columns(columns).where(Article.pk.in_(bindparam("pks", expanding=True)))


@functools.cache
def _columns(columns: tuple[str, ...]) -> Select:
    """Select published_at, pk and these columns of articles (built once per choice of
    columns: a statement's compiled form is cached with it)."""
    statement = select(Article.published_at, Article.pk, *(_COLUMNS[name] for name in columns))
    if "story_id" in columns:
        statement = statement.outerjoin(Story, Story.pk == Article.story_pk)
    if "duplicate_of" in columns:
        statement = statement.outerjoin(_ORIGINAL, _ORIGINAL.c.pk == Article.duplicate_of_pk)
    return statement


MENTIONS = (
    select(Mention.article_pk, Entity.id, Entity.name, Entity.type, Mention.start, Mention.end)
    .join(Entity, Entity.pk == Mention.entity_pk)
    .where(Mention.article_pk.in_(bindparam("pks", expanding=True)))
)


def _entities(connection: Any, pks: list[int]) -> dict[int, list[dict[str, Any]]]:
    """Each article's entities, the most mentioned first, with their spans in the body."""
    found: dict[int, dict[str, dict[str, Any]]] = defaultdict(dict)
    for article_pk, entity_id, name, entity_type, start, end in connection.execute(
        MENTIONS, {"pks": pks}
    ):
        entity = found[article_pk].setdefault(
            entity_id, {"id": entity_id, "name": name, "type": entity_type, "spans": []}
        )
        entity["mentions"] = entity.get("mentions", 0) + 1
        if start is not None and end is not None:
            entity["spans"].append([start, end])
    return {
        pk: sorted(
            ({**e, "spans": sorted(e["spans"])} for e in entities.values()),
            key=lambda e: (-e["mentions"], e["name"]),
        )
        for pk, entities in found.items()
    }
