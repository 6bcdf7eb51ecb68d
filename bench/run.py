"""Benchmark the service on a generated corpus, side by side with the engine, FTS5 and Datasette.

    make bench BENCH_SIZE=100000
    .venv/bin/python -m bench.run --size 100000      # the same

Steps (each prepared artefact is kept under bench/out/ and reused by the next run):
1. generate the corpus (bench/corpus.py) and ingest it with `newscorpus ingest --no-extract`;
2. load the planted entities through app.ingest.load.replace_entities (bench/entities.py) and
   bring the index up to date (the entities bump every article's seq, so it is indexed again);
3. copy the database and build an FTS5 table in the copy (porter tokenizer, like our en_stem);
4. start `newscorpus serve` and `datasette serve -i` on the copy, both on 127.0.0.1;
5. per query class, one client, request by request in turn: the API over HTTP, the engine
   in-process (TantivyIndex.search), the FTS5 query in-process, and Datasette over HTTP;
6. per query class, 16 connections with wrk for requests per second;
7. write bench/out/results-<size>.json and bench/results/<size>.json; stop the servers.

Everything is bounded: every sample loop has a count and a time cap, every wait a timeout.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import re
import shutil
import signal
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import quote, urlencode

import httpx

ROOT = Path(__file__).resolve().parent.parent
VENV_BIN = Path(sys.executable).parent
HOST = "127.0.0.1"
CLASSES = (
    "healthz",
    "rare",
    "common",
    "phrase",
    "prefix",
    "entity",
    "facets",
    "list_first",
    "list_page_500",
    "detail",
)
SEARCH_CLASSES = ("rare", "common", "phrase", "prefix", "entity", "facets")
CLASS_LABELS = {
    "healthz": "GET /healthz (framework floor)",
    "rare": "rare word",
    "common": "common word",
    "phrase": "phrase",
    "prefix": "prefix",
    "entity": "search + entity filter",
    "facets": "search + facets",
    "list_first": "listing, first page",
    "list_page_500": "listing, page 500 (cursor)",
    "detail": "article detail",
}
PHRASE_QUERIES = ("prime minister", "interest rates", "climate change", "supreme court")
PREFIX_QUERIES = ("inter*", "presid*", "gover*", "stat*")
FACETS = "person,place,org,source"
PAGE = 20
DEEP_PAGE = 500


def label(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k"


def log(message: str) -> None:
    print(f"[{datetime.now():%H:%M:%S}] {message}", flush=True)


def free_port(preferred: int) -> int:
    for port in (preferred, 0):
        with socket.socket() as s:
            try:
                s.bind((HOST, port))
            except OSError:
                continue
            return s.getsockname()[1]
    raise RuntimeError("no free port")


def du(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- preparation ---------------------------------------------------------------------------------


def prepare(size: int, out: Path) -> dict:
    """Generate, ingest, load entities, index and build the FTS5 copy; reuse what exists."""
    from bench.corpus import generate

    corpus, data = out / f"corpus-{label(size)}", out / f"data-{label(size)}"
    done_file = data / "prepared.json"
    if done_file.exists():
        log(f"reusing {data} (delete it to measure ingest again)")
        return json.loads(done_file.read_text())
    log(f"generating {size} articles into {corpus}")
    manifest = generate(size, corpus)
    shutil.rmtree(data, ignore_errors=True)
    data.mkdir(parents=True)
    env = {**os.environ, "NEWSCORPUS_DATA_DIR": str(data), "NEWSCORPUS_LOG_LEVEL": "warning"}

    log("ingest --no-extract")
    started = time.perf_counter()
    marks = {}
    with subprocess.Popen(
        [str(VENV_BIN / "newscorpus"), "ingest", "--no-extract", str(corpus)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    ) as process:
        assert process.stdout is not None
        for line in process.stdout:
            if " loaded, " in line:
                marks["loaded"] = time.perf_counter() - started
                marks["summary"] = line.strip()
            elif line.startswith("indexed "):
                marks["indexed"] = time.perf_counter() - started
        if process.wait() != 0:
            raise RuntimeError("ingest failed")
    ingest_seconds = time.perf_counter() - started
    ingest = {
        "articles": size,
        "seconds": round(ingest_seconds, 1),
        "per_second": round(size / ingest_seconds, 1),
        "load_seconds": round(marks.get("loaded", 0), 1),
        "load_per_second": round(size / marks["loaded"], 1) if marks.get("loaded") else None,
        "index_seconds": round(marks.get("indexed", 0) - marks.get("loaded", 0), 1),
        "summary": marks.get("summary"),
    }
    log(f"ingest: {ingest}")

    from app.db import create_db_engine
    from app.search.tantivy_index import TantivyIndex
    from bench.entities import load_planted

    engine = create_db_engine(f"sqlite:///{data / 'newscorpus.db'}")
    log("loading planted entities through replace_entities")
    entities = load_planted(engine, corpus)
    log(f"entities: {entities}")
    index = TantivyIndex(data / "index", engine)
    started = time.perf_counter()
    reindexed = index.catch_up()
    index.close()
    seconds = time.perf_counter() - started
    reindex = {"articles": reindexed, "seconds": round(seconds, 1)}
    reindex["per_second"] = round(reindexed / seconds, 1)
    log(f"index with entities: {reindex}")
    engine.dispose()

    log("building the FTS5 copy")
    fts = build_fts_copy(data)
    prepared = {
        "size": size,
        "generate_seconds": manifest.get("seconds"),
        "ingest": ingest,
        "entities": entities,
        "reindex_with_entities": reindex,
        "fts5": fts,
    }
    done_file.write_text(json.dumps(prepared, indent=1))
    return prepared


def build_fts_copy(data: Path) -> dict:
    """Copy the database and add an external-content FTS5 table over title and body."""
    copy = data / "fts5.db"
    copy.unlink(missing_ok=True)
    source = sqlite3.connect(data / "newscorpus.db")
    target = sqlite3.connect(copy)
    source.backup(target)
    source.close()
    before = du(copy)
    started = time.perf_counter()
    target.executescript(
        """
        CREATE VIRTUAL TABLE articles_fts USING fts5(
            title, body, content='articles', content_rowid='pk', tokenize='porter unicode61');
        INSERT INTO articles_fts(articles_fts) VALUES('rebuild');
        PRAGMA journal_mode=DELETE;
        """
    )
    target.commit()
    target.close()
    seconds = time.perf_counter() - started
    return {"build_seconds": round(seconds, 1), "fts_bytes": du(copy) - before}


# -- servers -------------------------------------------------------------------------------------


@dataclass
class Server:
    name: str
    process: subprocess.Popen
    base: str
    log_file: Path

    def peak_rss_mb(self) -> float | None:
        """Peak resident memory of the server: its process and its workers, summed."""
        return self._memory_mb("VmHWM")

    def rss_mb(self) -> float | None:
        return self._memory_mb("VmRSS")

    def _memory_mb(self, field: str) -> float | None:
        total = 0
        for pid in _process_tree(self.process.pid):
            try:
                status = Path(f"/proc/{pid}/status").read_text()
            except OSError:
                continue
            if match := re.search(rf"{field}:\s+(\d+) kB", status):
                total += int(match[1])
        return round(total / 1024, 1) if total else None

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)


def _process_tree(pid: int) -> list[int]:
    """The process and its descendants (uvicorn's workers are children of the server)."""
    try:
        children = [
            int(child)
            for task in Path(f"/proc/{pid}/task").iterdir()
            for child in (task / "children").read_text().split()
        ]
    except OSError:
        children = []
    return [pid] + [p for child in children for p in _process_tree(child)]


def start_server(
    name: str, command: list[str], env: dict, base: str, ready: str, out: Path
) -> Server:
    log_file = out / f"{name}.log"
    handle = log_file.open("w")
    process = subprocess.Popen(command, env=env, stdout=handle, stderr=subprocess.STDOUT)
    server = Server(name, process, base, log_file)
    deadline = time.monotonic() + 600  # start-up may index what is not yet indexed
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"{name} exited; see {log_file}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(base + ready, timeout=5).status_code == 200:
                return server
        time.sleep(0.3)
    server.stop()
    raise RuntimeError(f"{name} did not become ready; see {log_file}")


def start_api(data: Path, port: int, out: Path, *, name: str = "api", **env: str) -> Server:
    """`newscorpus serve` as shipped (one worker per core), with extra settings if given."""
    api_port = free_port(port)
    environment = {
        **os.environ,
        "NEWSCORPUS_DATA_DIR": str(data),
        "NEWSCORPUS_HOST": HOST,
        "NEWSCORPUS_PORT": str(api_port),
        "NEWSCORPUS_LOG_LEVEL": "warning",
        **env,
    }
    command = [str(VENV_BIN / "newscorpus"), "serve"]
    return start_server(name, command, environment, f"http://{HOST}:{api_port}", "/readyz", out)


@contextlib.contextmanager
def servers(data: Path, port: int, out: Path) -> Iterator[tuple[Server, Server]]:
    api = start_api(data, port, out)
    ds_port = free_port(port + 1)
    try:
        datasette = start_server(
            "datasette",
            [
                str(VENV_BIN / "datasette"),
                "serve",
                "-i",
                str(data / "fts5.db"),
                "-h",
                HOST,
                "-p",
                str(ds_port),
                "--setting",
                "sql_time_limit_ms",
                "30000",
                "--setting",
                "facet_time_limit_ms",
                "30000",
            ],
            {**os.environ},
            f"http://{HOST}:{ds_port}",
            "/-/versions.json",
            out,
        )
    except Exception:
        api.stop()
        raise
    try:
        yield api, datasette
    finally:
        datasette.stop()
        api.stop()


UNCACHED = "api, no page cache"
MINIMAL = "minimal FastAPI endpoint, same query"
FLOOR_ROUNDS = 3


@contextlib.contextmanager
def uncached_api(data: Path, args: argparse.Namespace, out: Path) -> Iterator[Server]:
    """A second server as shipped but keeping no rendered pages (NEWSCORPUS_CACHED_PAGES=0):
    every request reads, searches and renders."""
    api = start_api(data, args.port + 2, out, name="api-uncached", NEWSCORPUS_CACHED_PAGES="0")
    try:
        yield api
    finally:
        api.stop()


@contextlib.contextmanager
def minimal_endpoint(data: Path, port: int, out: Path) -> Iterator[Server]:
    """bench/minimal.py under uvicorn with the workers `newscorpus serve` would start."""
    from app.config import Settings

    minimal_port = free_port(port)
    command = [
        str(VENV_BIN / "uvicorn"),
        "bench.minimal:app",
        "--host",
        HOST,
        "--port",
        str(minimal_port),
        "--workers",
        str(Settings().workers),
        "--log-level",
        "warning",
    ]
    env = {**os.environ, "NEWSCORPUS_DATA_DIR": str(data), "PYTHONPATH": str(ROOT)}
    server = start_server(
        "minimal", command, env, f"http://{HOST}:{minimal_port}", "/articles", out
    )
    try:
        yield server
    finally:
        server.stop()


def listing_floor(cold: Server, minimal: Server, *, seconds: int) -> dict:
    """The uncached listing's first page beside the minimal endpoint running its query, in
    alternating wrk runs (the machine's load drifts between runs); the ratio of the medians."""
    path = [f"/articles?limit={PAGE}"]
    rounds: dict[str, list[dict]] = {UNCACHED: [], MINIMAL: []}
    for _ in range(FLOOR_ROUNDS):
        for system, server in ((UNCACHED, cold), (MINIMAL, minimal)):
            rounds[system].append(throughput(server.base, path, seconds=seconds))
    medians = {
        system: statistics.median(r["rps"] or 0 for r in runs) for system, runs in rounds.items()
    }
    ratio = medians[UNCACHED] / medians[MINIMAL] if medians[MINIMAL] else None
    result = {"rounds": rounds, "median_rps": medians, "ratio": round(ratio, 3) if ratio else None}
    log(f"listing floor: {json.dumps({'median_rps': medians, 'ratio': result['ratio']})}")
    return result


# -- the queries ---------------------------------------------------------------------------------


@dataclass
class Workload:
    """Concrete requests of each class for each system, chosen from the corpus itself."""

    api: dict[str, list[str]] = field(default_factory=dict)  # class -> paths
    engine: dict[str, list[Callable[[], object]]] = field(default_factory=dict)
    topk: dict[str, list[Callable[[], object]]] = field(default_factory=dict)  # engine, bare
    fts5: dict[str, list[Callable[[], object]]] = field(default_factory=dict)
    datasette: dict[str, dict[str, list[str]]] = field(default_factory=dict)  # class->form->paths
    notes: dict[str, object] = field(default_factory=dict)


# Datasette table pages also run facet suggestions (a GROUP BY per column); these turn them off.
DS_LEAN = "&_nosuggest=1&_nofacet=1"
FTS_TOP = """SELECT a.id, a.title, a.source, a.published_at, a.word_count,
    snippet(articles_fts, 1, '<mark>', '</mark>', '…', 24) AS snippet, rank AS score
FROM articles_fts JOIN articles a ON a.pk = articles_fts.rowid
WHERE articles_fts MATCH :q AND rank MATCH 'bm25(2.0, 1.0)' {extra}
ORDER BY rank LIMIT 20"""
FTS_ENTITY = "AND a.pk IN (SELECT article_pk FROM mentions WHERE entity_pk = :entity)"
FTS_SOURCE_FACET = """SELECT a.source, count(*) AS n FROM articles_fts
JOIN articles a ON a.pk = articles_fts.rowid WHERE articles_fts MATCH :q
GROUP BY a.source ORDER BY n DESC LIMIT 10"""
FTS_ENTITY_FACET = """SELECT e.id, e.name, count(DISTINCT m.article_pk) AS n FROM articles_fts
JOIN mentions m ON m.article_pk = articles_fts.rowid JOIN entities e ON e.pk = m.entity_pk
WHERE articles_fts MATCH :q AND e.type = :type GROUP BY e.pk ORDER BY n DESC LIMIT 10"""
LIST_COLUMNS = (
    "id, title, source, author, published_at, substr(body, 1, 200) AS excerpt, word_count"
)
LIST_FIRST = f"SELECT {LIST_COLUMNS} FROM articles ORDER BY published_at DESC, pk DESC LIMIT 20"
LIST_AFTER = f"""SELECT {LIST_COLUMNS} FROM articles
WHERE published_at < :day OR (published_at = :day AND pk < :pk)
ORDER BY published_at DESC, pk DESC LIMIT 20"""
LIST_OFFSET = f"""SELECT {LIST_COLUMNS} FROM articles ORDER BY published_at DESC, pk DESC
LIMIT 20 OFFSET {(DEEP_PAGE - 1) * PAGE}"""
DETAIL = """SELECT a.*, e.id, e.name, e.type, m.start, m."end" FROM articles a
LEFT JOIN mentions m ON m.article_pk = a.pk LEFT JOIN entities e ON e.pk = m.entity_pk
WHERE a.id = :id"""


def fts_phrase(text: str) -> str:
    return '"' + text + '"'


def build_workload(data: Path, api: Server, datasette: Server, size: int) -> Workload:
    from app.db import create_db_engine
    from app.search.base import ArticleQuery, EntityFilter
    from app.search.query import FIELD_BOOSTS, build_query
    from app.search.tantivy_index import TantivyIndex
    from bench.corpus import pools

    engine = create_db_engine(f"sqlite:///{data / 'newscorpus.db'}")
    index = TantivyIndex(data / "index", engine)
    conn = sqlite3.connect(f"file:{data / 'fts5.db'}?mode=ro", uri=True, check_same_thread=False)
    conn.execute("PRAGMA query_only=1")
    w = Workload()
    words = pools().words

    def df(word: str) -> float:
        return index.search(ArticleQuery(text=word, limit=1)).total / size

    # Rare: about 0.1-0.5% of articles (by document frequency, after stemming).
    searcher = index.index.searcher()

    def top_k(text: str) -> object:
        """Tantivy's own top 20 with count: no snippets, no ids, no Python around it."""
        query = build_query(
            text, schema=index.schema, analyzer=index.analyzer, field_boosts=FIELD_BOOSTS
        )
        return searcher.search(query, PAGE, count=True).hits

    rare = []
    for word in words[12_000::1_500]:
        if 0.0005 <= df(word) <= 0.005:
            rare.append(word)
        if len(rare) == 4:
            break
    common = []
    for word in words[40:400]:
        if len(word) >= 5 and 0.30 <= df(word) <= 0.70:
            common.append(word)
        if len(common) == 4:
            break
    w.notes["document_frequency"] = {word: round(df(word), 4) for word in [*rare, *common]}
    w.notes["document_frequency"].update({f'"{p}"': round(df(f'"{p}"'), 4) for p in PHRASE_QUERIES})
    w.notes["document_frequency"].update({p: round(df(p), 4) for p in PREFIX_QUERIES})
    people = [
        row
        for row in conn.execute(
            "SELECT pk, id, name FROM entities WHERE type='person' ORDER BY article_count DESC "
            "LIMIT 40"
        )
    ][::10]
    w.notes["entity_filters"] = [name for _, _, name in people]
    for pk, _, person in people:
        count = conn.execute("SELECT article_count FROM entities WHERE pk=?", (pk,)).fetchone()
        w.notes.setdefault("entity_article_share", {})[person] = round(count[0] / size, 4)

    def search(cls: str, texts: list[str], fts_texts: list[str]) -> None:
        w.api[cls] = ["/articles?" + urlencode({"q": t}) for t in texts]
        w.topk[cls] = [(lambda t=t: top_k(t)) for t in texts]
        w.engine[cls] = [
            (lambda t=t: index.search(ArticleQuery(text=t, sort="relevance"))) for t in texts
        ]
        w.fts5[cls] = [
            (lambda t=t: conn.execute(FTS_TOP.format(extra=""), {"q": t}).fetchall())
            for t in fts_texts
        ]
        sql = FTS_TOP.format(extra="")
        w.datasette[cls] = {
            "table page, default": [
                "/fts5/articles.json?" + urlencode({"_search": t, "_searchmode": "raw"})
                for t in fts_texts
            ],
            "table page, 20 rows, no count, no facets": [
                "/fts5/articles.json?"
                + urlencode(
                    {
                        "_search": t,
                        "_searchmode": "raw",
                        "_size": 20,
                        "_nocount": 1,
                        "_col": "title",
                    }
                )
                + DS_LEAN
                for t in fts_texts
            ],
            "SQL, ranked with snippet": [
                "/fts5.json?" + urlencode({"sql": sql, "q": t, "_shape": "array"})
                for t in fts_texts
            ],
        }

    search("rare", rare, rare)
    search("common", common, common)
    search("phrase", [f'"{p}"' for p in PHRASE_QUERIES], [fts_phrase(p) for p in PHRASE_QUERIES])
    search("prefix", list(PREFIX_QUERIES), list(PREFIX_QUERIES))

    # Search with an entity filter: a common word and one of the popular people.
    pairs = [(common[n % len(common)], people[n]) for n in range(len(people))]
    w.api["entity"] = ["/articles?" + urlencode({"q": q, "person": p[2]}) for q, p in pairs]
    w.engine["entity"] = [
        (
            lambda q=q, p=p: index.search(
                ArticleQuery(text=q, sort="relevance", entities=(EntityFilter("person", (p[1],)),))
            )
        )
        for q, p in pairs
    ]
    entity_sql = FTS_TOP.format(extra=FTS_ENTITY)
    w.fts5["entity"] = [
        (lambda q=q, p=p: conn.execute(entity_sql, {"q": q, "entity": p[0]}).fetchall())
        for q, p in pairs
    ]
    w.datasette["entity"] = {
        "SQL, ranked with snippet": [
            "/fts5.json?"
            + urlencode({"sql": entity_sql, "q": q, "entity": p[0], "_shape": "array"})
            for q, p in pairs
        ]
    }

    # Search with facets: a common word, counts of people, places, orgs and sources.
    w.api["facets"] = ["/articles?" + urlencode({"q": q, "facets": FACETS}) for q in common]
    w.engine["facets"] = [
        (
            lambda q=q: index.search(
                ArticleQuery(text=q, sort="relevance", facets=("person", "place", "org", "source"))
            )
        )
        for q in common
    ]

    def fts_facets(q: str) -> object:
        rows = conn.execute(FTS_TOP.format(extra=""), {"q": q}).fetchall()
        rows += conn.execute(FTS_SOURCE_FACET, {"q": q}).fetchall()
        for entity_type in ("person", "place", "org"):
            rows += conn.execute(FTS_ENTITY_FACET, {"q": q, "type": entity_type}).fetchall()
        return rows

    w.fts5["facets"] = [(lambda q=q: fts_facets(q)) for q in common]
    w.datasette["facets"] = {
        "table page, facet on source": [
            "/fts5/articles.json?"
            + urlencode({"_search": q, "_facet": "source", "_size": 20, "_col": "title"})
            for q in common
        ]
    }

    # The framework floor: the cheapest route, through the same client and server.
    w.api["healthz"] = ["/healthz"]

    # Listing: first page, and page 500 reached by following cursors.
    w.api["list_first"] = [f"/articles?limit={PAGE}"]
    w.engine["list_first"] = [lambda: index.search(ArticleQuery(limit=PAGE))]
    w.fts5["list_first"] = [lambda: conn.execute(LIST_FIRST).fetchall()]
    ds_columns = "&_col=title&_col=source&_col=author&_col=published_at&_col=word_count"
    w.datasette["list_first"] = {
        "table page, default": ["/fts5/articles.json?_sort_desc=published_at"],
        "table page, 20 rows, no count, no facets": [
            f"/fts5/articles.json?_sort_desc=published_at&_size={PAGE}&_nocount=1{ds_columns}"
            + DS_LEAN
        ],
        "SQL": ["/fts5.json?" + urlencode({"sql": LIST_FIRST, "_shape": "array"})],
    }
    with httpx.Client(base_url=api.base, timeout=60) as client:
        cursor, page = None, None
        for _ in range(DEEP_PAGE - 1):
            params = {"limit": PAGE} | ({"cursor": cursor} if cursor else {})
            page = client.get("/articles", params=params).json()
            cursor = page["next_cursor"]
        detail_ids = [item["id"] for item in page["items"]] if page else []
        first = client.get("/articles", params={"limit": 100}).json()
        detail_ids += [item["id"] for item in first["items"]][::5]
    w.api["list_page_500"] = ["/articles?" + urlencode({"limit": PAGE, "cursor": cursor})]
    after = None
    for _ in range(DEEP_PAGE - 1):
        result = index.search(ArticleQuery(limit=PAGE, after=after))
        after = result.hits[-1].position
    w.engine["list_page_500"] = [lambda: index.search(ArticleQuery(limit=PAGE, after=after))]
    last = conn.execute(
        "SELECT published_at, pk FROM articles ORDER BY published_at DESC, pk DESC "
        f"LIMIT 1 OFFSET {(DEEP_PAGE - 1) * PAGE - 1}"
    ).fetchone()
    w.fts5["list_page_500"] = [
        lambda: conn.execute(LIST_AFTER, {"day": last[0], "pk": last[1]}).fetchall()
    ]
    # Datasette's own keyset token for page 500 is "<published_at>,<rowid>" of page 499's last
    # row (what following its `next` links 499 times gives, without the minutes it takes).
    path = (
        f"/fts5/articles.json?_sort_desc=published_at&_size={PAGE}&_nocount=1{ds_columns}"
        f"{DS_LEAN}&_next={quote(f'{last[0]},{last[1]}')}"
    )
    w.datasette["list_page_500"] = {
        "table page, 20 rows, no count, no facets (_next)": [path],
        "SQL, OFFSET": ["/fts5.json?" + urlencode({"sql": LIST_OFFSET, "_shape": "array"})],
    }

    # Detail: articles from both ends of the listing.
    w.api["detail"] = [f"/articles/{i}" for i in detail_ids]
    w.fts5["detail"] = [
        (lambda i=i: conn.execute(DETAIL, {"id": i}).fetchall()) for i in detail_ids
    ]
    pks = [
        conn.execute("SELECT pk FROM articles WHERE id=?", (i,)).fetchone()[0] for i in detail_ids
    ]
    w.datasette["detail"] = {
        "row page": [f"/fts5/articles/{pk}.json" for pk in pks],
        "SQL": [
            "/fts5.json?" + urlencode({"sql": DETAIL, "id": i, "_shape": "array"})
            for i in detail_ids
        ],
    }
    w.notes["checks"] = check_workload(w, api, datasette)
    return w


def check_workload(w: Workload, api: Server, datasette: Server) -> dict:
    """Every request answers 200 (a benchmark of errors measures nothing); note result sizes."""
    sizes: dict[str, object] = {}
    with httpx.Client(timeout=120) as client:
        for cls, paths in w.api.items():
            response = client.get(api.base + paths[0])
            response.raise_for_status()
            body = response.json()
            sizes[cls] = body.get("total") if isinstance(body, dict) else None
        for cls, forms in w.datasette.items():
            for form, paths in forms.items():
                response = client.get(datasette.base + paths[0])
                if response.status_code != 200:
                    raise RuntimeError(
                        f"datasette {cls} {form}: {response.status_code} {response.text[:300]}"
                    )
    for cls, calls in w.fts5.items():
        if not calls[0]():
            raise RuntimeError(f"fts5 {cls} returned nothing")
    return {"api_total": sizes}


# -- measuring -----------------------------------------------------------------------------------


def summarize(samples: list[float]) -> dict:
    if not samples:
        return {"n": 0}
    ordered = sorted(samples)

    def pct(p: float) -> float:
        return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]

    return {
        "n": len(ordered),
        "p50_ms": round(statistics.median(ordered) * 1000, 2),
        "p99_ms": round(pct(99) * 1000, 2),
        "max_ms": round(ordered[-1] * 1000, 2),
        "mean_ms": round(statistics.fmean(ordered) * 1000, 2),
    }


