"""Turn the raw text of one article into its metadata and body (pure: no I/O).

Metadata is only read from metadata positions: whole lines at the top or bottom of the text,
a dateline prefix at the start of the body, and a source or credit trailer glued to the end of
the last sentence. Anything else is body and is kept verbatim.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from functools import lru_cache


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
    url: str | None = None


class ParseError(ValueError):
    """The text has no article body."""


# --- dates -------------------------------------------------------------------------------------

# When an article can have been published: not before printing, not more than a year ahead (a
# typo, or a placeholder such as 9999-12-31, which would stretch every timeline over millennia).
# A date outside is no date, as an impossible day is; a write that states one is refused.
EARLIEST_DATE = date(1400, 1, 1)
PLAUSIBLE_DATES = "from 1400-01-01 to a year after today"


def latest_date() -> date:
    """A year after today (UTC): the latest date an article may state."""
    today = datetime.now(UTC).date()
    try:
        return today.replace(year=today.year + 1)
    except ValueError:  # 29 February
        return today.replace(year=today.year + 1, day=28)


def plausible(day: date) -> bool:
    return EARLIEST_DATE <= day <= latest_date()


_MONTHS = {
    "jan": 1, "feb": 2, "mar": 3, "apr": 4, "may": 5, "jun": 6,
    "jul": 7, "aug": 8, "sep": 9, "oct": 10, "nov": 11, "dec": 12,
}  # fmt: skip
_MONTH = (
    r"(?:jan(?:uary)?|feb(?:ruary)?|mar(?:ch)?|apr(?:il)?|may|june?|july?|aug(?:ust)?"
    r"|sep(?:t(?:ember)?)?|oct(?:ober)?|nov(?:ember)?|dec(?:ember)?)\.?"
)
_WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WEEKDAY = (
    r"(?:(?P<weekday>mon|tue(?:s)?|wed(?:nes)?|thu(?:rs?)?|fri|sat(?:ur)?|sun)(?:day)?\.?,?\s+)?"
)
_DAY = r"\d{1,2}(?:st|nd|rd|th)?"
_DASH = r"[-\u2013\u2014]"
# Numbers alone (03/04/2018) are read month-first and day-first; the date counts only when just
# one reading is a real day (12/25/2003, 25.12.2003) or a stated weekday picks one.
_DATE = (
    _WEEKDAY
    + r"(?:(?P<iso_y>\d{4})[-/](?P<iso_m>\d{1,2})[-/](?P<iso_d>\d{1,2})"
    + r"|(?P<num_a>\d{1,2})(?P<num_sep>[-/.])(?P<num_b>\d{1,2})(?P=num_sep)(?P<num_y>\d{4})"
    + rf"|(?P<dmy_d>{_DAY})(?:\s+(?:of\s+)?|-)(?P<dmy_m>{_MONTH})(?:,?\s+|-)(?P<dmy_y>\d{{4}})"
    + rf"|(?P<mdy_m>{_MONTH})\s+(?P<mdy_d>{_DAY}),?\s+(?P<mdy_y>\d{{4}})"
    + r")(?![\d-])"
)
_ZONE = (
    r"(?:Z|(?:GMT|UTC)(?:\s*[+-]\s*\d{1,2}(?::?\d{2})?)?|[+-]\d{2}:?\d{2}|(?-i:[A-Z]{2,4}))"
    r"(?:\s*\((?-i:[A-Z]{2,5})\))?"  # RFC 2822's comment: "-0500 (EST)"
)
# An optional time after the date: "T10:00Z", ", 14:05 GMT", " at 3.30pm", " | 10:32".
_TIME = (
    r"(?:(?:T|,?\s+(?:at\s+)?|\s*[|\u00b7\u2022]\s*)\d{1,2}[:.]\d{2}(?::\d{2}(?:\.\d+)?)?"
    rf"(?:\s*[ap]\.?m\.?)?(?:\s*{_ZONE})?(?!\w))?"
)
_DATE_WORD = (
    r"(?:date|dated|published|posted|first\s+published|last\s+updated|updated|last\s+modified)"
)
_DATE_KEYWORD = rf"(?P<kw>{_DATE_WORD})(?:\s+on)?\s*(?::\s*|{_DASH}\s+|\s+)"
_SEPARATOR = rf"\s*(?:{_DASH}{{1,2}}|[:|])\s*"
BARE_DATE_LINE = re.compile(rf"\(?\s*{_DATE}{_TIME}\s*\)?", re.IGNORECASE)
KEYWORD_DATE_LINE = re.compile(rf"{_DATE_KEYWORD}{_DATE}{_TIME}\.?", re.IGNORECASE)
# "Published: 03/04/2018" or "Updated: 2 hours ago" is metadata too, but states no usable date.
UNREADABLE_DATE_LINE = re.compile(
    rf"{_DATE_WORD}(?:\s+on)?\s*:\s*(?=[^\d]*\d)[\w ,./:+-]{{1,40}}", re.IGNORECASE
)
# "date 2017-03-14 Russian President ..." or "Published: 12 March 2018 - The ...".
KEYWORD_DATE_PREFIX = re.compile(
    rf"\s*{_DATE_KEYWORD}{_DATE}{_TIME}(?:{_SEPARATOR}|\s+)(?=\S)", re.IGNORECASE
)
# An upper-case place before a dateline: "MOSCOW", "WASHINGTON, D.C.", "TBILISI, Georgia".
_PLACE = r"(?-i:[A-Z][A-Z.'\u2019/-]+(?:\s+[A-Z][A-Z.'\u2019/-]+){0,4}(?:,\s*[A-Z][\w.'\u2019-]+)?)"
_AGENCY = r"(?:\s*\((?P<agency>(?-i:[A-Z][\w .&-]{0,30}))\))?"
# "MOSCOW (May 3, 2016) - ...", "(May 3, 2016) ...", "2016-05-03 - ...": a dateline opening the
# body. A bracketed date may run straight into the text; a bare one needs a dash or colon.
DATELINE_PREFIX = re.compile(
    rf"\s*(?:{_PLACE}\s*,?\s*)?(?P<open>\(\s*)?{_DATE}{_TIME}(?(open)\s*\)){_AGENCY}"
    rf"(?(open)(?:{_SEPARATOR}|\s+)|{_SEPARATOR})(?=\S)",
    re.IGNORECASE,
)
# "WASHINGTON, Jan. 12 (Reuters) - ...", "NEW YORK (AP) -- ...": an agency's dateline, whose
# day without a year is no date.
AGENCY_DATELINE = re.compile(
    rf"\s*{_PLACE}(?:\s*,\s*{_MONTH}\s+{_DAY})?{_AGENCY.removesuffix('?')}{_SEPARATOR}(?=\S)",
    re.IGNORECASE,
)
# "(CNN)The Kremlin said ...", "(AP) -- The Kremlin said ...": an agency opening the body.
AGENCY_OPENING = re.compile(
    rf"\s*{_AGENCY.removesuffix('?')}\s*(?:{_DASH}{{1,2}}\s*)?(?=[A-Z\"\u201c])"
)
UPDATE_KEYWORDS = ("updated", "last updated", "last modified")


def _date_from_match(match: re.Match[str]) -> date | None:
    """Build the date a _DATE match names, or None when no single real calendar day fits it
    (an impossible day, numbers read both ways, or a weekday that contradicts the date)."""
    groups = match.groupdict()
    if groups["iso_y"]:
        readings = [(groups["iso_y"], groups["iso_m"], groups["iso_d"])]
    elif groups["num_y"]:
        first, second = groups["num_a"], groups["num_b"]
        readings = [(groups["num_y"], first, second), (groups["num_y"], second, first)]
    elif groups["dmy_y"]:
        readings = [(groups["dmy_y"], _month_number(groups["dmy_m"]), groups["dmy_d"])]
    else:
        readings = [(groups["mdy_y"], _month_number(groups["mdy_m"]), groups["mdy_d"])]
    days = {day for reading in readings if (day := _calendar_day(*reading))}
    if weekday := groups["weekday"]:
        days = {day for day in days if day.weekday() == _WEEKDAYS.index(weekday.lower()[:3])}
    return days.pop() if len(days) == 1 else None


def _calendar_day(year: str | int, month: str | int, day: str) -> date | None:
    try:
        found = date(int(year), int(month), int(day.rstrip("stndrh")))
    except ValueError:
        return None
    return found if plausible(found) else None


def _month_number(name: str) -> int:
    """Return 1-12 for an English month name or abbreviation."""
    return _MONTHS[name.lower().rstrip(".")[:3]]


def parse_date(text: str) -> date | None:
    """Parse a standalone date ("2017-03-14", "12 March 2018", "(May 3, 2016)"), else None."""
    match = BARE_DATE_LINE.fullmatch(text.strip())
    return _date_from_match(match) if match else None


# --- metadata lines ----------------------------------------------------------------------------


@dataclass
class _Found:
    """Metadata collected while reading the edges of the text."""

    published: date | None = None
    updated: date | None = None
    title: str | None = None
    author: str | None = None
    source: str | None = None
    agency: str | None = None  # "(Reuters)" in a dateline or credit line: the source if none
    credits: list[str] = field(default_factory=list)
    photo_credit: str | None = None
    url: str | None = None

    @classmethod
    def of_date(cls, value: date | None, keyword: str | None) -> _Found:
        """Record a date as an update date or a publication date, as its keyword says."""
        if keyword and " ".join(keyword.lower().split()) in UPDATE_KEYWORDS:
            return cls(updated=value)
        return cls(published=value)

    def merge(self, other: _Found) -> None:
        """Add what other states; the first value seen for a field wins."""
        self.published = self.published or other.published
        self.updated = self.updated or other.updated
        self.title = self.title or other.title
        self.author = self.author or other.author
        self.source = self.source or other.source
        self.agency = self.agency or other.agency
        self.credits.extend(c for c in other.credits if c not in self.credits)
        self.photo_credit = self.photo_credit or other.photo_credit
        self.url = self.url or other.url


PHOTO_LINE = re.compile(
    r"(?P<open>\()?(?:photo(?:graph)?s?|image|picture|pic|cover\s+photo|featured\s+image|main\s+image)"
    r"(?:\s+(?:source|credits?|courtesy(?:\s+of)?|by))?\s*(?::\s*-?|[-\u2013\u2014]\s*|(?<=by|of)\s+)"
    r"(?P<value>\S.*?)(?(open)\))\.?",
    re.IGNORECASE,
)
# A closing parenthesis ends the line's value only if the line opened one: "(Source: X)".
SOURCE_LINE = re.compile(
    r"(?P<open>\()?sources?\s*(?::\s*[-\u2013\u2014]?|[-\u2013\u2014])\s*(?P<value>\S.*?)"
    r"(?(open)\))\.?",
    re.IGNORECASE,
)
# A source trailer glued to the last sentence must start with a capital "Source" to avoid
# mistaking prose ("... the source: officials") for metadata.
GLUED_SOURCE = re.compile(
    r"(?<=[.!?\"'\u201d\u2019)\]])\s+\(?(?:Sources?|SOURCES?)\s*(?::\s*[-\u2013\u2014]?|[-\u2013\u2014])\s*"
    r"(?P<value>[^\s.!?][^\n.!?]{0,80}?)\)?\.?\s*$"
)
AGENCIES_SUFFIX = re.compile(
    r"\s*(?:,|\band\b|\bwith\b|&|\+)\s*(?:other\s+|news\s+|wire\s+)?(?:agencies|wires)\.?$",
    re.IGNORECASE,
)
GLUED_CREDITS = re.compile(
    r"(?<=[.!?\"'\u201d\u2019])\s+(?:With (?:additional )?reporting|Additional reporting|Reporting)"
    r" by (?P<value>[^\n.!?]{1,120})\.?\s*$"
)
# Reuters style: "(Reporting by A and B; Additional reporting by C; Editing by D)".
# The note's parts are checked in Python: one regex for it all backtracks badly on long lines.
PAREN_NOTE = re.compile(r"\((?P<value>[^()\n]{1,300})\)\.?")
GLUED_PAREN_NOTE = re.compile(r"(?<=[.!?\"'\u201d\u2019])\s+" + PAREN_NOTE.pattern + r"\s*$")
NOTE_PART = re.compile(
    r"\s*(?P<role>(?:with\s+)?(?:additional\s+)?(?:reporting|writing|editing|compiled|compiling"
    r"|research|translation|translated|graphics))\s+by\s+(?P<who>\S.*?)\s*",
    re.IGNORECASE,
)
REPORTING_ROLES = re.compile(r"(?:with\s+)?(?:additional\s+)?(?:reporting|writing)", re.I)
BYLINE = re.compile(r"(?:By|BY|Written by|Words by)\s+(?P<value>\S.*)")
# "Jane Doe, Geneva correspondent", "Jane Doe, Staff Writer": a name, then its role.
ROLE_BYLINE = re.compile(
    r"(?P<value>[^,]{3,60}),\s+(?:[\w'\u2019-]+\s+){0,3}(?:correspondent|reporter|editor|writer"
    r"|columnist|contributor|analyst|producer)s?(?:\s+(?:in|at|for|of)\s+.{1,40})?",
    re.IGNORECASE,
)
SHOUTED_NAME = re.compile(
    r"(?P<name>(?:[A-Z][A-Z.'\u2019-]+\s+)+[A-Z][A-Z.'\u2019-]+)\s+(?=[A-Z][a-z])"
)
REPORTER_LOCATION = re.compile(r"\s+(?:in|from)\s+[A-Z][\w .'\u2019-]*$")
NAME_LIST_SPLIT = re.compile(r"\s*(?:,|;|&|\band\b)\s*")
BYLINE_AFFILIATION = re.compile(r"\s+(?:for|of|at)\s+|\s*[|(/]\s*|\s+[-\u2013\u2014]\s+")
NAME_PARTICLES = {"de", "da", "das", "del", "der", "di", "dos", "du", "la", "le", "van", "von"}
NAME_PARTICLES |= {"al", "el", "bin", "ibn", "y", "and", "&"}
NOT_NAMES = {
    "monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday", "the",
    "january", "february", "march", "june", "july", "august", "september", "october",
    "november", "december", "now", "then", "today", "tomorrow", "yesterday", "contrast",
}  # fmt: skip
MAX_METADATA_LINE = 300  # longer lines are prose, and this keeps the regexes cheap
# " | " and similar separate several metadata items on one line.
ITEM_SEPARATOR = re.compile(r"\s+[|\u2022\u00b7]\s+")
CORPORATE_SUFFIX = re.compile(
    r"(?:,?\s+(?:inc|incorporated|ltd|limited|llc|plc|corp|co|gmbh|ag|s\.a|n\.v|pty)\.?)+$", re.I
)
# Words that stay in lower case inside a name ("Times of Malta", "Folha de S.Paulo").
NAME_SMALL_WORDS = {"of", "the", "and", "for", "on", "in", "at", "de", "la", "le", "du", "des"}
NAME_SMALL_WORDS |= {"del", "da", "di", "do", "dos", "das", "y", "e", "et", "und", "van", "von"}
# An agency alone on a line closes (or opens) many wire stories: "(Reuters)", "-- AP".
AGENCY_LINE = re.compile(
    r"(?:\((?P<in>[^()\n]{1,40})\)|(?:--|[\u2013\u2014])\s*(?P<after>[^()\s][^()\n]{0,39}))\.?"
)
READING_TIME = re.compile(r"\d{1,3}\s*-?\s*min(?:ute)?s?\.?\s+read", re.IGNORECASE)
MAX_AGENCY_WORDS = 4  # "(Reuters)", "(AP)", "(Agence France-Presse)" close or open an article
# Bracketed words that label an article or a passage rather than name its agency.
BRACKETED_LABELS = {"updated", "corrected", "correction", "update", "video", "audio", "photos"}
BRACKETED_LABELS |= {"photo", "file", "opinion", "analysis", "exclusive", "live", "laughter"}
BRACKETED_LABELS |= {"applause", "advertisement", "sponsored", "editorial", "interview"}
URL_LINE = re.compile(r"<?(?P<url>(?:https?://|www\.)[^\s<>\"]+?)>?[.,;]?")
# A header line "Key: value" (any case): a short key, a colon, a value.
KEY_LINE = re.compile(r"(?P<key>[A-Za-z][A-Za-z]*(?:[ -][A-Za-z]+){0,2})\s*:\s*(?P<value>\S.*)")
HEADER_KEYS = {
    **dict.fromkeys(("title", "headline", "subject"), "title"),
    **dict.fromkeys(("author", "authors", "by", "byline", "writer", "reporter"), "author"),
    **dict.fromkeys(("source", "sources", "publisher", "agency"), "source"),
    **dict.fromkeys(("url", "link", "permalink", "source url", "canonical url"), "url"),
    **dict.fromkeys(("licence", "license", "copyright", "rights"), "licence"),
}
# Licence and copyright notes. A whole line at an edge is one if it names a licence or is a
# copyright notice with its year; prose that mentions a licence or copyright ("the licence was
# revoked") is body.
_LICENCE = (
    r"(?:creative\s+commons|\bcc[\s-]?by(?:[\s-](?:sa|nd|nc))*\b|\bcc0\b|\bgfdl\b"
    r"|gnu\s+free\s+documentation|all\s+rights\s+reserved)"
)
# "Copyright 2003 ...", "Copyright (c) ...", "\u00a9 Example Wire 2003".
_COPYRIGHT = r"(?:(?:copyright\s*)?(?:\u00a9|\(c\)\s*\d{4}\b)|copyright\s+\d{4}\b)"
COPYRIGHT_START = re.compile(rf"\(?{_COPYRIGHT}", re.IGNORECASE)
LICENCE_NAME = re.compile(_LICENCE, re.IGNORECASE)  # searched: a leading .* backtracks badly
LICENCE_HINTS = ("commons", "cc", "gfdl", "gnu", "rights")
# ... and in a source line, a licence note in brackets or after a comma or dash.
LICENCE_NOTE = re.compile(
    rf"\s*(?:[(\[][^()\[\]]*(?:{_LICENCE}|licen[cs]|public\s+domain)[^()\[\]]*[)\]]"
    rf"|(?:[,;|]|\s{_DASH})?\s*(?:licen[cs]ed\s+under|{_LICENCE}|{_COPYRIGHT}).*$)",
    re.IGNORECASE,
)


def _classify_line(line: str, found: _Found) -> bool:
    """Record the metadata a whole line states; return False if it is not a metadata line."""
    if len(line) > MAX_METADATA_LINE:
        return False
    items = [_read_item(item) for item in ITEM_SEPARATOR.split(line.strip())]
    if any(item is None for item in items):
        return False
    for item in items:
        if item is not None:
            found.merge(item)
    return True


@lru_cache(maxsize=1 << 14)  # boilerplate lines recur across a corpus; callers only read the result
def _read_item(item: str) -> _Found | None:
    """Return what one metadata item states ("Source: X", "By Y", a date), or None."""
    if match := KEYWORD_DATE_LINE.fullmatch(item):
        return _Found.of_date(_date_from_match(match), match["kw"])
    if match := BARE_DATE_LINE.fullmatch(item):
        return _Found.of_date(_date_from_match(match), None)
    if match := PHOTO_LINE.fullmatch(item):
        return _Found(photo_credit=match["value"].strip())
    if match := SOURCE_LINE.fullmatch(item):
        return _source_item(match["value"])
    if (names := _note_credits(item)) is not None:
        return _Found(credits=names)
    if (match := PAREN_NOTE.fullmatch(item)) and (
        names := _note_credits(match["value"])
    ) is not None:
        return _Found(credits=names)
    if (match := AGENCY_LINE.fullmatch(item)) and _is_agency(
        agency := match["in"] or match["after"]
    ):
        return _Found(agency=agency.strip())
    if READING_TIME.fullmatch(item):
        return _Found()
    if match := URL_LINE.fullmatch(item):
        return _Found(url=match["url"])
    if (match := KEY_LINE.fullmatch(item)) and (found := _read_key(match["key"], match["value"])):
        return found
    if COPYRIGHT_START.match(item) or _names_licence(item):
        return _Found()
    if author := _author_of(item):
        return _Found(author=author)
    if UNREADABLE_DATE_LINE.fullmatch(item):
        return _Found()
    return None


def _names_licence(item: str) -> bool:
    """Tell whether a line names a licence ("CC BY 2.5", "All rights reserved")."""
    lowered = item.lower()  # a plain substring test first: the search is slow on long lines
    return any(w in lowered for w in LICENCE_HINTS) and LICENCE_NAME.search(item) is not None


def _is_agency(value: str) -> bool:
    """Tell whether "Reuters" in "(Reuters)" or "-- Reuters" names an agency, not a label."""
    words = value.split()
    return (
        len(value.strip()) > 1  # "(S)he said"
        and _looks_like_names(value)
        and len(words) <= MAX_AGENCY_WORDS
        and value.strip().casefold() not in BRACKETED_LABELS
    )


def _read_key(key: str, value: str) -> _Found | None:
    """Return what a "Key: value" header line states, or None if the key is not a known one."""
    match HEADER_KEYS.get(" ".join(key.lower().split())):
        case "title":
            return _Found(title=value.strip())
        case "author":
            return _Found(author=_names_of(value))
        case "source":
            return _source_item(value)
        case "url":
            return _Found(url=value.strip().strip("<>"))
        case "licence":
            return _Found()
    if match := URL_LINE.fullmatch(value.strip()):  # "Read more: https://..."
        return _Found(url=match["url"])
    return None


def _source_item(value: str) -> _Found:
    """Read a source line's value: a name (without licence note or "and agencies") or a URL."""
    if match := URL_LINE.fullmatch(value.strip()):
        return _Found(url=match["url"])
    return _Found(source=source_name(AGENCIES_SUFFIX.sub("", LICENCE_NOTE.sub("", value))))


