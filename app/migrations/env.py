"""Alembic environment: runs on the app's own engine (so SQLite gets its pragmas)."""

from alembic import context

from app.config import get_settings
from app.db import create_db_engine
from app.models import Base

config = context.config


def run_migrations() -> None:
    connection = config.attributes.get("connection")
    if connection is not None:  # called from app.migrate with an open connection
        _run(connection)
        return
    engine = create_db_engine(get_settings().resolved_database_url)
    with engine.connect() as connection:
        _run(connection)
    engine.dispose()


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=Base.metadata,
        render_as_batch=connection.dialect.name == "sqlite",  # SQLite cannot ALTER most things
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise SystemExit("offline migrations are not supported; run against a database")
run_migrations()
