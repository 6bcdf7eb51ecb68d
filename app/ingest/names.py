"""Turn entity surface forms into clean names, identity keys and display names (pure rules)."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from functools import cache, lru_cache
from pathlib import Path

DATA_DIR = Path(__file__).parent / "data"

QUOTES = "\"'`\u2018\u2019\u201a\u201b\u201c\u201d\u201e\u00ab\u00bb"
# Characters that never start or end a name; "." and ")" are handled apart (U.S., Inc.).
EDGE_JUNK = QUOTES + " \t\n\r,;:!?-\u2013\u2014*/\\|[]{}<>#"
APOSTROPHE = "['\u2019`]"
LEADING_ARTICLE = re.compile(r"(?:the|The|THE)\s+(?=\S)|(?:[Aa]n?)\s+(?=[A-Z][a-z])")
# Stances and affiliations written before a name: "pro-Beijing", "anti-war", "ex-", "Pan-".
LEADING_STANCE = re.compile(r"(?:[Pp]ro|[Aa]nti|[Ee]x|[Pp]an|[Nn]on)-[\w-]+\s+(?=[A-Z])")
# Political labels that papers put before a politician's name ("Nonpartisan Jane Doe").
LEADING_LABEL = re.compile(
    r"(?:Nonpartisan|Non-partisan|Independent|Democrat|Republican|Conservative|Liberal|"
    r"Labour|Socialist|Green|Unionist|Nationalist|Veteran|Incumbent|Former|Late)\s+"
    r"(?=[A-Z][\w'\u2019-]*\s+[A-Z])"
)
POSSESSIVE = re.compile(rf"(?:{APOSTROPHE}[sS]|(?<=[sS]){APOSTROPHE})$")
# Forms of address and job titles that NER sometimes takes into a person's name.
TITLES = (
    r"Mr|Mrs|Ms|Mx|Dr|Prof|Sir|Dame|Lord|Lady|Gen|Col|Lt|Sgt|Sen|Rep|Gov|Rev|President|"
    r"Prime Minister|(?:Foreign |Defen[cs]e |Interior )?Minister|Secretary|Spokesman|"
    r"Spokeswoman|Spokesperson|Chancellor|Senator|Governor|Mayor|General|Ambassador|Judge|"
    r"King|Queen|Prince|Princess|Pope|Sheikh"
)
# The title a name is given right before it ("Senator Clark"), once honorifics are trimmed.
TITLE_BEFORE = re.compile(rf"\b({TITLES})\.?\s+$")
HONORIFIC = re.compile(
    rf"(?:{TITLES})\.?\s+(?=[A-Z]\S*\s+[A-Z])"
    # A form of address is never part of a name, even before a surname alone ("Ms Doe").
    r"|(?:Mr|Mrs|Ms|Mx|Dr|Prof|Messrs|Mme|Mlle)\.?\s+(?=[A-Z])"
)
# Letters after a name: ranks, honours, degrees ("Jane Doe QC", "John Roe PhD").
POST_NOMINAL = re.compile(r",?\s+(?:QC|KC|SC|MP|MEP|MSP|OBE|MBE|CBE|KBE|DBE|PhD|MD|Esq\.?)$")
# A generational suffix is part of a name: "Ken Griffey, Jr." is not his father.
GENERATION = r"(?:Jr|Sr)\b\.?|(?:II|III|IV)\b"
GENERATION_AFTER = re.compile(rf",? (?:{GENERATION})")
ABBREVIATION_END = re.compile(r"(?:\b[A-Za-z]\.|\b(?:Inc|Co|Corp|Ltd|Jr|Sr|St|Bros)\.)$")
# Words that join the parts of a name and stay lower case in it ("Ministry of Defence").
CONNECTORS = frozenset(
    {
        "a", "an", "and", "at", "by", "for", "in", "of", "on", "the", "to", "al", "el", "bin",
        "bint", "ibn", "ben", "abu", "da", "das", "de", "del", "della", "dei", "den", "der",
        "des", "di", "do", "dos", "du", "e", "la", "le", "ter", "ten", "van", "von", "y", "zu",
    }
)  # fmt: skip


def trim(text: str, *, person: bool = False) -> tuple[int, int]:
    """Return the [start, end) of the name inside a raw entity span (article, quotes cut)."""
    start, end = 0, len(text)
    if (markup := text.find("<")) >= 0:
        end = markup  # markup left in a text ("Oslo.</p>") is never part of a name
    while True:
        before = (start, end)
        start, end = _strip_edges(text, start, end)
        if match := LEADING_ARTICLE.match(text, start, end):
            start = match.end()
        if match := LEADING_STANCE.match(text, start, end):
            start = match.end()
        if person and (
            match := HONORIFIC.match(text, start, end) or LEADING_LABEL.match(text, start, end)
        ):
            start = match.end()
        if person and (match := POST_NOMINAL.search(text[start:end])):
            end = start + match.start()
        if match := POSSESSIVE.search(text[start:end]):
            end = start + match.start()
        if (start, end) == before:
            return start, end


def _strip_edges(text: str, start: int, end: int) -> tuple[int, int]:
    """Cut punctuation and unbalanced brackets off both ends of text[start:end]."""
    while start < end and (text[start] in EDGE_JUNK or text[start] in ".("):
        start += 1
    while start < end:
        last = text[end - 1]
        keep_dot = last == "." and ABBREVIATION_END.search(text[start:end])
        keep_paren = last == ")" and "(" in text[start:end]
        if (last in EDGE_JUNK or last in ".)") and not keep_dot and not keep_paren:
            end -= 1
        else:
            break
    # A bracket left open ("World Health Organisation (WHO") ends the name where it opens.
    opened = text.rfind("(", start, end)
    if opened > start and ")" not in text[opened:end]:
        return _strip_edges(text, start, opened)
    return start, end


def split_possessor(text: str) -> tuple[str, int] | None:
    """Split "Georgia's State Ministry" into the owner and where the owned name starts."""
    match = re.match(rf"([A-Z][\w.-]*(?: [A-Z][\w.-]*){{0,3}}){APOSTROPHE}s\s+(?=\w)", text)
    return (match.group(1), match.end()) if match else None


@lru_cache(maxsize=1 << 16)  # the same names come back article after article
def fold(text: str) -> str:
    """Fold case, accents, quotes, dashes and spacing, for comparing names."""
    text = unicodedata.normalize("NFKD", text)
    text = "".join(ch for ch in text if not unicodedata.combining(ch))
    text = re.sub(f"[{QUOTES}]", "'", text)
    text = re.sub("[\u2010-\u2015]", "-", text)
    return " ".join(text.casefold().split())


def lookup_key(name: str) -> str:
    """The form a name is looked up by (`entity_names.folded`, the entity and source filters):
    `fold` (case, accents, quotes, dashes, spacing), and a leading "the" does not matter
    either. `name_key` goes further and identifies an entity across spellings."""
    words = fold(name).split()
    return " ".join(words[1:] if len(words) > 1 and words[0] == "the" else words)


@lru_cache(maxsize=1 << 16)
def name_key(name: str, *, person: bool = False) -> str:
    """Return the spelling-blind form of a name that identifies it across the corpus."""
    words = [_key_word(word) for word in fold(name).split()]
    if person and len(words) > 2:
        # "Vladimir V. Putin" and "Vladimir Putin" are one person.
        words = [words[0], *(w for w in words[1:-1] if len(w) > 1), words[-1]]
    return " ".join(w for w in words if w)


def _key_word(word: str) -> str:
    """Drop acronym dots ("u.s." -> "us") and fold a spelling variant to its preferred form."""
    if re.fullmatch(r"(?:[a-z]\.)+[a-z]?\.?", word):
        word = word.replace(".", "")
    return spellings().get(word, (word, False))[0]


@cache
def spellings() -> dict[str, tuple[str, bool]]:
    """Load variant -> (preferred spelling, whether display names use it too)."""
    table: dict[str, tuple[str, bool]] = {}
    for line in (DATA_DIR / "spellings.tsv").read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            variant, preferred, display = line.split("\t")
            table[variant.strip()] = (preferred.strip(), display.strip() == "display")
    return table


def display_name(name: str, *, caps_words: Iterable[str] = ()) -> str:
    """Give a name the casing and spelling the corpus shows it (NATO, Defence Ministry)."""
    caps = set(caps_words)
    words = name.split(" ")
    all_caps = len(words) > 1 and name.isupper()
    out = [_display_word(w, i, caps, all_caps) for i, w in enumerate(words)]
    return " ".join(out)


def _display_word(word: str, index: int, caps: set[str], all_caps: bool) -> str:
    """Case one word of a display name and apply the preferred spelling."""
    lower = word.casefold()
    preferred, use = spellings().get(lower, (lower, False))
    if use:
        word = _match_case(preferred, word)
    if lower in caps and word[:1].isupper():
        return word.upper()
    if all_caps and len(word) > 3:
        # "SOUTH OSSETIA" in a shouting headline reads as "South Ossetia".
        return word.capitalize()
    if word.islower() and word.isalpha() and (index == 0 or lower not in CONNECTORS):
        # Rule-built names ("Russian defence ministry") are proper names: capitalise them.
        return word.capitalize()
    return word


def _match_case(word: str, model: str) -> str:
    """Spell word with the casing of model (DEFENSE -> DEFENCE, Defense -> Defence)."""
    if model.isupper():
        return word.upper()
    if model[:1].isupper():
        return word.capitalize()
    return word


def is_acronym(word: str) -> bool:
    """Tell whether a word is written as an acronym (NATO, U.S., EU)."""
    letters = word.replace(".", "").replace("&", "")
    return 2 <= len(letters) <= 6 and letters.isalpha() and letters.isupper()


def acronym_of(words: list[str]) -> str:
    """Return the initials that an acronym of a multi-word name would use."""
    initials = []
    for word in words:
        if word.casefold() in CONNECTORS:
            continue
        for part in re.split(r"[-/\u2010-\u2015]", word):
            if (part[:1].isalpha() and part[:1].isupper()) or part[:1].isdigit():
                initials.append(part[0])  # "Movimento 5 Stelle" is M5S
    return "".join(initials)


def name_words(name: str) -> list[str]:
    """Split a person's name into comparable words ("Bashar al-Assad" -> bashar, assad)."""
    words = fold(name).replace(".", " ").split()
    return [re.sub(r"^(?:al|el|ad|as|an|ar)-", "", w) for w in words if w]


SOURCE_ARTICLE = "The"
SOURCE_SUFFIXES = ("News", "News Agency", "News Service", "Newswire", "Agency", "Wire Service")
_SOURCE_KEY_AFFIXES = re.compile(
    rf"^the\s+|(?:\s+(?:{'|'.join(s.lower() for s in SOURCE_SUFFIXES)}))+$", re.IGNORECASE
)


def source_key(name: str) -> str:
    """Fold a source name: case, accents, punctuation, a leading "The", a trailing "News"."""
    words = " ".join(re.sub(r"[^\w&]+", " ", fold(name)).split())
    return _SOURCE_KEY_AFFIXES.sub("", words) or words
