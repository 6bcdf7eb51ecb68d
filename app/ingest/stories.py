"""Stories: group the articles that report the same event, and flag near-duplicates.

Called by the loader inside its transaction (helpers here flush, never commit). How an article
finds its story:

1. Features (pure functions of the text): stemmed content words, title words counted twice, and
   the entities named in its body, weighted TF-IDF against the document frequencies of the
   articles assigned so far, cut to the top VECTOR_TERMS and L2-normalised; and a MinHash
   signature of its word shingles.
2. Candidates, sub-linear: the `story_keys` table holds, for each assigned article, rows for its
   STORED_KEYS most salient features and its MinHash bands. A new article reads the rows of its
   features (at most POSTINGS_PER_KEY per key, within STORY_GAP_DAYS of its date or undated) and
   keeps the CANDIDATES articles that share the most keys. The work per article is bounded by
   these caps and a few B-tree lookups, whatever the size of the corpus.
3. Decision: a candidate whose signature agrees on at least DUPLICATE_JACCARD of its hashes is
   the same copy republished: the article is flagged `duplicate_of` it and joins its story.
   Otherwise each candidate story scores the best cosine between the article and its members;
   the best story at JOIN_SIMILARITY or more wins, if it is also close to the story's own
   tightness (COHESION times the mean similarity with which its articles joined: an article much
   looser than the story's members reports a neighbouring event, the same place on another day),
   and if the dates allow it: a dated article joins a story with dated articles only within
   STORY_GAP_DAYS of the story's span. An unknown date neither joins nor separates. Failing that
   the article starts a story, whose id derives from the article's id.

The state lives in the database (features, keys, document frequencies), so it survives restarts
and several processes share it. Hashes are blake2b, never Python's salted hash(). Like any
incremental clustering the result depends on the order articles arrive: the same files in the
same order give the same stories, and `restory` replays pk order, which is ingest order.
"""

from __future__ import annotations

import functools
import hashlib
import math
import re
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from typing import Any, Literal

import numpy as np
from sqlalchemy import Engine, delete, event, exists, func, insert, select, update
from sqlalchemy.orm import Session

from app.db import refresh_statistics, write_session
from app.models import (
    Article,
    ArticleFeatures,
    Mention,
    Story,
    StoryEntity,
    StoryKey,
    StoryTerm,
)

# -- tuning (measured on tests/data/stories: see tests/ingest/test_stories.py) ---------------
JOIN_SIMILARITY = 0.20  # cosine of TF-IDF vectors to join a story
MIN_SHARED = 3  # ... over at least this many shared features: two words are a coincidence
COHESION = 0.7  # ... and at least this share of the story's mean link (its tightness)
MIN_LINKS = 2  # links a story needs before its tightness counts
DUPLICATE_JACCARD = 0.80  # shingle Jaccard for "the same copy republished"
SUSPECT_JACCARD = 0.60  # MinHash estimate (sd ~0.06) above which the exact Jaccard is checked
STORY_GAP_DAYS = 3  # a dated article joins a story at most this far outside its dates
ENTITY_WEIGHT = 0.5  # an entity mention counts half a word (words already carry the name)
VECTOR_TERMS = 64  # features kept per article for scoring
STORED_KEYS = 12  # features per article filed in the candidate index
QUERY_KEYS = 64  # features of a new article looked up in the candidate index
POSTINGS_PER_KEY = 40  # index rows read per key and date range: bounds the work per article
CANDIDATES = 30  # articles scored in full per new article
SHINGLE_WORDS = 5
BANDS, ROWS = 16, 4  # MinHash: 64 hashes in 16 bands of 4 (P(candidate | J=0.8) > 0.999)
RELATED_WINDOW_DAYS = 30  # related articles are looked for this far from the article's date
RELATED_MIN_SCORE = 0.08  # weaker text links are noise, not related articles

TOTAL_KEY = 0  # the story_terms row counting the assigned articles
MAX_COMPOUND = 200  # sub-selects per statement (SQLite allows 500 in a compound select)
INSERT_ROWS = 500  # rows per multi-row INSERT (under SQLite's 32,766 parameters at three a row)
_WORD = re.compile(r"\w+")

