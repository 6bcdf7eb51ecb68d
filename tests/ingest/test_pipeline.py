"""Ingest end to end: stable ids, idempotency, updates, bad files, the index kept in step."""

from __future__ import annotations

import shutil
from itertools import pairwise
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import event, func, select
from sqlalchemy.orm import Session

from app.cli import cli
from app.ingest.entities import EntityExtractor
from app.ingest.files import iter_article_files
from app.ingest.load import Outcome, StoredCorpus
from app.ingest.pipeline import reextract
from app.models import Article, Entity, Mention
from app.search.base import ArticleQuery
from app.search.tantivy_index import TantivyIndex
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine, post_each, query_plans

STORIES = Path(__file__).resolve().parents[1] / "data" / "stories"


def article_ids(engine) -> list[str]:  # type: ignore[no-untyped-def]
    with Session(engine) as session:
        return sorted(session.scalars(select(Article.id)))


def test_fresh_databases_give_the_same_ids(tmp_path: Path) -> None:
    first = migrated_engine(make_settings(tmp_path / "a"))
    second = migrated_engine(make_settings(tmp_path / "b"))
    ingest(first, [SEEDS], None)
    ingest(second, [SEEDS], None)
    assert article_ids(first) == article_ids(second) and len(article_ids(first)) == 3


def test_reingest_adds_nothing_and_a_changed_file_updates(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    assert ingest(engine, [corpus], None).counts[Outcome.LOADED] == 3
    assert ingest(engine, [corpus], None).counts[Outcome.UNCHANGED] == 3
    changed = next(corpus.glob("002_*.txt"))
    changed.write_text(changed.read_text().replace("Thea Morrison", "Jane Roe"))
    report = ingest(engine, [corpus], None)
    assert report.counts[Outcome.UPDATED] == 1 and report.counts[Outcome.UNCHANGED] == 2
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Article)) == 3
        assert session.scalar(select(Article.author).where(Article.origin.like("%002_%"))) == (
            "Jane Roe"
        )


def test_entities_are_replaced_not_duplicated_on_update(tmp_path: Path, extractor) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    ingest(engine, [corpus], extractor)
    with Session(engine) as session:
        before = session.scalar(select(func.count()).select_from(Mention))
    changed = next(corpus.glob("000_*.txt"))
    changed.write_text(changed.read_text() + "\n")
    ingest(engine, [corpus], extractor)
    with Session(engine) as session:
        assert session.scalar(select(func.count()).select_from(Mention)) == before


def test_bad_files_are_named_and_the_rest_load(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "empty.txt").write_bytes(b"")
    (corpus / "binary.txt").write_bytes(b"\x00\x01\x02" * 100)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    report = ingest(engine, [corpus], None)
    assert report.counts[Outcome.LOADED] == 3
    assert sorted(Path(name).name for name, _ in report.failed) == ["binary.txt", "empty.txt"]
    assert all(reason for _, reason in report.failed)


