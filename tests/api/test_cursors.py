"""Cursors are signed with the database's secret, and every value in them is range-checked:
a forged or tampered cursor is a 400, never a 500."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from pydantic import BaseModel

from app.api import cursors
from app.api.articles import ArticleParams
from app.api.entities import EntityParams
from app.api.stories import StoryParams
from app.main import create_app
from app.search.base import DAY_SHIFT
from tests.api.test_articles import assert_problem
from tests.conftest import make_settings, migrated_engine

PAST_9999 = (4_000_000 << DAY_SHIFT) | 1  # a sort key whose day is after 9999-12-31
INT_MAX = 2**31 - 1  # PostgreSQL's integer columns
ROUTES = [
    ("/articles", ArticleParams(), [0.0, PAST_9999, 1, 0]),
    ("/entities", EntityParams(), [10**30, "e"]),
    ("/stories", StoryParams(), [10**30, "s"]),
]


def unsigned(position: list[object], params: BaseModel) -> str:
    """A cursor as they were before signing: anyone could write one."""
    raw = json.dumps({"f": cursors.fingerprint(params), "p": position}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def signed(client: TestClient, position: list[object], params: BaseModel) -> str:
    """A cursor signed with the server's own secret: only its values can be wrong."""
    return client.app.state.cursors.encode(position, cursors.fingerprint(params))  # type: ignore[attr-defined]


def with_cursor(params: BaseModel, cursor: str) -> dict[str, object]:
    return params.model_dump(exclude_defaults=True) | {"cursor": cursor}


@pytest.mark.parametrize(("path", "params", "position"), ROUTES)
def test_forged_cursors_are_refused(
    seeded_client: TestClient, path: str, params: BaseModel, position: list[object]
) -> None:
    forged = seeded_client.get(path, params={"cursor": unsigned(position, params)})
    body = assert_problem(forged, 400)
    assert body["detail"] == "the cursor is not one this server issued"


