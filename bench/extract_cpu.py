"""Entity extraction's CPU cost, for comparing two checkouts side by side on a busy machine.

Run, alternating the checkouts in one session (a checkout's own code goes first on sys.path):
    for r in 1 2 3; do for tree in OLD_CHECKOUT .; do
        .venv/bin/python bench/extract_cpu.py $tree; done; done

Prints articles per CPU-second of EntityExtractor.extract (one process) over the same corpus as
bench/extract_throughput.py; CPU time, unlike wall time, barely moves when other processes
share the cores.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

ARTICLES = 600


def main() -> None:
    root = Path(sys.argv[1] if len(sys.argv) > 1 else ".").resolve()
    sys.path.insert(0, str(root))
    from app.ingest.entities import EntityExtractor
    from bench.extract_throughput import build_corpus

    articles = build_corpus(ARTICLES)
    extractor = EntityExtractor()
    extractor.extract(articles[:5])  # load the gazetteer outside the timing
    cpu, wall = time.process_time(), time.perf_counter()
    extractor.extract(articles, batch_size=64, n_process=1)
    cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
    print(f"{root.name}: {len(articles) / cpu:.1f} articles per CPU-second (wall {wall:.1f} s)")


if __name__ == "__main__":
    main()
