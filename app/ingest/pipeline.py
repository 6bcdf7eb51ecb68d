"""Ingest: file -> read -> parse -> extract entities -> load, in batched transactions."""

from __future__ import annotations

import importlib.util
import json
import logging
import os
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Sequence, Sized
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from itertools import chain, islice
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import ColumnElement, Engine, exists, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import refresh_statistics, write_session
from app.failures import USAGE, OperatorError
from app.ingest.files import BadArticleFile, read_article_text
from app.ingest.load import (
    Outcome,
    Prepared,
    StoredCorpus,
    content_hash,
    known_hashes,
    load_articles,
    replace_entities,
)
from app.ingest.parse import ParsedArticle, ParseError, parse_article
from app.lifetime import end_with_parent
from app.models import Article, Mention

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor, FoundEntity

log = logging.getLogger(__name__)

BATCH_SIZE = 256  # files per transaction: a crash loses at most one uncommitted batch
BULK_BATCH_SIZE = 1024  # files per reading task of a bulk load (no extraction, no stories)
# A bulk load's transactions span this many files (a few seconds' work, cheap to redo).
# Each new article goes into random places of the indexes on id, content_hash and
# published_at, and a commit writes every index page it changed to the WAL, then a checkpoint
# to the database: with 1,024 articles a commit, at 1M articles, three index pages for each
# article against one for its row. 32k articles share most of their index pages.
BULK_COMMIT_ROWS = 32_768
# The page cache of a bulk load holds the uncommitted pages of a transaction and every index
# page of a million articles (about 300 MB; it grows only as pages are used), so a commit
# neither spills pages mid-transaction nor reads back what the previous one wrote. Checkpoints
# then run after each commit (it writes more than 20,000 pages). Commits stay as durable: the
# default synchronous=NORMAL in WAL mode.
BULK_PRAGMAS = ("cache_size=-1048576", "wal_autocheckpoint=20000")


@dataclass
class IngestReport:
    counts: dict[Outcome, int] = field(default_factory=lambda: dict.fromkeys(Outcome, 0))
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)

    def summary(self) -> str:
        parts = [f"{n} {outcome}" for outcome, n in self.counts.items()]
        return ", ".join([*parts, f"{len(self.failed)} failed"])


def ingest_files(
    files: Iterable[tuple[Path, str]],
    *,
    engine: Engine,
    extractor: EntityExtractor | None,
    max_bytes: int,
    assign_stories: bool = True,
    processes: int = 1,
    niceness: int = 0,
    on_progress: Callable[[int], None] = lambda n: None,
) -> IngestReport:
    """Ingest (path, key) pairs from `iter_article_files`; bad files are reported, not fatal.
    Without `assign_stories` (bulk loads) articles wait for `stories.restory` to get a story.
    With `processes` > 1, that many worker processes read and parse files ahead of the loader,
    at `niceness` (os.nice) above the caller's."""
    report = IngestReport()
    bulk = extractor is None and not assign_stories
    size = BULK_BATCH_SIZE if bulk else BATCH_SIZE
    batches = _prepared_batches(
        iter(files), size, max_bytes=max_bytes, processes=processes, niceness=niceness
    )
    if bulk:
        total = len(files) if isinstance(files, Sized) else None
        _load_bulk(batches, total=total, engine=engine, report=report, on_progress=on_progress)
        return report
    for batch in batches:
        _note_failures(batch, report)
        _load_batch(
            batch.prepared,
            engine=engine,
            extractor=extractor,
            assign_stories=assign_stories,
            report=report,
        )
        on_progress(batch.size)
    return report


