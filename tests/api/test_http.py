"""HTTP as caches and clients expect it: HEAD, conditional requests, compression, redirects."""

from __future__ import annotations

import asyncio
import gzip
import json
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path

import brotli
import pytest
import zstandard
from fastapi.responses import StreamingResponse
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.api.deps import last_modified
from app.db import write_session
from app.ingest.load import replace_entities
from app.main import create_app
from app.models import Article
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

KEY = "http-test-key-0123456789"


def get_paths(client: TestClient, seed_ids: dict[str, str]) -> list[str]:
    """Every GET route of the document, its ids filled in with real ones."""
    article = seed_ids["000"]
    detail = client.get(f"/articles/{article}").json()
    ids = {
        "/articles/{id}": article,
        "/articles/{id}/related": article,
        "/stories/{id}": detail["story_id"],
        "/entities/{id}": detail["entities"][0]["id"],
    }
    spec = client.get("/openapi.json").json()
    paths = [p for p, item in spec["paths"].items() if "get" in item]
    assert len(paths) >= 9
    return [p.replace("{id}", ids[p]) if p in ids else p for p in paths] + [
        "/openapi.json",
        "/docs",
    ]


def test_head_is_answered_on_every_get_route(
    seeded_client: TestClient, seed_ids: dict[str, str]
) -> None:
    for path in get_paths(seeded_client, seed_ids):
        full = seeded_client.get(path, headers={"Accept-Encoding": "identity"})
        head = seeded_client.head(path, headers={"Accept-Encoding": "identity"})
        assert head.status_code == full.status_code == 200, path
        assert head.content == b"", path
        if "content-length" in full.headers:  # streamed (the export) has none
            assert head.headers["content-length"] == str(len(full.content)), path
        assert head.headers["content-type"] == full.headers["content-type"], path
        assert head.headers.get("etag") == full.headers.get("etag"), path
    missing = seeded_client.head("/articles/nope")
    assert missing.status_code == 404 and missing.content == b""


def test_405_names_head_where_get_is_allowed(seeded_client: TestClient) -> None:
    response = seeded_client.delete("/articles")
    assert response.status_code == 405
    assert response.headers["allow"] == "GET, HEAD, POST"


def test_every_get_has_an_etag_and_a_304_when_the_client_has_it(
    seeded_client: TestClient, seed_ids: dict[str, str]
) -> None:
    for path in get_paths(seeded_client, seed_ids):
        first = seeded_client.get(path)
        if "content-length" not in first.headers:
            continue  # streamed (the export): no body to hash before it is sent
        etag = first.headers["etag"]
        assert first.headers["cache-control"], path
        again = seeded_client.get(path, headers={"If-None-Match": etag})
        assert again.status_code == 304, path
        assert again.content == b"" and again.headers["etag"] == etag, path
        assert "content-type" not in again.headers, path
        assert again.headers["x-content-type-options"] == "nosniff", path
        listed = seeded_client.get(path, headers={"If-None-Match": f'"other", {etag}'})
        assert listed.status_code == 304, path
        other = seeded_client.get(path, headers={"If-None-Match": '"other"'})
        assert other.status_code == 200 and other.content == first.content, path
    assert seeded_client.get("/sources", headers={"If-None-Match": "*"}).status_code == 304


def test_etags_differ_between_pages(seeded_client: TestClient) -> None:
    tags = {seeded_client.get("/articles", params={"limit": n}).headers["etag"] for n in (1, 2, 3)}
    assert len(tags) == 3


def test_cache_control_fits_each_resource(
    seeded_client: TestClient, seed_ids: dict[str, str]
) -> None:
    article = seeded_client.get(f"/articles/{seed_ids['000']}")
    assert article.headers["cache-control"] == "public, max-age=300"
    assert seeded_client.get("/healthz").headers["cache-control"] == "no-store"
    assert seeded_client.get("/readyz").headers["cache-control"] == "no-store"
    assert seeded_client.get("/articles").headers["cache-control"] == "no-cache"
    assert seeded_client.get("/articles?q=putin").headers["cache-control"] == "no-cache"


