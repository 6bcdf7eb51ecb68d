"""Command line: newscorpus ingest | serve | reindex | extract | restory | eval | migrate."""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

import click
from pydantic_core import PydanticUndefined
from rich.progress import Progress
from sqlalchemy import ColumnElement, Engine, func, select
from sqlalchemy.orm import Session

from app.config import Settings, get_settings
from app.db import create_db_engine
from app.failures import (
    FAILURE,
    USAGE,
    OperatorError,
    database_disk_full,
    disk_full_message,
    explain,
    is_disk_full,
    sqlite_path,
)
from app.indexer import FollowerFailed, IndexFollower
from app.ingest.pipeline import load_extractor
from app.migrate import upgrade_to_head
from app.models import Article
from app.search.tantivy_index import IndexBusy, TantivyIndex

F = TypeVar("F", bound=Callable[..., Any])


class _Commands(click.Group):
    """Commands whose foreseeable failures end in one line (what, where, the fix) and exit
    status 2 (a wrong setting or argument) or 1, rather than in a traceback."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except Exception as error:
            explained = explain(error, **_places())
            if explained is None:
                raise
            one_line = _Usage if explained.status == USAGE else _Failure
            raise one_line(str(explained)) from error


class _Failure(click.ClickException):
    exit_code = FAILURE


class _Usage(click.ClickException):
    exit_code = USAGE


def _places() -> dict[str, Any]:
    """The database and data directory, to name in a message (none if settings are bad)."""
    try:
        settings = get_settings()
    except Exception:
        return {}
    return {"database_url": settings.resolved_database_url, "data_dir": settings.data_dir}


@click.group(
    cls=_Commands,
    context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100},
)
@click.version_option(package_name="newscorpus", prog_name="newscorpus")
@click.option("-v", "--verbose", is_flag=True, help="Also show Alembic's migration messages.")
def cli(verbose: bool) -> None:
    """newscorpus: a REST API over a news-article corpus."""
    logging.getLogger("alembic").setLevel(logging.INFO if verbose else logging.WARNING)


# The last revision before stories: a database upgraded from it gets its articles assigned.
BEFORE_STORIES = "2a5741f6f409"


def _ready_engine(settings: Settings) -> Engine:
    engine = create_db_engine(settings.resolved_database_url)
    before = _revision(engine)
    upgrade_to_head(engine)
    # Only then: articles loaded by `ingest --no-extract` wait without a story on purpose.
    if before == BEFORE_STORIES:
        _assign_pending_stories(engine)
    return engine


def _revision(engine: Engine) -> str | None:
    from alembic.runtime.migration import MigrationContext

    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def _regroup_stories(engine: Engine) -> None:
    """Group every article into stories again, in ingest order, with a progress bar."""
    from app.ingest.stories import restory

    with _progress_over_articles(engine, "regrouping stories") as advance:
        report = restory(engine, on_progress=advance)
    click.echo(f"{report.articles} articles in {report.stories} stories; {report.moved} moved")


def _assign_pending_stories(engine: Engine) -> int:
    """Give a story to the articles that have none (loaded with --no-extract, or before stories
    existed); return how many."""
    from app.ingest.stories import count_unassigned, restory

    with Session(engine) as session:
        pending = count_unassigned(session)
    if not pending:
        return 0
    with Progress(transient=True) as progress:
        task = progress.add_task("assigning stories", total=pending)
        restory(engine, only_unassigned=True, on_progress=lambda n: progress.advance(task, n))
    click.echo(f"assigned stories to {pending} articles")
    return pending


def _catch_up_index(settings: Settings, engine: Engine, *, serving: bool = False) -> None:
    """Index what the database has that the index has not. On a full disk: one line, and
    exit status 1, unless `serving` (the server serves what the index has and tries again)."""
    where = settings.resolved_index_dir
    index = TantivyIndex(where, engine)
    try:
        click.echo(f"indexed {index.catch_up()} articles")
    except IndexBusy:
        click.echo("a running server holds the index: it will index the new articles")
    except Exception as error:
        if not is_disk_full(error, where):
            raise
        if not serving:
            raise OperatorError(f"indexing failed: {disk_full_message(where)}") from error
        click.echo(f"warning: indexing failed: {disk_full_message(where)}; serving the index "
                   "as it is, and indexing again when there is space", err=True)  # fmt: skip
    finally:
        index.close()


def ingest_into(settings: Settings, engine: Engine, paths: list[Path], *, extract: bool) -> bool:
    """Ingest files with a progress bar; return True if every file loaded. Without extraction
    (a bulk load) stories wait too: `extract` or `restory --pending` assigns them."""
    from app.ingest.files import iter_article_files, refuse_same_ids
    from app.ingest.pipeline import ingest_files

    files = list(iter_article_files(paths))
    refuse_same_ids(files)
    extractor = load_extractor(settings) if extract else None
    follower = IndexFollower(settings) if not extract and len(files) >= FOLLOW_FILES else None
    try:
        with Progress(transient=True) as progress:
            task = progress.add_task("ingesting", total=len(files))
            report = ingest_files(
                files,
                engine=engine,
                extractor=extractor,
                max_bytes=settings.max_file_bytes,
                assign_stories=extract,
                processes=_readers(len(files), extract=extract),
                niceness=0 if follower is None else READER_NICENESS,
                on_progress=lambda n: progress.advance(task, n),
            )
    except Exception as error:
        if not is_disk_full(error):
            raise
        full = database_disk_full(settings.resolved_database_url, needed=_text_size(files))
        raise OperatorError(f"loading failed: {full}; what was loaded before is kept") from error
    finally:
        if follower is not None:
            follower.stop()
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    for name, reason in report.failed:
        click.echo(f"failed: {name}: {reason}", err=True)
    click.echo(report.summary())
    if not extract:
        _note_pending_stories(engine)
    if follower is None:
        _catch_up_index(settings, engine)
    else:
        _finish_following(settings, engine, follower)
    return not report.failed


def _text_size(files: list[tuple[Path, str]]) -> int:
    """Bytes of the files' text: the least a load of them needs."""
    total = 0
    for path, _ in files:
        with contextlib.suppress(OSError):
            total += path.stat().st_size
    return total


