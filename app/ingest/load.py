"""Write parsed articles and their entities to the database: the only place records are written.

Helpers here flush and never commit: the caller's transaction decides.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from app.ingest import stories
from app.ingest.parse import ParsedArticle
from app.models import Article, Entity, EntityName, Mention

if TYPE_CHECKING:  # spaCy loads slowly: only the extractor's users import it
    from app.ingest.entities import FoundEntity


class Outcome(StrEnum):
    LOADED = "loaded"
    UPDATED = "updated"
    UNCHANGED = "unchanged"


@dataclass
class Prepared:
    """One article ready to load: where it came from, what it says, what it mentions."""

    origin: str
    parsed: ParsedArticle
    content_hash: str
    url: str | None = None
    entities: list[FoundEntity] | None = None  # None: extraction not run (bulk load)


def stable_id(text: str) -> str:
    """Derive a short public id that a fresh database derives again from the same input."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def fold(name: str) -> str:
    """Fold a name for lookup: case, spacing and a leading "the" do not matter."""
    words = name.casefold().split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


def known_hashes(session: Session, origins: Iterable[str]) -> dict[str, str]:
    """Map each already-loaded origin to its content hash."""
    rows = session.execute(
        select(Article.origin, Article.content_hash).where(Article.origin.in_(list(origins)))
    )
    return {origin: digest for origin, digest in rows}


def load_articles(session: Session, items: Sequence[Prepared]) -> list[tuple[Article, Outcome]]:
    """Insert new articles, update changed ones, skip unchanged ones; give each a new seq and
    a story (app.ingest.stories), one article after the other, in order."""
    existing = {
        a.origin: a
        for a in session.scalars(
            select(Article).where(Article.origin.in_([i.origin for i in items]))
        )
    }
    next_seq = (session.scalar(select(func.max(Article.seq))) or 0) + 1
    now = datetime.now(UTC).replace(tzinfo=None)
    touched: set[int] = set()
    touched_stories: set[int | None] = set()
    results = []
    for item in items:
        article = existing.get(item.origin)
        if article is not None and article.content_hash == item.content_hash:
            results.append((article, Outcome.UNCHANGED))
            continue
        outcome = Outcome.UPDATED if article is not None else Outcome.LOADED
        if article is None:
            article = Article(id=stable_id(item.origin), origin=item.origin, ingested_at=now)
            session.add(article)
            existing[item.origin] = article
        else:  # out of its story while it still has its old text and mentions
            touched_stories.add(stories.detach(session, article))
        _fill(article, item, seq=next_seq, now=now)
        next_seq += 1
        session.flush()
        if item.entities is not None:
            touched |= replace_mentions(session, article, item.entities)
        elif outcome is Outcome.UPDATED:  # old offsets point into the old body: drop them
            touched |= replace_mentions(session, article, [])
        touched_stories.add(stories.assign(session, article).story_pk)
        results.append((article, outcome))
    refresh_entity_counts(session, touched)
    stories.refresh_stories(session, touched_stories)
    return results


def _fill(article: Article, item: Prepared, *, seq: int, now: datetime) -> None:
    parsed = item.parsed
    article.title = parsed.title
    article.body = parsed.body
    article.source = parsed.source
    article.author = parsed.author
    article.published_at = parsed.published_at
    article.credits = list(parsed.credits)
    article.photo_credit = parsed.photo_credit
    article.url = item.url
    article.content_hash = item.content_hash
    article.word_count = len(parsed.body.split())
    article.updated_at = now
    article.seq = seq


def replace_entities(session: Session, found: dict[int, list[FoundEntity]]) -> None:
    """Give articles (by pk) newly extracted entities, and new seqs so the index sees them."""
    next_seq = (session.scalar(select(func.max(Article.seq))) or 0) + 1
    touched: set[int] = set()
    touched_stories: set[int | None] = set()
    for article in session.scalars(
        select(Article).where(Article.pk.in_(found)).order_by(Article.pk)
    ):
        touched |= replace_mentions(session, article, found[article.pk])
        touched_stories.add(article.story_pk)
        article.seq = next_seq
        next_seq += 1
    refresh_entity_counts(session, touched)
    # Stories keep their articles (`newscorpus restory` regroups with the new entities); only
    # their top entities are recounted.
    stories.refresh_stories(session, touched_stories)


def replace_mentions(session: Session, article: Article, found: Sequence[FoundEntity]) -> set[int]:
    """Swap an article's mentions for newly found ones; return the entity pks whose counts moved."""
    before = set(session.scalars(select(Mention.entity_pk).where(Mention.article_pk == article.pk)))
    session.execute(delete(Mention).where(Mention.article_pk == article.pk))
    entities = upsert_entities(session, found)
    session.add_all(
        Mention(
            article_pk=article.pk,
            entity_pk=entities[f.key].pk,
            text=m.text[:512],
            start=m.start,
            end=m.end,
        )
        for f in found
        for m in f.mentions
    )
    session.flush()
    session.expire(article, ["mentions"])
    return before | {e.pk for e in entities.values()}


def upsert_entities(session: Session, found: Sequence[FoundEntity]) -> dict[str, Entity]:
    """Get or create the entity of each key, and record every name it goes by."""
    keys = {f.key for f in found}
    entities = {e.key: e for e in session.scalars(select(Entity).where(Entity.key.in_(keys)))}
    for f in found:
        entity = entities.get(f.key)
        if entity is None:
            entity = Entity(id=stable_id(f.key), key=f.key, name=f.name, type=f.type)
            session.add(entity)
            entities[f.key] = entity
        _add_names(entity, {f.name, *f.aliases, *(m.text for m in f.mentions)})
    session.flush()
    return entities


def _add_names(entity: Entity, names: Iterable[str]) -> None:
    have = {n.name for n in entity.names}
    for name in sorted(n.strip()[:512] for n in names):
        if name and name not in have:
            entity.names.append(EntityName(name=name, folded=fold(name)))
            have.add(name)


def refresh_entity_counts(session: Session, entity_pks: set[int]) -> None:
    """Recount articles and mentions of the given entities (kept on the row for fast listing)."""
    if not entity_pks:
        return
    articles = (
        select(func.count(func.distinct(Mention.article_pk)))
        .where(Mention.entity_pk == Entity.pk)
        .scalar_subquery()
    )
    mentions = select(func.count()).where(Mention.entity_pk == Entity.pk).scalar_subquery()
    session.execute(
        update(Entity)
        .where(Entity.pk.in_(entity_pks))
        .values(article_count=articles, mention_count=mentions)
        .execution_options(synchronize_session=False)
    )
    # An entity no article mentions any more (after re-extraction) is gone.
    session.execute(
        delete(Entity)
        .where(Entity.pk.in_(entity_pks), Entity.article_count == 0)
        .execution_options(synchronize_session=False)
    )