def test_errors_carry_no_etag(seeded_client: TestClient) -> None:
    response = seeded_client.get("/articles/nope")
    assert response.status_code == 404 and "etag" not in response.headers


def test_a_new_article_changes_the_listing_etag(tmp_path: Path) -> None:
    settings = make_settings(tmp_path, api_keys=[KEY])
    with TestClient(create_app(settings)) as client:
        etag = client.get("/articles").headers["etag"]
        new = {"title": "Ferry", "body": "The harbour opened a ferry terminal on Monday."}
        assert client.post("/articles", json=new, headers={"X-API-Key": KEY}).status_code == 201
        stale = client.get("/articles", headers={"If-None-Match": etag})
        assert stale.status_code == 200 and stale.json()["total"] == 1


@pytest.mark.parametrize(
    ("encoding", "decode"),
    [("gzip", gzip.decompress), ("br", brotli.decompress), ("zstd", zstandard.decompress)],
)
def test_responses_are_compressed_when_asked(
    seeded_client: TestClient, encoding: str, decode: object
) -> None:
    identity = seeded_client.get("/openapi.json", headers={"Accept-Encoding": "identity"})
    assert "content-encoding" not in identity.headers
    with seeded_client.stream("GET", "/openapi.json", headers={"Accept-Encoding": encoding}) as r:
        raw = b"".join(r.iter_raw())
        assert r.headers["content-encoding"] == encoding
        assert "accept-encoding" in r.headers["vary"].lower()
    assert decode(raw) == identity.content  # type: ignore[operator]
    assert len(raw) < len(identity.content) / 3
    invalid = {"limit": 0, "published_from": "x", "published_to": "y", "sort": "z", "dedupe": "w"}
    invalid |= {"q": "q" * 501, "cursor": "c" * 513, "story": "s" * 65, "facets": "nope"}
    problem = seeded_client.get(
        "/articles", params=invalid, headers={"Accept-Encoding": "identity"}
    )
    assert len(problem.content) > 1024 and problem.status_code == 422
    problem = seeded_client.get("/articles", params=invalid, headers={"Accept-Encoding": encoding})
    assert problem.headers["content-encoding"] == encoding  # problem+json is compressed too


def test_small_responses_are_not_compressed(seeded_client: TestClient) -> None:
    response = seeded_client.get("/healthz", headers={"Accept-Encoding": "gzip"})
    assert "content-encoding" not in response.headers


def test_compression_keeps_a_stream_streaming(tmp_path: Path) -> None:
    """Each chunk of a streamed response reaches the client before the next is made."""
    app = create_app(make_settings(tmp_path))
    sent = asyncio.Event()

    @app.get("/stream")
    async def stream() -> StreamingResponse:
        async def lines() -> AsyncIterator[bytes]:
            for n in range(3):
                sent.clear()
                yield (json.dumps({"n": n, "pad": "x" * 2000}) + "\n").encode()
                await asyncio.wait_for(sent.wait(), 5)  # the client has this line

        return StreamingResponse(lines(), media_type="application/x-ndjson")

    async def run() -> bytes:
        body = b""

        requested = False

        async def receive() -> dict:
            nonlocal requested
            if requested:  # then the client just waits for the answer
                await asyncio.Event().wait()
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}

        async def send(message: dict) -> None:
            nonlocal body
            if message["type"] == "http.response.start":
                headers = dict(message["headers"])
                assert headers[b"content-encoding"] == b"gzip"
            elif message.get("body"):
                body += message["body"]
                sent.set()

        scope = {
            "type": "http",
            "method": "GET",
            "path": "/stream",
            "raw_path": b"/stream",
            "query_string": b"",
            "headers": [(b"accept-encoding", b"gzip"), (b"host", b"test")],
            "http_version": "1.1",
            "scheme": "http",
            "server": ("test", 80),
            "client": ("test", 1),
            "root_path": "",
            "app": app,
        }
        await app(scope, receive, send)
        return body

    lines = gzip.decompress(asyncio.run(run())).decode().splitlines()
    assert [json.loads(line)["n"] for line in lines] == [0, 1, 2]


