"""Plain listings from the articles table: the same pages as the index, and query plans that
read indexes, never whole tables."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from app.api.articles import ArticleParams, article_query
from app.api.catalog import RECHECK_SECONDS, Catalog, is_plain
from app.api.cursors import Cursors
from app.db import write_session
from app.ingest.linking import FoundEntity, Mention
from app.ingest.load import replace_entities, stable_id
from app.main import create_app
from app.models import Article
from app.schemas import ArticlePage
from app.search.base import ArticleQuery, EntityFilter, Sort
from app.search.tantivy_index import TantivyIndex
from tests.conftest import ingest, make_settings, migrated_engine, query_plans

# Repeated dates and undated articles: the edges where a keyset walk goes wrong.
DATES = ["2021-05-04", None, "2019-01-01", "2021-05-04", None, "2023-12-31", "2019-01-01"] * 4
SOURCES = ["Wire One", "Wire Two", "Daily Three"]


def _write_corpus(directory: Path) -> None:
    for n, day in enumerate(DATES):
        dated = f"date {day}\n\n" if day else ""
        body = f"Report number {n} about the harbour and the council vote in town {n % 5}."
        source = SOURCES[n % len(SOURCES)]
        (directory / f"{n:03d}.txt").write_text(
            f"Headline {n}\n\n{dated}{body}\n\nSource: {source}\n", encoding="utf-8"
        )


@pytest.fixture(scope="module")
def listed(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    data = tmp_path_factory.mktemp("catalog")
    corpus = data / "corpus"
    corpus.mkdir()
    _write_corpus(corpus)
    settings = make_settings(data)
    ingest(migrated_engine(settings), [corpus], extractor=None)
    with TestClient(create_app(settings)) as client:
        yield client


def _walk(page_of, sort: Sort, limit: int) -> list[int]:  # type: ignore[no-untyped-def]
    pks, after = [], None
    while True:
        page = page_of(ArticleQuery(sort=sort, limit=limit, after=after))
        pks += [hit.article_pk for hit in page.hits]
        if not page.has_more:
            return pks
        after = page.hits[-1].position


@pytest.mark.parametrize(
    "given",
    [
        {},
        {"sort": "published_at"},
        {"sort": "-published_at", "limit": 5},
        {"q": "  "},
        {"q": "word"},
        {"sort": "relevance"},
        {"person": ["A"]},
        {"place": ["A"]},
        {"org": ["A"]},
        {"entity": ["e"]},
        {"source": ["S"]},
        {"published_from": "2020-01-01"},
        {"published_to": "2020-01-01"},
        {"story": "s"},
        {"dedupe": True},
        {"facets": "source"},
    ],
)
def test_search_pool_is_used_exactly_when_the_index_answers(given: dict) -> None:
    """The endpoint picks its thread pool from the parameters before resolving any name."""
    params = ArticleParams(**given)
    names = [*params.person, *params.place, *params.org, *params.entity]
    query = article_query(
        params,
        Cursors(b"key"),
        sources=tuple(params.source),
        entities=tuple(EntityFilter("person", (name,)) for name in names),
    )
    assert params.needs_index() is not is_plain(query)


@pytest.mark.parametrize("sort", ["-published_at", "published_at"])
@pytest.mark.parametrize("limit", [1, 2, 5, 100])
def test_catalog_pages_are_the_index_pages(listed: TestClient, sort: Sort, limit: int) -> None:
    engine = listed.app.state.engine  # type: ignore[attr-defined]
    index: TantivyIndex = listed.app.state.indexer.index  # type: ignore[attr-defined]
    from_table = _walk(lambda q: Catalog().page(engine, q, total=0), sort, limit)
    from_index = _walk(index.search, sort, limit)
    assert from_table == from_index
    assert sorted(from_table) == list(range(1, len(DATES) + 1))


def test_plain_listing_totals_and_cursors(listed: TestClient) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 3} | ({"cursor": cursor} if cursor else {})
        page = listed.get("/articles", params=params).json()
        assert page["total"] == len(DATES) and page["total_estimated"] is False
        seen += [item["id"] for item in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    assert len(seen) == len(set(seen)) == len(DATES)


@pytest.mark.parametrize("sort", ["-published_at", "published_at"])
def test_plain_listings_are_what_the_page_model_renders(listed: TestClient, sort: str) -> None:
    """Plain listings are encoded from their rows without the model: byte for byte its JSON."""
    cursor = None
    while True:
        params = {"limit": 4, "sort": sort} | ({"cursor": cursor} if cursor else {})
        body = listed.get("/articles", params=params).content
        assert ArticlePage.model_validate_json(body).model_dump_json().encode() == body
        if not (cursor := json.loads(body)["next_cursor"]):
            break


@pytest.mark.sqlite_only("traces SQLite's statements")
def test_a_plain_listing_reads_only_its_page_while_the_version_is_fresh(
    listed: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The corpus version is read once per RECHECK_SECONDS, not once per request."""
    monkeypatch.setattr("app.api.catalog.RECHECK_SECONDS", 60.0)
    settings = make_settings(listed.app.state.settings.data_dir, cached_pages=0)  # type: ignore[attr-defined]
    with TestClient(create_app(settings)) as client:
        client.get("/articles", params={"limit": 2})  # the version and the count, read once
        statements = _statements(client, [{"limit": 3}])
    listing = [sql for sql, _ in statements if "substr" in sql]
    assert len(listing) == 2  # the first page and the next one, nothing else for them
    # The version (the newest seq and its time); the indexer's max(seq) polls go on apart.
    assert not [sql for sql, _ in statements if "WHERE articles.seq = (SELECT max" in sql]