def latency(w: Workload, api: Server, datasette: Server, *, samples: int, cap: float) -> dict:
    """One client; the systems take turns request by request, in an order that rotates each
    round, each capped in count and time."""
    results: dict[str, dict[str, dict]] = {}
    api_client = httpx.Client(base_url=api.base, timeout=120)
    ds_client = httpx.Client(base_url=datasette.base, timeout=120)

    def http(client: httpx.Client, path: str) -> Callable[[], object]:
        def call() -> object:
            response = client.get(path)
            if response.status_code != 200:
                raise RuntimeError(f"{path}: {response.status_code}")
            return response.content

        return call

    try:
        for cls in CLASSES:
            systems: dict[str, list[Callable[[], object]]] = {
                "api": [http(api_client, p) for p in w.api[cls]]
            }
            if cls in w.engine:
                systems["engine"] = w.engine[cls]
            if cls in w.topk:
                systems["engine: top-k only"] = w.topk[cls]
            if cls in w.fts5:
                systems["fts5"] = w.fts5[cls]
            for form, paths in w.datasette.get(cls, {}).items():
                systems[f"datasette: {form}"] = [http(ds_client, p) for p in paths]
            timings: dict[str, list[float]] = {name: [] for name in systems}
            spent = dict.fromkeys(systems, 0.0)
            warm = 3
            for n in range(samples + warm):
                active = [s for s in systems if spent[s] < cap]
                if not active:
                    break
                # Each round starts with another system, so that none always runs right after
                # the same neighbour: the call before leaves the caches full of its own data
                # (or, the same query before, of this one's).
                first = n % len(active)
                for name in active[first:] + active[:first]:
                    calls = systems[name]
                    call = calls[n % len(calls)]
                    started = time.perf_counter()
                    call()
                    elapsed = time.perf_counter() - started
                    if n >= warm:
                        timings[name].append(elapsed)
                        spent[name] += elapsed
            results[cls] = {name: summarize(t) for name, t in timings.items()}
            line = ", ".join(
                f"{name} {r['p50_ms']}/{r['p99_ms']} ms (n={r['n']})"
                for name, r in results[cls].items()
                if r["n"]
            )
            log(f"{cls}: {line}")
            results[cls]["load_average"] = round(os.getloadavg()[0], 2)  # type: ignore[assignment]
    finally:
        api_client.close()
        ds_client.close()
    return results


