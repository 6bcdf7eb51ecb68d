"""Snippets: where in a body the first match is, the window of it the generator reads, and
the HTML the API shows (matches in <mark>)."""

from __future__ import annotations

import html
import re
from collections.abc import Sequence

import tantivy

from app.search.query import Highlights

SNIPPET_CHARS = 240
# Snippets are cut from this much of the body around the first match: the generator
# re-analyses and scores all the text it is given (20 snippets of `about` at 100k: 5.3 ms from
# whole bodies, 2.3 ms from 1,000 characters, 1.1 from 480). Two fragments: the first match's
# and the next, in case it holds more of the terms (on the benchmark corpus 1,000 characters,
# four fragments, chose no better ones).
SNIPPET_WINDOW = 480
SNIPPET_LEAD = 150  # of the window, before the first match


# Text where Python and the index's tokenizer agree on every character (which are letters or
# digits, and their lower case; checked against tantivy for each one), so that FirstMatch
# finding no match proves there is none: Latin scripts, general punctuation, currency signs.
# (U+0130 lower-cases to two characters.)
_CHECKED_RANGES = ((0x00, 0x12F), (0x131, 0x2FF), (0x2000, 0x20CF))
_TOKEN = re.compile(r"[^\W_]+")


def _accent_folding() -> tuple[dict[int, str], re.Pattern[str]]:
    """How the index folds each checked character, lower-cased, to ASCII: the characters it
    folds to one character (é: e), and a pattern of the text without those it folds to more
    or fewer (æ: ae, ß: ss), where a folded lower-cased body keeps every offset."""
    folder = (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.raw())
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )
    table, uneven = {}, []
    for low, high in _CHECKED_RANGES:
        for code in range(low, high + 1):
            lowered = chr(code).lower()
            folded = "".join(folder.analyze(lowered)) or lowered
            if len(folded) == 1 and folded != lowered:
                table[ord(lowered)] = folded
            elif len(folded) != 1 and chr(code).isalnum():
                uneven.append(re.escape(chr(code)))
    ranges = "".join(f"\\u{low:04x}-\\u{high:04x}" for low, high in _CHECKED_RANGES)
    excluded = f"(?![{''.join(uneven)}])" if uneven else ""
    return table, re.compile(f"(?:{excluded}[{ranges}])*")


_FOLDED, _CHECKED_TEXT = _accent_folding()


class FirstMatch:
    """Where the first match of a query in a lower-cased body starts: its first phrase, else
    its first highlighted term. A word begins with its stem but for the stem's last character
    ("hoping" is "hope"), two of a three-letter stem ("dying" is "die"), none of a shorter
    one: true of all 321k words of wordfreq's large English list. So the stems' beginnings
    find every word that may match, and the analyzer tells which ones do (each word analysed
    once per page). No character to spare: "their" would look at every "the"."""

    def __init__(self, terms: Highlights, words: set[str], analyzer: tantivy.TextAnalyzer):
        stems = [stem_start(w) for w in terms.words]
        stems += [p[: max(1, len(p) - 2)] for p in terms.prefixes]  # of stems of any length
        self.phrases = _any_of(terms.phrases)
        self.words = _any_of(stems)
        self.highlighted, self.analyzer = words, analyzer
        self.matches: dict[str, bool] = {}

    def __call__(self, lowered: str) -> int | None:
        at = _token_start(self.phrases, lowered, lambda _: True) if self.phrases else None
        return at if at is not None else _token_start(self.words, lowered, self._matches)

    def _matches(self, word: str) -> bool:
        if (known := self.matches.get(word)) is None:
            known = not self.highlighted.isdisjoint(self.analyzer.analyze(word))
            self.matches[word] = known
        return known


def stem_start(stem: str) -> str:
    """What every word with this stem begins with (see FirstMatch)."""
    if len(stem) > 3:
        return stem[:-1]
    return stem[:1] if len(stem) == 3 else stem


def _any_of(needles: Sequence[str]) -> re.Pattern[str] | None:
    # No \b: a pattern that starts with one is tried at every character (10x slower).
    return re.compile("|".join(map(re.escape, needles))) if needles else None


def _token_start(pattern, lowered: str, accept) -> int | None:  # type: ignore[no-untyped-def]
    """The first match of the pattern at the start of a word that `accept`s that word."""
    for found in pattern.finditer(lowered):
        at, word = found.start(), _TOKEN.match(lowered, found.start())
        if word and (at == 0 or not lowered[at - 1].isalnum()) and accept(word[0]):
            return at
    return None


def snippet_of(
    generator: tantivy.SnippetGenerator, body: str, first_match: FirstMatch
) -> tantivy.Snippet | None:
    """The snippet from the window around the first match; none if the body has no match; from
    the whole body if the window shows none (rare: unchecked text, or an odd phrase)."""
    lowered = body.lower()
    at = first_match(lowered if lowered.isascii() else lowered.translate(_FOLDED))
    if at is None and _CHECKED_TEXT.fullmatch(body):
        return None
    window = window_of(body, at or 0)
    snippet = generator.snippet_from_doc(tantivy.Document(body=window))
    if snippet.highlighted() or at is None or window is body:
        return snippet
    return generator.snippet_from_doc(tantivy.Document(body=body))


def window_of(body: str, at: int) -> str:
    """SNIPPET_WINDOW characters of the body from just before `at`, cut at spaces."""
    if len(body) <= SNIPPET_WINDOW:
        return body
    start = max(0, at - SNIPPET_LEAD)
    end = start + SNIPPET_WINDOW
    if start > 0:  # not from the middle of a word
        space = body.find(" ", start, at)
        start = space + 1 if space >= 0 else start
    if end < len(body):
        space = body.rfind(" ", at, end)
        end = space if space >= 0 else end
    return body[start:end]


def marked(snippet: tantivy.Snippet | None) -> str | None:
    """Render a snippet as HTML-escaped text with matches wrapped in <mark>."""
    if snippet is None or not (fragment := snippet.fragment().encode()):  # spans: byte offsets
        return None
    parts, cursor = [], 0
    for span in snippet.highlighted():
        parts.append(html.escape(fragment[cursor : span.start].decode()))
        parts.append(f"<mark>{html.escape(fragment[span.start : span.end].decode())}</mark>")
        cursor = span.end
    parts.append(html.escape(fragment[cursor:].decode()))
    return "".join(parts)
