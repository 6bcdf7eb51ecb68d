"""Turn user search text into Tantivy queries with our own forgiving syntax (never raises on input).

Syntax (the `q` parameter; SYNTAX below is its user documentation): words are ANDed (`AND`
may be written); `"exact phrase"`; `a OR b`; `-word`, `-"phrase"` and `NOT word` exclude;
`word*` is a prefix; `title:` before a word, phrase or prefix searches headlines only. Anything
else is plain text: the syntax characters of other engines (`body:x`, `^2`, `~`, brackets)
separate words like spaces.

Decisions worth knowing:
- AND, OR and NOT are operators in capitals only: lowercase they are words. A leading,
  trailing or doubled AND is dropped, as is a NOT with nothing after it.
- OR binds tighter than the implicit AND: `a b OR c` is `a AND (b OR c)`. OR joins two positive
  items only; a leading, trailing, doubled or negation-adjacent OR is dropped (searching the word
  "or" would match nearly every article). Lowercase `or` is a plain word.
- A word the analyzer splits into several tokens ("U.S.", "e-mail") is searched as a phrase.
- An unbalanced quote is ignored; typographic quotes count as `"`.
- Only negations: every article except those.
- A prefix needs 2+ characters before `*` (else it is the plain word). It is lowercased but not
  stemmed, so it matches the stemmed index terms that begin with it ("organiz*" finds
  "organization", but "runn*" does not find "running", indexed as "run"). After joined words
  ("e-ma*") it is a phrase prefix, expanded to tantivy's default 50 terms; alone it matches
  every indexed term that starts with it, with a constant score.
- No stop words are removed (the index keeps them), so only text without any alphanumeric
  token (or the bare syntax, like `OR` or `-`) gives None.
- At most MAX_TERMS analysed terms are used and the text is cut at MAX_QUERY_CHARS.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from enum import Enum
from typing import NamedTuple

import tantivy

FIELD_BOOSTS: Mapping[str, float] = {"title": 2.0, "body": 1.0}
MAX_QUERY_CHARS = 500
MAX_TERMS = 64
MIN_PREFIX_CHARS = 2
# Mostly the best field's score, with a little credit for matching in the other field too
# (Solr's usual dismax tie value).
TIE_BREAKER = 0.1

# Same length limit as tantivy's built-in "en_stem".
_MAX_TOKEN_CHARS = 40  # bytes: the analyzers drop longer words (in articles and queries)
_PIECES = re.compile(r"[^\W_]+")  # the words the simple tokenizer splits text into
_UNINDEXED = "x" * _MAX_TOKEN_CHARS  # a term no index holds
_SMART_QUOTES = str.maketrans(dict.fromkeys("\u201c\u201d\u201e\u201f\u00ab\u00bb", '"'))
# Query-syntax punctuation of other engines splits words like a space, so `title:foo` is two
# words rather than the phrase "title foo"; joiners such as . - ' & / stay inside a word
# ("U.S.", "e-mail") and make it a phrase.
_SEPARATORS = r"\s()\[\]{}<>:;!?^~|=+\\"
# An optional "-", an optional field, then a closed "phrase" or a word; a quote without its
# pair matches nothing here, so it is skipped. `title:` with nothing after it is the word.
_TOKEN_RE = re.compile(
    rf'(?P<neg>-)?(?:(?P<field>(?i:title)):(?=["\w]))?'
    rf'(?:"(?P<phrase>[^"]*)"|(?P<word>[^{_SEPARATORS}"]+))'
)
SYNTAX = """Full-text query. Words are all required (`AND` between them may be written);
`a OR b` wants either (OR binds tighter: `a b OR c` is `a AND (b OR c)`); `-word` or `NOT word`
excludes; `"exact phrase"`; `word*` is a prefix (2+ characters); `title:word`,
`title:"a phrase"` and `title:prefix*` search headlines only (`-title:word` excludes). AND, OR
and NOT are operators in capitals only. Case and accents do not matter; words are stemmed
(`elections` finds `election`). Brackets do not group: they separate words, as spaces do. Any
text is safe: what is not syntax is searched as words."""
SYNTAX_EXAMPLES = {
    "words": ("Every word", "putin ossetia"),
    "phrase": ("An exact phrase", '"prime minister"'),
    "or": ("Either word", "annexation OR integration"),
    "not": ("Without a word", "ossetia -abkhazia"),
    "prefix": ("Words that begin so", "militar*"),
    "title": ("In the headline", 'title:putin title:"military deal"'),
}


@dataclass(frozen=True)
class Terms:
    """Analysed terms at their relative positions; one term, a phrase, or a phrase prefix; in
    one field, or in every boosted one (None)."""

    terms: tuple[tuple[int, str], ...]
    prefix: bool = False
    field: str | None = None


@dataclass(frozen=True)
class Or:
    """At least one child matches."""

    children: tuple[Node, ...]


@dataclass(frozen=True)
class And:
    """Every `must` child matches and no `must_not` child does (no `must`: all documents)."""

    must: tuple[Node, ...]
    must_not: tuple[Node, ...] = ()


Node = Terms | Or | And


class _Kind(Enum):
    WORD = "word"
    PHRASE = "phrase"
    PREFIX = "prefix"
    OR = "or"
    AND = "and"
    NOT = "not"


_OPERATORS = {"OR": _Kind.OR, "AND": _Kind.AND, "NOT": _Kind.NOT}


class _Token(NamedTuple):
    kind: _Kind
    text: str
    negated: bool
    field: str | None = None


def english_analyzer() -> tantivy.TextAnalyzer:
    """Build the analyzer that tantivy registers as "en_stem"."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(_MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


