"""The Tantivy index on small hand-made tables: pks from the sort key, snippet windows, sampled
facets and totals, and catch-up commits."""

from __future__ import annotations

import json
import random
import zlib
from collections import Counter
from datetime import UTC, date, datetime
from pathlib import Path

import pytest
import tantivy
from sqlalchemy import Engine, insert, select, update

from app.models import Article, Entity, Mention
from app.search import reading, snippets
from app.search.base import ArticleQuery
from app.search.query import english_analyzer
from app.search.schema import entity_number, sample_levels
from app.search.tantivy_index import TantivyIndex
from tests.conftest import make_settings, migrated_engine

FILLER = "The council met on Tuesday and the weather was mild. " * 60  # ~3,200 characters


@pytest.fixture
def engine(tmp_path: Path) -> Engine:
    return migrated_engine(make_settings(tmp_path))


def add_articles(engine: Engine, rows: list[dict]) -> None:
    """Insert articles with just the columns the index reads (and the required ones)."""
    now = datetime.now(UTC).replace(tzinfo=None)
    with engine.begin() as connection:
        start = connection.execute(Article.__table__.select()).fetchall().__len__()
        connection.execute(
            insert(Article),
            [
                {
                    "id": f"a{start + n}",
                    "origin": f"test:{start + n}",
                    "title": None,
                    "source": None,
                    "author": None,
                    "published_at": None,
                    "credits": [],
                    "content_hash": f"h{start + n}",
                    "word_count": 1,
                    "ingested_at": now,
                    "updated_at": now,
                    "seq": start + n + 1,
                    **row,
                }
                for n, row in enumerate(rows)
            ],
        )


def indexed(tmp_path: Path, engine: Engine) -> TantivyIndex:
    index = TantivyIndex(tmp_path / "index", engine)
    index.catch_up()
    return index


class CountingSearcher:
    """A searcher that counts stored-document loads."""

    def __init__(self, searcher) -> None:  # type: ignore[no-untyped-def]
        self.searcher, self.loads = searcher, 0

    def doc(self, address):  # type: ignore[no-untyped-def]
        self.loads += 1
        return self.searcher.doc(address)

    def __getattr__(self, name: str):  # type: ignore[no-untyped-def]
        return getattr(self.searcher, name)


def test_hits_carry_pks_from_the_sort_key_and_one_document_load_each(
    tmp_path: Path, engine: Engine
) -> None:
    big = 2**40 - 1  # the largest pk the sort key holds
    add_articles(
        engine,
        [
            {"pk": 7, "body": "apples", "published_at": date(2024, 1, 2)},
            {"pk": big, "body": "apples and pears", "published_at": date(2024, 1, 3)},
            {"pk": 9, "body": "pears", "published_at": None},
        ],
    )
    index = indexed(tmp_path, engine)
    counting = CountingSearcher(index.index.searcher())
    stub = {"searcher": lambda self: counting, "reload": lambda self: None}
    index.index = type("Stub", (), stub)()
    index.reload()  # searches run on the counting searcher from here on
    page = index.search(ArticleQuery(limit=2))
    assert [h.article_pk for h in page.hits] == [big, 7] and page.total == 3
    after = index.search(ArticleQuery(limit=2, after=page.hits[-1].position))
    assert [h.article_pk for h in after.hits] == [9] and after.total == 3
    assert counting.loads == 3  # one per hit shown, none for the hit that tells more follow


def test_hits_carry_what_a_listing_shows(tmp_path: Path, engine: Engine) -> None:
    add_articles(
        engine,
        [
            {
                "title": "Pears",
                "source": "Daily",
                "author": "Ann Lee",
                "body": "pears " * 5,
                "word_count": 5,
                "published_at": date(2024, 1, 2),
            },
            {"body": "pears", "published_at": None},
        ],
    )
    index = indexed(tmp_path, engine)
    full, bare = index.search(ArticleQuery(text="pears", sort="published_at")).hits  # undated last
    assert full.fields == {
        "id": "a0", "title": "Pears", "source": "Daily", "author": "Ann Lee",
        "body": "pears " * 5, "word_count": 5, "story_id": None,
        "published_at": date(2024, 1, 2),
    }  # fmt: skip
    assert bare.fields is not None and bare.fields["title"] is None
    assert bare.fields["published_at"] is None and bare.fields["source"] is None