def source_name(value: str) -> str | None:
    """Spell a source name one way: spacing collapsed, no corporate suffix ("Reuters Ltd."),
    shouted words in title case ("REUTERS", "BBC NEWS"; short ones like "BBC" are acronyms), a
    name written all in lower case as names are written ("the daily gazette")."""
    name = CORPORATE_SUFFIX.sub("", " ".join(value.split())).strip(" .,;:-")
    if (name.isupper() and " " in name) or name.islower():  # "BBC NEWS", "the daily gazette"
        return name_case(name)
    return (
        " ".join(
            word.title() if word.isupper() and sum(c.isalpha() for c in word) > 4 else word
            for word in name.split()
        )
        or None
    )


def name_case(name: str) -> str:
    """Capitalise a name's words as names are written ("Times of Malta"); short words without
    a vowel are acronyms and stay ("BBC", "CNN")."""
    return " ".join(
        word.lower() if n and word.lower() in NAME_SMALL_WORDS
        else word.upper() if len(word) <= 3 and not set(word.lower()) & set("aeiou")
        else word.title()
        for n, word in enumerate(name.split())
    )  # fmt: skip


def _note_credits(value: str) -> list[str] | None:
    """Return the reporters of a "(Reporting by A; Editing by B)" note, None if it is not one."""
    names: list[str] = []
    for part in value.split(";"):
        match = NOTE_PART.fullmatch(part)
        if not match:
            return None
        if REPORTING_ROLES.fullmatch(match["role"]):  # editors and translators are not credits
            names.extend(_split_names(match["who"]))
    return names


