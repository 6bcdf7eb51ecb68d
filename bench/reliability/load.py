"""Load: 64 concurrent clients for 60 seconds over a mix of listing, search, filters and detail.

    .venv/bin/python -m bench.run --size 100000 --prepare-only      # once: the corpus
    .venv/bin/python -m bench.reliability.load --size 100k --workers 1 2

For each worker count, a server on 127.0.0.1 over a copy of the prepared corpus, then wrk
(2 threads, 64 connections, 60 s) cycling through 200 requests, an eighth each: one-word
search, two words with a source facet, a phrase, a person filter by name, a place filter by
id with person and source facets, an article's detail, the newest page, a 3-letter prefix.
Reports requests per second, p50/p90/p99 and every failure (non-2xx, socket errors).
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from bench.reliability.common import copy_prepared, machine, read_mix, serve, wrk


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="label of bench/out/data-<size>")
    parser.add_argument("--workers", type=int, nargs="+", default=[1])
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--seconds", type=int, default=60)
    args = parser.parse_args()
    failures = 0
    with tempfile.TemporaryDirectory(prefix="newscorpus-load-") as tmp:
        data = copy_prepared(args.size, Path(tmp))
        for workers in args.workers:
            with serve(data, workers=workers) as server:
                paths = read_mix(server.url)
                wrk(server.url, paths, connections=8, seconds=5)  # warm the caches
                print(f"machine: {machine()}")
                result = wrk(server.url, paths, connections=args.connections, seconds=args.seconds)
                print(f"{workers} worker(s), {args.connections} connections: {result.line()}")
                failures += result.failures
    print("RESULT:", "zero errors" if not failures else f"{failures} failed requests")


if __name__ == "__main__":
    main()
