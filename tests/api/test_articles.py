"""GET /articles and /articles/{id} over the seeds, as a client sees them."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

PROBLEM = "application/problem+json"


def ids_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()["items"]]


def assert_problem(response, status: int) -> dict:  # type: ignore[no-untyped-def]
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body = response.json()
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def test_listing_is_newest_first_with_undated_last(seeded_client: TestClient, seed_ids) -> None:
    response = seeded_client.get("/articles")
    page = response.json()
    assert page["total"] == 3 and page["next_cursor"] is None
    assert ids_of(response)[0] == seed_ids["001"]  # the only dated seed
    first = page["items"][0]
    assert first["published_at"] == "2017-03-14"
    assert first["score"] is None and first["snippet"] is None
    assert len(first["excerpt"]) <= 201 and first["word_count"] > 100


def test_a_page_from_the_index_shows_articles_as_the_table_does(
    seeded_client: TestClient,
) -> None:
    from_table = seeded_client.get("/articles").json()["items"]  # a plain listing
    from_index = seeded_client.get("/articles", params={"facets": "source"}).json()["items"]
    assert from_index == from_table and all(item["story_id"] for item in from_index)


def test_oldest_first_reverses_dated_and_undated_articles_apart(
    seeded_client: TestClient,
) -> None:
    newest = seeded_client.get("/articles").json()["items"]
    oldest = ids_of(seeded_client.get("/articles", params={"sort": "published_at"}))
    dated = [item["id"] for item in newest if item["published_at"]]
    undated = [item["id"] for item in newest if not item["published_at"]]
    assert oldest == dated[::-1] + undated[::-1]  # undated last both ways


def test_detail_has_metadata_body_and_no_invented_date(seeded_client: TestClient, seed_ids) -> None:
    article = seeded_client.get(f"/articles/{seed_ids['002']}").json()
    assert article["title"] == "Putin Approves Military Deal with Georgia’s Breakaway South Ossetia"
    assert article["author"] == "Thea Morrison"
    assert article["published_at"] is None  # the treaty date in the body is not a publication date
    assert article["source"] is None  # a photo credit is not the source
    assert "By Thea Morrison" not in article["body"]
    assert article["body"].startswith("Russian President Vladimir Putin has instructed")
    assert len(article["content_hash"]) == 64 and article["ingested_at"]


def test_detail_of_a_trailer_article(seeded_client: TestClient, seed_ids) -> None:
    article = seeded_client.get(f"/articles/{seed_ids['000']}").json()
    assert article["source"] == "Al Jazeera"
    assert "Source:" not in article["body"]
    assert article["body"].endswith("another breakaway region, back.")
    credits = seeded_client.get(f"/articles/{seed_ids['001']}").json()["credits"]
    assert credits == ["Reuters", "Interfax"]


def test_unknown_article_is_a_404_problem(seeded_client: TestClient) -> None:
    assert_problem(seeded_client.get("/articles/doesnotexist"), 404)


def test_search_ranks_and_highlights(seeded_client: TestClient, seed_ids) -> None:
    response = seeded_client.get("/articles", params={"q": "annexation"})
    assert set(ids_of(response)) == {seed_ids["000"], seed_ids["002"]}
    items = response.json()["items"]
    assert items[0]["score"] >= items[1]["score"] > 0
    for item in items:
        assert "<mark>annexation</mark>" in item["snippet"].lower()


def test_snippets_escape_html(seeded_client: TestClient) -> None:
    items = seeded_client.get("/articles", params={"q": "statement"}).json()["items"]
    assert items
    for item in items:
        without_marks = item["snippet"].replace("<mark>", "").replace("</mark>", "")
        assert "<" not in without_marks and '"' not in without_marks


@pytest.mark.parametrize(
    ("q", "expected"),
    [
        ('"Foreign Minister Mikheil Janelidze"', {"001"}),
        ("Janelidze -Tbilisi", set()),
        ("Tibilov OR Janelidze", {"000", "001", "002"}),
        ("invasion", {"001"}),
        ("annex*", {"000", "002"}),
        ("Putin Tibilov", {"000"}),
    ],
)
def test_query_syntax(seeded_client: TestClient, seed_ids, q: str, expected: set[str]) -> None:
    found = ids_of(seeded_client.get("/articles", params={"q": q}))
    assert set(found) == {seed_ids[s] for s in expected}


def test_title_match_outranks_body_match(seeded_client: TestClient, seed_ids) -> None:
    found = ids_of(seeded_client.get("/articles", params={"q": "approves"}))
    assert found[0] == seed_ids["002"]  # the only seed with a headline, which says "Approves"


# A NUL character is a 400 wherever it is (tests/hardening/test_hostile.py).
@pytest.mark.parametrize(
    "q", ['"unbalanced', "title:(", "a AND OR NOT", "NEAR(a b)", "-", "*", "'; DROP TABLE"]
)
def test_any_query_text_is_safe(seeded_client: TestClient, q: str) -> None:
    assert seeded_client.get("/articles", params={"q": q}).status_code == 200


def test_overlong_query_is_422(seeded_client: TestClient) -> None:
    body = assert_problem(seeded_client.get("/articles", params={"q": "a" * 501}), 422)
    assert body["errors"][0]["field"] == "q"


@pytest.mark.parametrize(
    "params",
    [
        {"limit": 0},
        {"limit": 101},
        {"limit": "ten"},
        {"sort": "title"},
        {"published_from": "yesterday"},
        {"facets": "colour"},
    ],
)
def test_bad_parameters_are_422_problems(seeded_client: TestClient, params: dict) -> None:
    assert_problem(seeded_client.get("/articles", params=params), 422)


@pytest.mark.parametrize("q", [None, "Russia"])
def test_cursor_walks_every_article_once(seeded_client: TestClient, q: str | None) -> None:
    seen, cursor = [], None
    for _ in range(5):
        params = {"limit": 1, "q": q, "cursor": cursor}
        page = seeded_client.get("/articles", params={k: v for k, v in params.items() if v}).json()
        seen += [item["id"] for item in page["items"]]
        assert page["total"] == 3
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert len(seen) == 3 and len(set(seen)) == 3


@pytest.mark.parametrize("cursor", ["garbage", "eyJmIjoxfQ", "%%%", "A" * 400])
def test_tampered_cursor_is_400(seeded_client: TestClient, cursor: str) -> None:
    assert_problem(seeded_client.get("/articles", params={"cursor": cursor}), 400)


def test_cursor_of_another_query_is_400(seeded_client: TestClient) -> None:
    cursor = seeded_client.get("/articles", params={"limit": 1}).json()["next_cursor"]
    response = seeded_client.get("/articles", params={"limit": 1, "q": "Russia", "cursor": cursor})
    assert_problem(response, 400)


def test_source_and_date_filters(seeded_client: TestClient, seed_ids) -> None:
    assert ids_of(seeded_client.get("/articles", params={"source": "al jazeera"})) == [
        seed_ids["000"]
    ]
    assert ids_of(seeded_client.get("/articles", params={"source": "Nobody"})) == []
    # The spellings the loader folds into one source find it too.
    for spelt in ("The Al-Jazeera News", "AL JAZEERA"):
        assert ids_of(seeded_client.get("/articles", params={"source": spelt})) == [seed_ids["000"]]
    dated = {"published_from": "2017-03-14", "published_to": "2017-03-14"}
    assert ids_of(seeded_client.get("/articles", params=dated)) == [seed_ids["001"]]
    later = {"published_from": "2017-03-15"}
    assert ids_of(seeded_client.get("/articles", params=later)) == []


def test_source_facet_counts_the_whole_match_set(seeded_client: TestClient) -> None:
    page = seeded_client.get("/articles", params={"facets": "source", "limit": 1}).json()
    assert page["facets"]["source"] == [{"id": None, "name": "Al Jazeera", "count": 1}]


def test_sources(seeded_client: TestClient) -> None:
    assert seeded_client.get("/sources").json() == [{"name": "Al Jazeera", "article_count": 1}]


@pytest.mark.parametrize("extra", [{}, {"q": "Putin"}], ids=["filter", "search"])
def test_a_date_range_matches_dated_articles_only(
    seeded_client: TestClient, seed_ids, extra: dict
) -> None:
    def dated_in(**bounds: str) -> list[str]:
        return ids_of(seeded_client.get("/articles", params={**bounds, **extra}))

    assert dated_in(published_to="2016-01-01") == []  # the undated seeds are not "before 2016"
    assert dated_in(published_to="2030-01-01") == [seed_ids["001"]]
    assert dated_in(published_from="2000-01-01") == [seed_ids["001"]]


@pytest.mark.parametrize("sort", ["published_at", "-published_at"])
@pytest.mark.parametrize(
    "extra", [{}, {"q": "Putin"}, {"facets": "source"}], ids=["table", "search", "index"]
)
def test_undated_articles_come_last_in_both_date_orders(
    seeded_client: TestClient, seed_ids, sort: str, extra: dict
) -> None:
    params = {"sort": sort, **extra}
    ids = ids_of(seeded_client.get("/articles", params=params))
    assert ids[0] == seed_ids["001"] and len(ids) == 3
    walked, cursor = [], None  # the same order one article a page
    while True:
        page = seeded_client.get("/articles", params={**params, "limit": 1, "cursor": cursor})
        walked += ids_of(page)
        if not (cursor := page.json()["next_cursor"]):
            break
    assert walked == ids


@pytest.mark.parametrize("extra", [{}, {"q": "Putin"}], ids=["filter", "search"])
def test_undated_asks_for_undated_or_dated_articles(
    seeded_client: TestClient, seed_ids, extra: dict
) -> None:
    def listed(**params: str) -> set[str]:
        return set(ids_of(seeded_client.get("/articles", params={**params, **extra})))

    assert listed(undated="true") == {seed_ids["000"], seed_ids["002"]}
    assert listed(undated="false") == {seed_ids["001"]}
    assert listed(undated="true", published_to="2030-01-01") == set()
    assert seeded_client.get("/articles", params={"undated": "true"}).json()["total"] == 2


def test_title_search_finds_headlines(seeded_client: TestClient, seed_ids) -> None:
    assert set(ids_of(seeded_client.get("/articles", params={"q": "Putin"}))) == set(
        seed_ids.values()
    )
    assert ids_of(seeded_client.get("/articles", params={"q": "title:Putin"})) == [seed_ids["002"]]
    assert ids_of(seeded_client.get("/articles", params={"q": 'title:"military deal"'})) == [
        seed_ids["002"]
    ]


def test_the_query_syntax_is_documented_with_examples(seeded_client: TestClient) -> None:
    spec = seeded_client.get("/openapi.json").json()
    (q,) = [p for p in spec["paths"]["/articles"]["get"]["parameters"] if p["name"] == "q"]
    for part in ("AND", "OR", "NOT", "-", '"', "*", "title:"):
        assert part in q["description"], part
    assert len(q["examples"]) >= 4
    for example in q["examples"].values():  # each one a query that runs
        assert seeded_client.get("/articles", params={"q": example["value"]}).status_code == 200