def _split_names(value: str) -> list[str]:
    """Split "Reuters, AP and Jane Doe in Moscow" into its names, without their locations."""
    names = (REPORTER_LOCATION.sub("", name).strip(" .") for name in NAME_LIST_SPLIT.split(value))
    return [name for name in names if name]


def _author_of(item: str) -> str | None:
    """Return the person name(s) of a byline as written, or None if it is not a byline."""
    match = BYLINE.fullmatch(item.strip()) or ROLE_BYLINE.fullmatch(item.strip())
    return _names_of(match["value"]) if match else None


def _names_of(value: str) -> str | None:
    """Return the person name(s) a byline's value states, without an affiliation, else None."""
    if match := SHOUTED_NAME.match(value):  # "JANE DOE Associated Press"
        value = match["name"]
    names = BYLINE_AFFILIATION.split(value, maxsplit=1)[0]
    parts = [p for p in re.split(r"\s*,\s*", names) if p]
    # "Jane Doe, Reuters" names an affiliation; "A, B and C" is a list of people.
    if len(parts) > 1 and not re.match(r"(?:and|&)\s|.*\s(?:and|&)\s", parts[-1]):
        names = parts[0]
    names = names.strip()
    return names if _looks_like_names(names) else None


def _looks_like_names(text: str) -> bool:
    """Tell whether text reads like one or more personal names rather than prose."""
    words = text.replace(",", " ").split()
    if not 1 <= len(words) <= 12 or any(ch.isdigit() for ch in text):
        return False
    if text.endswith((".", "!", "?")) and len(words[-1].rstrip(".!?")) > 3:
        return False
    if words[0].lower().strip(".") in NOT_NAMES:
        return False
    return all(w[0].isupper() or w.lower() in NAME_PARTICLES for w in words)


