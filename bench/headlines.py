"""How many generated headlines the parser recognises, and the last words of those it misses.

    .venv/bin/python -m bench.headlines --size 100000 [--any-last-word]

Every bench.corpus article opens with a headline, so each one the parser does not return as the
title is a miss. bench.corpus leaves the 30 commonest words out of headlines; --any-last-word
ends every headline with one of the 100 commonest words ("With", "That", "From", ...) instead,
as real headlines may end. Articles are generated in memory (nothing is written).
"""

from __future__ import annotations

import argparse
from collections import Counter

import numpy as np

from app.ingest.parse import parse_article
from bench.corpus import CHUNK, SEED, generate_chunk, pools


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000, help="articles (multiple of 1000)")
    parser.add_argument("--any-last-word", action="store_true", help="end headlines in any word")
    args = parser.parse_args()
    size, common = args.size, pools().words[:100]
    rng = np.random.default_rng(SEED)
    missed: Counter[str] = Counter()
    for chunk in range(size // CHUNK):
        for article in generate_chunk(chunk):
            headline, rest = article.text.split("\n", 1)
            if args.any_last_word:
                headline += " " + common[int(rng.integers(len(common)))].capitalize()
            if parse_article(f"{headline}\n{rest}").title != headline:
                missed[headline.split()[-1].lower()] += 1
    total = sum(missed.values())
    print(f"{size - total}/{size} headlines recognised ({100 * (size - total) / size:.2f} %)")
    print("missed, by last word:", ", ".join(f"{w} {n}" for w, n in missed.most_common(10)))


if __name__ == "__main__":
    main()
