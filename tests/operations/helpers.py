"""Helpers for tests that run the `newscorpus` command as an operator would."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
SEEDS = REPO / "seeds"
COMMAND = Path(sys.executable).parent / "newscorpus"  # the environment's own entry point


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def newscorpus(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run the installed `newscorpus` command, as an operator would, with only the given
    NEWSCORPUS_ settings (the data directory defaults to `cwd`/data)."""
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSCORPUS_")}
    environment |= {"NEWSCORPUS_DATA_DIR": str(cwd / "data"), **(env or {})}
    return subprocess.run(
        [COMMAND, *map(str, args)], cwd=cwd, env=environment, capture_output=True, text=True
    )


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """Assert the command failed with `status` and one line on stderr; return that line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]