# Function words and reporting verbs: they say nothing about which event an article reports.
_STOP_WORDS = """a about above after again against all almost also although always am among an and
any are around as at be because been before being below between both but by can could did do
does doing down during each either else ever every few for from further had has have having he her
here hers herself him himself his how however i if in into is it its itself just least less let
like may me might more most much must my myself neither no nor not now of off often on once only
or other others our ours ourselves out over own per perhaps rather same shall she should since so
some such than that the their theirs them themselves then there these they this those though
through thus to too under until up upon us very via was we were what when where whether which
while who whom whose why will with within without would yet you your yours yourself yourselves
said say says saying told tell tells according added adding reported reports mr mrs ms one two
three also year years day days week weeks month months today yesterday tomorrow monday tuesday
wednesday thursday friday saturday sunday""".split()  # noqa: SIM905


@functools.cache
def _analyzer():  # type: ignore[no-untyped-def]
    from app.search.query import english_analyzer  # the index's own stemmer: same words, same stems

    return english_analyzer()


@functools.cache
def _stop_stems() -> frozenset[str]:
    return frozenset(stem for word in _STOP_WORDS for stem in _analyzer().analyze(word))


# -- pure features -------------------------------------------------------------------------


def key_of(feature: str | bytes) -> int:
    """Hash a feature to a signed 64-bit key, the same in every process (blake2b, unsalted)."""
    return _key_of_word(feature) if isinstance(feature, str) else _hash_key(feature)


@functools.lru_cache(maxsize=1 << 18)
def _key_of_word(feature: str) -> int:
    # Words and entities recur from article to article: each is hashed about once per run.
    return _hash_key(feature.encode())


def _hash_key(data: bytes) -> int:
    value = int.from_bytes(hashlib.blake2b(data, digest_size=8).digest(), "big", signed=True)
    return value if value != TOTAL_KEY else 1


def words(title: str | None, body: str) -> Counter[str]:
    """Count the stemmed content words of an article; title words count twice."""
    stop = _stop_stems()
    counts: Counter[str] = Counter()
    for part, times in ((body, 1), (title or "", 2)):
        for stem in _analyzer().analyze(part):
            if len(stem) > 1 and not stem.isdigit() and stem not in stop:
                counts[stem] += times
    return counts


def feature_weights(terms: Counter[str], entities: dict[str, int]) -> dict[str, float]:
    """Give each feature its term-frequency weight; entities become "e:<id>" features."""
    weights = {term: 1.0 + math.log(n) for term, n in terms.items()}
    for entity_id, n in entities.items():
        weights[f"e:{entity_id}"] = ENTITY_WEIGHT * (1.0 + math.log(n))
    return weights


def idf(df: int, total: int) -> float:
    """Smoothed inverse document frequency: never zero, so a corpus of one story still works."""
    return math.log((total + 1) / (df + 1)) + 1.0


def tfidf_vector(weights: dict[str, float], df: dict[str, int], total: int) -> dict[str, float]:
    """Weight features by rarity, keep the top VECTOR_TERMS and scale to unit length."""
    scored = {f: w * idf(df.get(f, 1), total) for f, w in weights.items()}
    top = sorted(scored.items(), key=lambda item: (-item[1], item[0]))[:VECTOR_TERMS]
    norm = math.sqrt(sum(w * w for _, w in top)) or 1.0
    return {f: round(w / norm, 6) for f, w in top}


def cosine(a: dict[str, float], b: dict[str, float]) -> float:
    if len(b) < len(a):
        a, b = b, a
    return sum(w * b.get(f, 0.0) for f, w in a.items())


def shingles(body: str) -> np.ndarray:
    """Hash each run of SHINGLE_WORDS words (case-folded) to 64 bits."""
    tokens = _WORD.findall(body.casefold())
    grams = (
        {" ".join(tokens[i : i + SHINGLE_WORDS]) for i in range(len(tokens) - SHINGLE_WORDS + 1)}
        if len(tokens) >= SHINGLE_WORDS
        else ({" ".join(tokens)} if tokens else set())
    )
    return np.array(
        sorted(
            int.from_bytes(hashlib.blake2b(g.encode(), digest_size=8).digest(), "big")
            for g in grams
        ),
        dtype=np.uint64,
    )


