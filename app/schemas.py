"""Pydantic request and response models: the HTTP contract, kept apart from the ORM."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Discriminator,
    Field,
    Tag,
    ValidationError,
    ValidatorFunctionWrapHandler,
    WrapValidator,
    field_validator,
)
from pydantic_core import InitErrorDetails, PydanticCustomError

from app.errors import pattern
from app.ingest.parse import PLAUSIBLE_DATES, plausible

EXCERPT_CHARS = 200


def _iso_date(value: object) -> object:
    # Lax pydantic would also read numbers and numeric text as Unix timestamps ("0": 1970),
    # and say of a 30 February that it is not a valid "date or datetime".
    if isinstance(value, date):
        return value
    if isinstance(value, str) and re.fullmatch(r"\d{4}-\d{2}-\d{2}", value):
        try:
            return date.fromisoformat(value)
        except ValueError as error:  # "day is out of range for month"
            raise ValueError(f"must be a date as YYYY-MM-DD: {error}") from None
    raise ValueError("must be a date as YYYY-MM-DD")


IsoDate = Annotated[date, BeforeValidator(_iso_date)]


def _plausible(day: date) -> date:
    if not plausible(day):
        raise ValueError(f"must be a publication date {PLAUSIBLE_DATES}")
    return day


# A date an article states: one the parser would read from its text (app.ingest.parse).
PublicationDate = Annotated[IsoDate, AfterValidator(_plausible)]
# Stored as naive UTC; sent with its offset, as RFC 3339 (and OpenAPI's date-time) requires.
UtcDatetime = Annotated[
    datetime, AfterValidator(lambda v: v if v.tzinfo else v.replace(tzinfo=UTC))
]


def no_blank(text: str | None) -> str | None:
    """Blank text is none: `title: ""` is no title, `q=` no query."""
    return text if text and text.strip() else None


class Schema(BaseModel):
    model_config = ConfigDict(from_attributes=True)


def excerpt(body: str, limit: int = EXCERPT_CHARS) -> str:
    """Cut the body to about `limit` characters at a word boundary."""
    if len(body) <= limit:
        return body
    cut = body[:limit].rsplit(maxsplit=1)[0] if " " in body[:limit] else body[:limit]
    return cut.rstrip(" ,;:-") + "…"


# Text a client writes: no NUL or other control characters (file ingest rejects those as
# binary); a body with at least one letter or digit (`[^\W_]`, of any script: zero-width
# spaces or combining marks alone are no content); a URL to a web page (http or https, with a
# host: never `javascript:` or `data:`; and no spaces, which no URL holds: `https://exa
# mple.com` is a slip). In the schema, so clients (and fuzzers) see the rules, read as Python
# reads them (REGEX): in Rust's regex, pydantic's default, `\w` takes marks too.
_TEXT = r"[^\x00-\x08\x0e-\x1f\x7f-\x9f]"
TEXT_PATTERN = pattern(rf"^{_TEXT}*$", "text without control characters")
BODY_PATTERN = pattern(
    rf"^{_TEXT}*[^\W_]{_TEXT}*$", "text with a letter or digit and without control characters"
)
_NOT_SPACE = r"[^\s\x00-\x1f\x7f-\x9f]"
URL_PATTERN = pattern(
    rf"^[Hh][Tt][Tt][Pp][Ss]?://[^\s/?#\x00-\x1f\x7f-\x9f]{_NOT_SPACE}*$",
    "an http:// or https:// URL with a host, without spaces or control characters",
)
REGEX: Literal["python-re"] = "python-re"


_SUMMARY_EXAMPLE = {
    "id": "3f2a9c1e7b4d5a60",
    "title": "Russia formally annexes Crimea",
    "source": "Al Jazeera",
    "author": "Jane Doe",
    "published_at": "2014-03-21",
    "excerpt": "MOSCOW — President Vladimir Putin signed a law on Friday completing…",
    "word_count": 612,
    "story_id": "3f2a9c1e7b4d5a60",
    "score": 7.31,
    "snippet": "Putin signed a law completing the <mark>annexation</mark> of Crimea",
}
_DETAIL_EXAMPLE = {
    **_SUMMARY_EXAMPLE,
    "score": None,
    "snippet": None,
    "body": "MOSCOW — President Vladimir Putin signed a law on Friday completing the "
    "annexation of Crimea.",
    "url": None,
    "credits": ["Reuters"],
    "photo_credit": None,
    "content_hash": "9b74c9897bac770ffc029102a200c5de1e2c5a8d6a5c6ee7f0b8b0d4a7f0c1e2",
    "ingested_at": "2026-11-30T09:12:44Z",
    "duplicate_of": None,
    "entities": [
        {
            "id": "a1b2c3d4e5f60718",
            "name": "Vladimir Putin",
            "type": "person",
            "aliases": ["Putin"],
            "mentions": 1,
            "spans": [[20, 34]],
        }
    ],
}


def _examples(*examples: dict[str, Any]) -> ConfigDict:
    """Examples shown in the docs page and the OpenAPI document."""
    return ConfigDict(json_schema_extra={"examples": list(examples)})


MAX_TEXT = 1_000_000
URL_FIELD = Field(
    None,
    max_length=2048,
    pattern=URL_PATTERN,
    description="Where the article was published (http or https)",
)


class RawArticleIn(BaseModel):
    """A new article as its raw text, parsed exactly as an ingested file is."""

    model_config = ConfigDict(
        extra="forbid",
        regex_engine=REGEX,
        json_schema_extra={
            "examples": [
                {
                    "raw": "Russia formally annexes Crimea\n\nBy Jane Doe\n21 March 2014\n\n"
                    "MOSCOW — President Vladimir Putin signed a law on Friday...",
                }
            ]
        },
    )

    raw: str = Field(
        min_length=1,
        max_length=MAX_TEXT,
        pattern=BODY_PATTERN,
        description="The article's whole text, as in a file: its headline, byline, date and "
        "dateline, source and credit lines become the article's fields, the rest its body",
    )
    url: str | None = URL_FIELD


class ArticleFieldsIn(BaseModel):
    """A new article as fields: the body is kept as sent, nothing is parsed out of it."""

    model_config = ConfigDict(
        extra="forbid",
        regex_engine=REGEX,
        json_schema_extra={
            "examples": [
                {
                    "body": "MOSCOW — President Vladimir Putin signed a law on Friday...",
                    "title": "Russia formally annexes Crimea",
                    "source": "Al Jazeera",
                    "published_at": "2014-03-21",
                }
            ]
        },
    )

    body: str = Field(
        min_length=1, max_length=MAX_TEXT, pattern=BODY_PATTERN, description="The text, verbatim"
    )
    title: str | None = Field(None, description="Headline", max_length=1000, pattern=TEXT_PATTERN)
    source: str | None = Field(
        None, description="Publisher's name", max_length=256, pattern=TEXT_PATTERN
    )
    author: str | None = Field(None, description="Byline", max_length=512, pattern=TEXT_PATTERN)
    published_at: PublicationDate | None = Field(
        None, description=f"Publication date, YYYY-MM-DD, {PLAUSIBLE_DATES}"
    )
    url: str | None = URL_FIELD
    _no_blank = field_validator("title", "source", "author")(no_blank)


PARSED_FIELDS = tuple(name for name in ArticleFieldsIn.model_fields if name != "url")


def _form(value: Any) -> str | None:
    """`raw` if the article comes as text, `fields` if as fields; None if neither shows (an
    empty object, only a `url`, not an object): no one form's missing field is the fault."""
    if isinstance(value, dict):
        if "raw" in value:
            return "raw"
        return "fields" if any(name in value for name in PARSED_FIELDS) else None
    if isinstance(value, BaseModel):
        return "raw" if isinstance(value, RawArticleIn) else "fields"
    return None


