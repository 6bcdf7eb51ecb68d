"""Score extracted entities against a hand-made gold file: per-type and micro P/R/F1.

The gold file (tests/data/seed_entities.json is one) maps each article file name to the
distinct entities a careful reader finds, by canonical name, under "people", "places" and
"organisations"; "aliases" maps the text's other forms to those names; "also_acceptable" lists
defensible extras, which count neither for nor against. Names match ignoring case, accents,
quote styles, spacing, a leading "the" and a possessive.

Two modes, as ../shared/dev/entities/README.md describes them: lenient counts a gold entity found
once however many predicted entities find it; strict counts every extra one as a false positive
(one person split into "John Smith" and "Smith" is one hit and one error).
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.ingest.gazetteer import ENTITY_TYPES, EntityType
from app.ingest.names import fold
from app.ingest.parse import parse_article

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor
    from app.ingest.linking import FoundEntity

GOLD_FIELDS: dict[EntityType, str] = {
    "person": "people",
    "place": "places",
    "org": "organisations",
}
# Per article file, per type: each predicted entity as its names (canonical name first).
Predicted = Mapping[str, Mapping[EntityType, Sequence[Sequence[str]]]]


@dataclass
class Counts:
    """True positives, false positives and false negatives, with the ratios they give."""

    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0

    @property
    def f1(self) -> float:
        p, r = self.precision, self.recall
        return 2 * p * r / (p + r) if p + r else 0.0

    def add(self, other: Counts) -> None:
        self.tp, self.fp, self.fn = self.tp + other.tp, self.fp + other.fp, self.fn + other.fn


@dataclass
class Error:
    """One wrong or missing name, for the report's detail lines."""

    file: str
    type: EntityType
    kind: str  # "fp": extracted, not in gold; "fn": in gold, not extracted; "split": extra
    name: str


@dataclass
class Report:
    """Per-type and micro-averaged scores of one evaluation, with its errors."""

    per_type: dict[EntityType, Counts] = field(
        default_factory=lambda: {t: Counts() for t in ENTITY_TYPES}
    )
    errors: list[Error] = field(default_factory=list)

    @property
    def micro(self) -> Counts:
        total = Counts()
        for counts in self.per_type.values():
            total.add(counts)
        return total

    def format(self, *, errors: bool = False) -> str:
        """Render a small table of P/R/F1 per type and overall (and the errors if asked)."""
        lines = [f"{'type':<8}{'P':>7}{'R':>7}{'F1':>7}{'TP':>5}{'FP':>5}{'FN':>5}"]
        rows = [*self.per_type.items(), ("micro", self.micro)]
        for name, c in rows:
            lines.append(
                f"{name:<8}{c.precision:>7.3f}{c.recall:>7.3f}{c.f1:>7.3f}{c.tp:>5}{c.fp:>5}{c.fn:>5}"
            )
        if errors:
            lines += [f"{e.kind} {e.type:<6} {e.name}  ({e.file})" for e in self.errors]
        return "\n".join(lines)


def gold_articles(gold: Mapping[str, object]) -> dict[str, dict]:
    """Return the gold file's article entries (keys starting with "_" are notes)."""
    return {k: v for k, v in gold.items() if not k.startswith("_") and isinstance(v, dict)}


def score(gold: Mapping[str, object], predicted: Predicted, *, strict: bool = False) -> Report:
    """Score each article's predicted entities against its gold entities, type by type.

    A predicted entity is a set of names (its canonical name and the forms it goes by); it finds
    the gold entity one of its names or the gold's aliases spells, of the same type. Each gold
    entity found is a true positive, each predicted entity that finds none (nor an acceptable
    name) a false positive. With strict, every extra entity that finds an already found gold
    entity (one real thing split in two) is a false positive too.
    """
    report = Report()
    for file, entry in gold_articles(gold).items():
        found = predicted.get(file, {})
        for type_ in ENTITY_TYPES:
            counts, errors = _score_type(entry, type_, found.get(type_, ()), strict=strict)
            report.per_type[type_].add(counts)
            report.errors += [Error(file, type_, kind, name) for kind, name in errors]
    return report


def _score_type(
    entry: Mapping, type_: EntityType, entities: Iterable[Sequence[str]], *, strict: bool
) -> tuple[Counts, list[tuple[str, str]]]:
    """Score one article's predicted entities of one type; return the counts and the errors."""
    field_name = GOLD_FIELDS[type_]
    wanted = _gold_keys(entry, entry.get(field_name, []))
    acceptable = _gold_keys(entry, entry.get("also_acceptable", {}).get(field_name, []))
    hits: Counter[str] = Counter()
    errors: list[tuple[str, str]] = []
    for names in entities:
        keys = [_match_key(n) for n in names]
        found = [wanted[k] for k in keys if k in wanted]
        if found:
            hits[found[0]] += 1  # the canonical name's match first, else the first alias's
            if strict and hits[found[0]] > 1:
                errors.append(("split", names[0]))
        elif not any(k in acceptable for k in keys):
            errors.append(("fp", names[0]))
    missed = sorted(set(wanted.values()) - set(hits))
    errors += [("fn", name) for name in missed]
    extra = sum(n - 1 for n in hits.values()) if strict else 0
    fp = sum(1 for kind, _ in errors if kind == "fp") + extra
    return Counts(len(hits), fp, len(missed)), errors


def _gold_keys(entry: Mapping, canonicals: Iterable[str]) -> dict[str, str]:
    """Map the match keys of gold names, and of the aliases that point at them, to the name."""
    names = {_match_key(c): c for c in canonicals}
    for variant, canonical in entry.get("aliases", {}).items():
        if _match_key(canonical) in names:
            names.setdefault(_match_key(variant), names[_match_key(canonical)])
    return names


def _match_key(name: str) -> str:
    """Fold a name for matching: case, accents, quotes, spacing, "the" and a possessive."""
    key = fold(name)
    return re.sub(r"'s$", "", re.sub(r"^the ", "", key))


def evaluate(
    gold_path: Path,
    texts_dir: Path,
    extractor: EntityExtractor,
    *,
    strict: bool = False,
    n_process: int = 1,
) -> Report:
    """Parse and extract every article the gold file lists (as one batch), and score them."""
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    files = sorted(gold_articles(gold))
    articles = [parse_article((texts_dir / f).read_text(encoding="utf-8")) for f in files]
    found = extractor.extract(articles, n_process=n_process)
    predicted = {f: names_by_type(e) for f, e in zip(files, found, strict=True)}
    return score(gold, predicted, strict=strict)


def names_by_type(entities: Sequence[FoundEntity]) -> dict[EntityType, list[list[str]]]:
    """List each entity's names (canonical first, then the forms it goes by) by type."""
    out: dict[EntityType, list[list[str]]] = {t: [] for t in ENTITY_TYPES}
    for entity in entities:
        out[entity.type].append([entity.name, *sorted(entity.aliases)])
    return out
