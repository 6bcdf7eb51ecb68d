"""Load the entities the corpus generator planted, through the app's own loader, without spaCy.

The generator records which pool names each article mentions (planted.tsv); here each name's
occurrences are found in the stored body and handed to `app.ingest.load.replace_entities` as
`FoundEntity` objects, exactly as `newscorpus extract` would hand over spaCy's. The benchmark
measures search with entity filters and facets, not the quality of extraction.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.db import write_session
from app.ingest.linking import FoundEntity, Mention
from app.ingest.load import replace_entities
from app.ingest.names import lookup_key
from app.ingest.pipeline import tune_for_bulk
from app.models import Article
from bench.corpus import planted

BATCH = 1000


def _found(body: str, names: list[tuple[str, str]]) -> list[FoundEntity]:
    found = []
    for entity_type, name in names:
        mentions, at = [], body.find(name)
        while at >= 0:
            mentions.append(Mention(text=name, start=at, end=at + len(name)))
            at = body.find(name, at + len(name))
        if mentions:
            found.append(
                FoundEntity(
                    name=name,
                    type=entity_type,  # type: ignore[arg-type]
                    key=f"{entity_type}:{lookup_key(name)}",
                    aliases=set(),
                    mentions=mentions,
                )
            )
    return found


def load_planted(
    engine: Engine, corpus: Path, *, on_progress: Callable[[int], None] = lambda n: None
) -> dict:
    """Give every article of the corpus its planted entities; return counts and timing."""
    by_origin = {f"file:{key}": names for key, names in planted(corpus)}
    started, done, mentions, last_pk = time.perf_counter(), 0, 0, 0
    while True:
        with Session(engine) as session:
            rows = session.execute(
                select(Article.pk, Article.origin, Article.body)
                .where(Article.pk > last_pk)
                .order_by(Article.pk)
                .limit(BATCH)
            ).all()
        if not rows:
            break
        found = {pk: _found(body, by_origin.get(origin, [])) for pk, origin, body in rows}
        with write_session(engine) as session:
            tune_for_bulk(session)
            replace_entities(session, found)
        done += len(rows)
        mentions += sum(len(f.mentions) for entities in found.values() for f in entities)
        last_pk = rows[-1].pk
        on_progress(len(rows))
    seconds = time.perf_counter() - started
    return {
        "articles": done,
        "mentions": mentions,
        "seconds": round(seconds, 2),
        "per_second": round(done / seconds, 1) if seconds else None,
    }