ARTICLE_FORMS = (
    "a JSON object with either `raw` (the article's whole text, parsed like a file) or "
    "the article's fields (`body`, and `title`, `source`, `author`, `published_at` if known)"
)
NO_FORM = f"send {ARTICLE_FORMS}"


def _one_form(value: Any, handler: ValidatorFunctionWrapHandler) -> Any:
    """Refuse an article in neither form, saying what the two are; refuse fields sent beside
    `raw`, each named; and name the field at fault in the other errors, not the form it
    belongs to (`published_at`, not `fields.published_at`)."""
    if _form(value) is None:
        no_form = PydanticCustomError("article_form", NO_FORM)
        raise ValidationError.from_exception_data(
            "ArticleIn", [InitErrorDetails(type=no_form, loc=(), input=value)]
        )
    beside = [n for n in PARSED_FIELDS if n in value] if isinstance(value, dict) else []
    if beside and "raw" in value:
        not_with_raw = PydanticCustomError(
            "not_with_raw",
            "send either `raw` or the article's fields: a raw article's fields are "
            "parsed from its text",
        )
        raise ValidationError.from_exception_data(
            "ArticleIn",
            [InitErrorDetails(type=not_with_raw, loc=(n,), input=value[n]) for n in beside],
        )
    try:
        return handler(value)
    except ValidationError as error:
        details = [
            InitErrorDetails(
                type=e["type"], loc=e["loc"][1:], input=e["input"], ctx=e.get("ctx", {})
            )
            for e in error.errors()
        ]
        raise ValidationError.from_exception_data(error.title, details) from None


