"""GET /articles/export: every match streamed in the requested order, as NDJSON or CSV."""

from __future__ import annotations

import asyncio
import contextlib
import csv
import io
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.api import export
from app.api.filters import ArticleFilters
from app.main import create_app
from tests.api.test_timeline import FILTERS
from tests.conftest import ingest, make_settings, migrated_engine
from tests.timeline_corpus import ARTICLES, write_corpus


def listed_ids(client: TestClient, params: dict) -> list[str]:
    response = client.get("/articles", params={**params, "limit": 100})
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def exported(client: TestClient, params: dict) -> list[dict]:
    response = client.get("/articles/export", params=params)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/x-ndjson"
    return [json.loads(line) for line in response.text.splitlines()]


def exported_csv(client: TestClient, params: dict) -> list[dict]:
    response = client.get("/articles/export", params={**params, "format": "csv"})
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/csv; charset=utf-8")
    return list(csv.DictReader(io.StringIO(response.text, newline="")))


@pytest.mark.parametrize("sort", [None, "-published_at", "published_at", "relevance"])
@pytest.mark.parametrize("params", FILTERS)
def test_every_match_in_the_order_of_the_listing(
    corpus_client: TestClient, params: dict, sort: str | None
) -> None:
    params = {**params, **({"sort": sort} if sort else {})}
    expected = listed_ids(corpus_client, params)
    assert [r["id"] for r in exported(corpus_client, {**params, "fields": "id"})] == expected
    assert [r["id"] for r in exported_csv(corpus_client, {**params, "fields": "id"})] == expected


@pytest.mark.parametrize("params", [{}, {"q": "grain"}, {"person": "Vladimir Putin"}])
@pytest.mark.parametrize("sort", ["-published_at", "published_at", "relevance"])
def test_one_per_story_as_the_listing_shows_them(
    corpus_client: TestClient, params: dict, sort: str
) -> None:
    params = {**params, "sort": sort, "dedupe": True}
    expected = listed_ids(corpus_client, params)
    assert [r["id"] for r in exported(corpus_client, {**params, "fields": "id"})] == expected


def test_ndjson_holds_what_the_article_shows(corpus_client: TestClient) -> None:
    records = exported(corpus_client, {"include": "entities"})
    assert len(records) == len(ARTICLES)
    for record in records:
        article = corpus_client.get(f"/articles/{record['id']}").json()
        assert list(record) == [*export.FIELDS, "entities"]
        for name in export.FIELDS:
            assert record[name] == article[name], name
        spans = {e["id"]: [list(s) for s in e["spans"]] for e in article["entities"]}
        assert {e["id"]: e["spans"] for e in record["entities"]} == spans
        assert {e["name"] for e in record["entities"]} == {e["name"] for e in article["entities"]}


def test_csv_is_rfc_4180_and_reads_back_exactly(corpus_client: TestClient) -> None:
    response = corpus_client.get("/articles/export", params={"format": "csv"})
    assert response.text.startswith(",".join(export.FIELDS) + "\r\n")
    rows = exported_csv(corpus_client, {})
    assert len(rows) == len(ARTICLES)
    quoted = [r for r in rows if '"for now"' in r["body"]]
    assert (
        len(quoted) == 1 and 'said the grain deal was over, ""for now""' in response.text
    )  # quotes doubled
    for row in rows:
        article = corpus_client.get(f"/articles/{row['id']}").json()
        assert row["body"] == article["body"] and "\n" in row["body"]  # a line end, quoted
        assert row["published_at"] == (article["published_at"] or "")
        assert row["credits"] == "; ".join(article["credits"])


def test_csv_entities_are_names_by_type(corpus_client: TestClient) -> None:
    params = {"include": "entities", "fields": "id", "person": "Angela Merkel", "place": "Berlin"}
    rows = exported_csv(corpus_client, params)
    assert rows and all(set(r) == {"id", "people", "places", "organisations"} for r in rows)
    assert all("Angela Merkel" in r["people"].split("; ") for r in rows)
    assert all("Berlin" in r["places"].split("; ") for r in rows)
    assert any(r["people"] == "Angela Merkel; Vladimir Putin" for r in rows)


