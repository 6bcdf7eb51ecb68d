"""The timeline: how many articles match, interval by interval, counted in the search index."""

from __future__ import annotations

import functools
from datetime import date, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends
from pydantic import Field
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.api.catalog import Catalog, CatalogDep
from app.api.deps import CheckedRoute, QueryModel, SearchDep, problems
from app.api.filters import ArticleFilters, resolve
from app.db import EngineDep
from app.errors import BadRequest
from app.schemas import Timeline, TimelineBucket
from app.search.base import SearchBackend, Span

router = APIRouter(tags=["articles"], route_class=CheckedRoute)

Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year")
MAX_DEFAULT_BUCKETS = 200  # the default interval is the finest with at most this many
MAX_BUCKETS = 10_000  # an interval asked for may give this many (a year covers any span)
END = date.max.toordinal() + 1  # where the last interval ends, at the latest


class TimelineParams(ArticleFilters):
    """Query parameters of GET /timeline: the filters of GET /articles, and the interval."""

    interval: Interval | None = Field(
        None,
        description="Width of each bucket (weeks start on Mondays). Default: the finest "
        f"giving at most {MAX_DEFAULT_BUCKETS} buckets over the span",
    )


TIMELINE_PARAMS = QueryModel(TimelineParams)


@router.get(
    "/timeline",
    response_model=Timeline,
    responses=problems(400, 422),
    openapi_extra=TIMELINE_PARAMS.openapi,
)
async def timeline(
    params: Annotated[TimelineParams, Depends(TIMELINE_PARAMS)],
    engine: EngineDep,
    search: SearchDep,
    catalog: CatalogDep,
) -> Timeline:
    """Count the articles matching the filters of GET /articles interval by interval (empty
    intervals included, in order), and the undated ones."""
    buckets = Buckets(params)
    work = functools.partial(_count, params, engine, search.backend, catalog, buckets)
    counted: tuple[Span, list[int]] | None = await search.run(work)
    span, counts = counted or (buckets.nothing, [])
    return Timeline(
        interval=buckets.interval,
        buckets=[
            TimelineBucket(start=date.fromordinal(start), count=count)
            for start, count in zip(buckets.bounds, counts, strict=False)
        ],
        undated=span.undated,
        total=span.undated + sum(counts),
        estimated=span.estimated,
    )


def _count(
    params: TimelineParams,
    engine: Engine,
    search: SearchBackend,
    catalog: Catalog,
    buckets: Buckets,
) -> tuple[Span, list[int]] | None:
    with Session(engine) as session:
        query = resolve(params, session, catalog)
    return None if query is None else search.histogram(query, buckets)


class Buckets:
    """The buckets of a timeline, planned once the matches' span is known: over the dates
    asked for (else those of the matches), at the interval asked for (else the finest giving
    at most MAX_DEFAULT_BUCKETS)."""

    def __init__(self, params: TimelineParams) -> None:
        self.params = params
        self.interval: Interval = params.interval or "day"
        self.bounds: list[int] = []
        self.nothing = Span(None, None, 0)  # the span when a filter names nothing we have
        self(self.nothing)

    def __call__(self, span: Span) -> list[int]:
        """Bucket bounds as day ordinals: each bucket's start, then the end of the last."""
        first = self.params.published_from or span.first
        last = self.params.published_to or span.last
        first, last = first or last, last or first
        self.interval = self.params.interval or default_interval(first, last)
        self.bounds = []
        if first is None or last is None or first > last:
            return self.bounds
        if (n := bucket_count(first, last, self.interval)) > MAX_BUCKETS:
            raise BadRequest(
                f"interval: {n} intervals of a {self.interval} from {first} to {last}, more "
                f"than {MAX_BUCKETS}; choose a longer interval or fewer dates"
            )
        start = bucket_start(first, self.interval).toordinal()
        for _ in range(n):
            self.bounds.append(start)
            start = next_start(start, self.interval)
        self.bounds.append(start)
        return self.bounds


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_start(start: int, interval: Interval) -> int:
    """The day ordinal the next interval starts on (past 9999-12-31: the day after it)."""
    if interval in ("day", "week"):
        return start + (1 if interval == "day" else 7)
    day = date.fromordinal(start)
    year, month = divmod(day.year * 12 + day.month - 1 + (1 if interval == "month" else 12), 12)
    return date(year, month + 1, 1).toordinal() if year <= date.max.year else END


def bucket_count(first: date, last: date, interval: Interval) -> int:
    start, end = bucket_start(first, interval), bucket_start(last, interval)
    if interval in ("day", "week"):
        return (end - start).days // (1 if interval == "day" else 7) + 1
    if interval == "month":
        return (end.year - start.year) * 12 + end.month - start.month + 1
    return end.year - start.year + 1


def default_interval(first: date | None, last: date | None) -> Interval:
    """The finest interval giving at most MAX_DEFAULT_BUCKETS buckets (a chart of 10 to 200
    bars: a coarser one would give fewer than 10, save over a few days)."""
    if first is None or last is None or first > last:
        return "day"
    for interval in INTERVALS:
        if bucket_count(first, last, interval) <= MAX_DEFAULT_BUCKETS:
            return interval
    return "year"