LISTINGS_AND_FILTERS = [
    {},
    {"sort": "published_at", "limit": 2},
    {"source": "wire two"},
    {"person": "Nobody Known"},
    {"entity": "0123456789abcdef"},
    {"published_from": "2020-01-01"},
    {"q": "harbour", "limit": 3},
]


def _statements(client: TestClient, requests: list[dict]) -> list[tuple[str, object]]:
    """The SQL the API runs for these requests and an article's detail (each made twice: the
    second, warm), as SQLite traces it: what SQLAlchemy sends and what runs on the driver's
    connection directly (plain listings), with their values in place."""
    engine = client.app.state.engine  # type: ignore[attr-defined]
    for params in requests:
        client.get("/articles", params=params)
    article_id = client.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
    captured: list[tuple[str, object]] = []
    capturing = True

    def trace(sql: str) -> None:
        if capturing:
            captured.append((sql, ()))

    def on_checkout(dbapi_connection, record, proxy):  # type: ignore[no-untyped-def]
        dbapi_connection.set_trace_callback(trace)

    event.listen(engine, "checkout", on_checkout)
    try:
        for params in requests:
            first = client.get("/articles", params=params).json()
            if first.get("next_cursor"):
                client.get("/articles", params=params | {"cursor": first["next_cursor"]})
        assert client.get(f"/articles/{article_id}").status_code == 200
    finally:
        capturing = False
        event.remove(engine, "checkout", on_checkout)
    return captured


def _assert_no_scan(client: TestClient, statements: list[tuple[str, object]]) -> None:
    engine = client.app.state.engine  # type: ignore[attr-defined]
    for sql, details in query_plans(engine, statements):
        assert not [d for d in details if d.startswith("SCAN")], (sql, details)
        assert not [d for d in details if "TEMP B-TREE" in d], (sql, details)


@pytest.mark.sqlite_only("reads SQLite's query plans")
def test_listings_and_filters_never_scan_a_table(listed: TestClient) -> None:
    statements = _statements(listed, LISTINGS_AND_FILTERS)
    assert any("substr" in sql and "ORDER BY articles.published_at" in sql for sql, _ in statements)
    _assert_no_scan(listed, statements)


@pytest.mark.sqlite_only("reads SQLite's query plans")
def test_entity_filters_facets_and_details_never_scan_a_table(seeded_client: TestClient) -> None:
    first = seeded_client.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
    entity = seeded_client.get(f"/articles/{first}").json()["entities"][0]
    requests = [
        {"entity": entity["id"]},
        {entity["type"]: entity["name"]},
        {"q": entity["name"].split()[-1], "facets": "person,place,org,source"},
    ]
    statements = _statements(seeded_client, requests)
    assert any("mentions" in sql for sql, _ in statements)
    _assert_no_scan(seeded_client, statements)


