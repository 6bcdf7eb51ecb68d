"""Turn the raw text of one article into its metadata and body (pure: no I/O)."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date


@dataclass(frozen=True)
class ParsedArticle:
    """What the raw text states; None where it states nothing (never invented)."""

    body: str
    title: str | None = None
    published_at: date | None = None
    author: str | None = None
    source: str | None = None
    credits: list[str] = field(default_factory=list)
    photo_credit: str | None = None


def parse_article(text: str) -> ParsedArticle:
    """Split raw article text into metadata and a verbatim body."""
    raise NotImplementedError