def test_relevance_and_dedupe_hits_by_pk(tmp_path: Path, engine: Engine) -> None:
    add_articles(
        engine,
        [
            {"pk": 3, "body": "pears pears pears", "published_at": date(2024, 1, 2)},
            {"pk": 4, "body": "pears", "published_at": date(2024, 1, 3)},
        ],
    )
    index = indexed(tmp_path, engine)
    best = index.search(ArticleQuery(text="pears", sort="relevance"))
    assert [h.article_pk for h in best.hits] == [3, 4] and all(h.snippet for h in best.hits)
    once = index.search(ArticleQuery(text="pears", sort="relevance", dedupe=True))
    assert [h.article_pk for h in once.hits] == [3, 4]  # each article is its own story here
    assert [h.article_pk for h in index.search(ArticleQuery(dedupe=True)).hits] == [4, 3]


@pytest.mark.parametrize(
    "text", ["pears", "apples OR pears", '"green pears"', "pea*", "pears -apples", "-apples"]
)
@pytest.mark.parametrize("sources", [("Daily",), ("Daily", "Weekly")])
def test_a_filter_inside_the_text_query_keeps_its_results_and_scores(
    tmp_path: Path,
    engine: Engine,
    monkeypatch: pytest.MonkeyPatch,
    text: str,
    sources: tuple[str, ...],
) -> None:
    words = ["pears", "green pears", "apples", "apples and pears", "peaches", "plums"]
    add_articles(
        engine,
        [
            {
                "title": words[n % 6] if n % 4 == 0 else None,
                "body": f"{words[(n * 7) % 6]} {words[n % 5]} " * (1 + n % 3),
                "source": ["Daily", "Weekly", "Monthly"][n % 3],
            }
            for n in range(90)
        ],
    )
    index = indexed(tmp_path, engine)
    query = ArticleQuery(text=text, sort="relevance", limit=100, sources=sources)
    filtered = [(h.article_pk, h.score) for h in index.search(query).hits]
    every = index.search(ArticleQuery(text=text, sort="relevance", limit=100)).hits
    assert {pk for pk, _ in filtered} == {
        h.article_pk for h in every if h.fields["source"] in sources
    }
    # The same hits in the same order with the same scores as with the filter on top only.
    real_to_tantivy = reading.to_tantivy
    monkeypatch.setattr(
        reading,
        "to_tantivy",
        lambda node, within, **kwargs: real_to_tantivy(node, within=None, **kwargs),
    )
    assert [(h.article_pk, h.score) for h in index.search(query).hits] == filtered


def test_a_query_of_exclusions_scores_every_match_alike(tmp_path: Path, engine: Engine) -> None:
    """`-apples` with a filter: in a segment where no article has the word, Tantivy used to
    drop the query's all-documents part from scoring, so matches scored 1 there and 2 in
    other segments, and their order depended on how the index happened to be split."""
    add_articles(engine, [{"body": "pears", "source": "Daily"} for _ in range(6)])
    index = indexed(tmp_path, engine)  # segments without `apples`
    add_articles(
        engine,
        [{"body": "apples" if n % 2 else "pears", "source": "Daily"} for n in range(12)],
    )
    index.catch_up()  # segments with it
    query = ArticleQuery(text="-apples", sources=("Daily",), sort="relevance", limit=100)
    hits = index.search(query).hits
    assert len(hits) == 12 and len({hit.score for hit in hits}) == 1


def test_a_lone_query_is_searched_as_it_is(tmp_path: Path, engine: Engine) -> None:
    # Wrapped in a boolean query of one clause, a word in title or body ranks 50 % slower.
    index = indexed(tmp_path, engine)
    words = tantivy.Query.term_query(index.schema, "body", "pear")
    assert index._and([None, words]) is words
    both = index._and([words, tantivy.Query.term_query(index.schema, "source", "Daily")])
    assert both is not words and "Boolean" in repr(both)


def test_snippets_are_cut_around_the_first_match(tmp_path: Path, engine: Engine) -> None:
    add_articles(
        engine,
        [
            {"body": FILLER + "At the end the <zeppelin> landed. " + FILLER},
            # "happy" is stemmed "happi": no word starts with that, so the whole body is used.
            {"body": FILLER + "Everyone was happy & relieved."},
            {"body": FILLER + "The statement came late."},
        ],
    )
    index = indexed(tmp_path, engine)
    (late,) = index.search(ArticleQuery(text="zeppelin")).hits
    assert "<mark>zeppelin</mark>" in late.snippet and "&lt;" in late.snippet  # type: ignore[operator]
    (stem,) = index.search(ArticleQuery(text="happy")).hits
    assert "<mark>happy</mark> &amp; relieved" in stem.snippet  # type: ignore[operator]
    (prefix,) = index.search(ArticleQuery(text="stat*")).hits
    assert "<mark>statement</mark>" in prefix.snippet  # type: ignore[operator]


