"""Reading every match rather than a page: the timeline's counts per day (an aggregation
inside the index) and the export's walk through all matches in order, a batch at a time."""

from __future__ import annotations

import bisect
import itertools
from collections import defaultdict
from collections.abc import Iterator
from datetime import date
from typing import Any

import numpy as np
import tantivy

from app.search.base import DAY_SHIFT, PK_MASK, ArticleQuery, Plan, Sort, Span
from app.search.reading import (
    EXACT_STORY_TOTAL,
    IndexReading,
    _date_order,
    _sample_level,
    _u64_values,
    terms,
)
from app.search.schema import STORY_KEY_END

# The first sort key with a date (undated keys are just the pk), and a day's width in keys.
# Aggregations read keys as floats, rounded to 128 at today's day ordinals: never across a
# day while pks stay far below 2^40.
DATED = 1 << DAY_SHIFT
DAY = float(DATED)
NO_MATCH: dict[str, Any] = {"doc_count": 0}  # an aggregation's bucket with nothing in it


class IndexScanning(IndexReading):
    """Aggregations and walks over all of a query's matches."""

    def histogram(self, query: ArticleQuery, plan: Plan) -> tuple[Span, list[int]]:
        """Count the matches in the buckets `plan` makes from their span, inside the index:
        one aggregation finds the span (the sort key's high bits are the day; 0: undated),
        a second counts each bucket as a range of sort keys. Buckets of calendar months and
        years, which no fixed-width histogram gives, cost as little as weeks: counting a
        histogram of 3,653 days took 28 ms for 65k matches at 100k, 120 month ranges 2 ms.
        With `dedupe`: each story on the day of its earliest dated match, counted on a
        sample of the stories (as story totals are) over more than EXACT_STORY_TOTAL."""
        searcher = self.index.searcher()
        _, _, matching = self._matching(query)
        if query.dedupe:
            return _bucketed(self._story_days(searcher, matching), plan)
        parts: dict[str, Any] = {
            "range": {"field": "sort_key", "ranges": [{"to": DAY}, {"from": DAY}]}
        }
        parts["aggs"] = {"keys": {"stats": {"field": "sort_key"}}}
        found = searcher.aggregate(matching, {"parts": parts})["parts"]["buckets"]
        # An index that never held a document (a new corpus) answers no bucket at all.
        undated, dated = found[-2:] if found else [NO_MATCH, NO_MATCH]
        first, last = (dated["keys"]["min"], dated["keys"]["max"]) if dated["doc_count"] else (0, 0)
        span = Span(_date(first), _date(last), undated["doc_count"])
        bounds = plan(span)
        if len(bounds) < 2:
            return span, []
        starts = [float(day << DAY_SHIFT) for day in bounds]
        widths = {b - a for a, b in itertools.pairwise(bounds)}
        if len(widths) == 1:  # days or weeks: a histogram (3,653 days: 28 ms, as ranges 87)
            width = widths.pop() * DAY
            histogram = {"field": "sort_key", "interval": width, "offset": starts[0] % width}
            histogram |= {"min_doc_count": 1, "hard_bounds": {"min": starts[0], "max": starts[-1]}}
            request = {"buckets": {"histogram": histogram}}
            key = "key"
        else:  # months or years: ranges
            ranges = [{"from": a, "to": b} for a, b in itertools.pairwise(starts)]
            request = {"buckets": {"range": {"field": "sort_key", "ranges": ranges}}}
            key = "from"
        found = searcher.aggregate(matching, request)["buckets"]["buckets"]
        counts = {bucket.get(key): bucket["doc_count"] for bucket in found}
        return span, [counts.get(start, 0) for start in starts[:-1]]

    def _story_days(self, searcher: tantivy.Searcher, matching) -> tuple[dict[int, int], bool]:  # type: ignore[no-untyped-def]
        """Stories by the day ordinal of their earliest dated match (0: none dated)."""
        matches = self._count(searcher, matching)
        level = 0 if matches <= EXACT_STORY_TOTAL else _sample_level(matches)
        if level:
            below = STORY_KEY_END >> level
            matching = self._and([matching, self._int_range("story_key", 0, below - 1)])
        first = {"first": {"min": {"field": "sort_key"}}}
        stories = {**terms("story_key", max(matches, 1)), "aggs": first}
        days: dict[int, int] = defaultdict(int)
        dated = self._and([matching, self._int_range("sort_key", DATED, None)])
        seen = set()
        for bucket in searcher.aggregate(dated, {"s": stories})["s"]["buckets"]:
            days[int(bucket["first"]["value"]) >> DAY_SHIFT] += 1 << level
            seen.add(bucket["key"])
        undated = self._and([matching, self._int_range("sort_key", None, DATED - 1)])
        for bucket in searcher.aggregate(undated, {"s": stories})["s"]["buckets"]:
            days[0] += 0 if bucket["key"] in seen else 1 << level
        return days, level > 0

    def walk(self, query: ArticleQuery, *, batch: int) -> Iterator[list[int]]:
        """Every match's pk in the query's order, `batch` at a time, from one searcher. Date
        orders read the next `batch` keys past the last one (nothing held between batches);
        best match first scores every match, a date window at a time, and sorts them: about
        30 bytes per match. `dedupe` remembers the stories seen (8 bytes each, about)."""
        searcher = self.index.searcher()
        _, text_query, matching = self._matching(query)
        if query.sort == "relevance" and text_query is not None:
            keyed = self._walk_by_score(searcher, matching, batch)
        else:
            keyed = (
                (hits, _u64_values(searcher, "story_key", [a for _, a in hits]))
                if query.dedupe
                else (hits, None)
                for hits in self._walk_by_date(searcher, matching, query.sort, batch)
            )
        seen: set[int] = set()
        for hits, stories in keyed:
            keys = [key for key, _ in hits]
            if query.dedupe and stories is not None:  # each story's first, as pages show them
                keys = [k for k, s in zip(keys, stories, strict=True) if not _seen(seen, s)]
            yield [key & PK_MASK for key in keys]

    def _walk_by_date(
        self, searcher: tantivy.Searcher, matching, sort: Sort, batch: int
    ) -> Iterator[list[tuple[int, tantivy.DocAddress]]]:  # type: ignore[no-untyped-def]
        """Batches of (key, address) in a date order, each read past the last key."""
        query = ArticleQuery(sort=sort)
        field, order = _date_order(query)
        after: int | None = None
        while True:
            hits = searcher.search(
                self._and([matching, self._after(query, after)]),
                batch,
                count=False,
                order_by_field=field,
                order=order,
            ).hits
            if hits:
                yield hits
            if len(hits) < batch:
                return
            after = hits[-1][0]

    def _walk_by_score(self, searcher: tantivy.Searcher, matching, batch: int):  # type: ignore[no-untyped-def]
        """(hits, their stories) best first, ties latest first as pages order them: each
        window of `batch` matches by date scored on its own (its key range as a filter
        scoring 0 leaves the scores as they are), then all of them sorted."""
        scores, keys, stories = [], [], []
        for hits in self._walk_by_date(searcher, matching, "-published_at", batch):
            window = self._int_range("sort_key", hits[-1][0], hits[0][0])
            within = tantivy.Query.const_score_query(window, 0.0)
            scored = searcher.search(self._and([matching, within]), len(hits), count=False)
            addresses = [a for _, a in scored.hits]
            scores.append(np.fromiter((s for s, _ in scored.hits), np.float32, len(addresses)))
            keys.append(np.array(_u64_values(searcher, "sort_key", addresses), np.int64))
            stories.append(np.array(_u64_values(searcher, "story_key", addresses), np.int64))
        if not scores:
            return
        all_keys, all_stories = np.concatenate(keys), np.concatenate(stories)
        order = np.lexsort((-all_keys, -np.concatenate(scores)))
        for start in range(0, len(order), batch):
            chosen = order[start : start + batch]
            yield [(int(k), None) for k in all_keys[chosen]], all_stories[chosen].tolist()


def _seen(seen: set[int], story: int) -> bool:
    """Whether the story was seen before; it is from now on."""
    if story in seen:
        return True
    seen.add(story)
    return False


def _date(key: float) -> date | None:
    """The date of a sort key read as a float (None: undated)."""
    day = int(key) >> DAY_SHIFT
    return date.fromordinal(day) if day else None


def _bucketed(story_days: tuple[dict[int, int], bool], plan: Plan) -> tuple[Span, list[int]]:
    """Stories counted by day, planned and counted into buckets."""
    days, estimated = story_days
    dated = sorted(day for day in days if day)
    first, last = (
        (date.fromordinal(dated[0]), date.fromordinal(dated[-1])) if dated else (None, None)
    )
    span = Span(first, last, days.get(0, 0), estimated)
    bounds = plan(span)
    counts = [0] * max(len(bounds) - 1, 0)
    for day in dated:
        if bounds and bounds[0] <= day < bounds[-1]:
            counts[bisect.bisect_right(bounds, day) - 1] += days[day]
    return span, counts
