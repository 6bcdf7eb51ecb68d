"""POST /articles: keys, idempotency, and the new article becoming searchable."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.api.test_articles import assert_problem
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

KEY = "s3cret-key-for-tests"
WRITER = {"X-API-Key": KEY}
NEW = {
    "title": "Harbour Authority Opens New Ferry Terminal in Valletta",
    "body": "The Harbour Authority opened a ferry terminal in Valletta on Monday, "
    "said Maria Camilleri, its chairwoman. Transport Malta welcomed the move.",
    "source": "Times of Malta",
    "published_at": "2024-05-06",
}


@pytest.fixture
def writable(tmp_path: Path, extractor) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, api_keys=[KEY, "another-key-for-tests"]))
    with TestClient(app) as client:
        app.state.extractor = extractor  # the session's model: no second spaCy load
        yield client


def wait_for(client: TestClient, params: dict, count: int) -> list[dict]:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        items = client.get("/articles", params=params).json()["items"]
        if len(items) == count:
            return items
        time.sleep(0.05)
    raise AssertionError(f"{params} did not find {count} articles")


def test_no_key_configured_means_writes_are_off(seeded_client: TestClient) -> None:
    response = seeded_client.post("/articles", json=NEW, headers={"X-API-Key": KEY})
    assert_problem(response, 403)


@pytest.mark.parametrize("sent", [f" {KEY}", f"{KEY} ", f"{KEY}\t", f"\t{KEY}  "])
def test_whitespace_around_the_key_is_no_part_of_it(writable: TestClient, sent: str) -> None:
    """(Before: a trailing space or tab made a good key 403, a leading one did not.)"""
    response = writable.post("/articles", json=NEW, headers={"X-API-Key": sent})
    assert response.status_code == 201, response.text


def test_missing_or_wrong_key(writable: TestClient) -> None:
    assert_problem(writable.post("/articles", json=NEW), 401)
    assert_problem(writable.post("/articles", json=NEW, headers={"X-API-Key": "nope"}), 403)
    assert writable.get("/articles").json()["total"] == 0


def test_post_runs_the_pipeline_and_is_idempotent(writable: TestClient) -> None:
    created = writable.post("/articles", json=NEW, headers={"X-API-Key": KEY})
    assert created.status_code == 201, created.text
    article = created.json()
    assert created.headers["location"] == f"/articles/{article['id']}"
    assert article["published_at"] == "2024-05-06" and article["source"] == "Times of Malta"
    names = {e["name"] for e in article["entities"]}
    assert {"Valletta", "Maria Camilleri"} <= names
    again = writable.post("/articles", json=NEW, headers={"X-API-Key": "another-key-for-tests"})
    assert again.status_code == 200 and again.json()["id"] == article["id"]
    found = wait_for(writable, {"q": "ferry terminal"}, 1)  # indexed within about a second
    assert found[0]["id"] == article["id"] and "<mark>" in found[0]["snippet"]
    assert writable.get("/articles").json()["total"] == 1


@pytest.mark.parametrize(
    "payload",
    [
        {},
        {"body": ""},
        {"body": "   "},
        {"body": "x", "published_at": "soon"},
        {"body": "x", "id": 1},
    ],
)
def test_invalid_article_is_422(writable: TestClient, payload: dict) -> None:
    assert_problem(writable.post("/articles", json=payload, headers={"X-API-Key": KEY}), 422)


EMPTY = "the request body is empty: send a JSON object with either `raw` (the article's whole"


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"", EMPTY),
        (b" \r\n", EMPTY),
        (b"{", "the body is not valid JSON (at line 1, column 2)"),
        (b'{"body": "x",\n  "title": }', "the body is not valid JSON (at line 2, column 12)"),
        ('{"body": "caf\u00e9"}'.encode("latin-1"), "the body is not UTF-8"),
        ('{"body": "caf\u00e9"}'.encode("utf-16"), "the body is not UTF-8"),
        (b'{"body": "\xed\xa0\x80 text"}', "the body is not UTF-8"),  # a surrogate
        (b"[" * 100_000 + b"]" * 100_000, "the body's JSON nests too deeply"),
    ],
    ids=["empty", "blank", "truncated", "no-value", "latin-1", "utf-16", "surrogate", "deep"],
)
def test_a_malformed_body_is_422_on_the_body_saying_what_is_wrong(
    writable: TestClient, content: bytes, words: str
) -> None:
    headers = WRITER | {"Content-Type": "application/json"}
    body = assert_problem(writable.post("/articles", content=content, headers=headers), 422)
    assert body["detail"].startswith(words)
    assert body["errors"] == [{"field": "body", "message": body["detail"]}]


def test_no_body_at_all_is_an_empty_body(writable: TestClient) -> None:
    body = assert_problem(writable.post("/articles", headers=WRITER), 422)
    assert body["detail"].startswith(EMPTY) and "`body`" in body["detail"]


@pytest.mark.parametrize(
    "content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data", None]
)
def test_a_body_not_sent_as_json_is_415_naming_json(
    writable: TestClient, content_type: str | None
) -> None:
    headers = {"X-API-Key": KEY} | ({"Content-Type": content_type} if content_type else {})
    response = writable.post("/articles", content=json.dumps(NEW), headers=headers)
    assert "application/json" in assert_problem(response, 415)["detail"]


@pytest.mark.parametrize("content_type", ["application/json; charset=utf-8", "APPLICATION/JSON"])
def test_json_with_parameters_or_in_capitals_is_json(
    writable: TestClient, content_type: str
) -> None:
    headers = {"X-API-Key": KEY, "Content-Type": content_type}
    response = writable.post("/articles", content=json.dumps(NEW), headers=headers)
    assert response.status_code == 201, response.text


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("body", "\u200b\u200b\u200b"),  # zero-width spaces
        ("body", "\u0301\u0308\u030a"),  # combining marks, nothing to combine with
        ("body", "\u200d\u2060 \ufeff"),  # joiners, word joiner, BOM
        ("body", "... -- !!"),  # punctuation only
        ("url", "javascript:alert(1)"),
        ("url", "JavaScript:alert(1)"),
        ("url", "data:text/html,<script>alert(1)</script>"),
        ("url", "//example.org/no-scheme"),
        ("url", "https:///no-host"),
        ("url", "https://exa mple.com/x"),
        ("url", "https://example.com/a b"),
        ("url", "https://example.com/a\u00a0b"),  # a no-break space
        ("url", "https://example.com/x "),
    ],
)
def test_content_free_bodies_and_script_or_spaced_urls_are_422_naming_the_field(
    writable: TestClient, field: str, value: str
) -> None:
    response = writable.post("/articles", json=NEW | {field: value}, headers={"X-API-Key": KEY})
    [error] = assert_problem(response, 422)["errors"]
    assert error["field"] == field
    words = {
        "body": "a letter or digit",
        "url": "an http:// or https:// URL with a host, without spaces",
    }
    assert words[field] in error["message"] and "^" not in error["message"]  # no pattern


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"raw": "\u200b\u2060\n\n\u0301\u0308"}, "raw"),  # invisible, and marks alone
        ({"raw": "Title: A headline\n\n\u200b\u200b"}, "raw"),  # a headline over nothing
        ({"raw": "A headline\n\nSome text.", "url": "javascript:alert(1)"}, "url"),
    ],
)
def test_raw_articles_without_content_or_with_script_urls_are_422(
    writable: TestClient, payload: dict, field: str
) -> None:
    response = writable.post("/articles", json=payload, headers={"X-API-Key": KEY})
    assert_problem(response, 422)
    assert [e["field"] for e in response.json()["errors"]] == [field]


@pytest.mark.parametrize(
    ("field", "value"),
    [("body", "e\u0301t\u00e9 \u65e5\u672c"), ("url", "HTTPS://example.org/a?b=c#d")],
)
def test_marks_on_letters_and_web_urls_are_accepted(
    writable: TestClient, field: str, value: str
) -> None:
    response = writable.post("/articles", json=NEW | {field: value}, headers={"X-API-Key": KEY})
    assert response.status_code == 201, response.text


def a_year_ahead(days: int) -> str:
    from app.ingest.parse import latest_date

    return (latest_date() + timedelta(days=days)).isoformat()


@pytest.mark.parametrize(
    "day",
    [
        "0001-01-01",
        "1399-12-31",
        "9999-12-31",
        pytest.param(a_year_ahead(1), id="a-year-and-a-day-ahead"),
        pytest.param(a_year_ahead(400), id="two-years-ahead"),
    ],
)
def test_an_implausible_publication_date_is_422_naming_it(writable: TestClient, day: str) -> None:
    """It would stretch every timeline over millennia (9,999 year buckets for one article)."""
    response = writable.post("/articles", json=NEW | {"published_at": day}, headers=WRITER)
    [error] = assert_problem(response, 422)["errors"]
    assert error == {
        "field": "published_at",
        "message": "must be a publication date from 1400-01-01 to a year after today",
    }


@pytest.mark.parametrize("day", ["1400-01-01", pytest.param(a_year_ahead(0), id="a-year-ahead")])
def test_publication_dates_at_the_ends_of_the_range_are_taken(
    writable: TestClient, day: str
) -> None:
    response = writable.post("/articles", json=NEW | {"published_at": day}, headers=WRITER)
    assert response.status_code == 201 and response.json()["published_at"] == day


@pytest.mark.parametrize("stated", ["Published: 31 December 9999", "0001-01-01"])
def test_a_raw_article_never_states_an_implausible_date(writable: TestClient, stated: str) -> None:
    raw = f"Harbour Authority Opens Terminal\n\n{stated}\n\n{NEW['body']}"
    response = writable.post("/articles", json={"raw": raw}, headers=WRITER)
    assert response.status_code == 201 and response.json()["published_at"] is None
    assert response.json()["body"] == NEW["body"]
    assert writable.get("/timeline").json()["buckets"] == []


@pytest.mark.parametrize("blank", ["", "   ", "\t\n"])
def test_blank_optional_fields_are_stored_as_none(writable: TestClient, blank: str) -> None:
    """`title: ""` is no title: null, as for an article sent without one (the same content)."""
    article = {"body": NEW["body"]} | dict.fromkeys(("title", "source", "author"), blank)
    created = writable.post("/articles", json=article, headers=WRITER)
    assert created.status_code == 201, created.text
    assert [created.json()[n] for n in ("title", "source", "author")] == [None, None, None]
    again = writable.post("/articles", json={"body": NEW["body"]}, headers=WRITER)
    assert again.status_code == 200 and again.json()["id"] == created.json()["id"]


def test_sources_lists_one_spelling_per_source(writable: TestClient) -> None:
    for n, source in enumerate(["Times of Malta", "TIMES OF MALTA", "The Times of Malta News"]):
        article = NEW | {"title": f"{NEW['title']} ({n})", "source": source}
        assert writable.post("/articles", json=article, headers={"X-API-Key": KEY}).is_success

    assert writable.get("/sources").json() == [{"name": "Times of Malta", "article_count": 3}]
    wait_for(writable, {"source": "the times of malta"}, 3)


# -- a raw article, parsed as a file is ---------------------------------------------------------


def detail_of_file(tmp_path: Path, file: Path, extractor) -> dict:  # type: ignore[no-untyped-def]
    """The article as `newscorpus ingest` makes it from the file, in a database of its own."""
    settings = make_settings(tmp_path / "from-file")
    ingest(migrated_engine(settings), [file], extractor)
    with TestClient(create_app(settings)) as client:
        article_id = client.get("/articles").json()["items"][0]["id"]
        return client.get(f"/articles/{article_id}").json()


def comparable(article: dict) -> dict:
    """What parsing and extraction make of a text: its fields, body and entities."""
    fields = ("title", "published_at", "author", "source", "credits", "photo_credit", "url", "body")
    entities = sorted((e["name"], e["type"], e["spans"]) for e in article["entities"])
    return {name: article[name] for name in fields} | {"entities": entities}


@pytest.mark.parametrize("seed", sorted(SEEDS.glob("*.txt")), ids=lambda p: p.name[:3])
def test_raw_text_is_parsed_exactly_like_a_file(
    writable: TestClient, tmp_path: Path, extractor, seed: Path
) -> None:  # type: ignore[no-untyped-def]
    text = seed.read_text(encoding="utf-8-sig")
    posted = writable.post("/articles", json={"raw": text}, headers={"X-API-Key": KEY})
    assert posted.status_code == 201, posted.text
    as_file = detail_of_file(tmp_path, seed, extractor)
    assert comparable(posted.json()) == comparable(as_file)
    again = writable.post("/articles", json={"raw": text}, headers={"X-API-Key": KEY})
    assert again.status_code == 200 and again.json()["id"] == posted.json()["id"]


def test_a_dateline_and_byline_become_fields(writable: TestClient) -> None:
    raw = (
        "Harbour Authority Opens New Ferry Terminal\n\nBy Maria Camilleri\n\n"
        "VALLETTA (May 6, 2024) - The Harbour Authority opened a ferry terminal on Monday. "
        "Transport Malta welcomed the move.\n\nSource: Times of Malta\n"
    )
    article = writable.post("/articles", json={"raw": raw}, headers={"X-API-Key": KEY}).json()
    assert article["title"] == "Harbour Authority Opens New Ferry Terminal"
    assert (article["published_at"], article["author"]) == ("2024-05-06", "Maria Camilleri")
    assert article["source"] == "Times of Malta"
    assert article["body"].startswith("The Harbour Authority opened")


@pytest.mark.parametrize(
    ("payload", "fields"),
    [
        ({"raw": "Some text. More.", "title": "T"}, ["title"]),
        ({"raw": "Text.", "body": "B", "published_at": "2024-01-01"}, ["body", "published_at"]),
        ({"raw": ""}, ["raw"]),
        ({"raw": "By Jane Doe\n\n2024-05-06\n"}, ["raw"]),  # metadata, no body
        ({"raw": "x", "colour": "red"}, ["colour"]),
        ({"body": "x", "published_at": "soon"}, ["published_at"]),
        ({"title": "T"}, ["body"]),
    ],
)
def test_raw_or_fields_not_both_and_the_field_at_fault_is_named(
    writable: TestClient, payload: dict, fields: list[str]
) -> None:
    body = assert_problem(writable.post("/articles", json=payload, headers={"X-API-Key": KEY}), 422)
    assert [e["field"] for e in body["errors"]] == fields


@pytest.mark.parametrize("payload", [{}, {"url": "https://example.org/a"}, {"colour": "red"}, []])
def test_an_article_in_neither_form_is_422_naming_both(
    writable: TestClient, payload: object
) -> None:
    body = assert_problem(writable.post("/articles", json=payload, headers={"X-API-Key": KEY}), 422)
    [error] = body["errors"]
    assert error["field"] == ""
    assert "`raw`" in error["message"] and "`body`" in error["message"]
    assert "`title`" in error["message"] and error["message"] in body["detail"]


def test_the_schema_says_raw_or_fields(writable: TestClient) -> None:
    spec = writable.get("/openapi.json").json()
    content = spec["paths"]["/articles"]["post"]["requestBody"]["content"]["application/json"]
    forms = [ref["$ref"].rsplit("/", 1)[1] for ref in content["schema"]["oneOf"]]
    schemas = spec["components"]["schemas"]
    assert sorted(forms) == ["ArticleFieldsIn", "RawArticleIn"]
    assert set(schemas["RawArticleIn"]["properties"]) == {"raw", "url"}
    assert "raw" not in schemas["ArticleFieldsIn"]["properties"]
    assert all(schemas[form]["additionalProperties"] is False for form in forms)


def test_a_best_match_walk_goes_on_while_articles_arrive(
    writable: TestClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Every article added moves every score; a walk ranks all its pages on the version of
    the index its first page ran on, and says so plainly once that version is let go."""
    from app.search import reading

    def add(n: int) -> None:
        body = f"The ferry ran late {n} times " + "and the harbour was calm " * (n % 4 + 1)
        article = {**NEW, "title": f"Ferry report {n}", "body": body}
        assert writable.post("/articles", json=article, headers={"X-API-Key": KEY}).is_success

    for n in range(6):
        add(n)
    wait_for(writable, {"q": "ferry", "limit": 100}, 6)
    before = [a["id"] for a in writable.get("/articles", params={"q": "ferry"}).json()["items"]]
    page = writable.get("/articles", params={"q": "ferry", "limit": 2}).json()
    walked = [a["id"] for a in page["items"]]
    for n in range(6, 12):
        add(n)
    wait_for(writable, {"q": "ferry", "limit": 100}, 12)
    cursor = page["next_cursor"]
    while cursor:
        page = writable.get("/articles", params={"q": "ferry", "limit": 2, "cursor": cursor}).json()
        walked += [a["id"] for a in page["items"]]
        cursor = page["next_cursor"]
    assert walked == before

    first = writable.get("/articles", params={"q": "ferry", "limit": 2}).json()["next_cursor"]
    add(12)
    wait_for(writable, {"q": "ferry", "limit": 100}, 13)
    monkeypatch.setattr(reading, "WALK_IDLE_SECONDS", -1)  # every kept version let go
    gone = writable.get("/articles", params={"q": "ferry", "limit": 2, "cursor": first})
    assert "start again" in assert_problem(gone, 410)["detail"]