def test_snippets_mark_words_whose_stem_is_no_prefix_and_skip_title_only_hits(
    tmp_path: Path, engine: Engine
) -> None:
    add_articles(
        engine,
        [
            {"body": FILLER + "They were coming home. " + FILLER},  # "come" is not in "coming"
            {"title": "Coming soon", "body": FILLER},
            {"body": "Ελληνικά " + FILLER + "They were coming home."},  # unchecked text
        ],
    )
    index = indexed(tmp_path, engine)
    body, title, greek = index.search(ArticleQuery(text="come", sort="published_at")).hits
    assert "<mark>coming</mark> home" in body.snippet  # type: ignore[operator]
    assert title.snippet is None
    assert "<mark>coming</mark> home" in greek.snippet  # type: ignore[operator]


# Words the Porter stemmer changes at the end, in each way it does (all 321k words of wordfreq's
# large English list were checked the same way once).
STEMMED_WORDS = (  # noqa: SIM905 (a list of words reads best as words)
    "hoping dying lying ties their there which about happy happiness generously agreed "
    "running conditional relational rational digitizer vietnamization operator feudalism "
    "hopefulness goodness formality sensitivity sensibility triplicate electrical hopeful "
    "adjustable controlling rolling caresses ponies cats feed plastered motoring sing was"
).split()


@pytest.mark.parametrize("word", STEMMED_WORDS)
def test_every_word_begins_with_its_stem_start(word: str) -> None:
    (stem,) = english_analyzer().analyze(word)
    assert word.startswith(snippets.stem_start(stem))


def test_window_starts_and_ends_at_spaces() -> None:
    body = "word " * 400 + "target " + "word " * 400
    window = snippets.window_of(body, body.index("target"))
    assert len(window) <= snippets.SNIPPET_WINDOW
    assert "target" in window and window.startswith("word") and window.endswith("word")


def test_each_sample_level_holds_half_the_one_below() -> None:
    counts = Counter(level for pk in range(1, 1_000_001) for level in sample_levels(pk))
    for level in range(1, 8):
        assert abs(counts[level] - 1_000_000 / 2**level) < 4 * (1_000_000 / 2**level) ** 0.5
    early = Counter(level for pk in range(1, 100_001) for level in sample_levels(pk))
    assert abs(early[3] - 100_000 / 8) < 500  # consecutive pks spread evenly too


def test_entity_ids_are_indexed_as_numbers() -> None:
    assert entity_number("fa29f80eb037cb59") == 0xFA29F80EB037CB59
    assert f"{entity_number('0003af3b3555ab7a'):016x}" == "0003af3b3555ab7a"
    assert entity_number("Putin") is None and entity_number("fa29f80eb037cb5") is None


