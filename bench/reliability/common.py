"""Shared pieces of the reliability scripts: corpora, a server on loopback, wrk, index checks.

Everything here is bounded in time and talks to 127.0.0.1 only.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx

ROOT = Path(__file__).resolve().parents[2]
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
OUT = ROOT / "bench" / "out"


def child_env(**settings: str) -> dict[str, str]:
    """Environment for the CLI, the server and helpers: this tree's code, NEWSCORPUS_ settings."""
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),  # before the editable install: run the code next to this script
        **{f"NEWSCORPUS_{k.upper()}": v for k, v in settings.items()},
    }


def log(message: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def machine() -> str:
    load = os.getloadavg()
    return f"{os.cpu_count()} cores, load average {load[0]:.1f} {load[1]:.1f} {load[2]:.1f}"


# -- corpora -------------------------------------------------------------------------------------


def generate_files(size: int, out: Path) -> Path:
    """Write `size` synthetic articles (bench/corpus.py: the benchmark's generator) under out."""
    from bench.corpus import generate

    generate(size, out)
    return out


def article_files(corpus: Path) -> list[Path]:
    return sorted(corpus.rglob("*.txt"))


def revise(path: Path, revision: int) -> None:
    """Change an article's body (a sentence before its source line), so ingest updates it."""
    text = path.read_text(encoding="utf-8")
    text = re.sub(r" Revised in round \d+\.", "", text)
    sentence = f" Revised in round {revision}."
    if "\n\nSource:" in text:
        text = text.replace("\n\nSource:", sentence + "\n\nSource:", 1)
    else:
        text = text.rstrip("\n") + sentence + "\n"
    path.write_text(text, encoding="utf-8")


def copy_prepared(size_label: str, into: Path) -> Path:
    """Copy a database and index prepared by `python -m bench.run --size N --prepare-only`."""
    source = OUT / f"data-{size_label}"
    if not (source / "prepared.json").exists():
        sys.exit(f"{source} is not prepared: run .venv/bin/python -m bench.run --size ... first")
    data = into / "data"
    data.mkdir(parents=True)
    with (
        sqlite3.connect(source / "newscorpus.db") as db,
        sqlite3.connect(data / "newscorpus.db") as copy,
    ):
        db.backup(copy)  # a consistent copy even if the WAL holds recent commits
    shutil.copytree(source / "index", data / "index")
    return data


# -- a server on loopback ------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind((HOST, 0))
        return s.getsockname()[1]


@dataclass
class Server:
    url: str
    process: subprocess.Popen
    log_file: Path


@contextlib.contextmanager
def serve(data: Path, *, workers: int = 1, **settings: str) -> Iterator[Server]:
    """Run the API with uvicorn on 127.0.0.1 over `data`; stop it (and only it) at the end."""
    port = free_port()
    env = child_env(data_dir=str(data), log_level="warning", **settings)
    command = [
        str(VENV_BIN / "uvicorn"),
        "app.main:create_app",
        "--factory",
        "--host",
        HOST,
        "--port",
        str(port),
        "--log-level",
        "warning",
        "--workers",
        str(workers),
        "--no-access-log",
    ]
    log_file = data.parent / f"server-{port}.log"
    with log_file.open("w") as output:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    server = Server(f"http://{HOST}:{port}", process, log_file)
    try:
        wait_ready(server)
        yield server
    finally:
        stop(process)


def wait_ready(server: Server, timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            raise RuntimeError(f"server exited: {server.log_file.read_text()[-2000:]}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{server.url}/readyz", timeout=2).status_code == 200:
                return
        time.sleep(0.2)
    raise RuntimeError("server not ready in time")


def stop(process: subprocess.Popen, *, timeout: float = 30) -> None:
    """Stop a process we started (its own session): TERM, then KILL if it lingers."""
    if process.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGTERM)
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait(10)


# -- wrk -----------------------------------------------------------------------------------------

WRK_SCRIPT = r"""
-- Cycle through the request paths in PATHS (one per line); count statuses per thread.
local threads = {}
local paths = {}
for line in io.lines(os.getenv("WRK_PATHS")) do paths[#paths + 1] = line end

function setup(thread)
  thread:set("id", #threads + 1)
  table.insert(threads, thread)
end

function init(args)
  counts = {}
  n = math.random(#paths)
end

function request()
  n = n % #paths + 1
  return wrk.format("GET", paths[n])
end

function response(status, headers, body)
  counts[status] = (counts[status] or 0) + 1
end

function done(summary, latency, requests)
  local total = {}
  for _, thread in ipairs(threads) do
    local c = thread:get("counts")
    for status, k in pairs(c) do total[status] = (total[status] or 0) + k end
  end
  for status, k in pairs(total) do io.write(string.format("STATUS %d %d\n", status, k)) end
  for _, p in ipairs({50, 90, 99, 99.9}) do
    io.write(string.format("PCT %g %d\n", p, latency:percentile(p)))
  end
  io.write(string.format("SUMMARY %d %d %d %d %d %d\n", summary.requests, summary.duration,
    summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.timeout))
end
"""


@dataclass
class WrkResult:
    requests: int
    seconds: float
    statuses: dict[int, int]
    socket_errors: int
    timeouts: int
    percentiles_ms: dict[float, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    @property
    def failures(self) -> int:
        bad = sum(n for status, n in self.statuses.items() if status >= 400)
        return bad + self.socket_errors + self.timeouts

    def line(self) -> str:
        p = self.percentiles_ms
        return (
            f"{self.requests} requests in {self.seconds:.0f} s = {self.rps:.0f} req/s; "
            f"p50 {p[50]:.1f} ms, p90 {p[90]:.1f} ms, p99 {p[99]:.1f} ms; "
            f"statuses {dict(sorted(self.statuses.items()))}; socket errors {self.socket_errors}, "
            f"timeouts {self.timeouts}"
        )


def wrk(
    url: str, paths: list[str], *, connections: int, seconds: int, threads: int = 2
) -> WrkResult:
    """Run wrk against a loopback URL over the given paths in turn; bounded by `seconds`."""
    assert url.startswith(f"http://{HOST}:"), "loopback only"
    with tempfile.TemporaryDirectory() as tmp:
        script, path_file = Path(tmp) / "mix.lua", Path(tmp) / "paths.txt"
        script.write_text(WRK_SCRIPT)
        path_file.write_text("\n".join(paths) + "\n")
        result = subprocess.run(
            ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--timeout", "10s",
             "-s", str(script), url],
            env={**os.environ, "WRK_PATHS": str(path_file)},
            capture_output=True, text=True, timeout=seconds + 60, check=True,
        )  # fmt: skip
    statuses, percentiles = {}, {}
    requests = duration = socket_errors = timeouts = 0
    for line in result.stdout.splitlines():
        parts = line.split()
        if parts[:1] == ["STATUS"]:
            statuses[int(parts[1])] = int(parts[2])
        elif parts[:1] == ["PCT"]:
            percentiles[float(parts[1])] = int(parts[2]) / 1000
        elif parts[:1] == ["SUMMARY"]:
            requests, duration = int(parts[1]), int(parts[2])
            socket_errors = int(parts[3]) + int(parts[4]) + int(parts[5])
            timeouts = int(parts[6])
    return WrkResult(requests, duration / 1e6, statuses, socket_errors, timeouts, percentiles)


def read_mix(base: str, *, size: int = 200) -> list[str]:
    """A realistic read mix from what the server holds: listing, search, filters, detail."""

    def get(path: str, **params: object) -> list[dict]:
        return httpx.get(f"{base}{path}", params=params, timeout=30).json()["items"]

    listing = get("/articles", limit=100)
    people = get("/entities", type="person", limit=50)
    places = get("/entities", type="place", limit=50)
    words = [w for item in listing for w in re.findall(r"[a-z]{5,}", item["excerpt"])][:40]
    paths = []
    for n in range(size):
        word, other = words[n % len(words)], words[(n + 1) % len(words)]
        query = {
            0: {"q": word},
            1: {"q": f"{word} {other}", "facets": "source"},
            2: {"q": f'"{word} {other}"'},
            3: {"person": people[n % len(people)]["name"]},
            4: {"entity": places[n % len(places)]["id"], "facets": "person,source"},
            5: None,
            6: {"limit": 20},
            7: {"q": word[:3] + "*"},
        }[n % 8]
        if query is None:
            paths.append(f"/articles/{listing[n % len(listing)]['id']}")
        else:
            paths.append(f"/articles?{urlencode(query)}")
    return paths


# -- what a consistent store looks like ----------------------------------------------------------


def index_documents(index_dir: Path) -> list[tuple[str, str, str]]:
    """(id, title, body) of every live document in the index."""
    import tantivy

    index = tantivy.Index.open(str(index_dir))
    index.reload()
    searcher = index.searcher()
    total = searcher.num_docs
    hits = searcher.search(tantivy.Query.all_query(), max(total, 1)).hits
    documents = []
    for _, address in hits:
        doc = searcher.doc(address)
        documents.append((doc["id"][0], (doc.get_all("title") or [""])[0], doc["body"][0]))
    return documents


def consistency(data: Path) -> dict[str, object]:
    """Check the database and the index against each other; return figures and problems."""
    db = sqlite3.connect(f"file:{data / 'newscorpus.db'}?mode=ro", uri=True)
    problems: list[str] = []
    integrity = db.execute("PRAGMA integrity_check").fetchone()[0]
    if integrity != "ok":
        problems.append(f"integrity_check: {integrity}")
    if fk := db.execute("PRAGMA foreign_key_check").fetchall():
        problems.append(f"foreign_key_check: {fk[:5]}")
    articles = {i: (t or "", b) for i, t, b in db.execute("SELECT id, title, body FROM articles")}
    orphans = {
        "mentions without article": "SELECT count(*) FROM mentions WHERE article_pk NOT IN "
        "(SELECT pk FROM articles)",
        "mentions without entity": "SELECT count(*) FROM mentions WHERE entity_pk NOT IN "
        "(SELECT pk FROM entities)",
        "names without entity": "SELECT count(*) FROM entity_names WHERE entity_pk NOT IN "
        "(SELECT pk FROM entities)",
        "entities without mentions": "SELECT count(*) FROM entities WHERE pk NOT IN "
        "(SELECT entity_pk FROM mentions)",
        "entities with a wrong article_count": "SELECT count(*) FROM entities e WHERE "
        "article_count != (SELECT count(DISTINCT article_pk) FROM mentions m "
        "WHERE m.entity_pk = e.pk)",
    }
    for label, sql in orphans.items():
        if n := db.execute(sql).fetchone()[0]:
            problems.append(f"{n} {label}")
    mentions = db.execute("SELECT count(*) FROM mentions").fetchone()[0]
    entities = db.execute("SELECT count(*) FROM entities").fetchone()[0]
    db.close()
    documents = index_documents(data / "index")
    ids = [d[0] for d in documents]
    duplicates = len(ids) - len(set(ids))
    if duplicates:
        problems.append(f"{duplicates} duplicate documents in the index")
    if missing := set(articles) - set(ids):
        problems.append(f"{len(missing)} articles missing from the index")
    if extra := set(ids) - set(articles):
        problems.append(f"{len(extra)} index documents with no article")
    stale = sum(1 for i, t, b in documents if i in articles and articles[i] != (t, b))
    if stale:
        problems.append(f"{stale} index documents older than their article")
    return {
        "articles": len(articles),
        "index_documents": len(documents),
        "entities": entities,
        "mentions": mentions,
        "integrity_check": integrity,
        "problems": problems,
    }
