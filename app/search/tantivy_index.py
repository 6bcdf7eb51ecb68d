"""The Tantivy search index: derived from the articles table, rebuilt from it at will.

Only this module writes the index. It indexes every article whose `seq` is past the index's
watermark and moves the watermark only after the index commit, so a crash in between just
re-indexes the articles since the last commit (delete-then-add by id: never a duplicate).

Reading loads one stored document per hit of a page, which holds what a listing shows of the
article (so a search page needs no database read) and the body its snippet is cut from; pks
come from the `sort_key` fast field and stories from `story_key`. Aggregations over huge match
sets (facets, story totals) run on a deterministic sample (`sample`, `story_key`) and say they
are estimates.
Entity fields hold entity ids as numbers: numeric fast fields aggregate without looking terms
up in each segment's dictionary (facets over 'about' at 100k, 7 segments: 6.4 -> 3.9 ms).
"""

from __future__ import annotations

import hashlib
import html
import json
import logging
import math
import os
import re
import shutil
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import NamedTuple, cast

import tantivy
from sqlalchemy import Engine, Row, func, select

from app.models import Article, Entity, Mention, Story
from app.search.base import (
    DAY_SHIFT,
    ENTITY_TYPES,
    PK_MASK,
    ArticleQuery,
    Hit,
    SearchPage,
    key_date,
    sort_key,
)
from app.search.query import (
    FIELD_BOOSTS,
    Highlights,
    Node,
    english_analyzer,
    highlights,
    parse,
    to_tantivy,
)

log = logging.getLogger(__name__)

SCHEMA_VERSION = 6  # bump when the schema changes: the index is then rebuilt from the database
SNIPPET_CHARS = 240
# Snippets are cut from this much of the body around the first match: the generator
# re-analyses and scores all the text it is given (20 snippets of `about` at 100k: 5.3 ms from
# whole bodies, 2.3 ms from 1,000 characters, 1.1 from 480). Two fragments: the first match's
# and the next, in case it holds more of the terms (on the benchmark corpus 1,000 characters,
# four fragments, chose no better ones).
SNIPPET_WINDOW = 480
SNIPPET_LEAD = 150  # of the window, before the first match
PREFIX_EXPANSIONS = 50  # terms a prefix stands for in snippets (tantivy's own limit)
FACET_SIZE = 10
# Samples halve: a document is in sample level k (1/2^k of all documents) when the first k bits
# of a hash of its pk are zero. It is indexed under every level it is in (one term on average),
# so a sample is one posting list (not a union of buckets: 2x cheaper to intersect).
MAX_SAMPLE_LEVEL = 24
# Aggregations scan every match (four facets cost ~0.2 us per match, 0.4 ms per 1,000 sampled
# at 100k), so over more matches than this, facets and story totals are counted on a sample:
FACET_EXACT_MATCHES = 20_000
FACET_SAMPLE_TARGET = 5_000  # about this many matches in the sample (~2 % error on big counts)
RELEVANCE_SLACK = 16  # extra hits fetched so equal scores at a page edge are ordered stably
DEDUPE_WINDOW = 200  # hits read at a time while collapsing a result to one article per story
DEDUPE_ROUNDS = 50  # windows read at most for one page (only huge stories need more than one)
EXACT_STORY_TOTAL = 10_000  # matches up to which a deduplicated total is counted exactly
STORY_KEY_END = 1 << 63  # story keys are spread uniformly below this
NO_STORY = "article:"  # story field of an article not yet in a story: a story of its own
READ_BATCH = 5_000  # articles read from the database at a time while indexing
# A commit makes what was indexed searchable and writes a segment per writer thread; every
# query pays a little for each segment (facets over 'about' at 100k: 2.8 ms on 1 segment, 3.9
# on 7), and tantivy merges them only 8 of a size at a time. So a big catch-up commits seldom
# (the watermark follows): 100k articles end in 4 segments, where 5-second commits left 8.
# Two threads index 15-25 % faster than one, which would halve the segments.
COMMIT_EVERY = 50_000
COMMIT_SECONDS = 30.0
WRITER_HEAP = 512_000_000  # each thread holds its half of COMMIT_EVERY articles (~7 kB each)
WRITER_THREADS = 2
# Stored fields read for each hit (with the date from its sort key): what a listing shows.
STORED_FIELDS = ("id", "title", "source", "author", "body", "word_count", "story")
# Threads that count facets beside the searching thread (one per core is enough to overlap).
_AGGREGATIONS = ThreadPoolExecutor(max_workers=os.cpu_count() or 1, thread_name_prefix="facets")
_U64 = (1 << 64) - 1
_HEX_ID = re.compile(r"[0-9a-f]{16}")


