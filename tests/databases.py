"""The PostgreSQL half of the suite: one empty database per data directory, dropped after use.

On the PostgreSQL backend, `Settings.resolved_database_url` (the one place a default database
is derived from `data_dir`) is redirected here, so every test that builds settings, an app or
a CLI run gets its own PostgreSQL database without asking: the code under test migrates it, as
it migrates a fresh SQLite file. A database made while a test runs is dropped when the test
ends; one made by a module or session fixture, when the backend's half of the run ends.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text
from sqlalchemy.exc import OperationalError

# The server the PostgreSQL half runs on; CI's is local with trust auth, user postgres.
SERVER = os.environ.get(
    "NEWSCORPUS_TEST_POSTGRES", "postgresql+psycopg://postgres@127.0.0.1:5432"
).rstrip("/")


def server_error() -> str | None:
    """Why the test server cannot be used, or None when it answers."""
    admin = create_engine(f"{SERVER}/postgres")
    try:
        with admin.connect() as connection:
            connection.execute(text("SELECT 1"))
    except OperationalError as error:
        return f"no PostgreSQL server at {SERVER} ({str(error.orig).strip().splitlines()[0]})"
    finally:
        admin.dispose()
    return None


class Databases:
    """Create a uniquely named database per data directory on first use; drop them in scopes."""

    def __init__(self) -> None:
        self.admin: Engine = create_engine(f"{SERVER}/postgres", isolation_level="AUTOCOMMIT")
        self.urls: dict[Path, str] = {}
        self.scopes: list[list[Path]] = [[]]  # the innermost scope owns new databases

    def url_for(self, data_dir: Path) -> str:
        key = Path(data_dir).resolve()
        if key not in self.urls:
            name = f"newscorpus_test_{uuid.uuid4().hex[:16]}"
            with self.admin.connect() as connection:
                connection.execute(text(f'CREATE DATABASE "{name}"'))
                # Tests need no durability: commits return before their WAL reaches the disk.
                connection.execute(text(f'ALTER DATABASE "{name}" SET synchronous_commit = off'))
            self.urls[key] = f"{SERVER}/{name}"
            self.scopes[-1].append(key)
        return self.urls[key]

    @contextmanager
    def scope(self) -> Iterator[None]:
        """Drop the databases first used inside this block when it ends."""
        self.scopes.append([])
        try:
            yield
        finally:
            self._drop(self.scopes.pop())

    def close(self) -> None:
        while self.scopes:
            self._drop(self.scopes.pop())
        self.admin.dispose()

    def _drop(self, keys: list[Path]) -> None:
        for key in keys:
            name = self.urls.pop(key).rsplit("/", 1)[1]
            with self.admin.connect() as connection:  # FORCE: the app's pool may still be open
                connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
