"""POST /articles: keys, idempotency, and the new article becoming searchable."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.api.test_articles import assert_problem
from tests.conftest import make_settings

KEY = "s3cret-key"
NEW = {
    "title": "Harbour Authority Opens New Ferry Terminal in Valletta",
    "body": "The Harbour Authority opened a ferry terminal in Valletta on Monday, "
    "said Maria Camilleri, its chairwoman. Transport Malta welcomed the move.",
    "source": "Times of Malta",
    "published_at": "2024-05-06",
}


@pytest.fixture
def writable(tmp_path: Path, extractor) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    app = create_app(make_settings(tmp_path, api_keys=[KEY, "another-key"]))
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
    again = writable.post("/articles", json=NEW, headers={"X-API-Key": "another-key"})
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


def test_sources_lists_one_spelling_per_source(writable: TestClient) -> None:
    for n, source in enumerate(["Times of Malta", "TIMES OF MALTA", "The Times of Malta News"]):
        article = NEW | {"title": f"{NEW['title']} ({n})", "source": source}
        assert writable.post("/articles", json=article, headers={"X-API-Key": KEY}).is_success

    assert writable.get("/sources").json() == [{"name": "Times of Malta", "article_count": 3}]
    wait_for(writable, {"source": "the times of malta"}, 3)