def folding_analyzer() -> tantivy.TextAnalyzer:
    """Build the index's analyzer of titles and bodies (registered as TEXT_TOKENIZER):
    "en_stem" that also folds accents to ASCII, so "Erdoğan" and "Erdogan" are one term."""
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(_MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .filter(tantivy.Filter.stemmer("english"))
        .build()
    )


TEXT_TOKENIZER = "en_fold"


@functools.cache
def _default_analyzer() -> tantivy.TextAnalyzer:
    return folding_analyzer()


@functools.cache
def _prefix_analyzer() -> tantivy.TextAnalyzer:
    # The index's analyzer without the stemmer: the stem of a word's beginning is not a
    # beginning of its stem.
    return (
        tantivy.TextAnalyzerBuilder(tantivy.Tokenizer.simple())
        .filter(tantivy.Filter.remove_long(_MAX_TOKEN_CHARS))
        .filter(tantivy.Filter.lowercase())
        .filter(tantivy.Filter.ascii_fold())
        .build()
    )


def _clean(text: str) -> str:
    # Lone surrogates cannot cross into Rust; replace them rather than fail.
    text = text[:MAX_QUERY_CHARS].encode("utf-8", "replace").decode("utf-8")
    return text.translate(_SMART_QUOTES)


def _tokens(text: str) -> Iterator[_Token]:
    for match in _TOKEN_RE.finditer(text):
        negated = match["neg"] is not None
        field = match["field"].lower() if match["field"] else None
        if match["phrase"] is not None:
            yield _Token(_Kind.PHRASE, match["phrase"], negated, field)
        elif match["word"] in _OPERATORS and not negated and field is None:
            yield _Token(_OPERATORS[match["word"]], match["word"], negated)
        elif match["word"].endswith("*"):
            yield _Token(_Kind.PREFIX, match["word"].rstrip("*"), negated, field)
        else:
            yield _Token(_Kind.WORD, match["word"], negated, field)


def _positions(analyzer: tantivy.TextAnalyzer, text: str) -> list[tuple[int, str]]:
    tokens = analyzer.pre_tokenize(text).tokens
    # Keep gaps (e.g. a dropped long token) so phrases line up with the indexed positions.
    return [(t.position - tokens[0].position, t.text) for t in tokens]


def _unsearchable(token: _Token) -> bool:
    """Whether the token holds a word no index holds (the analyzers drop words this long), so
    that nothing can match it; dropped from the query, it would have matched every article.
    Inside a phrase such a word is a gap, as it is in the article's positions; a phrase cannot
    start or end with a gap."""
    long = [len(piece.encode()) >= _MAX_TOKEN_CHARS for piece in _PIECES.findall(token.text)]
    if token.kind is _Kind.PHRASE:
        return bool(long) and (long[0] or long[-1])
    return any(long)


def _leaf(token: _Token, analyzer: tantivy.TextAnalyzer, budget: int) -> Terms | None:
    if _unsearchable(token):
        return Terms(((0, _UNINDEXED),), field=token.field)
    if token.kind is _Kind.PREFIX:
        raw = _positions(_prefix_analyzer(), token.text)
        if raw and len(raw[-1][1]) >= MIN_PREFIX_CHARS:
            # Whole words before the prefix ("e-ma*") are stemmed like the index.
            stemmed = _positions(analyzer, token.text)
            terms = [*stemmed[:-1], raw[-1]]
            if len(terms) <= budget:
                return Terms(tuple(terms), prefix=True, field=token.field)
    terms = _positions(analyzer, token.text)[:budget]
    return Terms(tuple(terms), field=token.field) if terms else None


def parse(text: str, *, analyzer: tantivy.TextAnalyzer | None = None) -> Node | None:
    """Parse user text into analysed terms and operators; None if nothing searchable is left."""
    analyzer = _default_analyzer() if analyzer is None else analyzer
    groups: list[list[Node]] = []  # ANDed groups of ORed items
    excluded: list[Node] = []
    budget = MAX_TERMS
    or_pending = last_positive = not_pending = False
    for token in _tokens(_clean(text)):
        if budget <= 0:
            break
        if token.kind is _Kind.OR:
            or_pending = last_positive
            continue
        if token.kind is _Kind.AND:
            or_pending = False
            continue
        if token.kind is _Kind.NOT:
            not_pending = True
            continue
        leaf = _leaf(token, analyzer, budget)
        if leaf is None:
            continue
        budget -= len(leaf.terms)
        negated, not_pending = token.negated or not_pending, False
        if negated:
            excluded.append(leaf)
        elif or_pending:
            groups[-1].append(leaf)
        else:
            groups.append([leaf])
        last_positive = not negated
        or_pending = False
    return _combine(groups, excluded)


