"""Our query syntax, run against a small in-memory index analysed with tantivy's "en_stem"."""

from __future__ import annotations

import itertools

import pytest
import tantivy
from hypothesis import given, settings
from hypothesis import strategies as st

from app.search.query import (
    FIELD_BOOSTS,
    MAX_TERMS,
    And,
    Node,
    Or,
    Terms,
    build_query,
    english_analyzer,
    highlights,
    parse,
)

DOCS = {
    "a": (
        "Crimea annexation condemned",
        "The annexation of Crimea by Russia was condemned at the United Nations.",
    ),
    "b": ("Russia annexed territory", "Officials said the region was annexed after a vote."),
    "c": ("Election results", "The United States held elections; turnout in the U.S. was high."),
    "d": ("Weather report", "Heavy rain in London and Paris."),
    "e": ("Paris climate talks", "Delegates met to discuss climate policy."),
    "f": ("Markets", "Stocks fell in London. Paris markets closed early."),
    "g": ("Email security", "An e-mail scam targeted organizations in London."),
    "h": ("Sports", "The team won the final. Fans celebrated."),
}


@pytest.fixture(scope="module")
def index() -> tantivy.Index:
    builder = tantivy.SchemaBuilder()
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name="en_stem")
    builder.add_text_field("body", stored=True, tokenizer_name="en_stem")
    index = tantivy.Index(builder.build())
    writer = index.writer(heap_size=15_000_000, num_threads=1)
    for doc_id, (title, body) in DOCS.items():
        writer.add_document(tantivy.Document(id=doc_id, title=title, body=body))
    writer.commit()
    index.reload()
    return index


@pytest.fixture(scope="module")
def searcher(index: tantivy.Index) -> tantivy.Searcher:
    return index.searcher()


def ranked(
    index: tantivy.Index, text: str, field_boosts: dict[str, float] | None = None
) -> list[str]:
    """Return the ids matching `text`, best first."""
    query = build_query(text, schema=index.schema, field_boosts=field_boosts or FIELD_BOOSTS)
    assert query is not None, text
    searcher = index.searcher()
    return [searcher.doc(addr)["id"][0] for _, addr in searcher.search(query, 100).hits]


def found(index: tantivy.Index, text: str) -> set[str]:
    return set(ranked(index, text))


def term_count(node: Node) -> int:
    match node:
        case Terms(terms):
            return len(terms)
        case Or(children):
            return sum(term_count(c) for c in children)
        case And(must, must_not):
            return sum(term_count(c) for c in must + must_not)
    raise AssertionError(node)


# The analyzer


def test_english_analyzer_gives_the_tokens_en_stem_indexed(
    searcher: tantivy.Searcher, index: tantivy.Index
) -> None:
    analyzer = english_analyzer()
    for doc_id, (title, body) in DOCS.items():
        for field, text in (("title", title), ("body", body)):
            for token in analyzer.analyze(text):
                query = tantivy.Query.term_query(index.schema, field, token)
                hits = searcher.search(query, 10).hits
                assert doc_id in {searcher.doc(a)["id"][0] for _, a in hits}, (field, token)


def test_english_analyzer_stems_and_lowercases() -> None:
    analyzer = english_analyzer()
    assert analyzer.analyze("Annexed annexation ANNEXING") == ["annex"] * 3
    assert analyzer.analyze("U.S. e-mail") == ["u", "s", "e", "mail"]
    assert analyzer.analyze("x" * 40) == []  # long tokens dropped, like en_stem


# Semantics on the index


def test_words_are_anded(index: tantivy.Index) -> None:
    assert found(index, "london paris") == {"d", "f"}


def test_a_word_matches_in_any_field(index: tantivy.Index) -> None:
    assert found(index, "paris") == {"d", "e", "f"}
    assert found(index, "paris delegates") == {"e"}  # title + body


def test_phrase_needs_the_words_in_order(index: tantivy.Index) -> None:
    assert found(index, '"united nations"') == {"a"}
    assert found(index, '"nations united"') == set()
    assert found(index, "nations united") == {"a"}