# --- headline -----------------------------------------------------------------------------------

CLOSERS = "\"'\u201d\u2019)]\u00bb"
SENTENCE_INSIDE = re.compile(r"[.!?][\"'\u201d\u2019)]*\s+[\"'\u201c\u2018(]*[A-Z]")
CONTINUATION_WORDS = {"a", "an", "the", "of", "to", "and", "or", "in", "on", "for", "with", "by"}
CONTINUATION_WORDS |= {"at", "from", "that", "which", "who", "as", "but", "is", "was", "has"}
SMALL_TITLE_WORDS = CONTINUATION_WORDS | {"vs", "over", "into", "after", "amid", "up", "off"}


def _looks_like_headline(line: str, rest: list[str]) -> bool:
    """Tell whether a top line is a headline: short, unpunctuated, followed by body text."""
    text = line.strip()
    words = text.split()
    if not 2 <= len(words) <= 20 or len(text) > 160 or SENTENCE_INSIDE.search(text):
        return False
    if not (text[0].isupper() or text[0].isdigit() or text[0] in "\"'\u201c\u2018"):
        return False
    # A line running on into the next one ("... met with\nJane Doe") is a wrapped sentence; a
    # headline may end in any word, as titles in any case do ("Where the Money Comes From").
    if words[-1] in CONTINUATION_WORDS and rest and rest[0].strip():
        return False
    final = text.rstrip(CLOSERS)[-1:]
    # A question in sentence case is a headline when it stands alone above the body ("Is the
    # market about to turn?"), a first sentence when the body runs on under it.
    alone = final == "?" and bool(rest) and not rest[0].strip()
    if final in ".,;:\u2026" or (final in "!?" and not _is_title_case(words) and not alone):
        return False
    return _is_body_after(rest)


