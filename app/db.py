"""Engine, sessions and the request session dependency."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from app.budget import limit_postgresql, watch_sqlite

WRITE_OPTION = "newscorpus_write"
# The PostgreSQL advisory lock every writer holds until it commits (pg_advisory_xact_lock).
WRITER_LOCK = 0x6E657773  # "news"


def create_db_engine(url: str) -> Engine:
    """Create an engine; SQLite gets WAL, foreign keys and writers that lock up front;
    PostgreSQL gets the same one writer at a time, and reads bounded by the time budget."""
    parsed = make_url(url)
    if parsed.get_backend_name() == "postgresql":
        # pre_ping: a connection the server dropped (restart, failover) is replaced at checkout.
        engine = create_engine(url, pool_pre_ping=True)
        _configure_postgresql(engine)
        return engine
    if parsed.get_backend_name() != "sqlite":
        return create_engine(url, pool_pre_ping=True)
    if parsed.database and parsed.database != ":memory:":
        Path(parsed.database).parent.mkdir(parents=True, exist_ok=True)
    engine = create_engine(url, connect_args={"check_same_thread": False, "timeout": 30})
    _configure_sqlite(engine)
    return engine


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def on_connect(dbapi_connection, _record):  # type: ignore[no-untyped-def]
        # Let SQLAlchemy's "begin" event emit BEGIN, so writers can say IMMEDIATE.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        for pragma in (
            "journal_mode=WAL",
            "synchronous=NORMAL",
            "foreign_keys=ON",
            "busy_timeout=30000",
        ):
            cursor.execute(f"PRAGMA {pragma}")
        cursor.close()
        watch_sqlite(dbapi_connection)  # statements stop at the request's deadline

    @event.listens_for(engine, "begin")
    def on_begin(conn):  # type: ignore[no-untyped-def]
        # A writer takes the lock at BEGIN, so it never fails half-way with "database is locked".
        immediate = conn.get_execution_options().get(WRITE_OPTION)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if immediate else "BEGIN")


def _configure_postgresql(engine: Engine) -> None:
    @event.listens_for(engine, "begin")
    def on_begin(conn):  # type: ignore[no-untyped-def]
        if not conn.get_execution_options().get(WRITE_OPTION):
            limit_postgresql(conn)  # a read inside a request stops at its deadline
            return
        # Writers take turns, as SQLite's BEGIN IMMEDIATE makes them, until they commit. Why:
        # the index follows `articles.seq` up to a watermark, so a seq must never commit after
        # a higher one (a plain sequence would let it, and that article would never be
        # indexed). Holding one lock from numbering to commit makes the commit order the seq
        # order; it also keeps story assignment (which reads what the articles before it
        # decided) and the get-or-create of entities free of races. Writers spend most of
        # their time outside it: reading, parsing and extracting happen before they begin.
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({WRITER_LOCK})")


def refresh_statistics(engine: Engine) -> None:
    """PostgreSQL: ANALYZE, for a long write that grows tables from empty (a bulk load, story
    assignment) to call as they double. Its lookups run as prepared statements, whose generic
    plan is made on the statistics of the day: made on an empty table (a scan is cheapest
    there) and kept until the next ANALYZE, every lookup reads the whole table (a 100k bulk
    load stalled past 65,536 articles). Autovacuum comes late, or never where it is off.
    ANALYZE samples each table (30,000 rows at most): seconds at most, log2(n) times."""
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            connection.exec_driver_sql("ANALYZE")
            connection.commit()


def session_factory(engine: Engine, *, write: bool = False) -> sessionmaker[Session]:
    bind = engine.execution_options(**{WRITE_OPTION: True}) if write else engine
    return sessionmaker(bind=bind, expire_on_commit=False)


@contextmanager
def write_session(engine: Engine) -> Iterator[Session]:
    """Open a writer transaction: commit on success, roll back on any error."""
    with session_factory(engine, write=True)() as session, session.begin():
        yield session


# Dependencies are `async def` so FastAPI calls them on the event loop: a sync one would cost
# a hop to the thread pool each. Opening and closing a session does no blocking work.
async def get_engine(request: Request) -> Engine:
    return request.app.state.engine


async def get_session(request: Request) -> AsyncIterator[Session]:
    with Session(request.app.state.engine) as session:
        yield session


SessionDep = Annotated[Session, Depends(get_session)]
EngineDep = Annotated[Engine, Depends(get_engine)]