def test_one_word_phrase_is_a_term(index: tantivy.Index) -> None:
    assert found(index, '"london"') == found(index, "london")


def test_unbalanced_quote_is_ignored(index: tantivy.Index) -> None:
    assert found(index, '"nations united') == {"a"}
    assert found(index, 'london "paris') == {"d", "f"}


def test_word_split_by_the_analyzer_is_a_phrase(index: tantivy.Index) -> None:
    assert found(index, "U.S.") == {"c"}
    assert found(index, "e-mail") == {"g"}
    assert found(index, "mail-e") == set()


def test_or(index: tantivy.Index) -> None:
    assert found(index, "rain OR stocks") == {"d", "f"}


def test_or_binds_tighter_than_and(index: tantivy.Index) -> None:
    # a b OR c = a AND (b OR c), not (a AND b) OR c, which would add "e".
    assert found(index, "london rain OR delegates") == {"d"}
    assert found(index, "rain OR stocks london OR crimea") == {"d", "f"}


def test_lowercase_or_is_a_word(index: tantivy.Index) -> None:
    assert found(index, "rain or stocks") == set()


def test_stray_or_is_dropped() -> None:
    assert parse("OR") is None
    assert parse("OR london OR") == parse("london")
    assert parse("rain OR OR stocks") == parse("rain OR stocks")


def test_negation(index: tantivy.Index) -> None:
    assert found(index, "london -paris") == {"g"}
    assert found(index, 'paris -"climate talks"') == {"d", "f"}
    assert found(index, 'paris -"talks climate"') == {"d", "e", "f"}


def test_negation_only_matches_everything_else(index: tantivy.Index) -> None:
    assert found(index, "-london") == set(DOCS) - {"d", "f", "g"}
    assert found(index, '-london -"climate talks"') == set(DOCS) - {"d", "e", "f", "g"}


def test_a_word_too_long_to_be_indexed_matches_nothing(index: tantivy.Index) -> None:
    """The analyzers drop words of 40 bytes or more, in articles and in queries: such a word
    used to vanish from the query, which then matched every article."""
    long = "donaudampfschifffahrtsgesellschaftskapitaene"
    assert found(index, long) == found(index, f"title:{long}") == found(index, f"{long}*") == set()
    assert found(index, f"{long} paris") == found(index, f'"{long} paris"') == set()
    assert found(index, f"paris -{long}") == found(index, f"paris OR {long}") == {"d", "e", "f"}
    assert found(index, "a" * 39) == set()  # the longest indexed length, still a word


def test_or_never_joins_a_negation(index: tantivy.Index) -> None:
    assert found(index, "paris OR -london") == {"e"}


def test_prefix(index: tantivy.Index) -> None:
    assert found(index, "annex*") == {"a", "b"}
    assert found(index, "organiz*") == {"g"}
    assert found(index, "ELECT*") == {"c"}
    assert found(index, "lond* -paris") == {"g"}
    assert found(index, "-lond*") == set(DOCS) - {"d", "f", "g"}
    assert found(index, "united sta*") == {"c"}


def test_prefix_is_not_stemmed(index: tantivy.Index) -> None:
    # "annexation" is indexed as "annex": a longer prefix cannot reach it (documented limit).
    assert found(index, "annexa*") == set()


def test_prefix_after_joined_words_is_a_phrase_prefix(index: tantivy.Index) -> None:
    assert found(index, "e-ma*") == {"g"}
    assert parse("u.s*") == parse("U.S.")  # one character before "*": the plain phrase "u s"


def test_short_prefix_is_the_plain_word() -> None:
    assert parse("a*") == parse("a")
    assert parse("ab*") == Terms(((0, "ab"),), prefix=True)


def test_stemming(index: tantivy.Index) -> None:
    assert found(index, "annexed") == {"a", "b"}
    assert found(index, "annexation") == {"a", "b"}
    assert found(index, "election") == {"c"}


