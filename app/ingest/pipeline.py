"""Ingest: file -> read -> parse -> extract entities -> load, in batched transactions."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from pathlib import Path
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from app.db import write_session
from app.ingest.files import BadArticleFile, read_article_text
from app.ingest.load import Outcome, Prepared, content_hash, known_hashes, load_articles
from app.ingest.parse import ParseError, parse_article

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor

log = logging.getLogger(__name__)

BATCH_SIZE = 256  # files per transaction: a crash loses at most one uncommitted batch


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
    on_progress: Callable[[int], None] = lambda n: None,
) -> IngestReport:
    """Ingest (path, key) pairs from `iter_article_files`; bad files are reported, not fatal."""
    report = IngestReport()
    files = iter(files)
    while batch := list(islice(files, BATCH_SIZE)):
        prepared = list(_prepare(batch, report, max_bytes=max_bytes))
        _load_batch(prepared, engine=engine, extractor=extractor, report=report)
        on_progress(len(batch))
    return report


def _prepare(batch, report: IngestReport, *, max_bytes: int) -> Iterator[Prepared]:  # type: ignore[no-untyped-def]
    for path, key in batch:
        try:
            text, warnings = read_article_text(path, max_bytes=max_bytes)
            parsed = parse_article(text)
        except (BadArticleFile, ParseError) as error:
            report.failed.append((str(path), str(error)))
            continue
        report.warnings.extend(warnings)
        yield Prepared(origin=f"file:{key}", parsed=parsed, content_hash=content_hash(text))


def _load_batch(
    prepared: list[Prepared],
    *,
    engine: Engine,
    extractor: EntityExtractor | None,
    report: IngestReport,
) -> None:
    with Session(engine) as session:
        known = known_hashes(session, [p.origin for p in prepared])
    changed = [p for p in prepared if known.get(p.origin) != p.content_hash]
    report.counts[Outcome.UNCHANGED] += len(prepared) - len(changed)
    if not changed:
        return
    if extractor is not None:  # extraction is the slow part: only for new or changed articles
        found = extractor.extract(
            [p.parsed for p in changed], n_process=2 if len(changed) > 64 else 1
        )
        for item, entities in zip(changed, found, strict=True):
            item.entities = entities
    with write_session(engine) as session:
        for _, outcome in load_articles(session, changed):
            report.counts[outcome] += 1
