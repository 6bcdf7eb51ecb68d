"""Turn raw NER mentions into entities: canonical names, corpus-wide types, one key per thing.

Pure (no spaCy): the extractor hands over cleaned candidate mentions; this module decides each
one's type by corpus-wide voting helped by the gazetteer, joins short and variant names to the
entity they name, and picks one display name per entity for the whole batch.
"""

from __future__ import annotations

import re
from collections import Counter, defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal, Protocol

from app.ingest.gazetteer import (
    ENTITY_TYPES,
    MEDIUM,
    STRONG,
    WEAK,
    AliasTable,
    EntityType,
    Place,
    alias_key,
    country_name,
    find_place,
    is_given_name,
    is_nationality,
)
from app.ingest.names import (
    GENERATION,
    TITLE_BEFORE,
    acronym_of,
    display_name,
    fold,
    is_acronym,
    name_key,
    name_words,
)

Where = Literal["body", "title", "meta"]
LABEL_TYPES: dict[str, EntityType] = {
    "PERSON": "person",
    "GPE": "place",
    "LOC": "place",
    "FAC": "place",
    "ORG": "org",
}
# Head words that make a name an organisation whatever spaCy says ("Syrian Observatory for
# Human Rights" tagged GPE) and head words that make an ORG-tagged name a place.
ORG_WORDS = frozenset(
    {
        "ministry", "ministries", "department", "agency", "council", "committee", "commission",
        "court", "party", "bank", "institute", "institution", "university", "college",
        "observatory", "organization", "organisation", "association", "foundation", "office",
        "service", "army", "navy", "forces", "police", "company", "corporation", "group",
        "authority", "board", "bureau", "parliament", "assembly", "senate", "congress",
        "cabinet", "government", "league", "front", "movement", "news", "times", "post",
        "press", "herald", "journal", "tribune", "gazette", "television", "radio", "network",
        "media", "club", "fund", "trust", "images", "photos", "org", "agencies", "broadcasting",
        "channel", "newspaper", "magazine", "inc", "ltd",
        "llc", "plc", "corp", "co", "gmbh", "ag", "sa", "nv", "bv", "fc", "afc", "racing",
        "airlines", "airways", "motors", "industries", "holdings", "labs", "studios", "records",
        "society", "federation", "alliance", "coalition", "academy",
        "school", "hospital", "church", "tech", "team", "squad", "united",
        "democrats", "republicans", "administration", "secretariat", "directorate",
    }
)  # fmt: skip
# Legal forms after a company's name: "Acme", "Acme Inc." and "Acme Corporation" are one.
CORPORATE_SUFFIX = re.compile(
    r",?\s+(?:inc|incorporated|corp|corporation|co|company|ltd|limited|llc|plc|gmbh|ag|sa|nv|"
    r"bv|group|holdings)\.?$",
    re.IGNORECASE,
)
GEO_WORDS = frozenset(
    {
        "republic", "kingdom", "province", "region", "oblast", "krai", "island", "islands",
        "valley", "river", "sea", "ocean", "mountains", "peninsula", "strait", "gulf", "lake",
        "county", "district", "territory", "territories", "glacier", "desert", "plateau",
        "canyon", "volcano", "bay", "cape", "reef", "basin", "fjord", "archipelago", "coast",
        "mountain", "hills", "highlands", "lagoon",
    }
)  # fmt: skip
# Head words of facilities that name a place (FAC "Heathrow Airport", not FAC "Trump Tower").
FACILITY_WORDS = GEO_WORDS | frozenset(
    {
        "airport", "square", "bridge", "street", "avenue", "road", "boulevard", "station",
        "harbour", "harbor", "port", "park", "stadium", "base", "dam", "canal", "highway",
        "prison", "camp", "crossing", "checkpoint", "center", "centre", "museum", "planetarium",
        "hall", "hotel", "tower", "towers", "temple", "mosque", "cathedral", "chapel", "gallery",
        "galleries", "theatre", "theater", "arena", "palace", "plaza", "complex", "facility",
        "building", "zoo", "garden", "gardens", "pier", "terminal", "tunnel", "mall", "field",
        "speedway", "circuit", "racecourse", "ballpark", "coliseum", "pavilion", "memorial",
        "monument", "castle", "abbey", "basilica", "synagogue", "shrine", "courthouse", "pad",
        "launchpad",
    }
)  # fmt: skip
# "State of Texas", "City of Chicago": the place itself, named formally.
STATE_OF = re.compile(r"^(?:the )?(?:State|City|Town|Commonwealth|Province|County) of ", re.I)
CAMEL_CASE = re.compile(r"(?!Mc|Mac[A-Z])[a-z]*[A-Z][a-z]+[A-Z]\w*")
# Romanised East Asian given names keep their syllables joined: "Lee Hsien-loong".
JOINED_SYLLABLES = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z]+)? [A-Z][a-z]+-[a-z]+")
# Weight of a gazetteer hit against the votes of spaCy's labels.
# Weight of a gazetteer hit against spaCy's votes. Against PERSON votes a MEDIUM hit only ties
# with one tag, and ties go to spaCy's label: many surnames are also towns (Kennedy, Chandler),
# while real places collect GPE votes elsewhere. Towns are seldom named like organisations.
PLACE_PRIOR = {STRONG: 3.0, MEDIUM: 2.0, WEAK: 1.0}
PLACE_PRIOR_AGAINST_PEOPLE = {STRONG: 3.0, MEDIUM: 1.0, WEAK: 0.5}


