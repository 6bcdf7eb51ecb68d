"""Helpers for tests that run the `newscorpus` command as an operator would."""

from __future__ import annotations

import contextlib
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


def invoke(
    *args: str | Path, cwd: Path, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a `newscorpus` command in this process (no interpreter to start: seconds less on a
    busy machine), with the settings `newscorpus` would get; its outcome as a process's."""
    from click.testing import CliRunner

    from app.cli import cli
    from app.config import get_settings

    settings = {"NEWSCORPUS_DATA_DIR": str(cwd / "data"), **(env or {})}
    get_settings.cache_clear()
    try:
        with contextlib.chdir(cwd):
            result = CliRunner().invoke(cli, [str(a) for a in args], env=settings)
    finally:
        get_settings.cache_clear()
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception  # a traceback: a bug, shown as one
    return subprocess.CompletedProcess(args, result.exit_code, result.stdout, result.stderr)


def one_line_error(done: subprocess.CompletedProcess[str], status: int) -> str:
    """Assert the command failed with `status` and one line on stderr; return that line."""
    assert done.returncode == status, (done.returncode, done.stdout, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    return lines[0]
