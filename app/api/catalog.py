"""What the articles table answers better than the search index: plain date-ordered pages,
the article count, the list of sources, entities by id and by name, and summary rows by
primary key.

A listing with no text and no filter is a walk down `ix_articles_published_at` (an index
range, the same cost on page 1 and page 500, at any corpus size), where the index would rank
every document by date. Counts and sources change only when articles do, and articles are never
deleted, so they are cached per process until `max(seq)` moves, with the pages rendered.
Entities change only with their articles' seqs (extraction gives the articles new ones), so
they are cached the same way, looked up as searches ask for them.
"""

from __future__ import annotations

import functools
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Annotated, Any

from fastapi import Depends, Request
from sqlalchemy import Connection, Engine, Integer, Select, bindparam, func, select, tuple_
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import Session

from app.ingest.names import lookup_key
from app.models import Article, Entity, EntityName, Mention, Story
from app.schemas import EXCERPT_CHARS, excerpt
from app.search.base import (
    PK_MASK,
    ArticleQuery,
    Hit,
    Position,
    SearchPage,
    key_date,
    oldest_key,
    sort_key,
)

Render = Callable[["Listing"], bytes]
# A rendered page and, for a plain listing, when the corpus last changed (naive UTC).
Page = tuple[str | bytes, datetime | None]
RECHECK_SECONDS = 0.1
ENTITY_FACTS = 20_000  # entities kept per snapshot (id and name lookups each): a few MB
_UNKNOWN: Any = object()  # not looked up yet (None: looked up, no such entity)


def is_plain(query: ArticleQuery) -> bool:
    """A listing by date with no text and no filter: the articles table's date index serves it."""
    return not (
        (query.text and query.text.strip())
        or query.sources
        or query.entities
        or query.published_from
        or query.published_to
        or query.undated is not None
        or query.story is not None
        or query.dedupe
        or query.facets
        or query.sort == "relevance"
    )


@dataclass
class _Snapshot:
    """What is known of the corpus at one version, each fact computed when first asked for;
    replaced whole when the version moves."""

    version: int
    modified: datetime | None = None  # when the article with that seq was written (naive UTC)
    checked: float = field(default_factory=time.monotonic)  # when last seen current
    count: int | None = None
    sources: tuple[tuple[str, int], ...] | None = None  # (name, articles), most first
    pages: dict[str, Page] = field(default_factory=dict)  # rendered plain listings
    entities: dict[str, tuple[str, str] | None] = field(default_factory=dict)  # id: (name, type)
    named: dict[tuple[str, str], tuple[str, ...]] = field(default_factory=dict)  # (type, folded)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def fact(self, name: str, compute: Callable[[], Any]) -> Any:
        """The fact, computed by one thread while the others wait for it."""
        if (value := getattr(self, name)) is None:
            with self.lock:
                if (value := getattr(self, name)) is None:
                    value = compute()
                    setattr(self, name, value)
        return value

    def remember(self, facts: dict[Any, Any], new: dict[Any, Any]) -> None:
        """Add looked-up entity facts; a full table starts again (the hot ones come back)."""
        with self.lock:
            if len(facts) + len(new) > ENTITY_FACTS:
                facts.clear()
            facts.update(new)