@dataclass(frozen=True)
class Mention:
    """One occurrence of an entity: its surface form and where it is in the body."""

    text: str  # surface form as it appears
    start: int | None  # char offsets into ParsedArticle.body; None for names from metadata
    end: int | None


@dataclass
class FoundEntity:
    """An entity of one article, with every mention of it there."""

    name: str  # canonical name
    type: EntityType
    key: str  # corpus-wide identity: the same key in two articles is the same entity
    aliases: set[str]  # other names it goes by, in this article or in the alias table
    mentions: list[Mention]


@dataclass
class Candidate:
    """A cleaned NER span (or metadata name) on its way to becoming a mention of an entity."""

    article: int
    text: str  # surface form, cleaned of articles, quotes and possessives
    start: int | None  # offsets into the body (or into the title when where == "title")
    end: int | None
    label: str  # spaCy label: PERSON GPE LOC FAC ORG NORP
    where: Where = "body"
    headline: bool = False  # on a title-case line of the body, where NER is unreliable
    rule: bool = False  # made by our entity rules, not the statistical model
    default: EntityType | None = None  # metadata: the type its field implies (author: person)
    cue: EntityType | None = None  # the type the words around it give ("coach X": person)
    owner: tuple[str, str] | None = None  # ("Russia", "defence ministry") of a state body
    # Its context makes it no entity ("the X system", "religions such as X"): an entity only
    # ever named so is dropped.
    modifier: bool = False
    # Filled in while linking.
    name: str = ""
    type: EntityType | None = None
    fixed: bool = False  # name and type come from data (alias table, country names)
    key: str = ""


class Stored(Protocol):
    """What the articles already stored say of names (the database, seen from linking)."""

    def type_counts(self, keys: Collection[str]) -> Mapping[str, int]:
        """How many stored articles name each entity key ("org:acme"): earlier batches'
        decisions, the batch's own articles left out."""
        ...

    def people_called(self, names: Collection[str]) -> Mapping[str, set[str]]:
        """The full names of the stored people each one-word name is known to stand for."""
        ...


@dataclass
class Corpus:
    """What the whole batch says about names: type votes, acronym casing, defined acronyms;
    and what the stored articles say of the batch's names."""

    votes: dict[str, Counter[str]] = field(default_factory=lambda: defaultdict(Counter))
    caps: set[str] = field(default_factory=set)
    acronyms: dict[str, str] = field(default_factory=dict)
    nationalities: set[str] = field(default_factory=set)
    stored: Stored | None = None
    stored_counts: Mapping[str, int] = field(default_factory=dict)
    people: dict[str, set[str]] = field(default_factory=dict)  # one-word name -> stored people


