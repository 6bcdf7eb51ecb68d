"""Unknown query parameters: a typo is a 400 naming it, never silently ignored."""

from __future__ import annotations

import json

import pytest
from fastapi.testclient import TestClient

from tests.api.test_articles import assert_problem


def test_a_typo_is_400_naming_it_and_the_valid_ones(seeded_client: TestClient) -> None:
    response = seeded_client.get("/articles", params={"pubished_from": "2020-01-01"})
    body = assert_problem(response, 400)
    assert "pubished_from" in body["detail"] and "published_from" in body["detail"]
    hint = "unknown query parameter; did you mean published_from?"
    assert body["errors"] == [{"field": "pubished_from", "message": hint}]
    assert "x-content-type-options" in response.headers


def test_every_route_checks_its_own_parameters(seeded_client: TestClient, seed_ids) -> None:
    routes = seeded_client.get("/openapi.json").json()["paths"]
    article = seed_ids["001"]
    entity = seeded_client.get(f"/articles/{article}").json()["entities"][0]["id"]
    story = seeded_client.get(f"/articles/{article}").json()["story_id"]
    ids = {"{id}": {"/articles": article, "/entities": entity, "/stories": story}}
    checked = 0
    for template, operations in routes.items():
        if "get" not in operations:
            continue
        prefix = "/" + template.split("/")[1]
        path = template.replace("{id}", ids["{id}"].get(prefix, ""))
        valid = {p["name"] for p in operations["get"].get("parameters", []) if p["in"] == "query"}
        assert seeded_client.get(path).status_code == 200, path
        body = assert_problem(seeded_client.get(path, params={"bogus": "1"}), 400)
        assert "bogus" in body["detail"], path
        for name in valid:  # every declared parameter is named as a valid one
            assert name in body["detail"], (path, name)
        checked += 1
    assert checked >= 9


def test_known_parameters_and_other_methods_still_work(seeded_client: TestClient) -> None:
    assert seeded_client.get("/articles", params={"q": "Putin", "limit": 1}).status_code == 200
    assert_problem(seeded_client.post("/articles?bogus=1", json={}), 400)  # before the key check
    assert seeded_client.get("/docs", params={"anything": "1"}).status_code == 200  # docs: HTML
    assert seeded_client.get("/openapi.json", params={"v": "2"}).status_code == 200
    # A method the route does not take is the first thing wrong: 405 naming the methods.
    assert_problem(seeded_client.request("OPTIONS", "/articles?bogus=1"), 405)


@pytest.mark.parametrize(
    ("query", "detail"),
    [
        ("x" * 8000 + "=1", "unknown query parameter '" + "x" * 63 + "\u2026'"),
        ("x" * 8000 + "=%FF", "x" * 63 + "\u2026 is not valid UTF-8"),
    ],
    ids=["unknown", "not-utf-8"],
)
def test_a_long_name_is_echoed_cut_short(
    seeded_client: TestClient, query: str, detail: str
) -> None:
    body = assert_problem(seeded_client.get(f"/articles?{query}"), 400)
    assert body["detail"].startswith(detail)
    assert body["errors"][0]["field"] == "x" * 63 + "\u2026"
    assert "x" * 64 not in json.dumps(body)


@pytest.mark.parametrize("query", ["limit=5&Limit=1", "q=a&%00=1", "q=a&=1"])
def test_odd_names_are_named_too(seeded_client: TestClient, query: str) -> None:
    assert_problem(seeded_client.get(f"/articles?{query}"), 400)


@pytest.mark.parametrize(
    ("query", "name"),
    [("q=%FF%FE", "q"), ("q=%ED%A0%80", "q"), ("person=%FF", "person"), ("q=caf%E9", "q")],
)
def test_a_value_not_in_utf8_is_400_naming_it(
    seeded_client: TestClient, query: str, name: str
) -> None:
    """Read with replacement characters, it would match everything or nothing."""
    body = assert_problem(seeded_client.get(f"/articles?{query}&limit=2"), 400)
    words = "not valid UTF-8 (percent-encode UTF-8 bytes)"
    assert body["detail"] == f"{name} is {words}"
    assert body["errors"] == [{"field": name, "message": words}]


def test_every_route_refuses_query_text_not_in_utf8(seeded_client: TestClient) -> None:
    routes = seeded_client.get("/openapi.json").json()["paths"]
    for template, operations in routes.items():
        path = template.replace("{id}", "x")
        for method in operations:
            body = assert_problem(seeded_client.request(method, f"{path}?%E9t%E9=1"), 400)
            assert body["detail"].startswith("a query parameter's name is not valid UTF-8")
    for fine in ("q=caf%C3%A9", "q=50%25+off", "q=%", "q=%zz", "q=a+b&limit=1"):
        assert seeded_client.get(f"/articles?{fine}").status_code == 200, fine


