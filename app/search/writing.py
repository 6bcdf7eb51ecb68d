"""Writing the index: only this module does. It indexes every article whose `seq` is past the
index's watermark and moves the watermark only after the index commit, so a crash in between
just re-indexes the articles since the last commit (delete-then-add by id: never a duplicate).
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import threading
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path

import tantivy
from sqlalchemy import Engine, Row, func, select

from app.models import Article, Entity, Mention, Story
from app.search.base import oldest_key, sort_key
from app.search.schema import (
    NO_STORY,
    SCHEMA_VERSION,
    STATE_FILE,
    entity_number,
    read_state,
    sample_levels,
    story_key,
)

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

_Changed = tuple[Row, set[tuple[str, str]]]  # an article to index and its (type, entity id)s


class IndexBusy(RuntimeError):
    """Another process holds the index writer (it will do the indexing)."""


class IndexWriting:
    """The writing half of TantivyIndex: catch up with the database, rebuild, the watermark."""

    path: Path
    engine: Engine
    index: tantivy.Index
    _writer: tantivy.IndexWriter | None
    _write_lock: threading.Lock
    reload: Callable[[], None]  # IndexReading's: searches see the last commit

    @property
    def watermark(self) -> int:
        state = read_state(self.path)
        return int(state["seq"]) if state else 0

    def _save_watermark(self, seq: int) -> None:
        """Save how far the index is: the seq of the last article change it holds."""
        state = {"schema": SCHEMA_VERSION, "seq": seq}
        temporary = (self.path / STATE_FILE).with_suffix(".tmp")
        temporary.write_text(json.dumps(state))
        os.replace(temporary, self.path / STATE_FILE)  # atomic: never a half-written watermark

    def lag(self) -> int:
        """Count committed article changes not yet in the index."""
        with self.engine.connect() as connection:
            newest = connection.scalar(select(func.max(Article.seq))) or 0
        return max(0, newest - self.watermark)

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
            try:
                return self._catch_up(batch_size, commit_every, more)
            except BaseException:
                self._drop_writer()  # Tantivy kills a writer that failed: the next try needs anew
                raise

    def _catch_up(self, batch_size: int, commit_every: int, more: Callable[[], bool]) -> int:
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
            self.reload()
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

    def _drop_writer(self) -> None:
        """Let go of the writer, its uncommitted work and its lock (after a failure)."""
        writer, self._writer = self._writer, None
        if writer is not None:
            with contextlib.suppress(ValueError):  # a killed writer has nothing left to wait for
                writer.wait_merging_threads()

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
            pk=row.pk,
            seq=row.seq,
            sort_key=sort_key(row.published_at, row.pk),
            oldest_key=oldest_key(row.published_at, row.pk),
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