@functools.cache
def _permutations() -> tuple[np.ndarray, np.ndarray]:
    """Fixed hash functions, derived from their index: the same in every version and process."""

    def number(label: str) -> int:
        return int.from_bytes(hashlib.blake2b(label.encode(), digest_size=8).digest(), "big")

    count = BANDS * ROWS
    a = np.array([number(f"a{i}") | 1 for i in range(count)], dtype=np.uint64)
    b = np.array([number(f"b{i}") for i in range(count)], dtype=np.uint64)
    return a, b


def minhash(hashes: np.ndarray) -> np.ndarray:
    """MinHash signature of a set of 64-bit hashes, by multiply-shift hashing: the high 32 bits
    of a*x + b mod 2**64 (numpy's uint64 arithmetic wraps, which is the mod)."""
    a, b = _permutations()
    if hashes.size == 0:
        return np.full(BANDS * ROWS, 0xFFFFFFFF, dtype=np.uint32)
    values = (a[:, None] * hashes[None, :] + b[:, None]) >> np.uint64(32)
    return values.min(axis=1).astype(np.uint32)


def band_keys(signature: np.ndarray) -> list[int]:
    """One candidate key per band: articles sharing a band are likely near-duplicates."""
    return [
        key_of(b"band%d:" % band + signature[band * ROWS : (band + 1) * ROWS].tobytes())
        for band in range(BANDS)
    ]


def jaccard(a: bytes, b: bytes) -> float:
    """Estimate shingle-set Jaccard similarity from two stored signatures."""
    x, y = np.frombuffer(a, dtype=np.uint32), np.frombuffer(b, dtype=np.uint32)
    if x.shape != y.shape or (x == 0xFFFFFFFF).all():
        return 0.0
    return float((x == y).mean())


def day_of(published: date | None) -> int:
    return published.toordinal() if published else 0


def cut_excerpt(body: str, limit: int = 200) -> str:
    """The start of a body, cut at a word boundary (a story without any headline shows it)."""
    if len(body) <= limit:
        return body
    cut = body[:limit].rsplit(maxsplit=1)[0] if " " in body[:limit] else body[:limit]
    return cut.rstrip(" ,;:-") + "…"


# -- the database side ---------------------------------------------------------------------


@dataclass
class _Candidate:
    pk: int
    vector: dict[str, float]
    signature: bytes
    day: int
    story_pk: int | None
    duplicate_of_pk: int | None
    hits: int = 0


@dataclass
class Decision:
    """Where an article went and why (tests and the bench read it)."""

    story_pk: int
    score: float | None  # similarity with which it joined; None: started it, or a copy
    duplicate_of_pk: int | None = None
    candidates: int = 0


def body_entities(session: Session, article_pk: int) -> dict[str, int]:
    """Map each entity the article names in its body (not byline or source) to its mentions."""
    cursor = raw_cursor(session)
    cursor.execute(
        driver_sql(
            session,
            "SELECT e.id, count(*) FROM mentions m JOIN entities e ON e.pk = m.entity_pk "
            "WHERE m.article_pk = ? AND m.start IS NOT NULL GROUP BY e.id",
        ),
        (article_pk,),
    )
    return dict(cursor.fetchall())


def assign(session: Session, article: Article) -> Decision:
    """Put an article (flushed, with its mentions) in a story: a near-copy's, a similar one's,
    or a new one. Files its features so later articles can find it."""
    entities = body_entities(session, article.pk)
    weights = feature_weights(words(article.title, article.body), entities)
    df, total = _count_in(session, weights)
    vector = tfidf_vector(weights, df, total)
    signature = minhash(shingles(article.body))
    bands = band_keys(signature)
    day = day_of(article.published_at)

    ranked = sorted(weights, key=lambda f: (-vector.get(f, 0.0), -weights[f], f))
    candidates = _find_candidates(
        session, [key_of(f) for f in ranked[:QUERY_KEYS]], bands, day, STORY_GAP_DAYS
    )
    decision = _decide(session, article, vector, signature, day, candidates)

    stored = [key_of(f) for f in list(vector)[:STORED_KEYS]] + bands
    session.add(
        ArticleFeatures(
            article_pk=article.pk,
            vector=vector,
            entities=sorted(entities),
            keys=stored,
            signature=signature.tobytes(),
            day=day,
            link=decision.score,
        )
    )
    # Idempotent: a row left by an interrupted run is the same row.
    insert_rows(
        session,
        "INSERT INTO story_keys (key, day, article_pk) VALUES {rows} ON CONFLICT DO NOTHING",
        [(k, day, article.pk) for k in sorted(set(stored))],
    )
    article.story_pk = decision.story_pk
    article.duplicate_of_pk = decision.duplicate_of_pk
    session.flush()
    return decision


