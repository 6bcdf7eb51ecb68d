"""The service on PostgreSQL beside SQLite, on the benchmark's generated corpus, in one run.

    .venv/bin/python -m bench.postgres --size 100000   # a PostgreSQL server on 127.0.0.1:5432

1. Bulk ingest (`newscorpus ingest --no-extract`) of the same corpus (bench/corpus.py, reused
   from bench/out when there) into a fresh SQLite file and a fresh PostgreSQL database, one
   after the other: articles per second, the load and the index apart; then the planted
   entities (bench/entities.py), indexed, as bench.run does.
2. Both servers up at once (`newscorpus serve` as shipped, no page cache: every request reads),
   and each request class asked of one then the other, one client, request after request:
   p50 / p90 / p99 in ms. Search and facets run in Tantivy, the same on both; listing, detail
   and the entity filter's lookups read the database.
Writes bench/results/postgres/<size>.json (docs/PERFORMANCE.md: "PostgreSQL").
The database is dropped at the end; the SQLite copy stays in bench/out/pg-<size>/sqlite.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import create_engine, text

from bench.coverage import common_word, percentiles
from bench.run import ROOT, VENV_BIN, Server, git_state, label, log, machine, start_api

SERVER = "postgresql+psycopg://postgres@127.0.0.1:5432"


def ingest(corpus: Path, data: Path, database_url: str) -> dict:
    """Bulk-load the corpus, then its planted entities, then index them; the seconds of each."""
    from app.db import create_db_engine
    from app.search.tantivy_index import TantivyIndex
    from bench.entities import load_planted

    env = {
        **os.environ,
        "NEWSCORPUS_DATA_DIR": str(data),
        "NEWSCORPUS_DATABASE_URL": database_url,
        "NEWSCORPUS_LOG_LEVEL": "warning",
    }
    started = time.perf_counter()
    loaded = None
    with subprocess.Popen(
        [str(VENV_BIN / "newscorpus"), "ingest", "--no-extract", str(corpus)],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    ) as process:  # fmt: skip
        assert process.stdout is not None
        for line in process.stdout:
            if " loaded, " in line:
                loaded = time.perf_counter() - started
        if process.wait() != 0:
            raise RuntimeError(f"ingest into {database_url} failed")
    seconds = time.perf_counter() - started
    engine = create_db_engine(database_url)
    entities = load_planted(engine, corpus)
    index = TantivyIndex(data / "index", engine)
    began = time.perf_counter()
    index.catch_up()
    index.close()
    engine.dispose()
    articles = int(corpus_size(corpus))
    return {
        "seconds": round(seconds, 1),
        "articles_per_second": round(articles / seconds),
        "load_seconds": round(loaded, 1) if loaded else None,
        "entities_seconds": entities["seconds"],
        "reindex_seconds": round(time.perf_counter() - began, 1),
    }


def corpus_size(corpus: Path) -> int:
    return sum(1 for _ in corpus.rglob("*.txt"))


def requests(servers: dict[str, Server], data: Path, size: int) -> dict[str, dict[str, str]]:
    """Per class, one request for each server, chosen from the corpus through the API itself
    (the same request on both, but for a cursor: each database signs its own)."""
    from app.db import create_db_engine
    from app.search.tantivy_index import TantivyIndex

    engine = create_db_engine(f"sqlite:///{data / 'newscorpus.db'}")
    index = TantivyIndex(data / "index", engine)
    word, _ = common_word(index, size)
    index.close()
    engine.dispose()
    with httpx.Client(base_url=servers["sqlite"].base, timeout=60) as client:
        first = client.get("/articles", params={"limit": 20}).json()["items"][0]
        person = client.get("/entities", params={"type": "person", "limit": 1}).json()["items"][0]
    last_word = first["title"].split()[-1].strip(".,:;!?'\"")
    same = {
        "list_first": "/articles?limit=20",
        "detail": f"/articles/{first['id']}",
        "common": f"/articles?q={word}",
        "rare": f"/articles?q=title:{last_word}",
        "entity": f"/articles?person={person['name']}",
        "facets": f"/articles?q={word}&facets=person,place,org,source",
        "entity_lookup": f"/entities?q={person['name'][:4]}",
    }
    paths = {cls: {name: path for name in servers} for cls, path in same.items()}
    paths["list_page_50"] = {name: page_50(server) for name, server in servers.items()}
    return paths


def page_50(server: Server) -> str:
    """The 50th page of the plain listing, by cursor."""
    cursor = None
    with httpx.Client(base_url=server.base, timeout=60) as client:
        for _ in range(49):
            params = {"limit": 20} | ({"cursor": cursor} if cursor else {})
            cursor = client.get("/articles", params=params).json()["next_cursor"]
    return f"/articles?limit=20&cursor={cursor}"


def latency(servers: dict[str, Server], paths: dict[str, dict[str, str]], *, samples: int) -> dict:
    """Each class on each server in turn, request after request (the load drifts)."""
    clients = {name: httpx.Client(base_url=s.base, timeout=60) for name, s in servers.items()}
    results: dict[str, dict] = {}
    for cls, path in paths.items():
        times: dict[str, list[float]] = {name: [] for name in servers}
        for name, client in clients.items():
            client.get(path[name]).raise_for_status()  # warm
        for _ in range(samples):
            for name, client in clients.items():
                started = time.perf_counter()
                client.get(path[name]).raise_for_status()
                times[name].append((time.perf_counter() - started) * 1000)
        results[cls] = {"path": path["sqlite"], **{n: percentiles(t) for n, t in times.items()}}
        log(f"{cls}: " + ", ".join(f"{n} p50 {results[cls][n]['p50_ms']}" for n in servers))
    for client in clients.values():
        client.close()
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--server", default=SERVER)
    parser.add_argument("--samples", type=int, default=200, help="per class and backend")
    parser.add_argument("--port", type=int, default=8865)
    args = parser.parse_args()

    from bench.corpus import generate

    corpus = args.out / f"corpus-{label(args.size)}"
    if not corpus.exists() or corpus_size(corpus) != args.size:
        log(f"generating {args.size} articles into {corpus}")
        generate(args.size, corpus)
    work = args.out / f"pg-{label(args.size)}"
    shutil.rmtree(work, ignore_errors=True)
    name = f"newscorpus_bench_{uuid.uuid4().hex[:12]}"
    admin = create_engine(f"{args.server}/postgres", isolation_level="AUTOCOMMIT")
    with admin.connect() as connection:
        connection.execute(text(f'CREATE DATABASE "{name}"'))
    urls = {
        "sqlite": f"sqlite:///{work / 'sqlite' / 'newscorpus.db'}",
        "postgresql": f"{args.server}/{name}",
    }
    started_at = datetime.now(UTC).isoformat(timespec="seconds")
    try:
        loads = {}
        for backend, url in urls.items():
            (work / backend).mkdir(parents=True)
            log(f"ingest into {backend}")
            loads[backend] = ingest(corpus, work / backend, url)
            log(f"{backend}: {loads[backend]}")
        servers = {
            backend: start_api(
                work / backend,
                args.port + n,
                work,
                name=f"api-{backend}",
                NEWSCORPUS_DATABASE_URL=url,
                NEWSCORPUS_CACHED_PAGES="0",
            )
            for n, (backend, url) in enumerate(urls.items())
        }
        try:
            paths = requests(servers, work / "sqlite", args.size)
            timings = latency(servers, paths, samples=args.samples)
        finally:
            for server in servers.values():
                server.stop()
    finally:
        with admin.connect() as connection:
            connection.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
    result = {
        "size": args.size,
        "started": started_at,
        "machine": machine(),
        "git": git_state(),
        "command": f"python -m bench.postgres --size {args.size} --samples {args.samples}",
        "ingest": loads,
        "latency": timings,
    }
    target = ROOT / "bench" / "results" / "postgres" / f"{label(args.size)}.json"
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(json.dumps(result, indent=1) + "\n")
    log(f"wrote {target}")


if __name__ == "__main__":
    main()
