"""Entity extraction: normalisation and linking on invented news, offsets, metadata, seed scores."""

from __future__ import annotations

import json
from collections.abc import Collection
from pathlib import Path

import pytest
from spacy.tokens import Span

from app.ingest.entities import (
    EntityExtractor,
    FoundEntity,
    _after_an_org_kind,
    _common_words,
    _cue_affiliations,
    _cue_kind_lists,
    _described_as_an_org,
    _from_span,
    _in_a_place,
    _joined_ents,
    _mentions_nothing,
    _name_parts,
    _named_after_a_kind,
    _not_a_name,
    _other_names,
)
from app.ingest.evaluate import evaluate, score
from app.ingest.gazetteer import AliasTable, EntityType, load_aliases
from app.ingest.linking import CAMEL_CASE, Candidate, _type_by_shape, entity_key, link
from app.ingest.names import acronym_of, display_name, name_key, trim
from app.ingest.parse import ParsedArticle

REPO = Path(__file__).resolve().parents[2]
GOLD = REPO / "tests" / "data" / "seed_entities.json"
SEEDS = REPO / "seeds"


@pytest.fixture(scope="module")
def extractor() -> EntityExtractor:
    return EntityExtractor()


def extract_one(extractor: EntityExtractor, body: str, **meta: object) -> list[FoundEntity]:
    return extractor.extract([ParsedArticle(body=body, **meta)])[0]  # type: ignore[arg-type]


def by_name(entities: list[FoundEntity]) -> dict[str, FoundEntity]:
    return {e.name: e for e in entities}


# --- names ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("the European Union's", "European Union"),
        ("\u201cHarbour Authority\u201d", "Harbour Authority"),
        ("The U.S.", "U.S."),
        ("Mr. Tomas Lindqvist", "Tomas Lindqvist"),
        ("Acme Inc.", "Acme Inc."),
        ("(Riga", "Riga"),
        ("Norway\u2019s", "Norway"),
    ],
)
def test_trim_cuts_articles_quotes_possessives_and_punctuation(raw: str, clean: str) -> None:
    start, end = trim(raw, person=True)
    assert raw[start:end] == clean


def test_name_key_ignores_spelling_variants_case_and_middle_initials() -> None:
    assert name_key("Norwegian Defense Ministry") == name_key("norwegian defence ministry")
    assert name_key("U.S.") == name_key("US")
    assert name_key("Helena K. Kowalczyk", person=True) == name_key("Helena Kowalczyk")


def test_display_name_uses_house_spelling_and_acronym_casing() -> None:
    assert display_name("Norwegian defense ministry") == "Norwegian Defence Ministry"
    assert display_name("Bfc Fisheries", caps_words={"bfc"}) == "BFC Fisheries"
    assert display_name("Ministry of Fisheries") == "Ministry of Fisheries"


# --- extraction on invented articles ------------------------------------------------------------


def test_short_name_joins_the_full_name_it_abbreviates(extractor: EntityExtractor) -> None:
    body = (
        "Prime Minister Helena Kowalczyk visited Warsaw on Monday. "
        "Kowalczyk said the government would act."
    )
    people = [e for e in extract_one(extractor, body) if e.type == "person"]
    assert [p.name for p in people] == ["Helena Kowalczyk"]
    assert people[0].aliases == {"Kowalczyk"}
    assert [m.text for m in people[0].mentions] == ["Helena Kowalczyk", "Kowalczyk"]


def test_nationalities_are_not_entities(extractor: EntityExtractor) -> None:
    body = "Polish and Lithuanian officials met in Vilnius on Tuesday to discuss energy prices."
    names = {e.name for e in extract_one(extractor, body)}
    assert "Polish" not in names and "Lithuanian" not in names
    assert "Vilnius" in names


def test_spelling_variants_across_articles_are_one_entity(extractor: EntityExtractor) -> None:
    a = ParsedArticle(body="The Norwegian Defense Ministry said on Friday it would buy ships.")
    b = ParsedArticle(body="Oslo said the Norwegian defence ministry had approved the order.")
    found = extractor.extract([a, b])
    orgs = [[e for e in article if e.type == "org"] for article in found]
    assert [o.name for o in orgs[0]] == ["Norwegian Defence Ministry"]
    assert orgs[0][0].key == orgs[1][0].key == "org:norwegian defence ministry"


def test_formal_country_names_and_acronyms_link_to_common_names(
    extractor: EntityExtractor,
) -> None:
    body = (
        "Talks between the Islamic Republic of Iran and the EU resumed in Vienna. "
        "The European Union's envoy said progress was made."
    )
    entities = by_name(extract_one(extractor, body))
    assert entities["Iran"].type == "place"
    assert "Islamic Republic of Iran" in entities["Iran"].aliases
    eu = entities["European Union"]
    assert eu.type == "org" and eu.key == "org:european union"
    assert {m.text for m in eu.mentions} == {"EU", "European Union"}


