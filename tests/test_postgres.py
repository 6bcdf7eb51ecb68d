"""The same service on PostgreSQL, the engine a deployment moves to when it outgrows SQLite.

Runs when a PostgreSQL server answers on 127.0.0.1:5432 (trust auth, as on CI); each run
creates its own database and drops it afterwards.
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app.ingest.entities import EntityExtractor
from app.ingest.stories import restory
from app.main import create_app
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


@pytest.fixture(scope="module")
def database_url() -> Iterator[str]:
    name = f"newscorpus_test_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as connection:
            connection.execute(text(f'CREATE DATABASE "{name}"'))
    except OperationalError:
        pytest.skip("no PostgreSQL server on 127.0.0.1:5432")
    try:
        yield f"{SERVER}/{name}"
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


@pytest.fixture(scope="module")
def pg_client(
    database_url: str, tmp_path_factory: pytest.TempPathFactory, extractor: EntityExtractor
) -> Iterator[TestClient]:
    """The seeds bulk-loaded, then extracted and given stories, as `ingest --no-extract`,
    `extract` and `restory --pending` do."""
    settings = make_settings(tmp_path_factory.mktemp("pg"), database_url=database_url)
    engine = migrated_engine(settings)
    ingest(engine, [SEEDS], extractor=None)
    ingest(engine, [SEEDS], extractor=extractor)  # unchanged files: nothing to do
    restory(engine, only_unassigned=True)
    with TestClient(create_app(settings)) as client:
        yield client
    engine.dispose()


def test_listing_search_facets_and_detail(pg_client: TestClient) -> None:
    listing = pg_client.get("/articles", params={"limit": 2}).json()
    assert listing["total"] == 3 and len(listing["items"]) == 2
    rest = pg_client.get("/articles", params={"cursor": listing["next_cursor"]}).json()
    assert len(rest["items"]) == 1 and rest["next_cursor"] is None
    assert {i["story_id"] for i in listing["items"] + rest["items"]} != {None}
    found = pg_client.get("/articles", params={"q": "Ossetia", "facets": "source"}).json()
    assert found["total"] == 3 and found["facets"]["source"]
    detail = pg_client.get(f"/articles/{listing['items'][0]['id']}").json()
    assert detail["body"] and detail["id"] == listing["items"][0]["id"]
    assert pg_client.get("/sources").json() == [{"name": "Al Jazeera", "article_count": 1}]


def test_entities_after_extraction(
    pg_client: TestClient, database_url: str, extractor: EntityExtractor
) -> None:
    from app.ingest.pipeline import reextract

    engine = create_engine(database_url)
    assert reextract(engine=engine, extractor=extractor, only_pending=True) == 3  # bulk-loaded
    assert reextract(engine=engine, extractor=extractor, only_pending=True) == 0
    engine.dispose()
    for _ in range(200):  # the server's indexer picks the new entity ids up
        if pg_client.get("/readyz").json()["index_lag"] == 0:
            break
        time.sleep(0.05)
    first = pg_client.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
    entity = pg_client.get(f"/articles/{first}").json()["entities"][0]
    by_name = pg_client.get("/articles", params={entity["type"]: entity["name"]}).json()
    assert first in {item["id"] for item in by_name["items"]}
    assert pg_client.get(f"/entities/{entity['id']}").status_code == 200


def test_cursor_values_past_an_integer_column_are_400_and_its_largest_is_served(
    pg_client: TestClient,
) -> None:
    from app.api.articles import ArticleParams
    from app.api.cursors import INT_MAX, fingerprint
    from app.api.entities import EntityParams
    from app.api.stories import StoryParams
    from app.search.base import DAY_SHIFT

    cursors = pg_client.app.state.cursors  # type: ignore[attr-defined]
    for path, params, too_big, largest in [
        (
            "/articles",
            ArticleParams(),
            [0.0, 1 << 31, 1, 0],
            [0.0, (1 << DAY_SHIFT) | INT_MAX, 1, 0],
        ),
        ("/entities", EntityParams(), [INT_MAX + 1, "e"], [INT_MAX, "e"]),
        ("/stories", StoryParams(), [10**30, "s"], [INT_MAX, "s"]),
    ]:
        cursor = cursors.encode(too_big, fingerprint(params))
        assert pg_client.get(path, params={"cursor": cursor}).status_code == 400, path
        cursor = cursors.encode(largest, fingerprint(params))
        assert pg_client.get(path, params={"cursor": cursor}).status_code == 200, path


def test_spellings_of_one_source_fold_to_the_first(database_url: str) -> None:
    from sqlalchemy import select
    from sqlalchemy.orm import Session

    from app.ingest.load import Prepared, content_hash, load_articles
    from app.ingest.parse import ParsedArticle
    from app.models import Article

    engine = create_engine(database_url)
    with Session(engine) as session:  # rolled back: the other tests see the seeds alone
        for sources in (["Example Wire", "EXAMPLE WIRE"], ["The Example Wire News", "example"]):
            load_articles(
                session,
                [
                    Prepared(f"post:{s}", ParsedArticle(body=f"{s}.", source=s), content_hash(s))
                    for s in sources
                ],
            )
        stored = session.scalars(select(Article.source).where(Article.origin.like("post:%")))
        assert sorted(stored) == ["Example Wire"] * 3 + ["example"]
        session.rollback()
    engine.dispose()


def test_timeline_and_export(pg_client: TestClient) -> None:
    timeline = pg_client.get("/timeline", params={"q": "Ossetia", "interval": "year"}).json()
    assert timeline["buckets"] == [{"start": "2017-01-01", "count": 1}]
    assert timeline["undated"] == 2 and timeline["total"] == 3
    listed = [i["id"] for i in pg_client.get("/articles", params={"q": "Ossetia"}).json()["items"]]
    for form in ("ndjson", "csv"):
        params = {"q": "Ossetia", "format": form, "fields": "id,credits", "include": "entities"}
        response = pg_client.get("/articles/export", params=params)
        assert response.status_code == 200
        lines = response.text.strip().splitlines()
        if form == "ndjson":
            records = [json.loads(line) for line in lines]
            assert [r["id"] for r in records] == listed
            assert all(r["entities"] for r in records)
        else:
            assert lines[0] == "id,credits,people,places,organisations" and len(lines) == 4
