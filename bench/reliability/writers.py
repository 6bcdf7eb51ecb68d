"""Many writers on one PostgreSQL database, read by two API hosts: no 5xx, every article stored
once and indexed once on every host.

    .venv/bin/python -m bench.reliability.writers --posts 62 --each 5 --files 2000

Two API servers (each its own data directory, so its own index: two hosts) share a fresh
PostgreSQL database on 127.0.0.1:5432 (or --server). At once: `--posts` client threads each
POST articles to one server or the other (alternating), and two `newscorpus ingest
--no-extract` processes load the same corpus (each file is stored once: whichever load
reaches it first stores it, the other finds it unchanged). Then every host must count every
article once, and find each posted article by its own word.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
import uuid
from collections import Counter
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.reliability.common import (
    ROOT,
    VENV_BIN,
    child_env,
    machine,
    serve,
)

KEY = "writers-bench-key-0123456789"  # the key rule: 16 characters or more


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--server", default="postgresql+psycopg://postgres@127.0.0.1:5432")
    parser.add_argument("--posts", type=int, default=62, help="POSTing client threads")
    parser.add_argument("--each", type=int, default=5, help="articles each client posts")
    parser.add_argument("--files", type=int, default=2000, help="articles both ingests load")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    name = f"newscorpus_writers_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    url = f"{args.server}/{name}"
    try:
        with tempfile.TemporaryDirectory(prefix="newscorpus-writers-") as tmp:
            run(Path(tmp), url, args)
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


def run(tmp: Path, url: str, args: argparse.Namespace) -> None:
    corpus = harbour_news(tmp / "corpus", args.files)
    env = child_env(database_url=url, data_dir=str(tmp / "cli"))
    subprocess.run([str(VENV_BIN / "newscorpus"), "migrate"], env=env, check=True, cwd=ROOT)
    hosts = {"database_url": url, "api_keys": f'["{KEY}"]'}
    (tmp / "a").mkdir(), (tmp / "b").mkdir()
    with serve(tmp / "a" / "data", **hosts) as a, serve(tmp / "b" / "data", **hosts) as b:
        servers = [a.url, b.url]
        statuses: Counter[int] = Counter()
        lock = threading.Lock()

        def post(client: int) -> None:
            with httpx.Client(timeout=120) as http:
                for n in range(args.each):
                    word = f"zq{client}x{n}"
                    body = {"title": f"Ferry {word}", "body": f"The ferry {word} sailed on."}
                    response = http.post(
                        f"{servers[client % 2]}/articles", json=body, headers={"X-API-Key": KEY}
                    )
                    with lock:
                        statuses[response.status_code] += 1

        started = time.monotonic()
        ingests = [
            subprocess.Popen(
                [str(VENV_BIN / "newscorpus"), "ingest", "--no-extract", str(corpus)],
                env=env,
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
                text=True,
            )
            for _ in range(2)
        ]
        clients = [threading.Thread(target=post, args=(c,)) for c in range(args.posts)]
        for client in clients:
            client.start()
        for client in clients:
            client.join()
        exits = [p.wait() for p in ingests]
        took = time.monotonic() - started
        writers = args.posts + 2
        print(f"{writers} writers: {sum(statuses.values())} POSTs {dict(statuses)}, "
              f"ingest exits {exits}, {took:.1f} s")  # fmt: skip
        posted = args.posts * args.each
        expected = posted + args.files
        engine = create_engine(url)
        with engine.connect() as connection:
            stored, origins, seqs = connection.execute(
                text("SELECT count(*), count(DISTINCT origin), count(DISTINCT seq) FROM articles")
            ).one()
        engine.dispose()
        print(f"stored: {stored} articles ({origins} distinct origins, {seqs} distinct seqs); "
              f"expected {expected}")  # fmt: skip
        for server in servers:
            total = converge(server, expected)
            words = [f"zq{c}x{n}" for c in range(args.posts) for n in range(args.each)]
            found = sum(search_total(server, word) for word in words)
            print(f"{server}: lists {total} articles; finds {found} of {posted} posted words once")
        failed = sum(n for s, n in statuses.items() if s >= 500)
        ok = not failed and exits == [0, 0] and stored == origins == seqs == expected
        print("PASS" if ok else "FAIL")


def harbour_news(directory: Path, count: int) -> Path:
    """Short distinct articles (no generator: this runs with the project's own dependencies)."""
    places = ("Valletta", "Lisbon", "Tallinn", "Riga", "Oslo", "Porto", "Gdansk", "Bergen")
    for n in range(count):
        sub = directory / f"{n // 500:03d}"
        sub.mkdir(parents=True, exist_ok=True)
        here, there = places[n % 8], places[(n // 8) % 8]
        (sub / f"{n:06d}.txt").write_text(
            f"Harbour news {n}\n\nThe harbour of {here} reopened on day {n}, officials said; "
            f"ferry {n} sailed for {there}.\n"
        )
    return directory


def converge(server: str, expected: int, timeout: float = 300) -> int:
    deadline = time.monotonic() + timeout
    total = -1
    while time.monotonic() < deadline:
        ready = httpx.get(f"{server}/readyz", timeout=30).json()
        total = httpx.get(f"{server}/articles", params={"limit": 1}, timeout=30).json()["total"]
        if ready["index_lag"] == 0 and total == expected:
            return total
        time.sleep(0.5)
    return total


def search_total(server: str, word: str) -> int:
    found = httpx.get(f"{server}/articles", params={"q": word, "limit": 1}, timeout=30).json()
    return 1 if found["total"] == 1 else 0


if __name__ == "__main__":
    main()