class Catalog:
    """Cached corpus-wide facts, and plain listings from the articles table.

    Rendered plain listings are kept until the corpus changes: the newest articles are what
    most clients ask for, and a page from the cache costs a primary-key lookup (`max(seq)`).
    """

    def __init__(self, *, cached_pages: int = 1024, search_seconds: float = 0.5) -> None:
        self._snapshot = _Snapshot(-1, checked=0.0)  # never seen current
        self._cached_pages = cached_pages
        # Rendered searches, with when they were rendered: served again for `search_seconds`,
        # the time the index may lag behind the database anyway.
        self._searches: dict[str, tuple[float, str]] = {}
        self._search_seconds = search_seconds
        self._searches_lock = threading.Lock()

    def _current(self, connection: Connection) -> _Snapshot:
        """The snapshot this connection's read transaction sees (Core statements here: a third
        of the ORM's overhead)."""
        version, modified = connection.execute(VERSION).first() or (0, None)
        if version > self._snapshot.version:
            self._snapshot = _Snapshot(version, modified)
        elif version < self._snapshot.version:  # an older transaction: answer it, keep nothing
            return _Snapshot(version, modified)
        self._snapshot.checked = time.monotonic()
        return self._snapshot

    def recent_page(self, key: str) -> Page | None:
        """A rendered page, without reading the database or the index: a plain listing if the
        corpus was seen unchanged less than RECHECK_SECONDS ago (a commit by another process
        shows in plain listings within that time), a search rendered less than
        `search_seconds` ago (searches see commits after the indexer's poll interval anyway)."""
        now, snapshot = time.monotonic(), self._snapshot
        if now - snapshot.checked < RECHECK_SECONDS and (page := snapshot.pages.get(key)):
            return page
        rendered, body = self._searches.get(key, (0.0, None))
        return (body, None) if body is not None and now - rendered < self._search_seconds else None

    def remember_search(self, key: str, body: str) -> None:
        """Keep a rendered search for `recent_page`; the oldest one goes when full."""
        if self._cached_pages <= 0:
            return
        with self._searches_lock:
            self._searches.pop(key, None)  # re-inserted last: the newest
            if len(self._searches) >= self._cached_pages:
                self._searches.pop(next(iter(self._searches)))
            self._searches[key] = (time.monotonic(), body)

    def forget(self) -> None:
        """This process has just written: read the table and search again before answering."""
        self._snapshot.checked = 0.0
        with self._searches_lock:
            self._searches.clear()

    def _recent(self, session: Session) -> _Snapshot:
        """The snapshot, checked against the database only if not seen current for
        `search_seconds`: entity facts serve searches, which may lag that long anyway."""
        if time.monotonic() - self._snapshot.checked < self._search_seconds:
            return self._snapshot
        return self._current(session.connection())

    def entities(self, session: Session, ids: list[str]) -> dict[str, tuple[str, str] | None]:
        """(name, type) of each entity id, None for an id no entity has."""
        if not ids:
            return {}
        snapshot = self._recent(session)
        # One `get` each: another thread may start the table again between two lookups.
        known = {i: e for i in ids if (e := snapshot.entities.get(i, _UNKNOWN)) is not _UNKNOWN}
        if missing := [i for i in ids if i not in known]:
            rows = session.connection().execute(ENTITY_ROWS, {"ids": missing})
            found = {entity_id: (name, kind) for entity_id, name, kind in rows}
            looked_up = {i: found.get(i) for i in missing}
            snapshot.remember(snapshot.entities, looked_up)
            known |= looked_up
        return known

    def entity_ids(self, session: Session, entity_type: str, name: str) -> tuple[str, ...]:
        """Ids of the entities of this type that go by this name or alias, in any case."""
        key = (entity_type, lookup_key(name))
        snapshot = self._recent(session)
        if (ids := snapshot.named.get(key)) is None:
            found = {"type": entity_type, "folded": key[1]}
            ids = tuple(sorted(set(session.connection().scalars(ENTITIES_NAMED, found))))
            snapshot.remember(snapshot.named, {key: ids})
        return ids

    def sources(self, session: Session) -> tuple[tuple[str, int], ...]:
        connection = session.connection()
        return self._current(connection).fact("sources", lambda: _sources(connection))

    def _fresh(self, engine: Engine) -> _Snapshot:
        """The snapshot, its version read again only if not seen current for RECHECK_SECONDS
        (as `recent_page` serves pages): one primary-key lookup per interval, not per request."""
        if time.monotonic() - self._snapshot.checked < RECHECK_SECONDS:
            return self._snapshot
        version, modified = next(iter(read(engine, VERSION)), (0, None))
        if version > self._snapshot.version:
            self._snapshot = _Snapshot(version, modified)
        self._snapshot.checked = time.monotonic()
        return self._snapshot

    def pages_at_once(self, engine: Engine) -> bool:
        """Whether a plain listing would only read its page, a bounded walk of the date index
        (and at most the version, a primary-key lookup): SQLite (a local file, no network round
        trip) and the current version's count known. SQLite reads a page in about 0.1 ms, less
        than a hop to a worker thread and back costs, so such a listing may run on the event
        loop; a count (a scan of an index) may not."""
        return engine.dialect.name == "sqlite" and self._fresh(engine).count is not None

    def listing(self, engine: Engine, query: ArticleQuery, *, key: str, render: Render) -> Page:
        """A plain listing page rendered by `render`, from the cache while the corpus has not
        changed, with the time the corpus last changed; `key` must tell apart every request
        that renders differently. The total is the count at the version last seen (at most
        RECHECK_SECONDS old)."""
        snapshot = self._fresh(engine)
        if (page := snapshot.pages.get(key)) is not None:
            return page
        total = snapshot.fact("count", lambda: read(engine, COUNT)[0][0])
        # The version's time, never a later one: rows read since its check may be newer,
        # which only makes a client's If-Modified-Since miss (a 200, never a stale 304).
        page = (render(_listing(engine, query, total)), snapshot.modified)
        if self._cached_pages > 0:
            with snapshot.lock:
                if len(snapshot.pages) >= self._cached_pages:
                    snapshot.pages.pop(next(iter(snapshot.pages)))  # the oldest entry
                snapshot.pages[key] = page
        return page

    def page(self, engine: Engine, query: ArticleQuery, *, total: int) -> SearchPage:
        """One page in date order (newest or oldest first) after the query's keyset position."""
        shown, more, position = _in_date_order(engine, KEYS, query)
        hits = [Hit(pk, None, None, position(n)) for n, (_, pk) in enumerate(shown)]
        return SearchPage(hits=hits, total=total, has_more=more)


