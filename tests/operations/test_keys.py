"""API keys a client can send and nobody can guess: others are refused at start-up, in one
line that does not show them; `newscorpus keygen` makes good ones."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from app.cli import cli
from app.config import Settings
from tests.operations.helpers import invoke, one_line_error


@pytest.mark.parametrize(
    ("key", "says"),
    [
        ("clé-très-secrète-à-moi", "other than printable ASCII"),  # never matched a header
        (" padded-with-spaces-key ", "spaces at an end"),
        ("short-key", "shorter than 16 characters"),
    ],
)
def test_a_key_a_client_cannot_send_or_could_guess_is_refused(
    tmp_path: Path, key: str, says: str
) -> None:
    keys = json.dumps(["a-good-long-key-of-ours", key])
    done = invoke("serve", cwd=tmp_path, env={"NEWSCORPUS_API_KEYS": keys})
    line = one_line_error(done, 2)
    assert line.startswith("Error: NEWSCORPUS_API_KEYS: ") and "key 2 of 2" in line
    assert says in line and "newscorpus keygen" in line
    assert key.strip() not in line and "a-good-long-key" not in line  # secrets stay secret


def test_keygen_makes_distinct_keys_that_are_accepted() -> None:
    runner = CliRunner()
    keys = [runner.invoke(cli, ["keygen"]).output.strip() for _ in range(2)]
    assert keys[0] != keys[1]
    assert Settings(api_keys=keys).api_keys == keys
    assert all(len(key) >= 32 for key in keys)
