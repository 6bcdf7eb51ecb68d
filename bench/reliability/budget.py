"""Show the time budget at work: deliberately expensive queries on a large generated corpus.

    .venv/bin/python -m bench.run --size 100000 --prepare-only     # once: the corpus
    .venv/bin/python -m bench.reliability.budget --size 100k --budget-ms 300

On a copy of the prepared database and index, a server with no practical budget measures what
each expensive request costs; a second server, with `--budget-ms`, must answer each of them
503 with Retry-After in about the budget, keep answering cheap requests while they run (the
worker is freed), and still answer cheap requests correctly afterwards.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from urllib.parse import urlencode

import httpx
from sqlalchemy import create_engine

from app.api.articles import ArticleParams
from app.api.cursors import fingerprint, load_cursors
from bench.reliability.common import copy_prepared, log, machine, serve

# Twenty-nine common two-letter prefixes, ORed: each expands over a large part of the dictionary.
PREFIXES = (
    "th an co re pr st de in ma ca pa be se ha wa fo mo sa pe di po ch tr bo la le ne ho mi sh"
)


def expensive_requests(base: str, data: Path) -> dict[str, str]:
    """Name -> path of requests that cost far more than usual (the server over `data`)."""
    top = httpx.get(f"{base}/entities", params={"limit": 1}, timeout=60).json()["items"][0]
    many_prefixes = " OR ".join(f"{p}*" for p in PREFIXES.split())
    facets = "person,place,org,source"
    # A cursor claiming 9,999 results already seen (the deepest best-match page there is):
    # the page then ranks the top 10,000 matches again. Signed with the database's own key.
    params = ArticleParams(q="the", facets="source")
    cursors = load_cursors(create_engine(f"sqlite:///{data / 'newscorpus.db'}"))
    deep = cursors.encode([1.0, 1, 9_999], fingerprint(params))
    phrases = " OR ".join(f'"{p} the"' for p in ("of", "in", "to", "and", "on", "for"))
    return {
        "29 ORed prefixes, ranked, 4 facets (index)": "/articles?"
        + urlencode({"q": many_prefixes, "facets": facets}),
        "6 ORed common phrases, ranked, 4 facets (index)": "/articles?"
        + urlencode({"q": phrases, "facets": facets}),
        "deepest best-match page, 10,000th result (index)": "/articles?"
        + urlencode({"q": "the", "facets": "source", "cursor": deep}),
        f"co-occurrence of the top entity, {top['article_count']} articles (SQLite)": (
            f"/entities/{top['id']}"
        ),
    }


CHEAP = ["/articles?limit=5", "/articles?q=minister", "/sources", "/healthz"]


def timed(client: httpx.Client, path: str) -> tuple[int, float, httpx.Response]:
    started = time.perf_counter()
    response = client.get(path)
    return response.status_code, (time.perf_counter() - started) * 1000, response


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", default="100k", help="label of bench/out/data-<size>")
    parser.add_argument("--budget-ms", type=int, default=300)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="newscorpus-budget-") as tmp:
        data = copy_prepared(args.size, Path(tmp))
        log(f"copied bench/out/data-{args.size}")
        costs = {}
        with serve(data, query_budget_ms="600000") as server:
            requests = expensive_requests(server.url, data)
            with httpx.Client(base_url=server.url, timeout=600) as client:
                for name, path in requests.items():
                    timings = [timed(client, path) for _ in range(args.repeat)]
                    assert all(status == 200 for status, _, _ in timings), timings
                    costs[name] = statistics.median(ms for _, ms, _ in timings)
                    print(f"no budget:  {name}: 200 in {costs[name]:.0f} ms (median)")
                cheap = {p: statistics.median(timed(client, p)[1] for _ in range(5)) for p in CHEAP}
                print(
                    "no budget:  cheap requests:",
                    json.dumps({p: round(v) for p, v in cheap.items()}),
                )

        with serve(data, query_budget_ms=str(args.budget_ms)) as server:
            print(f"budget {args.budget_ms} ms:")
            with httpx.Client(base_url=server.url, timeout=600) as client:
                for name, path in requests.items():
                    status, ms, response = timed(client, path)
                    print(
                        f"  {name}: {status} in {ms:.0f} ms, Retry-After "
                        f"{response.headers.get('retry-after')}, "
                        f"{response.headers.get('content-type')}"
                    )
                # Many expensive requests at once, while a client asks for cheap ones.
                results: list[tuple[int, float]] = []

                def hammer() -> None:
                    with httpx.Client(base_url=server.url, timeout=600) as own:
                        for path in requests.values():
                            status, ms, _ = timed(own, path)
                            results.append((status, ms))

                threads = [threading.Thread(target=hammer) for _ in range(16)]
                for thread in threads:
                    thread.start()
                time.sleep(0.2)
                during = [timed(client, p) for p in CHEAP for _ in range(5)]
                for thread in threads:
                    thread.join(600)
                statuses = dict(Counter(s for s, _ in results))
                slowest = max(ms for _, ms in results)
                print(
                    f"  16 clients x {len(requests)} expensive requests: statuses {statuses}, "
                    f"slowest answer {slowest:.0f} ms"
                )
                cheap_statuses = dict(Counter(s for s, _, _ in during))
                print(
                    f"  cheap requests meanwhile: statuses {cheap_statuses}, "
                    f"median {statistics.median(ms for _, ms, _ in during):.0f} ms, "
                    f"max {max(ms for _, ms, _ in during):.0f} ms"
                )
                after = [timed(client, p) for p in CHEAP]
                print(f"  cheap requests after: statuses {sorted({s for s, _, _ in after})}")


if __name__ == "__main__":
    main()