def test_acronyms_defined_in_the_text_are_learned(extractor: EntityExtractor) -> None:
    body = (
        "Ambassador Tomas Lindqvist met officials of the Baltic Fisheries Council (BFC) in Riga. "
        "The BFC said quotas would fall."
    )
    council = by_name(extract_one(extractor, body))["Baltic Fisheries Council"]
    assert council.type == "org"
    assert "BFC" in council.aliases
    assert [m.text for m in council.mentions].count("BFC") == 2


def test_acronyms_join_the_one_long_name_with_their_initials(extractor: EntityExtractor) -> None:
    body = (
        "Members of the Nordic Ports Alliance met in Oslo on Monday. "
        "The NPA said tariffs would rise."
    )
    alliance = by_name(extract_one(extractor, body))["Nordic Ports Alliance"]
    assert [m.text for m in alliance.mentions] == ["Nordic Ports Alliance", "NPA"]


def test_well_known_place_tagged_as_person_is_a_place(extractor: EntityExtractor) -> None:
    # The small model tags "Baku" and "Yerevan" here as PERSON.
    body = (
        "Officials said Ankara would respond. Analysts said Baku was concerned. "
        "The United States and the European Union have backed Yerevan politically."
    )
    entities = by_name(extract_one(extractor, body))
    assert entities["Baku"].type == "place"
    assert entities["Yerevan"].type == "place"
    assert not any(e.type == "person" for e in entities.values())


def test_lower_case_words_around_a_name_are_cut(extractor: EntityExtractor) -> None:
    body = (
        "The vote was won by the Nordic Unity party of former premier Lars Holm. "
        "Floods hit eastern Finland on Sunday."
    )
    names = {e.name for e in extract_one(extractor, body)}
    assert {"Nordic Unity", "Lars Holm", "Finland"} <= names


def test_one_word_person_that_nobody_bears_but_the_gazetteer_knows_is_a_place(
    extractor: EntityExtractor,
) -> None:
    body = "Moscow will help Sukhumi raise pensions and salaries, the Kremlin said."
    entities = by_name(extract_one(extractor, body))
    assert entities["Sukhumi"].type == "place"


def test_lower_case_state_bodies_are_organisations(extractor: EntityExtractor) -> None:
    body = (
        "The deal was signed by the Estonian defence ministry and Latvia's foreign ministry, "
        "according to Estonian and Latvian officials."
    )
    orgs = {e.name for e in extract_one(extractor, body) if e.type == "org"}
    assert orgs == {"Estonian Defence Ministry", "Latvian Foreign Ministry"}


def test_headline_fragments_are_not_organisations(extractor: EntityExtractor) -> None:
    article = ParsedArticle(
        title="Mayor Quits Over Harbour Scandal In Gdansk",
        body="The mayor of Gdansk resigned on Monday after a scandal over harbour contracts.",
    )
    entities = extractor.extract([article])[0]
    assert [(e.name, e.type) for e in entities] == [("Gdansk", "place")]
    assert [m.start for m in entities[0].mentions] == [13, None]


def test_titled_documents_are_not_organisations(extractor: EntityExtractor) -> None:
    body = "Both sides signed the Treaty on Fisheries and Maritime Cooperation in Riga."
    assert {e.name for e in extract_one(extractor, body)} == {"Riga"}