def _count_in(session: Session, weights: dict[str, float]) -> tuple[dict[str, int], int]:
    """Count the article in the document frequencies; return them, and the article total."""
    keys = {key_of(f): f for f in weights}
    counted = _add_df(session, [*keys, TOTAL_KEY], +1)
    return {keys[key]: counted[key] for key in keys}, counted[TOTAL_KEY]


# Document frequencies change by one for each of an article's few hundred keys: a statement
# per key cost PostgreSQL about 5 ms an article. A transaction keeps the frequencies it has
# read and its changes to them (`session.info`) and writes the changes as increments when it
# commits, so concurrent transactions still add up.
_FREQUENCIES = "story_frequencies"


def _add_df(session: Session, keys: Sequence[int], delta: int) -> dict[int, int]:
    """Add `delta` to the keys' document frequencies; return them as they now are."""
    known, changes = session.info.setdefault(_FREQUENCIES, ({}, Counter()))
    keys = list(dict.fromkeys(keys))
    if missing := [key for key in keys if key not in known]:
        known.update(dict.fromkeys(missing, 0))
        cursor = raw_cursor(session)
        for start in range(0, len(missing), INSERT_ROWS):
            chunk = missing[start : start + INSERT_ROWS]
            marks = ", ".join("?" * len(chunk))
            cursor.execute(
                driver_sql(session, f"SELECT key, df FROM story_terms WHERE key IN ({marks})"),
                chunk,
            )
            known.update(cursor.fetchall())
    for key in keys:
        known[key] += delta
        changes[key] += delta
    return known


@event.listens_for(Session, "before_commit")
def _write_frequencies(session: Session) -> None:
    if (kept := session.info.pop(_FREQUENCIES, None)) is None:
        return  # no story assigned: every other commit passes by here
    changes = kept[1]
    added = sorted((key, n) for key, n in changes.items() if n > 0)
    insert_rows(
        session,
        "INSERT INTO story_terms (key, df) VALUES {rows} "
        "ON CONFLICT (key) DO UPDATE SET df = story_terms.df + excluded.df",
        added,
    )
    if taken := sorted((n, key) for key, n in changes.items() if n < 0):
        decrement = "UPDATE story_terms SET df = df + ? WHERE key = ?"
        raw_cursor(session).executemany(driver_sql(session, decrement), taken)


@event.listens_for(Session, "after_rollback")
def _forget_frequencies(session: Session) -> None:
    session.info.pop(_FREQUENCIES, None)


def insert_rows(
    session: Session, statement: str, rows: Sequence[tuple[Any, ...]]
) -> list[tuple[Any, ...]]:
    """Run an INSERT for many rows as a few multi-row statements (`{rows}` stands for their
    VALUES), returning what it returns. PostgreSQL runs a statement per row, even pipelined,
    at several times the cost of one statement for 500 rows; SQLite does not mind either."""
    if not rows:
        return []
    returned: list[tuple[Any, ...]] = []
    cursor = raw_cursor(session)
    for start in range(0, len(rows), INSERT_ROWS):
        chunk = rows[start : start + INSERT_ROWS]
        row = "(" + ", ".join("?" * len(chunk[0])) + ")"
        sql = statement.format(rows=", ".join([row] * len(chunk)))
        cursor.execute(driver_sql(session, sql), [value for values in chunk for value in values])
        if cursor.description is not None:
            returned += cursor.fetchall()
    return returned


# The hot statements go to the driver as plain SQL: building them through SQLAlchemy costs more
# than running them. SQLite and PostgreSQL both spell ON CONFLICT this way; only the parameter
# marker differs.


