"""Write parsed articles and their entities to the database: the only place records are written.

Helpers here flush and never commit: the caller's transaction decides. Rows are written a batch
at a time (one driver executemany each for new articles, mentions and names; entity counts
moved by the difference, never recounted), since a bulk load of a million files cannot afford
a unit-of-work flush per article nor a recount of every mention of a common entity per batch.
"""

from __future__ import annotations

import hashlib
import re
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, TypeVar

from sqlalchemy import Engine, delete, func, select
from sqlalchemy.orm import Session

from app.ingest import stories
from app.ingest.names import SOURCE_ARTICLE, SOURCE_SUFFIXES, lookup_key, source_key
from app.ingest.parse import ParsedArticle, name_case, source_name
from app.ingest.stories import driver_sql, raw_cursor
from app.models import Article, Entity, EntityName, Mention

if TYPE_CHECKING:  # spaCy loads slowly: only the extractor's users import it
    from app.ingest.entities import FoundEntity

CHUNK = 500  # values per IN (...) list: well under every driver's limit on parameters
_T = TypeVar("_T")


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
    # Counted where the item is made: in the reading processes of a bulk load, not the loader's.
    word_count: int = field(init=False)

    def __post_init__(self) -> None:
        self.word_count = len(self.parsed.body.split())
        self.url = self.url or self.parsed.url  # given apart (POST) or stated by the text


def stable_id(text: str) -> str:
    """Derive a short public id that a fresh database derives again from the same input."""
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def content_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# Words an outlet's name may or may not carry: "The Guardian" is "Guardian", "Reuters News" is
# "Reuters" when the corpus has both.
def source_spellings(name: str) -> set[str]:
    """The spellings of name that source_key folds to the same key and source_name may store."""
    bare = re.sub(rf"^{SOURCE_ARTICLE}\s+", "", name, flags=re.IGNORECASE)
    for suffix in sorted(SOURCE_SUFFIXES, key=len, reverse=True):
        if bare.lower().endswith(" " + suffix.lower()):
            bare = bare[: -len(suffix) - 1]
            break
    articles = ("", f"{SOURCE_ARTICLE} ")
    suffixes = ("", *(f" {suffix}" for suffix in SOURCE_SUFFIXES))
    forms = {f"{article}{bare}{suffix}" for article in articles for suffix in suffixes}
    return {spelt for f in forms for spelt in (f, name_case(f), f.upper(), f.lower())}


