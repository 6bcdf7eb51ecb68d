"""Security headers, body limits, CORS and the time budget, as a client sees them."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from sqlalchemy import text

from app import budget
from app.db import SessionDep, create_db_engine
from app.main import create_app
from app.search.base import ArticleQuery
from tests.api.test_articles import assert_problem
from tests.conftest import make_settings

KEY = "limits-key-for-tests"
NEW = {"title": "Ferry", "body": "The harbour opened a ferry terminal on Monday."}
FOREVER = "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n"


def make_client(tmp_path: Path, **settings: object) -> TestClient:
    return TestClient(create_app(make_settings(tmp_path, **settings)))


def test_security_headers_on_every_kind_of_response(seeded_client: TestClient) -> None:
    responses = [
        seeded_client.get("/articles"),
        seeded_client.get("/articles/nope"),
        seeded_client.get("/articles", params={"limit": 0}),
        seeded_client.post("/articles", json=NEW),
        seeded_client.get("/nowhere"),
        seeded_client.get("/openapi.json"),
    ]
    for response in responses:
        assert response.headers["x-content-type-options"] == "nosniff"
        assert response.headers["x-frame-options"] == "DENY"
        assert response.headers["referrer-policy"] == "no-referrer"
        assert "default-src 'none'" in response.headers["content-security-policy"]
    docs = seeded_client.get("/docs")
    assert "script-src 'self'" in docs.headers["content-security-policy"]


def test_unexpected_error_is_a_500_problem_with_headers(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path))

    @app.get("/boom")
    def boom() -> None:
        raise RuntimeError("secret path /etc/x and SQL select 1")

    with TestClient(app, raise_server_exceptions=False) as client:
        response = client.get("/boom")
    body = assert_problem(response, 500)
    assert "secret" not in response.text and "Traceback" not in body["detail"]
    assert response.headers["x-content-type-options"] == "nosniff"


def test_body_over_the_limit_is_413_before_it_is_read(tmp_path: Path) -> None:
    with make_client(tmp_path, api_keys=[KEY], max_body_bytes=1000) as client:
        big = {"body": "word " * 1000}
        response = client.post("/articles", json=big, headers={"X-API-Key": KEY})
        assert_problem(response, 413)
        # The limit holds without a key too, and without a Content-Length (chunked upload).
        assert_problem(client.post("/articles", json=big), 413)

        def chunks() -> Iterator[bytes]:
            yield b'{"body": "'
            for _ in range(100):
                yield b"word " * 10
            yield b'"}'

        streamed = client.post(
            "/articles",
            content=chunks(),
            headers={"X-API-Key": KEY, "Content-Type": "application/json"},
        )
        assert "content-length" not in streamed.request.headers
        assert_problem(streamed, 413)
        assert client.get("/articles").json()["total"] == 0


def test_cors_is_off_unless_configured(seeded_client: TestClient, tmp_path: Path) -> None:
    asked = {"Origin": "https://example.org", "Access-Control-Request-Method": "GET"}
    response = seeded_client.get("/articles", headers={"Origin": "https://example.org"})
    assert "access-control-allow-origin" not in response.headers
    assert seeded_client.options("/articles", headers=asked).status_code == 405
    with make_client(tmp_path, cors_origins=["https://example.org"]) as client:
        allowed = client.get("/articles", headers={"Origin": "https://example.org"})
        assert allowed.headers["access-control-allow-origin"] == "https://example.org"
        preflight = client.options("/articles", headers=asked)
        assert preflight.status_code == 200
        other = client.get("/articles", headers={"Origin": "https://evil.example"})
        assert "access-control-allow-origin" not in other.headers


def test_without_keys_nothing_can_change_the_corpus(seeded_client: TestClient) -> None:
    before = seeded_client.get("/articles").json()["total"]
    for headers in ({}, {"X-API-Key": ""}, {"X-API-Key": "x" * 10_000}, {"X-API-Key": KEY}):
        assert_problem(seeded_client.post("/articles", json=NEW, headers=headers), 403)
    for method in ("PUT", "PATCH", "DELETE"):
        for path in ("/articles", "/articles/x", "/entities", "/sources"):
            response = seeded_client.request(method, path, json=NEW)
            assert response.status_code == 405, (method, path)
    assert seeded_client.get("/articles").json()["total"] == before


@pytest.mark.sqlite_only("SQLite's own interruption (a progress handler)")
def test_sqlite_statement_stops_at_the_deadline(tmp_path: Path) -> None:
    engine = create_db_engine(f"sqlite:///{tmp_path / 'x.db'}")
    with engine.connect() as connection, budget.deadline(0.05):
        with pytest.raises(Exception, match="interrupted"):
            connection.execute(text(FOREVER))
        assert budget.expired()
    with engine.connect() as connection:  # no deadline outside a request: runs normally
        assert connection.execute(text("SELECT 1")).scalar() == 1


def test_query_over_budget_is_503_and_frees_the_worker(tmp_path: Path) -> None:
    app = create_app(make_settings(tmp_path, query_budget_ms=100))

    @app.get("/forever")
    def forever(session: SessionDep) -> int:
        return session.execute(text(FOREVER)).scalar_one()  # only the deadline ends this

    with TestClient(app) as client:
        for _ in range(3):  # the same worker threads serve the next requests
            response = client.get("/forever")
            body = assert_problem(response, 503)
            assert int(response.headers["retry-after"]) >= 1
            assert "longer than this server allows" in body["detail"]
        assert client.get("/articles").status_code == 200


class StuckSearch:
    """A search that never returns on its own, like a pathological query on a huge index."""

    def __init__(self) -> None:
        self.release = threading.Event()

    def search(self, query: ArticleQuery) -> None:
        self.release.wait(30)

    def lag(self) -> int:
        return 0


def test_search_over_budget_is_503_and_does_not_block_others(tmp_path: Path) -> None:
    # A budget a loaded machine's first PostgreSQL connection and query fit in (100 ms did not
    # always): the stuck searches wait it out, the others must not.
    app: FastAPI = create_app(make_settings(tmp_path, query_budget_ms=1000, search_threads=1))
    stuck = StuckSearch()
    with TestClient(app) as client:
        real = app.state.search.backend
        app.state.search.backend = stuck
        try:
            first = client.get("/articles", params={"q": "anything"})
            assert_problem(first, 503)
            assert first.headers["retry-after"]
            # The pool's one thread is still stuck: the next search waits in the queue and
            # times out too, while requests that need no search are answered.
            assert_problem(client.get("/articles", params={"q": "other"}), 503)
            assert client.get("/articles").status_code == 200  # a plain listing: the table's
            assert client.get("/sources").status_code == 200
        finally:
            stuck.release.set()
            app.state.search.backend = real
        assert client.get("/articles", params={"q": "anything"}).status_code == 200


def test_deep_best_match_cursor_is_refused_up_front(seeded_client: TestClient) -> None:
    from app.api.articles import MAX_RELEVANCE_DEPTH, POSITION, ArticleParams
    from app.api.cursors import fingerprint

    signer = seeded_client.app.state.cursors  # type: ignore[attr-defined]
    first = seeded_client.get("/articles", params={"q": "russia", "limit": 1}).json()
    # The version of the index the walk ranks on, as a real cursor holds it.
    version = signer.decode(first["next_cursor"], fingerprint(ArticleParams(q="russia")), POSITION)[
        3
    ]

    def cursor(params: ArticleParams, seen: int) -> str:  # signed with the server's own key
        return signer.encode([1.0, 1, seen, version], fingerprint(params))  # type: ignore[no-any-return]

    deep = cursor(ArticleParams(q="russia"), 900_000)
    body = assert_problem(
        seeded_client.get("/articles", params={"q": "russia", "cursor": deep}), 400
    )
    assert "sort by date" in body["detail"]
    edge = cursor(ArticleParams(q="russia"), MAX_RELEVANCE_DEPTH - 1)
    assert seeded_client.get("/articles", params={"q": "russia", "cursor": edge}).status_code == 200
    by_date = cursor(ArticleParams(sort="-published_at"), 900_000)
    response = seeded_client.get("/articles", params={"sort": "-published_at", "cursor": by_date})
    assert response.status_code == 200