def sample_levels(pk: int) -> range:
    """The sample levels an article is in: its hash is splitmix64 of its pk, uniform even
    though pks are consecutive and correlate with dates."""
    z = (pk + 0x9E3779B97F4A7C15) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    leading_zeros = 64 - (z ^ (z >> 31)).bit_length()
    return range(1, min(leading_zeros, MAX_SAMPLE_LEVEL) + 1)


def entity_number(entity_id: str) -> int | None:
    """An entity id as the number its fast field holds: ids are 16 hex digits (`stable_id`),
    so the number is the id; anything else cannot be indexed (None)."""
    return int(entity_id, 16) if _HEX_ID.fullmatch(entity_id) else None


def story_key(story: str) -> int:
    """A story id as a number, readable as a fast field (string ones are not, in tantivy-py);
    63 bits, so collisions are negligible and it fits an i64."""
    return int.from_bytes(hashlib.blake2b(story.encode(), digest_size=8).digest()) >> 1


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Stored: what a listing shows of an article (STORED_FIELDS), and the body for snippets.
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    builder.add_text_field(
        "source", stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    builder.add_text_field("author", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("word_count", stored=True)
    for name in ENTITY_TYPES:
        builder.add_unsigned_field(name, fast=True, indexed=True)
    builder.add_text_field(
        "story", stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    for name in ("story_key", "sort_key"):
        builder.add_integer_field(name, fast=True, indexed=True)
    builder.add_integer_field("sample", indexed=True)
    return builder.build()


_Changed = tuple[Row, set[tuple[str, str]]]  # an article to index and its (type, entity id)s


class _Ranked(NamedTuple):
    """One page of hits (with their addresses, for snippets), the total, and the matches."""

    hits: list[tuple[Hit, tantivy.DocAddress]]
    total: int
    has_more: bool
    matches: int  # articles matching (total counts stories when deduplicating)
    total_estimated: bool = False


class IndexBusy(RuntimeError):
    """Another process holds the index writer (it will do the indexing)."""


class TantivyIndex:
    """Full-text search over articles, with filters, facets and keyset pages inside the index."""

    def __init__(self, path: Path, engine: Engine) -> None:
        self.path = path
        self.engine = engine
        self._prepare_directory()
        self.schema = _build_schema()
        self.index = tantivy.Index(self.schema, path=str(path), reuse=True)
        self.analyzer = english_analyzer()
        self._writer: tantivy.IndexWriter | None = None
        self._write_lock = threading.Lock()

    # -- state on disk -------------------------------------------------------------------

    @property
    def _state_file(self) -> Path:
        return self.path / "newscorpus-state.json"

    def _prepare_directory(self) -> None:
        """Wipe an index built with another schema version; it is rebuilt from the database."""
        self.path.mkdir(parents=True, exist_ok=True)
        state = self._read_state()
        if state is not None and state.get("schema") != SCHEMA_VERSION:
            log.warning("index schema changed: rebuilding %s", self.path)
            shutil.rmtree(self.path)
            self.path.mkdir(parents=True)

    def _read_state(self) -> dict | None:
        try:
            return json.loads(self._state_file.read_text())
        except (FileNotFoundError, ValueError):
            return None

    @property
    def watermark(self) -> int:
        state = self._read_state()
        return int(state["seq"]) if state else 0

    def _save_watermark(self, seq: int) -> None:
        temporary = self._state_file.with_suffix(".tmp")
        temporary.write_text(json.dumps({"schema": SCHEMA_VERSION, "seq": seq}))
        os.replace(temporary, self._state_file)  # atomic: never a half-written watermark

    # -- writing -------------------------------------------------------------------------

    def _acquire_writer(self) -> tantivy.IndexWriter:
        if self._writer is None:
            try:
                self._writer = self.index.writer(heap_size=WRITER_HEAP, num_threads=WRITER_THREADS)
            except ValueError as error:
                if "LockBusy" in str(error):
                    raise IndexBusy("the index is being written by another process") from None
                raise
        return self._writer

    def catch_up(
        self,
        *,
        batch_size: int = READ_BATCH,
        commit_every: int = COMMIT_EVERY,
        more: Callable[[], bool] = lambda: False,
    ) -> int:
        """Index every article changed since the watermark; return how many were indexed.
        Commits every `commit_every` articles or COMMIT_SECONDS, and at the end; the watermark
        moves only after a commit. To follow a load, `more` waits for its next commit and says
        whether the load goes on; until it ends, finding nothing new commits nothing.
        When every article has changed (a re-extraction, `rebuild`), the index is replaced
        in one commit instead: searches see the old one until the new one is whole, and no
        replaced document stays behind (Tantivy drops one only when it merges its segment)."""
        with self._write_lock:
            writer = self._acquire_writer()
            seq = self.watermark
            replacing = self._replaces_all(seq)
            if replacing:  # committed once, at the end
                # A delete like any other, of what was added before it (delete_all_documents
                # also rewinds the writer's operation stamps); emptied segments go at commit.
                writer.delete_documents_by_query(tantivy.Query.all_query())
            every: float = math.inf if replacing else commit_every
            seconds = math.inf if replacing else COMMIT_SECONDS
            done = pending = 0
            last_commit = time.monotonic()
            while True:
                finished = not more()  # asked before looking: a last look follows the end
                while batch := self._changed_since(seq, batch_size):
                    self._add(writer, batch)
                    seq, pending = batch[-1][0].seq, pending + len(batch)
                    if pending >= every or time.monotonic() - last_commit >= seconds:
                        done, pending = self._commit(writer, seq, done + pending), 0
                        last_commit = time.monotonic()
                if finished:
                    break
            if pending or replacing:
                done = self._commit(writer, seq, done + pending)
            if done or replacing:
                self.index.reload()
            return done

    def _replaces_all(self, seq: int) -> bool:
        """Whether the index has documents and every article changed since `seq`: indexing
        them all afresh then costs no more than replacing each."""
        documents = self.index.searcher().num_docs
        if not documents or self.lag() < documents:  # cheap first: fewer changes than that
            return False
        with self.engine.connect() as connection:
            count = select(func.count()).select_from(Article)
            articles = connection.scalar(count) or 0
            changed = connection.scalar(count.where(Article.seq > seq)) or 0
        return changed >= articles

    def _add(self, writer: tantivy.IndexWriter, batch: list[_Changed]) -> None:
        for row, entities in batch:
            writer.delete_documents_by_term("id", row.id)  # an update replaces it
            writer.add_document(self._document(row, entities))

    def _commit(self, writer: tantivy.IndexWriter, seq: int, done: int) -> int:
        writer.commit()
        self._save_watermark(seq)
        return done

    def rebuild(self) -> int:
        """Index the whole articles table again, replacing every document in one commit."""
        with self._write_lock:
            self._save_watermark(0)
        return self.catch_up()

    def close(self) -> None:
        """Release the writer lock so another process can index."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    def _changed_since(self, seq: int, limit: int) -> list[_Changed]:
        """The next articles past `seq` (indexed columns only) with their (type, entity id)s,
        read in one transaction so both selects see the same snapshot."""
        columns = (
            Article.seq,
            Article.pk,
            Article.id,
            Article.title,
            Article.body,
            Article.source,
            Article.author,
            Article.word_count,
            Article.published_at,
            Story.id.label("story"),
        )
        with self.engine.connect() as connection, connection.begin():
            rows = connection.execute(
                select(*columns)
                .outerjoin(Story, Article.story_pk == Story.pk)
                .where(Article.seq > seq)
                .order_by(Article.seq)
                .limit(limit)
            ).all()
            if not rows:
                return []
            mentioned = connection.execute(
                select(Mention.article_pk, Entity.type, Entity.id)
                .join(Entity, Mention.entity_pk == Entity.pk)
                .join(Article, Mention.article_pk == Article.pk)
                .where(Article.seq > seq, Article.seq <= rows[-1].seq)
            ).all()  # fetchall: far cheaper than row-by-row iteration
            entities: dict[int, set[tuple[str, str]]] = defaultdict(set)
            for article_pk, entity_type, entity_id in mentioned:
                entities[article_pk].add((entity_type, entity_id))
        return [(row, entities.get(row.pk, set())) for row in rows]

    def _document(self, row: Row, entities: set[tuple[str, str]]) -> tantivy.Document:
        story = row.story or NO_STORY + row.id
        doc = tantivy.Document(
            id=row.id,
            body=row.body,
            word_count=row.word_count,
            sort_key=sort_key(row.published_at, row.pk),
            story=story,
            story_key=story_key(story),
        )
        for level in sample_levels(row.pk):
            doc.add_integer("sample", level)
        for name in ("title", "source", "author"):
            if value := getattr(row, name):
                doc.add_text(name, value)
        for entity_type, entity_id in sorted(entities):
            if (number := entity_number(entity_id)) is not None:
                doc.add_unsigned(entity_type, number)
        return doc

    # -- reading -------------------------------------------------------------------------

    def lag(self) -> int:
        """Count committed article changes not yet in the index."""
        with self.engine.connect() as connection:
            newest = connection.scalar(select(func.max(Article.seq))) or 0
        return max(0, newest - self.watermark)

    def refresh(self) -> None:
        """See commits made by other processes."""
        self.index.reload()

    def search(self, query: ArticleQuery) -> SearchPage:
        """Run a query with its filters, sort, keyset page and facets, all inside the index."""
        searcher = self.index.searcher()
        node, text_query, matching = self._matching(query)
        relevance = query.sort == "relevance" and text_query is not None
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
        if facets is not None:
            page.facets, page.facets_estimated = facets.result()
        return page

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
        request = {"story": {"terms": {"field": "story", "size": limit}}}
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
        if not (query.published_from or query.published_to):
            return []
        lower = query.published_from.toordinal() << DAY_SHIFT if query.published_from else 1
        upper = (
            ((query.published_to.toordinal() + 1) << DAY_SHIFT) - 1 if query.published_to else None
        )
        return [self._key_range(lower, upper)]

    def _key_range(self, lower: int | None, upper: int | None) -> tantivy.Query:
        return self._int_range("sort_key", lower, upper)

    def _int_range(self, field: str, lower: int | None, upper: int | None) -> tantivy.Query:
        return tantivy.Query.range_query(
            self.schema, field, tantivy.FieldType.Integer, lower_bound=lower, upper_bound=upper
        )

    def _after(self, query: ArticleQuery, key: int | None) -> tantivy.Query | None:
        """The sort keys past `key` in the requested date order (None: no bound)."""
        if key is None:
            return None
        if query.sort == "published_at":
            return self._key_range(key + 1, None)
        return self._key_range(None, key - 1)

    def _count(self, searcher: tantivy.Searcher, matching: tantivy.Query) -> int:
        return _matches(searcher.search(matching, 1, count=True))

    def _by_date(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        after = query.after[1] if query.after is not None else None
        order = tantivy.Order.Asc if query.sort == "published_at" else tantivy.Order.Desc
        result = searcher.search(
            self._and([matching, self._after(query, after)]),
            query.limit + 1,
            count=True,
            order_by_field="sort_key",
            order=order,
        )
        # Past a cursor the count is of what is left: with the hits shown before, the total
        # (exact while the index does not change between pages), without counting again.
        seen = int(query.after[2]) if query.after else 0
        hits = [
            (Hit(key & PK_MASK, None, None, (0.0, key, seen + n + 1)), address)
            for n, (key, address) in enumerate(result.hits[: query.limit])
        ]
        total = seen + _matches(result)
        return _Ranked(hits, total, len(result.hits) > query.limit, total)

    def _ranked_by_score(
        self, searcher: tantivy.Searcher, result
    ) -> list[tuple[float, int, tantivy.DocAddress]]:  # type: ignore[no-untyped-def]
        """(score, sort key, address) best first, equal scores latest first: a stable order."""
        addresses = [address for _, address in result.hits]
        keys = _u64_values(searcher, "sort_key", addresses)
        return sorted(
            zip((score for score, _ in result.hits), keys, addresses, strict=True),
            key=lambda hit: (-hit[0], -hit[1]),
        )

    def _by_relevance(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        # Tantivy cannot search after a score, so fetch the top of the list down to just past
        # the cursor and order ties by sort key ourselves: a stable, repeatable order.
        seen = int(query.after[2]) if query.after else 0
        window = seen + query.limit + 1 + RELEVANCE_SLACK
        result = searcher.search(matching, window, count=True)
        ranked = self._ranked_by_score(searcher, result)
        if query.after is not None:
            after_score, after_key = query.after[0], query.after[1]
            ranked = [r for r in ranked if (-r[0], -r[1]) > (-after_score, -after_key)]
        hits = [
            (Hit(key & PK_MASK, score, None, (score, key, seen + n + 1)), address)
            for n, (score, key, address) in enumerate(ranked[: query.limit])
        ]
        matches = _matches(result)
        return _Ranked(hits, matches, len(ranked) > query.limit, matches)

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
        order = tantivy.Order.Asc if query.sort == "published_at" else tantivy.Order.Desc
        key = query.after[1] if query.after is not None else None
        seen = int(query.after[2]) if query.after else 0
        kept: list[tuple[Hit, tantivy.DocAddress]] = []
        decided: set[int] = set()
        matches = None
        for round_ in range(DEDUPE_ROUNDS):
            window = self._without(self._and([matching, self._after(query, key)]), decided)
            counting = round_ == 0 and query.after is None  # the first read sees every match
            result = searcher.search(
                window, DEDUPE_WINDOW, count=counting, order_by_field="sort_key", order=order
            )
            matches = _matches(result) if counting else matches
            stories = _u64_values(searcher, "story_key", [a for _, a in result.hits])
            for (hit_key, address), story in zip(result.hits, stories, strict=True):
                key = hit_key
                if story in decided:
                    continue
                decided.add(story)
                if self._first_of_story(searcher, matching, story, order) == hit_key:
                    position = (0.0, hit_key, seen + len(kept) + 1)
                    kept.append((Hit(hit_key & PK_MASK, None, None, position), address))
                    if len(kept) > query.limit:
                        break
            if len(kept) > query.limit or len(result.hits) < DEDUPE_WINDOW:
                break
        if matches is None:
            matches = self._count(searcher, matching)
        total, estimated = self._story_total(searcher, matching, matches)
        return _Ranked(kept[: query.limit], total, len(kept) > query.limit, matches, estimated)

    def _first_of_story(
        self, searcher: tantivy.Searcher, matching, story: int, order
    ) -> int | None:  # type: ignore[no-untyped-def]
        """The sort key of the story's first matching article in the requested order."""
        story_query = tantivy.Query.term_query(self.schema, "story_key", story)
        first = searcher.search(
            self._and([matching, story_query]),
            1,
            count=False,
            order_by_field="sort_key",
            order=order,
        ).hits
        return first[0][0] if first else None

    def _best_once(self, searcher: tantivy.Searcher, matching, query: ArticleQuery) -> _Ranked:  # type: ignore[no-untyped-def]
        # As _by_relevance, from the top each time: each window read holds the best remaining
        # article of every story it shows, and every story it shows is then decided.
        seen = int(query.after[2]) if query.after else 0
        wanted = seen + query.limit + 1 + RELEVANCE_SLACK
        firsts: list[tuple[float, int, tantivy.DocAddress]] = []
        decided: set[int] = set()
        matches = 0
        for round_ in range(DEDUPE_ROUNDS):
            window = self._without(matching, decided)
            result = searcher.search(window, DEDUPE_WINDOW, count=round_ == 0)
            matches = _matches(result) if round_ == 0 else matches  # the first read sees them all
            ranked = self._ranked_by_score(searcher, result)
            stories = _u64_values(searcher, "story_key", [a for _, _, a in ranked])
            for (score, hit_key, address), story in zip(ranked, stories, strict=True):
                if story not in decided:
                    decided.add(story)
                    firsts.append((score, hit_key, address))
            if len(firsts) >= wanted or len(result.hits) < DEDUPE_WINDOW:
                break
        if query.after is not None:
            after = (-query.after[0], -query.after[1])
            firsts = [f for f in firsts if (-f[0], -f[1]) > after]
        hits = [
            (Hit(hit_key & PK_MASK, score, None, (score, hit_key, seen + n + 1)), address)
            for n, (score, hit_key, address) in enumerate(firsts[: query.limit])
        ]
        total, estimated = self._story_total(searcher, matching, matches)
        return _Ranked(hits, total, len(firsts) > query.limit, matches, estimated)

    def _story_total(self, searcher: tantivy.Searcher, matching, matches: int) -> tuple[int, bool]:  # type: ignore[no-untyped-def]
        """Count the stories with matching articles, and whether it is an estimate: exactly up
        to EXACT_STORY_TOTAL matches; beyond, Tantivy's cardinality estimate (HyperLogLog,
        within a few percent) over a sample of the stories, scaled up. Stories are sampled
        by key, not articles: a story is in the sample with all its articles or not at all."""
        if matches <= EXACT_STORY_TOTAL:
            request = {"story": {"terms": {"field": "story", "size": max(matches, 1)}}}
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
        first_match = _FirstMatch(terms, set(words), self.analyzer)
        return lambda body: _marked(_snippet(generator, body, first_match))

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
        request = {name: {"terms": {"field": name, "size": FACET_SIZE}} for name in query.facets}
        level = _sample_level(matches) if matches > FACET_EXACT_MATCHES else 0
        if level:
            _, matching = self._built(node, query, sample=level)
        result = searcher.aggregate(matching, request)
        facets: dict[str, list[tuple[str, int]]] = {
            name: [(_facet_key(b["key"]), b["doc_count"] << level) for b in result[name]["buckets"]]
            for name in query.facets
        }
        return facets, level > 0


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


# Text where Python and the index's tokenizer agree on every character (which are letters or
# digits, and their lower case; checked against tantivy for each one), so that _FirstMatch
# finding no match proves there is none: Latin scripts, general punctuation, currency signs.
# (U+0130 lower-cases to two characters.)
_CHECKED_TEXT = re.compile(r"[\x00-\u012f\u0131-\u02ff\u2000-\u20cf]*")
_TOKEN = re.compile(r"[^\W_]+")


class _FirstMatch:
    """Where the first match of a query in a lower-cased body starts: its first phrase, else
    its first highlighted term. A word begins with its stem but for the stem's last character
    ("hoping" is "hope"), two of a three-letter stem ("dying" is "die"), none of a shorter
    one: true of all 321k words of wordfreq's large English list. So the stems' beginnings
    find every word that may match, and the analyzer tells which ones do (each word analysed
    once per page). No character to spare: "their" would look at every "the"."""

    def __init__(self, terms: Highlights, words: set[str], analyzer: tantivy.TextAnalyzer):
        stems = [_stem_start(w) for w in terms.words]
        stems += [p[: max(1, len(p) - 2)] for p in terms.prefixes]  # of stems of any length
        self.phrases = _any_of(terms.phrases)
        self.words = _any_of(stems)
        self.highlighted, self.analyzer = words, analyzer
        self.matches: dict[str, bool] = {}

    def __call__(self, lowered: str) -> int | None:
        at = _token_start(self.phrases, lowered, lambda _: True) if self.phrases else None
        return at if at is not None else _token_start(self.words, lowered, self._matches)

    def _matches(self, word: str) -> bool:
        if (known := self.matches.get(word)) is None:
            known = not self.highlighted.isdisjoint(self.analyzer.analyze(word))
            self.matches[word] = known
        return known


def _stem_start(stem: str) -> str:
    """What every word with this stem begins with (see _FirstMatch)."""
    if len(stem) > 3:
        return stem[:-1]
    return stem[:1] if len(stem) == 3 else stem


def _any_of(needles: Sequence[str]) -> re.Pattern[str] | None:
    # No \b: a pattern that starts with one is tried at every character (10x slower).
    return re.compile("|".join(map(re.escape, needles))) if needles else None


def _token_start(pattern, lowered: str, accept) -> int | None:  # type: ignore[no-untyped-def]
    """The first match of the pattern at the start of a word that `accept`s that word."""
    for found in pattern.finditer(lowered):
        at, word = found.start(), _TOKEN.match(lowered, found.start())
        if word and (at == 0 or not lowered[at - 1].isalnum()) and accept(word[0]):
            return at
    return None


def _snippet(
    generator: tantivy.SnippetGenerator, body: str, first_match: _FirstMatch
) -> tantivy.Snippet | None:
    """The snippet from the window around the first match; none if the body has no match; from
    the whole body if the window shows none (rare: unchecked text, or an odd phrase)."""
    at = first_match(body.lower())
    if at is None and _CHECKED_TEXT.fullmatch(body):
        return None
    window = _window(body, at or 0)
    snippet = generator.snippet_from_doc(tantivy.Document(body=window))
    if snippet.highlighted() or at is None or window is body:
        return snippet
    return generator.snippet_from_doc(tantivy.Document(body=body))


def _window(body: str, at: int) -> str:
    """SNIPPET_WINDOW characters of the body from just before `at`, cut at spaces."""
    if len(body) <= SNIPPET_WINDOW:
        return body
    start = max(0, at - SNIPPET_LEAD)
    end = start + SNIPPET_WINDOW
    if start > 0:  # not from the middle of a word
        space = body.find(" ", start, at)
        start = space + 1 if space >= 0 else start
    if end < len(body):
        space = body.rfind(" ", at, end)
        end = space if space >= 0 else end
    return body[start:end]


def _marked(snippet: tantivy.Snippet | None) -> str | None:
    """Render a snippet as HTML-escaped text with matches wrapped in <mark>."""
    if snippet is None or not (fragment := snippet.fragment().encode()):  # spans: byte offsets
        return None
    parts, cursor = [], 0
    for span in snippet.highlighted():
        parts.append(html.escape(fragment[cursor : span.start].decode()))
        parts.append(f"<mark>{html.escape(fragment[span.start : span.end].decode())}</mark>")
        cursor = span.end
    parts.append(html.escape(fragment[cursor:].decode()))
    return "".join(parts)