def link(
    articles: Sequence[list[Candidate]],
    bodies: Sequence[str],
    titles: Sequence[str | None],
    acronyms: Sequence[dict[str, str]],
    aliases: AliasTable,
    stored: Stored | None = None,
) -> list[list[FoundEntity]]:
    """Link every article's candidates into entities; votes and names are shared by the batch,
    and with `stored` by the corpus: each stored article naming a name as a type votes for it,
    and a surname alone may name a stored person."""
    acronyms = [
        _initials(cands) | defined for cands, defined in zip(articles, acronyms, strict=True)
    ]
    corpus = Corpus(acronyms=_agreed_acronyms(acronyms), stored=stored)
    corpus.nationalities = {c.text for cands in articles for c in cands if c.label == "NORP"}
    for cands, defined in zip(articles, acronyms, strict=True):
        for cand in cands:
            _resolve_name(cand, aliases, defined, corpus)
    _count_votes(corpus, articles, aliases)
    if stored is not None:
        _add_priors(corpus, articles, stored)
    for cands, body in zip(articles, bodies, strict=True):
        for cand in cands:
            cand.type = _decide_type(cand, corpus)
        _link_people_in_article(cands, body)
        _link_short_bodies(cands)
    _link_people_across(articles, corpus)
    kept = [_keep_credible(cands) for cands in articles]
    names = _display_names(kept, corpus, aliases)
    return [
        _assemble(cands, body, title, names, aliases, defined)
        for cands, body, title, defined in zip(kept, bodies, titles, acronyms, strict=True)
    ]


# --- names ----------------------------------------------------------------------------------


def _initials(cands: list[Candidate]) -> dict[str, str]:
    """Pair the article's acronyms with its one long name of those initials (UNM, RFE/RL)."""
    longs: dict[str, set[str]] = defaultdict(set)
    for cand in cands:
        words = cand.text.split()
        if cand.where == "body" and len(words) > 1 and cand.label in ("ORG", "GPE", "LOC"):
            longs[acronym_of(words)].add(cand.text)
    pairs = {}
    for cand in cands:
        letters = re.sub(r"[./]", "", cand.text)
        if is_acronym(letters) and len(longs.get(letters, ())) == 1:
            pairs[_bare(cand.text)] = next(iter(longs[letters]))
    return pairs


def _agreed_acronyms(defined: Sequence[dict[str, str]]) -> dict[str, str]:
    """Keep the acronyms that every article defining them expands the same way."""
    seen: dict[str, set[str]] = defaultdict(set)
    for article in defined:
        for acronym, long in article.items():
            seen[acronym].add(name_key(long))
    return {
        acronym: long
        for article in defined
        for acronym, long in article.items()
        if len(seen[acronym]) == 1
    }


def _resolve_name(
    cand: Candidate, aliases: AliasTable, defined: dict[str, str], corpus: Corpus
) -> None:
    """Give a candidate its canonical name from the alias table, acronyms or country data."""
    if cand.owner is not None:
        cand.name = _state_body_name(*cand.owner, corpus.nationalities)
        return
    text = STATE_OF.sub("", cand.text)
    if text != cand.text and not find_place(text):
        text = cand.text  # "State of Texas" is Texas; "City of London Police" is not London
    text = re.sub(rf", (?={GENERATION})", " ", text)  # "Ken Griffey, Jr." is Ken Griffey Jr.
    long = defined.get(_bare(text)) or corpus.acronyms.get(_bare(text))
    alias = aliases.get(text) or (aliases.get(long) if long else None)
    if alias is not None:
        cand.name, cand.type, cand.fixed = alias.canonical, alias.type, True
    elif long:
        cand.name = long
    elif (country := country_name(text)) and cand.label != "PERSON":
        cand.name, cand.type, cand.fixed = country, "place", True
    else:
        cand.name = text


def _state_body_name(owner: str, body: str, nationalities: set[str]) -> str:
    """Name a state's body after its people ("Russia's defence ministry" -> Russian ...)."""
    # The corpus teaches the adjective: a nationality spelled like the place (Georgia/Georgian).
    stem = fold(owner)[: max(4, len(owner) - 1)]
    adjectives = sorted((n for n in nationalities if fold(n).startswith(stem)), key=_shortest)
    return f"{adjectives[0]} {body}" if adjectives else f"{owner}'s {body}"


def _shortest(text: str) -> tuple[int, str]:
    return len(text), text


def _bare(text: str) -> str:
    """Write an acronym without dots ("U.N." -> "UN")."""
    return text.replace(".", "") if is_acronym(text.replace("/", "")) else text


def vote_key(name: str) -> str:
    """Return the key under which type votes for a name are counted."""
    return alias_key(name)


# --- types ----------------------------------------------------------------------------------


