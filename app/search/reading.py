"""Searching the index: filters, sorts, keyset pages, one article per story, facets and
snippets, all inside the index.

Reading loads one stored document per hit of a page, which holds what a listing shows of the
article (so a search page needs no database read) and the body its snippet is cut from; pks
come from the `sort_key` fast field and stories from `story_key`. Aggregations over huge match
sets (facets, story totals) run on a deterministic sample (`sample`, `story_key`) and say they
are estimates.
"""

from __future__ import annotations

import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import NamedTuple, cast

import tantivy

from app.search.base import (
    DAY_SHIFT,
    PK_MASK,
    ArticleQuery,
    Hit,
    Position,
    SearchPage,
    WalkExpired,
    key_date,
)
from app.search.query import (
    FIELD_BOOSTS,
    Highlights,
    Node,
    highlights,
    parse,
    to_tantivy,
)
from app.search.schema import (
    MAX_SAMPLE_LEVEL,
    NO_STORY,
    STORED_FIELDS,
    STORY_KEY_END,
    entity_number,
    read_state,
)
from app.search.snippets import SNIPPET_CHARS, FirstMatch, marked, snippet_of

PREFIX_EXPANSIONS = 50  # terms a prefix stands for in snippets (tantivy's own limit)
# Aggregations scan every match (four facets cost ~0.2 us per match, 0.4 ms per 1,000 sampled
# at 100k), so over more matches than this, facets and story totals are counted on a sample:
FACET_EXACT_MATCHES = 20_000
FACET_SAMPLE_TARGET = 5_000  # about this many matches in the sample (~2 % error on big counts)
EVERY_VALUE = 2**32 - 1  # a terms aggregation's segment_size that keeps every value
# Versions of the index kept for best-match walks: the last ones searches saw (at a commit each
# poll interval, half a minute of articles trickling in), each until a walk left it idle.
WALK_VERSIONS = 64
WALK_IDLE_SECONDS = 600
RELEVANCE_SLACK = 16  # extra hits read first, so equal scores at a page's edge rarely need more
DEDUPE_WINDOW = 200  # hits first read while collapsing a result to one article per story
EXACT_STORY_TOTAL = 10_000  # matches up to which a deduplicated total is counted exactly
# Threads that count facets beside the searching thread (one per core is enough to overlap).
_AGGREGATIONS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="facets")


class _Ranked(NamedTuple):
    """One page of hits (with their addresses, for snippets), the total, and the matches."""

    hits: list[tuple[Hit, tantivy.DocAddress]]
    total: int
    has_more: bool
    matches: int  # articles matching (total counts stories when deduplicating)
    total_estimated: bool = False


class Version(NamedTuple):
    """A version of the index as searches see it."""

    searcher: tantivy.Searcher
    seq: int  # the largest seq it holds: the index is at this article change (0: empty)
    newest_pk: int  # the newest article it holds


