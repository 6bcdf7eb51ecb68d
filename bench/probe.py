"""Where the engine's time goes: each search class through `TantivyIndex.search`, then its parts.

    .venv/bin/python -m bench.probe bench/out/data-100k
    .venv/bin/python -m bench.probe bench/out/data-100k --classes-only  # any version of app/
    .venv/bin/python -m bench.probe bench/out/data-100k --cpu  # on a busy machine

Read-only on a database and index that are already built (`bench.run` or `newscorpus ingest`).
Each variant runs in turn, request by request, and the median (ms) is printed. The classes only
use `TantivyIndex.search`, so an older checkout of app/ times the same requests ("before").
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

import tantivy
from sqlalchemy import select

from app.db import create_db_engine
from app.models import Article, Entity
from app.search.base import FACET_SIZE, ArticleQuery, EntityFilter
from app.search.tantivy_index import TantivyIndex

PAGE = 20
FACETS = ("person", "place", "org", "source")
TEXTS = {"rare": "expo", "common": "about", "phrase": '"prime minister"', "prefix": "stat*"}


CLOCK = time.perf_counter  # --cpu: time.thread_time, steadier on a busy machine


def median_ms(variants: dict[str, Callable[[], object]], rounds: int) -> dict[str, float]:
    times: dict[str, list[float]] = {name: [] for name in variants}
    for n in range(rounds + 5):
        for name, call in variants.items():
            started = CLOCK()
            call()
            if n >= 5:  # warm-up rounds
                times[name].append(CLOCK() - started)
    return {name: round(statistics.median(t) * 1000, 2) for name, t in times.items()}


def classes(index: TantivyIndex, source: str, person: str) -> dict[str, Callable[[], object]]:
    """One request of each class the API serves, as TantivyIndex.search sees it."""
    queries = {name: ArticleQuery(text=text, sort="relevance") for name, text in TEXTS.items()}
    queries["facets over 'about'"] = ArticleQuery(text="about", sort="relevance", facets=FACETS)
    people = (EntityFilter("person", (person,)),)
    queries["'about' + person"] = ArticleQuery(text="about", sort="relevance", entities=people)
    queries["one per story, 'about'"] = ArticleQuery(text="about", sort="relevance", dedupe=True)
    queries["listing by date"] = ArticleQuery()
    first = index.search(ArticleQuery())
    queries["listing, page 2"] = ArticleQuery(after=first.hits[-1].position)
    queries["listing of one source"] = ArticleQuery(sources=(source,))
    queries["'about' by date"] = ArticleQuery(text="about")
    return {name: (lambda q=q: index.search(q)) for name, q in queries.items()}


def parts(index: TantivyIndex, text: str) -> dict[str, Callable[[], object]]:
    """The pieces of a relevance search: top hits with and without the count, the count."""
    from app.search.query import FIELD_BOOSTS, build_query

    searcher = index.index.searcher()
    query = build_query(
        text, schema=index.schema, analyzer=index.analyzer, field_boosts=FIELD_BOOSTS
    )
    window = PAGE + 1 + 16
    return {
        "top hits and count": lambda: searcher.search(query, window, count=True),
        "top hits, no count": lambda: searcher.search(query, window, count=False),
        "count only": lambda: searcher.search(query, 1, count=True).count,
    }


def snippet_parts(index: TantivyIndex, text: str) -> dict[str, Callable[[], object]]:
    """Snippets for one page: from the whole body against windows around the first match."""
    from app.search import snippets as ti
    from app.search.query import FIELD_BOOSTS, highlights, parse, to_tantivy

    searcher = index.index.searcher()
    node = parse(text, analyzer=index.analyzer)
    query = to_tantivy(node, schema=index.schema, field_boosts=FIELD_BOOSTS)  # type: ignore[arg-type]
    addresses = [address for _, address in searcher.search(query, PAGE).hits]
    terms = highlights(node)

    def generator() -> tuple[tantivy.SnippetGenerator, list[str]]:
        words = index._snippet_words(searcher, terms)
        should = [
            (tantivy.Occur.Should, tantivy.Query.term_query(index.schema, "body", w)) for w in words
        ]
        snippets = tantivy.SnippetGenerator.create(
            searcher, tantivy.Query.boolean_query(should), index.schema, "body"
        )
        snippets.set_max_num_chars(ti.SNIPPET_CHARS)
        return snippets, words

    def whole() -> object:
        snippets, _ = generator()
        return [ti.marked(snippets.snippet_from_doc(searcher.doc(a))) for a in addresses]

    def windowed(size: int) -> object:
        default, ti.SNIPPET_WINDOW = ti.SNIPPET_WINDOW, size
        snippets, words = generator()
        first_match = ti.FirstMatch(terms, set(words), index.analyzer)
        bodies = (searcher.doc(a).get_first("body") for a in addresses)
        marked = [ti.marked(ti.snippet_of(snippets, body, first_match)) for body in bodies]
        ti.SNIPPET_WINDOW = default
        return marked

    variants: dict[str, Callable[[], object]] = {"whole body": whole}
    for size in (1000, 480):
        variants[f"window {size}"] = lambda size=size: windowed(size)
    return variants


def facet_parts(index: TantivyIndex, text: str) -> dict[str, Callable[[], object]]:
    """Facets over the whole match set against the sample the index would use."""

    searcher = index.index.searcher()
    _, _, matching = index._matching(ArticleQuery(text=text))
    matches = index._count(searcher, matching)
    request = {name: {"terms": {"field": name, "size": FACET_SIZE}} for name in FACETS}
    variants: dict[str, Callable[[], object]] = {
        f"exact ({matches} matches)": lambda: searcher.aggregate(matching, request)
    }
    for level in (2, 4, 6):
        sample = tantivy.Query.term_query(index.schema, "sample", level)
        sampled = index._and([matching, sample])
        variants[f"sample 1/{2**level}"] = lambda s=sampled: searcher.aggregate(s, request)
    return variants


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("data", type=Path, help="a directory with newscorpus.db and the index")
    parser.add_argument("--index", default="index", help="the index directory's name in it")
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--classes-only", action="store_true")
    parser.add_argument("--cpu", action="store_true", help="CPU time of the thread, not wall")
    args = parser.parse_args()
    if args.cpu:
        global CLOCK
        CLOCK = time.thread_time
    engine = create_db_engine(f"sqlite:///{args.data / 'newscorpus.db'}")
    index = TantivyIndex(args.data / args.index, engine)
    with engine.connect() as connection:
        source = connection.scalar(select(Article.source).where(Article.source.is_not(None)))
        person = connection.scalar(  # the 20th most mentioned: as the benchmark's popular ones
            select(Entity.id)
            .where(Entity.type == "person")
            .order_by(Entity.article_count.desc())
            .offset(19)
        )
    for name, ms in median_ms(classes(index, source, person), args.rounds).items():
        print(f"{name:28} {ms:7.2f} ms")
    if args.classes_only:
        return
    for text in TEXTS.values():
        print(f"parts, q={text}: {median_ms(parts(index, text), args.rounds)}")
        print(f"snippets, q={text}: {median_ms(snippet_parts(index, text), args.rounds)}")
    print(f"facets, q=about: {median_ms(facet_parts(index, 'about'), args.rounds)}")


if __name__ == "__main__":
    main()