def _count_votes(corpus: Corpus, articles: Iterable[list[Candidate]], aliases: AliasTable) -> None:
    """Count spaCy's labels per name over the batch, and which words it writes in capitals."""
    for cands in articles:
        for cand in cands:
            if cand.where == "meta" and not cand.text.isupper():
                # A credit keeps its acronyms' casing ("RIA Novosti"), unless it shouts.
                corpus.caps.update(w.casefold() for w in cand.text.split() if is_acronym(w))
            if cand.where == "meta" or cand.headline or cand.where == "title":
                continue  # metadata has no label; title-case lines mislead the model
            corpus.votes[vote_key(cand.name)][_vote_of(cand)] += 1
            if cand.label == "ORG" and not find_place(cand.text):
                corpus.caps.update(w.casefold() for w in cand.text.split() if is_acronym(w))
    for canonical in aliases.canonicals():
        corpus.caps.update(w.casefold() for w in canonical.split() if is_acronym(w))


def _add_priors(corpus: Corpus, articles: Iterable[list[Candidate]], stored: Stored) -> None:
    """Add the corpus's earlier decisions to the batch's votes: an article typing a name once
    is one vote, so one surface form keeps one type as articles arrive a few at a time (a POST
    is a batch of one), while a batch's own evidence, or a cue in context, can still win."""
    keys: dict[str, dict[EntityType, str]] = {}
    for cands in articles:
        for cand in cands:
            if (vote := vote_key(cand.name)) not in keys:
                keys[vote] = {t: typed_key(cand.name, t) for t in ENTITY_TYPES}
    counts = stored.type_counts({key for by_type in keys.values() for key in by_type.values()})
    corpus.stored_counts = counts
    for vote, by_type in keys.items():
        for type_, key in by_type.items():
            if counts.get(key, 0) > 0:
                corpus.votes[vote][type_] += counts[key]


def _vote_of(cand: Candidate) -> str:
    """Return the type a candidate's own label votes for ("norp" for nationalities)."""
    if cand.cue:
        return cand.cue
    if cand.rule:
        return "org"
    if cand.label == "NORP":
        return "norp"
    if cand.label == "FAC" and not _place_like(cand.name):
        return "fac"
    return LABEL_TYPES[cand.label]


def _decide_type(cand: Candidate, corpus: Corpus) -> EntityType | None:
    """Decide a candidate's type; None when it is no entity (a nationality, a bare building)."""
    if cand.fixed:
        return cand.type
    if cand.where == "meta":
        return _meta_type(cand, corpus)
    if cand.cue:
        return cand.cue
    if cand.rule:
        return "org"
    if cand.label == "NORP":
        return None
    votes = corpus.votes.get(vote_key(cand.name), Counter())
    entity_votes = sum(votes[t] for t in ENTITY_TYPES)
    if " " not in cand.name and (votes["norp"] > entity_votes or is_nationality(cand.name)):
        return None  # "Russian" tagged GPE once but NORP everywhere else; "Lithuanian"
    words = [w.casefold().strip(".,") for w in cand.name.split()]
    place = find_place(cand.name)
    if shaped := _type_by_shape(cand, words, place):
        return shaped
    if ORG_WORDS.intersection(words) and not place:
        return "org"
    if cand.label == "ORG" and words[-1] in GEO_WORDS:
        return "place"
    if place and (place.rank == STRONG or (cand.text.isupper() and len(cand.text) > 3)):
        return "place"  # a well-known place, or a dateline place in capitals ("KIEV")
    return _vote(cand, votes, place)


def _type_by_shape(cand: Candidate, words: list[str], place: Place | None) -> EntityType | None:
    """Type a name by how it is built, whatever NER's label: head words, name shapes."""
    name = cand.name
    head = head_word(words)
    if len(words) > 1 and head in GEO_WORDS and ORG_WORDS.intersection(words):
        return "org"  # a school district, a water authority's region: bodies
    if len(words) > 1 and head in FACILITY_WORDS and not place and words[-1] not in ORG_WORDS:
        # Venues, stations, museums: "Kennedy Space Center"; a "Centre for ..." is a body, and
        # so is a "Port of X Authority".
        return "org" if f"{head} for" in name.casefold() else "place"
    if is_acronym(name) and cand.label == "PERSON" and not place:
        return "org"  # people are not written in initials: "DAB" after "pro-Beijing"
    if CAMEL_CASE.fullmatch(name) and cand.label != "PERSON":
        return "org"  # camel case brands: "YouTube", "PlayStation"; not "McAllen", "MacLeod"
    if ORG_WORDS.intersection(words) or GEO_WORDS.intersection(words) or place:
        return None
    name_like = all(re.fullmatch(r"[A-Z][\w'.\u2019-]*", w) for w in name.split())
    if JOINED_SYLLABLES.fullmatch(name) or (
        name_like and len(words) in (2, 3) and is_given_name(words[0])
    ):
        return "person"  # "Lam Cheuk-ting"; "Walker Evans" tagged ORG
    return None