def raw_cursor(session: Session):  # type: ignore[no-untyped-def]
    """A DB-API cursor on the session's connection (inside its transaction)."""
    session.flush()
    return session.connection().connection.cursor()


def driver_sql(session: Session, statement: str) -> str:
    if session.get_bind().dialect.paramstyle in ("format", "pyformat"):
        return statement.replace("?", "%s")
    return statement


_LIMIT = f"LIMIT {POSTINGS_PER_KEY}"
_IN_WINDOW = (
    "SELECT article_pk, 0 AS band FROM story_keys WHERE key = ? AND day BETWEEN ? AND ? "
    f"ORDER BY day DESC, article_pk DESC {_LIMIT}"
)
_UNDATED = (
    "SELECT article_pk, 0 AS band FROM story_keys WHERE key = ? AND day = 0 "
    f"ORDER BY article_pk DESC {_LIMIT}"
)
_ANY_DAY = (
    "SELECT article_pk, 0 AS band FROM story_keys WHERE key = ? "
    f"ORDER BY day DESC, article_pk DESC {_LIMIT}"
)
_BAND = (
    "SELECT article_pk, 1 AS band FROM story_keys WHERE key = ? "
    f"ORDER BY day DESC, article_pk DESC {_LIMIT}"
)


def _find_candidates(
    session: Session,
    keys: Sequence[int],
    bands: Sequence[int],
    day: int,
    window: int | None,
    *,
    exclude: int | None = None,
) -> list[_Candidate]:
    """Read a bounded number of index rows per key and keep the articles sharing most keys."""
    windowed = bool(day) and window is not None
    parts: list[tuple[str, tuple[int, ...]]] = []
    for key in dict.fromkeys(keys):
        if windowed:
            parts.append((_IN_WINDOW, (key, day - window, day + window)))  # type: ignore[operator]
            parts.append((_UNDATED, (key,)))
        else:
            parts.append((_ANY_DAY, (key,)))
    for key in dict.fromkeys(bands):  # copies can be republished any day later
        parts.append((_BAND, (key,)))
    hits: Counter[int] = Counter()
    band_hits: set[int] = set()
    cursor = raw_cursor(session)
    for start in range(0, len(parts), MAX_COMPOUND):
        chunk = parts[start : start + MAX_COMPOUND]
        # Each part in a derived table (its own ORDER BY and LIMIT), aliased for PostgreSQL.
        sql = " UNION ALL ".join(
            f"SELECT * FROM ({part}) AS part_{n}" for n, (part, _) in enumerate(chunk)
        )
        cursor.execute(driver_sql(session, sql), [value for _, values in chunk for value in values])
        for pk, band in cursor.fetchall():
            if pk == exclude:
                continue
            hits[pk] += 1
            if band:
                band_hits.add(pk)
    chosen = sorted(hits, key=lambda pk: (-hits[pk], -pk))[:CANDIDATES]
    chosen = list(dict.fromkeys([*chosen, *sorted(band_hits)]))
    if not chosen:
        return []
    rows = session.execute(
        select(
            ArticleFeatures.article_pk,
            ArticleFeatures.vector,
            ArticleFeatures.signature,
            ArticleFeatures.day,
            Article.story_pk,
            Article.duplicate_of_pk,
        )
        .join(Article, Article.pk == ArticleFeatures.article_pk)
        .where(ArticleFeatures.article_pk.in_(chosen))
    )
    found = {row[0]: _Candidate(*row, hits=hits[row[0]]) for row in rows}
    return [found[pk] for pk in chosen if pk in found and found[pk].story_pk is not None]