@pytest.mark.parametrize("cached_pages", [1024, 1, 0])
def test_cached_listing_follows_new_articles(tmp_path: Path, cached_pages: int) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    _write_corpus(corpus)
    settings = make_settings(tmp_path, cached_pages=cached_pages)
    engine = migrated_engine(settings)
    ingest(engine, [corpus], extractor=None)
    with TestClient(create_app(settings)) as client:
        before = client.get("/articles", params={"limit": 2}).json()
        assert client.get("/articles", params={"limit": 2}).json() == before
        assert client.get("/articles", params={"limit": 3}).json()["items"][:2] == before["items"]
        late = tmp_path / "late"
        late.mkdir()
        (late / "new.txt").write_text("Newest Report Filed\n\ndate 2024-06-01\n\nA later report.\n")
        ingest(engine, [late], extractor=None)  # another writer: seen within RECHECK_SECONDS
        time.sleep(RECHECK_SECONDS)
        after = client.get("/articles", params={"limit": 2}).json()
    assert after["total"] == before["total"] + 1
    assert after["items"][0]["title"] == "Newest Report Filed"
    assert after["items"][1] == before["items"][0]


def test_rendered_searches_are_served_again_for_a_moment() -> None:
    catalog = Catalog(cached_pages=2, search_seconds=0.2)
    catalog.remember_search("a", "page a")
    assert catalog.recent_page("a") == ("page a", None)
    assert catalog.recent_page("b") is None
    catalog.remember_search("b", "page b")
    catalog.remember_search("c", "page c")  # full: the oldest goes
    assert (catalog.recent_page("a"), catalog.recent_page("c")) == (None, ("page c", None))
    time.sleep(0.25)
    assert catalog.recent_page("c") is None  # older than search_seconds: searched again
    catalog.remember_search("d", "page d")
    catalog.forget()  # this process wrote: nothing it rendered before is served again
    assert catalog.recent_page("d") is None


def test_no_rendered_search_is_kept_without_cached_pages() -> None:
    catalog = Catalog(cached_pages=0)
    catalog.remember_search("a", "page a")
    assert catalog.recent_page("a") is None


def test_entity_lookups_read_indexes_then_the_cache(
    seeded_client: TestClient, backend: str
) -> None:
    engine = seeded_client.app.state.engine  # type: ignore[attr-defined]
    first = seeded_client.get("/articles", params={"limit": 1}).json()["items"][0]["id"]
    entity = seeded_client.get(f"/articles/{first}").json()["entities"][0]
    catalog, unknown = Catalog(search_seconds=60), "0123456789abcdef"
    captured: list[tuple[str, object]] = []

    def lookups() -> tuple[object, ...]:
        with Session(engine) as session:
            return (
                catalog.entity_ids(session, entity["type"], entity["name"].upper()),
                catalog.entity_ids(session, entity["type"], "Nobody Known"),
                catalog.entities(session, [entity["id"], unknown]),
            )

    def capture(conn, cursor, statement, parameters, context, executemany):  # type: ignore[no-untyped-def]
        if threading.current_thread() is test_thread:  # not the indexer's polls meanwhile
            captured.append((statement, parameters))

    test_thread = threading.current_thread()
    event.listen(engine, "before_cursor_execute", capture)
    try:
        cold = lookups()
        statements = len(captured)
        assert lookups() == cold
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    assert cold == (
        (entity["id"],),
        (),
        {entity["id"]: (entity["name"], entity["type"]), unknown: None},
    )
    selects = [sql for sql, _ in captured if sql.lstrip().upper().startswith("SELECT")]
    assert len(selects) == 4  # the corpus version, two names, the ids
    assert len(captured) == statements  # then nothing
    if backend == "sqlite":  # PostgreSQL's planner rightly scans tables of a few rows
        _assert_no_scan(seeded_client, captured)


def test_entity_lookups_follow_an_extraction(tmp_path: Path) -> None:
    engine = migrated_engine(make_settings(tmp_path))
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("Harbour Report\n\nHarbourtown reopened its harbour.\n")
    ingest(engine, [corpus], extractor=None)
    catalog = Catalog(search_seconds=0)  # checks the corpus version every time
    with Session(engine) as session:
        assert catalog.entity_ids(session, "place", "Harbourtown") == ()
    found = FoundEntity(
        name="Harbourtown",
        type="place",
        key="place:harbourtown",
        aliases=set(),
        mentions=[Mention(text="Harbourtown", start=0, end=11)],
    )
    with write_session(engine) as session:
        replace_entities(session, {session.scalars(select(Article.pk)).one(): [found]})
    with Session(engine) as session:  # extraction gave the article a new seq: looked up again
        assert catalog.entity_ids(session, "place", "harbourtown") == (stable_id(found.key),)
