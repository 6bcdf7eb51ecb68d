"""`extract --pending` as many workers on one PostgreSQL database: leases, a worker killed
mid-batch, every article extracted exactly once, and the counts `status` shows."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
from collections import Counter
from pathlib import Path

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from app.ingest.workers import extract_shared, extraction_counts
from app.models import ExtractionLease
from tests.conftest import ingest, make_settings, migrated_engine

pytestmark = pytest.mark.postgresql_only("workers on many hosts share one PostgreSQL database")

ARTICLES = 24
PLACES = ["Valletta", "Lisbon", "Tallinn", "Riga", "Oslo", "Porto"]

# What `kill -9` mid-batch leaves behind: a worker that has leased a batch, and dies before it
# commits any entity.
DIES_MID_BATCH = """
import sys, time
from sqlalchemy import create_engine
from app.ingest.workers import CLAIM
engine = create_engine(sys.argv[1])
with engine.begin() as connection:
    claim = {"after": 0, "size": 5, "lease": 2.0, "worker": "doomed"}
    leased = len(connection.scalars(CLAIM, claim).all())
print(leased, flush=True)  # committed: the lease is there for the others to see
time.sleep(600)
"""


def corpus(directory: Path) -> Path:
    directory.mkdir()
    for n in range(ARTICLES):
        here, there = PLACES[n % 6], PLACES[(n + 1) % 6]
        (directory / f"{n:03d}.txt").write_text(
            f"Harbour news {n}\n\nThe harbour of {here} reopened on Monday, said Maria "
            f"Camilleri of Transport Malta. Ferry number {n} sailed for {there}.\n"
        )
    return directory


class Recording:
    """The session's extractor, one thread at a time (spaCy's pipeline is not shared across
    threads), noting every body it was given."""

    def __init__(self, extractor) -> None:  # type: ignore[no-untyped-def]
        self.extractor = extractor
        self.lock = threading.Lock()
        self.bodies: Counter[str] = Counter()

    def extract(self, parsed, **options):  # type: ignore[no-untyped-def]
        with self.lock:
            self.bodies.update(p.body for p in parsed)
            return self.extractor.extract(parsed, **options)


def test_two_workers_and_a_killed_one_extract_every_article_once(
    tmp_path: Path,
    extractor,  # type: ignore[no-untyped-def]
) -> None:
    settings = make_settings(tmp_path / "data")
    engine = migrated_engine(settings)
    ingest(engine, [corpus(tmp_path / "corpus")], None)  # as `ingest --no-extract`
    doomed = subprocess.Popen(
        [sys.executable, "-c", DIES_MID_BATCH, settings.resolved_database_url],
        stdout=subprocess.PIPE,
        text=True,
        cwd=Path(__file__).resolve().parents[2],
    )
    try:
        assert doomed.stdout is not None and doomed.stdout.readline().strip() == "5"
    finally:
        os.kill(doomed.pid, signal.SIGKILL)
        doomed.wait()
    with Session(engine) as session:
        assert extraction_counts(session).claimed == 5  # its batch waits for the lease to end

    recording = Recording(extractor)
    done: list[int] = []
    workers = [
        threading.Thread(
            target=lambda n=n: done.append(
                extract_shared(
                    engine=engine,
                    extractor=recording,  # type: ignore[arg-type]
                    batch_size=3,
                    lease_seconds=30,
                    worker=f"worker-{n}",
                )
            )
        )
        for n in range(2)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()

    assert sum(done) == ARTICLES and len(recording.bodies) == ARTICLES
    assert set(recording.bodies.values()) == {1}  # no article extracted twice
    with Session(engine) as session:
        counts = extraction_counts(session)
        assert (counts.pending, counts.claimed, counts.done) == (0, 0, ARTICLES)
        assert session.scalar(select(func.count()).select_from(ExtractionLease)) == 0