def test_facets_are_exact_below_the_threshold_and_estimated_above(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_articles(
        engine,
        [{"body": "apples", "source": "Daily" if n % 4 else "Weekly"} for n in range(1, 1281)],
    )
    index = indexed(tmp_path, engine)
    query = ArticleQuery(text="apples", facets=("source",))
    exact = index.search(query)
    assert exact.facets == {"source": [("Daily", 960), ("Weekly", 320)]}
    assert not exact.facets_estimated and not exact.total_estimated
    monkeypatch.setattr(reading, "FACET_EXACT_MATCHES", 1000)
    monkeypatch.setattr(reading, "FACET_SAMPLE_TARGET", 320)  # sample level 2: a quarter
    sampled = index.search(query)
    assert sampled.facets_estimated and sampled.total == 1280
    (daily, daily_n), (weekly, weekly_n) = sampled.facets["source"]
    assert (daily, weekly) == ("Daily", "Weekly") and daily_n % 4 == 0 and weekly_n % 4 == 0
    assert abs(daily_n - 960) < 150 and abs(weekly_n - 320) < 100


def mention_people(engine: Engine, people: list[str]) -> None:
    """Articles for these people (one each, in order), each person an entity of type person."""
    add_articles(engine, [{"body": "apples"} for _ in people])
    with engine.begin() as connection:
        pks = connection.scalars(select(Article.pk).order_by(Article.pk.desc()).limit(len(people)))
        for article_pk, person in zip(reversed(list(pks)), people, strict=True):
            entity_id = f"{zlib.crc32(person.encode()):016x}"
            entity_pk = connection.scalar(select(Entity.pk).where(Entity.id == entity_id))
            if entity_pk is None:
                entity_pk = connection.execute(
                    insert(Entity).values(
                        id=entity_id, key=f"person:{person}", name=person, type="person"
                    )
                ).inserted_primary_key[0]
            connection.execute(
                insert(Mention).values(
                    article_pk=article_pk, entity_pk=entity_pk, text=person, start=0, end=1
                )
            )


def test_small_facets_count_every_segment(tmp_path: Path, engine: Engine) -> None:
    """Tantivy keeps only each segment's top values (10 x size by default) before merging
    them: a value below that cut in one segment lost its count there."""
    draw = random.Random(7)
    people: list[str] = []
    index = indexed(tmp_path, engine)
    for batch_number in range(6):  # a segment or more per catch-up, each with its own leaders
        batch = [f"Local {batch_number}-{n}" for n in range(12) for _ in range(6)]
        batch += ["Everywhere"] * 2  # never among a segment's leaders; the first overall
        draw.shuffle(batch)
        mention_people(engine, batch)
        index.catch_up()
        people += batch
    counts = Counter(f"{zlib.crc32(p.encode()):016x}" for p in people)
    for size in (1, 2, 5):
        top = index.search(ArticleQuery(text="apples", facets=("person",), facet_size=size))
        listed = top.facets["person"]
        assert [n for _, n in listed] == sorted(counts.values(), reverse=True)[:size]
        assert all(counts[person] == n for person, n in listed)


def test_catch_up_commits_in_batches_and_replaces_updated_articles(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_articles(engine, [{"body": f"apples {n}"} for n in range(25)])
    index = TantivyIndex(tmp_path / "index", engine)
    saved: list[int] = []
    real_save = index._save_watermark
    monkeypatch.setattr(index, "_save_watermark", lambda seq: (saved.append(seq), real_save(seq)))
    assert index.catch_up(batch_size=4, commit_every=10) == 25
    assert saved == [12, 24, 25]  # after whole reads past 10 uncommitted, then at the end
    with engine.begin() as connection:
        connection.execute(update(Article).where(Article.pk == 1).values(body="pears", seq=26))
    assert index.catch_up() == 1
    assert index.search(ArticleQuery(text="apples")).total == 24
    assert [h.article_pk for h in index.search(ArticleQuery(text="pears")).hits] == [1]


def test_when_every_article_changed_the_index_is_replaced_in_one_commit(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_articles(engine, [{"body": f"apples {n}"} for n in range(25)])
    index = indexed(tmp_path, engine)
    with engine.begin() as connection:  # every article changes, as in a re-extraction
        connection.execute(update(Article).values(body="pears", seq=Article.seq + 100))
    saved: list[int] = []
    real_save = index._save_watermark
    monkeypatch.setattr(index, "_save_watermark", lambda seq: (saved.append(seq), real_save(seq)))
    searchable: list[int] = []
    real_add = index._add

    def add(writer, batch):  # type: ignore[no-untyped-def]
        searchable.append(index.search(ArticleQuery(text="apples")).total)
        real_add(writer, batch)

    monkeypatch.setattr(index, "_add", add)
    assert index.catch_up(batch_size=4, commit_every=10) == 25
    assert saved == [125] and set(searchable) == {25}  # the old index answers until the end
    assert index.search(ArticleQuery(text="pears")).total == 25
    assert index.search(ArticleQuery(text="apples")).total == 0
    index.close()
    segments = json.loads((tmp_path / "index" / "meta.json").read_text())["segments"]
    assert sum(s["max_doc"] for s in segments) == 25  # no replaced document left behind


def test_following_a_load_indexes_each_of_its_commits_and_commits_the_index_once(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = TantivyIndex(tmp_path / "index", engine)
    saved: list[int] = []
    real_save = index._save_watermark
    monkeypatch.setattr(index, "_save_watermark", lambda seq: (saved.append(seq), real_save(seq)))
    looks: list[int] = []

    def loading() -> bool:  # a loader committing 5 articles between looks, the last as it ends
        add_articles(engine, [{"body": f"apples {n}"} for n in range(5)])
        looks.append(index.search(ArticleQuery(text="apples")).total)
        return len(looks) < 3

    assert index.catch_up(batch_size=2, more=loading) == 15
    assert looks == [0, 0, 0]  # nothing searchable (committed) while the load goes on
    assert saved == [15]  # one commit, after the transaction committed as the load ended
    assert index.search(ArticleQuery(text="apples")).total == 15


def test_story_totals_are_estimated_from_sampled_stories_over_many_matches(
    tmp_path: Path, engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    add_articles(engine, [{"body": "apples"} for _ in range(1280)])  # each its own story
    index = indexed(tmp_path, engine)
    query = ArticleQuery(text="apples", dedupe=True, limit=5)
    exact = index.search(query)
    assert exact.total == 1280 and not exact.total_estimated
    monkeypatch.setattr(reading, "EXACT_STORY_TOTAL", 100)
    monkeypatch.setattr(reading, "FACET_SAMPLE_TARGET", 320)
    for sort in ("relevance", "-published_at"):
        estimated = index.search(ArticleQuery(text="apples", dedupe=True, limit=5, sort=sort))
        assert estimated.total_estimated and abs(estimated.total - 1280) < 200
        assert len(estimated.hits) == 5 and estimated.has_more