def _decide(
    session: Session,
    article: Article,
    vector: dict[str, float],
    signature: np.ndarray,
    day: int,
    candidates: list[_Candidate],
) -> Decision:
    original = _original_of(session, article, signature, candidates)
    if original is not None:
        story = session.get(Story, original.story_pk)
        assert story is not None
        _join(story, article)
        return Decision(
            story.pk,
            None,
            duplicate_of_pk=original.duplicate_of_pk or original.pk,
            candidates=len(candidates),
        )

    best: dict[int, float] = defaultdict(float)
    for c in candidates:
        score = cosine(vector, c.vector) if _shares_enough(vector, c.vector) else 0.0
        if c.story_pk is not None and score > best[c.story_pk]:
            best[c.story_pk] = score
    stories = {s.pk: s for s in session.scalars(select(Story).where(Story.pk.in_(list(best))))}
    ranked = sorted(
        (
            (score, stories[pk])
            for pk, score in best.items()
            if pk in stories and _may_join(stories[pk], score, day)
        ),
        key=lambda item: (-item[0], item[1].id),
    )
    if ranked:
        score, story = ranked[0]
        score = round(score, 6)
        _join(story, article, link=score)
        return Decision(story.pk, score, candidates=len(candidates))
    return Decision(_start(session, article).pk, None, candidates=len(candidates))


def _original_of(
    session: Session, article: Article, signature: np.ndarray, candidates: list[_Candidate]
) -> _Candidate | None:
    """Find the candidate this article is a near-copy of: MinHash picks the suspects, the
    exact shingle Jaccard decides (the estimate alone is too noisy near the threshold)."""
    raw = signature.tobytes()
    suspects = [c for c in candidates if jaccard(raw, c.signature) >= SUSPECT_JACCARD]
    if not suspects:
        return None
    mine = set(shingles(article.body).tolist())
    bodies = dict(
        session.execute(
            select(Article.pk, Article.body).where(Article.pk.in_([c.pk for c in suspects]))
        ).all()
    )
    best: tuple[float, int, _Candidate] | None = None
    for c in suspects:
        theirs = set(shingles(bodies[c.pk]).tolist())
        similar = len(mine & theirs) / (len(mine | theirs) or 1)
        rank = (similar, -(c.duplicate_of_pk or c.pk), c)
        if similar >= DUPLICATE_JACCARD and (best is None or rank[:2] > best[:2]):
            best = rank
    return best[2] if best else None


def _shares_enough(a: dict[str, float], b: dict[str, float]) -> bool:
    """Tell whether two articles share enough features for their cosine to mean something: in
    a young corpus two one-line articles sharing "hits record" scored as one story."""
    if len(b) < len(a):
        a, b = b, a
    return sum(f in b for f in a) >= MIN_SHARED


def _may_join(story: Story, score: float, day: int) -> bool:
    if score < JOIN_SIMILARITY:
        return False
    if story.links >= MIN_LINKS and score < COHESION * story.link_total / story.links:
        return False
    return _dates_allow(story, day)


def _dates_allow(story: Story, day: int) -> bool:
    """A dated article joins a dated story only near its span; unknown dates never decide."""
    if not day or story.first_published is None or story.last_published is None:
        return True
    first, last = story.first_published.toordinal(), story.last_published.toordinal()
    return first - STORY_GAP_DAYS <= day <= last + STORY_GAP_DAYS


def story_id_for(article_id: str) -> str:
    """The id of the story an article starts: stable across fresh ingests of the same files."""
    return hashlib.sha256(f"story:{article_id}".encode()).hexdigest()[:16]


def _start(session: Session, article: Article) -> Story:
    story_id = story_id_for(article.id)
    # The row can exist: restory reuses the rows it emptied, and an updated article that
    # started a story, and no longer reads like it, stays with the articles that joined it.
    story = session.scalar(select(Story).where(Story.id == story_id))
    if story is None:
        story = Story(id=story_id, article_count=0, excerpt="")
        session.add(story)
    if not story.article_count:
        story.title, story.excerpt = None, cut_excerpt(article.body)
        story.first_published = story.last_published = None
        story.links, story.link_total = 0, 0.0
    _join(story, article)
    session.flush()
    return story


def _join(story: Story, article: Article, *, link: float | None = None) -> None:
    """Count an article in its story's figures (kept on the row for fast listings)."""
    story.article_count = (story.article_count or 0) + 1
    if link is not None:
        story.links = (story.links or 0) + 1
        story.link_total = (story.link_total or 0.0) + link
    if story.title is None and article.title:
        story.title = article.title
    if not story.excerpt:
        story.excerpt = cut_excerpt(article.body)
    if article.published_at is not None:
        published = article.published_at
        if story.first_published is None or published < story.first_published:
            story.first_published = published
        if story.last_published is None or published > story.last_published:
            story.last_published = published


