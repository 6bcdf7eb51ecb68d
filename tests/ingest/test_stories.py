"""Stories: the pure features, then grouping a labelled corpus (pairwise precision and recall),
near-duplicates, updates, restory and determinism.

The labelled corpus (tests/data/stories, written for the project; groups.json gives the truth)
has 38 short articles plus the three seeds: ten events told by 2-4 outlets each in their own
words, and traps: four Putin events within a fortnight (Sochi summit, media law, re-election
bid) and a Putin hockey game in Sochi; two Merkel events a day apart (EU summit, coalition
talks); two Apple events (iPhone launch, EU tax case); a South Ossetia election with the seeds'
own cast (Tibilov, Georgia condemning). One wire copy is republished with small edits.
"""

from __future__ import annotations

import itertools
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.ingest import stories
from app.ingest.load import stable_id
from app.models import Article, ArticleFeatures, Story, StoryKey, StoryTerm
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine, post_each

LABELLED = Path(__file__).resolve().parent.parent / "data" / "stories"


# -- pure features -------------------------------------------------------------------------


def test_words_are_stemmed_content_words_and_the_title_counts_twice() -> None:
    counts = stories.words(
        "Earthquake in Italy", "The earthquakes hit Italy, officials said in 2016."
    )
    assert counts["earthquak"] == 3 and counts["itali"] == 3
    assert not {"the", "in", "said", "2016"} & set(counts)


def test_keys_are_stable_64_bit_hashes() -> None:
    # blake2b, not Python's hash(): the same in every process, so the index works across them.
    assert stories.key_of("putin") == stories.key_of(b"putin") == -2537837525900866009
    assert -(2**63) <= stories.key_of("e:abc") < 2**63
    assert stories.key_of("putin") != stories.key_of("e:putin")


def test_tfidf_vectors_are_unit_length_and_favour_rare_features() -> None:
    weights = stories.feature_weights(stories.words(None, "ossetia ossetia army said"), {"x": 2})
    vector = stories.tfidf_vector(weights, {"ossetia": 1, "armi": 50, "e:x": 1}, total=100)
    assert abs(sum(w * w for w in vector.values()) - 1) < 1e-4
    assert vector["ossetia"] > vector["e:x"] > vector["armi"]
    assert stories.cosine(vector, vector) == pytest.approx(1, abs=1e-4)
    assert stories.cosine(vector, {"other": 1.0}) == 0


def test_minhash_estimates_jaccard_and_copies_share_bands() -> None:
    text = " ".join(f"word{i}" for i in range(300))
    edited = text.replace("word150 word151", "changed words")
    a, b = stories.minhash(stories.shingles(text)), stories.minhash(stories.shingles(edited))
    assert a.dtype == np.uint32 and a.shape == (stories.BANDS * stories.ROWS,)
    assert stories.jaccard(a.tobytes(), b.tobytes()) > 0.85
    assert set(stories.band_keys(a)) & set(stories.band_keys(b))
    other = stories.minhash(stories.shingles(" ".join(f"other{i}" for i in range(300))))
    assert stories.jaccard(a.tobytes(), other.tobytes()) < 0.1
    assert (stories.minhash(stories.shingles(text)) == a).all()  # deterministic


def test_short_and_empty_texts_have_signatures() -> None:
    assert stories.shingles("two words").size == 1
    empty = stories.minhash(stories.shingles(""))
    assert stories.jaccard(empty.tobytes(), empty.tobytes()) == 0  # never "duplicates"


# -- the labelled corpus -------------------------------------------------------------------


def _labelled_corpus(tmp: Path) -> tuple[Path, dict[str, str]]:
    """Copy the labelled articles and the seeds into one directory; map origin -> event."""
    corpus = tmp / "corpus"
    shutil.copytree(LABELLED, corpus, ignore=shutil.ignore_patterns("*.json"))
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, corpus / f"seed-{seed.name}")
    groups = json.loads((LABELLED / "groups.json").read_text())
    truth = {f"file:{name}": event for event, names in groups.items() for name in names}
    truth |= {f"file:seed-{seed.name}": "seeds-south-ossetia-forces" for seed in SEEDS.glob("*")}
    return corpus, truth


def story_of(engine: Engine) -> dict[str, str]:
    """Map each article's origin to its story id."""
    with Session(engine) as session:
        rows = session.execute(select(Article.origin, Story.id).join(Story))
        return dict(rows.all())


def pairwise(predicted: dict[str, str], truth: dict[str, str]) -> tuple[float, float]:
    """Pairwise precision and recall of a grouping against the true one."""
    tp = fp = fn = 0
    for a, b in itertools.combinations(sorted(truth), 2):
        same, gold = predicted[a] == predicted[b], truth[a] == truth[b]
        tp += same and gold
        fp += same and not gold
        fn += gold and not same
    return tp / ((tp + fp) or 1), tp / ((tp + fn) or 1)