def _is_title_case(words: list[str]) -> bool:
    """Tell whether most significant words are capitalised, as in "Putin Approves Deal"."""
    significant = [w for w in words if w.lower() not in SMALL_TITLE_WORDS]
    capitalised = [w for w in significant if w[0].isupper() or not w[0].isalpha()]
    return len(capitalised) >= 0.8 * len(significant)


def _is_body_after(rest: list[str]) -> bool:
    """Tell whether the lines after a headline candidate start a body of sentences."""
    # A hard-wrapped first sentence continues in lower case on the next line.
    following = rest[0].strip() if rest else ""
    if following[:1].islower() and not _classify_line(following, _Found()):
        return False
    return any(
        ("." in line or "!" in line or "?" in line) and not _classify_line(line, _Found())
        for line in rest
    )


# --- the whole article -------------------------------------------------------------------------


def normalise_text(text: str) -> str:
    """Strip a byte order mark and turn CRLF and CR line endings into LF."""
    return text.lstrip("\ufeff").replace("\r\n", "\n").replace("\r", "\n")


def parse_article(text: str) -> ParsedArticle:
    """Split raw article text into metadata and a verbatim body."""
    lines = normalise_text(text).split("\n")
    if not any(line.strip() for line in lines):
        raise ParseError("article text is empty")
    found = _Found()
    end = _take_footer(lines, found)
    start, title = _take_header(lines, end, found)
    body = "\n".join(lines[start:end]).strip()
    if not body:
        raise ParseError("article has no body text, only metadata")
    if not any(character.isalnum() for character in body):  # zero-width spaces, marks alone
        raise ParseError("article body has no letter or digit: no text to keep")
    return ParsedArticle(
        body=body,
        title=found.title or title,
        published_at=found.published or found.updated,
        author=found.author,
        source=found.source or source_name(found.agency or ""),
        credits=found.credits,
        photo_credit=found.photo_credit,
        url=found.url,
    )