def detach(session: Session, article: Article) -> int | None:
    """Take an assigned article out of the frequencies, the candidate index and its story's
    figures (before its text changes or it is assigned again); return its story pk."""
    features = session.get(ArticleFeatures, article.pk)
    if features is None:
        return article.story_pk
    weights = feature_weights(
        words(article.title, article.body), dict.fromkeys(features.entities, 1)
    )
    _add_df(session, [*(key_of(f) for f in weights), TOTAL_KEY], -1)
    session.execute(
        delete(StoryKey).where(
            StoryKey.key.in_(features.keys),
            StoryKey.day == features.day,
            StoryKey.article_pk == article.pk,
        )
    )
    session.delete(features)
    session.flush()
    if article.story_pk is not None:
        recount(session, article.story_pk)
    return article.story_pk


def recount(session: Session, story_pk: int) -> None:
    """Recompute a story's figures from its counted articles (those with features)."""
    story = session.get(Story, story_pk)
    if story is None:
        return
    counted = (
        select(Article)
        .join(ArticleFeatures, ArticleFeatures.article_pk == Article.pk)
        .where(Article.story_pk == story_pk)
    )
    count, first, last, links, link_total = session.execute(
        select(
            func.count(),
            func.min(Article.published_at),
            func.max(Article.published_at),
            func.count(ArticleFeatures.link),
            func.coalesce(func.sum(ArticleFeatures.link), 0.0),
        )
        .select_from(Article)
        .join(ArticleFeatures, ArticleFeatures.article_pk == Article.pk)
        .where(Article.story_pk == story_pk)
    ).one()
    titled = session.scalar(counted.where(Article.title.is_not(None)).order_by(Article.pk).limit(1))
    story.article_count, story.first_published, story.last_published = count, first, last
    story.links, story.link_total = links, float(link_total or 0.0)
    story.title = titled.title if titled else None


def refresh_stories(session: Session, story_pks: Iterable[int | None]) -> None:
    """Drop stories left without articles, and recount the top entities of the others."""
    pks = sorted({pk for pk in story_pks if pk is not None})
    for start in range(0, len(pks), 500):
        chunk = pks[start : start + 500]
        session.execute(
            delete(Story)
            .where(Story.pk.in_(chunk), ~exists().where(Article.story_pk == Story.pk))
            .execution_options(synchronize_session=False)
        )
        session.execute(delete(StoryEntity).where(StoryEntity.story_pk.in_(chunk)))
        session.execute(
            insert(StoryEntity).from_select(
                ["story_pk", "entity_pk", "article_count"],
                select(Article.story_pk, Mention.entity_pk, func.count(func.distinct(Article.pk)))
                .join(Mention, Mention.article_pk == Article.pk)
                .where(Article.story_pk.in_(chunk), Mention.start.is_not(None))
                .group_by(Article.story_pk, Mention.entity_pk),
            )
        )


# -- batch operations ----------------------------------------------------------------------


@dataclass
class RestoryReport:
    articles: int = 0
    moved: int = 0  # articles whose story or duplicate flag changed
    assigned: int = 0  # articles that had no story before
    stories: int = 0


