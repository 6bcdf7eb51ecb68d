"""Where the engine's and the handler's time goes: the variants behind docs/PERFORMANCE.md.

    .venv/bin/python -m bench.probe bench/out/data-100k

Read-only on a database and index that `bench.run` prepared. Each variant runs in turn, request
by request, and the median is printed: what the proposed fixes in app/ would save.
"""

from __future__ import annotations

import argparse
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import tantivy
from sqlalchemy import select
from sqlalchemy.orm import Session

from app.db import create_db_engine
from app.models import Article
from app.search.base import ArticleQuery
from app.search.query import FIELD_BOOSTS, build_query
from app.search.tantivy_index import DAY_SHIFT, SNIPPET_CHARS, TantivyIndex, _marked

PAGE = 20
SNIPPET_WINDOW = 2000


def median_ms(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for n in range(rounds + 10):
        for name, call in variants.items():
            started = time.perf_counter()
            call()
            if n >= 10:
                times[name].append(time.perf_counter() - started)
    return {name: round(statistics.median(t) * 1000, 2) for name, t in times.items()}


def engine_variants(index: TantivyIndex, text: str) -> dict[str, Callable[[], object]]:
    searcher = index.index.searcher()
    query = build_query(
        text, schema=index.schema, analyzer=index.analyzer, field_boosts=FIELD_BOOSTS
    )
    mask = (1 << DAY_SHIFT) - 1

    def page() -> tuple[list[int], list]:  # type: ignore[type-arg]
        hits = searcher.search(query, PAGE + 1 + 16, count=True).hits
        addresses = [address for _, address in hits][:PAGE]
        keys = searcher.fast_field_values("sort_key", addresses)
        return [key & mask for key in keys], addresses

    def generator() -> tantivy.SnippetGenerator:
        snippets = tantivy.SnippetGenerator.create(searcher, query, index.schema, "body")
        snippets.set_max_num_chars(SNIPPET_CHARS)
        return snippets

    def one_load() -> object:
        pks, addresses = page()
        snippets = generator()
        return pks, [_marked(snippets.snippet_from_doc(searcher.doc(a))) for a in addresses]

    def window() -> object:
        pks, addresses = page()
        snippets = generator()
        out = []
        for address in addresses:
            body = searcher.doc(address)["body"][0]
            snippet = snippets.snippet_from_doc(tantivy.Document(body=body[:SNIPPET_WINDOW]))
            if not snippet.highlighted():  # no match near the top: the whole body after all
                snippet = snippets.snippet_from_doc(tantivy.Document(body=body))
            out.append(_marked(snippet))
        return pks, out

    return {
        "search() today": lambda: index.search(ArticleQuery(text=text, sort="relevance")),
        "pks from sort_key, one doc load per hit": one_load,
        f"the same, snippet from the first {SNIPPET_WINDOW} chars": window,
        "top 20 and pks, no snippets": page,
    }


def fetch_variants(engine, sample: list[tuple[int, str]]) -> dict[str, Callable[[], object]]:  # type: ignore[no-untyped-def]
    ids = [article_id for _, article_id in sample]
    pks = [pk for pk, _ in sample]
    columns = (
        Article.id,
        Article.title,
        Article.source,
        Article.author,
        Article.published_at,
        Article.word_count,
    )

    def orm() -> object:
        with Session(engine) as session:
            rows = session.scalars(select(Article).where(Article.id.in_(ids)))
            return [(a.title, a.body[:200]) for a in rows]

    def core_body() -> object:
        with engine.connect() as connection:
            return connection.execute(
                select(*columns, Article.body).where(Article.id.in_(ids))
            ).all()

    def core_no_body() -> object:
        with engine.connect() as connection:
            return connection.execute(select(*columns).where(Article.pk.in_(pks))).all()

    return {
        "ORM rows by id (today)": orm,
        "summary columns and body by id": core_body,
        "summary columns by pk, no body": core_no_body,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a bench/out/data-<size> directory")
    parser.add_argument("--rounds", type=int, default=100)
    args = parser.parse_args()
    engine = create_db_engine(f"sqlite:///{args.data / 'newscorpus.db'}")
    index = TantivyIndex(args.data / "index", engine)
    for text in ("about", "expo", '"prime minister"', "stat*"):
        print(f"engine, q={text}: {median_ms(engine_variants(index, text), args.rounds)}")
    with engine.connect() as connection:
        every = connection.execute(select(Article.pk, Article.id).where(Article.pk % 97 == 0)).all()
    sample = [tuple(row) for row in random.Random(1).sample(every, PAGE)]
    print(f"20 summaries: {median_ms(fetch_variants(engine, sample), args.rounds)}")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