def _take_footer(lines: list[str], found: _Found) -> int:
    """Consume metadata lines and glued trailers at the bottom; return where the body ends."""
    end = len(lines)
    while end > 0:
        last = lines[end - 1]
        if not last.strip() or _classify_line(last, found):
            end -= 1
        elif (trimmed := _strip_glued_trailer(last, found)) is not None:
            lines[end - 1] = trimmed
        else:
            break
    found.title = None  # a title key names the headline only at the top (a fact box may end one)
    return end


def _strip_glued_trailer(line: str, found: _Found) -> str | None:
    """Cut a source or credits trailer off the end of the last sentence; None if there is none."""
    if match := GLUED_SOURCE.search(line):
        found.merge(_source_item(match["value"]))
    elif match := GLUED_CREDITS.search(line):
        found.merge(_Found(credits=_split_names(match["value"])))
    elif (match := GLUED_PAREN_NOTE.search(line)) and (
        names := _note_credits(match["value"])
    ) is not None:
        found.merge(_Found(credits=names))
    else:
        return None
    return line[: match.start()]


def _take_header(lines: list[str], end: int, found: _Found) -> tuple[int, str | None]:
    """Consume headline, metadata lines and a dateline at the top; return body start and title."""
    title: str | None = None
    dateline_seen = False
    index = 0
    while index < end:
        line = lines[index]
        if not line.strip() or _classify_line(line, found) or _in_titled_header(lines, index, end):
            index += 1
        elif not dateline_seen and (remainder := _strip_dateline(line, found)) is not None:
            lines[index] = remainder
            dateline_seen = True
        elif (
            title is None
            and found.title is None
            and _looks_like_headline(line, lines[index + 1 : end])
        ):
            title = line.strip()
            index += 1
        else:
            break
    return index, title