def test_tampered_cursors_are_refused(seeded_client: TestClient) -> None:
    cursor = seeded_client.get("/entities", params={"limit": 2}).json()["next_cursor"]
    assert seeded_client.get("/entities", params={"limit": 2, "cursor": cursor}).status_code == 200
    assert set(cursor) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for at in (0, len(cursor) // 2, len(cursor) - 2):
        flipped = cursor[:at] + ("A" if cursor[at] != "A" else "B") + cursor[at + 1 :]
        assert_problem(seeded_client.get("/entities", params={"limit": 2, "cursor": flipped}), 400)


OUT_OF_RANGE = [
    ("/articles", ArticleParams(), [0.0, PAST_9999, 1, 0]),
    ("/articles", ArticleParams(), [0.0, 1 << 31, 1, 0]),  # a pk past PostgreSQL's integer
    ("/articles", ArticleParams(), [0.0, 2**64, 1, 0]),
    ("/articles", ArticleParams(), [0.0, -1, 1, 0]),
    ("/articles", ArticleParams(), [0.0, 5, 10**30, 0]),
    ("/articles", ArticleParams(q="Putin"), [float("nan"), 5, 1, 0]),
    ("/articles", ArticleParams(q="Putin"), [1e400, 5, 1, 0]),  # json: Infinity
    ("/articles", ArticleParams(), [0.0, "5", 1, 0]),
    ("/articles", ArticleParams(), [0.0, 5, 1]),
    ("/articles", ArticleParams(dedupe=True), [0.0, 5, 1, INT_MAX + 1]),
    ("/entities", EntityParams(), [10**30, "e"]),
    ("/entities", EntityParams(), [INT_MAX + 1, "e"]),
    ("/entities", EntityParams(), [-1, "e"]),
    ("/entities", EntityParams(), [True, "e"]),
    ("/entities", EntityParams(), [1.5, "e"]),
    ("/entities", EntityParams(), [3, 7]),
    ("/stories", StoryParams(), [10**30, "s"]),
    ("/stories", StoryParams(), [INT_MAX + 1, "s"]),
    ("/stories", StoryParams(sort="recency"), ["10000-01-01", "s"]),
    ("/stories", StoryParams(sort="recency"), ["2020-13-01", "s"]),
    ("/stories", StoryParams(sort="recency"), [1700000000, "s"]),
    ("/stories", StoryParams(sort="recency"), ["2020-01-01", "s" * 65]),
]


@pytest.mark.parametrize(("path", "params", "position"), OUT_OF_RANGE)
def test_every_value_is_range_checked(
    seeded_client: TestClient, path: str, params: BaseModel, position: list[object]
) -> None:
    query = with_cursor(params, signed(seeded_client, position, params))
    body = assert_problem(seeded_client.get(path, params=query), 400)
    assert "cursor" in body["detail"]


@pytest.mark.parametrize(
    ("path", "params", "position"),
    [
        ("/articles", ArticleParams(), [0.0, (3_652_059 << DAY_SHIFT) | INT_MAX, 1_000_000, 0]),
        ("/articles", ArticleParams(dedupe=True), [0.0, 5, 1, INT_MAX]),
        ("/entities", EntityParams(), [INT_MAX, ""]),
        ("/stories", StoryParams(), [INT_MAX, ""]),
        ("/stories", StoryParams(sort="recency"), ["9999-12-31", ""]),
        ("/stories", StoryParams(sort="recency"), [None, ""]),
    ],
)
def test_values_at_the_edge_of_their_range_are_served(
    seeded_client: TestClient, path: str, params: BaseModel, position: list[object]
) -> None:
    query = with_cursor(params, signed(seeded_client, position, params))
    assert seeded_client.get(path, params=query).status_code == 200


def test_every_host_of_a_database_accepts_its_cursors(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "one")
    migrated_engine(settings)
    with TestClient(create_app(settings)) as client:
        cursor = client.get("/stories", params={"limit": 1}).json()["next_cursor"] or signed(
            client, [1, ""], StoryParams(limit=1)
        )
    with TestClient(create_app(settings)) as again:  # another process on the same database
        assert again.get("/stories", params={"limit": 1, "cursor": cursor}).status_code == 200
    other = make_settings(tmp_path / "two")  # another database has another secret
    migrated_engine(other)
    with TestClient(create_app(other)) as elsewhere:
        found = elsewhere.get("/stories", params={"limit": 1, "cursor": cursor})
        assert_problem(found, 400)


def test_cursor_values_past_an_integer_column_are_400_and_its_largest_is_served(
    seeded_client: TestClient,
) -> None:
    """The same answers on both backends (PostgreSQL used to answer 500 past 2^31)."""
    from app.api.cursors import INT_MAX, fingerprint

    signed = seeded_client.app.state.cursors  # type: ignore[attr-defined]
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
        cursor = signed.encode(too_big, fingerprint(params))
        assert seeded_client.get(path, params={"cursor": cursor}).status_code == 400, path
        cursor = signed.encode(largest, fingerprint(params))
        assert seeded_client.get(path, params={"cursor": cursor}).status_code == 200, path


@pytest.mark.parametrize(
    ("path", "query", "defaults"),
    [
        ("/articles", {"q": "said"}, {"sort": "relevance", "dedupe": "false", "facet_size": "10"}),
        ("/articles", {}, {"sort": "-published_at", "q": ""}),
        ("/stories", {}, {"sort": "size", "q": " "}),
    ],
)
def test_a_cursor_is_good_whether_the_defaults_are_sent_or_not(
    corpus_client: TestClient, path: str, query: dict[str, str], defaults: dict[str, str]
) -> None:
    """Generated clients send every default: a cursor is bound to the validated query, its
    defaults filled in, not to the parameters as sent."""
    for first, then in ((query, query | defaults), (query | defaults, query)):
        cursor = corpus_client.get(path, params={**first, "limit": 1}).json()["next_cursor"]
        assert cursor
        page = corpus_client.get(path, params={**then, "limit": 1, "cursor": cursor})
        assert page.status_code == 200, page.text