ArticleIn = Annotated[
    Annotated[
        Annotated[RawArticleIn, Tag("raw")] | Annotated[ArticleFieldsIn, Tag("fields")],
        Discriminator(_form),
    ],
    WrapValidator(_one_form),
]


class ArticleSummary(Schema):
    id: str = Field(description="Stable id: the same file gives the same id in a fresh database")
    title: str | None = Field(description="Headline, if the text has one")
    source: str | None = Field(description="Publisher's name, if known")
    author: str | None = Field(description="Byline, if the text has one")
    published_at: date | None = Field(
        description="Publication date the text states; never invented"
    )
    excerpt: str = Field(description="The body's first ~200 characters, cut at a word")
    word_count: int = Field(description="Words in the body")
    story_id: str | None = Field(
        description="The story (the set of articles reporting the same event) it belongs to; "
        "null only for an article loaded before stories existed, until `newscorpus restory`"
    )
    score: float | None = Field(None, description="Relevance (higher is better); with `q` only")
    snippet: str | None = Field(
        None, description="Passage around the best match, matches in <mark>, the rest HTML-escaped"
    )


class ArticleEntity(Schema):
    id: str = Field(description="Entity id")
    name: str = Field(description="Canonical name")
    type: Literal["person", "place", "org"] = Field(description="Kind of entity")
    aliases: list[str] = Field(description="Other names it goes by")
    mentions: int = Field(description="Times the article mentions it")
    spans: list[tuple[int, int]] = Field(description="Character offsets into `body`")


class ArticleDetail(ArticleSummary):
    model_config = _examples(_DETAIL_EXAMPLE)

    body: str = Field(description="Full text")
    url: str | None = Field(description="Where the article was published, if known")
    credits: list[str] = Field(description="Agencies named in 'With reporting by …'")
    photo_credit: str | None = Field(description="Photo credit line, if the text has one")
    content_hash: str = Field(
        description="SHA-256 of the text: the same content is never loaded twice"
    )
    ingested_at: UtcDatetime = Field(description="When it was loaded or last changed (UTC)")
    duplicate_of: str | None = Field(
        description="Id of the earlier article this one is a near-copy of (the same text "
        "republished); it stays in that article's story"
    )
    entities: list[ArticleEntity] = Field(
        description="People, places and organisations it mentions, most mentioned first"
    )


class FacetBucket(Schema):
    id: str | None = Field(None, description="Entity id (entity facets only)")
    name: str = Field(description="Entity or source name")
    count: int = Field(description="Matching articles with this value")


class ArticlePage(Schema):
    model_config = _examples(
        {
            "items": [_SUMMARY_EXAMPLE],
            "next_cursor": None,
            "total": 1,
            "total_estimated": False,
            "facets": {"source": [{"id": None, "name": "Al Jazeera", "count": 1}]},
            "facets_estimated": False,
        }
    )

    items: list[ArticleSummary] = Field(description="This page's articles")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    total: int = Field(description="Number of articles matching, over all pages")
    total_estimated: bool = Field(
        False,
        description="`total` is an estimate: one article per story (`dedupe`) over more than "
        "10,000 matching articles counts stories from a sample",
    )
    facets: dict[str, list[FacetBucket]] | None = Field(
        None,
        description="Counts over all matching articles per requested facet (`facets`), most first",
    )
    facets_estimated: bool = Field(
        False,
        description="Facet counts are estimated from a uniform sample of a very large match "
        "set (scaled to the whole; the top values are reliable, small counts are not)",
    )


class SourceCount(Schema):
    name: str = Field(description="Publisher's name")
    article_count: int = Field(description="Its articles")


class FieldError(Schema):
    field: str = Field(description="The parameter or field, dotted")
    message: str = Field(description="What is wrong with it")


class ProblemDetail(Schema):
    """RFC 9457 problem details."""

    type: str = Field(
        "about:blank", description="A URI naming the problem type (`about:blank`: see `title`)"
    )
    title: str = Field(description="Short summary of the problem type")
    status: int = Field(description="HTTP status code")
    detail: str = Field(description="What went wrong in this request")
    errors: list[FieldError] | None = Field(
        None, description="Each invalid field (validation only)"
    )


class Readiness(Schema):
    status: Literal["ready"] = Field(description="`ready` (otherwise the answer is a 503 problem)")
    schema_at_head: bool = Field(description="The database schema is at the newest migration")
    index_lag: int = Field(description="Committed article changes not yet searchable")


class Health(Schema):
    status: Literal["ok"] = Field(description="`ok`: the process is up")


class EntitySummary(Schema):
    id: str = Field(description="Stable entity id")
    name: str = Field(description="Canonical name")
    type: Literal["person", "place", "org"] = Field(description="Kind of entity")
    aliases: list[str] = Field(description="Other names it goes by")
    article_count: int = Field(description="Articles mentioning it")
    mention_count: int = Field(description="Mentions over all articles")