def test_no_trailing_slash_redirect(seeded_client: TestClient) -> None:
    response = seeded_client.get(
        "/articles/", headers={"Host": "evil.example"}, follow_redirects=False
    )
    assert response.status_code == 404
    assert "location" not in response.headers


def test_a_304_keeps_the_pages_own_headers(seeded_client: TestClient) -> None:
    """A browser updates its stored page with a 304's headers: the page's own
    Content-Security-Policy must survive, or the API's default one blocks its scripts."""
    page = seeded_client.get("/explore")
    again = seeded_client.get("/explore", headers={"If-None-Match": page.headers["etag"]})
    assert again.status_code == 304
    assert again.headers["content-security-policy"] == page.headers["content-security-policy"]


BASE_TIME = datetime(2024, 1, 2, 3, 4, 5)


@pytest.fixture
def aged(tmp_path: Path) -> Iterator[TestClient]:
    """An app over the seeds, each article last changed a minute after the one before it."""
    settings = make_settings(tmp_path)
    engine = migrated_engine(settings)
    ingest(engine, [SEEDS], extractor=None)
    with write_session(engine) as session:
        for n, article in enumerate(session.scalars(select(Article).order_by(Article.seq))):
            article.updated_at = BASE_TIME + timedelta(minutes=n)
    with TestClient(create_app(settings)) as client:
        yield client


def _http_date(moment: datetime) -> str:
    return format_datetime(moment.replace(tzinfo=UTC), usegmt=True)


def test_an_article_page_carries_its_last_change_and_answers_if_modified_since(
    aged: TestClient,
) -> None:
    engine = aged.app.state.engine  # type: ignore[attr-defined]
    with Session(engine) as session:
        article = session.scalars(select(Article).order_by(Article.seq)).first()
        assert article is not None
    path = f"/articles/{article.id}"
    page = aged.get(path)
    assert page.headers["last-modified"] == _http_date(BASE_TIME)
    same = aged.get(path, headers={"If-Modified-Since": _http_date(BASE_TIME)})
    assert same.status_code == 304 and same.content == b""
    assert same.headers["last-modified"] == page.headers["last-modified"]
    later = _http_date(BASE_TIME + timedelta(days=1))
    assert aged.get(path, headers={"If-Modified-Since": later}).status_code == 304
    earlier = _http_date(BASE_TIME - timedelta(seconds=1))
    assert aged.get(path, headers={"If-Modified-Since": earlier}).status_code == 200
    assert aged.get(path, headers={"If-Modified-Since": "yesterday"}).status_code == 200
    # If-None-Match decides when both are sent (RFC 9110 13.2.2).
    both = {"If-None-Match": '"other"', "If-Modified-Since": later}
    assert aged.get(path, headers=both).status_code == 200


def test_a_plain_listing_carries_the_corpus_last_change(aged: TestClient) -> None:
    newest = BASE_TIME + timedelta(minutes=len(list(SEEDS.glob("*.txt"))) - 1)
    listing = aged.get("/articles", params={"limit": 1})
    assert listing.headers["last-modified"] == _http_date(newest)
    since = {"If-Modified-Since": _http_date(newest)}
    assert aged.get("/articles", params={"limit": 1}, headers=since).status_code == 304
    # A search reads the index, which may lag the database: no date to vouch for.
    assert "last-modified" not in aged.get("/articles", params={"q": "the"}).headers


def test_new_entities_move_an_articles_last_change(aged: TestClient) -> None:
    engine = aged.app.state.engine  # type: ignore[attr-defined]
    with write_session(engine) as session:
        pk = session.scalars(select(Article.pk).order_by(Article.seq)).first()
        assert pk is not None
        replace_entities(session, {pk: []})
    with Session(engine) as session:
        article = session.get(Article, pk)
        assert article is not None and article.updated_at > BASE_TIME
    since = {"If-Modified-Since": _http_date(BASE_TIME)}
    assert aged.get(f"/articles/{article.id}", headers=since).status_code == 200


def test_no_last_modified_within_the_current_second() -> None:
    """A second change within the same second would carry the same HTTP date."""
    assert last_modified(datetime.now(UTC)) == {}
    assert last_modified(BASE_TIME) == {"Last-Modified": "Tue, 02 Jan 2024 03:04:05 GMT"}