@pytest.fixture(scope="module")
def labelled(tmp_path_factory: pytest.TempPathFactory, extractor) -> tuple[Engine, dict[str, str]]:  # type: ignore[no-untyped-def]
    tmp = tmp_path_factory.mktemp("labelled")
    corpus, truth = _labelled_corpus(tmp)
    engine = migrated_engine(make_settings(tmp / "data"))
    ingest(engine, [corpus], extractor)
    return engine, truth


def test_labelled_grouping_precision_and_recall(labelled) -> None:  # type: ignore[no-untyped-def]
    engine, truth = labelled
    precision, recall = pairwise(story_of(engine), truth)
    print(f"\nlabelled stories: pairwise precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9


def test_labelled_grouping_by_text_alone(tmp_path: Path) -> None:
    """With --no-extract the decision is by text only, and still meets the bar."""
    corpus, truth = _labelled_corpus(tmp_path)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    ingest(engine, [corpus], None)
    precision, recall = pairwise(story_of(engine), truth)
    print(f"\ntext only: pairwise precision {precision:.3f}, recall {recall:.3f}")
    assert precision >= 0.95 and recall >= 0.9


def test_a_shared_famous_name_does_not_merge_events(labelled) -> None:  # type: ignore[no-untyped-def]
    engine, truth = labelled
    story = story_of(engine)
    events = {e: {story[o] for o, t in truth.items() if t == e} for e in set(truth.values())}
    putin = ["sochi-summit", "foreign-agents-law", "putin-reelection-bid", "single-putin-hockey"]
    for names in (putin, ["eu-summit-migration", "spd-coalition-talks"]):
        assert len(set().union(*(events[n] for n in names))) == len(names)
    assert events["iphone-x"] != events["apple-tax-ireland"]
    assert events["south-ossetia-election"] != events["seeds-south-ossetia-forces"]
    assert all(len(ids) == 1 for ids in events.values())  # and each event is one story


def test_a_republished_wire_copy_is_flagged_and_stays_in_its_story(labelled) -> None:  # type: ignore[no-untyped-def]
    engine, _ = labelled
    with Session(engine) as session:
        copy = session.scalar(select(Article).where(Article.origin == "file:29.txt"))
        original = session.scalar(select(Article).where(Article.origin == "file:22.txt"))
        assert copy is not None and original is not None
        assert copy.duplicate_of_pk == original.pk and copy.story_pk == original.story_pk
        flagged = session.scalar(select(func.count()).where(Article.duplicate_of_pk.is_not(None)))
        assert flagged == 1  # rewritten coverage of the same quake is not a copy


def test_story_figures_match_their_articles(labelled) -> None:  # type: ignore[no-untyped-def]
    engine, _ = labelled
    with Session(engine) as session:
        for story in session.scalars(select(Story)):
            members = session.scalars(select(Article).where(Article.story_pk == story.pk)).all()
            dates = [a.published_at for a in members if a.published_at]
            assert story.article_count == len(members) > 0
            assert story.first_published == (min(dates) if dates else None)
            assert story.last_published == (max(dates) if dates else None)
            assert story.id == stories.story_id_for(min(members, key=lambda a: a.pk).id)
        seeds = session.scalar(select(Story).where(Story.title.like("Putin Approves%")))
        assert seeds is not None and seeds.article_count == 3  # the headline of seed 002


def test_fresh_ingests_and_restory_give_the_same_stories(tmp_path: Path, labelled) -> None:  # type: ignore[no-untyped-def]
    engine, truth = labelled
    before = story_of(engine)
    with Session(engine) as session:
        seqs = dict(session.execute(select(Article.origin, Article.seq)).all())
    report = stories.restory(engine, batch_size=7)
    assert story_of(engine) == before and report.moved == 0 and report.articles == len(truth)
    with Session(engine) as session:
        assert dict(session.execute(select(Article.origin, Article.seq)).all()) == seqs
    corpus, _ = _labelled_corpus(tmp_path)
    again = migrated_engine(make_settings(tmp_path / "again"))
    ingest(again, [corpus], None)
    first = migrated_engine(make_settings(tmp_path / "first"))
    ingest(first, [corpus], None)
    assert story_of(again) == story_of(first)


def test_document_frequencies_are_written_once_a_transaction_commits(labelled) -> None:  # type: ignore[no-untyped-def]
    """A transaction counts its articles' features in memory and adds them up at commit (a
    statement per feature cost PostgreSQL 5 ms an article): the same figures, whatever the
    batches; none from a transaction rolled back."""
    from app.db import write_session

    engine, truth = labelled

    def frequencies() -> dict[int, int]:
        with Session(engine) as session:
            return dict(session.execute(select(StoryTerm.key, StoryTerm.df)).all())

    before = frequencies()
    assert before[stories.TOTAL_KEY] == len(truth)
    with pytest.raises(RuntimeError), write_session(engine) as session:
        for article in session.scalars(select(Article).order_by(Article.pk).limit(3)):
            stories.detach(session, article)
        raise RuntimeError("rolled back")
    assert frequencies() == before
    with write_session(engine) as session:  # out and in again: nothing changes
        article = session.scalars(select(Article).order_by(Article.pk.desc()).limit(1)).one()
        stories.detach(session, article)
        stories.assign(session, article)
    assert frequencies() == before
    stories.restory(engine, batch_size=1000)  # every article in one transaction
    assert frequencies() == before


def test_restory_after_tuning_regroups_and_bumps_seq(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    engine = migrated_engine(make_settings(tmp_path))
    ingest(engine, [SEEDS], None)
    assert len(set(story_of(engine).values())) == 1
    with Session(engine) as session:
        seq_before = dict(session.execute(select(Article.origin, Article.seq)).all())
    monkeypatch.setattr(stories, "JOIN_SIMILARITY", 0.99)
    progress: list[int] = []
    report = stories.restory(engine, batch_size=2, on_progress=progress.append)
    assert progress == [2, 1] and report.moved == 2 and report.stories == 3
    assert len(set(story_of(engine).values())) == 3
    with Session(engine) as session:
        seq_after = dict(session.execute(select(Article.origin, Article.seq)).all())
        assert session.scalar(select(func.sum(Story.article_count))) == 3
    moved = [o for o in seq_before if seq_after[o] != seq_before[o]]
    assert len(moved) == 2 and min(seq_after[o] for o in moved) > max(seq_before.values())


def test_an_updated_article_is_assigned_again(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    ingest(engine, [corpus], None)
    changed = next(corpus.glob("001_*.txt"))
    changed.write_text("Bitcoin soared above $15,000 as investors piled into futures. " * 5)
    ingest(engine, [corpus], None)
    story = story_of(engine)
    assert story[f"file:{changed.name}"] != story["file:000_d02d653c8f4c463b.txt"]
    with Session(engine) as session:
        assert session.scalar(select(func.sum(Story.article_count))) == 3
        assert session.scalar(select(func.count()).select_from(Story)) == 2
        assert session.scalar(select(func.count()).select_from(ArticleFeatures)) == 3
        # Its old keys are gone from the candidate index: 3 articles' keys, no more.
        keys = session.scalar(select(func.count()).select_from(StoryKey))
        assert keys <= 3 * (stories.STORED_KEYS + stories.BANDS)


def test_articles_without_a_story_are_assigned(tmp_path: Path) -> None:
    """As after upgrading a database that predates stories: `only_unassigned` catches up."""
    engine = migrated_engine(make_settings(tmp_path))
    ingest(engine, [SEEDS], None)
    with Session(engine) as session, session.begin():
        session.query(Article).update({Article.story_pk: None})
        for table in (ArticleFeatures, StoryKey, StoryTerm, Story):
            session.query(table).delete()
    with Session(engine) as session:
        assert stories.count_unassigned(session) == 3
    stories.restory(engine, only_unassigned=True)
    assert len(set(story_of(engine).values())) == 1
    seed = stable_id("file:000_d02d653c8f4c463b.txt")
    assert set(story_of(engine).values()) == {stories.story_id_for(seed)}


def test_cli_restory_reports_and_reindexes(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from click.testing import CliRunner

    from app.cli import cli
    from app.config import get_settings

    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        assert runner.invoke(cli, ["ingest", "--no-extract", str(SEEDS)]).exit_code == 0
        result = runner.invoke(cli, ["restory", "--batch-size", "2"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "3 articles in 1 stories; 0 changed story" in result.output


def test_two_words_in_common_make_no_story(tmp_path: Path, extractor) -> None:  # type: ignore[no-untyped-def]
    """A young corpus of one-line articles: two that share only "hits record" are two stories.
    (Before: their cosine, over those two words alone, joined them.)"""
    texts = [
        "Copper hits record high\n\nCopper prices rose on Monday as mines in Chile closed.\n",
        "Election turnout hits record in Karvania\n\nVoters queued for hours in the capital.\n",
        "Ferry timetable changes\n\nThe ferry to the islands will sail twice a day.\n",
        "Library reopens after repairs\n\nThe town library reopened with a new roof.\n",
    ]
    engine = post_each(tmp_path, texts, extractor)
    with Session(engine) as session:
        assert session.scalar(select(func.count(func.distinct(Article.story_pk)))) == 4
