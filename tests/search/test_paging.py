"""Walking a search by its keyset position reaches every match once, in the documented order,
however many scores tie: a corpus built to have thousands of equal scores, every sort, with
and without one article per story."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterator
from dataclasses import replace
from datetime import date, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, insert

from app.models import Story
from app.search import reading
from app.search.base import ArticleQuery, Hit, Sort, WalkExpired
from app.search.tantivy_index import TantivyIndex
from tests.conftest import make_settings, migrated_engine
from tests.search.test_index import add_articles

ARTICLES = 3000
STORIES = 700
SORTS: tuple[Sort, ...] = ("relevance", "-published_at", "published_at")
# Each word's articles have few distinct (term frequency, length) pairs, so only a handful of
# distinct scores: hundreds to thousands of articles share each one.
WORDS = ("apple", "pear", "plum")


def _body(rng: random.Random) -> str:
    words = ["apple"] + [w for w in WORDS[1:] if rng.random() < 0.5]
    length = 40 if rng.random() < 0.8 else 12  # two field-norm classes
    text = [w for w in words for _ in range(1 if rng.random() < 0.8 else 2)]
    return " ".join(text + ["filler"] * (length - len(text)))


def _articles(rng: random.Random, start: int, count: int, stories: int) -> list[dict]:
    first_day = date(2020, 1, 1)
    return [
        {
            "pk": start + n,
            "body": _body(rng),
            # Many articles a day, and some undated: date ties too.
            "published_at": None
            if rng.random() < 0.1
            else first_day + timedelta(days=rng.randrange(30)),
            "story_pk": rng.randrange(1, stories + 1) if rng.random() < 0.8 else None,
        }
        for n in range(count)
    ]


@pytest.fixture(scope="module")
def tied(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TantivyIndex]:
    data = tmp_path_factory.mktemp("tied")
    engine = migrated_engine(make_settings(data))
    with engine.begin() as connection:
        connection.execute(insert(Story), [{"pk": n, "id": f"s{n}"} for n in range(1, STORIES + 1)])
    add_articles(engine, _articles(random.Random(17), 1, ARTICLES, STORIES))
    index = TantivyIndex(data / "index", engine)
    index.catch_up()
    yield index
    index.close()


def walk(index: TantivyIndex, query: ArticleQuery) -> list[Hit]:
    """Every page of the query, following each page's last position."""
    hits: list[Hit] = []
    while True:
        page = index.search(query)
        hits += page.hits
        assert len(page.hits) <= query.limit
        if not page.has_more:
            return hits
        assert page.hits, "a page that says more follows must show something"
        query = ArticleQuery(**{**query.__dict__, "after": page.hits[-1].position})


def order_key(hit: Hit, sort: Sort) -> tuple:
    """What the documented order sorts by, ascending: best score, then newest (relevance);
    by date then pk (both date orders)."""
    key = hit.position[1]
    if sort == "relevance":
        return (-(hit.score or 0.0), -key)
    return (-key,) if sort == "-published_at" else (key,)


def everything(index: TantivyIndex, word: str, sort: Sort) -> list[Hit]:
    """Every match in one page: the reference the walks are checked against."""
    page = index.search(ArticleQuery(text=word, sort=sort, limit=ARTICLES + 1))
    assert not page.has_more
    return page.hits


@pytest.mark.parametrize("sort", SORTS)
@settings(
    max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(30, 100), word=st.sampled_from(WORDS))
def test_every_match_once_in_order(tied: TantivyIndex, sort: Sort, limit: int, word: str) -> None:
    reference = everything(tied, word, sort)
    if word == "apple":  # in every article: thousands of them share the commonest score
        assert Counter(hit.score for hit in reference).most_common(1)[0][1] > 1500
    hits = walk(tied, ArticleQuery(text=word, sort=sort, limit=limit))
    pks = [hit.article_pk for hit in hits]
    assert len(pks) == len(set(pks)), "an article came back twice"
    assert set(pks) == {hit.article_pk for hit in reference}, "the walk missed matches"
    assert [order_key(h, sort) for h in hits] == sorted(order_key(h, sort) for h in hits)
    if sort == "relevance":  # the same scores as in one page: one ranking, not per page
        assert [(h.article_pk, h.score) for h in hits] == [
            (h.article_pk, h.score) for h in sorted(reference, key=lambda h: order_key(h, sort))
        ]