def test_cli_ingest_exits_non_zero_when_a_file_fails(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    (corpus / "empty.txt").write_bytes(b"")
    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path / "data"))
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["ingest", "--no-extract", str(corpus)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 1
    assert "empty.txt" in result.output and "3 loaded" in result.output


def test_index_catches_up_and_rebuilds_without_duplicates(tmp_path: Path) -> None:
    settings = make_settings(tmp_path)
    engine = migrated_engine(settings)
    ingest(engine, [SEEDS], None)
    index = TantivyIndex(settings.resolved_index_dir, engine)
    assert index.lag() == 3
    assert index.catch_up() == 3 and index.lag() == 0
    index._save_watermark(0)  # as if killed between the index commit and the watermark update
    index.catch_up()
    assert index.search(ArticleQuery(limit=10)).total == 3
    assert index.rebuild() == 3
    assert index.search(ArticleQuery(limit=10)).total == 3
    index.close()


def test_bulk_update_drops_mentions_of_the_old_body(tmp_path: Path, extractor) -> None:  # type: ignore[no-untyped-def]
    corpus = tmp_path / "corpus"
    shutil.copytree(SEEDS, corpus)
    engine = migrated_engine(make_settings(tmp_path / "data"))
    ingest(engine, [corpus], extractor)
    changed = next(corpus.glob("000_*.txt"))
    changed.write_text("Short replacement text.\n" + changed.read_text())
    ingest(engine, [corpus], None)  # --no-extract: entities come later with `extract`
    with Session(engine) as session:
        article = session.scalar(select(Article).where(Article.origin.like("%000_%")))
        assert article is not None and article.mentions == []


class _Interrupted(Exception):
    pass


def _seqs_and_mentions(engine) -> dict[int, tuple[int, int]]:  # type: ignore[no-untyped-def]
    """Each article's seq and number of mentions, by pk."""
    with Session(engine) as session:
        counted = (
            select(Article.pk, Article.seq, func.count(Mention.pk))
            .outerjoin(Mention, Mention.article_pk == Article.pk)
            .group_by(Article.pk)
        )
        return {pk: (seq, mentions) for pk, seq, mentions in session.execute(counted)}


def test_pending_extraction_resumes_where_an_interrupted_one_stopped(
    tmp_path: Path, extractor: EntityExtractor
) -> None:

    engine = migrated_engine(make_settings(tmp_path))
    ingest(engine, [SEEDS], None)  # as `ingest --no-extract`: no entities yet

    def interrupt(_: int) -> None:  # after the first committed batch
        raise _Interrupted

    with pytest.raises(_Interrupted):
        reextract(
            engine=engine,
            extractor=extractor,
            batch_size=1,
            only_pending=True,
            on_progress=interrupt,
        )
    before = _seqs_and_mentions(engine)
    done = [pk for pk, (_, mentions) in before.items() if mentions]
    assert len(done) == 1 and done[0] == min(before)  # the first article, committed

    assert reextract(engine=engine, extractor=extractor, only_pending=True) == 2
    after = _seqs_and_mentions(engine)
    assert after[done[0]] == before[done[0]]  # not extracted again
    assert all(mentions for _, mentions in after.values())
    assert reextract(engine=engine, extractor=extractor, only_pending=True) == 0


@pytest.mark.sqlite_only("reads SQLite's query plans")
def test_finding_pending_articles_scans_no_table(
    tmp_path: Path, extractor: EntityExtractor
) -> None:
    engine = migrated_engine(make_settings(tmp_path))
    ingest(engine, [SEEDS], None)
    statements = []
    event.listen(engine, "before_cursor_execute", lambda *args: statements.append(args[2:4]))
    assert reextract(engine=engine, extractor=extractor, only_pending=True) == 3
    # Finding the pending articles walks the articles by pk and looks mentions up by index.
    reads = [(sql, params) for sql, params in statements if "NOT (EXISTS" in sql]
    assert reads
    for _, details in query_plans(engine, reads):
        assert not [d for d in details if d.startswith("SCAN")], details


def _cli_ingest(tmp_path: Path, corpus: Path) -> str:
    from app.config import get_settings

    get_settings.cache_clear()
    try:
        result = CliRunner().invoke(cli, ["ingest", "--no-extract", str(corpus)])
    finally:
        get_settings.cache_clear()
    assert result.exit_code == 0, result.output
    return result.output


def test_a_bulk_load_indexes_while_it_loads(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.cli
    import app.indexer
    from app.ingest import pipeline

    # One file a reading task and a transaction: the follower sees several commits.
    monkeypatch.setattr(pipeline, "BULK_BATCH_SIZE", 1)
    monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", 1)
    monkeypatch.setattr(app.cli, "FOLLOW_FILES", 1)
    monkeypatch.setattr(app.indexer, "FOLLOW_POLL", 0.01)
    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path / "data"))
    assert "indexed 3 articles" in _cli_ingest(tmp_path, SEEDS)
    assert "indexed 0 articles" in _cli_ingest(tmp_path, SEEDS)  # nothing new: nothing indexed
    settings = make_settings(tmp_path / "data")
    index = TantivyIndex(settings.resolved_index_dir, migrated_engine(settings))
    assert index.lag() == 0
    assert index.search(ArticleQuery(limit=10)).total == 3
    index.close()


def test_extract_pending_takes_the_articles_of_a_bulk_load(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extractor: EntityExtractor
) -> None:
    import app.cli
    from app.config import get_settings

    monkeypatch.setattr(app.cli, "load_extractor", lambda settings: extractor)  # loaded once
    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path / "data"))
    _cli_ingest(tmp_path, SEEDS)
    outputs = []
    for command in (["status"], ["extract", "--pending"], ["extract", "--pending"], ["status"]):
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, command)
        assert result.exit_code == 0, result.output
        outputs.append(result.output)
    get_settings.cache_clear()
    assert "extraction: 3 pending, 0 claimed, 0 done" in outputs[0]
    assert "3 articles without a story" in outputs[0]
    assert "extracted entities of 3 articles" in outputs[1]
    assert "extracted entities of 0 articles" in outputs[2]  # nothing left to do
    assert "extraction: 0 pending, 0 claimed, 3 done" in outputs[3]
    assert "0 articles without a story" in outputs[3]