def head_word(words: list[str]) -> str:
    """Return the word a name is built on: the last, or the one before "of" ("Museum of Art")."""
    for i, word in enumerate(words[1:], 1):
        if word in ("of", "for", "on", "at"):
            return words[i - 1]
    return words[-1]


TIE_ORDER: tuple[EntityType, ...] = ("place", "org", "person")


def _vote(cand: Candidate, votes: Counter[str], place: Place | None) -> EntityType | None:
    """Let the batch's labels decide, with a gazetteer hit counting for "place"."""
    scores = {t: float(votes[t]) for t in ENTITY_TYPES}
    if place:
        prior = PLACE_PRIOR_AGAINST_PEOPLE if votes["person"] else PLACE_PRIOR
        scores["place"] += prior[place.rank]
    own: EntityType | None = LABEL_TYPES[cand.label]
    if cand.label == "FAC" and not _place_like(cand.name):
        own = None  # a building that names no place ("the Treaty", "Trump Tower")
    best = max(scores.values())
    if best == 0:
        return own
    winners = [t for t in TIE_ORDER if scores[t] == best]
    if place and own in winners:
        return own  # a town's name tied with NER's label: the label (see PLACE_PRIOR)
    # Otherwise a tie goes the same way for every mention (one name, one entity): to a place
    # first, as a name NER reads as a place as often as as anything else mostly is one.
    return winners[0]


def _place_like(name: str) -> bool:
    """Tell whether a FAC name names a place: a gazetteer hit or a place head word."""
    return bool(find_place(name)) or name.split()[-1].casefold() in FACILITY_WORDS


def _meta_type(cand: Candidate, corpus: Corpus) -> EntityType:
    """Type a metadata name: by what the body calls it, else by its field and its shape."""
    votes = corpus.votes.get(vote_key(cand.name), Counter())
    person, org = votes["person"], votes["org"]
    if person != org:
        return "person" if person > org else "org"
    if any(re.fullmatch(r"[A-Z]{2,6}", w) for w in cand.name.split()):
        return "org"  # "RIA Novosti", "AFP": people are not named in capitals
    words = {w.casefold() for w in cand.name.split()}
    if cand.default == "person":
        return "org" if cand.label == "ORG" or ORG_WORDS.intersection(words) else "person"
    # Credits name agencies ("Reuters") or reporters ("Jane Doe"): trust a clean PERSON tag.
    if cand.label == "PERSON" and len(words) >= 2 and not ORG_WORDS.intersection(words):
        return "person"
    return "org"


# --- people ---------------------------------------------------------------------------------


def _link_people_in_article(cands: list[Candidate], body: str) -> None:
    """Join short names to the full name of the article they abbreviate (Putin); of two full
    names ("Jane Smith", "John Smith"), to the one the text points to (see _referent)."""
    full = _full_names(cands)
    surnames = {words[-1] for words in full.values()}
    for cand in cands:
        if cand.fixed or cand.type is None:
            continue
        targets = _expansions(cand, full)
        if len(targets) > 1:
            targets = _referent(cand, targets, cands, body) or targets
        if len(targets) == 1:
            cand.name, cand.type = targets.pop(), "person"
        elif targets:
            cand.type = "person"  # "Smith" before any of two Smiths: a person, but which?
        elif " " not in cand.name and re.sub(r"e?s$", "", fold(cand.name)) in surnames:
            cand.type = None  # "the Smiths": a family, no one entity


def _referent(cand: Candidate, names: set[str], cands: list[Candidate], body: str) -> set[str]:
    """Return which of several full names a short mention names, if the text tells: the one
    given the same title ("Senator Clark" after "Senator Paula Clark"), else the one named
    last before it, as a reader takes it."""
    if cand.where != "body" or cand.start is None:
        return set()
    named = [
        (c.start, c.name)
        for c in cands
        if c.name in names and c.where == "body" and c.start is not None
    ]
    if title := _title_before(body, cand.start):
        titled = {name for start, name in named if _title_before(body, start) == title}
        if len(titled) == 1:
            return titled
    before = [(start, name) for start, name in named if start < cand.start]
    return {max(before)[1]} if before else set()


