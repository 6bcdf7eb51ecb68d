"""Kill -9 an ingest at random moments, and the indexer between its commit and its watermark;
check that nothing is lost, duplicated or left stale.

    .venv/bin/python -m bench.reliability.crash --files 2000

`newscorpus ingest` (with entity extraction) is started again and again and its whole process
group killed with SIGKILL after a random delay, until one run finishes before its kill; then
update runs revise a tenth of the files before each killed ingest. After every kill: PRAGMA
integrity_check, then the index is caught up (as a server starting would) and compared with
the table: the same ids, no duplicates, each document the article's current text; no orphan
mentions, names or entities, and every entity's article_count true. Then one crash between
the index commit and the watermark, and a last, uninterrupted ingest that must leave exactly
the expected articles, at their current versions.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import textwrap
from pathlib import Path

from app.ingest.load import stable_id
from bench.reliability.common import (
    ROOT,
    VENV_BIN,
    article_files,
    child_env,
    consistency,
    generate_files,
    log,
    machine,
    revise,
)

CATCH_UP = """
from pathlib import Path
from app.db import create_db_engine
from app.search.tantivy_index import TantivyIndex
data = Path({data!r})
index = TantivyIndex(data / "index", create_db_engine(f"sqlite:///{{data / 'newscorpus.db'}}"))
print(index.catch_up())
index.close()
"""

# Revise some files, ingest them without indexing, then index with a watermark save that
# kills the process: the index commit is on disk, the watermark is not.
CRASH_BEFORE_WATERMARK = """
import os, signal
from pathlib import Path
from app.db import create_db_engine
from app.ingest.files import iter_article_files
from app.config import Settings
from app.ingest.pipeline import ingest_files, load_extractor
from app.search import tantivy_index
data, corpus = Path({data!r}), Path({corpus!r})
engine = create_db_engine(f"sqlite:///{{data / 'newscorpus.db'}}")
report = ingest_files(iter_article_files([corpus]), engine=engine,
                      extractor=load_extractor(Settings()), max_bytes=5_000_000)
print("ingested", report.summary(), flush=True)
index = tantivy_index.TantivyIndex(data / "index", engine)
def die(self, seq):
    print("index committed; dying before the watermark reaches", seq, flush=True)
    os.kill(os.getpid(), signal.SIGKILL)
tantivy_index.TantivyIndex._save_watermark = die
index.catch_up(batch_size=100)
"""


def run_python(code: str, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        env=env, cwd=ROOT, capture_output=True, text=True, timeout=900,
    )  # fmt: skip


def check(data: Path, env: dict[str, str], label: str) -> dict:
    """Catch the index up, as a server starting would, then compare it with the database."""
    caught = run_python(CATCH_UP.format(data=str(data)), env)
    if caught.returncode != 0:
        raise RuntimeError(caught.stderr[-2000:])
    figures = consistency(data)
    figures["reindexed_at_catch_up"] = int(caught.stdout.split()[-1])
    status = "OK" if not figures["problems"] else f"PROBLEMS {figures['problems']}"
    print(
        f"{label}: {figures['articles']} articles, {figures['index_documents']} indexed "
        f"({figures['reindexed_at_catch_up']} at catch-up), {figures['entities']} entities, "
        f"{figures['mentions']} mentions, integrity {figures['integrity_check']}: {status}",
        flush=True,
    )
    return figures


def killed_ingest(corpus: Path, env: dict[str, str], delay: float) -> tuple[float, str]:
    """Start an ingest and SIGKILL its process group after `delay` seconds (if still running)."""
    process = subprocess.Popen(
        [str(VENV_BIN / "newscorpus"), "ingest", str(corpus)],
        env=env, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        start_new_session=True,
    )  # fmt: skip
    try:
        process.wait(delay)
        outcome = f"finished before the kill (exit {process.returncode})"
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)  # the CLI and its spaCy worker processes
        process.wait(30)
        outcome = "killed"
    return delay, outcome


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, default=2000, help="a multiple of 1000")
    parser.add_argument("--max-delay", type=float, default=150.0, help="latest kill, seconds")
    parser.add_argument("--update-runs", type=int, default=3)
    parser.add_argument("--max-runs", type=int, default=20, help="kills while first loading")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    problems = kills = 0
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="newscorpus-crash-") as tmp:
        corpus = generate_files(args.files, Path(tmp) / "corpus")
        (corpus / "planted.tsv").unlink(missing_ok=True)
        data = Path(tmp) / "data"
        env = child_env(data_dir=str(data), log_level="warning")
        files = article_files(corpus)

        def kill_and_check(label: str, max_delay: float) -> str:
            nonlocal problems, kills
            delay = rng.uniform(1.0, max_delay)
            _, outcome = killed_ingest(corpus, env, delay)
            kills += outcome == "killed"
            log(f"{label}: kill -9 after {delay:.1f} s: {outcome}")
            figures = check(data, env, f"{label}, {outcome} at {delay:.1f} s")
            problems += len(figures["problems"])
            return outcome

        # First load, killed again and again: each run commits what it can before the kill.
        for run in range(1, args.max_runs + 1):
            if kill_and_check(f"load run {run}", args.max_delay) != "killed":
                break
        # Updates: a tenth of the files revised before each run.
        for run in range(1, args.update_runs + 1):
            for path in rng.sample(files, len(files) // 10):
                revise(path, run)
            kill_and_check(f"update run {run}", args.max_delay / 3)

        for path in rng.sample(files, len(files) // 10):
            revise(path, args.update_runs + 1)
        crashed = run_python(CRASH_BEFORE_WATERMARK.format(data=str(data), corpus=str(corpus)), env)
        log(f"indexer crash: exit {crashed.returncode}: {crashed.stdout.strip()}")
        figures = check(data, env, "after the indexer died between commit and watermark")
        problems += len(figures["problems"])

        final = subprocess.run(
            [str(VENV_BIN / "newscorpus"), "ingest", str(corpus)],
            env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600,
        )  # fmt: skip
        log(f"final ingest: exit {final.returncode}: {final.stdout.strip()}")
        figures = check(data, env, "after a complete ingest")
        problems += len(figures["problems"])
        expected = {stable_id(f"file:{p.relative_to(corpus).as_posix()}"): p for p in files}
        with sqlite3.connect(data / "newscorpus.db") as db:
            stored = dict(db.execute("SELECT id, content_hash FROM articles"))
        current = sum(
            1
            for article_id, path in expected.items()
            if stored.get(article_id) == hashlib.sha256(path.read_text().encode()).hexdigest()
        )
        exact = set(stored) == set(expected) and current == len(expected)
        print(
            f"expected {len(expected)} articles; stored {len(stored)}; "
            f"at their current version {current}: {'OK' if exact else 'MISMATCH'}"
        )
        problems += 0 if exact else 1
    print(f"kills: {kills} ingests and 1 indexer")
    print("RESULT:", "no problem found" if not problems else f"{problems} problems")


if __name__ == "__main__":
    main()
