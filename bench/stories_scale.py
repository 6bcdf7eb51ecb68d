"""Story assignment at scale: time per article as the corpus grows, on synthetic planted stories.

    .venv/bin/python -m bench.stories_scale --size 100000 --out bench/out/stories-100k

Articles go through the real load path (`load_articles`: insert, mentions, entity counts, story
assignment) in committed batches of 256, as `newscorpus ingest --no-extract` would after entity
extraction; only parsing and spaCy are skipped (entities are planted, see below). Assignment
time (`stories.assign`) is measured per article and reported per window of the corpus (the
first 10k articles, ..., the last 10k), so growth with corpus size shows directly. The run stops
at --minutes (default 60) whatever the size.

The corpus: words drawn from a Zipf law over the 30,000 most frequent English words
(`wordfreq`); stories of 1 to 12 articles (geometric sizes, mean about 4) published over ten
years, each with 15 event words from the rarer part of the vocabulary and 2 to 4 entities of
its own; an article is 120 to 500 words, about a quarter of them its story's event words, plus
one or two popular entities shared across the corpus (the "famous names"), published on its
story's day or up to 2 days later, undated one time in five; one story in ten has a wire copy
republished with a few words changed. Articles arrive in date order (undated ones where they
fall). Planted stories also give pairwise precision and recall at the end.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import statistics
import time
from collections import Counter
from dataclasses import dataclass
from datetime import date, timedelta
from pathlib import Path

import numpy as np
from sqlalchemy import select, text
from sqlalchemy.orm import Session

from app.config import Settings
from app.db import create_db_engine, write_session
from app.ingest import stories
from app.ingest.linking import FoundEntity, Mention
from app.ingest.load import Prepared, load_articles
from app.ingest.parse import ParsedArticle
from app.migrate import upgrade_to_head
from app.models import Article, Story

SEED = 20170314
BATCH = 256
WINDOW = 10_000
FIRST_DAY = date(2015, 1, 1)
DAYS = 3653
FAMOUS = 40  # entities shared across the corpus, Zipf-popular


@dataclass
class Planted:
    story: int
    title: str
    body: str
    published: date | None
    entities: list[tuple[str, str]]  # (name, type)


def vocabulary() -> tuple[list[str], np.ndarray]:
    from wordfreq import top_n_list

    words = [w for w in top_n_list("en", 30_000) if w.isalpha()]
    weights = 1.0 / np.arange(1, len(words) + 1)
    return words, np.cumsum(weights) / weights.sum()


def generate(size: int, rng: np.random.Generator) -> list[Planted]:
    words, cdf = vocabulary()
    rare = words[2000:]
    famous = [(f"Famous Person {i}", "person") for i in range(FAMOUS)]
    famous_cdf = np.cumsum(1.0 / np.arange(1, FAMOUS + 1))
    famous_cdf /= famous_cdf[-1]
    articles: list[Planted] = []
    story = 0
    while len(articles) < size:
        story += 1
        n = min(int(rng.geometric(0.25)), 12)
        day = FIRST_DAY + timedelta(days=int(rng.integers(DAYS)))
        event = [rare[i] for i in rng.choice(len(rare), 15, replace=False)]
        own = [
            (f"Planted{kind.title()} {story}-{k}", kind)
            for k, kind in enumerate(rng.choice(["person", "place", "org"], rng.integers(2, 5)))
        ]
        first: Planted | None = None
        for _ in range(n):
            length = int(rng.integers(120, 500))
            background = np.searchsorted(cdf, rng.random(length))
            body_words = [words[min(i, len(words) - 1)] for i in background]
            for position in rng.choice(length, length // 4, replace=False):
                body_words[position] = event[int(rng.integers(len(event)))]
            names = [*own, famous[int(np.searchsorted(famous_cdf, rng.random()))]]
            for name, _ in names:
                body_words.insert(int(rng.integers(len(body_words))), name)
            published = (
                None if rng.random() < 0.2 else day + timedelta(days=int(rng.integers(0, 3)))
            )
            title = " ".join(event[int(i)] for i in rng.choice(len(event), 5)).capitalize()
            article = Planted(story, title, " ".join(body_words) + ".", published, names)
            articles.append(article)
            first = first or article
        if first is not None and rng.random() < 0.1:  # a wire copy, republished
            edited = first.body.split()
            for position in rng.choice(len(edited), 3, replace=False):
                edited[position] = "edited"
            articles.append(
                Planted(story, first.title, " ".join(edited), first.published, first.entities)
            )
    articles = articles[:size]
    # Date order, as a feed arrives; undated articles where they fall.
    order = sorted(
        range(len(articles)),
        key=lambda i: (articles[i].published or FIRST_DAY + timedelta(days=i * DAYS // size), i),
    )
    return [articles[i] for i in order]


def prepared(n: int, article: Planted) -> Prepared:
    found = []
    for name, kind in article.entities:
        start = article.body.find(name)
        found.append(
            FoundEntity(
                name=name,
                type=kind,  # type: ignore[arg-type]
                key=f"{kind}:{name.lower()}",
                aliases=set(),
                mentions=[Mention(name, start, start + len(name))],
            )
        )
    digest = hashlib.sha256(f"{n}:{article.body}".encode()).hexdigest()
    parsed = ParsedArticle(body=article.body, title=article.title, published_at=article.published)
    return Prepared(origin=f"bench:{n}", parsed=parsed, content_hash=digest, entities=found)


def pairwise(predicted: list[str], truth: list[int]) -> tuple[float, float]:
    """Pairwise precision and recall from the contingency counts (no pair enumeration)."""

    def pairs(counts: Counter) -> int:  # type: ignore[type-arg]
        return sum(c * (c - 1) // 2 for c in counts.values())

    both = pairs(Counter(zip(predicted, truth, strict=True)))
    return both / (pairs(Counter(predicted)) or 1), both / (pairs(Counter(truth)) or 1)


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, math.ceil(q * len(ordered)) - 1)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size", type=int, default=100_000)
    parser.add_argument("--out", type=Path, default=Path("bench/out/stories"))
    parser.add_argument("--minutes", type=float, default=60.0)
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    database = args.out / "stories.db"
    database.unlink(missing_ok=True)
    settings = Settings(data_dir=args.out, database_url=f"sqlite:///{database}")
    engine = create_db_engine(settings.resolved_database_url)
    upgrade_to_head(engine)

    started = time.perf_counter()
    corpus = generate(args.size, np.random.default_rng(SEED))
    print(f"generated {len(corpus)} articles in {time.perf_counter() - started:.1f}s", flush=True)

    timings: list[float] = []  # wall time per assignment
    cpu: list[float] = []  # CPU time of this thread (SQLite runs in it): free of other load
    candidates: list[int] = []
    original = stories.assign

    def timed(session, article):  # type: ignore[no-untyped-def]
        t0, c0 = time.perf_counter(), time.thread_time()
        decision = original(session, article)
        timings.append(time.perf_counter() - t0)
        cpu.append(time.thread_time() - c0)
        candidates.append(decision.candidates)
        return decision

    stories.assign = timed  # type: ignore[assignment]
    windows = []
    started, cpu_started = time.perf_counter(), time.process_time()
    done = 0
    try:
        for start in range(0, len(corpus), BATCH):
            batch = [prepared(start + i, a) for i, a in enumerate(corpus[start : start + BATCH])]
            with write_session(engine) as session:
                load_articles(session, batch)
            done += len(batch)
            if done % WINDOW < BATCH or done == len(corpus):
                window = timings[-WINDOW:] if len(timings) >= WINDOW else timings
                row = {
                    "articles": done,
                    "elapsed_s": round(time.perf_counter() - started, 1),
                    "assign_median_ms": round(statistics.median(window) * 1000, 2),
                    "assign_mean_ms": round(statistics.fmean(window) * 1000, 2),
                    "assign_p99_ms": round(percentile(window, 0.99) * 1000, 2),
                    "assign_cpu_median_ms": round(statistics.median(cpu[-len(window) :]) * 1000, 2),
                    "candidates_mean": round(statistics.fmean(candidates[-len(window) :]), 1),
                }
                windows.append(row)
                print(json.dumps(row), flush=True)
            if time.perf_counter() - started > args.minutes * 60:
                print(f"stopped at the {args.minutes}-minute limit", flush=True)
                break
    finally:
        stories.assign = original  # type: ignore[assignment]
    total = time.perf_counter() - started
    cpu_total = time.process_time() - cpu_started

    with Session(engine) as session:
        rows = session.execute(
            select(Article.origin, Story.id).join(Story, Story.pk == Article.story_pk)
        ).all()
        counts: dict[str, int] = dict(
            session.execute(
                text(
                    "SELECT 'keys', count(*) FROM story_keys UNION ALL "
                    "SELECT 'terms', count(*) FROM story_terms UNION ALL "
                    "SELECT 'stories', count(*) FROM stories"
                )
            ).all()
        )
    by_origin = {origin: story for origin, story in rows}
    origins = [f"bench:{i}" for i in range(done)]
    precision, recall = pairwise(
        [by_origin[o] for o in origins], [corpus[i].story for i in range(done)]
    )
    summary = {
        "command": f".venv/bin/python -m bench.stories_scale --size {args.size}",
        "articles": done,
        "planted_stories": len({corpus[i].story for i in range(done)}),
        "found_stories": counts["stories"],
        "total_load_s": round(total, 1),
        "assign_total_s": round(sum(timings), 1),
        "assign_mean_ms": round(statistics.fmean(timings) * 1000, 2),
        "assign_cpu_total_s": round(sum(cpu), 1),
        "load_cpu_total_s": round(cpu_total, 1),
        "pairwise_precision": round(precision, 4),
        "pairwise_recall": round(recall, 4),
        "story_keys_rows": counts["keys"],
        "story_terms_rows": counts["terms"],
        "database_mb": round(database.stat().st_size / 1e6, 1),
        "windows": windows,
    }
    (args.out / "stories_scale.json").write_text(json.dumps(summary, indent=1))
    print(json.dumps({k: v for k, v in summary.items() if k != "windows"}, indent=1))


if __name__ == "__main__":
    main()