def test_a_query_string_is_validated_once_and_its_parameters_are_read_only() -> None:
    """Requests with the same query string share one validated object (what cursors and the
    page cache derive from it is derived once): it cannot be changed, and few are kept."""
    import asyncio

    from pydantic import ValidationError
    from starlette.requests import Request

    from app.api import deps
    from app.api.articles import ArticleParams

    model = deps.QueryModel(ArticleParams)

    def parsed(query: bytes) -> ArticleParams:
        return asyncio.run(model(Request({"type": "http", "query_string": query, "headers": []})))

    first = parsed(b"q=ferry&limit=5")
    assert parsed(b"q=ferry&limit=5") is first and first.limit == 5
    assert parsed(b"q=ferry&limit=6") is not first
    with pytest.raises(ValidationError):
        first.limit = 7
    assert (
        first.fingerprint == parsed(b"q=ferry&limit=6").fingerprint != parsed(b"q=boat").fingerprint
    )
    for n in range(deps.RECENT_QUERIES + 10):
        parsed(f"limit={n % 100 + 1}&q={n}".encode())
    assert len(model._recent) == deps.RECENT_QUERIES


# -- 422 messages say in words what a parameter takes ------------------------------------------


@pytest.mark.parametrize(
    ("path", "name", "value", "words"),
    [
        ("/articles", "facets", "person,colour", "a comma list of person, place, org, source"),
        ("/articles/export", "fields", "id,colour", "a comma list of id, title, source"),
        ("/articles", "published_from", "yesterday", "must be a date as YYYY-MM-DD"),
        ("/timeline", "published_to", "2024-02-30", "YYYY-MM-DD: day is out of range for month"),
        ("/articles/export", "published_from", "2024-13-01", "YYYY-MM-DD: month must be in 1..12"),
    ],
)
def test_a_malformed_parameter_is_422_saying_what_it_takes(
    seeded_client: TestClient, path: str, name: str, value: str, words: str
) -> None:
    body = assert_problem(seeded_client.get(path, params={name: value}), 422)
    [error] = body["errors"]
    assert error["field"] == name and words in error["message"], error
    shown = [part for part in ("^", "(?:", "pattern", "Value error") if part in error["message"]]
    assert not shown, error


@pytest.mark.parametrize(
    ("path", "name", "value", "unknown"),
    [
        ("/articles", "facets", "foo", "'foo' is"),
        ("/articles", "facets", "person, colour,place,size", "'colour', 'size' are"),
        ("/articles/export", "fields", "id,nope", "'nope' is"),
        ("/articles/export", "fields", "id," + "n" * 200, f"'{'n' * 63}\u2026' is"),
    ],
)
def test_a_list_names_the_items_it_does_not_take(
    seeded_client: TestClient, path: str, name: str, value: str, unknown: str
) -> None:
    [error] = assert_problem(seeded_client.get(path, params={name: value}), 422)["errors"]
    assert error["field"] == name, error
    assert error["message"].startswith("must be a comma list of ")
    assert error["message"].endswith(f" ({unknown} not one of them)")


def test_every_pattern_in_the_contract_has_words(seeded_client: TestClient) -> None:
    """A 422 for a pattern says what the pattern means: each one has its words."""
    from app.errors import PATTERN_WORDS

    def patterns(node: object) -> list[str]:
        if isinstance(node, dict):
            found = [node["pattern"]] if isinstance(node.get("pattern"), str) else []
            return found + [p for value in node.values() for p in patterns(value)]
        return [p for value in node for p in patterns(value)] if isinstance(node, list) else []

    found = patterns(seeded_client.get("/openapi.json").json())
    assert len(set(found)) >= 5 and set(found) <= set(PATTERN_WORDS)


@pytest.mark.parametrize("path", ["/articles", "/articles/export", "/timeline"])
def test_a_backwards_date_range_is_422_naming_both_ends(
    seeded_client: TestClient, path: str
) -> None:
    """It could only match nothing: an empty answer would pass for an empty corpus."""
    backwards = {"published_from": "2024-01-02", "published_to": "2024-01-01"}
    body = assert_problem(seeded_client.get(path, params=backwards), 422)
    assert [e["field"] for e in body["errors"]] == ["published_from", "published_to"]
    assert "published_to" in body["errors"][0]["message"]
    assert "published_from" in body["errors"][1]["message"]
    one_day = {"published_from": "2024-01-01", "published_to": "2024-01-01"}
    assert seeded_client.get(path, params=one_day).status_code == 200
