"""Entity filters on /articles, and /entities, over the seeds (issue 3's acceptance)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.test_articles import assert_problem, ids_of


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"person": "Putin"}, {"000", "001", "002"}),
        ({"person": ["Vladimir Putin", "Tibilov"]}, {"000"}),
        ({"place": "Tbilisi"}, {"001", "002"}),
        ({"org": "TASS"}, {"000", "002"}),
        ({"org": "tass", "q": "annexation"}, {"000", "002"}),
        ({"place": "Abkhazia", "person": "Janelidze"}, {"001"}),
        ({"place": "the Russian Federation"}, {"000", "001", "002"}),  # an alias of Russia
        ({"person": "Nobody Atall"}, set()),
        ({"person": "Tbilisi"}, set()),  # a place is not a person
    ],
)
def test_entity_filters(seeded_client: TestClient, seed_ids, params: dict, expected: set) -> None:
    found = ids_of(seeded_client.get("/articles", params=params))
    assert set(found) == {seed_ids[s] for s in expected}


def test_entity_id_filter_matches_name_filter(seeded_client: TestClient) -> None:
    putin = seeded_client.get("/entities", params={"type": "person"}).json()["items"][0]
    by_id = ids_of(seeded_client.get("/articles", params={"entity": putin["id"]}))
    by_name = ids_of(seeded_client.get("/articles", params={"person": "putin"}))
    assert by_id == by_name and len(by_id) == 3
    assert ids_of(seeded_client.get("/articles", params={"entity": "nosuchentity"})) == []


def test_people_list_starts_with_the_most_covered(seeded_client: TestClient) -> None:
    people = seeded_client.get("/entities", params={"type": "person"}).json()["items"]
    assert people[0]["name"] == "Vladimir Putin"
    assert people[0]["article_count"] == 3 and "Putin" in people[0]["aliases"]
    assert all(p["type"] == "person" for p in people)
    counts = [p["article_count"] for p in people]
    assert counts == sorted(counts, reverse=True)


def test_spelling_variants_are_one_entity(seeded_client: TestClient, seed_ids) -> None:
    found = seeded_client.get("/entities", params={"q": "russian defen"}).json()["items"]
    ministries = [e for e in found if e["name"] == "Russian Defence Ministry"]
    assert len(ministries) == 1 and ministries[0]["article_count"] == 2
    articles = ids_of(seeded_client.get("/articles", params={"entity": ministries[0]["id"]}))
    assert set(articles) == {seed_ids["000"], seed_ids["002"]}


def test_prefix_search_over_names_and_aliases(seeded_client: TestClient) -> None:
    names = [e["name"] for e in seeded_client.get("/entities", params={"q": "rus"}).json()["items"]]
    assert "Russia" in names
    by_alias = seeded_client.get("/entities", params={"q": "russian fed"}).json()["items"]
    assert [e["name"] for e in by_alias] == ["Russia"]


def test_entities_page_with_a_cursor(seeded_client: TestClient) -> None:
    seen, cursor = [], None
    while True:
        params = {"limit": 5} | ({"cursor": cursor} if cursor else {})
        page = seeded_client.get("/entities", params=params).json()
        seen += [e["id"] for e in page["items"]]
        if not (cursor := page["next_cursor"]):
            break
    everything = seeded_client.get("/entities", params={"limit": 100}).json()["items"]
    assert seen == [e["id"] for e in everything] and len(seen) > 10
    assert_problem(seeded_client.get("/entities", params={"cursor": "bogus"}), 400)


def test_entity_detail_lists_co_occurring_entities(seeded_client: TestClient) -> None:
    tibilov = seeded_client.get("/entities", params={"q": "tibilov"}).json()["items"][0]
    detail = seeded_client.get(f"/entities/{tibilov['id']}").json()
    related = {r["name"]: r["articles"] for r in detail["related"]}
    assert related["Vladimir Putin"] == 1 and "Tibilov" not in related
    assert_problem(seeded_client.get("/entities/nosuchentity"), 404)


def test_entity_facets(seeded_client: TestClient) -> None:
    page = seeded_client.get("/articles", params={"facets": "person,org", "limit": 1}).json()
    people = page["facets"]["person"]
    assert people[0] == {"id": people[0]["id"], "name": "Vladimir Putin", "count": 3}
    assert any(o["name"].casefold() == "tass" and o["count"] == 2 for o in page["facets"]["org"])


def test_article_detail_lists_entities_with_spans(seeded_client: TestClient, seed_ids) -> None:
    article = seeded_client.get(f"/articles/{seed_ids['002']}").json()
    body = article["body"]
    by_name = {e["name"]: e for e in article["entities"]}
    putin = by_name["Vladimir Putin"]
    assert putin["type"] == "person" and putin["mentions"] >= 3
    assert {body[start:end] for start, end in putin["spans"]} >= {"Vladimir Putin", "Putin"}
    assert by_name["Thea Morrison"]["spans"] == []  # named in the byline, not the body


@pytest.mark.parametrize("params", [{"type": "animal"}, {"limit": 0}, {"q": ""}])
def test_bad_entity_parameters(seeded_client: TestClient, params: dict) -> None:
    assert_problem(seeded_client.get("/entities", params=params), 422)