def test_a_bulk_loads_transactions_grow_at_its_start_and_shrink_at_its_end(
    tmp_path: Path, monkeypatch
) -> None:  # type: ignore[no-untyped-def]
    from contextlib import contextmanager

    from app.ingest import pipeline

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(30):
        (corpus / f"{n:02d}.txt").write_text(f"Headline {n}\n\nThe body of article {n}.\n")
    engine = migrated_engine(make_settings(tmp_path / "data"))
    committed = [0]  # articles in the database after each transaction
    real_session = pipeline.write_session

    @contextmanager
    def counted_session(engine):  # type: ignore[no-untyped-def]
        with real_session(engine) as session:
            yield session
        committed.append(len(article_ids(engine)))

    # One file a reading task, and transactions of at most 8 files.
    monkeypatch.setattr(pipeline, "BULK_BATCH_SIZE", 1)
    monkeypatch.setattr(pipeline, "BULK_COMMIT_ROWS", 8)
    monkeypatch.setattr(pipeline, "write_session", counted_session)
    files = list(iter_article_files([corpus]))
    report = pipeline.ingest_files(
        files, engine=engine, extractor=None, max_bytes=5_000, assign_stories=False
    )
    assert report.counts[Outcome.LOADED] == 30
    # Each at most all before it, at most 8, at most half of what is left.
    sizes = [after - before for before, after in pairwise(committed)]
    assert sizes == [1, 1, 2, 4, 8, 7, 3, 2, 1, 1]


def test_a_bulk_load_leaves_a_busy_index_to_its_holder(tmp_path: Path, monkeypatch) -> None:  # type: ignore[no-untyped-def]
    import app.cli

    monkeypatch.setattr(app.cli, "FOLLOW_FILES", 1)
    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path / "data"))
    settings = make_settings(tmp_path / "data")
    holder = TantivyIndex(settings.resolved_index_dir, migrated_engine(settings))
    holder.catch_up()  # takes the writer, as a running server does
    try:
        output = _cli_ingest(tmp_path, SEEDS)
    finally:
        holder.close()
    assert "a running server holds the index" in output and "3 loaded" in output


def test_the_follower_stops_when_its_parent_is_gone(tmp_path: Path) -> None:
    import multiprocessing

    from app.indexer import follow

    settings = make_settings(tmp_path)
    ingest(migrated_engine(settings), [SEEDS], None)
    indexed = multiprocessing.Value("q", 0)
    # Never told to stop, and its "parent" is not its parent: it catches up once and returns.
    follow(settings, multiprocessing.Event(), indexed, parent=-1)
    assert indexed.value == 3


def test_extract_brings_entities_and_stories_of_a_database_up_to_date(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, extractor: EntityExtractor
) -> None:
    import app.cli
    from app.config import get_settings

    monkeypatch.setattr(app.cli, "load_extractor", lambda settings: extractor)
    monkeypatch.setenv("NEWSCORPUS_DATA_DIR", str(tmp_path / "data"))
    _cli_ingest(tmp_path, STORIES)

    def run(*args: str) -> None:
        get_settings.cache_clear()
        result = CliRunner().invoke(cli, ["extract", *args])
        get_settings.cache_clear()
        assert result.exit_code == 0, result.output

    def state(engine) -> tuple[dict[str, int | None], int]:  # type: ignore[no-untyped-def]
        with Session(engine) as session:
            stories = {
                row.id: row.story_pk
                for row in session.execute(select(Article.id, Article.story_pk))
            }
            return stories, session.scalar(select(func.count()).select_from(Mention)) or 0

    run("--pending")
    engine = migrated_engine(make_settings(tmp_path / "data"))
    fresh = state(engine)
    assert len(set(fresh[0].values())) > 1  # several stories, to be mixed up below
    with Session(engine) as session:  # as an older pipeline might have left it
        session.execute(Article.__table__.update().values(story_pk=min(fresh[0].values())))
        session.execute(Mention.__table__.delete())
        session.commit()
    run()
    assert state(engine) == fresh