# A bulk load of at least this many files indexes while it loads, in a second process, instead
# of after it (278 s after a 446 s load at 1M articles).
FOLLOW_FILES = 20_000
# Indexing costs the most CPU per article (about 60 % of a bulk load's). The reading processes
# yield the CPU to it, so that the index keeps up with the load rather than finishing long
# after it (at 100k on a busy machine: done 17-19 s after the load instead of 28-37 s, the
# whole about 5 % sooner; at 1M: 5 s after the load).
READER_NICENESS = 10


def _finish_following(settings: Settings, engine: Engine, follower: IndexFollower) -> None:
    try:
        indexed = follower.finish()
    except FollowerFailed:
        _catch_up_index(settings, engine)  # it failed: index here
        return
    if indexed is None:
        click.echo("a running server holds the index: it will index the new articles")
    else:
        click.echo(f"indexed {indexed} articles")


def _readers(files: int, *, extract: bool) -> int:
    """Processes that read and parse files: two for a bulk load (the loader keeps its own
    process busy); one with extraction, whose spaCy workers need the cores."""
    return 2 if not extract and files >= 1000 and (os.cpu_count() or 1) > 1 else 1


def _note_pending_stories(engine: Engine) -> None:
    from app.ingest.stories import count_unassigned

    with Session(engine) as session:
        pending = count_unassigned(session)
    if pending:
        click.echo(
            f"{pending} articles wait for a story: `newscorpus extract --pending` "
            "or `newscorpus restory --pending` assigns them"
        )