@dataclass
class Listing:
    """A plain listing's page: its articles as `ArticleSummary` fields, the position of the
    last one if more follow, and the total."""

    items: list[dict[str, Any]]
    after: Position | None
    total: int


def _listing(engine: Engine, query: ArticleQuery, total: int) -> Listing:
    """The page of a plain listing, each article read with its summary's columns along the
    date index (one statement; no hits, no second read by primary key)."""
    shown, more, position = _in_date_order(engine, SUMMARIES, query)
    items = [summary(r[2], r[3], r[4], r[5], r[0], r[6], r[7], r[8]) for r in shown]
    return Listing(items, position(len(shown) - 1) if more else None, total)


def _in_date_order(
    engine: Engine, base: Select, query: ArticleQuery
) -> tuple[list[tuple[Any, ...]], bool, Callable[[int], Position]]:
    """The query's page of `base` rows in its date order past its keyset position, whether
    more follow, and the keyset position of the page's n-th row."""
    newest_first = query.sort != "published_at"
    after = query.after[1] if query.after else None
    wanted = query.limit + 1  # one more tells whether a next page exists
    rows = date_ordered(engine, base, after, wanted, newest_first)
    shown = rows[: query.limit]
    seen = int(query.after[2]) if query.after else 0
    key = sort_key if newest_first else oldest_key

    def position(n: int) -> Position:
        return (0.0, key(shown[n][0], shown[n][1]), seen + n + 1, 0)

    return shown, len(rows) > query.limit, position


# Built once, like every statement a request runs: building one costs more than running it
# (an expanding IN parameter keeps a statement in SQLAlchemy's compiled cache).
# The corpus version, and when it was written: every change gives an article a new seq and
# the time in `updated_at` (app.ingest).
VERSION = select(Article.seq, Article.updated_at).where(
    Article.seq == select(func.max(Article.seq)).scalar_subquery()  # two index lookups
)
COUNT = select(func.count()).select_from(Article)
ENTITY_ROWS = select(Entity.id, Entity.name, Entity.type).where(
    Entity.id.in_(bindparam("ids", expanding=True))
)
ENTITIES_NAMED = (
    select(Entity.id)
    .join(EntityName)
    .where(Entity.type == bindparam("type"), EntityName.folded == bindparam("folded"))
)


def _sources(connection: Connection) -> tuple[tuple[str, int], ...]:
    count = func.count().label("n")
    rows = connection.execute(
        select(Article.source, count)
        .where(Article.source.is_not(None))
        .group_by(Article.source)
        .order_by(count.desc(), Article.source)
    )
    return tuple((str(name), n) for name, n in rows)


def date_ordered(
    engine: Engine, base: Select, after: int | None, wanted: int, newest_first: bool
) -> list[tuple[Any, ...]]:
    """Walk the date index from the keyset position (a sort key: `sort_key` newest first,
    `oldest_key` oldest first): dated articles, then undated ones (by pk), `wanted` rows of
    `base`, a select whose first columns are published_at and pk (KEYS, SUMMARIES)."""
    position = None
    if after is not None:
        position = (key_date(after), after & PK_MASK)
    rows: list[tuple[Any, ...]] = []
    for dated in (True, False):
        if position is not None and (position[0] is not None) != dated:
            continue  # earlier pages finished this part: the cursor is in the next one
        bounds = {"day": position[0], "pk": position[1]} if position is not None else {}
        statement = _part(base, dated, position is not None, newest_first)
        rows += read(engine, statement, **bounds, wanted=wanted - len(rows))
        position = None  # the part after the cursor's is read from its start
        if len(rows) >= wanted:
            break
    return rows


