"""A full disk: ingest says so in one line and leaves the database whole; the server starts,
serves reads with the index it has, says why it is not ready, refuses writes with 507, and
its indexer backs off, then catches up once there is space again."""

from __future__ import annotations

import contextlib
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, text
from sqlalchemy.orm import Session

from app.main import create_app
from app.models import Article
from app.search.tantivy_index import TantivyIndex
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.operations.helpers import invoke, one_line_error

KEY = "disk-full-test-key"
NEW = {"title": "Fresh", "body": "A new article that needs a little room on the disk."}


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A 4 MB file system of its own (a tmpfs: mounting one needs root)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs to fill needs root")
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", mount], check=True)
    try:
        yield mount
    finally:
        subprocess.run(["umount", "--lazy", mount], check=True)


def _fill(disk: Path) -> Path:
    """Write a file until the disk is full; return it (deleting it frees the space)."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as file, contextlib.suppress(OSError):
        while True:
            file.write(b"\0" * 4096)
    return filler


def _articles(engine) -> int:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return session.scalar(select(func.count()).select_from(Article)) or 0


def _wait_for(condition, what: str, seconds: float = 90) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds  # a deadline for a hang, not a speed check
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


@pytest.mark.sqlite_only("the database file is on the full disk (a server's is elsewhere)")
def test_a_full_disk(small_disk: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    data = small_disk / "data"
    settings = make_settings(data, api_keys=[KEY])
    engine = migrated_engine(settings)
    TantivyIndex(settings.resolved_index_dir, engine).close()  # the index of a past run: empty
    ingest(engine, [SEEDS], None)  # in the database; not yet in the index
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(200):
        (corpus / f"{n:03d}.txt").write_text(f"Headline {n}\n\n" + f"Words of article {n}. " * 500)
    filler = _fill(small_disk)

    # Ingest: one line naming the place and the space, exit status 1, the database whole.
    env = {"NEWSCORPUS_DATA_DIR": str(data)}
    line = one_line_error(invoke("ingest", "--no-extract", corpus, cwd=tmp_path, env=env), 1)
    assert "the disk is full" in line and str(data) in line and "needed" in line
    with engine.connect() as connection:
        assert connection.execute(text("PRAGMA integrity_check")).scalar() == "ok"
    assert _articles(engine) == 3

    # The server starts and serves reads; it is not ready, and says why; writes get 507.
    with TestClient(create_app(settings)) as client:
        assert client.get("/articles").json()["total"] == 3  # listed from the database
        ready = client.get("/readyz")
        assert ready.status_code == 503 and "the disk is full" in ready.json()["detail"]
        written = client.post("/articles", json=NEW, headers={"X-API-Key": KEY})
        assert written.status_code == 507, written.text
        assert "disk is full" in written.json()["detail"]
        assert client.app.state.indexer.delay > settings.index_poll_seconds  # backing off
        indexer_logs = [r for r in caplog.records if r.name == "app.indexer"]
        assert indexer_logs and not any(r.exc_info for r in indexer_logs)  # lines, no traceback

        filler.unlink()  # space again: the indexer catches up on its own
        _wait_for(lambda: client.get("/readyz").status_code == 200, "never ready again")
        assert client.get("/readyz").json()["index_lag"] == 0
        assert client.get("/articles?q=headline").json()["total"] == 0  # seeds have no such word
        assert client.get("/articles?q=the").json()["total"] == 3
    engine.dispose()