def _setting_option(name: str, help: str, **options: Any) -> Callable[[F], F]:
    """An option whose default is the NEWSCORPUS_ setting of the same name (both in --help)."""
    default = Settings.model_fields[name].default
    options = {
        "envvar": f"NEWSCORPUS_{name.upper()}",
        "show_envvar": True,
        "default": None if default is PydanticUndefined else default,
        "show_default": True,
        **options,
    }
    return click.option(f"--{name}", help=help, **options)


@cli.command()
@click.argument(
    "paths", metavar="PATH...", nargs=-1, required=True, type=click.Path(path_type=Path)
)
@click.option(
    "--extract/--no-extract",
    default=True,
    show_default=True,
    help="Find entities and assign stories now. --no-extract (bulk loads) leaves both for "
    "later: `newscorpus extract --pending` does both, `restory --pending` just the stories.",
)
def ingest(paths: tuple[Path, ...], extract: bool) -> None:
    """Ingest article files and directories (recursive, *.txt).

    Exits 1 if any file failed (each is named with its reason)."""
    settings = get_settings()
    if not ingest_into(settings, _ready_engine(settings), list(paths), extract=extract):
        raise SystemExit(1)


@cli.command()
@click.option(
    "--seed",
    type=click.Path(path_type=Path),
    help="Ingest this directory first if the database is empty.",
)
@_setting_option("host", "Address to listen on.")
@_setting_option("port", "Port to listen on.", type=click.IntRange(0, 65535))
@_setting_option(
    "workers",
    "Server processes; all serve requests, one also indexes.",
    type=click.IntRange(min=1),
    show_default="the cores this process may use",
)
def serve(seed: Path | None, host: str, port: int, workers: int | None) -> None:
    """Migrate, optionally seed an empty database, and serve the API."""
    import uvicorn

    from app import server
    from app.ingest.pipeline import require_spacy_model

    settings = get_settings()
    if settings.api_keys or seed is not None:  # writes, or the seeds, will extract entities
        require_spacy_model(settings)
    engine = _ready_engine(settings)
    with Session(engine) as session:
        empty = session.scalar(select(Article.pk).limit(1)) is None
    if seed is not None and empty:
        ingest_into(settings, engine, [seed], extract=True)
    else:
        _catch_up_index(settings, engine, serving=True)  # once here, not in each worker
    engine.dispose()
    uvicorn.run(
        "app.main:create_app",
        factory=True,
        host=host,
        port=port,
        log_level=settings.log_level,
        workers=workers or settings.workers,
        access_log=settings.access_log,
        http=server.PROTOCOL,  # uvicorn's, with limits on each request's head
        timeout_worker_healthcheck=60,  # a worker's start-up (imports) is slow on a busy host
    )


@cli.command()
def reindex() -> None:
    """Rebuild the search index from the database."""
    settings = get_settings()
    index = TantivyIndex(settings.resolved_index_dir, _ready_engine(settings))
    try:
        click.echo(f"indexed {index.rebuild()} articles")
    except IndexBusy:
        click.echo("a running server holds the index; stop it first", err=True)
        raise SystemExit(1) from None
    finally:
        index.close()


@contextmanager
def _progress_over_articles(
    engine: Engine, label: str, *, where: ColumnElement[bool] | None = None
) -> Iterator[Callable[[int], None]]:
    """Show a progress bar over every article (or those `where` holds); yield the callback
    that advances it."""
    statement = select(func.count()).select_from(Article)
    if where is not None:
        statement = statement.where(where)
    with Session(engine) as session:
        total = session.scalar(statement) or 0
    with Progress(transient=True) as progress:
        task = progress.add_task(label, total=total)
        yield lambda n: progress.advance(task, n)


