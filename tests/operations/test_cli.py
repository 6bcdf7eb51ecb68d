"""The `newscorpus` command as an operator meets it: help, version, quiet migrations, and one
line (not a traceback) for each failure an operator can fix."""

from __future__ import annotations

from importlib.metadata import version
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from tests.operations.helpers import SEEDS, invoke, newscorpus, one_line_error

COMMANDS = ["ingest", "serve", "reindex", "extract", "restory", "migrate", "eval"]


@pytest.mark.parametrize("command", [[], *([c] for c in COMMANDS)])
def test_help_has_no_stray_placeholders(command: list[str]) -> None:
    result = CliRunner().invoke(cli, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage: " in result.output
    for stray in ("<bool>", "{", "}"):
        assert stray not in result.output


def test_serve_takes_host_port_and_workers_with_their_settings_as_defaults() -> None:
    help_text = " ".join(CliRunner().invoke(cli, ["serve", "--help"]).output.split())
    for option in ("host", "port", "workers"):
        assert f"--{option}" in help_text
        assert f"env var: NEWSCORPUS_{option.upper()}" in help_text
    assert "default: 127.0.0.1" in help_text and "default: 8000" in help_text


def test_version() -> None:
    result = CliRunner().invoke(cli, ["--version"])
    assert result.exit_code == 0
    assert result.output.strip() == f"newscorpus, version {version('newscorpus')}"


def test_migrations_are_quiet_unless_verbose(tmp_path: Path) -> None:
    quiet = newscorpus("migrate", cwd=tmp_path)
    assert quiet.returncode == 0 and quiet.stderr == ""
    assert quiet.stdout == "database at head\n"
    (tmp_path / "data").rename(tmp_path / "old")
    verbose = newscorpus("--verbose", "migrate", cwd=tmp_path)
    assert verbose.returncode == 0 and "Running upgrade" in verbose.stderr


def test_ingest_of_a_folder_without_articles_says_so_and_fails(tmp_path: Path) -> None:
    (tmp_path / "notes").mkdir()
    (tmp_path / "notes" / "readme.md").write_text("not an article")
    done = invoke("ingest", "--no-extract", "notes", cwd=tmp_path)
    assert done.returncode == 1
    assert "notes: a directory without article files (.txt)" in done.stderr
    assert "0 loaded" in done.stdout


def test_two_files_with_the_same_id_are_refused_and_nothing_is_loaded(tmp_path: Path) -> None:
    for folder, title in (("a", "First"), ("b", "Second")):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "x.txt").write_text(f"{title}\n\nThe body of the {title} one.\n")
    line = one_line_error(invoke("ingest", "--no-extract", "a", "b", cwd=tmp_path), 2)
    assert "a/x.txt and b/x.txt would get the same id" in line
    listed = invoke("ingest", "--no-extract", "a", cwd=tmp_path)  # nothing was loaded
    assert "1 loaded, 0 updated, 0 unchanged" in listed.stdout


# -- one line for each failure an operator can fix (item 6 of issue 19) --


@pytest.mark.sqlite_only("the database file goes in the data directory")
def test_an_unwritable_data_directory(tmp_path: Path) -> None:
    (tmp_path / "taken").write_text("a file where the data directory should be")
    settings = {"NEWSCORPUS_DATA_DIR": str(tmp_path / "taken" / "data")}
    line = one_line_error(invoke("migrate", cwd=tmp_path, env=settings), 1)
    assert "cannot write" in line and "taken" in line and "NEWSCORPUS_DATA_DIR" in line


@pytest.mark.sqlite_only("a SQLite file that is not one")
def test_a_database_file_that_is_not_a_database(tmp_path: Path) -> None:
    (tmp_path / "data").mkdir()
    (tmp_path / "data" / "newscorpus.db").write_text("a shopping list\n" * 100)
    line = one_line_error(invoke("migrate", cwd=tmp_path), 1)
    assert "newscorpus.db is not a SQLite database" in line and "NEWSCORPUS_DATA_DIR" in line


@pytest.mark.parametrize(
    "command",
    [["ingest", str(SEEDS)], ["extract"], ["serve", "--seed", str(SEEDS)], ["serve"]],
)
def test_a_missing_spacy_model(tmp_path: Path, command: list[str]) -> None:
    # `serve` needs it to take writes (with keys) or to seed: it refuses to start without.
    settings = {
        "NEWSCORPUS_SPACY_MODEL": "en_core_web_nothing",
        "NEWSCORPUS_API_KEYS": '["a-key-of-sixteen-chars"]',
    }
    line = one_line_error(invoke(*command, cwd=tmp_path, env=settings), 2)
    assert "'en_core_web_nothing' (NEWSCORPUS_SPACY_MODEL) is not installed" in line


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("NEWSCORPUS_PORT", "eighty", "NEWSCORPUS_PORT='eighty': Input should be a valid integer"),
        ("NEWSCORPUS_MAX_FILE_BYTES", "0", "NEWSCORPUS_MAX_FILE_BYTES='0': Input should be"),
        ("NEWSCORPUS_CORS_ORIGINS", "*", "NEWSCORPUS_CORS_ORIGINS is not valid JSON"),
    ],
)
def test_a_bad_setting(tmp_path: Path, name: str, value: str, says: str) -> None:
    line = one_line_error(invoke("migrate", cwd=tmp_path, env={name: value}), 2)
    assert says in line