def _title_before(body: str, start: int) -> str | None:
    title = TITLE_BEFORE.search(body[max(0, start - 40) : start])
    return title.group(1) if title else None


def _link_short_bodies(cands: list[Candidate]) -> None:
    """Join "Acme Foundation" to the article's one "Acme Foundation for the Arts", and "Acme",
    whatever NER made of it, to its one "Acme Group Plc"."""
    longer: dict[str, dict[str, str]] = defaultdict(dict)  # short -> {identity: full name}
    for cand in cands:
        if cand.type == "org" and (match := re.match(r"(.+?) (?:for|of|on) ", cand.name)):
            longer[fold(match.group(1))][fold(cand.name)] = cand.name
        elif cand.type == "org" and (stem := legal_stem(cand.name)) != cand.name:
            longer[fold(stem)][fold(stem)] = cand.name  # "Acme Group" and "Acme Plc": one
    for cand in cands:
        full = longer.get(fold(cand.name), {})
        if len(full) == 1 and not cand.fixed and cand.type is not None and _may_be_org(cand):
            cand.name, cand.type = next(iter(full.values())), "org"


def _may_be_org(cand: Candidate) -> bool:
    """Tell whether a short name may be an organisation's: not a well-known place, and a
    person only if NER's tag is all that says so."""
    place = find_place(cand.name)
    return cand.type == "org" or (not cand.cue and not (place and place.rank == STRONG))


def legal_stem(name: str) -> str:
    """Drop the legal forms after a company's name: "Acme Group Plc" is Acme."""
    while (stem := CORPORATE_SUFFIX.sub("", name)) != name and " " in name:
        name = stem
    return name


def _full_names(cands: Iterable[Candidate]) -> dict[str, list[str]]:
    """Map each full person name (two words or more) to its comparable words."""
    return {
        c.name: name_words(c.name)
        for c in cands
        if c.type == "person" and len(name_words(c.name)) >= 2 and not _from_headline(c)
    }


def _expansions(cand: Candidate, full: dict[str, list[str]]) -> set[str]:
    """Return the full names that a candidate may abbreviate."""
    short = name_words(cand.name)
    if cand.type == "person" or cand.label == "PERSON":
        # spaCy's PERSON beats the gazetteer here: "Hamilton" after "Lewis Hamilton".
        matches = {n for n, words in full.items() if _abbreviates(short, words)}
    else:
        # A surname tagged ORG or GPE ("Corbyn said") is the person, unless it is a known place.
        place = find_place(cand.name)
        if len(short) != 1 or (place and place.rank >= MEDIUM):
            return set()
        matches = {n for n, words in full.items() if words[-1] == short[0]}
    return matches


def _abbreviates(short: list[str], full: list[str]) -> bool:
    """Tell whether short names the same person as full ("Putin", "Tsai" of "Tsai Ing-wen")."""
    if not short or len(short) >= len(full):
        return False
    if short[-1] != full[-1] and not (len(short) == 1 and short[0] == full[0]):
        return False
    remaining = iter(full)
    return all(word in remaining for word in short)


def _link_people_across(articles: Sequence[list[Candidate]], corpus: Corpus) -> None:
    """Join one-word person names to the batch's only full name ending in that word."""
    by_last: dict[str, set[str]] = defaultdict(set)
    for cands in articles:
        for name, words in _full_names(cands).items():
            by_last[words[-1]].add(name_key(name, person=True))
    spelled = {name_key(c.name, person=True): c.name for cs in articles for c in cs}
    name_parts = {w for cands in articles for words in _full_names(cands).values() for w in words}
    _ask_stored_people(articles, corpus)
    for cands in articles:
        for cand in cands:
            words = name_words(cand.name)
            if len(words) != 1:
                continue
            batch_people = by_last[words[0]]
            if not batch_people and (full := _stored_person(cand, corpus)):
                cand.name = full
            elif cand.type != "person":
                continue
            elif len(batch_people) == 1:
                cand.name = spelled[next(iter(batch_people))]
            elif (
                not (cand.fixed or cand.cue)
                and words[0] not in name_parts
                and _outvotes_people(cand.name, corpus)
            ):
                # A "person" known by one word that no one in the batch bears, and which the
                # gazetteer knows, is a place NER got wrong ("help Sukhumi raise pensions").
                cand.type = "place"