@cli.command()
@click.option(
    "--pending",
    is_flag=True,
    help="Only the articles without any entity yet: those of an ingest --no-extract, and "
    "those an interrupted run did not reach (it commits as it goes).",
)
def extract(pending: bool) -> None:
    """Find the entities of articles again, then bring their stories in line.

    Every article (after a model, rule or alias-table change; stories are then regrouped),
    or with --pending those of an `ingest --no-extract` (which then get a story)."""
    from app.ingest.pipeline import BATCH_SIZE, WITHOUT_ENTITIES, reextract
    from app.ingest.workers import extract_shared, stories_turn

    settings = get_settings()
    engine = _ready_engine(settings)
    where = WITHOUT_ENTITIES if pending else None
    with _progress_over_articles(engine, "extracting", where=where) as advance:
        if pending and engine.dialect.name == "postgresql":  # beside any number of workers
            done = extract_shared(
                engine=engine,
                extractor=load_extractor(settings),
                batch_size=BATCH_SIZE,
                lease_seconds=settings.extract_lease_seconds,
                on_progress=advance,
            )
        else:
            done = reextract(
                engine=engine,
                extractor=load_extractor(settings),
                only_pending=pending,
                on_progress=advance,
            )
    click.echo(f"extracted entities of {done} articles")
    with stories_turn(engine):  # story assignment depends on order: one process at a time
        if pending:
            _assign_pending_stories(engine)  # after extraction: their entities count
        else:
            _regroup_stories(engine)  # every article's entities changed: so may its story
    _catch_up_index(settings, engine)


@cli.command("restory")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=500, show_default=True,
    help="Articles per transaction.",
)  # fmt: skip
@click.option(
    "--pending", is_flag=True, help="Only the articles without a story (after ingest --no-extract)."
)
def restory_command(batch_size: int, pending: bool) -> None:
    """Group every article into stories again, in ingest order.

    After tuning app.ingest.stories; with --pending, just give a story to the articles that
    have none."""
    from app.ingest.stories import restory

    settings = get_settings()
    engine = _ready_engine(settings)
    unassigned = Article.story_pk.is_(None) if pending else None
    with _progress_over_articles(engine, "restorying", where=unassigned) as advance:
        report = restory(
            engine, batch_size=batch_size, only_unassigned=pending, on_progress=advance
        )
    click.echo(
        f"{report.articles} articles in {report.stories} stories; {report.moved} changed story"
        + (f", {report.assigned} had none" if report.assigned else "")
    )
    _catch_up_index(settings, engine)


@cli.command()
def migrate() -> None:
    """Bring the database schema to the newest migration."""
    _ready_engine(get_settings())
    click.echo("database at head")


@cli.command()
def keygen() -> None:
    """Print a new random API key, for NEWSCORPUS_API_KEYS (a JSON list: '["KEY"]')."""
    click.echo(secrets.token_urlsafe(32))


@cli.command()
def status() -> None:
    """Show the database, its schema, the articles, what waits for indexing, extraction and
    stories, and the free space, on one screen (it changes nothing)."""
    from app.status import LINES, status_lines

    settings = get_settings()
    database = sqlite_path(settings.resolved_database_url)
    if database is not None and not database.exists():
        raise OperatorError(f"no database at {database} yet: `newscorpus migrate` creates it")
    engine = create_db_engine(settings.resolved_database_url)
    width = max(len(label) for label, _ in LINES) + 1
    for label, text in status_lines(settings, engine):
        click.echo(f"{label + ':':<{width}} {text}")
    engine.dispose()


@cli.command("eval")
@click.argument("gold", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.argument("texts", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option(
    "--strict", is_flag=True, help="Count each extra entity for one real thing as an error."
)
@click.option("--errors", is_flag=True, help="List every error after the scores.")
def evaluate(gold: Path, texts: Path, strict: bool, errors: bool) -> None:
    """Score entity extraction against a gold file.

    GOLD is the entities JSON, TEXTS the directory of its article files; prints per-type
    precision, recall and F1, lenient or (--strict) counting split entities as errors."""
    from app.ingest.evaluate import evaluate as run_evaluation

    report = run_evaluation(gold, texts, load_extractor(get_settings()), strict=strict)
    click.echo(report.format(errors=errors))


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    cli(prog_name="newscorpus")