def test_case_insensitive(index: tantivy.Index) -> None:
    assert found(index, "LONDON") == found(index, "london") == {"d", "f", "g"}
    assert found(index, '"UNITED nations"') == {"a"}


def test_title_boost_ranks_a_title_match_first(index: tantivy.Index) -> None:
    assert ranked(index, "paris")[0] == "e"
    assert ranked(index, "paris", {"title": 1.0, "body": 20.0})[0] != "e"


def test_one_field(index: tantivy.Index) -> None:
    assert set(ranked(index, "paris", {"title": 1.0})) == {"e"}


def test_foreign_syntax_is_plain_words(index: tantivy.Index) -> None:
    assert found(index, "body:paris") == set()  # only title: is a field: "body" is a word
    assert found(index, "(london and paris)") == {"d"}  # "and" is a word: only d's body has it
    assert found(index, "(rain OR stocks)") == {"d", "f"}
    assert found(index, "NEAR(london paris)") == set()
    assert found(index, "paris^ ~london") == {"d", "f"}
    assert found(index, "paris^2") == set()  # "2" is a word


def test_title_restricts_to_headlines(index: tantivy.Index) -> None:
    assert found(index, "paris") == {"d", "e", "f"}
    assert found(index, "title:paris") == found(index, "Title:Paris") == {"e"}
    assert found(index, 'title:"climate talks"') == {"e"}
    assert found(index, 'title:"talks climate"') == set()
    assert found(index, "title:annex*") == {"a", "b"}
    assert found(index, "title:elect* OR title:markets") == {"c", "f"}
    assert found(index, "london -title:weather") == {"f", "g"}
    assert found(index, "london NOT title:weather") == {"f", "g"}
    assert found(index, "title: paris") == set()  # a lone "title:" is the word "title"


def test_title_terms_are_not_highlighted_in_bodies() -> None:
    assert highlights(parse("title:paris london")).words == ("london",)


def test_and_or_not_as_words(index: tantivy.Index) -> None:
    assert found(index, "london AND paris") == found(index, "london paris") == {"d", "f"}
    assert found(index, "london NOT paris") == found(index, "london -paris") == {"g"}
    assert found(index, "NOT london") == {"a", "b", "c", "e", "h"}
    assert found(index, "london AND NOT paris") == {"g"}
    assert found(index, "rain OR stocks AND london") == {"d", "f"}
    assert found(index, "london not paris") == set()  # lowercase: the words "not" and "paris"
    assert parse("AND") is None and parse("NOT") is None and parse("paris NOT") == parse("paris")


# Parse results


@pytest.mark.parametrize(
    "text", ["", "   ", "!!!", '""', '"', "-", "--", "***", "OR OR OR", "() [] {}", "\x00\x01"]
)
def test_nothing_searchable_is_none(text: str) -> None:
    assert parse(text) is None


def test_stop_words_are_searched() -> None:
    # en_stem keeps stop words, so they are real terms.
    assert parse("the") == Terms(((0, "the"),))


def test_terms_are_bounded() -> None:
    node = parse(" ".join(f"w{i}" for i in range(200)))
    assert node is not None
    assert term_count(node) == MAX_TERMS
    phrase = parse('"' + " ".join(f"w{i}" for i in range(200)) + '"')
    assert phrase is not None
    assert term_count(phrase) == MAX_TERMS


def test_phrase_keeps_the_gap_of_a_dropped_long_token() -> None:
    assert parse(f'"london {"x" * 50} paris"') == Terms(((0, "london"), (2, "pari")))


# Hostile input: anything builds and searches without an exception