def chunks(items: Sequence[_T], size: int = CHUNK) -> Iterator[Sequence[_T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def known_hashes(session: Session, origins: Iterable[str]) -> dict[str, str]:
    """Map each already-loaded origin to its content hash."""
    known: dict[str, str] = {}
    for chunk in chunks(list(origins)):
        rows = session.execute(
            select(Article.origin, Article.content_hash).where(Article.origin.in_(chunk))
        )
        known.update((origin, digest) for origin, digest in rows)
    return known


def next_seq(session: Session) -> int:
    return (session.scalar(select(func.max(Article.seq))) or 0) + 1


# -- articles ------------------------------------------------------------------------------


def load_articles(
    session: Session, items: Sequence[Prepared], *, assign_stories: bool = True
) -> list[tuple[str, Outcome]]:
    """Insert new articles, update changed ones, skip unchanged ones; return (id, outcome) per
    item. Each written article gets a new seq, in item order, then its mentions (if extracted)
    and, with `assign_stories`, a story (app.ingest.stories), one article after the other.
    Without it, new and changed articles wait without a story for `stories.restory`."""
    known = known_hashes(session, [i.origin for i in items])
    planned: dict[str, Prepared] = {}  # origin -> the content to write (the last one wins)
    results = []
    for item in items:
        before = planned[item.origin].content_hash if item.origin in planned else None
        before = before or known.get(item.origin)
        if before == item.content_hash:
            results.append((stable_id(item.origin), Outcome.UNCHANGED))
            continue
        outcome = Outcome.LOADED if before is None else Outcome.UPDATED
        results.append((stable_id(item.origin), outcome))
        planned.pop(item.origin, None)  # re-inserted: its seq follows the latest content
        planned[item.origin] = item
    if planned:
        _write(session, list(planned.values()), known, assign_stories=assign_stories)
    return results


def _write(
    session: Session, items: list[Prepared], known: dict[str, str], *, assign_stories: bool
) -> None:
    settle_sources(session, items)
    now = datetime.now(UTC).replace(tzinfo=None)
    first = next_seq(session)
    seq = {item.origin: first + n for n, item in enumerate(items)}
    old = _articles(session, Article.origin, [i.origin for i in items if i.origin in known])
    touched_stories: set[int | None] = set()
    for item in (i for i in items if i.origin in known):
        article = old[item.origin]
        touched_stories.add(_refill(session, article, item, seq[item.origin], now, assign_stories))
    session.flush()
    pks = {origin: article.pk for origin, article in old.items()}
    pks |= _insert(session, [i for i in items if i.origin not in known], seq, now)
    found = {pks[i.origin]: i.entities for i in items if i.entities is not None}
    # An updated article's old offsets point into its old body: drop them even without entities.
    found |= {pks[i.origin]: [] for i in items if i.origin in old and i.entities is None}
    touched = replace_mentions(session, found)
    if assign_stories:
        touched_stories |= _assign(session, [pks[i.origin] for i in items])
    drop_unmentioned(session, touched)
    stories.refresh_stories(session, touched_stories)


def settle_sources(session: Session, items: Sequence[Prepared]) -> None:
    """Give each item's source the spelling the corpus has for it, so that "REUTERS",
    "Reuters News" and "Reuters" are one source."""
    spelling = settled_spellings(session, [item.parsed.source for item in items])
    for item in items:
        name = spelling.get(item.parsed.source or "")
        if name != item.parsed.source:
            item.parsed = replace(item.parsed, source=name)


def settled_spellings(session: Session, sources: Iterable[str | None]) -> dict[str, str | None]:
    """Map each source name as written to the one spelling it is stored under: a spelling the
    corpus already has for it (one source_name would give first, so "Reuters" over an older
    "REUTERS"), else its own source_name. Names in one batch settle on the first one."""
    names = {s: source_name(s) for s in dict.fromkeys(sources) if s}
    stored: set[str] = set()
    wanted = sorted({s for name in names.values() if name for s in source_spellings(name)})
    for chunk in chunks(wanted):
        query = select(Article.source).where(Article.source.in_(chunk)).distinct()
        stored.update(s for s in session.scalars(query) if s is not None)
    new = [name for name in dict.fromkeys(names.values()) if name and name not in stored]
    known: dict[str, str] = {}
    for spelt in sorted([*sorted(stored), *new], key=lambda s: (source_name(s) != s, s in new)):
        known.setdefault(source_key(spelt), spelt)
    return {raw: name and known[source_key(name)] for raw, name in names.items()}


def respell_sources(session: Session, sources: Sequence[tuple[int, str | None]]) -> None:
    """Store articles' sources (pk, source) under their settled spellings: a database loaded
    before sources were settled comes into line as `newscorpus extract` goes through it."""
    spelling = settled_spellings(session, [source for _, source in sources])
    changed = [(spelling[s], pk) for pk, s in sources if s and spelling[s] != s]
    if changed:
        raw_cursor(session).executemany(
            driver_sql(session, "UPDATE articles SET source = ? WHERE pk = ?"), changed
        )


def _refill(
    session: Session,
    article: Article,
    item: Prepared,
    seq: int,
    now: datetime,
    assign_stories: bool,
) -> int | None:
    """Give a changed article its new content; it leaves its story first, while it still has
    its old text. Return the story it left."""
    left = stories.detach(session, article)
    if not assign_stories:  # it waits for the later pass, like a new article
        article.story_pk = article.duplicate_of_pk = None
    for column, value in _row(item, seq, now).items():
        if column not in ("id", "origin"):
            setattr(article, column, value)
    return left


def _articles(session: Session, column: Any, values: list[Any]) -> dict[Any, Article]:
    """Load articles as ORM objects by a unique column, a chunk of values at a time."""
    found: dict[Any, Article] = {}
    for chunk in chunks(values):
        for article in session.scalars(select(Article).where(column.in_(chunk))):
            found[getattr(article, column.key)] = article
    return found


def _insert(
    session: Session, items: list[Prepared], seq: dict[str, int], now: datetime
) -> dict[str, int]:
    """Insert new articles with one executemany; map each origin to its pk."""
    if not items:
        return {}
    rows = [_row(i, seq[i.origin], now) | _identity(i, now) for i in items]
    # No RETURNING: SQLAlchemy sends rows with RETURNING one statement at a time when their
    # order must be kept. The seqs (unique, just assigned) find the pks instead.
    insert_rows(session, Article.__table__, rows)
    by_seq = {seq[i.origin]: i.origin for i in items}
    found = session.execute(
        select(Article.seq, Article.pk).where(Article.seq.between(min(by_seq), max(by_seq)))
    )
    return {by_seq[s]: pk for s, pk in found if s in by_seq}


def insert_rows(session: Session, table: Any, rows: list[dict[str, Any]]) -> None:
    """INSERT rows (dicts with the same keys) with one driver executemany. Each value goes
    through its column type's own bind processor, so it is stored exactly as the ORM would
    store it; SQLAlchemy's per-row parameter handling cost more than SQLite's insert."""
    if not rows:
        return
    dialect = session.get_bind().dialect
    names = list(rows[0])
    processors = [
        (name, _once_per_value(table.c[name].type.dialect_impl(dialect).bind_processor(dialect)))
        for name in names
    ]
    quoted = ", ".join(dialect.identifier_preparer.quote(name) for name in names)
    marks = ", ".join("?" * len(names))
    raw_cursor(session).executemany(
        driver_sql(session, f"INSERT INTO {table.name} ({quoted}) VALUES ({marks})"),
        [
            tuple(
                row[name] if process is None else process(row[name]) for name, process in processors
            )
            for row in rows
        ],
    )


def _once_per_value(process: Callable[[Any], Any] | None) -> Callable[[Any], Any] | None:
    """Wrap a bind processor to convert each distinct value once: the rows of a batch share
    their timestamps and most dates, and converting them cost more than inserting the row."""
    if process is None:
        return None
    done: dict[Any, Any] = {}

    def convert(value: Any) -> Any:
        key = (type(value), value)  # 1 and True are equal, but a JSON column writes them apart
        try:
            return done[key]
        except KeyError:
            done[key] = converted = process(value)
            return converted
        except TypeError:  # unhashable (a list for a JSON column): converted every time
            return process(value)

    return convert


def _identity(item: Prepared, now: datetime) -> dict[str, Any]:
    return {"id": stable_id(item.origin), "origin": item.origin, "ingested_at": now}


def _row(item: Prepared, seq: int, now: datetime) -> dict[str, Any]:
    parsed = item.parsed
    return {
        "title": parsed.title,
        "body": parsed.body,
        "source": parsed.source,
        "author": parsed.author,
        "published_at": parsed.published_at,
        "credits": list(parsed.credits),
        "photo_credit": parsed.photo_credit,
        "url": item.url,
        "content_hash": item.content_hash,
        "word_count": item.word_count,
        "updated_at": now,
        "seq": seq,
    }


def _assign(session: Session, pks: list[int]) -> set[int | None]:
    """Give each article a story, in order (each one's decision sees the ones before)."""
    articles = _articles(session, Article.pk, pks)
    return {stories.assign(session, articles[pk]).story_pk for pk in pks}


# -- entities ------------------------------------------------------------------------------


def replace_entities(session: Session, found: dict[int, list[FoundEntity]]) -> None:
    """Give a batch of articles (by pk) newly extracted entities, and new seqs so the index
    sees them."""
    rows = session.execute(
        select(Article.pk, Article.story_pk, Article.source)
        .where(Article.pk.in_(found))
        .order_by(Article.pk)
    ).all()
    touched = replace_mentions(session, {pk: found[pk] for pk, _, _ in rows})
    respell_sources(session, [(pk, source) for pk, _, source in rows])
    first = next_seq(session)
    # updated_at moves with seq: an article's page (and the corpus) changed now.
    column = Article.__table__.c.updated_at
    dialect = session.get_bind().dialect
    process = column.type.dialect_impl(dialect).bind_processor(dialect)
    now = datetime.now(UTC).replace(tzinfo=None)
    raw_cursor(session).executemany(
        driver_sql(session, "UPDATE articles SET seq = ?, updated_at = ? WHERE pk = ?"),
        [(first + n, process(now) if process else now, pk) for n, (pk, _, _) in enumerate(rows)],
    )
    drop_unmentioned(session, touched)
    # Stories keep their articles (`newscorpus restory` regroups with the new entities); only
    # their top entities are recounted.
    stories.refresh_stories(session, {story_pk for _, story_pk, _ in rows})


def replace_mentions(session: Session, found: Mapping[int, Sequence[FoundEntity]]) -> set[int]:
    """Swap the mentions of articles (by pk) for newly found ones and move the entity counts by
    the difference; return the entity pks touched (`drop_unmentioned` tidies them up)."""
    if not found:
        return set()
    pks = list(found)
    old_articles, old_mentions = _counts_of(session, pks)
    for chunk in chunks(pks):
        session.execute(delete(Mention).where(Mention.article_pk.in_(chunk)))
    entities = upsert_entities(session, [f for article in found.values() for f in article])
    rows = [
        (pk, entities[f.key], m.text[:512], m.start, m.end)
        for pk, article in found.items()
        for f in article
        for m in f.mentions
    ]
    raw_cursor(session).executemany(
        driver_sql(
            session,
            'INSERT INTO mentions (article_pk, entity_pk, text, start, "end") '
            "VALUES (?, ?, ?, ?, ?)",
        ),
        rows,
    )
    articles = Counter(entity for _, entity in {(row[0], row[1]) for row in rows})
    articles.subtract(old_articles)
    mentions = Counter(row[1] for row in rows)
    mentions.subtract(old_mentions)
    _move_counts(session, articles, mentions)
    session.expire_all()  # ORM copies of these articles and entities hold stale mentions, counts
    return set(old_articles) | set(entities.values())


def _counts_of(session: Session, pks: list[int]) -> tuple[Counter[int], Counter[int]]:
    """Count, per entity, the articles and the mentions among these articles' mentions."""
    articles: Counter[int] = Counter()
    mentions: Counter[int] = Counter()
    for chunk in chunks(pks):  # disjoint sets of articles: the distinct counts add up
        rows = session.execute(
            select(Mention.entity_pk, func.count(func.distinct(Mention.article_pk)), func.count())
            .where(Mention.article_pk.in_(chunk))
            .group_by(Mention.entity_pk)
        )
        for entity_pk, n_articles, n_mentions in rows:
            articles[entity_pk] += n_articles
            mentions[entity_pk] += n_mentions
    return articles, mentions


def _move_counts(session: Session, articles: Counter[int], mentions: Counter[int]) -> None:
    """Add the differences to the counts kept on the entity rows: a recount would read every
    mention of an entity named in a third of the corpus, once per batch."""
    moves = [
        (articles[pk], mentions[pk], pk)
        for pk in sorted(articles.keys() | mentions.keys())
        if articles[pk] or mentions[pk]
    ]
    raw_cursor(session).executemany(
        driver_sql(
            session,
            "UPDATE entities SET article_count = article_count + ?, "
            "mention_count = mention_count + ? WHERE pk = ?",
        ),
        moves,
    )


def upsert_entities(session: Session, found: Sequence[FoundEntity]) -> dict[str, int]:
    """Get or create the entity of each key (the first one found names it), record every name
    it goes by, and return the pk of each key."""
    first: dict[str, FoundEntity] = {}
    for f in found:
        first.setdefault(f.key, f)
    pks = _entity_pks(session, list(first))
    new = [f for key, f in first.items() if key not in pks]
    insert_rows(
        session,
        Entity.__table__,
        [
            {"id": stable_id(f.key), "key": f.key, "name": f.name, "type": f.type}
            | {"article_count": 0, "mention_count": 0}
            for f in new
        ],
    )
    pks |= _entity_pks(session, [f.key for f in new])
    names = sorted({(pks[f.key], name) for f in found for name in _names(f)})
    raw_cursor(session).executemany(
        driver_sql(
            session,
            "INSERT INTO entity_names (entity_pk, name, folded) VALUES (?, ?, ?) "
            "ON CONFLICT DO NOTHING",  # a name it already goes by
        ),
        [(pk, name, lookup_key(name)) for pk, name in names],
    )
    return pks


def _entity_pks(session: Session, keys: list[str]) -> dict[str, int]:
    pks: dict[str, int] = {}
    for chunk in chunks(keys):
        rows = session.execute(select(Entity.key, Entity.pk).where(Entity.key.in_(chunk)))
        pks.update((key, pk) for key, pk in rows)
    return pks


def _names(found: FoundEntity) -> set[str]:
    names = {found.name, *found.aliases, *(m.text for m in found.mentions)}
    return {n.strip()[:512] for n in names} - {""}


class StoredCorpus:
    """What the stored articles say of names, for linking (its `Stored`): read when asked,
    through one engine, leaving out the articles being extracted again (`excluding`: their
    old decisions must not vote for themselves)."""

    def __init__(self, engine: Engine, excluding: Collection[int] = ()) -> None:
        self.engine, self.excluding = engine, sorted(excluding)

    def type_counts(self, keys: Collection[str]) -> dict[str, int]:
        """How many stored articles name each entity key."""
        found: Counter[str] = Counter()
        with Session(self.engine) as session:
            for chunk in chunks(sorted(keys)):
                statement = select(Entity.key, Entity.article_count).where(Entity.key.in_(chunk))
                found.update({key: n for key, n in session.execute(statement)})
            for pks in chunks(self.excluding) if found else ():  # disjoint: counts add up
                statement = (
                    select(Entity.key, func.count(func.distinct(Mention.article_pk)))
                    .join(Mention, Mention.entity_pk == Entity.pk)
                    .where(Mention.article_pk.in_(pks))
                    .group_by(Entity.key)
                )
                found.subtract({k: n for k, n in session.execute(statement) if k in found})
        return {key: n for key, n in found.items() if n > 0}

    def people_called(self, names: Collection[str]) -> dict[str, set[str]]:
        """The stored people of two words or more that each one-word name was linked to."""
        by_folded = {lookup_key(name): name for name in names}
        people: dict[str, set[str]] = {}
        with Session(self.engine) as session:
            for chunk in chunks(sorted(by_folded)):
                statement = (
                    select(EntityName.folded, Entity.name)
                    .join(Entity, Entity.pk == EntityName.entity_pk)
                    .where(EntityName.folded.in_(chunk), Entity.type == "person")
                    .where(Entity.name.contains(" "))
                )
                for folded, name in session.execute(statement):
                    people.setdefault(by_folded[folded], set()).add(name)
        return people


def drop_unmentioned(session: Session, entity_pks: Iterable[int]) -> None:
    """Delete the entities no article mentions any more (after re-extraction or an update)."""
    for chunk in chunks(sorted(entity_pks)):
        session.execute(
            delete(Entity)
            .where(Entity.pk.in_(chunk), Entity.article_count <= 0)
            .execution_options(synchronize_session=False)
        )