def restory(
    engine: Engine,
    *,
    batch_size: int = 500,
    only_unassigned: bool = False,
    on_progress: Callable[[int], None] = lambda n: None,
) -> RestoryReport:
    """Assign every article again in pk (ingest) order, from empty frequencies and index, one
    committed batch at a time; an article whose story changes gets a new seq for the index.

    While it runs, stories not yet replayed show zero counts. `only_unassigned` assigns just the
    articles that have no story (after upgrading a database made before stories existed)."""
    report = RestoryReport()
    if not only_unassigned:
        with write_session(engine) as session:
            session.execute(delete(StoryKey))
            session.execute(delete(StoryTerm))
            session.execute(delete(ArticleFeatures))
            session.execute(
                update(Story).values(
                    article_count=0,
                    first_published=None,
                    last_published=None,
                    title=None,
                    links=0,
                    link_total=0.0,
                )
            )
    last_pk = 0
    while True:
        with write_session(engine) as session:
            statement = select(Article).where(Article.pk > last_pk)
            if only_unassigned:
                statement = statement.where(Article.story_pk.is_(None))
            batch = session.scalars(statement.order_by(Article.pk).limit(batch_size)).all()
            if not batch:
                break
            next_seq = (session.scalar(select(func.max(Article.seq))) or 0) + 1
            now = datetime.now(UTC).replace(tzinfo=None)
            touched: set[int | None] = set()
            for article in batch:
                before = (article.story_pk, article.duplicate_of_pk)
                touched.add(detach(session, article))
                decision = assign(session, article)
                touched.add(decision.story_pk)
                if (article.story_pk, article.duplicate_of_pk) != before:
                    article.seq, article.updated_at = next_seq, now  # its page changed
                    next_seq += 1
                    if before[0] is None:
                        report.assigned += 1
                    else:
                        report.moved += 1
            session.flush()
            refresh_stories(session, touched)
            last_pk = batch[-1].pk
            report.articles += len(batch)
        on_progress(len(batch))
        if (report.articles // batch_size).bit_count() == 1:  # batches 1, 2, 4, 8...
            refresh_statistics(engine)  # the story tables have about doubled
    with write_session(engine) as session:
        session.execute(
            delete(Story)
            .where(~exists().where(Article.story_pk == Story.pk))
            .execution_options(synchronize_session=False)
        )
        report.stories = session.scalar(select(func.count()).select_from(Story)) or 0
    return report


def count_unassigned(session: Session) -> int:
    return session.scalar(select(func.count()).where(Article.story_pk.is_(None))) or 0


# -- related articles ----------------------------------------------------------------------

Reason = Literal["same_story", "shared_entities", "similar_text"]


@dataclass
class Related:
    article_pk: int
    score: float
    reason: Reason
    duplicate: bool  # one of the two is a near-copy of the other
    shared_entities: list[str] = field(default_factory=list)  # entity ids both name


def related(session: Session, article: Article, *, limit: int) -> list[Related]:
    """Other articles, best first: its own story's first (by similarity), then articles that
    share its rarest entities or words, with the reason for each."""
    features = session.get(ArticleFeatures, article.pk)
    if features is None:
        return []
    members = session.scalars(
        select(Article.pk)
        .where(Article.story_pk == article.story_pk, Article.pk != article.pk)
        .order_by(Article.pk)
        .limit(200)
    ).all()
    keys = [key_of(f) for f in features.vector]
    others = _find_candidates(
        session, keys, [], features.day, RELATED_WINDOW_DAYS, exclude=article.pk
    )
    vectors = {c.pk: c for c in others}
    missing = [pk for pk in members if pk not in vectors]
    if missing:
        rows = session.execute(
            select(ArticleFeatures.article_pk, ArticleFeatures.vector).where(
                ArticleFeatures.article_pk.in_(missing)
            )
        )
        for pk, vector in rows:
            vectors[pk] = _Candidate(pk, vector, b"", 0, article.story_pk, None)
    facts = {
        pk: (original, set(entities))
        for pk, original, entities in session.execute(
            select(Article.pk, Article.duplicate_of_pk, ArticleFeatures.entities)
            .join(ArticleFeatures, ArticleFeatures.article_pk == Article.pk)
            .where(Article.pk.in_(list(vectors)))
        )
    }
    mine = article.duplicate_of_pk or article.pk
    my_entities = set(features.entities)
    same = set(members)
    results = []
    for pk, c in vectors.items():
        if pk not in facts:
            continue
        original, entities = facts[pk]
        score = cosine(features.vector, c.vector)
        shared = my_entities & entities
        if pk in same:
            reason: Reason = "same_story"
        elif score < RELATED_MIN_SCORE or not _shares_enough(features.vector, c.vector):
            continue
        else:
            # What the two share most: named entities (the overlap of their sets), or words.
            overlap = len(shared) / (len(my_entities | entities) or 1)
            reason = "shared_entities" if shared and overlap >= score else "similar_text"
        duplicate = (original or pk) == mine
        results.append(Related(pk, round(score, 4), reason, duplicate, sorted(shared)))
    results.sort(key=lambda r: (r.reason != "same_story", -r.score, r.article_pk))
    return results[:limit]