def hostile_strings() -> list[str]:
    """Return a systematic battery of nasty query strings."""
    fragments = [
        # FTS5
        "NEAR(a b, 3)",
        "a NOT b",
        "^title",
        "{title body}:x",
        "col:*",
        '"a" + "b"',
        "a*b*",
        # Lucene / Tantivy
        "title:foo",
        "a AND b",
        "a && b || c",
        "!a",
        "+a -b",
        "a^2",
        "a^",
        "a~",
        "a~0.8",
        "foo~2",
        "[a TO b]",
        "{a TO b}",
        "title:[* TO *]",
        "a\\:b",
        "\\",
        "\\\\",
        "/re.*gex/",
        "IN [a b]",
        "title:>5",
        "body:(a OR b)",
        "a:",
        ":a",
        "*:*",
        "?",
        "a?b",
        "ab*cd*",
        # Our own syntax, broken
        "OR",
        "OR a",
        "a OR",
        "a OR OR b",
        "-",
        "-OR",
        "- a",
        "a -",
        '-"',
        '-"a',
        '"a" -"',
        "*",
        "a*",
        "-a*",
        "-*",
        '"a*"',
        '"a b"*',
        "**a",
        "a**",
        "ab*",
        "-ab*",
        # Brackets and quotes
        "(",
        ")",
        "((a)",
        "a))",
        '"(a"',
        "'a'",
        "`a`",
        "\u201ca b\u201d",
        "\u201ca",
        "«a»",
        # SQL and web
        "'; DROP TABLE articles; --",
        "1 OR 1=1",
        "%27%20OR%201%3D1",
        "%00",
        "%F0%9F%98%80",
        "<script>alert(1)</script>",
        "&amp;&lt;",
        "${jndi:ldap://x}",
        "{{7*7}}",
        "../../etc/passwd",
        # Unicode
        "\ud800",
        "a\udfffb",
        "\ud83d\ude00",
        "😀",
        "😀*",
        "-😀",
        "👨‍👩‍👧",
        "مرحبا بالعالم",
        "שלום",
        "\u202eabc",
        "\u200b",
        "\ufeffa",
        "日本語*",
        "Ωmega",
        "ǅ",
        "ß*",
        "İstanbul*",
        "e\u0301",
        "\x00",
        "a\x00b",
        "\x1b[31m",
        "\t\n\r\x0b\x0c",
        "\x7f",
        "\u2028",
        "\uffff",
    ]
    repeats = [ch * n for ch in '"-*()\\:^~' for n in (1, 2, 3, 7, 50)]
    long_words = ["x" * n for n in (39, 40, 41, 500)] + ["ab" * 250 + "*", "-" + "y" * 499]
    long_mixes = [
        ("a OR " * 100)[:500],
        ('"a ' * 200)[:500],
        ("-a " * 200)[:500],
        ("ab* " * 150)[:500],
        (" ".join(fragments))[:500],
        "😀" * 500,
        "\ud800" * 500,
        "OR " * 200,
    ]
    pairs = [f"{x} {y}" for x, y in itertools.product(fragments[:20], ["OR", "-", '"', "*"])]
    return fragments + repeats + long_words + long_mixes + pairs


HOSTILE = hostile_strings()


def test_battery_is_large() -> None:
    assert len(HOSTILE) >= 200


@pytest.mark.parametrize("text", HOSTILE)
def test_hostile_text_is_safe(text: str, index: tantivy.Index, searcher: tantivy.Searcher) -> None:
    query = build_query(text, schema=index.schema, field_boosts=FIELD_BOOSTS)
    if query is not None:
        searcher.search(query, 10)


def test_long_input_is_cut(index: tantivy.Index) -> None:
    assert parse("x " * 1000 + "london") is not None
    assert found(index, "a " * 300 + "london") == found(index, "a")


PIECES = st.one_of(
    st.characters(),
    st.characters(categories=["Cs"]),  # lone surrogates
    st.sampled_from([*'"-*():^~\\ ', "OR", " OR ", "ab", "london", "u.s."]),
)
TEXT = st.lists(PIECES, max_size=300).map("".join)


@settings(max_examples=300, deadline=None)
@given(text=TEXT)
def test_any_text_is_safe(text: str, index: tantivy.Index, searcher: tantivy.Searcher) -> None:
    query = build_query(text, schema=index.schema, field_boosts=FIELD_BOOSTS)
    if query is not None:
        searcher.search(query, 10)
