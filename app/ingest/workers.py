"""Entity extraction spread over any number of processes and hosts on one PostgreSQL database.

Each worker leases a batch of pending articles (rows in `extraction_leases` with an expiry),
extracts them, and commits their entities and the end of its lease together. Why leases rather
than row locks held while extracting (SELECT ... FOR UPDATE SKIP LOCKED alone): a host that
dies without closing its connection (power, network) would hold its rows until TCP gives up,
hours later; a lease ends on time whatever happens to its holder, and `status` can count it.
A worker whose lease has expired writes nothing of that batch (its successor does): an article
is never extracted by two workers at once, nor stored twice.

Stories depend on order, so they wait until no article is pending or leased any more; then one
process at a time (an advisory lock) assigns them, in ingest order, to the articles without one.
"""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Engine, delete, func, select, text
from sqlalchemy.orm import Session

from app.db import write_session
from app.ingest.load import replace_entities
from app.models import Article, ExtractionLease, Mention

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor

STORIES_LOCK = 0x73746F72  # "stor": the advisory lock of story assignment
WAIT_SECONDS = 1.0  # between looks at other workers' leases, once nothing is left to claim

# Pending articles past `after` that nobody holds, a batch of them, leased in one statement.
# SKIP LOCKED: two workers claiming at once take different rows; ON CONFLICT: a lease another
# worker committed after this statement's snapshot is left to it.
CLAIM = text(
    """
    WITH picked AS (
        SELECT a.pk FROM articles a
        WHERE a.pk > :after
          AND NOT EXISTS (SELECT 1 FROM mentions m WHERE m.article_pk = a.pk)
          AND NOT EXISTS (SELECT 1 FROM extraction_leases l WHERE l.article_pk = a.pk)
        ORDER BY a.pk
        LIMIT :size
        FOR NO KEY UPDATE OF a SKIP LOCKED
    )
    INSERT INTO extraction_leases (article_pk, worker, expires_at)
    SELECT pk, :worker, now() + make_interval(secs => :lease) FROM picked
    ON CONFLICT (article_pk) DO NOTHING
    RETURNING article_pk
    """
)
# Leases whose holder let them expire (killed, or stuck): taken over, a batch at a time.
TAKE_OVER = text(
    """
    UPDATE extraction_leases
    SET worker = :worker, expires_at = now() + make_interval(secs => :lease)
    WHERE article_pk IN (
        SELECT article_pk FROM extraction_leases WHERE expires_at <= now()
        ORDER BY article_pk LIMIT :size FOR UPDATE SKIP LOCKED
    )
    RETURNING article_pk
    """
)


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


@dataclass(frozen=True)
class ExtractionCounts:
    pending: int  # without entities and not leased
    claimed: int  # leased by a worker now
    done: int  # with entities


def extraction_counts(session: Session) -> ExtractionCounts:
    """How far extraction has come: pending, claimed (live leases) and done articles."""
    total = session.scalar(select(func.count()).select_from(Article)) or 0
    done = session.scalar(select(func.count(func.distinct(Mention.article_pk)))) or 0
    claimed = (
        session.scalar(select(func.count()).where(ExtractionLease.expires_at > func.now())) or 0
    )
    return ExtractionCounts(pending=total - done - claimed, claimed=claimed, done=done)


def extract_shared(
    *,
    engine: Engine,
    extractor: EntityExtractor,
    batch_size: int,
    lease_seconds: float,
    worker: str | None = None,
    on_progress: Callable[[int], None] = lambda n: None,
) -> int:
    """Extract pending articles beside any number of other workers until none is pending or
    leased; return how many this worker extracted."""
    from app.ingest.pipeline import extract_stored

    worker = worker or worker_name()
    lease = {"worker": worker, "lease": lease_seconds, "size": batch_size}
    done, after = 0, 0
    while True:
        with engine.begin() as connection:
            pks = connection.scalars(CLAIM, lease | {"after": after}).all()
            if pks:
                after = max(pks)
            else:
                pks = connection.scalars(TAKE_OVER, lease).all()
        if not pks:
            if not _others_hold_leases(engine):
                return done
            time.sleep(WAIT_SECONDS)
            continue
        with Session(engine) as session:
            batch = session.scalars(
                select(Article).where(Article.pk.in_(pks)).order_by(Article.pk)
            ).all()
        found = extract_stored(extractor, engine, batch)
        with write_session(engine) as session:
            mine = set(
                session.scalars(
                    delete(ExtractionLease)
                    .where(ExtractionLease.worker == worker, ExtractionLease.article_pk.in_(pks))
                    .returning(ExtractionLease.article_pk)
                )
            )
            replace_entities(
                session, {a.pk: f for a, f in zip(batch, found, strict=True) if a.pk in mine}
            )
        done += len(mine)
        on_progress(len(batch))


def _others_hold_leases(engine: Engine) -> bool:
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(ExtractionLease)) != 0


@contextmanager
def stories_turn(engine: Engine) -> Iterator[None]:
    """Hold the story-assignment lock (PostgreSQL; SQLite's writer lock already serialises)."""
    if engine.dialect.name != "postgresql":
        yield
        return
    with engine.connect() as connection:
        connection.execute(text("SELECT pg_advisory_lock(:k)"), {"k": STORIES_LOCK})
        connection.commit()
        try:
            yield
        finally:
            connection.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": STORIES_LOCK})
            connection.commit()