def _ask_stored_people(articles: Sequence[list[Candidate]], corpus: Corpus) -> None:
    """Ask the stored corpus once which people the batch's unlinked one-word names stand for."""
    if corpus.stored is None:
        return
    names = {c.name for cands in articles for c in cands if _may_be_a_surname(c)}
    corpus.people = dict(corpus.stored.people_called(names)) if names else {}


def _may_be_a_surname(cand: Candidate) -> bool:
    """A one-word name that may stand for a person named in full elsewhere: typed a person, or
    tagged an organisation or a place by NER with no cue saying so ("Drusmark told them")."""
    if cand.fixed or " " in cand.name or cand.type is None:
        return False
    return cand.type == "person" or (not cand.cue and cand.label in ("ORG", "GPE"))


def _stored_person(cand: Candidate, corpus: Corpus) -> str | None:
    """The one stored person a one-word name stands for; a name NER tagged otherwise only if the
    corpus never stored it as an organisation or a place ("Ford" the carmaker stays one)."""
    if not _may_be_a_surname(cand) or len(people := corpus.people.get(cand.name, set())) != 1:
        return None
    if cand.type != "person" and any(
        corpus.stored_counts.get(typed_key(cand.name, t), 0) for t in ("org", "place")
    ):
        return None
    cand.type = "person"
    return next(iter(people))


def _outvotes_people(name: str, corpus: Corpus) -> bool:
    """Tell whether the gazetteer knows a name well enough to outvote NER's person tags."""
    place = find_place(name)
    if place is None:
        return False
    votes = corpus.votes.get(vote_key(name), Counter())
    others = sum(n for label, n in votes.items() if label != "person")
    return place.rank >= MEDIUM or votes["person"] <= others + 1


# --- credibility -------------------------------------------------------------------------------


def _keep_credible(cands: list[Candidate]) -> list[Candidate]:
    """Drop non-entities, and headline mentions that the body does not back up."""
    typed = [c for c in cands if c.type is not None]
    for cand in typed:
        cand.key = entity_key(cand)
    named = {c.key for c in typed if not c.modifier or c.fixed}
    typed = [c for c in typed if c.key in named]
    body_keys = {c.key for c in typed if c.where == "body" and not c.headline}
    return [c for c in typed if not _from_headline(c) or _backed(c, body_keys)]


def _from_headline(cand: Candidate) -> bool:
    return cand.where == "title" or cand.headline


def _backed(cand: Candidate, body_keys: set[str]) -> bool:
    """Tell whether a headline mention names something the body names, or a known place."""
    if cand.key in body_keys or cand.fixed:
        return True
    place = find_place(cand.name)
    return cand.type == "place" and place is not None and place.rank >= MEDIUM


def entity_key(cand: Candidate) -> str:
    """Return the corpus-wide identity of a typed candidate ("place:kyiv", "org:nato")."""
    assert cand.type is not None
    return typed_key(cand.name, cand.type)


def typed_key(name: str, type_: EntityType) -> str:
    """Return the key of the entity a name would be as a type."""
    if type_ == "place" and (place := find_place(name)):
        name = place.name  # "Kiev" and "Kyiv" are one city
    if type_ == "org" and " " in name:
        # "Acme Inc." is Acme; "New People's Party" is also written "New People Party".
        name = re.sub(r"['\u2019]s\b", "", legal_stem(name))
    return f"{type_}:{name_key(name, person=type_ == 'person')}"


# --- display names ------------------------------------------------------------------------------


def _display_names(
    articles: Sequence[list[Candidate]], corpus: Corpus, aliases: AliasTable
) -> dict[str, str]:
    """Pick one display name per key for the whole batch."""
    forms: dict[str, Counter[str]] = defaultdict(Counter)
    fixed: dict[str, str] = {}
    for cands in articles:
        for cand in cands:
            if cand.fixed:
                fixed[cand.key] = cand.name
            else:
                forms[cand.key][_surface_form(cand)] += 1
    names = {key: _best_form(counts, corpus) for key, counts in forms.items()}
    names.update(fixed)
    return names


def _surface_form(cand: Candidate) -> str:
    """Return the name a candidate proposes for display ("KIEV" proposes "Kiev")."""
    if cand.type == "place" and cand.name.isupper() and len(cand.name) > 3:
        return cand.name.title()
    return cand.name


def _best_form(counts: Counter[str], corpus: Corpus) -> str:
    """Choose the most used cased form, then give it the corpus's acronym casing."""
    best = max(counts, key=lambda f: (not f.islower(), counts[f], len(f), f))
    return display_name(best, caps_words=corpus.caps)


