"""SQLAlchemy models: the system of record. The search index is derived from these tables."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import JSON, ForeignKey, Index, MetaData, String, Text
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


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

    mentions: Mapped[list[Mention]] = relationship(
        back_populates="article", cascade="all, delete-orphan", order_by="Mention.start"
    )


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
