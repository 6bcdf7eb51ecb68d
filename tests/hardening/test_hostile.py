"""Every parameter of every operation against a battery of hostile values: never a 5xx, always
a result or a problem response."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.hardening.hostile import RAW, VALUES

KEY = "hostile-key-for-tests"
PROBLEM = "application/problem+json"


def failure(response: httpx.Response) -> str | None:
    """Say what is wrong with a response to hostile input, or None if it is acceptable."""
    status = response.status_code
    if status >= 500:
        return f"{status}: {response.text[:200]}"
    if status >= 400:
        if not response.headers.get("content-type", "").startswith(PROBLEM):
            return f"{status} without problem+json"
        body = response.json()
        if body.get("status") != status or not body.get("title") or not body.get("detail"):
            return f"{status} with a malformed problem: {body}"
        if "match pattern" in body["detail"]:  # a regular expression few clients could read
            return f"{status} showing a pattern: {body['detail'][:200]}"
        return None
    if response.headers.get("content-type", "").startswith("application/json"):
        response.json()  # parses
    return None


def get_operations(client: TestClient) -> list[tuple[str, list[dict]]]:
    """(path template, parameters) of every GET operation that takes parameters."""
    paths = client.get("/openapi.json").json()["paths"]
    return [
        (path, item["get"]["parameters"])
        for path, item in paths.items()
        if "get" in item and item["get"].get("parameters")
    ]


def requests_for(path: str, parameters: list[dict]) -> Iterator[tuple[str, str]]:
    """(label, URL) for each parameter set to each hostile value, alone."""
    encoded = [quote(v, safe="") for v in VALUES] + RAW
    for parameter in parameters:
        name = parameter["name"]
        for value in encoded:
            if parameter["in"] == "path":
                url = path.replace("{" + name + "}", value or "%20")
            else:
                url = path.replace("{id}", "x") + f"?{name}={value}"
            yield f"{name}={value[:40]!r}", url


@pytest.fixture(scope="module")
def client(seeded_client: TestClient) -> TestClient:
    return seeded_client


def test_battery_has_hundreds_of_values() -> None:
    assert len(VALUES) + len(RAW) >= 200


def test_every_parameter_against_every_value(client: TestClient) -> None:
    failures, sent = [], 0
    for path, parameters in get_operations(client):
        for label, url in requests_for(path, parameters):
            sent += 1
            if (problem := failure(client.get(url))) is not None:
                failures.append(f"GET {path} {label}: {problem}")
    assert sent >= 200 * 10
    assert not failures, "\n".join(failures[:50])


def test_repeated_parameters_by_the_hundred(client: TestClient) -> None:
    failures = []
    for path, parameters in get_operations(client):
        base = path.replace("{id}", "x")
        for parameter in (p for p in parameters if p["in"] == "query"):
            for value in ("a", "0", "-1", "relevance", "person", "%00", "9" * 30):
                query = "&".join([f"{parameter['name']}={value}"] * 500)
                if (problem := failure(client.get(f"{base}?{query}"))) is not None:
                    failures.append(f"GET {base} {parameter['name']}={value} x500: {problem}")
        every = "&".join(f"{p['name']}=%22(" for p in parameters if p["in"] == "query")
        if (problem := failure(client.get(f"{base}?{every}"))) is not None:
            failures.append(f"GET {base} all parameters hostile: {problem}")
    assert not failures, "\n".join(failures[:50])


@pytest.mark.parametrize(
    "query",
    [
        "&" * 5000,
        "=" * 5000,
        "&".join(f"p{i}=x" for i in range(2000)),  # thousands of unknown parameters
        "q=" + "%41" * 20_000,
        "q=a;limit=5",
        "q=a&q=b&q=c",
        "limit=5&limit=500",
        "q[]=a&q[0]=b",
        "q.x=1&__proto__=1&constructor=1",
        "sort=relevance&sort=title",
        "facets=person&facets=colour",
        "cursor=%00&cursor=",
    ],
)
def test_odd_query_strings(client: TestClient, query: str) -> None:
    for path in ("/articles", "/entities", "/sources", "/articles/x", "/entities/x"):
        assert failure(client.get(f"{path}?{query}")) is None, (path, query[:60])


def test_long_paths_and_odd_ids(client: TestClient) -> None:
    for prefix in ("/articles/", "/entities/"):
        for value in ("a" * 10_000, "%2F" * 100, "..", "%2E%2E", "x/related/y", "%00"):
            assert failure(client.get(prefix + value)) is None, (prefix, value[:40])


@pytest.fixture(scope="module")
def writable(tmp_path_factory: pytest.TempPathFactory, extractor) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    settings = make_settings(tmp_path_factory.mktemp("hostile-writes"), api_keys=[KEY])
    ingest(migrated_engine(settings), [SEEDS], None)
    app = create_app(settings)
    with TestClient(app) as client:
        app.state.extractor = extractor
        yield client


BENIGN = "The harbour opened a ferry terminal."


def test_every_body_field_against_every_value(writable: TestClient) -> None:
    """Each value as the body, as the date, and in all four other text fields at once (each of
    those requests runs the whole pipeline, so they are shared to keep the suite quick)."""
    failures = []
    for value in VALUES:
        payloads = {
            "body": {"body": value},
            "published_at": {"body": BENIGN, "published_at": value},
            "title, source, author, url": dict.fromkeys(("title", "source", "author", "url"), value)
            | {"body": BENIGN},
        }
        for fields, payload in payloads.items():
            response = writable.post("/articles", json=payload, headers={"X-API-Key": KEY})
            if (problem := failure(response)) is not None:
                failures.append(f"POST {fields}={value[:40]!r}: {problem}")
    assert not failures, "\n".join(failures[:50])


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"{",
        b'{"body": "x"',
        b"null",
        b"[]",
        b'"body"',
        b"1e999999",
        b'{"body": 1e999999}',
        b'{"body": "\\ud800"}',  # lone surrogate in a JSON escape
        b'{"body": "a\\udfffb", "title": "\\ud83d"}',
        b'{"body": "\\u0000"}',
        b'{"body": "x", "body": "y"}',
        b'{"body": ["x"]}',
        b'{"body": {"$ne": null}}',
        b"\xef\xbb\xbf" + b'{"body": "bom"}',
        b'{"body": "\xff\xfe invalid utf-8"}',
        b"[" * 100_000 + b"]" * 100_000,
        b'{"a":' * 50_000 + b"1" + b"}" * 50_000,
        b'{"body": "x", "published_at": "2024-02-30"}',
        b'{"body": "x", "published_at": 1700000000}',
        b'{"body": "' + b"x" * 1_100_000 + b'"}',
    ],
)
def test_malformed_bodies(writable: TestClient, raw: bytes) -> None:
    for content_type in ("application/json", "text/plain", "application/x-www-form-urlencoded"):
        headers = {"X-API-Key": KEY, "Content-Type": content_type}
        response = writable.post("/articles", content=raw, headers=headers)
        assert failure(response) is None, (content_type, raw[:60])
        assert response.status_code in (200, 201, 400, 413, 415, 422), response.text


def settled_total(client: TestClient) -> int:
    """Count the articles once the index has caught up with every committed write."""
    deadline = time.monotonic() + 30
    while client.get("/readyz").json()["index_lag"] and time.monotonic() < deadline:
        time.sleep(0.05)
    return client.get("/articles").json()["total"]


def test_hostile_keys_never_write(writable: TestClient) -> None:
    total = settled_total(writable)
    for value in VALUES:
        try:
            raw = value.encode("latin-1")
        except UnicodeEncodeError:
            continue  # not sendable as a header
        if any(c in value for c in "\r\n\x00") or value != value.strip():
            continue  # not a header value a client can send
        response = writable.post("/articles", json={"body": "x"}, headers={"X-API-Key": raw})
        assert response.status_code in (401, 403), (value[:40], response.status_code)
    assert settled_total(writable) == total


def test_stored_hostile_text_reads_back(writable: TestClient) -> None:
    created = writable.post(
        "/articles",
        json={"body": 'Text with <script>alert(1)</script> & "quotes" and \u202e marks.'},
        headers={"X-API-Key": KEY},
    )
    assert created.status_code in (200, 201)
    article = writable.get(f"/articles/{created.json()['id']}")
    assert article.json()["body"].startswith("Text with <script>")
    assert json.loads(article.text)["id"] == created.json()["id"]


@pytest.mark.parametrize(
    ("url", "named"),
    [
        ("/articles?person=%00", "parameter person"),
        ("/articles?q=a%00b", "parameter q"),
        ("/entities?q=%00", "parameter q"),
        ("/stories?org=x%00&limit=5", "parameter org"),
        ("/articles?%00=1", "query string"),
        ("/articles/%00", "path"),
        ("/entities/a%00b", "path"),
        ("/articles/x%00/related", "path"),
    ],
)
def test_a_nul_character_is_a_400_naming_where(client: TestClient, url: str, named: str) -> None:
    """No stored value can hold a NUL (PostgreSQL's text cannot): both backends say so alike."""
    response = client.get(url)
    assert response.status_code == 400 and failure(response) is None
    assert named in response.json()["detail"]