def _in_titled_header(lines: list[str], index: int, end: int) -> bool:
    """Tell whether a line is one of a header block of "Key: value" lines that names the title
    ("Title: X", "Category: Politics", ...): there, unknown keys are metadata too. Without a
    title key, "Kremlin: talks resume" may well be the headline."""
    if not KEY_LINE.fullmatch(lines[index].strip()):
        return False
    first, last = index, index
    while first > 0 and KEY_LINE.fullmatch(lines[first - 1].strip()):
        first -= 1
    while last + 1 < end and KEY_LINE.fullmatch(lines[last + 1].strip()):
        last += 1
    keys = (KEY_LINE.fullmatch(line.strip()) for line in lines[first : last + 1])
    return any(HEADER_KEYS.get(key["key"].lower()) == "title" for key in keys if key)


def _strip_dateline(line: str, found: _Found) -> str | None:
    """Cut a dateline ("date 2017-03-14 ", "(May 3, 2016) ") off the body; None if there is none."""
    for pattern in (KEYWORD_DATE_PREFIX, DATELINE_PREFIX, AGENCY_DATELINE, AGENCY_OPENING):
        if match := pattern.match(line):
            groups = match.groupdict()
            if pattern is AGENCY_OPENING and not _is_agency(groups["agency"]):
                return None
            if "iso_y" in groups:
                found.merge(_Found.of_date(_date_from_match(match), groups.get("kw")))
            found.merge(_Found(agency=groups.get("agency")))
            return line[match.end() :]
    return None
