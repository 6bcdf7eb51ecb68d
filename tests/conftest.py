"""Shared fixtures: real databases built by Alembic in temp dirs, and the real app."""

from __future__ import annotations

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


@pytest.fixture(scope="session")
def extractor() -> EntityExtractor:
    from app.ingest.entities import EntityExtractor

    return EntityExtractor()


@pytest.fixture(scope="session")
def seeded_client(
    tmp_path_factory: pytest.TempPathFactory, extractor: EntityExtractor
) -> Iterator[TestClient]:
    """An app over the three seeds, shared by tests that only read."""
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
