"""Shared fixtures: real databases built by Alembic, and the real app, on both backends.

Every test runs on SQLite and on PostgreSQL (`--backend sqlite|postgresql|all`, default all):
the session-scoped `backend` parameter redirects the default database of every `Settings` to
a fresh PostgreSQL database per data directory (tests/databases.py), so a test needs nothing
special to run on both. A module- or session-scoped fixture that holds a database is made
again for each backend; a session-scoped one must request `backend` for that. A test that is
SQLite's alone says why: `@pytest.mark.sqlite_only("reads SQLite's query plans")` (and
`postgresql_only` likewise); on the other backend it shows as skipped with that reason.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor

from app.config import Settings
from app.db import create_db_engine
from app.ingest.files import iter_article_files
from app.ingest.pipeline import IngestReport, ingest_files
from app.main import create_app
from app.migrate import upgrade_to_head
from tests.databases import Databases, server_error

BACKENDS = ("sqlite", "postgresql")
# Set by .ci/run: there, a PostgreSQL server that does not answer fails the run, never skips.
REQUIRE_POSTGRES = os.environ.get("NEWSCORPUS_TEST_REQUIRE_POSTGRES") == "1"

SEEDS = Path(__file__).resolve().parent.parent / "seeds"


def make_settings(data_dir: Path, **overrides: object) -> Settings:
    return Settings(data_dir=data_dir, index_poll_seconds=0.05, **overrides)  # type: ignore[arg-type]


def migrated_engine(settings: Settings) -> Engine:
    engine = create_db_engine(settings.resolved_database_url)
    upgrade_to_head(engine)
    return engine


def query_plans(
    engine: Engine, statements: list[tuple[str, object]]
) -> list[tuple[str, list[str]]]:
    """SQLite's plan of each SELECT among captured (sql, parameters): its detail lines."""
    with engine.connect() as connection:
        return [
            (sql, [row[-1] for row in connection.exec_driver_sql("EXPLAIN QUERY PLAN " + sql, p)])
            for sql, p in statements
            if sql.lstrip().upper().startswith("SELECT")
        ]


def ingest(engine: Engine, paths: list[Path], extractor: EntityExtractor | None) -> IngestReport:
    return ingest_files(
        iter_article_files(paths), engine=engine, extractor=extractor, max_bytes=5_000_000
    )


def post_each(tmp_path: Path, texts: list[str], extractor: EntityExtractor | None) -> Engine:
    """A fresh database given each raw text on its own, as POSTs one at a time are."""
    from app.ingest.pipeline import ingest_text

    engine = migrated_engine(make_settings(tmp_path))
    for text in texts:
        ingest_text(text, url=None, engine=engine, extractor=extractor)
    return engine


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--backend",
        choices=(*BACKENDS, "all"),
        default="all",
        help="the database backend(s) the suite runs on (default: all)",
    )


def pytest_configure(config: pytest.Config) -> None:
    for only in ("sqlite", "postgresql"):
        config.addinivalue_line(
            "markers", f"{only}_only(reason): the test is about this backend itself; say why"
        )


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    chosen = metafunc.config.getoption("backend")
    backends = list(BACKENDS) if chosen == "all" else [chosen]
    params = [pytest.param(b, id=b) for b in backends]
    for only, label in (("sqlite", "SQLite"), ("postgresql", "PostgreSQL")):
        if (marker := metafunc.definition.get_closest_marker(f"{only}_only")) is not None:
            assert marker.args, f"{only}_only needs a reason"
            skip = pytest.mark.skip(reason=f"{label} only: {marker.args[0]}")
            params = [pytest.param(b, marks=() if b == only else skip) for b in backends]
    # Session scope: pytest runs every test of one backend, then every test of the other.
    metafunc.parametrize("backend", params, indirect=True, scope="session")


_databases: list[Databases] = []  # the PostgreSQL half's, while it runs


@pytest.fixture(scope="session")
def backend(request: pytest.FixtureRequest) -> Iterator[str]:
    """The database backend of this half of the run."""
    if request.param == "sqlite":
        yield "sqlite"
        return
    if (reason := server_error()) is not None:
        if REQUIRE_POSTGRES:
            pytest.fail(reason)
        pytest.skip(f"{reason}: start one, or run with --backend sqlite")
    databases = Databases()
    _databases.append(databases)
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(
                Settings,
                "resolved_database_url",
                property(lambda s: s.database_url or databases.url_for(s.data_dir)),
            )
            yield "postgresql"
    finally:
        _databases.remove(databases)
        databases.close()


@pytest.fixture(autouse=True)
def _database_per_test(backend: str) -> Iterator[None]:
    """Drop the PostgreSQL databases a test made when it ends."""
    if not _databases:
        yield
        return
    with _databases[-1].scope():
        yield


@pytest.fixture(scope="session")
def extractor() -> EntityExtractor:
    from app.ingest.entities import EntityExtractor

    return EntityExtractor()


@pytest.fixture(scope="session")
def seeded_client(
    backend: str, tmp_path_factory: pytest.TempPathFactory, extractor: EntityExtractor
) -> Iterator[TestClient]:
    """An app over the three seeds, shared by tests that only read (one per backend)."""
    settings = make_settings(tmp_path_factory.mktemp("seeded"))
    ingest(migrated_engine(settings), [SEEDS], extractor)
    with TestClient(create_app(settings)) as client:
        yield client


@pytest.fixture
def seed_ids(seeded_client: TestClient) -> dict[str, str]:
    """Map seed file prefix ("000") to article id."""
    from app.ingest.load import stable_id

    return {p.name[:3]: stable_id(f"file:{p.name}") for p in sorted(SEEDS.glob("*.txt"))}


@pytest.fixture(scope="session")
def corpus_client(
    tmp_path_factory: pytest.TempPathFactory, extractor: EntityExtractor
) -> Iterator[TestClient]:
    """An app over tests/timeline_corpus.py's articles (known dates, undated ones, sources and
    entities), shared by tests that only read."""
    from tests.timeline_corpus import write_corpus

    settings = make_settings(tmp_path_factory.mktemp("corpus"))
    files = write_corpus(tmp_path_factory.mktemp("corpus-files"))
    ingest(migrated_engine(settings), [files], extractor)
    with TestClient(create_app(settings)) as client:
        yield client
