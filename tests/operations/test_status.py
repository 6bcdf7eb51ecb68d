"""`newscorpus status`: the state of a deployment on one screen, changing nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.operations.helpers import invoke, one_line_error


# The command runs in a subprocess with only NEWSCORPUS_DATA_DIR: its database is the SQLite
# file there (tests/operations/helpers.py).
@pytest.mark.sqlite_only("runs `newscorpus` on the data directory's SQLite file")
def test_status_shows_what_an_operator_needs_on_one_screen(tmp_path: Path) -> None:
    engine = migrated_engine(make_settings(tmp_path / "data"))
    ingest(engine, [SEEDS], None)  # not yet indexed; stories assigned; no spaCy entities
    with engine.connect() as connection:
        unextracted = connection.exec_driver_sql(
            "SELECT count(*) FROM articles WHERE pk NOT IN (SELECT article_pk FROM mentions)"
        ).scalar()
    engine.dispose()
    done = invoke("status", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    lines = dict(line.split(":", 1) for line in done.stdout.splitlines())
    assert lines.keys() == {
        "database", "schema", "articles", "index lag", "extraction", "stories", "disk"
    }  # fmt: skip
    assert "newscorpus.db" in lines["database"]
    assert "(the newest)" in lines["schema"]
    assert lines["articles"].strip() == "3"
    assert "3 article changes not yet searchable" in lines["index lag"]
    extraction = f"{unextracted} pending, 0 claimed, {3 - unextracted} done"
    assert extraction in lines["extraction"]
    assert "0 articles without a story" in lines["stories"]
    assert "free for" in lines["disk"]


@pytest.mark.sqlite_only("a database file that does not exist yet")
def test_status_creates_no_database(tmp_path: Path) -> None:
    line = one_line_error(invoke("status", cwd=tmp_path), 1)
    assert "no database at" in line and "newscorpus migrate" in line
    assert not (tmp_path / "data" / "newscorpus.db").exists()
