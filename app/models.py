"""SQLAlchemy models: the system of record. The search index is derived from these tables."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


# Integers are 64-bit on both backends, as SQLite's always are: PostgreSQL's 32-bit INTEGER
# would cap ids and counters (mention pks pass 2^31 after a few re-extractions of 10M articles;
# the index's sort key holds 40-bit article pks) and refuse larger values a client sends.
# SQLite keeps INTEGER: only "INTEGER PRIMARY KEY" is its rowid.
INT64 = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)
    type_annotation_map: ClassVar[dict[Any, Any]] = {int: INT64}


class Article(Base):
    __tablename__ = "articles"

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)  # public, stable across fresh ingests
    # Where it came from ("file:<key>" or "post:<content hash>"); re-ingest matches on it.
    origin: Mapped[str] = mapped_column(String(1024), unique=True)
    title: Mapped[str | None] = mapped_column(Text)
    body: Mapped[str] = mapped_column(Text)
    source: Mapped[str | None] = mapped_column(String(256), index=True)
    author: Mapped[str | None] = mapped_column(String(512))
    published_at: Mapped[date | None] = mapped_column(index=True)
    url: Mapped[str | None] = mapped_column(String(2048))
    credits: Mapped[list[str]] = mapped_column(JSON, default=list)
    photo_credit: Mapped[str | None] = mapped_column(String(512))
    content_hash: Mapped[str] = mapped_column(String(64), index=True)
    word_count: Mapped[int]
    ingested_at: Mapped[datetime]
    updated_at: Mapped[datetime]
    # Bumped on every committed change; the indexer works through seq past its watermark.
    seq: Mapped[int] = mapped_column(unique=True)
    # The story it reports (app.ingest.stories); None only until stories are assigned.
    # No ON DELETE action: a story is deleted only once empty, and an article never.
    story_pk: Mapped[int | None] = mapped_column(ForeignKey("stories.pk"), index=True)
    # The earlier article this one is a near-copy of (the same wire copy republished).
    duplicate_of_pk: Mapped[int | None] = mapped_column(ForeignKey("articles.pk"))

    mentions: Mapped[list[Mention]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Mention.start"
    )
    story: Mapped[Story | None] = relationship(back_populates="articles")
    duplicate_of: Mapped[Article | None] = relationship(remote_side=[pk])


class Secret(Base):
    """A server secret, generated once by its migration: every process on the database
    shares it (the cursor key: a cursor from one host is good on every other)."""

    __tablename__ = "secrets"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(256))


class Entity(Base):
    __tablename__ = "entities"

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)  # derived from key: stable
    key: Mapped[str] = mapped_column(String(512), unique=True)  # "type:normalised name"
    name: Mapped[str] = mapped_column(String(512))
    type: Mapped[str] = mapped_column(String(16))
    # Kept up to date by the loader so listings never aggregate the mentions table.
    article_count: Mapped[int] = mapped_column(default=0)
    mention_count: Mapped[int] = mapped_column(default=0)

    names: Mapped[list[EntityName]] = relationship(
        back_populates="entity", cascade="all, delete-orphan", order_by="EntityName.name"
    )

    __table_args__ = (Index("ix_entities_type_article_count", "type", "article_count"),)

    @property
    def aliases(self) -> list[str]:
        return [n.name for n in self.names if n.name != self.name]


class EntityName(Base):
    """The canonical name and every alias of an entity, folded for case-insensitive lookup."""

    __tablename__ = "entity_names"

    entity_pk: Mapped[int] = mapped_column(
        ForeignKey("entities.pk", ondelete="CASCADE"), primary_key=True
    )
    name: Mapped[str] = mapped_column(String(512), primary_key=True)
    folded: Mapped[str] = mapped_column(String(512), index=True)

    entity: Mapped[Entity] = relationship(back_populates="names")


class Mention(Base):
    __tablename__ = "mentions"

    pk: Mapped[int] = mapped_column(primary_key=True)
    article_pk: Mapped[int] = mapped_column(ForeignKey("articles.pk", ondelete="CASCADE"))
    entity_pk: Mapped[int] = mapped_column(ForeignKey("entities.pk", ondelete="CASCADE"))
    text: Mapped[str] = mapped_column(String(512))
    start: Mapped[int | None]  # offsets into the body; None for names from metadata (byline...)
    end: Mapped[int | None]

    article: Mapped[Article] = relationship(back_populates="mentions")
    entity: Mapped[Entity] = relationship()

    __table_args__ = (
        Index("ix_mentions_article_pk", "article_pk"),
        Index("ix_mentions_entity_pk_article_pk", "entity_pk", "article_pk"),
    )


class Story(Base):
    """Articles that report the same event. The counts and dates are kept up to date by
    app.ingest.stories so listings never aggregate the articles table."""

    __tablename__ = "stories"

    pk: Mapped[int] = mapped_column(primary_key=True)
    id: Mapped[str] = mapped_column(String(32), unique=True)  # derived from its first article
    title: Mapped[str | None] = mapped_column(Text)  # first headline among its articles
    excerpt: Mapped[str] = mapped_column(Text, default="")  # of its first article
    article_count: Mapped[int] = mapped_column(default=0)
    first_published: Mapped[date | None] = mapped_column()
    last_published: Mapped[date | None] = mapped_column()
    # Similarity with which its articles joined it, summed: how tight the story is.
    links: Mapped[int] = mapped_column(default=0)
    link_total: Mapped[float] = mapped_column(default=0.0)

    articles: Mapped[list[Article]] = relationship(back_populates="story")


# The two listing orders (biggest first, latest first), ties by id: keyset pages walk an index.
Index("ix_stories_article_count_id", Story.article_count.desc(), Story.id)
Index("ix_stories_last_published_id", Story.last_published.desc(), Story.id)


class StoryEntity(Base):
    """How many articles of a story mention an entity in their body (its top entities)."""

    __tablename__ = "story_entities"

    story_pk: Mapped[int] = mapped_column(
        ForeignKey("stories.pk", ondelete="CASCADE"), primary_key=True
    )
    entity_pk: Mapped[int] = mapped_column(
        ForeignKey("entities.pk", ondelete="CASCADE"), primary_key=True
    )
    article_count: Mapped[int]

    entity: Mapped[Entity] = relationship()

    __table_args__ = (Index("ix_story_entities_entity_pk", "entity_pk"),)


class ArticleFeatures(Base):
    """What story assignment saw of an article: its weighted terms, MinHash signature, and the
    candidate keys it filed. An article with a row here is counted in its story and in the
    document frequencies; the row goes when the article is re-assigned."""

    __tablename__ = "article_features"

    article_pk: Mapped[int] = mapped_column(
        ForeignKey("articles.pk", ondelete="CASCADE"), primary_key=True
    )
    vector: Mapped[dict[str, float]] = mapped_column(JSON)  # top terms, L2-normalised TF-IDF
    entities: Mapped[list[str]] = mapped_column(JSON)  # entity ids counted in the frequencies
    keys: Mapped[list[int]] = mapped_column(JSON)  # its rows in story_keys
    signature: Mapped[bytes] = mapped_column(LargeBinary)  # MinHash of word shingles
    day: Mapped[int]  # published_at ordinal, 0 when unknown
    link: Mapped[float | None]  # similarity with which it joined its story (None: started it)


class StoryKey(Base):
    """The candidate index: (key -> article) rows for salient terms, entities and MinHash bands,
    so finding the articles like a new one reads a few short index ranges, never the corpus.
    Derived data (`newscorpus restory` rebuilds it), hence no foreign key to slow writes."""

    __tablename__ = "story_keys"

    key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    day: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)  # 0: undated
    article_pk: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)

    __table_args__ = ({"sqlite_with_rowid": False},)


# A story's top entities come off this index in order.
Index(
    "ix_story_entities_story_pk_article_count",
    StoryEntity.story_pk,
    StoryEntity.article_count.desc(),
)


class StoryTerm(Base):
    """Document frequency of each term and entity (by key) over the articles assigned so far;
    the row with key 0 counts those articles."""

    __tablename__ = "story_terms"

    key: Mapped[int] = mapped_column(primary_key=True, autoincrement=False)
    df: Mapped[int]

    __table_args__ = ({"sqlite_with_rowid": False},)


class ExtractionLease(Base):
    """An article an extraction worker holds until `expires_at` (app.ingest.workers)."""

    __tablename__ = "extraction_leases"

    article_pk: Mapped[int] = mapped_column(
        ForeignKey("articles.pk", ondelete="CASCADE"), primary_key=True, autoincrement=False
    )
    worker: Mapped[str] = mapped_column(String(128))  # host:pid
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