def test_fields_chosen_come_in_the_order_asked(corpus_client: TestClient) -> None:
    records = exported(corpus_client, {"fields": "published_at, id,title"})
    assert [list(r) for r in records] == [["published_at", "id", "title"]] * len(ARTICLES)
    header = corpus_client.get("/articles/export?format=csv&fields=title,id,title")
    assert header.text.split("\r\n")[0] == "title,id"  # each once


def test_nothing_matching_is_an_empty_file(corpus_client: TestClient) -> None:
    for params in ({"person": "Nobody At All"}, {"q": "xylophone"}, {"source": "Nowhere"}):
        assert exported(corpus_client, params) == []
        response = corpus_client.get("/articles/export", params={**params, "format": "csv"})
        assert response.text == ",".join(export.FIELDS) + "\r\n"


def test_the_file_is_named_after_the_query(corpus_client: TestClient) -> None:
    response = corpus_client.get("/articles/export", params={"q": 'Putin "grain deal"'})
    disposition = response.headers["content-disposition"]
    assert disposition.startswith('attachment; filename="newscorpus-putin-grain-deal-')
    assert disposition.endswith('.ndjson"')
    plain = corpus_client.get("/articles/export?format=csv&q=%E2%80%9C%E2%80%9D")
    assert 'filename="newscorpus-articles-' in plain.headers["content-disposition"]


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("format=xml", "format"),
        ("fields=id,secret", "fields"),
        ("fields=", "fields"),
        ("include=everything", "include"),
        ("sort=up", "sort"),
        ("published_from=yesterday", "published_from"),
        ("format=csv&format=ndjson", "format"),
    ],
)
def test_bad_parameters_are_422_naming_the_field(
    corpus_client: TestClient, query: str, field: str
) -> None:
    response = corpus_client.get(f"/articles/export?{query}")
    assert response.status_code == 422, response.text
    assert response.headers["content-type"].startswith("application/problem+json")
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.fixture(scope="module")
def one_export_app(tmp_path_factory: pytest.TempPathFactory, extractor):  # type: ignore[no-untyped-def]
    """An app allowing one export at a time, with a time budget no request can meet."""
    settings = make_settings(
        tmp_path_factory.mktemp("one-export"), export_concurrency=1, query_budget_ms=1
    )
    ingest(migrated_engine(settings), [write_corpus(tmp_path_factory.mktemp("files"))], extractor)
    return create_app(settings)


def test_beyond_the_concurrency_limit_an_export_is_refused_503(one_export_app) -> None:  # type: ignore[no-untyped-def]
    with TestClient(one_export_app) as client:
        slots = one_export_app.state.export_slots
        assert slots.take()  # an export streaming elsewhere
        refused = client.get("/articles/export")
        assert refused.status_code == 503 and int(refused.headers["retry-after"]) > 0
        assert refused.headers["content-type"].startswith("application/problem+json")
        slots.give_back()
        for _ in range(3):  # each one gives its slot back when done, or refused
            assert client.get("/articles/export").status_code == 200
            assert client.get("/articles/export?fields=nope").status_code == 422
        assert slots.running == 0


