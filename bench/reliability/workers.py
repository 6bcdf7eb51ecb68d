"""Extraction workers on one PostgreSQL database: throughput with 1 and 2 worker processes, and
a worker killed with SIGKILL mid-batch losing nothing.

    .venv/bin/python -m bench.reliability.workers --articles 2000

Each run gets a fresh database on 127.0.0.1:5432 (or --server) with the same `--articles`
news-like articles (the seed articles' sentences recombined, as bench/extract_throughput.py
makes them) loaded by `ingest --no-extract`:
1. for 1 and for 2 processes of `newscorpus extract --pending` started at once (each with its
   own data directory, as on separate hosts): the time until every article has its entities
   (extraction alone, read from the database) and until the last process exits (stories and
   the index too);
2. two workers again, one killed with SIGKILL once it holds a batch: the other takes the
   batch over when its lease ends (`--lease` seconds), and every article ends with its
   entities exactly once (no mention stored twice), no lease left, every article in a story.
Prints the figures and PASS or FAIL.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sqlalchemy import Engine, create_engine, text

from bench.extract_throughput import build_corpus
from bench.reliability.common import ROOT, VENV_BIN, child_env, log, machine

DONE = text("SELECT count(DISTINCT article_pk) FROM mentions")
TWICE = text(
    "SELECT count(*) FROM (SELECT 1 FROM mentions "
    'GROUP BY article_pk, entity_pk, text, start, "end" HAVING count(*) > 1) AS twice'
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--lease", type=float, default=10.0, help="seconds, in the kill run")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="newscorpus-workers-") as tmp:
        corpus = Path(tmp) / "corpus"
        corpus.mkdir()
        for n, article in enumerate(build_corpus(args.articles)):
            (corpus / f"{n:06d}.txt").write_text(f"{article.title}\n\n{article.body}\n")
        for workers in (1, 2):
            with loaded(args.server, corpus, Path(tmp) / f"run{workers}") as (url, engine):
                extracted, exited = timed_workers(Path(tmp), url, engine, workers, args.articles)
            print(f"{workers} worker process(es): every article extracted in {extracted:.1f} s "
                  f"({args.articles / extracted:.1f} articles/s); all exited after {exited:.1f} s "
                  "(stories assigned and each one's index caught up)")  # fmt: skip
        with loaded(args.server, corpus, Path(tmp) / "kill") as (url, engine):
            passed = killed_worker_run(Path(tmp), url, engine, args)
    print("PASS" if passed else "FAIL")


@contextmanager
def loaded(server: str, corpus: Path, data: Path) -> Iterator[tuple[str, Engine]]:
    """A fresh database with the corpus bulk-loaded (no entities, no stories), dropped after:
    each run starts from the same state."""
    name = f"newscorpus_workers_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{server}/{name}"
    engine = create_engine(url)
    try:
        log(f"loading {len(list(corpus.iterdir()))} articles without entities")
        subprocess.run(
            [str(VENV_BIN / "newscorpus"), "ingest", "--no-extract", str(corpus)],
            env=child_env(database_url=url, data_dir=str(data)), cwd=ROOT, check=True,
            capture_output=True,
        )  # fmt: skip
        yield url, engine
    finally:
        engine.dispose()
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def start_workers(tmp: Path, url: str, count: int, run: str, **settings: str) -> list:
    return [
        subprocess.Popen(
            [str(VENV_BIN / "newscorpus"), "extract", "--pending"],
            env=child_env(database_url=url, data_dir=str(tmp / f"{run}-{n}"), **settings),
            cwd=ROOT,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(count)
    ]


def count(engine: Engine, statement: object) -> int:
    with engine.connect() as connection:
        return int(connection.scalar(statement) or 0)  # type: ignore[call-overload]


def timed_workers(tmp: Path, url: str, engine: Engine, workers: int, articles: int):  # type: ignore[no-untyped-def]
    started = time.monotonic()
    processes = start_workers(tmp, url, workers, f"run{workers}")
    extracted = None
    while any(p.poll() is None for p in processes):
        if extracted is None and count(engine, DONE) >= articles:
            extracted = time.monotonic() - started
        time.sleep(0.2)
    exited = time.monotonic() - started
    failed = [p.stderr.read() for p in processes if p.returncode != 0]  # type: ignore[union-attr]
    if failed:
        raise SystemExit(f"a worker failed: {failed[0]}")
    return extracted or exited, exited


def killed_worker_run(tmp: Path, url: str, engine: Engine, args: argparse.Namespace) -> bool:
    started = time.monotonic()
    doomed, survivor = start_workers(tmp, url, 2, "kill", extract_lease_seconds=str(args.lease))
    held = text("SELECT count(*) FROM extraction_leases WHERE worker LIKE :me")
    while count(engine, held.bindparams(me=f"%:{doomed.pid}")) == 0:
        if doomed.poll() is not None:
            raise SystemExit("the worker to kill ended before it held a batch")
        time.sleep(0.05)
    os.kill(doomed.pid, signal.SIGKILL)
    doomed.wait()
    log(f"killed worker {doomed.pid} holding a batch, {time.monotonic() - started:.1f} s in")
    survivor.wait()
    took = time.monotonic() - started
    done, twice = count(engine, DONE), count(engine, TWICE)
    leases = count(engine, text("SELECT count(*) FROM extraction_leases"))
    storyless = count(engine, text("SELECT count(*) FROM articles WHERE story_pk IS NULL"))
    print(f"one of 2 workers killed mid-batch (lease {args.lease:g} s): the other exited "
          f"{survivor.returncode} after {took:.1f} s; {done} of {args.articles} articles with "
          f"entities, {twice} mentions stored twice, {leases} leases left, {storyless} "
          "articles without a story")  # fmt: skip
    return survivor.returncode == 0 and done == args.articles and twice == leases == storyless == 0


if __name__ == "__main__":
    main()
