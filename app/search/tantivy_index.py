"""The Tantivy search index: derived from the articles table, rebuilt from it at will.

Only this module writes the index. It indexes every article whose `seq` is past the index's
watermark and moves the watermark only after the index commit, so a crash in between just
re-indexes a few articles (delete-then-add by id: never a duplicate).
"""

from __future__ import annotations

import html
import json
import logging
import os
import shutil
import threading
from collections.abc import Iterable, Sequence
from datetime import date
from pathlib import Path

import tantivy
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session, selectinload

from app.models import Article, Mention
from app.search.base import ENTITY_TYPES, ArticleQuery, Hit, SearchPage
from app.search.query import FIELD_BOOSTS, build_query, english_analyzer

log = logging.getLogger(__name__)

SCHEMA_VERSION = 2  # bump when the schema changes: the index is then rebuilt from the database
DAY_SHIFT = 40  # sort key = day ordinal << 40 | article pk: unique, and ordered by date first
SNIPPET_CHARS = 240
FACET_SIZE = 10
RELEVANCE_SLACK = 16  # extra hits fetched so equal scores at a page edge are ordered stably
DEDUPE_WINDOW = 200  # hits read at a time while collapsing a result to one article per story
DEDUPE_ROUNDS = 50  # windows read at most for one page (only huge stories need more than one)
EXACT_STORY_TOTAL = 10_000  # matches up to which a deduplicated total is counted exactly
NO_STORY = "article:"  # story field of an article not yet in a story: a story of its own


def sort_key(published_at: date | None, pk: int) -> int:
    """Order articles by date then pk; undated articles sort as the oldest."""
    day = published_at.toordinal() if published_at else 0
    return (day << DAY_SHIFT) | pk