@pytest.mark.postgresql_only("PostgreSQL's planner statistics")
def test_long_writes_keep_the_planner_statistics_of_what_they_grow(tmp_path: Path) -> None:
    """A bulk load's lookups, and story assignment's, are prepared statements planned on the
    statistics of the time: left as the empty tables', each would read the whole table (a
    100k load stalled). So both bring them up to date as the tables grow; autovacuum may come
    late or be off."""
    from sqlalchemy import text

    from app.ingest.pipeline import ingest_files
    from app.ingest.stories import restory

    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(40):
        (corpus / f"{n:03d}.txt").write_text(f"Harbour news {n}\n\nThe ferry {n} sailed.\n")
    engine = migrated_engine(make_settings(tmp_path / "data"))
    report = ingest_files(
        iter_article_files([corpus]),
        engine=engine,
        extractor=None,
        max_bytes=10**6,
        assign_stories=False,
    )
    assert report.counts[Outcome.LOADED] == 40

    def rows_planned_on(table: str) -> float:  # -1: never analyzed
        with engine.connect() as connection:
            return connection.scalar(
                text("SELECT reltuples FROM pg_class WHERE relname = :t"), {"t": table}
            )

    assert rows_planned_on("articles") == 40
    restory(engine, batch_size=8, only_unassigned=True)
    assert rows_planned_on("story_keys") > 0
    engine.dispose()


CORVANE = {  # what the medium model alone types "Corvane" as in each (probed: it varies)
    "org": [
        "Shares report\n\nCorvane said on Monday that profits rose in the third quarter.\n",
        "Talks report\n\nOfficials from Corvane arrived late on Sunday for the talks.\n",
    ],
    "place": ["Weekend report\n\nFans gathered in Corvane for the final on Saturday.\n"],
    "person": ["Council report\n\nThe mayor met Corvane on Tuesday to discuss the budget.\n"],
}


def test_a_name_keeps_the_type_the_corpus_gave_it_as_articles_arrive_one_at_a_time(
    tmp_path: Path, extractor: EntityExtractor
) -> None:
    """Articles added one by one (POSTs, small batches) vote with those already stored: one
    name, one entity. (Before: each batch of one typed it alone: an organisation, a place and
    a person.)"""
    engine = post_each(
        tmp_path, [*CORVANE["org"], *CORVANE["place"], *CORVANE["person"]], extractor
    )
    with Session(engine) as session:
        entities = session.execute(
            select(Entity.type, Entity.article_count).where(Entity.name == "Corvane")
        ).all()
    assert [tuple(e) for e in entities] == [("org", 4)]


def test_an_article_extracted_again_does_not_vote_for_itself(
    tmp_path: Path, extractor: EntityExtractor
) -> None:
    engine = post_each(tmp_path, CORVANE["org"], extractor)
    with Session(engine) as session:
        first, second = session.scalars(select(Article.pk).order_by(Article.pk)).all()
    counts = StoredCorpus(engine).type_counts(["org:corvane", "place:corvane"])
    assert counts == {"org:corvane": 2}
    assert StoredCorpus(engine, [first]).type_counts(["org:corvane"]) == {"org:corvane": 1}
    assert StoredCorpus(engine, [first, second]).type_counts(["org:corvane"]) == {}


def test_a_surname_alone_names_the_one_stored_person_who_goes_by_it(
    tmp_path: Path, extractor: EntityExtractor
) -> None:
    """Articles POSTed one at a time: a later one calls her by her surname only. (Before: each
    such article made "Drusmark" an entity of its own, a person or an organisation.)"""
    texts = [
        "Minister quits\n\nVelina Drusmark resigned on Monday. Drusmark said she was tired.\n",
        "Reaction\n\nDrusmark told reporters on Tuesday that she had no regrets.\n",
        "Successor named\n\nMs Drusmark will be replaced by a deputy next week.\n",
        "Carmaker results\n\nKorvel Motors said profits rose. Korvel said sales rose.\n",
        "New novel\n\nAnn Korvel published a novel on Friday. Korvel said it took years.\n",
        "Carmaker hires\n\nKorvel said on Monday it would hire 200 workers.\n",
    ]
    engine = post_each(tmp_path, texts, extractor)
    with Session(engine) as session:
        named = session.execute(
            select(Entity.name, Entity.type, Entity.article_count)
            .where(Entity.name.contains("Drusmark") | Entity.name.contains("Korvel"))
            .order_by(Entity.name)
        ).all()
    assert [tuple(row) for row in named] == [
        ("Ann Korvel", "person", 1),
        ("Korvel", "org", 2),  # stored as a company: her surname alone does not take it over
        ("Korvel Motors", "org", 1),
        ("Velina Drusmark", "person", 3),
    ]