def test_every_mention_keeps_offsets_into_the_body(extractor: EntityExtractor) -> None:
    articles = [ParsedArticle(body=p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*"))]
    found = extractor.extract(articles)
    for article, entities in zip(articles, found, strict=True):
        keys = [e.key for e in entities]
        assert len(keys) == len(set(keys))
        for entity in entities:
            for m in entity.mentions:
                assert m.start is not None and m.end is not None
                assert article.body[m.start : m.end] == m.text


def test_long_bodies_are_tagged_in_chunks_with_true_offsets(
    extractor: EntityExtractor, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("app.ingest.entities.CHUNK_CHARS", 80)
    body = "Helena Kowalczyk visited Warsaw.\n" * 5 + "Kowalczyk flew from Warsaw to Vilnius."
    entities = by_name(extract_one(extractor, body))
    for entity in entities.values():
        assert all(body[m.start : m.end] == m.text for m in entity.mentions)  # type: ignore[misc]
    assert len(entities["Helena Kowalczyk"].mentions) == 6
    assert "Vilnius" in entities


def test_empty_batch_gives_nothing(extractor: EntityExtractor) -> None:
    assert extractor.extract([]) == []


def test_output_is_deterministic(extractor: EntityExtractor) -> None:
    articles = [ParsedArticle(body=p.read_text(encoding="utf-8")) for p in sorted(SEEDS.glob("*"))]
    first, second = extractor.extract(articles), extractor.extract(articles, batch_size=1)
    assert first == second
    for entities in first:
        starts = [min(m.start for m in e.mentions if m.start is not None) for e in entities]
        assert starts == sorted(starts)


def test_metadata_names_are_entities_without_offsets(extractor: EntityExtractor) -> None:
    article = ParsedArticle(
        body="Reuters reported that fishing quotas in the Baltic Sea would be cut next year.",
        author="Ingrid Solberg",
        source="Baltic Times",
        credits=["Reuters", "Jonas Petraitis"],
        photo_credit="John Smith/AFP",
    )
    entities = by_name(extractor.extract([article])[0])
    assert entities["Ingrid Solberg"].type == "person"
    assert entities["Ingrid Solberg"].mentions == [
        entities["Ingrid Solberg"].mentions[0].__class__("Ingrid Solberg", None, None)
    ]
    assert entities["Baltic Times"].type == "org"
    assert entities["Jonas Petraitis"].type == "person"
    assert entities["John Smith"].type == "person"
    assert entities["AFP"].type == "org"  # a credit in capitals names no person
    reuters = entities["Reuters"]
    assert reuters.type == "org"
    assert [m.start for m in reuters.mentions] == [0, None]


def test_operator_alias_file_extends_the_table(tmp_path: Path) -> None:
    extra = tmp_path / "aliases.tsv"
    extra.write_text("# ours\nBFC\tBaltic Fisheries Council\torg\n", encoding="utf-8")
    table = load_aliases(extra)
    assert table.get("the BFC") is not None
    assert table.get("BFC").canonical == "Baltic Fisheries Council"  # type: ignore[union-attr]


def test_no_specific_names_are_shipped() -> None:
    """Names come from data packages (places) or an operator's file, never a hand-made list."""
    assert load_aliases().canonicals() == set()


def test_bad_alias_file_is_rejected(tmp_path: Path) -> None:
    extra = tmp_path / "aliases.tsv"
    extra.write_text("BFC\tBaltic Fisheries Council\n", encoding="utf-8")
    with pytest.raises(ValueError, match=r"aliases\.tsv:1"):
        load_aliases(extra)


# --- scoring ------------------------------------------------------------------------------------


GOLD_ENTRY = {
    "a.txt": {
        "people": ["Helena Kowalczyk"],
        "places": ["Warsaw"],
        "organisations": ["Baltic Ferry Company"],
        "also_acceptable": {"people": [], "places": ["Masovia"], "organisations": []},
        "aliases": {"Kowalczyk": "Helena Kowalczyk", "BFC": "Baltic Ferry Company"},
    }
}


def test_score_matches_aliases_ignores_acceptable_names_and_case() -> None:
    predicted = {
        "a.txt": {
            "person": [["helena kowalczyk"], ["Kowalczyk"], ["Tomas"]],
            "place": [["Masovia"]],
            "org": [["BFC", "the Baltic Ferry Company's"]],
        }
    }
    report = score(GOLD_ENTRY, predicted)  # type: ignore[arg-type]
    person, place, org = (report.per_type[t] for t in ("person", "place", "org"))
    assert (person.tp, person.fp, person.fn) == (1, 1, 0)  # "Tomas" is wrong; the split is not
    assert (place.tp, place.fp, place.fn) == (0, 0, 1)
    assert (org.tp, org.fp, org.fn) == (1, 0, 0)
    assert report.micro.tp == 2 and "micro" in report.format()


def test_strict_score_counts_every_extra_entity_of_one_real_thing() -> None:
    predicted = {"a.txt": {"person": [["Helena Kowalczyk"], ["Kowalczyk"], ["H. Kowalczyk"]]}}
    lenient = score(GOLD_ENTRY, predicted)  # type: ignore[arg-type]
    strict = score(GOLD_ENTRY, predicted, strict=True)  # type: ignore[arg-type]
    assert (lenient.per_type["person"].tp, lenient.per_type["person"].fp) == (1, 1)
    assert (strict.per_type["person"].tp, strict.per_type["person"].fp) == (1, 2)
    assert [e.kind for e in strict.errors if e.type == "person"] == ["split", "fp"]


def test_a_name_of_another_type_is_a_false_positive_and_a_miss() -> None:
    predicted = {"a.txt": {"place": [["Baltic Ferry Company"]]}}
    report = score(GOLD_ENTRY, predicted)  # type: ignore[arg-type]
    assert report.per_type["place"].fp == 1 and report.per_type["org"].fn == 1


def test_seed_entities_meet_the_bar(extractor: EntityExtractor) -> None:
    report = evaluate(GOLD, SEEDS, extractor, strict=True)
    assert report.micro.f1 >= 0.97, report.format(errors=True)
    for type_, counts in report.per_type.items():
        assert counts.f1 >= 0.93, f"{type_}\n{report.format(errors=True)}"


def test_gold_copy_lists_the_seed_files() -> None:
    gold = json.loads(GOLD.read_text(encoding="utf-8"))
    assert {k for k in gold if not k.startswith("_")} == {p.name for p in SEEDS.glob("*.txt")}


# --- error classes seen on real news (invented text; see docs/ENTITIES.md) -----------------------


def names_of(entities: list[FoundEntity]) -> dict[str, str]:
    return {e.name: e.type for e in entities}


def test_teams_named_by_their_city_are_organisations(extractor: EntityExtractor) -> None:
    body = (
        "Denver beat Portland 3-1 on Sunday. The mayor of Denver, Jane Roe, praised the club.\n"
        "Cleveland lost to Houston 2-4 in the late game."
    )
    found = extract_one(extractor, body)
    assert {(e.name, e.type) for e in found} >= {
        ("Denver", "org"),
        ("Portland", "org"),
        ("Denver", "place"),
        ("Cleveland", "org"),
        ("Houston", "org"),
    }


def test_events_craft_designations_handles_and_works_are_not_entities(
    extractor: EntityExtractor,
) -> None:
    body = (
        "Engineers at the Harlow Research Centre prepared the Space Shuttle Meridian for the "
        "Regional Science Fair. The XR-41 prototype flew twice, Dana Whitcombe said on @SkyNews. "
        "She starred in the 1971 film Silver Road and wrote about Minimalism."
    )
    found = names_of(extract_one(extractor, body))
    assert "Dana Whitcombe" in found
    for name in ("Space Shuttle Meridian", "Regional Science Fair", "XR-41", "Silver Road"):
        assert name not in found
    assert not any(n.startswith("@") for n in found)


def test_venues_are_places_and_a_centre_for_something_is_an_organisation(
    extractor: EntityExtractor,
) -> None:
    body = (
        "The exhibition moved from the Orland Maritime Museum to the Westbrook Convention Centre. "
        "Researchers at the Halden Centre for Coastal Studies objected."
    )
    found = names_of(extract_one(extractor, body))
    assert found.get("Orland Maritime Museum") == "place"
    assert found.get("Westbrook Convention Centre") == "place"
    assert found.get("Halden Centre for Coastal Studies") == "org"


def test_boundaries_brackets_stances_titles_and_hyphenated_names(
    extractor: EntityExtractor,
) -> None:
    body = (
        "The Coastal Fisheries Authority (CFA) warned on Monday. Pro-reform lawmaker "
        "Chan Kwok-wing of the Harbour Party spoke, and Ms Ferreira QC replied. "
        "A Coastal Fisheries Authority report followed."
    )
    found = names_of(extract_one(extractor, body))
    assert found.get("Coastal Fisheries Authority") == "org"
    assert found.get("Chan Kwok-wing") == "person"
    assert not any("(" in n or n.startswith(("A ", "Pro")) or n == "QC" for n in found)


def test_a_group_run_into_its_speaker_is_split() -> None:
    text = "the Institute for Rural Affairs Maria Lindqvist said"
    parts = _name_parts(text, 4, len(text) - 5)
    assert [text[a:b] for a, b in parts] == ["Institute for Rural Affairs", "Maria Lindqvist"]


def test_legal_forms_and_the_state_of_are_one_entity(extractor: EntityExtractor) -> None:
    body = (
        "Brantwell Corporation cut jobs in the State of Ohio. Brantwell said the plant in Ohio "
        "would close, and Brantwell Corporation's shares fell."
    )
    found = extract_one(extractor, body)
    orgs = [e for e in found if e.type == "org"]
    places = [e for e in found if e.type == "place"]
    assert len(orgs) == 1 and len(places) == 1 and places[0].name == "Ohio"


def test_common_nouns_at_the_start_of_a_sentence_are_not_names() -> None:
    text = "Landscape was the theme. Painters loved the landscape."
    landscape = Candidate(0, "Landscape", 0, 9, "ORG")
    painters = Candidate(0, "Painters", 25, 33, "ORG")
    assert _mentions_nothing(landscape, text, _common_words(text))
    assert not _mentions_nothing(painters, text, _common_words(text))


def test_a_role_before_a_name_makes_it_a_person(extractor: EntityExtractor) -> None:
    body = "The show featured work by fashion designer Kendal, who grew up in Ohio."
    assert names_of(extract_one(extractor, body)).get("Kendal") == "person"


def test_a_body_named_short_is_the_article_s_longer_one(extractor: EntityExtractor) -> None:
    body = (
        "The Marlow Foundation for the Coastal Arts gave two grants. A spokesman for the "
        "Marlow Foundation said more would follow."
    )
    orgs = [e for e in extract_one(extractor, body) if e.type == "org"]
    assert [e.name for e in orgs] == ["Marlow Foundation for the Coastal Arts"]


def test_a_family_is_no_entity_and_a_shared_surname_stays_a_person(
    extractor: EntityExtractor,
) -> None:
    body = "Rachel Sands met Tom Sands. Sands said the plan was good. The Sandses left early."
    found = extract_one(extractor, body)
    assert not any(e.name == "Sandses" for e in found)
    assert all(e.type == "person" for e in found if "Sands" in e.name)


def test_an_organisation_ner_missed_is_found_by_its_head_word(extractor: EntityExtractor) -> None:
    body = "Readers of the Millbrook Valley Gazette learnt of it first, the editors said."
    assert names_of(extract_one(extractor, body)).get("Millbrook Valley Gazette") == "org"


def test_a_name_ends_before_a_nationality_it_runs_into() -> None:
    text = "the Harbour Trust on Italian television"
    assert [text[a:b] for a, b in _name_parts(text, 4, len(text) - 11)] == ["Harbour Trust"]


def test_a_remit_cut_at_and_is_joined_back(extractor: EntityExtractor) -> None:
    doc = extractor.nlp.make_doc("The Office for Coastal Planning and Harbour Affairs said so.")
    doc.ents = [Span(doc, 1, 5, label="ORG"), Span(doc, 6, 8, label="ORG")]
    assert [e.text for e in _joined_ents(doc)] == [
        "Office for Coastal Planning and Harbour Affairs"
    ]


def test_two_bodies_joined_by_and_stay_two(extractor: EntityExtractor) -> None:
    doc = extractor.nlp.make_doc("The Office for Planning and Harbour Council agreed.")
    doc.ents = [Span(doc, 1, 4, label="ORG"), Span(doc, 5, 7, label="ORG")]
    assert [e.text for e in _joined_ents(doc)] == ["Office for Planning", "Harbour Council"]


def _place(text: str, name: str) -> Candidate:
    start = text.index(name)
    return Candidate(0, name, start, start + len(name), "GPE")


def test_a_name_in_brackets_after_a_place_is_another_name_of_it() -> None:
    text = "Troops left South Varnia (Dolgorets) on Monday."
    found = [_place(text, "South Varnia"), _place(text, "Dolgorets")]
    assert _other_names(text, found) == {"Dolgorets": "South Varnia"}


def test_a_place_in_brackets_the_gazetteer_knows_stays_apart() -> None:
    text = "The plant near Springfield (Illinois) closed."
    found = [_place(text, "Springfield"), _place(text, "Illinois")]
    assert _other_names(text, found) == {}


# --- organisations: context cues and name shapes (issue 16) -----------------------------------


def _cand(text: str, name: str, label: str, *, at: int = 0) -> Candidate:
    start = text.index(name, at)
    return Candidate(0, name, start, start + len(name), label)


def test_an_entity_only_ever_qualifying_a_thing_is_none(extractor: EntityExtractor) -> None:
    body = (
        "Drivers paid less under the Varnok system. The Varnok system ends in May.\n\n"
        "Brellin Corp said its Brellin system would be cheaper. Brellin Corp makes meters."
    )
    names = names_of(extract_one(extractor, body))
    assert "Varnok" not in names
    assert names.get("Brellin Corp") == "org"


def test_names_listed_after_a_plural_kind_take_its_type() -> None:
    text = "Villagers worship old gods, such as Zorvan, Meliss and Atrae, every spring."
    found = [_cand(text, n, "ORG") for n in ("Zorvan", "Meliss", "Atrae")]
    _cue_kind_lists(text, found)
    assert [c.cue for c in found] == ["person", "person", "person"]


def test_names_listed_after_a_kind_of_thing_are_none() -> None:
    text = "Newer religions, such as Orvana, borrow old rites."
    found = [_cand(text, "Orvana", "ORG")]
    _cue_kind_lists(text, found)
    assert found[0].modifier


def test_a_party_and_state_designation_is_no_name() -> None:
    assert _not_a_name("R-Ohio", "ORG", rule=False)
    assert _not_a_name("D-N.Y.", "ORG", rule=False)


def test_a_name_heading_a_works_title_mentions_nothing() -> None:
    text = "In the demo of Nightwing: Rooftop Run, players climb."
    cand = _cand(text, "Nightwing", "ORG")
    assert _mentions_nothing(cand, text, frozenset())
    label = "Nightwing: a caption label opens the line"
    assert not _mentions_nothing(_cand(label, "Nightwing", "ORG"), label, frozenset())


def test_a_name_cut_after_a_hyphen_gets_its_start_back(extractor: EntityExtractor) -> None:
    doc = extractor.nlp.make_doc("Proceeds went to the Reach-For-Tomorrow Foundation.")
    span = Span(doc, 8, 10, label="ORG")  # "Tomorrow Foundation"
    assert [c.text for c in _from_span(span, doc.text, "body", frozenset())] == [
        "Reach-For-Tomorrow Foundation"
    ]


def test_a_party_named_after_its_members_is_one_name(extractor: EntityExtractor) -> None:
    doc = extractor.nlp.make_doc("Jo Fan of the Nova Democrats lost.")
    doc.ents = [Span(doc, 4, 5, label="ORG"), Span(doc, 5, 6, label="NORP")]
    assert [e.text for e in _joined_ents(doc)] == ["Nova Democrats"]


def test_a_university_keeps_its_campus(extractor: EntityExtractor) -> None:
    doc = extractor.nlp.make_doc("She taught at the University of Varnia at Eastbrook in May.")
    doc.ents = [Span(doc, 4, 7, label="ORG"), Span(doc, 8, 9, label="GPE")]
    assert [e.text for e in _joined_ents(doc)] == ["University of Varnia at Eastbrook"]


def test_a_town_placed_by_its_state_is_a_place() -> None:
    text = "the rodeo museum of Pendleton, Oregon, opened"
    assert _in_a_place(text, _cand(text, "Pendleton", "ORG"))
    text = "Acme Corp, Oregon's largest employer"
    assert not _in_a_place(text, _cand(text, "Acme Corp", "ORG"))


def test_what_a_person_is_of_is_an_organisation() -> None:
    text = "Jane Roe of the Night Owls sang, and Tom Poe of Pendleton played."
    found = [
        _cand(text, "Jane Roe", "PERSON"),
        _cand(text, "Night Owls", "PERSON"),
        _cand(text, "Tom Poe", "PERSON"),
        _cand(text, "Pendleton", "ORG"),
    ]
    _cue_affiliations(text, found)
    assert [c.cue for c in found] == [None, "org", None, None]


def test_gaelic_surname_prefixes_are_no_camel_case_brands() -> None:
    assert CAMEL_CASE.fullmatch("YouTube")
    assert not CAMEL_CASE.fullmatch("McAllen")
    assert not CAMEL_CASE.fullmatch("MacLeod")


def test_acronyms_keep_their_digits() -> None:
    assert acronym_of(["Partito", "9", "Lune"]) == "P9L"


def test_two_names_after_a_plural_are_two() -> None:
    text = "fees owed by the schools Saint Anne and Holy Cross in Varn"
    start = text.index("Saint")
    parts = _name_parts(text, start, text.index(" in Varn"))
    assert [text[a:b] for a, b in parts] == ["Saint Anne", "Holy Cross"]
    text = "shares in Marks and Spencer rose"
    start = text.index("Marks")
    assert len(_name_parts(text, start, text.index(" rose"))) == 1


def test_an_organisation_is_one_with_or_without_a_possessive() -> None:
    with_s = Candidate(0, "", None, None, "ORG", name="New Dawn's Party", type="org")
    without = Candidate(0, "", None, None, "ORG", name="New Dawn Party", type="org")
    assert entity_key(with_s) == entity_key(without)


def test_a_name_ner_missed_after_an_organisations_kind_is_found(
    extractor: EntityExtractor,
) -> None:
    doc = extractor.nlp.make_doc("The final saw US team Qorvax9 and Nimbus UK play.")
    assert [(e.text, e.label_) for e in _named_after_a_kind(doc)] == [("Qorvax9", "ORG")]


def test_a_name_after_an_organisations_kind_is_an_organisation() -> None:
    text = "music by the band Night Owls played"
    assert _after_an_org_kind(text, _cand(text, "Night Owls", "PERSON"))
    text = "the singer Night Owls"
    assert not _after_an_org_kind(text, _cand(text, "Night Owls", "PERSON"))


def test_a_district_run_by_a_body_is_an_organisation() -> None:
    name = "Millbrook Unified School District"
    cand = Candidate(0, name, 0, len(name), "ORG", name=name)
    assert _type_by_shape(cand, name.casefold().split(), None) == "org"
    name = "Millbrook District"
    cand = Candidate(0, name, 0, len(name), "ORG", name=name)
    assert _type_by_shape(cand, name.casefold().split(), None) == "place"


def test_org_is_an_organisations_head_word() -> None:
    body = "Two defectors left the Star Org last year."
    cand = _cand(body, "Star Org", "LOC")  # as NER tags it at times
    [[entity]] = link([[cand]], [body], [None], [{}], AliasTable({}))
    assert (entity.name, entity.type) == ("Star Org", "org")


def test_a_venue_at_the_body_it_belongs_to_is_two_names() -> None:
    text = "shown at the Kell Museum of Art at Varnia University in May"
    start = text.index("Kell")
    parts = _name_parts(text, start, text.index(" in May"))
    assert [text[a:b] for a, b in parts] == ["Kell Museum of Art", "Varnia University"]


def test_two_bodies_joined_by_and_the_are_two() -> None:
    text = "Both the Millbrook School District and the Millbrook Police Department denied it."
    start = text.index("Millbrook")
    parts = _name_parts(text, start, text.index(" denied"))
    assert [text[a:b] for a, b in parts] == [
        "Millbrook School District",
        "Millbrook Police Department",
    ]


def test_a_kind_list_ends_with_its_sentence() -> None:
    text = "They worship gods such as Zorvan and Atrae. The Varnian Church disapproves."
    found = [_cand(text, n, "ORG") for n in ("Zorvan", "Atrae", "Varnian Church")]
    _cue_kind_lists(text, found)
    assert [c.cue for c in found] == ["person", "person", None]


@pytest.mark.parametrize(
    ("text", "org"),
    [
        ("pupils of Nimbus Gonzalo, a Catholic school in Varn, paid", True),
        ("Brell Kovac, the country's largest bank, fell", True),
        ("Brell Kovac, a lawyer for the family, said", False),
        ("Brell Kovac, a former army officer, said", False),
    ],
)
def test_an_apposition_calling_a_name_an_organisation(text: str, org: bool) -> None:
    name = "Nimbus Gonzalo" if "Nimbus" in text else "Brell Kovac"
    assert _described_as_an_org(text, _cand(text, name, "PERSON")) is org


def test_the_corpus_votes_on_a_name_the_batch_types_otherwise() -> None:
    """A batch of one (a POST) with a name NER types a person: the articles already stored,
    which named it an organisation, outvote it; a cue in context still wins."""
    body = "The mayor met Corvane on Tuesday."
    stored = {"org:corvane": 2}

    def typed(text: str, priors: dict[str, int] | None, cue: EntityType | None = None) -> str:
        cand = _cand(text, "Corvane", "PERSON")
        cand.cue = cue
        asked: list[set[str]] = []

        class Known:
            def type_counts(self, keys: Collection[str]) -> dict[str, int]:
                asked.append(set(keys))
                return {k: n for k, n in (priors or {}).items() if k in keys}

            def people_called(self, names: Collection[str]) -> dict[str, set[str]]:
                return {}

        [[entity]] = link([[cand]], [text], [None], [{}], AliasTable({}), Known())
        assert asked == [{"person:corvane", "place:corvane", "org:corvane"}]
        return entity.type

    assert typed(body, None) == "person"
    assert typed(body, stored) == "org"
    assert typed(body, {"org:corvane": 1}) == "org"  # a tie: the same way for every mention
    coach = "The coach Corvane praised the squad."
    assert typed(coach, stored, cue="person") == "person"


def test_a_generational_suffix_stays_with_its_name(extractor: EntityExtractor) -> None:
    """(Before: ", Jr." was cut off, the son became his father, and "Jr." a person.)"""
    body = (
        "Ken Brackley, Jr. hit two home runs on Friday. His father, Ken Brackley, watched "
        "from the stands. Sam Ostrow Sr. said the son was the better hitter."
    )
    people = {e.name for e in extract_one(extractor, body) if e.type == "person"}
    assert people == {"Ken Brackley Jr.", "Ken Brackley", "Sam Ostrow Sr."}


def test_a_surname_two_people_share_names_the_one_the_text_points_to(
    extractor: EntityExtractor,
) -> None:
    """The same title as one of them, else the one named last before it. (Before: "Clark"
    was left a person of its own.)"""
    body = (
        "Senator Paula Clark spoke on Monday. Joe Clark, her rival, disagreed. Clark said the "
        "plan was bad, and Senator Clark replied that it was not."
    )
    [paula, joe] = [
        e for e in extract_one(extractor, body) if e.type == "person" and "Clark" in e.name
    ]
    assert (paula.name, joe.name) == ("Paula Clark", "Joe Clark")
    assert [m.start for m in joe.mentions] == [body.index("Joe"), body.index("Clark said")]
    assert [m.start for m in paula.mentions] == [
        body.index("Paula"),
        body.index("Clark replied"),
    ]


def test_each_paragraph_is_read_on_its_own(extractor: EntityExtractor) -> None:
    """A one-word line above the first paragraph (a section label) ran into its first name.
    (Before: "Racing" an organisation and the driver lost.)"""
    body = "Racing\n\nDriver Lena Vosk of Halden Motorsport won at the Treswick Circuit.\n"
    found = {(e.name, e.type) for e in extract_one(extractor, body)}
    assert found == {
        ("Lena Vosk", "person"),
        ("Halden Motorsport", "org"),
        ("Treswick Circuit", "place"),
    }
    [driver] = [e for e in extract_one(extractor, body) if e.type == "person"]
    assert [(m.start, m.end) for m in driver.mentions] == [(15, 24)]  # offsets in the body


def test_a_possessive_names_the_venue_not_its_namesake(extractor: EntityExtractor) -> None:
    """(Before: "Pellman" a person and "Arena" an organisation; the cathedral lost.)"""
    body = (
        "Fans went to Pellman's Arena on Friday. Mass was said at St Brannoc's Cathedral "
        "in Tarrow, and Georgia's State Ministry for Culture sent a letter."
    )
    found = {(e.name, e.type) for e in extract_one(extractor, body)}
    assert {("Pellman's Arena", "place"), ("St Brannoc's Cathedral", "place")} <= found
    assert not {name for name, _ in found} & {"Pellman", "Arena", "St Brannoc"}
    assert ("Georgia", "place") in found  # a place's possessive still owns its body


def test_a_role_or_kind_heading_a_sentence_is_no_part_of_the_name(
    extractor: EntityExtractor,
) -> None:
    """(Before: "Retailer Brambles & Finch" beside "Brambles & Finch", "Sprinter Maya Oduya".)"""
    body = (
        "Retailer Brambles & Finch said on Monday it would close 40 stores. Shares in "
        "Brambles & Finch fell.\n\nInventor Silas Hatherley was honoured on Friday. Sprinter "
        "Maya Oduya also won an award. Hatherley thanked Oduya."
    )
    found = {(e.name, e.type) for e in extract_one(extractor, body)}
    assert found == {
        ("Brambles & Finch", "org"),
        ("Silas Hatherley", "person"),
        ("Maya Oduya", "person"),
    }


def test_a_company_with_and_without_its_legal_forms_is_one(extractor: EntityExtractor) -> None:
    """ "Hollis Group Plc", "Hollis Group" and a bare "Hollis" (typed a town by the gazetteer,
    a person by NER) are one company. (Before: three entities of two types.)"""
    body = (
        "Hollis Group Plc and Tamberly Ltd. reported results. Hollis Group said profit rose. "
        "Tamberly said sales fell. Both Hollis and Tamberly are listed in London."
    )
    found = {(e.key, e.type) for e in extract_one(extractor, body)}
    assert found == {("org:hollis", "org"), ("org:tamberly", "org"), ("place:london", "place")}


def test_the_plural_name_of_a_team_is_no_person(extractor: EntityExtractor) -> None:
    body = "The Brenton Lakers beat the Orrin Bays 101-99. The Lakers' guard Sam Pell scored 30."
    found = {(e.name, e.type) for e in extract_one(extractor, body)}
    assert ("Lakers", "org") in found and ("Sam Pell", "person") in found
    assert not {name for name, type_ in found if type_ == "person"} - {"Sam Pell"}


def test_a_models_code_and_a_trophy_are_not_entities(extractor: EntityExtractor) -> None:
    """(Before: "Zephyr X2" and "Continental Shield" organisations.)"""
    body = (
        "The new Zephyr X2 phone runs Orbit OS and ships with the Lumen browser, said Dana "
        "Morrow.\n\nThe winner of the Premier Division and the Northern Conference qualify for "
        "the Continental Shield. Group B matches start next week."
    )
    found = names_of(extract_one(extractor, body))
    assert "Dana Morrow" in found
    assert not {"Zephyr X2", "Zephyr", "Continental Shield"} & set(found)
    assert not _not_a_name("Cloud9", "ORG", rule=False)  # a team's name, no model


def test_a_tie_between_labels_types_every_mention_alike() -> None:
    """A name NER tags a place once and a person once is one entity. (Before: each mention
    kept its own label, and the article named two.)"""
    body = "Crowds gathered in Merrin on Friday. Hindus in Merrin joined the celebrations."
    first = _cand(body, "Merrin", "GPE")
    second = _cand(body, "Merrin", "PERSON", at=first.end or 0)
    [entities] = link([[first, second]], [body], [None], [{}], AliasTable({}))
    assert [(e.name, e.type, len(e.mentions)) for e in entities] == [("Merrin", "place", 2)]


def test_an_age_names_a_person_and_a_journey_a_place(extractor: EntityExtractor) -> None:
    """(Before: "Jorvik" an organisation by the match she won, "Dunmore" a person, "Rival
    Bluefin" a name.)"""
    body = (
        "Jorvik beat Stannard 6-4, 6-3 in the final on Sunday. Jorvik, 24, said the win was "
        "the best of her career.\n\nSkyline Air will add flights to Dunmore from May, the "
        "airline said. Rival Bluefin said it would match prices."
    )
    found = names_of(extract_one(extractor, body))
    assert found == {
        "Jorvik": "person",
        "Stannard": "person",
        "Skyline Air": "org",
        "Dunmore": "place",
        "Bluefin": "org",
    }


def test_a_part_of_a_place_names_the_place_whatever_ner_said(
    extractor: EntityExtractor,
) -> None:
    """(Before: "Ostburg" after "the capital," and "Merland" after "the coast of" were
    organisations, as NER tagged them.)"""
    body = (
        "Party leader Mara Velt told reporters in the capital, Ostburg, that the result was "
        "clear.\n\nA storm struck the coast of Merland on Thursday, killing three people."
    )
    found = names_of(extract_one(extractor, body))
    assert found == {"Mara Velt": "person", "Ostburg": "place", "Merland": "place"}


def test_markup_is_no_part_of_a_name_and_an_authority_is_a_body(
    extractor: EntityExtractor,
) -> None:
    """(Before: the place "Oslo.</p></body></html" from a text sent as HTML; "Port of Gdansk
    Authority" a place, by the port its name begins with.)"""
    body = (
        "<html><body><p>Some HTML article about Oslo.</p></body></html>\n\nThe Port of Gdansk "
        "Authority said ships were late."
    )
    found = names_of(extract_one(extractor, body))
    assert found == {"Oslo": "place", "Port of Gdansk Authority": "org"}