WRK_SCRIPT = """
local paths = {%s}
local i = 0
request = function()
  i = i + 1
  return wrk.format("GET", paths[(i %% #paths) + 1])
end
"""


def throughput(base: str, paths: list[str], *, seconds: int, connections: int = 16) -> dict:
    """Requests per second with wrk: 2 threads (the machine has 2 cores), 16 connections."""
    wrk = shutil.which("wrk")
    if wrk is None:
        return {"error": "wrk not installed (apt-get install wrk)"}
    with tempfile.NamedTemporaryFile("w", suffix=".lua", delete=False) as script:
        script.write(WRK_SCRIPT % ", ".join(json.dumps(p) for p in paths))
    try:
        run = subprocess.run(
            [
                wrk,
                f"-t{min(2, connections)}",  # wrk needs a connection per thread
                f"-c{connections}",
                f"-d{seconds}s",
                "--timeout",
                "30s",
                "--latency",
                "-s",
                script.name,
                base,
            ],
            capture_output=True,
            text=True,
            timeout=seconds + 60,
        )
    finally:
        os.unlink(script.name)
    text = run.stdout
    rps = re.search(r"Requests/sec:\s+([\d.]+)", text)
    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", text)
    p50 = re.search(r"50%\s+([\d.]+)(us|ms|s)", text)
    p99 = re.search(r"99%\s+([\d.]+)(us|ms|s)", text)

    def ms(match: re.Match[str] | None) -> float | None:
        if match is None:
            return None
        return round(float(match[1]) * {"us": 0.001, "ms": 1, "s": 1000}[match[2]], 2)

    return {
        "rps": float(rps[1]) if rps else None,
        "non_2xx": int(errors[1]) if errors else 0,
        "p50_ms": ms(p50),
        "p99_ms": ms(p99),
    }