def _combine(groups: list[list[Node]], excluded: list[Node]) -> Node | None:
    must = tuple(group[0] if len(group) == 1 else Or(tuple(group)) for group in groups)
    if len(must) == 1 and not excluded:
        return must[0]
    if not must and not excluded:
        return None
    return And(must, tuple(excluded))


def _field_query(leaf: Terms, schema: tantivy.Schema, field: str) -> tantivy.Query:
    if leaf.prefix:
        return tantivy.Query.phrase_prefix_query(schema, field, list(leaf.terms))
    if len(leaf.terms) == 1:
        return tantivy.Query.term_query(schema, field, leaf.terms[0][1], index_option="freq")
    # phrase_query panics (not raises) on one term; the branch above keeps it away.
    return tantivy.Query.phrase_query(schema, field, list(leaf.terms))


def _terms_query(
    leaf: Terms,
    schema: tantivy.Schema,
    field_boosts: Mapping[str, float],
    within: tantivy.Query | None,
) -> tantivy.Query:
    per_field = []
    if leaf.field is not None:  # one field, whatever its boost
        field_boosts = {leaf.field: field_boosts.get(leaf.field, 1.0)}
    for field, boost in field_boosts.items():
        query = _field_query(leaf, schema, field)
        if boost != 1.0:
            query = tantivy.Query.boost_query(query, boost)
        if within is not None:  # scores nothing: the leaf scores as before
            restriction = tantivy.Query.const_score_query(within, 0.0)
            query = tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, restriction), (tantivy.Occur.Must, query)]
            )
        per_field.append(query)
    if len(per_field) == 1:
        return per_field[0]
    return tantivy.Query.disjunction_max_query(per_field, tie_breaker=TIE_BREAKER)


def to_tantivy(
    node: Node,
    *,
    schema: tantivy.Schema,
    field_boosts: Mapping[str, float],
    within: tantivy.Query | None = None,
) -> tantivy.Query:
    """Build the Tantivy query for a parsed node, searching each term in all boosted fields;
    `within` restricts every term to those documents without changing its score (the caller
    still restricts the whole, which this alone does not do for excluded terms)."""
    if not field_boosts:
        raise ValueError("field_boosts must name at least one field")

    def build(child: Node) -> tantivy.Query:
        return to_tantivy(child, schema=schema, field_boosts=field_boosts, within=within)

    match node:
        case Terms():
            return _terms_query(node, schema, field_boosts, within)
        case Or(children):
            return tantivy.Query.boolean_query([(tantivy.Occur.Should, build(c)) for c in children])
        case And(must, must_not):
            # A boolean query with only MustNot clauses matches nothing, so start from all;
            # scored as a constant, since where the MustNot matches nothing in a segment,
            # Tantivy drops a bare all_query from an intersection with its score (filtered
            # matches then scored 1 in some segments and 2 in others).
            everything = tantivy.Query.const_score_query(tantivy.Query.all_query(), 1.0)
            positive = [build(c) for c in must] or [everything]
            return tantivy.Query.boolean_query(
                [(tantivy.Occur.Must, q) for q in positive]
                + [(tantivy.Occur.MustNot, build(c)) for c in must_not]
            )
    raise TypeError(f"not a query node: {node!r}")


class Highlights(NamedTuple):
    """The positive terms of a query, for snippets: phrases (terms joined by a space), single
    terms, and prefixes. Stems and prefixes are, mostly, beginnings of the words they match,
    so they also tell where in a lower-cased body the first match is."""

    phrases: tuple[str, ...]
    words: tuple[str, ...]
    prefixes: tuple[str, ...]


def highlights(node: Node | None) -> Highlights:
    """Collect the terms worth highlighting; excluded ones never are."""
    phrases: list[str] = []
    words: list[str] = []
    prefixes: list[str] = []

    def collect(child: Node) -> None:
        match child:
            case Terms(field="title"):
                pass  # snippets are cut from bodies
            case Terms(terms, prefix):
                texts = [term for _, term in terms]
                if len(texts) > 1:
                    phrases.append(" ".join(texts))
                if prefix:
                    prefixes.append(texts.pop())
                words.extend(texts)
            case Or(children) | And(children):
                for c in children:
                    collect(c)

    if node is not None:
        collect(node)
    return Highlights(tuple(phrases), tuple(dict.fromkeys(words)), tuple(dict.fromkeys(prefixes)))


def build_query(
    text: str,
    *,
    schema: tantivy.Schema,
    field_boosts: Mapping[str, float],
    analyzer: tantivy.TextAnalyzer | None = None,
) -> tantivy.Query | None:
    """Parse user text and build the index query; None if the text has no searchable term."""
    node = parse(text, analyzer=analyzer)
    if node is None:
        return None
    return to_tantivy(node, schema=schema, field_boosts=field_boosts)