@pytest.mark.parametrize("sort", SORTS)
@settings(
    max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(limit=st.integers(30, 100), word=st.sampled_from(WORDS))
def test_one_per_story_every_story_once(
    tied: TantivyIndex, sort: Sort, limit: int, word: str
) -> None:
    reference = sorted(everything(tied, word, sort), key=lambda h: order_key(h, sort))
    story_of = _stories(tied)
    first_of_story: dict[str, Hit] = {}
    for hit in reference:  # in the documented order: the first one stands for its story
        first_of_story.setdefault(story_of[hit.article_pk], hit)
    hits = walk(tied, ArticleQuery(text=word, sort=sort, limit=limit, dedupe=True))
    pks = [hit.article_pk for hit in hits]
    assert len(pks) == len(set(pks)), "an article came back twice"
    assert pks == [hit.article_pk for hit in first_of_story.values()]


def _stories(index: TantivyIndex) -> dict[int, str]:
    """Each article's story as the index holds it (an article alone is a story of its own)."""
    page = index.search(ArticleQuery(limit=ARTICLES + 1))
    return {
        hit.article_pk: hit.fields["story_id"] or f"alone:{hit.article_pk}" for hit in page.hits
    }


@pytest.mark.parametrize("sort", SORTS)
@pytest.mark.parametrize("dedupe", [False, True])
@pytest.mark.parametrize("text", ["apple", "pear plum"])
def test_walks_are_consistent_while_articles_are_added(
    tmp_path: Path, sort: Sort, dedupe: bool, text: str
) -> None:
    """New articles (some joining old stories) may or may not show; no old article, nor with
    one per story an old story, is skipped or shown twice. In best-match order every article
    added moves every score (word rarity, average length): each page still ranks like the
    first."""
    engine: Engine = migrated_engine(make_settings(tmp_path))
    rng = random.Random(5)
    with engine.begin() as connection:
        connection.execute(insert(Story), [{"pk": n, "id": f"s{n}"} for n in range(1, 61)])
    add_articles(engine, _articles(rng, 1, 300, 60))
    index = TantivyIndex(tmp_path / "index", engine)
    index.catch_up()
    next_pk = 301
    stories = _stories(index)
    old = {h.article_pk for h in index.search(ArticleQuery(text=text, limit=5000)).hits}
    first = walk(index, ArticleQuery(text=text, sort=sort, limit=25, dedupe=dedupe))
    query = ArticleQuery(text=text, sort=sort, limit=25, dedupe=dedupe)
    shown: list[Hit] = []
    while True:
        page = index.search(query)
        shown += page.hits
        add_articles(engine, _articles(rng, next_pk, 7, 60))
        next_pk += 7
        index.catch_up()
        if not page.has_more:
            break
        query = ArticleQuery(**{**query.__dict__, "after": page.hits[-1].position})
    pks = [hit.article_pk for hit in shown]
    assert len(pks) == len(set(pks))
    if sort == "relevance":  # the walk is the one its first page began: the same hits, scores
        assert [(h.article_pk, h.score) for h in shown] == [(h.article_pk, h.score) for h in first]
    if dedupe:
        story_of = _stories(index)
        shown_stories = [story_of[pk] for pk in pks]
        assert len(shown_stories) == len(set(shown_stories))
        assert {stories[pk] for pk in old} <= set(shown_stories)
    else:
        assert old <= set(pks)


def test_a_best_match_walk_goes_on_wherever_its_version_is_held(tmp_path: Path) -> None:
    """Hosts of one database index the same articles: a walk begun on one goes on at another
    at the same version; at another version, it is refused rather than ranked anew."""
    engine: Engine = migrated_engine(make_settings(tmp_path))
    rng = random.Random(9)
    with engine.begin() as connection:
        connection.execute(insert(Story), [{"pk": 1, "id": "s1"}])
    add_articles(engine, _articles(rng, 1, 300, 1))
    one, two = (TantivyIndex(tmp_path / name, engine) for name in ("one", "two"))
    one.catch_up()
    two.catch_up()
    query = ArticleQuery(text="pear plum", sort="relevance", limit=40)
    pages, hosts = [], [one, two]
    page = one.search(query)
    while page.has_more:
        pages += page.hits
        hosts.reverse()
        page = hosts[0].search(replace(query, after=page.hits[-1].position))
    pages += page.hits
    assert [(h.article_pk, h.score) for h in pages] == [
        (h.article_pk, h.score) for h in walk(one, query)
    ]
    after = replace(query, after=one.search(query).hits[-1].position)
    add_articles(engine, _articles(rng, 301, 5, 1))
    two.catch_up()  # two moves on, and keeps the version it saw for the walks on it
    assert [h.article_pk for h in two.search(after).hits] == [
        h.article_pk for h in one.search(after).hits
    ]
    three = TantivyIndex(tmp_path / "three", engine)
    three.catch_up()  # never saw that version: the walk is refused, not ranked anew
    with pytest.raises(WalkExpired):
        three.search(after)


def test_versions_are_kept_for_walks_up_to_a_bound(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine: Engine = migrated_engine(make_settings(tmp_path))
    rng = random.Random(11)
    with engine.begin() as connection:
        connection.execute(insert(Story), [{"pk": 1, "id": "s1"}])
    add_articles(engine, _articles(rng, 1, 100, 1))
    index = TantivyIndex(tmp_path / "index", engine)
    index.catch_up()
    query = ArticleQuery(text="apple", sort="relevance", limit=10)
    walks = []
    monkeypatch.setattr(reading, "WALK_VERSIONS", 2)
    for n in range(3):  # each walk begun on its own version
        walks.append(replace(query, after=index.search(query).hits[-1].position))
        add_articles(engine, _articles(rng, 101 + n, 1, 1))
        index.catch_up()
    with pytest.raises(WalkExpired):
        index.search(walks[0])  # the least recently used of three, beyond two
    assert index.search(walks[1]).hits and index.search(walks[2]).hits


def test_a_reader_sees_what_the_writing_process_indexed(tmp_path: Path) -> None:
    engine: Engine = migrated_engine(make_settings(tmp_path))
    with engine.begin() as connection:
        connection.execute(insert(Story), [{"pk": 1, "id": "s1"}])
    add_articles(engine, _articles(random.Random(3), 1, 20, 1))
    writer = TantivyIndex(tmp_path / "index", engine)
    writer.catch_up()
    reader = TantivyIndex(tmp_path / "index", engine)  # another process on the same index
    assert reader.search(ArticleQuery(limit=100)).total == 20
    add_articles(engine, _articles(random.Random(4), 21, 5, 1))
    writer.catch_up()
    reader.refresh()
    assert reader.search(ArticleQuery(limit=100)).total == 25