KEYS = select(Article.published_at, Article.pk)
# What a summary shows of each article (the body only up to the excerpt's length).
SUMMARIES = select(
    Article.published_at,
    Article.pk,
    Article.id,
    Article.title,
    Article.source,
    Article.author,
    func.substr(Article.body, 1, EXCERPT_CHARS + 1),
    Article.word_count,
    Story.id,
).outerjoin(Story, Story.pk == Article.story_pk)


@functools.cache
def _part(base: Select, dated: bool, after: bool, newest_first: bool) -> Select:
    """Dated or undated articles in date order, after the position (`day`, `pk`) if `after`;
    `wanted` of them, as `base` selects them."""
    columns = (Article.published_at, Article.pk)
    statement = base.where(
        Article.published_at.is_not(None) if dated else Article.published_at.is_(None)
    )
    if after:
        pk = bindparam("pk", type_=Article.pk.type)
        day = bindparam("day", type_=Article.published_at.type)
        key, bound = (tuple_(*columns), tuple_(day, pk)) if dated else (Article.pk, pk)
        statement = statement.where(key < bound if newest_first else key > bound)
    order = (c.desc() for c in columns) if newest_first else columns
    return statement.order_by(*order).limit(bindparam("wanted", type_=Integer))


def read(engine: Engine, statement: Select, **parameters: Any) -> list[tuple[Any, ...]]:
    """The rows of a read-only Core statement, as tuples with the columns' Python types.

    On SQLite, run on the driver's own connection from the pool, compiled once: SQLAlchemy's
    execution (a transaction begun, the compiled cache, rows processed one by one) cost 0.15 ms
    a statement, several times what SQLite takes to read a page; the connection's progress
    handler still stops it at the request's deadline. Other databases go through SQLAlchemy,
    whose "begin" hook sets their statement timeout."""
    if engine.dialect.name != "sqlite":
        with engine.connect() as connection:
            return [tuple(row) for row in connection.execute(statement, parameters)]
    driver = _driver(statement, engine.dialect)
    pooled = engine.raw_connection()
    try:
        rows = pooled.driver_connection.execute(  # type: ignore[union-attr]
            driver.sql, driver.parameters(parameters)
        ).fetchall()
    finally:
        pooled.close()
    return driver.process(rows)


@dataclass(frozen=True)
class _DriverStatement:
    """A Core statement compiled for a dialect with positional parameters, and the type
    conversions SQLAlchemy would apply to its parameters and its columns."""

    sql: str
    names: tuple[str, ...]  # the parameters, in order
    defaults: dict[str, Any]  # values the statement holds itself
    binds: dict[str, Any]  # name: conversion
    results: tuple[tuple[int, Callable[[Any], Any]], ...]  # (column, conversion)

    def parameters(self, given: dict[str, Any]) -> tuple[Any, ...]:
        values = self.defaults | given
        return tuple(
            (convert(values[n]) if (convert := self.binds.get(n)) else values[n])
            for n in self.names
        )

    def process(self, rows: list[Any]) -> list[tuple[Any, ...]]:
        if not self.results:
            return rows
        processed = []
        for row in rows:
            row = list(row)
            for at, convert in self.results:
                if row[at] is not None:
                    row[at] = convert(row[at])
            processed.append(tuple(row))
        return processed


@functools.cache
def _driver(statement: Select, dialect: Dialect) -> _DriverStatement:
    compiled = statement.compile(dialect=dialect)
    assert compiled.positiontup is not None  # SQLite's paramstyle is positional
    binds = {
        name: convert
        for name in compiled.positiontup
        if (convert := compiled.binds[name].type.dialect_impl(dialect).bind_processor(dialect))
    }
    results = tuple(
        (at, convert)
        for at, column in enumerate(statement.selected_columns)
        if (convert := column.type.dialect_impl(dialect).result_processor(dialect, None))
    )
    return _DriverStatement(
        compiled.string,
        tuple(compiled.positiontup),
        {name: compiled.binds[name].value for name in compiled.positiontup},
        binds,
        results,
    )


# Built once: an expanding IN parameter keeps the statement in SQLAlchemy's compiled cache.
SUMMARY_ROWS = (
    select(
        Article.pk,
        Article.id,
        Article.title,
        Article.source,
        Article.author,
        Article.published_at,
        func.substr(Article.body, 1, EXCERPT_CHARS + 1).label("body"),  # enough for the excerpt
        Article.word_count,
        Story.id.label("story_id"),
    )
    .outerjoin(Story, Story.pk == Article.story_pk)
    .where(Article.pk.in_(bindparam("pks", expanding=True)))
)


