"""`newscorpus status`: the state of a deployment on one screen, one line per fact.

Each line is a function of the settings and the database engine that returns its text; to add
a line, write one and list it in LINES. A line that cannot be read says why, and the others
are still shown. Nothing here writes: not the database, not the index.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from app.config import Settings
from app.failures import explain, free_space, human_size
from app.migrate import alembic_config
from app.models import Article
from app.search.schema import read_state

Line = Callable[[Settings, Engine], str]


def database(settings: Settings, engine: Engine) -> str:
    return engine.url.render_as_string(hide_password=True)


def schema(settings: Settings, engine: Engine) -> str:
    with engine.connect() as connection:
        current = MigrationContext.configure(connection).get_current_heads()
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if set(current) == set(heads):
        return f"revision {', '.join(current)} (the newest)"
    now = ", ".join(current) or "empty"
    return f"revision {now}, the newest is {', '.join(heads)}: `newscorpus migrate` upgrades it"


def articles(settings: Settings, engine: Engine) -> str:
    with Session(engine) as session:
        return f"{session.scalar(select(func.count()).select_from(Article)):,}"


def index_lag(settings: Settings, engine: Engine) -> str:
    state = read_state(settings.resolved_index_dir)
    indexed = int(state["seq"]) if state else 0
    with Session(engine) as session:
        newest = session.scalar(select(func.max(Article.seq))) or 0
    lag = max(0, newest - indexed)
    where = settings.resolved_index_dir
    return f"{lag:,} article changes not yet searchable ({where})" if lag else f"none ({where})"


def extraction(settings: Settings, engine: Engine) -> str:
    from app.ingest.workers import extraction_counts

    with Session(engine) as session:
        counts = extraction_counts(session)
    text = f"{counts.pending:,} pending, {counts.claimed:,} claimed, {counts.done:,} done"
    return text + (": `newscorpus extract --pending`" if counts.pending else "")


def pending_stories(settings: Settings, engine: Engine) -> str:
    from app.ingest.stories import count_unassigned

    with Session(engine) as session:
        count = count_unassigned(session)
    return f"{count:,} articles without a story" + (
        ": `newscorpus restory --pending`" if count else ""
    )


def disk(settings: Settings, engine: Engine) -> str:
    free = free_space(settings.data_dir)
    return f"{human_size(free) if free is not None else 'unknown'} free for {settings.data_dir}"


LINES: list[tuple[str, Line]] = [
    ("database", database),
    ("schema", schema),
    ("articles", articles),
    ("index lag", index_lag),
    ("extraction", extraction),
    ("stories", pending_stories),
    ("disk", disk),
]


def status_lines(settings: Settings, engine: Engine) -> Iterator[tuple[str, str]]:
    """(label, text) for each of LINES; a line that fails says why instead."""
    for label, line in LINES:
        try:
            text = line(settings, engine)
        except Exception as error:
            explained = explain(error, database_url=settings.resolved_database_url)
            text = f"unavailable: {explained or error}"
        yield label, text
