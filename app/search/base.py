"""The one search interface the routers use; Tantivy implements it now, PostgreSQL can later."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import date
from typing import Any, Literal, Protocol

Sort = Literal["relevance", "-published_at", "published_at"]
FacetName = Literal["person", "place", "org", "source"]
ENTITY_TYPES = ("person", "place", "org")
FACET_SIZE = 10  # values per facet unless the query asks for more or fewer

# Keyset positions order articles by date then pk in one integer: day ordinal << 40 | pk.
# Undated articles come last in both date orders, so each order has its key: newest first
# (descending) gives them day 0, oldest first (ascending) a day after every date.
DAY_SHIFT = 40
PK_MASK = (1 << DAY_SHIFT) - 1
UNDATED_LAST = (1 << 23) - 1  # past date.max (day 3,652,059); keys stay below 2**63


def sort_key(published_at: date | None, pk: int) -> int:
    """The key of newest-first order (descending: date, then pk; undated last), also best
    match's tie-break."""
    day = published_at.toordinal() if published_at else 0
    return (day << DAY_SHIFT) | pk


def oldest_key(published_at: date | None, pk: int) -> int:
    """The key of oldest-first order (ascending: date, then pk; undated last)."""
    day = published_at.toordinal() if published_at else UNDATED_LAST
    return (day << DAY_SHIFT) | pk


def key_date(key: int) -> date | None:
    """The publication date either key holds (None: undated)."""
    day = key >> DAY_SHIFT
    return date.fromordinal(day) if 0 < day < UNDATED_LAST else None


# A keyset position: (score or 0, sort key, hits shown before it, and the version of the
# index a best-match walk ranks on, or the newest pk a date-order walk with `dedupe` sees).
Position = tuple[float, int, int, int]


class WalkExpired(LookupError):
    """The version of the index a best-match walk ranks on is no longer held here."""


@dataclass(frozen=True)
class EntityFilter:
    """One filter value resolved to entity ids: an article matches if it has any of them."""

    type: str
    ids: tuple[str, ...]


@dataclass(frozen=True)
class ArticleQuery:
    text: str | None = None
    sources: tuple[str, ...] = ()
    entities: tuple[EntityFilter, ...] = ()  # all must hold
    published_from: date | None = None
    published_to: date | None = None
    undated: bool | None = None  # True: only undated articles; False: only dated ones
    sort: Sort = "-published_at"
    limit: int = 20
    after: Position | None = None  # a page's last hit's position: the next page follows it
    facets: tuple[FacetName, ...] = ()
    facet_size: int = FACET_SIZE  # values per facet, the most frequent first
    story: str | None = None  # only the articles of this story
    dedupe: bool = False  # one article per story: the first of each in the requested order
    newest: int = 0  # only articles with pks up to this one (0: all); a walk's positions keep it


@dataclass
class Hit:
    article_pk: int  # the articles table's primary key (it may have been deleted since)
    score: float | None
    snippet: str | None
    position: Position  # what a cursor after this hit holds
    # What a listing shows of the article (id, title, source, author, published_at, body,
    # word_count, story_id), if the backend stores it; None: the caller loads the row.
    fields: dict[str, Any] | None = None


@dataclass
class SearchPage:
    hits: list[Hit]
    total: int
    has_more: bool
    facets: dict[str, list[tuple[str, int]]] = field(default_factory=dict)
    total_estimated: bool = False  # total extrapolated from a sample of a huge match set
    facets_estimated: bool = False  # facet counts scaled up from a sample of the matches


@dataclass
class Span:
    """The dates of a query's matches: what a histogram's buckets are planned from."""

    first: date | None  # earliest publication date among the matches (None: none dated)
    last: date | None
    undated: int  # matches without a date
    estimated: bool = False  # one per story over a huge match set: counted on a sample


# Plans a histogram from the span of the matches: the bucket bounds as day ordinals, each
# bucket from one bound up to the next (so n + 1 bounds for n buckets; none: no bucket).
Plan = Callable[[Span], list[int]]


class SearchBackend(Protocol):
    def search(self, query: ArticleQuery) -> SearchPage:
        """Run a query with its filters, sort, keyset page and facets. Hits carry article pks
        and, if the backend stores them, the fields a listing shows (else the caller loads the
        rows); a total or facets taken from a sample say so."""
        ...

    def histogram(self, query: ArticleQuery, plan: Plan) -> tuple[Span, list[int]]:
        """Count the articles matching the query (text and filters; sort and page ignored)
        in the buckets `plan` makes from their span, exactly; with `dedupe`, each story once,
        on the day of its earliest dated match (undated if it has none)."""
        ...

    def walk(self, query: ArticleQuery, *, batch: int) -> Iterator[list[int]]:
        """Every matching article's pk in the query's order (its page ignored), `batch` at a
        time, all from one version of the index; with `dedupe`, each story's first."""
        ...

    def lag(self) -> int:
        """Count committed article changes not yet searchable."""
        ...

    def stories(self, query: ArticleQuery, *, limit: int) -> tuple[list[tuple[str, int]], int]:
        """List the stories with articles matching the query (text and filters; its sort and
        page are ignored) and how many match: the most matching first, at most `limit`; and
        how many stories match in all (an estimate beyond the backend's exact limit)."""
        ...
