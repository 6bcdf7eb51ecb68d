"""Entity-extraction throughput: our EntityExtractor against the naive way, in the same run.

Run:  .venv/bin/python bench/extract_throughput.py --articles 2000

The corpus is N news-like articles made by recombining the sentences of the seed articles
(seeded, so every run sees the same texts). The naive way is nlp(text) per article with every
component of the pipeline on; ours is EntityExtractor.extract (nlp.pipe in batches, only NER
and our rules enabled, n_process worker processes) including normalisation and linking.
Prints words/s and articles/s for both, and the speed-up; with --repeat, the median run.
"""

from __future__ import annotations

import argparse
import random
import re
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import spacy  # noqa: E402

from app.ingest.entities import DEFAULT_MODEL, EntityExtractor  # noqa: E402
from app.ingest.parse import ParsedArticle, parse_article  # noqa: E402


def build_corpus(count: int, *, seed: int = 7) -> list[ParsedArticle]:
    """Make count articles of 8-30 sentences drawn from the seed articles' bodies."""
    bodies = [parse_article(p.read_text(encoding="utf-8")).body for p in _seed_files()]
    sentences = [s for b in bodies for s in re.split(r"(?<=[.!?\"\u201d])\s+", b) if s.strip()]
    rng = random.Random(seed)
    articles = []
    for _ in range(count):
        picked = rng.choices(sentences, k=rng.randint(8, 30))
        paragraphs = [" ".join(picked[i : i + 4]) for i in range(0, len(picked), 4)]
        articles.append(ParsedArticle(body="\n\n".join(paragraphs)))
    return articles


def _seed_files() -> list[Path]:
    return sorted((ROOT / "seeds").glob("*.txt"))


def timed(run: Callable[[], object], repeat: int) -> float:
    """Return the median wall time of repeat runs."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--articles", type=int, default=2000)
    parser.add_argument("--model", default=DEFAULT_MODEL)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--n-process", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()

    articles = build_corpus(args.articles)
    words = sum(len(a.body.split()) for a in articles)
    print(f"corpus: {len(articles)} articles, {words} words; model {args.model}")

    naive_nlp = spacy.load(args.model)
    extractor = EntityExtractor(args.model)
    extractor.extract(articles[:5])  # load the gazetteer outside the timing

    def naive() -> None:
        for article in articles:
            naive_nlp(article.body).ents  # noqa: B018

    def ours(n_process: int) -> Callable[[], object]:
        return lambda: extractor.extract(articles, batch_size=args.batch_size, n_process=n_process)

    runs = [("naive: nlp(text), all components", timed(naive, args.repeat))]
    if args.n_process != 1:  # the same code on one core, to tell batching from parallelism
        runs.append(("EntityExtractor, n_process=1", timed(ours(1), args.repeat)))
    label = f"EntityExtractor, n_process={args.n_process}"
    runs.append((label, timed(ours(args.n_process), args.repeat)))
    for label, seconds in runs:
        rates = f"{words / seconds:10.0f} words/s {len(articles) / seconds:8.1f} articles/s"
        print(f"{label:<34} {seconds:8.1f} s {rates} {runs[0][1] / seconds:6.2f}x")
    print(f"speed-up over naive: {runs[0][1] / runs[-1][1]:.2f}x (batch_size={args.batch_size})")


if __name__ == "__main__":
    main()