def _build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    for name in ("source", *ENTITY_TYPES):
        builder.add_text_field(name, fast=True, tokenizer_name="raw", index_option="basic")
    builder.add_text_field(
        "story", stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    builder.add_integer_field("sort_key", fast=True, indexed=True)
    return builder.build()


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
                self._writer = self.index.writer(heap_size=128_000_000, num_threads=1)
            except ValueError as error:
                if "LockBusy" in str(error):
                    raise IndexBusy("the index is being written by another process") from None
                raise
        return self._writer

    def catch_up(self, *, batch_size: int = 1000) -> int:
        """Index every article changed since the watermark; return how many were indexed."""
        with self._write_lock:
            writer = self._acquire_writer()
            done = 0
            while batch := self._changed_since(self.watermark, batch_size):
                for article in batch:
                    writer.delete_documents_by_term("id", article.id)
                    writer.add_document(self._document(article))
                writer.commit()
                self._save_watermark(batch[-1].seq)
                done += len(batch)
            if done:
                self.index.reload()
            return done

    def rebuild(self) -> int:
        """Drop every document and index the whole articles table again."""
        with self._write_lock:
            writer = self._acquire_writer()
            writer.delete_all_documents()
            writer.commit()
            self._save_watermark(0)
        return self.catch_up()

    def close(self) -> None:
        """Release the writer lock so another process can index."""
        with self._write_lock:
            if self._writer is not None:
                self._writer.wait_merging_threads()
                self._writer = None

    def _changed_since(self, seq: int, limit: int) -> Sequence[Article]:
        with Session(self.engine) as session:
            statement = (
                select(Article)
                .where(Article.seq > seq)
                .order_by(Article.seq)
                .limit(limit)
                .options(
                    selectinload(Article.mentions).selectinload(Mention.entity),
                    selectinload(Article.story),
                )
            )
            return session.scalars(statement).all()

    def _document(self, article: Article) -> tantivy.Document:
        doc = tantivy.Document(
            id=article.id,
            title=article.title or "",
            body=article.body,
            sort_key=sort_key(article.published_at, article.pk),
            story=article.story.id if article.story else NO_STORY + article.id,
        )
        if article.source:
            doc.add_text("source", article.source)
        for entity_type, entity_id in sorted(
            {(m.entity.type, m.entity.id) for m in article.mentions}
        ):
            doc.add_text(entity_type, entity_id)
        return doc

    # -- reading -------------------------------------------------------------------------

    def lag(self) -> int:
        """Count committed article changes not yet in the index."""
        with Session(self.engine) as session:
            newest = session.scalar(select(func.max(Article.seq))) or 0
        return max(0, newest - self.watermark)

    def refresh(self) -> None:
        """See commits made by other processes."""
        self.index.reload()

    def search(self, query: ArticleQuery) -> SearchPage:
        """Run a query with its filters, sort, keyset page and facets, all inside the index."""
        searcher = self.index.searcher()
        text_query, matching = self._matching(query)
        relevance = query.sort == "relevance" and text_query is not None
        if query.dedupe:
            ranked = self._best_once if relevance else self._first_once
            hits, total, has_more = ranked(searcher, matching, query)
        elif relevance:
            hits, total, has_more = self._by_relevance(searcher, matching, query)
        else:
            hits, total, has_more = self._by_date(searcher, matching, query)
        if text_query is not None:
            self._add_snippets(searcher, text_query, hits)
        facets = self._facets(searcher, matching, query.facets) if query.facets else {}
        return SearchPage(hits=hits, total=total, has_more=has_more, facets=facets)

    def _matching(self, query: ArticleQuery) -> tuple[tantivy.Query | None, tantivy.Query]:
        """Build the text query (None without text) and the full query with every filter."""
        text_query = (
            build_query(
                query.text, schema=self.schema, analyzer=self.analyzer, field_boosts=FIELD_BOOSTS
            )
            if query.text
            else None
        )
        return text_query, self._and([text_query, *self._filters(query)])

    def _and(self, queries: Iterable[tantivy.Query | None]) -> tantivy.Query:
        clauses = [(tantivy.Occur.Must, q) for q in queries if q is not None]
        return tantivy.Query.boolean_query(clauses) if clauses else tantivy.Query.all_query()

    def stories(self, query: ArticleQuery, *, limit: int) -> tuple[list[tuple[str, int]], int]:
        """List the stories with matching articles, the most matching first (an aggregation
        over the whole match set, inside the index)."""
        searcher = self.index.searcher()
        _, matching = self._matching(query)
        request = {"story": {"terms": {"field": "story", "size": limit}}}
        buckets = searcher.aggregate(matching, request)["story"]["buckets"]
        found = [(b["key"], b["doc_count"]) for b in buckets if not b["key"].startswith(NO_STORY)]
        total = len(buckets) if len(buckets) < limit else self._story_total(searcher, matching)
        return found, total

    def _filters(self, query: ArticleQuery) -> list[tantivy.Query]:
        filters = []
        if query.story is not None:
            filters.append(tantivy.Query.term_query(self.schema, "story", query.story))
        if query.sources:
            filters.append(tantivy.Query.term_set_query(self.schema, "source", list(query.sources)))
        for entity in query.entities:
            filters.append(tantivy.Query.term_set_query(self.schema, entity.type, list(entity.ids)))
        if query.published_from or query.published_to:
            lower = query.published_from.toordinal() << DAY_SHIFT if query.published_from else 1
            upper = (
                ((query.published_to.toordinal() + 1) << DAY_SHIFT) - 1
                if query.published_to
                else None
            )
            filters.append(self._key_range(lower, upper))
        return filters

    def _key_range(self, lower: int | None, upper: int | None) -> tantivy.Query:
        return tantivy.Query.range_query(
            self.schema, "sort_key", tantivy.FieldType.Integer, lower_bound=lower, upper_bound=upper
        )

    def _by_date(self, searcher, matching, query: ArticleQuery) -> tuple[list[Hit], int, bool]:  # type: ignore[no-untyped-def]
        descending = query.sort != "published_at"
        page_query = matching
        if query.after is not None:
            key = query.after[1]
            bound = self._key_range(None, key - 1) if descending else self._key_range(key + 1, None)
            page_query = self._and([matching, bound])
        order = tantivy.Order.Desc if descending else tantivy.Order.Asc
        result = searcher.search(
            page_query, query.limit + 1, count=True, order_by_field="sort_key", order=order
        )
        total = result.count if query.after is None else searcher.search(matching, 1).count
        seen = int(query.after[2]) if query.after else 0
        hits = [
            Hit(self._id(searcher, address), None, None, (0.0, key, seen + n + 1))
            for n, (key, address) in enumerate(result.hits[: query.limit])
        ]
        return hits, total, len(result.hits) > query.limit

    def _by_relevance(self, searcher, matching, query: ArticleQuery) -> tuple[list[Hit], int, bool]:  # type: ignore[no-untyped-def]
        # Tantivy cannot search after a score, so fetch the top of the list down to just past
        # the cursor and order ties by sort key ourselves: a stable, repeatable order.
        seen = int(query.after[2]) if query.after else 0
        window = seen + query.limit + 1 + RELEVANCE_SLACK
        result = searcher.search(matching, window, count=True)
        addresses = [address for _, address in result.hits]
        keys = searcher.fast_field_values("sort_key", addresses)
        ranked = sorted(
            zip((score for score, _ in result.hits), keys, addresses, strict=True),
            key=lambda hit: (-hit[0], -hit[1]),
        )
        if query.after is not None:
            after_score, after_key = query.after[0], query.after[1]
            ranked = [r for r in ranked if (-r[0], -r[1]) > (-after_score, -after_key)]
        page = ranked[: query.limit]
        hits = [
            Hit(self._id(searcher, address), score, None, (score, key, seen + n + 1))
            for n, (score, key, address) in enumerate(page)
        ]
        return hits, result.count, len(ranked) > query.limit

    def _id(self, searcher, address) -> str:  # type: ignore[no-untyped-def]
        return searcher.doc(address)["id"][0]

    # -- one article per story -------------------------------------------------------------
    # An article stands for its story when it is the first of the story's matching articles
    # in the requested order, so a page never depends on what earlier pages showed: keyset
    # cursors stay valid. Stories already decided are excluded from the next window read, so
    # a story with thousands of matches costs one look, not thousands.

    def _id_and_story(self, searcher, address) -> tuple[str, str]:  # type: ignore[no-untyped-def]
        doc = searcher.doc(address)
        return doc["id"][0], doc["story"][0]

    def _without(self, matching: tantivy.Query, stories: set[str]) -> tantivy.Query:
        if not stories:
            return matching
        excluded = tantivy.Query.term_set_query(self.schema, "story", sorted(stories))
        return tantivy.Query.boolean_query(
            [(tantivy.Occur.Must, matching), (tantivy.Occur.MustNot, excluded)]
        )

    def _first_once(self, searcher, matching, query: ArticleQuery) -> tuple[list[Hit], int, bool]:  # type: ignore[no-untyped-def]
        descending = query.sort != "published_at"
        order = tantivy.Order.Desc if descending else tantivy.Order.Asc
        key = query.after[1] if query.after is not None else None
        seen = int(query.after[2]) if query.after else 0
        kept: list[Hit] = []
        decided: set[str] = set()
        for _ in range(DEDUPE_ROUNDS):
            bound = None
            if key is not None:
                bound = (
                    self._key_range(None, key - 1) if descending else self._key_range(key + 1, None)
                )
            window = self._without(self._and([matching, bound]), decided)
            result = searcher.search(
                window, DEDUPE_WINDOW, count=False, order_by_field="sort_key", order=order
            )
            for hit_key, address in result.hits:
                key = hit_key
                article_id, story = self._id_and_story(searcher, address)
                if story in decided:
                    continue
                decided.add(story)
                story_query = tantivy.Query.term_query(self.schema, "story", story)
                first = searcher.search(
                    self._and([matching, story_query]),
                    1,
                    count=False,
                    order_by_field="sort_key",
                    order=order,
                ).hits
                if first and first[0][0] == hit_key:
                    kept.append(Hit(article_id, None, None, (0.0, hit_key, seen + len(kept) + 1)))
                    if len(kept) > query.limit:
                        break
            if len(kept) > query.limit or len(result.hits) < DEDUPE_WINDOW:
                break
        return kept[: query.limit], self._story_total(searcher, matching), len(kept) > query.limit

    def _best_once(self, searcher, matching, query: ArticleQuery) -> tuple[list[Hit], int, bool]:  # type: ignore[no-untyped-def]
        # As _by_relevance, from the top each time: each window read holds the best remaining
        # article of every story it shows, and every story it shows is then decided.
        seen = int(query.after[2]) if query.after else 0
        wanted = seen + query.limit + 1 + RELEVANCE_SLACK
        firsts: list[tuple[float, int, str]] = []
        decided: set[str] = set()
        for _ in range(DEDUPE_ROUNDS):
            result = searcher.search(self._without(matching, decided), DEDUPE_WINDOW, count=False)
            addresses = [address for _, address in result.hits]
            keys = searcher.fast_field_values("sort_key", addresses)
            ranked = sorted(
                zip((score for score, _ in result.hits), keys, addresses, strict=True),
                key=lambda hit: (-hit[0], -hit[1]),
            )
            for score, hit_key, address in ranked:
                article_id, story = self._id_and_story(searcher, address)
                if story not in decided:
                    decided.add(story)
                    firsts.append((score, hit_key, article_id))
            if len(firsts) >= wanted or len(result.hits) < DEDUPE_WINDOW:
                break
        if query.after is not None:
            after = (-query.after[0], -query.after[1])
            firsts = [f for f in firsts if (-f[0], -f[1]) > after]
        hits = [
            Hit(article_id, score, None, (score, hit_key, seen + n + 1))
            for n, (score, hit_key, article_id) in enumerate(firsts[: query.limit])
        ]
        return hits, self._story_total(searcher, matching), len(firsts) > query.limit

    def _story_total(self, searcher, matching) -> int:  # type: ignore[no-untyped-def]
        """Count the stories with matching articles: exactly up to EXACT_STORY_TOTAL matches,
        beyond that Tantivy's cardinality estimate (HyperLogLog, within a few percent)."""
        matches = searcher.search(matching, 1, count=True).count
        if matches <= EXACT_STORY_TOTAL:
            request = {"story": {"terms": {"field": "story", "size": max(matches, 1)}}}
            return len(searcher.aggregate(matching, request)["story"]["buckets"])
        return int(searcher.cardinality(matching, "story"))

    def _add_snippets(self, searcher, text_query: tantivy.Query, hits: list[Hit]) -> None:  # type: ignore[no-untyped-def]
        if not hits:
            return
        generator = tantivy.SnippetGenerator.create(searcher, text_query, self.schema, "body")
        generator.set_max_num_chars(SNIPPET_CHARS)
        by_id = {hit.article_id: hit for hit in hits}
        ids_query = tantivy.Query.term_set_query(self.schema, "id", list(by_id))
        for _, address in searcher.search(ids_query, len(hits)).hits:
            doc = searcher.doc(address)
            by_id[doc["id"][0]].snippet = _marked(generator.snippet_from_doc(doc))

    def _facets(self, searcher, matching, names: Iterable[str]) -> dict[str, list[tuple[str, int]]]:  # type: ignore[no-untyped-def]
        request = {name: {"terms": {"field": name, "size": FACET_SIZE}} for name in names}
        result = searcher.aggregate(matching, request)
        return {
            name: [(bucket["key"], bucket["doc_count"]) for bucket in result[name]["buckets"]]
            for name in names
        }


def _marked(snippet: tantivy.Snippet) -> str | None:
    """Render a snippet as HTML-escaped text with matches wrapped in <mark>."""
    fragment = snippet.fragment().encode()  # highlight ranges are byte offsets
    if not fragment:
        return None
    parts, cursor = [], 0
    for span in snippet.highlighted():
        parts.append(html.escape(fragment[cursor : span.start].decode()))
        parts.append(f"<mark>{html.escape(fragment[span.start : span.end].decode())}</mark>")
        cursor = span.end
    parts.append(html.escape(fragment[cursor:].decode()))
    return "".join(parts)
