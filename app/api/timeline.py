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
from app.api.deps import QueryModel, SearchDep, problems
from app.api.filters import ArticleFilters, resolve
from app.db import EngineDep
from app.errors import BadRequest
from app.schemas import Timeline, TimelineBucket
from app.search.base import DayCounts, SearchBackend

router = APIRouter(tags=["articles"])

Interval = Literal["day", "week", "month", "year"]
INTERVALS: tuple[Interval, ...] = ("day", "week", "month", "year")
MAX_DEFAULT_BUCKETS = 200  # the default interval is the finest with at most this many
MAX_BUCKETS = 10_000  # an interval asked for may give this many (a year covers any span)


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
    work = functools.partial(_count, params, engine, search.backend, catalog)
    counts: DayCounts | None = await search.run(work)
    return shape(counts or DayCounts([], 0), params)


def _count(
    params: TimelineParams, engine: Engine, search: SearchBackend, catalog: Catalog
) -> DayCounts | None:
    with Session(engine) as session:
        query = resolve(params, session, catalog)
    return None if query is None else search.day_counts(query)


def shape(counts: DayCounts, params: TimelineParams) -> Timeline:
    """Buckets over the dates asked for (else those of the matches), empty ones included."""
    first = params.published_from or (counts.days[0][0] if counts.days else None)
    last = params.published_to or (counts.days[-1][0] if counts.days else None)
    first, last = first or last, last or first
    interval = params.interval or default_interval(first, last)
    total = counts.undated + sum(n for _, n in counts.days)
    if first is None or last is None or first > last:
        return Timeline(interval=interval, buckets=[], undated=counts.undated, total=total)
    if (n := bucket_count(first, last, interval)) > MAX_BUCKETS:
        raise BadRequest(
            f"interval: {n} intervals of a {interval} from {first} to {last}, more than "
            f"{MAX_BUCKETS}; choose a longer interval or fewer dates"
        )
    per_bucket: dict[date, int] = {}
    for day, count in counts.days:
        start = bucket_start(day, interval)
        per_bucket[start] = per_bucket.get(start, 0) + count
    buckets, start = [], bucket_start(first, interval)
    for left in reversed(range(n)):
        buckets.append(TimelineBucket(start=start, count=per_bucket.get(start, 0)))
        start = next_start(start, interval) if left else start  # none past 9999-12-31
    return Timeline(
        interval=interval,
        buckets=buckets,
        undated=counts.undated,
        total=total,
        estimated=counts.estimated,
    )


def bucket_start(day: date, interval: Interval) -> date:
    if interval == "day":
        return day
    if interval == "week":
        return day - timedelta(days=day.weekday())
    if interval == "month":
        return day.replace(day=1)
    return day.replace(month=1, day=1)


def next_start(start: date, interval: Interval) -> date:
    if interval in ("day", "week"):
        return start + timedelta(days=1 if interval == "day" else 7)
    if interval == "month":
        return date(start.year + start.month // 12, start.month % 12 + 1, 1)
    return date(start.year + 1, 1, 1)


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