def summaries(session: Session, page: SearchPage) -> list[dict[str, Any]]:
    """The page's articles as `ArticleSummary` fields, in the page's order: as the index stored
    them, else from the columns a summary shows (the body only up to the excerpt's length).
    Plain dicts: the page model validates them in pydantic's core, much faster than models."""
    missing = [hit.article_pk for hit in page.hits if hit.fields is None]
    rows = (
        {
            row.pk: row._mapping
            for row in session.connection().execute(SUMMARY_ROWS, {"pks": missing})
        }
        if missing
        else {}
    )
    return [
        summary(
            fields["id"],
            fields["title"],
            fields["source"],
            fields["author"],
            fields["published_at"],
            fields["body"],
            fields["word_count"],
            fields["story_id"],
            hit.score,
            hit.snippet,
        )
        for hit in page.hits
        # None: deleted since indexed
        if (fields := hit.fields or rows.get(hit.article_pk)) is not None
    ]


def summary(
    id: str,
    title: str | None,
    source: str | None,
    author: str | None,
    published_at: date | None,
    body: str,
    word_count: int,
    story_id: str | None,
    score: float | None = None,
    snippet: str | None = None,
) -> dict[str, Any]:
    """`ArticleSummary`'s fields, in its order (a page may be encoded straight from them)."""
    return {
        "id": id,
        "title": title,
        "source": source,
        "author": author,
        "published_at": published_at,
        "excerpt": excerpt(body),
        "word_count": word_count,
        "story_id": story_id,
        "score": score,
        "snippet": snippet,
    }


_ORIGINAL = Article.__table__.alias("original")
ARTICLE_ROW = (
    select(
        Article.__table__,
        Story.id.label("story_id"),
        _ORIGINAL.c.id.label("duplicate_of_id"),
    )
    .outerjoin(Story, Story.pk == Article.story_pk)
    .outerjoin(_ORIGINAL, _ORIGINAL.c.pk == Article.duplicate_of_pk)
    .where(Article.id == bindparam("id"))
)
MENTION_ROWS = (
    select(Entity.pk, Entity.id, Entity.name, Entity.type, Mention.start, Mention.end)
    .join(Entity, Entity.pk == Mention.entity_pk)
    .where(Mention.article_pk == bindparam("pk"))
)
NAME_ROWS = select(EntityName.entity_pk, EntityName.name).where(
    EntityName.entity_pk.in_(bindparam("pks", expanding=True))
)


def detail(session: Session, article_id: str) -> dict[str, Any] | None:
    """An article's `ArticleDetail` fields by id, None if there is none: three indexed reads
    (the article, its mentions with their entities, the entities' names)."""
    connection = session.connection()
    article = connection.execute(ARTICLE_ROW, {"id": article_id}).mappings().first()
    if article is None:
        return None
    return {
        **article,
        "excerpt": excerpt(article["body"]),
        "duplicate_of": article["duplicate_of_id"],
        "entities": _entities(connection, article["pk"]),
    }


def _entities(connection: Connection, article_pk: int) -> list[dict[str, Any]]:
    """The article's entities, the most mentioned first, each with its aliases and spans."""
    entities: dict[int, dict[str, Any]] = {}
    for pk, entity_id, name, entity_type, start, end in connection.execute(
        MENTION_ROWS, {"pk": article_pk}
    ):
        entity = entities.setdefault(
            pk,
            {"id": entity_id, "name": name, "type": entity_type, "aliases": [], "spans": []},
        )
        entity["mentions"] = entity.get("mentions", 0) + 1
        if start is not None and end is not None:  # names from metadata have no span
            entity["spans"].append((start, end))
    names = connection.execute(NAME_ROWS, {"pks": list(entities)}) if entities else ()
    for pk, name in names:
        if name != entities[pk]["name"]:
            entities[pk]["aliases"].append(name)
    for entity in entities.values():  # sorted here: an ORDER BY would use a temporary table
        entity["spans"].sort()
        entity["aliases"].sort()
    return sorted(entities.values(), key=lambda e: (-e["mentions"], e["name"]))


async def get_catalog(request: Request) -> Catalog:
    return request.app.state.catalog


CatalogDep = Annotated[Catalog, Depends(get_catalog)]