def test_an_export_is_not_bound_by_the_time_budget(one_export_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(export, "BATCH", 1)  # a batch per article: many statements
    monkeypatch.setattr(export, "ROWS", 1)
    with TestClient(one_export_app) as client:
        records = [json.loads(line) for line in client.get("/articles/export").text.splitlines()]
        assert len(records) == len(ARTICLES)
        assert len(exported(client, {"q": "grain", "sort": "relevance"})) == 6


def test_a_client_that_goes_away_stops_the_export(one_export_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    """As uvicorn does (ASGI 2.4): once the client is gone, sending raises OSError."""
    monkeypatch.setattr(export, "BATCH", 1)
    monkeypatch.setattr(export, "ROWS", 1)
    written = []
    real_write = export._write
    monkeypatch.setattr(export, "_write", lambda *a: written.append(1) or real_write(*a))

    async def run() -> None:
        sent: list[dict] = []

        async def send(message: dict) -> None:
            if message["type"] == "http.response.body" and message.get("body"):
                if sent:
                    raise OSError("the client went away")
                sent.append(message)

        async def receive() -> dict:
            await asyncio.sleep(60)
            return {"type": "http.disconnect"}

        scope = {
            "type": "http",
            "asgi": {"version": "3.0", "spec_version": "2.4"},
            "http_version": "1.1",
            "method": "GET",
            "scheme": "http",
            "path": "/articles/export",
            "raw_path": b"/articles/export",
            "root_path": "",
            "query_string": b"",
            "headers": [(b"host", b"testserver")],
            "client": ("127.0.0.1", 1),
            "server": ("testserver", 80),
        }
        with contextlib.suppress(OSError):
            await one_export_app(scope, receive, send)

    with TestClient(one_export_app):  # started: the lifespan has run
        asyncio.run(run())
        assert 1 <= len(written) <= 2 < len(ARTICLES)
        assert one_export_app.state.export_slots.running == 0


def test_export_is_documented_with_the_filters_of_articles(corpus_client: TestClient) -> None:
    spec = corpus_client.get("/openapi.json").json()
    operation = spec["paths"]["/articles/export"]["get"]
    names = {p["name"] for p in operation["parameters"]}
    articles = {p["name"] for p in spec["paths"]["/articles"]["get"]["parameters"]}
    filters = set(ArticleFilters.model_fields)
    assert names == filters | {"sort", "format", "fields", "include"} and filters < articles
    content = operation["responses"]["200"]["content"]
    assert content["text/csv"]["example"] and content["application/x-ndjson"]["example"]
    assert "503" in operation["responses"]


def test_a_path_like_export_is_still_an_article_id(corpus_client: TestClient) -> None:
    assert corpus_client.get("/articles/export/x").status_code == 404


def test_filename_is_ascii(tmp_path: Path) -> None:
    params = export.ExportParams(q="Müller’s «grain» deal", format="csv")
    assert export.filename(params).startswith("newscorpus-mullers-grain-deal-")


def test_head_gives_the_exports_headers_without_running_it(one_export_app, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    def no_export(*args: object) -> None:
        raise AssertionError("HEAD ran the export")

    monkeypatch.setattr(export, "_stream", no_export)
    monkeypatch.setattr(export.ExportSlots, "take", no_export)  # nor took a slot
    with TestClient(one_export_app) as client:
        head = client.head("/articles/export", params={"q": "grain", "format": "csv"})
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"].startswith("text/csv")
    assert head.headers["content-disposition"].startswith('attachment; filename="newscorpus-grain')
    assert head.headers["cache-control"] == "no-store"


def test_an_export_is_not_stored_by_caches(corpus_client: TestClient) -> None:
    """A file of any size, whose validator is known only once it is written: no-store."""
    response = corpus_client.get("/articles/export")
    assert response.headers["cache-control"] == "no-store" and "etag" not in response.headers


@pytest.mark.parametrize(
    "row",
    [
        ["plain", 7, None, "2024-01-02"],
        ['a "quoted" word', "a, comma", "two\nlines", "a\r\nwindows line"],
        ["", None, "", ""],
        [None],
        [""],
        ["trailing space ", " leading", "tab\there", "é ü 漢"],
    ],
)
def test_csv_is_written_as_the_csv_module_writes_it(row: list) -> None:
    out = io.StringIO()
    csv.writer(out, lineterminator="\r\n").writerow(row)
    assert export._csv([row]) == out.getvalue().encode()
