"""Stories over HTTP: the seeds are one story, related articles, /stories listing and detail,
and the story and dedupe filters of /articles."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from app.main import create_app
from tests.api.test_articles import assert_problem, ids_of
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine

LABELLED = Path(__file__).resolve().parent.parent / "data" / "stories"


# -- the seeds -----------------------------------------------------------------------------


def test_the_three_seeds_form_one_story(seeded_client: TestClient, seed_ids) -> None:
    stories = {seeded_client.get(f"/articles/{i}").json()["story_id"] for i in seed_ids.values()}
    assert len(stories) == 1
    listing = seeded_client.get("/articles").json()["items"]
    assert {item["story_id"] for item in listing} == stories
    page = seeded_client.get("/stories").json()
    assert page["total"] == 1 and page["next_cursor"] is None
    story = page["items"][0]
    assert story["id"] in stories and story["article_count"] == 3
    assert story["title"] == "Putin Approves Military Deal with Georgia’s Breakaway South Ossetia"
    assert story["first_published"] == story["last_published"] == "2017-03-14"
    top = [e["name"] for e in story["entities"]]
    assert len(top) == 5 and "South Ossetia" in top and "Vladimir Putin" in top


@pytest.mark.parametrize("seed", ["000", "001", "002"])
def test_related_returns_the_other_two_seeds_first(
    seeded_client: TestClient, seed_ids, seed: str
) -> None:
    response = seeded_client.get(f"/articles/{seed_ids[seed]}/related")
    assert response.status_code == 200, response.text
    items = response.json()["items"]
    others = {seed_ids[s] for s in seed_ids if s != seed}
    assert {item["id"] for item in items[:2]} == others
    for item in items[:2]:
        assert item["reason"] == "same_story" and 0 < item["score"] <= 1
        assert item["duplicate"] is False and "Vladimir Putin" in item["shared_entities"]
    assert items[0]["score"] >= items[1]["score"]


def test_story_detail_lists_articles_in_publication_order(
    seeded_client: TestClient, seed_ids
) -> None:
    story_id = seeded_client.get(f"/articles/{seed_ids['000']}").json()["story_id"]
    story = seeded_client.get(f"/stories/{story_id}").json()
    assert story["articles"][0]["id"] == seed_ids["001"]  # the dated one; undated last
    assert {a["id"] for a in story["articles"]} == set(seed_ids.values())
    assert all(a["story_id"] == story_id and a["duplicate_of"] is None for a in story["articles"])
    names = [e["name"] for e in story["entities"]]
    assert names[0] in {"Vladimir Putin", "South Ossetia", "Georgia"} and "Tbilisi" in names
    counts = [e["articles"] for e in story["entities"]]
    assert counts == sorted(counts, reverse=True) and counts[0] == 3


def test_unknown_story_and_article_are_404_problems(seeded_client: TestClient) -> None:
    assert_problem(seeded_client.get("/stories/nosuchstory"), 404)
    assert_problem(seeded_client.get("/articles/nosucharticle/related"), 404)
    assert_problem(seeded_client.get("/stories/" + "x" * 65), 422)


def test_story_filter_and_dedupe_on_articles(seeded_client: TestClient, seed_ids) -> None:
    story_id = seeded_client.get(f"/articles/{seed_ids['002']}").json()["story_id"]
    assert len(ids_of(seeded_client.get("/articles", params={"story": story_id}))) == 3
    assert ids_of(seeded_client.get("/articles", params={"story": "nosuchstory"})) == []
    page = seeded_client.get("/articles", params={"dedupe": "true"}).json()
    assert page["total"] == 1 and [i["id"] for i in page["items"]] == [seed_ids["001"]]
    best = seeded_client.get("/articles", params={"q": "annexation", "dedupe": True}).json()
    plain = seeded_client.get("/articles", params={"q": "annexation"}).json()
    assert best["total"] == 1 and [i["id"] for i in best["items"]] == [plain["items"][0]["id"]]


def test_stories_are_in_the_openapi_document(seeded_client: TestClient) -> None:
    paths = seeded_client.get("/openapi.json").json()["paths"]
    for path, statuses in (
        ("/stories", {"200", "400", "422"}),
        ("/stories/{id}", {"200", "404", "422"}),
        ("/articles/{id}/related", {"200", "404", "422"}),
    ):
        assert statuses <= set(paths[path]["get"]["responses"]), path
    names = {p["name"] for p in paths["/articles"]["get"]["parameters"]}
    assert {"story", "dedupe"} <= names


# -- a corpus of several stories -----------------------------------------------------------


@pytest.fixture(scope="module")
def corpus_client(tmp_path_factory: pytest.TempPathFactory, extractor) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """An app over the labelled corpus and the seeds: 16 stories."""
    tmp = tmp_path_factory.mktemp("stories")
    corpus = tmp / "corpus"
    shutil.copytree(LABELLED, corpus, ignore=shutil.ignore_patterns("*.json"))
    settings = make_settings(tmp / "data")
    ingest(migrated_engine(settings), [SEEDS, corpus], extractor)
    with TestClient(create_app(settings)) as client:
        yield client


def walk(client: TestClient, path: str, params: dict, *, limit: int) -> list[dict]:
    items, cursor = [], None
    for _ in range(100):
        page = client.get(path, params={**params, "limit": limit, "cursor": cursor}).json()
        assert len(page["items"]) <= limit
        items += page["items"]
        cursor = page["next_cursor"]
        if cursor is None:
            return items
    raise AssertionError("paging did not end")


@pytest.mark.parametrize("sort", ["size", "recency"])
def test_story_pages_walk_every_story_once_in_order(corpus_client: TestClient, sort: str) -> None:
    whole = corpus_client.get("/stories", params={"sort": sort, "limit": 100}).json()
    assert whole["total"] == 16 and len(whole["items"]) == 16
    walked = walk(corpus_client, "/stories", {"sort": sort}, limit=3)
    assert [s["id"] for s in walked] == [s["id"] for s in whole["items"]]
    if sort == "size":
        sizes = [s["article_count"] for s in walked]
        assert sizes == sorted(sizes, reverse=True) and sizes[0] == 4 and sizes[-1] == 1
    else:
        dated = [s["last_published"] for s in walked if s["last_published"]]
        assert dated == sorted(dated, reverse=True) and dated[0] == "2018-05-26"
        assert walked[-1]["last_published"] is None  # the undated story comes last
    assert sum(s["article_count"] for s in walked) == 41


def test_story_filters_work_like_article_filters(corpus_client: TestClient) -> None:
    putin = corpus_client.get("/stories", params={"person": "Vladimir Putin"}).json()
    # Sochi summit, media law, re-election bid, hockey game, the seeds.
    assert putin["total"] == 5 and all(s["matching_articles"] >= 1 for s in putin["items"])
    merkel = corpus_client.get("/stories", params={"person": "Merkel", "q": "coalition"}).json()
    assert [s["title"] for s in merkel["items"]] == [
        "Germany's SPD agrees to exploratory talks with Merkel's conservatives"
    ]
    quake = corpus_client.get("/stories", params={"q": "Norcia basilica"}).json()
    assert quake["total"] == 1 and quake["items"][0]["article_count"] == 4
    assert corpus_client.get("/stories", params={"person": "Nobody Atall"}).json() == {
        "items": [],
        "next_cursor": None,
        "total": 0,
    }


@pytest.mark.parametrize(
    "params",
    [{"limit": 0}, {"limit": 101}, {"sort": "-size"}, {"q": "a" * 501}, {"cursor": "c" * 513}],
)
def test_bad_story_parameters_are_422(corpus_client: TestClient, params: dict) -> None:
    assert_problem(corpus_client.get("/stories", params=params), 422)


def test_bad_story_cursors_are_400(corpus_client: TestClient) -> None:
    cursor = corpus_client.get("/stories", params={"limit": 2}).json()["next_cursor"]
    other = {"limit": 2, "sort": "recency", "cursor": cursor}
    assert_problem(corpus_client.get("/stories", params=other), 400)
    assert_problem(corpus_client.get("/stories", params={"cursor": "garbage"}), 400)


@pytest.mark.parametrize("q", [None, "Putin", "said"])
def test_dedupe_pages_show_each_story_once(corpus_client: TestClient, q: str | None) -> None:
    params = {"dedupe": "true"} | ({"q": q} if q else {})
    first = corpus_client.get("/articles", params={**params, "limit": 2}).json()
    walked = walk(corpus_client, "/articles", params, limit=2)
    stories = [item["story_id"] for item in walked]
    assert len(stories) == len(set(stories)) == first["total"]
    every = walk(corpus_client, "/articles", {"q": q} if q else {}, limit=100)
    assert set(stories) == {item["story_id"] for item in every}
    if q is None:  # newest first: each story by its newest article
        newest = {}
        for item in every:
            newest.setdefault(item["story_id"], item["id"])
        assert [item["id"] for item in walked] == [
            newest[s] for s in dict.fromkeys(i["story_id"] for i in every)
        ]


def test_related_puts_the_story_first_then_other_links(corpus_client: TestClient) -> None:
    law = corpus_client.get("/articles", params={"q": '"foreign agents"', "limit": 1}).json()
    article = law["items"][0]
    items = corpus_client.get(f"/articles/{article['id']}/related", params={"limit": 50}).json()
    reasons = [item["reason"] for item in items["items"]]
    assert reasons[:3] == ["same_story"] * 3
    assert all(r != "same_story" for r in reasons[3:])
    assert all(item["story_id"] != article["story_id"] for item in items["items"][3:])
    wire = corpus_client.get("/articles", params={"q": "cured meats"}).json()["items"]
    copy = corpus_client.get(f"/articles/{wire[0]['id']}/related").json()["items"][0]
    assert copy["id"] == wire[1]["id"] and copy["duplicate"] and copy["score"] > 0.8
    details = {corpus_client.get(f"/articles/{w['id']}").json()["duplicate_of"] for w in wire}
    assert details - {None} <= {w["id"] for w in wire} and len(details - {None}) == 1