class EntityPage(Schema):
    model_config = _examples(
        {
            "items": [
                {
                    "id": "a1b2c3d4e5f60718",
                    "name": "Vladimir Putin",
                    "type": "person",
                    "aliases": ["Putin", "President Putin"],
                    "article_count": 4,
                    "mention_count": 19,
                }
            ],
            "next_cursor": None,
        }
    )

    items: list[EntitySummary] = Field(description="This page's entities")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )


class RelatedEntity(Schema):
    id: str = Field(description="Entity id")
    name: str = Field(description="Canonical name")
    type: Literal["person", "place", "org"] = Field(description="Kind of entity")
    articles: int = Field(description="Articles that mention both entities")


class EntityDetail(EntitySummary):
    related: list[RelatedEntity] = Field(description="Entities found in the same articles")


class RelatedArticle(ArticleSummary):
    score: float = Field(  # type: ignore[assignment]
        description="Similarity of the two texts and entities (cosine, 0 to 1; higher is closer)"
    )
    reason: Literal["same_story", "shared_entities", "similar_text"] = Field(
        description="`same_story`: in its story (listed first); otherwise what the two share "
        "most: rare entities, or rare words"
    )
    duplicate: bool = Field(description="One of the two is a near-copy of the other")
    shared_entities: list[str] = Field(description="Names of the entities both mention")


class RelatedPage(Schema):
    items: list[RelatedArticle] = Field(description="Related articles, best first")


class StoryEntityCount(Schema):
    id: str = Field(description="Entity id")
    name: str = Field(description="Canonical name")
    type: Literal["person", "place", "org"] = Field(description="Kind of entity")
    articles: int = Field(description="Articles of the story that mention it")


class StorySummary(Schema):
    id: str = Field(description="Stable: derived from the id of the story's first article")
    title: str = Field(description="The first headline among its articles, else its opening words")
    article_count: int = Field(description="Articles in the story")
    first_published: date | None = Field(description="Earliest publication date of its articles")
    last_published: date | None = Field(description="Latest publication date of its articles")
    entities: list[StoryEntityCount] = Field(description="Its most mentioned entities")
    matching_articles: int | None = Field(
        None, description="With `q` or entity filters: how many of its articles match"
    )


class StoryPage(Schema):
    model_config = _examples(
        {
            "items": [
                {
                    "id": "3f2a9c1e7b4d5a60",
                    "title": "Russia formally annexes Crimea",
                    "article_count": 3,
                    "first_published": "2014-03-18",
                    "last_published": "2014-03-21",
                    "entities": [
                        {
                            "id": "a1b2c3d4e5f60718",
                            "name": "Vladimir Putin",
                            "type": "person",
                            "articles": 3,
                        }
                    ],
                    "matching_articles": None,
                }
            ],
            "next_cursor": None,
            "total": 1,
        }
    )

    items: list[StorySummary] = Field(description="This page's stories")
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page; null at the end"
    )
    total: int = Field(
        description="Number of stories matching, over all pages (filtered by `q` or entities: "
        "the first 10,000 are listed, and beyond 10,000 matching articles the count is an "
        "estimate within a few percent)"
    )


class StoryArticle(ArticleSummary):
    duplicate_of: str | None = Field(description="Id of the article this one is a near-copy of")


class StoryDetail(StorySummary):
    articles: list[StoryArticle] = Field(
        description="Its articles in publication order (undated last), `limit` of them"
    )
    next_cursor: str | None = Field(
        description="Pass as `cursor` for the next page of its articles; null at the end"
    )


class TimelineBucket(Schema):
    start: date = Field(description="First day of the interval (weeks start on Mondays)")
    count: int = Field(description="Matching articles published in the interval")


class Timeline(Schema):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "interval": "month",
                    "buckets": [
                        {"start": "2024-01-01", "count": 12},
                        {"start": "2024-02-01", "count": 0},
                        {"start": "2024-03-01", "count": 31},
                    ],
                    "undated": 2,
                    "total": 45,
                    "estimated": False,
                }
            ]
        }
    )

    interval: Literal["day", "week", "month", "year"] = Field(description="Length of each bucket")
    buckets: list[TimelineBucket] = Field(
        description="Every interval from the first date asked for (`published_from`, else the "
        "earliest match) to the last, in order, empty ones included"
    )
    undated: int = Field(description="Matching articles with no publication date")
    total: int = Field(description="All matching articles: the buckets' counts and `undated`")
    estimated: bool = Field(
        False,
        description="Counts are estimated: one article per story (`dedupe`) over more than "
        "10,000 matching articles counts a sample of the stories, scaled up",
    )
