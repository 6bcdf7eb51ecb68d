"""No hidden limits: a story's articles page with a cursor; facet and related-entity lists
take their size as a parameter, up to a documented maximum (beyond it: 422 naming it)."""

from __future__ import annotations

import pytest
from fastapi.testclient import TestClient

from tests.api.test_articles import assert_problem
from tests.api.test_stories import corpus_client, walk  # noqa: F401 (a fixture)


def test_a_story_pages_through_all_its_articles(corpus_client: TestClient) -> None:  # noqa: F811
    biggest = corpus_client.get("/stories", params={"limit": 1}).json()["items"][0]
    path = f"/stories/{biggest['id']}"
    whole = corpus_client.get(path).json()
    assert whole["next_cursor"] is None and len(whole["articles"]) == biggest["article_count"] > 2
    pages = [corpus_client.get(path, params={"limit": 1}).json()]
    while cursor := pages[-1]["next_cursor"]:
        pages.append(corpus_client.get(path, params={"limit": 1, "cursor": cursor}).json())
    assert [p["articles"][0]["id"] for p in pages] == [a["id"] for a in whole["articles"]]
    assert all(p["article_count"] == biggest["article_count"] for p in pages)


def test_a_story_cursor_is_good_for_its_story_only(corpus_client: TestClient) -> None:  # noqa: F811
    first, second = corpus_client.get("/stories", params={"limit": 2}).json()["items"]
    cursor = corpus_client.get(f"/stories/{first['id']}", params={"limit": 1}).json()["next_cursor"]
    other = corpus_client.get(f"/stories/{second['id']}", params={"limit": 1, "cursor": cursor})
    assert_problem(other, 400)
    assert_problem(corpus_client.get(f"/stories/{first['id']}", params={"cursor": "x"}), 400)


@pytest.mark.parametrize(
    ("path", "name", "most"),
    [
        ("/stories/{story}", "limit", 100),
        ("/articles", "facet_size", 100),
        ("/entities/{entity}", "related_limit", 100),
    ],
)
def test_sizes_up_to_their_maximum_and_no_further(
    seeded_client: TestClient, path: str, name: str, most: int
) -> None:
    story = seeded_client.get("/stories").json()["items"][0]
    path = path.format(story=story["id"], entity=story["entities"][0]["id"])
    extra = {"facets": "person"} if name == "facet_size" else {}
    assert seeded_client.get(path, params={**extra, name: most}).status_code == 200
    for wrong in (most + 1, 0):
        body = assert_problem(seeded_client.get(path, params={**extra, name: wrong}), 422)
        assert [e["field"] for e in body["errors"]] == [name]
    documented = seeded_client.get("/openapi.json").json()["paths"][
        path.replace(story["id"], "{id}").replace(story["entities"][0]["id"], "{id}")
    ]["get"]["parameters"]
    schema = next(p["schema"] for p in documented if p["name"] == name)
    assert schema["maximum"] == most and schema["minimum"] == 1


def test_facets_list_as_many_values_as_asked(corpus_client: TestClient) -> None:  # noqa: F811
    seeded_client = corpus_client
    listed = seeded_client.get("/entities", params={"type": "person", "limit": 100}).json()
    people = len(listed["items"])
    assert people > 10  # more than the default size
    default = seeded_client.get("/articles", params={"facets": "person"}).json()["facets"]
    assert len(default["person"]) == 10
    wide = seeded_client.get("/articles", params={"facets": "person", "facet_size": 100}).json()
    assert len(wide["facets"]["person"]) == people
    one = seeded_client.get("/articles", params={"facets": "person,org", "facet_size": 1}).json()
    assert [len(v) for v in one["facets"].values()] == [1, 1]
    assert one["facets"]["person"] == default["person"][:1]


def test_related_entities_list_as_many_as_asked(corpus_client: TestClient) -> None:  # noqa: F811
    seeded_client = corpus_client
    putin = seeded_client.get("/entities", params={"q": "vladimir putin"}).json()["items"][0]
    default = seeded_client.get(f"/entities/{putin['id']}").json()["related"]
    assert len(default) == 20
    wide = seeded_client.get(f"/entities/{putin['id']}", params={"related_limit": 100}).json()
    assert len(wide["related"]) > 20 and wide["related"][:20] == default
