"""What a 304 costs against a full answer: one client, alternating plain GETs and GETs with the
ETag of the page, against `newscorpus serve` without its page cache (every request renders).

    .venv/bin/python -m bench.conditional --size 100000   # after `make bench` prepared the data
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import httpx

from bench.run import ROOT, label, log, machine, uncached_api

CLASSES = {
    "listing, first page": "/articles?limit=20",
    "search, common word": "/articles?q=about&limit=20",
    "facets": "/articles?q=minister&facets=person,place,org,source",
}


def measure(client: httpx.Client, path: str, *, samples: int) -> dict:
    first = client.get(path)
    etag = first.headers["etag"]
    full: list[float] = []
    not_modified: list[float] = []
    for _ in range(samples):
        for headers, times in (({}, full), ({"If-None-Match": etag}, not_modified)):
            started = time.perf_counter()
            response = client.get(path, headers=headers)
            times.append(time.perf_counter() - started)
            assert response.status_code == (304 if headers else 200), response.status_code
    return {
        "bytes_200": len(first.content),
        "p50_ms_200": round(statistics.median(full) * 1000, 2),
        "p50_ms_304": round(statistics.median(not_modified) * 1000, 2),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=10_000)
    parser.add_argument("--samples", type=int, default=300)
    parser.add_argument("--port", type=int, default=8790)
    args = parser.parse_args()
    out = ROOT / "bench" / "out"
    data = out / f"data-{label(args.size)}"
    results: dict[str, object] = {"size": args.size, "machine": machine()}
    with uncached_api(data, args, out) as api, httpx.Client(base_url=api.base) as client:
        for name, path in CLASSES.items():
            results[name] = measure(client, path, samples=args.samples)
            log(f"{name}: {results[name]}")
    Path(out / f"conditional-{label(args.size)}.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
