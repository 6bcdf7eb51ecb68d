"""What only PostgreSQL can do to the service: writers at once, locks held by others, lost
connections. (The rest of the suite runs on PostgreSQL too: see tests/conftest.py.)"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, create_engine, func, select, text

from app.db import SessionDep, write_session
from app.ingest.files import iter_article_files
from app.ingest.load import Prepared, content_hash, load_articles
from app.ingest.parse import parse_article
from app.ingest.pipeline import ingest_files
from app.main import create_app
from app.models import Article
from app.search.base import ArticleQuery
from app.search.tantivy_index import TantivyIndex
from tests.api.test_articles import assert_problem
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

pytestmark = pytest.mark.postgresql_only("what PostgreSQL does with concurrent sessions")
KEY = "pg-writers-key-0123456789"


def article(n: int) -> Prepared:
    text = f"Harbour report {n}\n\nThe harbour of town {n} reopened on Monday, officials said.\n"
    return Prepared(f"test:{n}", parse_article(text), content_hash(text))


def test_writers_commit_in_seq_order_so_the_index_misses_nothing(tmp_path: Path) -> None:
    """Writers that number their articles and then dawdle before committing, while an index
    catches up all along: the index's watermark never passes a seq that commits later, so
    every article is indexed once. (Before: 'max(seq) + 1' gave two writers the same seq.)"""
    settings = make_settings(tmp_path)
    engine = migrated_engine(settings)
    index = TantivyIndex(settings.resolved_index_dir, engine)
    writing = threading.Event()

    def writer(first: int) -> None:
        for n in range(first, first + 5):
            with write_session(engine) as session:
                load_articles(session, [article(n)], assign_stories=False)
                time.sleep(0.01 * (n % 3))  # numbered, not yet committed: others must wait

    def follow() -> None:
        while writing.is_set():
            index.catch_up()

    writing.set()
    follower = threading.Thread(target=follow)
    follower.start()
    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(writer, range(0, 40, 5)))
    finally:
        writing.clear()
        follower.join()
    index.catch_up()
    with engine.connect() as connection:
        seqs = connection.scalars(select(Article.seq).order_by(Article.seq)).all()
    assert seqs == list(range(1, 41))  # one number each, none skipped
    assert index.search(ArticleQuery(limit=1)).total == 40
    index.close()


def test_posts_and_ingests_at_once_never_fail(tmp_path: Path, extractor) -> None:  # type: ignore[no-untyped-def]
    """Two bulk loads and many POSTs at the same time: no 5xx, every article stored once and
    indexed once. (Before: 'UniqueViolation uq_articles_seq' as 500s, and a failed load.)"""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(60):
        (corpus / f"{n:03d}.txt").write_text(
            article(1000 + n).parsed.title + "\n\n" + article(1000 + n).parsed.body
        )
    app = create_app(make_settings(tmp_path / "data", api_keys=[KEY]))
    with TestClient(app) as client:
        app.state.extractor = extractor
        engine = app.state.engine

        def post(n: int) -> int:
            body = {"title": f"Ferry {n}", "body": f"The ferry {n} sailed from Valletta on Monday."}
            return client.post("/articles", json=body, headers={"X-API-Key": KEY}).status_code

        def load(_: int) -> int:
            report = ingest_files(
                iter_article_files([corpus]), engine=engine, extractor=None, max_bytes=10**6
            )
            return 500 if report.failed else 201

        with ThreadPoolExecutor(16) as pool:
            loads = [pool.submit(load, n) for n in range(2)]
            statuses = list(pool.map(post, range(40))) + [f.result() for f in loads]
        assert [s for s in statuses if s >= 500] == []
        with engine.connect() as connection:
            stored = connection.execute(
                select(func.count(), func.count(func.distinct(Article.origin)))
            ).one()
        assert tuple(stored) == (100, 100)
        for _ in range(400):  # the server's indexer catches up
            if client.get("/readyz").json()["index_lag"] == 0:
                break
            time.sleep(0.05)
        assert client.get("/articles", params={"limit": 1}).json()["total"] == 100


@pytest.fixture
def admin(backend: str) -> Iterator[Engine]:
    from tests.databases import SERVER

    engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    yield engine
    engine.dispose()


def test_a_locked_table_is_a_503_within_the_budget(tmp_path: Path, extractor) -> None:  # type: ignore[no-untyped-def]
    """A listing waiting behind another session's lock stops at the request's budget with a
    503 and Retry-After, and its connection serves the next request. (Before: it hung.)"""
    settings = make_settings(tmp_path, query_budget_ms=300)
    ingest(migrated_engine(settings), [SEEDS], extractor)
    app = create_app(settings)
    with TestClient(app) as client:
        first = client.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
        locker = create_engine(settings.resolved_database_url)
        with locker.connect() as connection:
            connection.execute(text("LOCK TABLE articles IN ACCESS EXCLUSIVE MODE"))
            # Released whatever happens, so a failing test fails rather than hangs.
            release = threading.Timer(30, connection.connection.dbapi_connection.rollback)
            release.start()
            response = client.get(f"/articles/{first}")
            release.cancel()
            connection.rollback()
        locker.dispose()
        assert_problem(response, 503)
        assert int(response.headers["retry-after"]) >= 1
        assert client.get(f"/articles/{first}").status_code == 200
        with app.state.engine.connect() as connection:  # SET LOCAL ended with its transaction
            assert connection.scalar(text("SHOW statement_timeout")) == "0"


def test_a_lost_connection_is_a_503_in_one_log_line_then_recovers(
    tmp_path: Path, admin: Engine, caplog: pytest.LogCaptureFixture
) -> None:
    """The server drops the connection under a request: 503 with Retry-After and one warning
    line (no traceback); idle pooled connections it dropped are replaced unseen (pre-ping)."""
    settings = make_settings(tmp_path)
    migrated_engine(settings).dispose()
    app = create_app(settings)

    @app.get("/slow")
    def slow(session: SessionDep) -> int:
        return session.execute(text("SELECT 1 FROM pg_sleep(30)")).scalar_one()

    database = settings.resolved_database_url.rsplit("/", 1)[1]

    def terminate(query: str) -> int:
        with admin.connect() as connection:
            return len(
                connection.execute(
                    text(
                        "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                        "WHERE datname = :db AND query LIKE :query AND pid <> pg_backend_pid()"
                    ),
                    {"db": database, "query": query},
                ).all()
            )

    def terminate_the_sleeper() -> None:
        for _ in range(600):
            if terminate("%pg_sleep%"):
                return
            time.sleep(0.05)

    with TestClient(app) as client:
        assert client.get("/articles").status_code == 200
        killer = threading.Thread(target=terminate_the_sleeper)
        killer.start()
        with caplog.at_level(logging.INFO):
            response = client.get("/slow")
        killer.join()
        assert_problem(response, 503)
        assert response.headers["retry-after"] == "1"
        lost = [r for r in caplog.records if "connection lost" in r.getMessage()]
        assert len(lost) == 1 and lost[0].exc_info is None
        assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
        assert client.get("/articles").status_code == 200
        with app.state.engine.connect() as connection:  # one idle in the pool, at least
            connection.execute(text("SELECT 1"))
        assert terminate("%") >= 1  # every connection of the pool, idle ones included
        assert client.get("/articles").status_code == 200
