"""Walk a search by `next_cursor` through the API and count what it reaches: every match once?

    .venv/bin/python -m bench.paging --data bench/out/data-10k --q minister --limit 100

For each sort (and with `dedupe=true`), prints the pages walked, the articles reached, how many
came back more than once, and the `total` of the first page. The data directory is one that
`make bench` (or `newscorpus ingest`) made; the app is run in-process on it.
"""

from __future__ import annotations

import argparse
from collections import Counter
from pathlib import Path

from fastapi.testclient import TestClient

from app.config import Settings
from app.main import create_app

SORTS = ("relevance", "-published_at", "published_at")


def walk(client: TestClient, params: dict[str, object]) -> tuple[int, Counter[str], int]:
    """(pages, times each article was seen, first page's total) of one walk to the end."""
    seen: Counter[str] = Counter()
    pages, total, cursor = 0, 0, None
    while True:
        response = client.get(
            "/articles", params={**params, "cursor": cursor} if cursor else params
        )
        if response.status_code != 200:  # e.g. the best-match depth limit
            print(f"  stopped: {response.status_code} {response.json().get('detail')}")
            break
        page = response.json()
        total = total or page["total"]
        pages += 1
        seen.update(item["id"] for item in page["items"])
        if not (cursor := page["next_cursor"]):
            break
    return pages, seen, total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, required=True)
    parser.add_argument("--q", default="minister")
    parser.add_argument("--limit", type=int, default=100)
    args = parser.parse_args()
    settings = Settings(data_dir=args.data, cached_pages=0)  # type: ignore[call-arg]
    with TestClient(create_app(settings)) as client:
        for dedupe in (False, True):
            for sort in SORTS:
                params = {"q": args.q, "limit": args.limit, "sort": sort, "dedupe": dedupe}
                pages, seen, total = walk(client, params)
                twice = sum(1 for n in seen.values() if n > 1)
                print(
                    f"q={args.q} sort={sort} dedupe={dedupe}: {pages} pages, "
                    f"{len(seen)} of {total} reached, {twice} more than once"
                )


if __name__ == "__main__":
    main()
