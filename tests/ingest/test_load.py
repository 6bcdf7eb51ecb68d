"""The batched loader: the same rows as one article at a time, counts that match a recount,
deferred stories, and bulk ingest (reading processes) that stays idempotent."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import Engine, func, select, update
from sqlalchemy.orm import Session

from app.cli import cli
from app.db import write_session
from app.ingest import pipeline, stories
from app.ingest.files import iter_article_files
from app.ingest.load import Outcome, Prepared, content_hash, load_articles, replace_entities
from app.ingest.parse import ParsedArticle, parse_article
from app.ingest.pipeline import ingest_files
from app.models import Article, Entity, EntityName, Mention, Story
from tests.conftest import SEEDS, make_settings, migrated_engine

LABELLED = Path(__file__).resolve().parents[1] / "data" / "stories"


def prepared(extractor, paths: list[Path]) -> list[Prepared]:  # type: ignore[no-untyped-def]
    items = []
    for path in paths:
        text = path.read_text()
        items.append(Prepared(f"file:{path.name}", parse_article(text), content_hash(text)))
    if extractor is not None:
        found = extractor.extract([i.parsed for i in items])
        for item, entities in zip(items, found, strict=True):
            item.entities = entities
    return items


def snapshot(engine: Engine) -> dict[str, object]:
    """Everything the loader writes, by stable ids (pks and timestamps may differ)."""
    with Session(engine) as session:
        columns = [c for c in Article.__table__.c if c.key not in ("pk", "ingested_at")]
        columns = [c for c in columns if c.key not in ("updated_at", "seq", "story_pk")]
        articles = session.execute(
            select(*columns, Story.id).outerjoin(Story).order_by(Article.seq)
        ).all()
        mentions = session.execute(
            select(Article.id, Entity.key, Mention.text, Mention.start, Mention.end)
            .join(Article, Article.pk == Mention.article_pk)
            .join(Entity, Entity.pk == Mention.entity_pk)
            .order_by(Article.id, Mention.start, Entity.key, Mention.text)
        ).all()
        entities = session.execute(
            select(Entity.id, Entity.key, Entity.name, Entity.type)
            .add_columns(Entity.article_count, Entity.mention_count)
            .order_by(Entity.key)
        ).all()
        names = session.execute(
            select(Entity.key, EntityName.name, EntityName.folded)
            .join(Entity)
            .order_by(Entity.key, EntityName.name)
        ).all()
    return {"articles": articles, "mentions": mentions, "entities": entities, "names": names}


def assert_counts_match_a_recount(engine: Engine) -> None:
    with Session(engine) as session:
        kept = dict(
            session.execute(
                select(Entity.pk, Entity.article_count * 100_000 + Entity.mention_count)
            ).all()
        )
        recounted = dict(
            session.execute(
                select(
                    Mention.entity_pk,
                    func.count(func.distinct(Mention.article_pk)) * 100_000 + func.count(),
                ).group_by(Mention.entity_pk)
            ).all()
        )
    assert kept == recounted  # and no entity is left without a mention


@pytest.fixture(scope="module")
def items(extractor) -> list[Prepared]:  # type: ignore[no-untyped-def]
    return prepared(extractor, sorted(LABELLED.glob("*.txt")) + sorted(SEEDS.glob("*.txt")))


def test_one_batch_writes_what_one_article_at_a_time_writes(tmp_path: Path, items) -> None:  # type: ignore[no-untyped-def]
    batched = migrated_engine(make_settings(tmp_path / "batched"))
    single = migrated_engine(make_settings(tmp_path / "single"))
    with write_session(batched) as session:
        outcomes = load_articles(session, items)
    assert {outcome for _, outcome in outcomes} == {Outcome.LOADED}
    for item in items:
        with write_session(single) as session:
            load_articles(session, [item])
    assert snapshot(batched) == snapshot(single)
    assert_counts_match_a_recount(batched)


def test_counts_follow_reextraction_and_updates(tmp_path: Path, items) -> None:  # type: ignore[no-untyped-def]
    engine = migrated_engine(make_settings(tmp_path))
    with write_session(engine) as session:
        load_articles(session, items)
    with Session(engine) as session:
        pks = dict(session.execute(select(Article.origin, Article.pk)).all())
        top = session.scalars(select(Entity.pk).order_by(Entity.article_count.desc())).first()
    # Re-extraction that drops every entity from half the articles, and finds the rest again.
    half = {pks[i.origin]: ([] if n % 2 else (i.entities or [])) for n, i in enumerate(items)}
    with write_session(engine) as session:
        replace_entities(session, half)
    assert_counts_match_a_recount(engine)
    # An update without extraction drops the article's mentions.
    changed = items[0]
    changed = Prepared(changed.origin, changed.parsed, "another hash")
    with write_session(engine) as session:
        assert load_articles(session, [changed])[0][1] is Outcome.UPDATED
    assert_counts_match_a_recount(engine)
    with write_session(engine) as session:
        replace_entities(session, {pk: [] for pk in pks.values()})
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Entity)) == 0
        assert session.get(Entity, top) is None


def test_the_same_origin_twice_in_a_batch(tmp_path: Path, items) -> None:  # type: ignore[no-untyped-def]
    engine = migrated_engine(make_settings(tmp_path))
    first, second = items[0], items[1]
    again = Prepared(first.origin, second.parsed, second.content_hash)
    with write_session(engine) as session:
        outcomes = [o for _, o in load_articles(session, [first, first, again])]
    assert outcomes == [Outcome.LOADED, Outcome.UNCHANGED, Outcome.UPDATED]
    with Session(engine) as session:
        article = session.scalars(select(Article)).one()
        assert (article.body, article.story_pk is not None) == (second.parsed.body, True)


def test_deferred_stories_are_those_a_load_would_assign(tmp_path: Path) -> None:
    at_load = migrated_engine(make_settings(tmp_path / "at_load"))
    deferred = migrated_engine(make_settings(tmp_path / "deferred"))
    for engine, assign in ((at_load, True), (deferred, False)):
        ingest_files(
            iter_article_files([LABELLED]),
            engine=engine,
            extractor=None,
            max_bytes=5_000_000,
            assign_stories=assign,
        )
    with Session(deferred) as session:
        assert stories.count_unassigned(session) == 38
        assert session.scalar(select(func.count()).select_from(Story)) == 0
    report = stories.restory(deferred, only_unassigned=True, batch_size=7)
    assert (report.assigned, report.moved) == (38, 0)
    assert snapshot(deferred) == snapshot(at_load)


@pytest.mark.parametrize("batch, commit", [(None, None), (5, 12)])
def test_bulk_ingest_with_readers_is_idempotent_and_updates(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, batch: int | None, commit: int | None
) -> None:
    if batch is not None:  # reading tasks of 5 files, transactions spanning several of them
        monkeypatch.setattr(pipeline, "BULK_BATCH_SIZE", batch)
        monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", commit)
    corpus = tmp_path / "corpus"
    shutil.copytree(LABELLED, corpus, ignore=shutil.ignore_patterns("*.json"))
    (corpus / "empty.txt").write_bytes(b"")
    engine = migrated_engine(make_settings(tmp_path / "data"))

    def bulk():  # type: ignore[no-untyped-def]
        return ingest_files(
            iter_article_files([corpus]),
            engine=engine,
            extractor=None,
            max_bytes=5_000_000,
            assign_stories=False,
            processes=2,
        )

    first = bulk()
    assert first.counts[Outcome.LOADED] == 38 and len(first.failed) == 1
    with Session(engine) as session:
        seq = session.scalar(select(func.max(Article.seq)))
    assert bulk().counts[Outcome.UNCHANGED] == 38
    changed = corpus / "05.txt"
    changed.write_text(changed.read_text() + "\nA late paragraph.\n")
    assert bulk().counts[Outcome.UPDATED] == 1
    with Session(engine) as session:
        assert session.scalar(select(func.max(Article.seq))) == seq + 1
        article = session.scalar(select(Article).where(Article.origin == "file:05.txt"))
        assert article is not None and article.seq == seq + 1
        assert article.body.endswith("A late paragraph.")


def test_cli_no_extract_leaves_stories_to_restory_pending(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from app.config import get_settings

    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path))
    get_settings.cache_clear()
    try:
        runner = CliRunner()
        loaded = runner.invoke(cli, ["ingest", "--no-extract", str(SEEDS)])
        assert "3 articles wait for a story" in loaded.output
        # Other commands leave them waiting: only the upgrade from before stories assigns.
        assert runner.invoke(cli, ["migrate"]).exit_code == 0
        engine = migrated_engine(make_settings(tmp_path))
        with Session(engine) as session:
            assert stories.count_unassigned(session) == 3
        result = runner.invoke(cli, ["restory", "--pending"])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    assert "3 articles in 1 stories; 0 changed story, 3 had none" in result.output
    with Session(engine) as session:
        assert stories.count_unassigned(session) == 0


def test_a_source_written_in_lower_case_is_stored_as_names_are_written(tmp_path: Path) -> None:
    """(Before: "the portavera gazette", the first spelling, for every later one.)"""
    engine = migrated_engine(make_settings(tmp_path))
    sources = ["the portavera gazette", "The Portavera Gazette", "PORTAVERA GAZETTE", "bbc news"]
    for n, source in enumerate(sources):
        with write_session(engine) as session:
            parsed = ParsedArticle(body=f"Body {n}.", source=source)
            load_articles(session, [Prepared(f"post:{n}", parsed, content_hash(source))])
    with Session(engine) as session:
        stored = session.scalars(select(Article.source).order_by(Article.origin)).all()
    assert stored == ["The Portavera Gazette"] * 3 + ["BBC News"]


def test_spellings_of_one_source_are_stored_as_the_first_one(tmp_path: Path) -> None:
    engine = migrated_engine(make_settings(tmp_path))

    def batch(*sources: str) -> list[Prepared]:
        return [
            Prepared(f"post:{s}", ParsedArticle(body=f"Body {n}.", source=s), content_hash(s))
            for n, s in enumerate(sources)
        ]

    with write_session(engine) as session:
        load_articles(session, batch("Reuters", "REUTERS", "The Guardian", "Reuters Ltd."))
    with write_session(engine) as session:
        load_articles(
            session, batch("Reuters News", "guardian", "reuters", "Thomson Reuters", "AP")
        )
    with Session(engine) as session:
        stored = dict(session.execute(select(Article.origin, Article.source)).all())
    assert stored == {
        "post:Reuters": "Reuters",
        "post:REUTERS": "Reuters",
        "post:The Guardian": "The Guardian",
        "post:Reuters Ltd.": "Reuters",
        "post:Reuters News": "Reuters",
        "post:guardian": "The Guardian",
        "post:reuters": "Reuters",
        "post:Thomson Reuters": "Thomson Reuters",  # another name, not a spelling
        "post:AP": "AP",
    }


def test_a_url_line_of_the_text_is_the_articles_url(tmp_path: Path) -> None:
    engine = migrated_engine(make_settings(tmp_path))
    text = "Talks Collapse in Geneva\nhttps://news.example.org/talks\n\nThe talks collapsed."
    with write_session(engine) as session:
        load_articles(session, [Prepared("file:a.txt", parse_article(text), content_hash(text))])
    with Session(engine) as session:
        article = session.scalars(select(Article)).one()
    assert (article.url, article.title) == (
        "https://news.example.org/talks",
        "Talks Collapse in Geneva",
    )
    assert "example.org" not in article.body


def test_reextraction_brings_older_source_spellings_into_line(tmp_path: Path) -> None:
    engine = migrated_engine(make_settings(tmp_path))
    sources = ["Reuters", "Reuters", "Example Wire"]
    items = [
        Prepared(f"post:{n}", ParsedArticle(body=f"Body {n}.", source=s), content_hash(str(n)))
        for n, s in enumerate(sources)
    ]
    with write_session(engine) as session:
        load_articles(session, items)
        # As a database loaded before sources were settled has them.
        session.execute(update(Article).where(Article.origin == "post:1").values(source="REUTERS"))
        session.execute(
            update(Article).where(Article.origin == "post:2").values(source="EXAMPLE WIRE NEWS")
        )
    with write_session(engine) as session:
        pks = list(session.scalars(select(Article.pk)))
        replace_entities(session, {pk: [] for pk in pks})
    with Session(engine) as session:
        stored = dict(session.execute(select(Article.origin, Article.source)).all())
    assert stored == {"post:0": "Reuters", "post:1": "Reuters", "post:2": "Example Wire News"}


def test_spellings_of_one_source_fold_to_the_first(tmp_path: Path) -> None:
    from app.ingest.parse import ParsedArticle

    engine = migrated_engine(make_settings(tmp_path))
    with write_session(engine) as session:
        for sources in (["Example Wire", "EXAMPLE WIRE"], ["The Example Wire News", "example"]):
            load_articles(
                session,
                [
                    Prepared(f"post:{s}", ParsedArticle(body=f"{s}.", source=s), content_hash(s))
                    for s in sources
                ],
            )
    with Session(engine) as session:
        stored = session.scalars(select(Article.source).where(Article.origin.like("post:%")))
        assert sorted(stored) == ["Example"] + ["Example Wire"] * 3  # "example": as names are
