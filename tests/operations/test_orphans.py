"""Killing an ingest (what the OOM killer does) takes its reading processes with it."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from app.db import WRITE_OPTION
from tests.conftest import make_settings, migrated_engine
from tests.operations.helpers import COMMAND

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux") or (os.cpu_count() or 1) < 2,
    reason="Linux's /proc and parent-death signal; a bulk load reads in processes on 2+ cores",
)


def _children(pid: int) -> set[int]:
    """Live processes whose parent is `pid` (zombies have exited)."""
    found = set()
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            state, parent = stat.rsplit(")", 1)[1].split()[:2]
            if int(parent) == pid and state != "Z":
                found.add(int(entry.name))
    return found


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def _wait_for(condition, what: str, seconds: float = 60) -> None:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds  # a deadline for a hang, not a speed check
    while not condition():
        assert time.monotonic() < deadline, what
        time.sleep(0.1)


def test_the_readers_exit_when_the_ingest_is_killed(tmp_path: Path) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for n in range(1000):  # enough for a bulk load to read in two processes
        (corpus / f"{n:04d}.txt").write_text(f"Headline {n}\n\nThe body of article {n}.\n")
    settings = make_settings(tmp_path / "data")
    engine = migrated_engine(settings)
    env = {**os.environ, "NEWSCORPUS_DATA_DIR": str(tmp_path / "data")}
    children: set[int] = set()
    # Hold the write lock: the loader waits for it while its readers have started.
    with engine.execution_options(**{WRITE_OPTION: True}).connect() as holder, holder.begin():
        ingest = subprocess.Popen(
            [COMMAND, "ingest", "--no-extract", str(corpus)],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip
        try:
            _wait_for(lambda: len(_children(ingest.pid)) >= 2, "the readers never started")
            children = _children(ingest.pid)
            ingest.send_signal(signal.SIGKILL)
            ingest.wait()
            _wait_for(lambda: not any(map(_alive, children)), f"orphans left: {children}", 30)
        finally:
            ingest.kill()
            for child in filter(_alive, children):  # a failed test leaves none behind
                os.kill(child, signal.SIGKILL)
    engine.dispose()
