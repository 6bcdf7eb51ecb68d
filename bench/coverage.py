"""The timeline's latency and the export's rate and memory, on the benchmark's corpus.

    .venv/bin/python -m bench.coverage --size 100000   # after bench.run prepared the data
    make bench BENCH_SIZE=100000                        # runs both

Starts `newscorpus serve` on bench/out/data-<size> with one worker (so the memory measured is
that of the process that exports), then:
1. timeline: GET /timeline?q=<common word>&interval=month (a word in 30-70 % of the articles,
   chosen as bench.run chooses them), one client, request after request: p50/p90/p99; and
   the same count in-process (TantivyIndex.histogram), the engine alone. Exactness: the
   buckets and `undated` add up to GET /articles' total for the word.
2. export: GET /articles/export streamed to nowhere, one at a time: a plain listing (every
   field; NDJSON compressed as httpx asks, and not compressed; CSV), the common word newest
   first, and the common word best match first. Articles per
   second, and the server's resident memory before, at its peak during (read from /proc
   every 0.1 s) and after.
Writes bench/results/coverage/<size>.json (docs/PERFORMANCE.md: "Timeline and export").
"""

from __future__ import annotations

import argparse
import json
import os
import threading
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx

from bench.run import ROOT, Server, command_line, git_state, label, log, machine, start_api


def common_word(index, size: int) -> tuple[str, int]:  # type: ignore[no-untyped-def]
    from app.search.base import ArticleQuery
    from bench.corpus import pools

    for word in pools().words[40:400]:
        matches = index.search(ArticleQuery(text=word, limit=1)).total
        if len(word) >= 5 and 0.30 <= matches / size <= 0.70:
            return word, matches
    raise RuntimeError("no common word in the corpus")


def percentiles(samples: list[float]) -> dict:
    ordered = sorted(samples)

    def at(share: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(share * len(ordered)))], 2)

    return {"n": len(samples), "p50_ms": at(0.5), "p90_ms": at(0.9), "p99_ms": at(0.99)}


def timeline(api: Server, index, word: str, *, samples: int, cap: float) -> dict:  # type: ignore[no-untyped-def]
    from app.api.timeline import Buckets, TimelineParams
    from app.search.base import ArticleQuery

    url = f"{api.base}/timeline"
    params = {"q": word, "interval": "month"}
    with httpx.Client(timeout=60) as client:
        body = client.get(url, params=params).json()
        total = client.get(f"{api.base}/articles", params={"q": word, "limit": 1}).json()["total"]
        http = _timed(lambda: client.get(url, params=params).raise_for_status(), samples, cap)
    query = ArticleQuery(text=word)
    engine = _timed(
        lambda: index.histogram(query, Buckets(TimelineParams(interval="month"))), samples, cap
    )
    counted = sum(b["count"] for b in body["buckets"]) + body["undated"]
    return {
        "request": f"GET /timeline?q={word}&interval=month",
        "buckets": len(body["buckets"]),
        "matches": total,
        "exact": counted == total == body["total"] and not body["estimated"],
        "api": percentiles(http),
        "engine": percentiles(engine),
    }


def _timed(call, samples: int, cap: float) -> list[float]:  # type: ignore[no-untyped-def]
    call()  # warm
    times: list[float] = []
    stop = time.monotonic() + cap
    while len(times) < samples and time.monotonic() < stop:
        started = time.perf_counter()
        call()
        times.append((time.perf_counter() - started) * 1000)
    return times


def export(api: Server, params: dict, headers: dict | None = None) -> dict:
    """Stream one export to nowhere, sampling the server's memory as it goes. httpx asks for
    compression (zstd, br, gzip) unless `headers` say otherwise, as browsers and curl
    --compressed do."""
    peak, done = [api.rss_mb() or 0.0], threading.Event()

    def sample() -> None:
        while not done.wait(0.1):
            peak.append(api.rss_mb() or 0.0)

    before = api.rss_mb()
    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    size = 0
    started = time.perf_counter()
    url = f"{api.base}/articles/export"
    with httpx.stream("GET", url, params=params, headers=headers, timeout=600) as r:
        r.raise_for_status()
        # A record ends in "\n" in NDJSON (JSON escapes the body's), "\r\n" in CSV (bodies'
        # line ends are "\n"); the CSV header is not an article.
        end = b"\r\n" if params.get("format") == "csv" else b"\n"
        lines = -1 if params.get("format") == "csv" else 0
        last = b""  # a record end may straddle two chunks
        for chunk in r.iter_bytes():
            lines += (last + chunk).count(end)
            last, size = chunk[-1:] if end == b"\r\n" else b"", size + len(chunk)
    seconds = time.perf_counter() - started
    done.set()
    sampler.join()
    after = api.rss_mb()
    return {
        "request": "GET /articles/export?" + "&".join(f"{k}={v}" for k, v in params.items()),
        "content_encoding": r.headers.get("content-encoding", "identity"),
        "articles": lines,
        "seconds": round(seconds, 2),
        "articles_per_second": round(lines / seconds),
        "megabytes": round(size / 1e6, 1),
        "rss_mb_before": before,
        "rss_mb_peak": max(peak),
        "rss_mb_after": after,
        "rss_growth_mb": round(max(peak) - (before or 0.0), 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description="timeline and export benchmark")
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "out")
    parser.add_argument("--port", type=int, default=8795)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--cap", type=float, default=20.0, help="seconds per measurement")
    args = parser.parse_args()
    from app.db import create_db_engine
    from app.search.tantivy_index import TantivyIndex

    data = args.out.resolve() / f"data-{label(args.size)}"
    started = datetime.now(UTC)
    api = start_api(
        data, args.port, args.out.resolve(), name="api-coverage", NEWSCORPUS_WORKERS="1"
    )
    try:
        index = TantivyIndex(
            data / "index", create_db_engine(f"sqlite:///{data / 'newscorpus.db'}")
        )
        word, matches = common_word(index, args.size)
        log(f"common word {word!r}: {matches} matches")
        results = {"timeline": timeline(api, index, word, samples=args.samples, cap=args.cap)}
        log(f"timeline: {results['timeline']}")
        results["export"] = []
        for params, headers in (
            ({"format": "ndjson"}, None),
            ({"format": "ndjson"}, {"Accept-Encoding": "identity"}),
            ({"format": "csv"}, None),
            ({"format": "ndjson", "q": word, "sort": "-published_at"}, None),
            ({"format": "ndjson", "q": word, "sort": "relevance", "fields": "id,title"}, None),
        ):
            results["export"].append(export(api, params, headers))
            log(f"export: {results['export'][-1]}")
    finally:
        api.stop()
    results |= {
        "size": args.size,
        "started": started.isoformat(timespec="seconds"),
        "command": command_line(args.out).replace("bench.run", "bench.coverage"),
        "machine": machine(),
        "git": git_state(),
        "load_average_end": [round(x, 2) for x in os.getloadavg()],
    }
    committed = ROOT / "bench" / "results" / "coverage"  # beside bench.run's, not among them
    committed.mkdir(parents=True, exist_ok=True)
    path = committed / f"{label(args.size)}.json"
    path.write_text(json.dumps(results, indent=1))
    log(f"wrote {path.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