# --- assembly -------------------------------------------------------------------------------


def _assemble(
    cands: list[Candidate],
    body: str,
    title: str | None,
    names: dict[str, str],
    aliases: AliasTable,
    defined: dict[str, str],
) -> list[FoundEntity]:
    """Group an article's candidates by key into entities, and find the mentions NER missed."""
    groups: dict[str, list[Candidate]] = defaultdict(list)
    for cand in cands:
        groups[cand.key].append(cand)
    entities = {key: _entity(key, group, names[key], aliases) for key, group in groups.items()}
    surfaces = _surfaces(groups, defined)
    _rescan(body, entities, groups, surfaces, in_body=True)
    if title:
        _rescan(title, entities, groups, surfaces, in_body=False)
    for entity in entities.values():
        entity.mentions.sort(key=lambda m: (m.start is None, m.start or 0, m.text))
    return sorted(entities.values(), key=_entity_order)


def _entity(key: str, group: list[Candidate], name: str, aliases: AliasTable) -> FoundEntity:
    """Build one entity from its candidates."""
    mentions = {
        (c.where, c.start, c.end, c.text): Mention(
            c.text, c.start if c.where == "body" else None, c.end if c.where == "body" else None
        )
        for c in group
    }
    seen = {c.text for c in group} | {c.name for c in group} | aliases.variants(name)
    return FoundEntity(
        name=name,
        type=group[0].type,  # type: ignore[arg-type]
        key=key,
        aliases={a for a in seen if a != name},
        mentions=list(mentions.values()),
    )


def _surfaces(groups: dict[str, list[Candidate]], defined: dict[str, str]) -> list[tuple[str, str]]:
    """List (surface, key) pairs worth looking for again: body names, surnames, acronyms."""
    pairs = {(c.text, c.key) for g in groups.values() for c in g if c.where == "body"}
    pairs = {(text, key) for text, key in pairs if len(text) >= 3 and not text.islower()}
    pairs |= {(surname, key) for key, g in groups.items() if (surname := _surname(g))}
    by_text = {c.text: c.key for g in groups.values() for c in g}
    pairs |= {(acr, by_text[long]) for acr, long in defined.items() if long in by_text}
    pairs |= _initialisms(groups)
    return sorted(pairs, key=lambda item: (-len(item[0]), item))


def _initialisms(groups: dict[str, list[Candidate]]) -> set[tuple[str, str]]:
    """Pair an organisation's initials with it ("NPA" of "Nordic Ports Alliance"), where the
    article names only one organisation of those initials and they are three letters or more."""
    keys: dict[str, set[str]] = defaultdict(set)
    for key, group in groups.items():
        if group[0].type == "org":
            for cand in group:
                if len(letters := acronym_of(cand.name.split())) >= 3:
                    keys[letters].add(key)
    return {(letters, next(iter(ks))) for letters, ks in keys.items() if len(ks) == 1}


def _rescan(
    text: str,
    entities: dict[str, FoundEntity],
    groups: dict[str, list[Candidate]],
    surfaces: list[tuple[str, str]],
    *,
    in_body: bool,
) -> None:
    """Add mentions of the article's entities that NER missed ("Tibilov-was"), where free."""
    where = "body" if in_body else "title"
    taken = [(c.start, c.end) for g in groups.values() for c in g if c.where == where]
    for surface, key in surfaces:
        for match in re.finditer(rf"(?<!\w){re.escape(surface)}(?!\w)", text):
            span = (match.start(), match.end())
            if any(s < span[1] and span[0] < e for s, e in taken):  # type: ignore[operator]
                continue
            taken.append(span)
            offsets = span if in_body else (None, None)
            entities[key].mentions.append(Mention(surface, *offsets))


def _surname(group: list[Candidate]) -> str | None:
    """Return the surname of a person named in full in the body, to find it alone."""
    full = [c.name for c in group if c.type == "person" and c.where == "body" and " " in c.name]
    surname = full[0].split()[-1] if full else ""
    # Short surnames ("May", "Lee") are too often ordinary words at the start of a sentence.
    return surname if len(surname) >= 4 and not find_place(surname) else None


def _entity_order(entity: FoundEntity) -> tuple[float, str]:
    """Order entities by first mention in the body, then by name."""
    starts = [m.start for m in entity.mentions if m.start is not None]
    return (min(starts) if starts else float("inf"), entity.name)