def machine() -> dict:
    cpu = "?"
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    memory = "?"
    with contextlib.suppress(OSError):
        kb = int(re.search(r"MemTotal:\s+(\d+)", Path("/proc/meminfo").read_text())[1])  # type: ignore[index]
        memory = f"{kb / 1024 / 1024:.0f} GiB"
    import tantivy

    versions = {"python": platform.python_version(), "sqlite": sqlite3.sqlite_version}
    for package in ("tantivy", "fastapi", "uvicorn", "sqlalchemy", "datasette"):
        with contextlib.suppress(Exception):
            from importlib.metadata import version

            versions[package] = version(package)
    del tantivy
    return {
        "cpu": cpu,
        "cores": os.cpu_count(),
        "memory": memory,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "os": platform.platform(),
        "versions": versions,
    }


def command_line(out: Path) -> str:
    """The command as run, with the output directory shown as the project's `bench/out` when
    it is that directory (a copy measured elsewhere links to it): no paths of this machine."""
    default = ROOT / "bench" / "out"
    shown = {str(out): "bench/out"} if out.resolve() == default.resolve() else {}
    arguments = [shown.get(a, a) for a in sys.argv[1:]]
    return " ".join([Path(sys.executable).name, "-m", "bench.run", *arguments])


def git_state() -> str:
    """The commit measured, and whether the work tree differed from it (others edit it too)."""
    snapshot = ROOT / ".bench-commit"  # a `git archive` copy measured away from a busy tree
    if snapshot.exists():
        return snapshot.read_text().strip()
    try:
        return subprocess.run(
            ["git", "describe", "--always", "--dirty"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "?"


def main() -> None:
    parser = argparse.ArgumentParser(description="newscorpus benchmark")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--port", type=int, default=8765)
    parser.add_argument("--samples", type=int, default=300, help="per class and system")
    parser.add_argument("--cap", type=float, default=8.0, help="seconds per class and system")
    parser.add_argument("--wrk-seconds", type=int, default=5)
    parser.add_argument(
        "--prepare-only", action="store_true", help="build the data, measure nothing"
    )
    parser.add_argument(
        "--floor-only",
        action="store_true",
        help="only the uncached listing beside the minimal endpoint",
    )
    args = parser.parse_args()
    out: Path = args.out.resolve()
    out.mkdir(parents=True, exist_ok=True)
    started = datetime.now(UTC)

    prepared = prepare(args.size, out)
    if args.prepare_only:
        return
    data = out / f"data-{label(args.size)}"
    if args.floor_only:
        with uncached_api(data, args, out) as cold, minimal_endpoint(data, args.port + 3, out) as m:
            floor = listing_floor(cold, m, seconds=args.wrk_seconds)
        (out / f"floor-{label(args.size)}.json").write_text(
            json.dumps({"machine": machine(), "git": git_state(), **floor}, indent=1)
        )
        return
    with servers(data, args.port, out) as (api, datasette), uncached_api(data, args, out) as cold:
        # Sizes once the server is up: it rebuilds an index made with an older schema.
        sizes = {
            "database_bytes": du(data / "newscorpus.db"),
            "index_bytes": du(data / "index"),
            "fts5_table_bytes": prepared["fts5"]["fts_bytes"],
        }
        log(f"api at {api.base} (rss {api.rss_mb()} MB), datasette at {datasette.base}")
        workload = build_workload(data, api, datasette, args.size)
        log(f"workload: {json.dumps(workload.notes)}")
        # Latency from the server without a page cache: the workload repeats a few requests
        # per class, which the shipped server would answer from its cache of rendered pages.
        lat = latency(workload, cold, datasette, samples=args.samples, cap=args.cap)
        rps: dict[str, dict] = {}
        for cls in CLASSES:
            rps[cls] = {
                system: throughput(server.base, workload.api[cls], seconds=args.wrk_seconds)
                for system, server in (("api", api), (UNCACHED, cold))
            }
            log(f"{cls} at 16 connections: {rps[cls]}")
        for cls in ("list_first", "list_page_500", "detail", "common"):
            for form, paths in workload.datasette.get(cls, {}).items():
                if "default" in form and cls != "list_first":
                    continue
                slow = form.startswith("table page") and cls != "list_page_500"
                rps[cls][f"datasette: {form}"] = throughput(
                    datasette.base, paths, seconds=max(args.wrk_seconds, 15 if slow else 0)
                )
                log(f"{cls} at 16 connections: datasette {form}: {rps[cls][f'datasette: {form}']}")
        with minimal_endpoint(data, args.port + 3, out) as minimal:
            floor = listing_floor(cold, minimal, seconds=args.wrk_seconds)
        memory = {
            "api_peak_rss_mb": api.peak_rss_mb(),
            "api_rss_mb_end": api.rss_mb(),
            "api_no_page_cache_peak_rss_mb": cold.peak_rss_mb(),
            "datasette_peak_rss_mb": datasette.peak_rss_mb(),
        }
    results = {
        "size": args.size,
        "started": started.isoformat(timespec="seconds"),
        "seconds": round((datetime.now(UTC) - started).total_seconds(), 1),
        "command": command_line(args.out),
        "machine": machine(),
        "git": git_state(),
        "prepared": prepared,
        "sizes": sizes,
        "memory": memory,
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
        "workload": workload.notes,
        "latency": lat,
        "latency_api": UNCACHED,  # the server the API latency was measured on
        "throughput": rps,
        "listing_floor": floor,
    }
    text = json.dumps(results, indent=1)
    (out / f"results-{label(args.size)}.json").write_text(text)
    committed = ROOT / "bench" / "results"
    committed.mkdir(exist_ok=True)
    (committed / f"{label(args.size)}.json").write_text(text)
    log(f"wrote bench/results/{label(args.size)}.json")


if __name__ == "__main__":
    main()