class IndexReading:
    """The searching half of TantivyIndex (the SearchBackend a router calls)."""

    path: Path
    index: tantivy.Index
    schema: tantivy.Schema
    analyzer: tantivy.TextAnalyzer

    def __init__(self) -> None:
        self._versions_lock = threading.Lock()
        self._current: Version | None = None  # None: not looked at yet
        # Earlier versions, for the best-match walks on them: by seq, the least used first.
        self._kept: OrderedDict[int, tuple[Version, float]] = OrderedDict()

    def reload(self) -> None:
        """Let searches see the index's last commit. The version they saw until then stays for
        the best-match walks on it: begun here, or by another process of this index that
        saw it too (a client's next page may reach another worker)."""
        with self._versions_lock:
            before = self._current
            self.index.reload()
            self._current = _looked_at(self.index.searcher())
            if before is not None and before.seq != self._current.seq:
                self._keep(before)

    def refresh(self) -> None:
        """See commits made by other processes, if the saved watermark says there are."""
        state = read_state(self.path)
        if state is None or int(state["seq"]) != self._version().seq:
            self.reload()

    def search(self, query: ArticleQuery) -> SearchPage:
        """Run a query with its filters, sort, keyset page and facets, all inside the index."""
        node = parse(query.text, analyzer=self.analyzer) if query.text else None
        relevance = query.sort == "relevance" and node is not None
        version = self._walked(query.after) if relevance else self._version()
        if query.dedupe and not relevance:
            # Which article stands for a story depends on all the story's articles: a walk
            # sees only those indexed at its start, so one added to a story meanwhile can
            # neither hide the story nor show it twice. (Best match walks a whole version.)
            newest = query.after[3] if query.after else version.newest_pk
            query = replace(query, newest=newest)
        text_query, matching = self._built(node, query)
        searcher = version.searcher
        if query.dedupe:
            ranked = (self._best_once if relevance else self._first_once)(searcher, matching, query)
        elif relevance:
            ranked = self._by_relevance(searcher, matching, query)
        else:
            ranked = self._by_date(searcher, matching, query)
        # Facets are counted on another core while this thread loads the page's documents
        # (Tantivy releases the GIL while it aggregates).
        facets = (
            _AGGREGATIONS.submit(self._facets, searcher, node, query, matching, ranked.matches)
            if query.facets
            else None
        )
        self._add_documents(searcher, node if text_query is not None else None, ranked.hits)
        page = SearchPage(
            hits=[hit for hit, _ in ranked.hits],
            total=ranked.total,
            has_more=ranked.has_more,
            total_estimated=ranked.total_estimated,
        )
        if relevance:  # the next page ranks on this very version
            for hit in page.hits:
                hit.position = (*hit.position[:3], version.seq)
        if facets is not None:
            page.facets, page.facets_estimated = facets.result()
        return page

    # -- versions --------------------------------------------------------------------------
    # A score depends on the whole index (how rare each word is, how long articles are on
    # average), so every article added moves every score: a best-match walk that ranked its
    # next page on a newer version would repeat and skip old articles. Its pages rank on the
    # version its first page ran on, known by the largest seq it holds (the same on every
    # host that indexed as far); a Tantivy searcher keeps its version's files open (mapped)
    # after merges delete them, so a recent one kept here still answers.

    def _version(self) -> Version:
        """The version searches run on now."""
        with self._versions_lock:
            if self._current is None:
                self._current = _looked_at(self.index.searcher())
            return self._current

    def _walked(self, after: Position | None) -> Version:
        """The version a best-match walk runs on: its first page's."""
        current = self._version()
        if after is None or after[3] == current.seq:
            return current
        with self._versions_lock:
            self._forget_idle()
            if (kept := self._kept.get(after[3])) is None:
                raise WalkExpired(
                    "this best-match walk ranks its pages on a version of the index this server "
                    "no longer holds: articles were added since, and a server keeps the last "
                    f"{WALK_VERSIONS} versions it searched, each for {WALK_IDLE_SECONDS // 60} "
                    "minutes after a walk last used it; start again from the first page, or "
                    "sort by date, whose walks never expire"
                )
            self._kept[after[3]] = (kept[0], time.monotonic())
            self._kept.move_to_end(after[3])
            return kept[0]

    def _keep(self, version: Version) -> None:
        """Hold a version searches no longer see (the lock held), the least used going first."""
        self._kept[version.seq] = (version, time.monotonic())
        self._forget_idle()
        while len(self._kept) > WALK_VERSIONS:
            self._kept.popitem(last=False)

    def _forget_idle(self) -> None:
        idle = time.monotonic() - WALK_IDLE_SECONDS
        for seq in [seq for seq, (_, used) in self._kept.items() if used < idle]:
            del self._kept[seq]

    def _matching(
        self, query: ArticleQuery
    ) -> tuple[Node | None, tantivy.Query | None, tantivy.Query]:
        """Parse the text (None without any) and build its query, and the full query with
        every filter."""
        node = parse(query.text, analyzer=self.analyzer) if query.text else None
        return node, *self._built(node, query)

    def _built(
        self, node: Node | None, query: ArticleQuery, *, sample: int = 0
    ) -> tuple[tantivy.Query | None, tantivy.Query]:
        """The text query and the full query, within a sample level if one is given. Tantivy
        steps through a disjunction (a word in title or body) one match at a time even when
        intersecting it with a few documents, so a filter on top alone would cost a walk
        through every article with a common word: term filters and the sample also restrict
        each term of the text query, scoring nothing there (results and scores unchanged)."""
        narrowing = self._term_filters(query)
        if query.newest:
            narrowing.append(self._int_range("pk", None, query.newest))
        if sample:
            narrowing.append(tantivy.Query.term_query(self.schema, "sample", sample))
        within = self._and(narrowing) if narrowing else None
        text_query = (
            to_tantivy(node, schema=self.schema, field_boosts=FIELD_BOOSTS, within=within)
            if node is not None
            else None
        )
        return text_query, self._and([text_query, *narrowing, *self._date_filter(query)])

    def _and(self, queries: Iterable[tantivy.Query | None]) -> tantivy.Query:
        """All of the queries; a lone one as it is (wrapped in a boolean query, a word in title
        or body takes 50 % longer to rank at 1M: 11.6 against 7.7 ms for 'about')."""
        clauses = [(tantivy.Occur.Must, q) for q in queries if q is not None]
        if len(clauses) == 1:
            return clauses[0][1]
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()

    def stories(self, query: ArticleQuery, *, limit: int) -> tuple[list[tuple[str, int]], int]:
        """List the stories with matching articles, the most matching first (an aggregation
        over the whole match set, inside the index)."""
        searcher = self.index.searcher()
        _, _, matching = self._matching(query)
        request = {"story": terms("story", limit)}
        buckets = searcher.aggregate(matching, request)["story"]["buckets"]
        found = [(b["key"], b["doc_count"]) for b in buckets if not b["key"].startswith(NO_STORY)]
        if len(buckets) < limit:
            return found, len(buckets)
        return found, self._story_total(searcher, matching, self._count(searcher, matching))[0]

    def _term_filters(self, query: ArticleQuery) -> list[tantivy.Query]:
        filters = []
        if query.story is not None:
            filters.append(tantivy.Query.term_query(self.schema, "story", query.story))
        if query.sources:
            filters.append(self._any_term("source", list(query.sources)))
        for entity in query.entities:
            numbers = [n for n in map(entity_number, entity.ids) if n is not None]
            filters.append(self._any_term(entity.type, numbers))
        return filters

    def _any_term(self, field: str, values: list[str] | list[int]) -> tantivy.Query:
        """Documents with any of the values, each scoring 1: one value as a term query, which
        skips to a document where a term set reads all its documents first."""
        if len(values) != 1:
            return tantivy.Query.term_set_query(self.schema, field, values)
        term = tantivy.Query.term_query(self.schema, field, values[0])
        return tantivy.Query.const_score_query(term, 1.0)

    def _date_filter(self, query: ArticleQuery) -> list[tantivy.Query]:
        """Ranges of `sort_key`, where undated articles have day 0: a date range matches
        dated articles only."""
        filters = []
        if query.published_from or query.published_to:
            first = query.published_from.toordinal() if query.published_from else 1
            upper = (
                ((query.published_to.toordinal() + 1) << DAY_SHIFT) - 1
                if query.published_to
                else None
            )
            filters.append(self._int_range("sort_key", first << DAY_SHIFT, upper))
        if query.undated is not None:
            undated = (0, PK_MASK) if query.undated else (1 << DAY_SHIFT, None)
            filters.append(self._int_range("sort_key", *undated))
        return filters

    def _int_range(self, field: str, lower: int | None, upper: int | None) -> tantivy.Query:
        return tantivy.Query.range_query(
            self.schema, field, tantivy.FieldType.Integer, lower_bound=lower, upper_bound=upper
        )

    def _after(self, query: ArticleQuery, key: int | None) -> tantivy.Query | None:
        """The keys past `key` in the requested date order (None: no bound)."""
        if key is None:
            return None
        field, order = _date_order(query)
        if order == tantivy.Order.Asc:
            return self._int_range(field, key + 1, None)
        return self._int_range(field, None, key - 1)

    def _count(self, searcher: tantivy.Searcher, matching: tantivy.Query) -> int:
        return _matches(searcher.search(matching, 1, count=True))

    def _by_date(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        after = query.after[1] if query.after is not None else None
        field, order = _date_order(query)
        result = searcher.search(
            self._and([matching, self._after(query, after)]),
            query.limit + 1,
            count=True,
            order_by_field=field,
            order=order,
        )
        # Past a cursor the count is of what is left: with the hits shown before, the total
        # (exact while the index does not change between pages), without counting again.
        seen = int(query.after[2]) if query.after else 0
        hits = [
            (Hit(key & PK_MASK, None, None, (0.0, key, seen + n + 1, query.newest)), address)
            for n, (key, address) in enumerate(result.hits[: query.limit])
        ]
        total = seen + _matches(result)
        return _Ranked(hits, total, len(result.hits) > query.limit, total)

    def _ranked_by_score(
        self, searcher: tantivy.Searcher, result
    ) -> list[tuple[float, int, tantivy.DocAddress]]:  # type: ignore[no-untyped-def]
        """(score, sort key, address) in best-match order: best first, equal scores newest
        first (sort keys are unique, so this is a total order)."""
        addresses = [address for _, address in result.hits]
        keys = _u64_values(searcher, "sort_key", addresses)
        return sorted(
            zip((score for score, _ in result.hits), keys, addresses, strict=True),
            key=lambda hit: (-hit[0], -hit[1]),
        )

    def _best(
        self, searcher: tantivy.Searcher, matching: tantivy.Query, size: int, *, count: bool
    ) -> tuple[list[tuple[float, int, tantivy.DocAddress]], bool, int | None]:
        """The top `size` matches in best-match order, but only those certainly in it; whether
        they are all the matches; and the match count if asked. Among equal scores at a full
        window's edge Tantivy keeps what its own (segment) order reaches first, not the newest,
        so only the hits scoring above the window's last score are certain: all of those are in
        it, whatever the ties."""
        result = searcher.search(matching, size, count=count)
        ranked = self._ranked_by_score(searcher, result)
        every = len(ranked) < size
        if not every:
            lowest = ranked[-1][0]
            ranked = [hit for hit in ranked if hit[0] > lowest]
        return ranked, every, _matches(result) if count else None

    def _by_relevance(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        # Tantivy cannot search after a score, so rank the top of the list down to past the
        # cursor, strictly after its (score, sort key); the window doubles until the page and
        # the hit after it are certain (every tie at the window's edge read).
        seen = int(query.after[2]) if query.after else 0
        size = seen + query.limit + 1 + RELEVANCE_SLACK
        matches = None
        while True:
            ranked, every, counted = self._best(searcher, matching, size, count=matches is None)
            matches = counted if matches is None else matches
            following = _past(ranked, query.after)
            if every or len(following) > query.limit:
                break
            size *= 2
        hits = [
            (Hit(key & PK_MASK, score, None, (score, key, seen + n + 1, query.newest)), address)
            for n, (score, key, address) in enumerate(following[: query.limit])
        ]
        assert matches is not None
        return _Ranked(hits, matches, len(following) > query.limit, matches)

    # -- one article per story -------------------------------------------------------------
    # An article stands for its story when it is the first of the story's matching articles
    # in the requested order, so a page never depends on what earlier pages showed: keyset
    # cursors stay valid. Stories already decided are excluded from the next window read, so
    # a story with thousands of matches costs one look, not thousands. Stories are read as
    # the numeric story_key fast field: no stored document is loaded.

    def _without(self, matching: tantivy.Query, stories: set[int]) -> tantivy.Query:
        if not stories:
            return matching
        excluded = tantivy.Query.term_set_query(self.schema, "story_key", sorted(stories))
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, matching), (tantivy.Occur.MustNot, excluded)]
        )

    def _first_once(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        field, order = _date_order(query)
        key = query.after[1] if query.after is not None else None
        seen = int(query.after[2]) if query.after else 0
        kept: list[tuple[Hit, tantivy.DocAddress]] = []
        decided: set[int] = set()
        matches = None
        size = DEDUPE_WINDOW
        while True:  # windows double: a few reads even when big stories fill them
            window = self._without(self._and([matching, self._after(query, key)]), decided)
            counting = matches is None and query.after is None  # the first read sees every match
            result = searcher.search(
                window, size, count=counting, order_by_field=field, order=order
            )
            matches = _matches(result) if counting else matches
            stories = _u64_values(searcher, "story_key", [a for _, a in result.hits])
            for (hit_key, address), story in zip(result.hits, stories, strict=True):
                key = hit_key
                if story in decided:
                    continue
                decided.add(story)
                if self._first_of_story(searcher, matching, story, query) == hit_key:
                    position = (0.0, hit_key, seen + len(kept) + 1, query.newest)
                    kept.append((Hit(hit_key & PK_MASK, None, None, position), address))
                    if len(kept) > query.limit:
                        break
            if len(kept) > query.limit or len(result.hits) < size:
                break
            size *= 2
        if matches is None:
            matches = self._count(searcher, matching)
        total, estimated = self._story_total(searcher, matching, matches)
        return _Ranked(kept[: query.limit], total, len(kept) > query.limit, matches, estimated)

    def _first_of_story(
        self, searcher: tantivy.Searcher, matching, story: int, query: ArticleQuery
    ) -> int | None:  # type: ignore[no-untyped-def]
        """The key of the story's first matching article in the requested date order."""
        story_query = tantivy.Query.term_query(self.schema, "story_key", story)
        field, order = _date_order(query)
        first = searcher.search(
            self._and([matching, story_query]),
            1,
            count=False,
            order_by_field=field,
            order=order,
        ).hits
        return first[0][0] if first else None

    def _best_once(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        # Stories are decided best first. A window read without the decided stories holds,
        # among its certain hits (see _best), the best remaining article of every story it
        # shows, all ranked below the certain hits of the windows before; so each read decides
        # those stories, and the next one starts from the top without them.
        seen = int(query.after[2]) if query.after else 0
        firsts: list[tuple[float, int, tantivy.DocAddress]] = []
        decided: set[int] = set()
        matches = None
        size = DEDUPE_WINDOW
        while True:  # windows double: a few reads even when big stories or ties fill them
            window = self._without(matching, decided)
            ranked, every, counted = self._best(searcher, window, size, count=matches is None)
            matches = counted if matches is None else matches  # the first read sees them all
            stories = _u64_values(searcher, "story_key", [a for _, _, a in ranked])
            for (score, hit_key, address), story in zip(ranked, stories, strict=True):
                if story not in decided:
                    decided.add(story)
                    firsts.append((score, hit_key, address))
            following = _past(firsts, query.after)
            if every or len(following) > query.limit:
                break
            size *= 2
        hits = [
            (
                Hit(hit_key & PK_MASK, score, None, (score, hit_key, seen + n + 1, query.newest)),
                address,
            )
            for n, (score, hit_key, address) in enumerate(following[: query.limit])
        ]
        assert matches is not None
        total, estimated = self._story_total(searcher, matching, matches)
        return _Ranked(hits, total, len(following) > query.limit, matches, estimated)

    def _story_total(self, searcher: tantivy.Searcher, matching, matches: int) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
        """Count the stories with matching articles, and whether it is an estimate: exactly up
        to EXACT_STORY_TOTAL matches; beyond, Tantivy's cardinality estimate (HyperLogLog,
        within a few percent) over a sample of the stories, scaled up. Stories are sampled
        by key, not articles: a story is in the sample with all its articles or not at all."""
        if matches <= EXACT_STORY_TOTAL:
            request = {"story": terms("story", max(matches, 1))}
            return len(searcher.aggregate(matching, request)["story"]["buckets"]), False
        level = _sample_level(matches)
        below = STORY_KEY_END >> level
        sampled = self._and([matching, self._int_range("story_key", 0, below - 1)])
        stories = searcher.cardinality(sampled, "story_key")
        return round(stories * 2**level), True

    # -- snippets and facets ---------------------------------------------------------------

    def _add_documents(
        self,
        searcher: tantivy.Searcher,
        node: Node | None,
        hits: Sequence[tuple[Hit, tantivy.DocAddress]],
    ) -> None:
        """One stored-document load per hit: its summary fields, and its snippet if the query
        has text."""
        snippet = self._snippets(searcher, node) if node is not None and hits else None
        for hit, address in hits:
            document = searcher.doc(address)
            fields = {name: document.get_first(name) for name in STORED_FIELDS}
            story = fields.pop("story")
            fields["story_id"] = None if story is None or story.startswith(NO_STORY) else story
            fields["published_at"] = key_date(hit.position[1])
            fields["body"] = body = fields["body"] or ""
            hit.fields = fields
            if snippet is not None:
                hit.snippet = snippet(body)

    def _snippets(
        self, searcher: tantivy.Searcher, node: Node
    ) -> Callable[[str], str | None] | None:
        """What marks a body's snippet: the generator only sees a window of the body (and
        nothing of a body without a match: a title-only hit)."""
        terms = highlights(node)
        words = self._snippet_words(searcher, terms)  # prefixes expanded: not for nothing
        if not words:
            return None
        should = [
            (tantivy.Occur.Should, tantivy.Query.term_query(self.schema, "body", w)) for w in words
        ]
        generator = tantivy.SnippetGenerator.create(
            searcher, tantivy.Query.boolean_query(should), self.schema, "body"
        )
        generator.set_max_num_chars(SNIPPET_CHARS)
        first_match = FirstMatch(terms, set(words), self.analyzer)
        return lambda body: marked(snippet_of(generator, body, first_match))

    def _snippet_words(self, searcher: tantivy.Searcher, terms: Highlights) -> list[str]:
        """The body terms to highlight: the generator ignores prefix queries, so prefixes are
        expanded here (as the search does, up to PREFIX_EXPANSIONS terms each)."""
        words = list(terms.words)
        for prefix in terms.prefixes:
            expanded = searcher.terms_with_prefix("body", prefix, limit=PREFIX_EXPANSIONS)
            words.extend(term for term, _ in expanded)
        return words

    def _facets(  # type: ignore[no-untyped-def]
        self,
        searcher: tantivy.Searcher,
        node: Node | None,
        query: ArticleQuery,
        matching,
        matches: int,
    ) -> tuple[dict[str, list[tuple[str, int]]], bool]:
        """Top values of each facet; over more than FACET_EXACT_MATCHES matches, counted on a
        uniform sample of them (the query built again within it) and scaled up (the second
        value says so)."""
        size = query.facet_size
        level = _sample_level(matches) if matches > FACET_EXACT_MATCHES else 0
        request = {name: terms(name, size, exact=not level) for name in query.facets}
        if level:
            _, matching = self._built(node, query, sample=level)
        result = searcher.aggregate(matching, request)
        facets: dict[str, list[tuple[str, int]]] = {
            name: [(_facet_key(b["key"]), b["doc_count"] << level) for b in result[name]["buckets"]]
            for name in query.facets
        }
        return facets, level > 0


def terms(field: str, size: int, *, exact: bool = True) -> dict:
    """A terms aggregation. Tantivy keeps each segment's 10 x size most frequent values
    before merging them, so a value just below that cut in one segment loses its count there
    (an undercount that comes and goes with merges): exact counts keep every value, ~13 % of
    a four-facet request over a common word at 100k (2.8 against 2.5 ms). Counts estimated
    on a sample anyway keep the 100 most frequent per segment at least."""
    kept = EVERY_VALUE if exact else max(10 * size, 100)
    return {"terms": {"field": field, "size": size, "segment_size": kept}}


def _looked_at(searcher: tantivy.Searcher) -> Version:
    """A version of the index, known by the largest seq and pk it holds."""
    request = {"seq": {"max": {"field": "seq"}}, "pk": {"max": {"field": "pk"}}}
    found = searcher.aggregate(tantivy.Query.all_query(), request)
    seq, pk = (int(found[name]["value"] or 0) for name in ("seq", "pk"))
    return Version(searcher, seq, pk)


def _date_order(query: ArticleQuery) -> tuple[str, tantivy.Order]:
    """The fast field and direction of a date order: each puts undated articles last."""
    if query.sort == "published_at":
        return "oldest_key", tantivy.Order.Asc
    return "sort_key", tantivy.Order.Desc


def _past(
    ranked: list[tuple[float, int, tantivy.DocAddress]], after: Position | None
) -> list[tuple[float, int, tantivy.DocAddress]]:
    """The hits strictly after a keyset position in best-match order."""
    if after is None:
        return ranked
    bound = (-after[0], -after[1])
    return [hit for hit in ranked if (-hit[0], -hit[1]) > bound]


def _matches(result: tantivy.SearchResult) -> int:
    """The match count of a search run with count=True (tantivy's type stubs omit it)."""
    return result.count  # type: ignore[attr-defined]


def _u64_values(
    searcher: tantivy.Searcher, field: str, addresses: list[tantivy.DocAddress]
) -> list[int]:
    """The values of an unsigned fast field for these hits (the stubs allow any number)."""
    return cast(list[int], searcher.fast_field_values(field, addresses))


def _sample_level(matches: int) -> int:
    """The sample level holding about FACET_SAMPLE_TARGET of the matches (0: all of them)."""
    return min(MAX_SAMPLE_LEVEL, max(0, round(math.log2(max(matches, 1) / FACET_SAMPLE_TARGET))))


def _facet_key(key: int | str) -> str:
    """A facet bucket's key as the API knows it: entity numbers back to ids."""
    return key if isinstance(key, str) else f"{key:016x}"