def _load_bulk(
    batches: Iterator[_Batch],
    *,
    total: int | None,
    engine: Engine,
    report: IngestReport,
    on_progress: Callable[[int], None],
) -> None:
    """Load the batches of a bulk load, each as it comes (the readers keep reading meanwhile),
    up to BULK_COMMIT_ROWS files a transaction. The first transactions are smaller (each at
    most as big as all the ones before it) so that the index can start early, and so are the
    last of `total` files (each at most half of what is left) so that it ends soon after."""
    done = planned_for = 0  # files loaded; files loaded when statistics were last refreshed
    for first in batches:
        limit = min(BULK_COMMIT_ROWS, max(done, 1))
        if total is not None:
            limit = min(limit, max((total - done) // 2, 1))
        with write_session(engine) as session:
            tune_for_bulk(session)
            files = 0
            for batch in chain([first], batches):  # the same iterator: the next batches
                _note_failures(batch, report)
                for _, outcome in load_articles(session, batch.prepared, assign_stories=False):
                    report.counts[outcome] += 1
                on_progress(batch.size)
                files += batch.size
                if files >= limit:
                    break
        done += files
        if done >= 2 * planned_for:  # the tables have doubled: plan on their new size
            refresh_statistics(engine)  # (log2(n) times; transactions stop doubling at 32k)
            planned_for = done


def _note_failures(batch: _Batch, report: IngestReport) -> None:
    report.failed.extend(batch.failed)
    report.warnings.extend(batch.warnings)


@dataclass
class _Batch:
    """A batch of files read and parsed: what loads, and what did not."""

    size: int
    prepared: list[Prepared] = field(default_factory=list)
    failed: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    warnings: list[str] = field(default_factory=list)


def _prepared_batches(
    files: Iterator[tuple[Path, str]], size: int, *, max_bytes: int, processes: int, niceness: int
) -> Iterator[_Batch]:
    """Read and parse the files a batch at a time, in order. Worker processes, if any, work at
    most two batches each ahead of the caller: memory stays bounded whatever the corpus size."""
    batches = iter(lambda: list(islice(files, size)), [])
    if processes <= 1:
        yield from (_prepare(batch, max_bytes) for batch in batches)
        return
    pool = ProcessPoolExecutor(
        processes, initializer=_start_reader, initargs=(niceness, os.getpid())
    )
    try:
        ahead: deque[Future[_Batch]] = deque()
        for batch in batches:
            ahead.append(pool.submit(_prepare, batch, max_bytes))
            if len(ahead) > 2 * processes:
                yield ahead.popleft().result()
        while ahead:
            yield ahead.popleft().result()
    finally:
        pool.shutdown(cancel_futures=True)


def _start_reader(niceness: int, loader: int) -> None:
    """Set up a reading process: at `niceness`, and ending with the `loader` process that
    started it, even when that one is killed (the OOM killer) and cannot stop it."""
    os.nice(niceness)
    end_with_parent(loader)


def _prepare(files: list[tuple[Path, str]], max_bytes: int) -> _Batch:
    batch = _Batch(size=len(files))
    for path, key in files:
        try:
            text, warnings = read_article_text(path, max_bytes=max_bytes)
            parsed = parse_article(text)
        except (BadArticleFile, ParseError) as error:
            reason = error.reason if isinstance(error, BadArticleFile) else str(error)
            batch.failed.append((str(path), reason))  # the path is named once, in full
            continue
        batch.warnings.extend(warnings)
        digest = content_hash(text)
        batch.prepared.append(Prepared(origin=f"file:{key}", parsed=parsed, content_hash=digest))
    return batch


def _load_batch(
    prepared: list[Prepared],
    *,
    engine: Engine,
    extractor: EntityExtractor | None,
    assign_stories: bool,
    report: IngestReport,
) -> None:
    with Session(engine) as session:
        known = known_hashes(session, [p.origin for p in prepared])
    changed = [p for p in prepared if known.get(p.origin) != p.content_hash]
    report.counts[Outcome.UNCHANGED] += len(prepared) - len(changed)
    if not changed:
        return
    if extractor is not None:  # extraction is the slow part: only for new or changed articles
        stored = StoredCorpus(
            engine, excluding=_stored_pks(engine, [p for p in changed if p.origin in known])
        )
        found = extractor.extract(
            [p.parsed for p in changed], stored=stored, n_process=2 if len(changed) > 64 else 1
        )
        for item, entities in zip(changed, found, strict=True):
            item.entities = entities
    with write_session(engine) as session:
        for _, outcome in load_articles(session, changed, assign_stories=assign_stories):
            report.counts[outcome] += 1


def _stored_pks(engine: Engine, updated: list[Prepared]) -> list[int]:
    """The pks of the stored versions of updated files (none for new files: no query)."""
    if not updated:
        return []
    with Session(engine) as session:
        statement = select(Article.pk).where(Article.origin.in_([p.origin for p in updated]))
        return list(session.scalars(statement))


def tune_for_bulk(session: Session) -> None:
    """Set BULK_PRAGMAS on the session's connection (SQLite only)."""
    if session.get_bind().dialect.name == "sqlite":
        for pragma in BULK_PRAGMAS:  # per connection, and the pool may hand out another
            session.connection().exec_driver_sql(f"PRAGMA {pragma}")


def ingest_text(
    text: str, *, url: str | None, engine: Engine, extractor: EntityExtractor | None
) -> tuple[str, Outcome]:
    """Ingest one article's raw text, parsed as a file's is (ParseError if it has no body);
    the same text again changes nothing."""
    return _ingest_one(parse_article(text), content_hash(text), url, engine, extractor)


def ingest_article(
    parsed: ParsedArticle,
    *,
    url: str | None,
    engine: Engine,
    extractor: EntityExtractor | None,
) -> tuple[str, Outcome]:
    """Ingest one article given as fields; the same content again changes nothing."""
    fields = [parsed.title, parsed.body, parsed.source, parsed.author, parsed.published_at, url]
    digest = content_hash(json.dumps(fields, default=str))
    return _ingest_one(parsed, digest, url, engine, extractor)


def _ingest_one(
    parsed: ParsedArticle,
    digest: str,
    url: str | None,
    engine: Engine,
    extractor: EntityExtractor | None,
) -> tuple[str, Outcome]:
    """Extract and load one article, unless an article with its content hash is there."""
    with Session(engine) as session:
        existing = session.scalar(select(Article.id).where(Article.content_hash == digest))
    if existing is not None:
        return existing, Outcome.UNCHANGED
    item = Prepared(origin=f"post:{digest}", parsed=parsed, content_hash=digest, url=url)
    if extractor is not None:
        item.entities = extractor.extract([parsed], stored=StoredCorpus(engine))[0]
    with write_session(engine) as session:
        return load_articles(session, [item])[0]


def load_extractor(settings: Settings) -> EntityExtractor:
    """Load the configured spaCy pipeline (slow: a second or two, once per process)."""
    from app.ingest.entities import EntityExtractor

    require_spacy_model(settings)
    return EntityExtractor(settings.spacy_model, alias_file=settings.aliases_file)


def require_spacy_model(settings: Settings) -> None:
    """Raise OperatorError (a one-line fix) if the configured spaCy pipeline is missing."""
    if not spacy_model_installed(settings.spacy_model):
        raise OperatorError(
            f"the spaCy pipeline {settings.spacy_model!r} (NEWSCORPUS_SPACY_MODEL) is not "
            "installed: install its package into this environment, or unset the setting",
            USAGE,
        )


def spacy_model_installed(name: str) -> bool:
    """Tell, without loading spaCy, whether `name` is an installed pipeline package or a
    pipeline's directory (what spacy.load accepts)."""
    if Path(name).is_dir():
        return True
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError):  # not a module name at all
        return False


# Articles no extraction has seen: a bulk load's (`ingest --no-extract`), or those an
# interrupted extraction did not reach. An article where extraction found no entity at all
# looks the same and is extracted again: harmless, and rare in news.
WITHOUT_ENTITIES: ColumnElement[bool] = ~exists().where(Mention.article_pk == Article.pk)


def reextract(
    *,
    engine: Engine,
    extractor: EntityExtractor,
    batch_size: int = BATCH_SIZE,
    only_pending: bool = False,
    on_progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Run entity extraction again over every article (after a model or alias-table change),
    one committed batch at a time; with `only_pending`, over the articles WITHOUT_ENTITIES."""
    done, last_pk = 0, 0
    while True:
        statement = select(Article).where(Article.pk > last_pk)
        if only_pending:
            statement = statement.where(WITHOUT_ENTITIES)
        with Session(engine) as session:
            batch = session.scalars(statement.order_by(Article.pk).limit(batch_size)).all()
        if not batch:
            return done
        found = extract_stored(extractor, engine, batch)
        with write_session(engine) as session:
            replace_entities(session, {a.pk: f for a, f in zip(batch, found, strict=True)})
        done, last_pk = done + len(batch), batch[-1].pk
        on_progress(len(batch))


def extract_stored(
    extractor: EntityExtractor, engine: Engine, articles: Sequence[Article]
) -> list[list[FoundEntity]]:
    """Extract stored articles again, the corpus's other articles voting on types."""
    stored = StoredCorpus(engine, excluding=[a.pk for a in articles])
    parsed = [_as_parsed(a) for a in articles]
    return extractor.extract(parsed, stored=stored, n_process=_processes(len(articles)))


def _as_parsed(article: Article) -> ParsedArticle:
    return ParsedArticle(
        body=article.body,
        title=article.title,
        published_at=article.published_at,
        author=article.author,
        source=article.source,
        credits=list(article.credits),
        photo_credit=article.photo_credit,
    )


def _processes(batch: int) -> int:
    """Fork a second spaCy worker only when the batch is big enough to pay for it."""
    return 2 if batch > 64 else 1
