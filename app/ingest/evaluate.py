"""Score extracted entities against a hand-made gold file: per-type and micro P/R/F1.

The gold file (tests/data/seed_entities.json is one) maps each article file name to the
distinct entities a careful reader finds, by canonical name, under "people", "places" and
"organisations"; "also_acceptable" lists defensible extras, which count neither for nor against.
Names match case-insensitively (and ignoring accents, quote styles and spacing): the extractor
must produce the canonical name, a variant is a miss and a false positive. The lenient mode of
score() also accepts the gold file's variants ("aliases") and a leading "the", to measure raw NER.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from app.ingest.gazetteer import ENTITY_TYPES, EntityType
from app.ingest.names import fold
from app.ingest.parse import parse_article

if TYPE_CHECKING:
    from app.ingest.entities import EntityExtractor

GOLD_FIELDS: dict[EntityType, str] = {
    "person": "people",
    "place": "places",
    "org": "organisations",
}
Predicted = Mapping[str, Mapping[EntityType, set[str]]]


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
    kind: str  # "fp" (extracted, not in gold) or "fn" (in gold, not extracted)
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


def score(gold: Mapping[str, object], predicted: Predicted, *, lenient: bool = False) -> Report:
    """Score predicted names per article and type against the gold entities."""
    report = Report()
    for file, entry in gold_articles(gold).items():
        found = predicted.get(file, {})
        variants = _variants(entry) if lenient else {}
        for type_ in ENTITY_TYPES:
            field_name = GOLD_FIELDS[type_]
            wanted = {_match_key(n) for n in entry.get(field_name, [])}
            acceptable = {
                _match_key(n) for n in entry.get("also_acceptable", {}).get(field_name, [])
            }
            got = {
                _lenient(n, variants) if lenient else _match_key(n) for n in found.get(type_, ())
            }
            got -= acceptable - wanted
            counts = Counts(len(got & wanted), len(got - wanted), len(wanted - got))
            report.per_type[type_].add(counts)
            report.errors += [Error(file, type_, "fp", n) for n in sorted(got - wanted)]
            report.errors += [Error(file, type_, "fn", n) for n in sorted(wanted - got)]
    return report


def _match_key(name: str) -> str:
    """Fold a name for matching: case, accents, quote styles and spacing do not count."""
    return fold(name)


def _variants(entry: Mapping) -> dict[str, str]:
    """Map the gold entry's variant names to its canonical names, for lenient matching."""
    return {_match_key(v): _match_key(c) for v, c in entry.get("aliases", {}).items()}


def _lenient(name: str, variants: Mapping[str, str]) -> str:
    """Match a raw name leniently: drop "the" and a possessive, then follow the gold aliases."""
    key = _match_key(name)
    bare = re.sub(r"'s$", "", re.sub(r"^the ", "", key))
    return variants.get(key) or variants.get(bare) or variants.get(f"the {bare}") or bare


def evaluate(
    gold_path: Path, texts_dir: Path, extractor: EntityExtractor, *, n_process: int = 1
) -> Report:
    """Parse and extract every article the gold file lists (as one batch), and score them."""
    gold = json.loads(gold_path.read_text(encoding="utf-8"))
    files = sorted(gold_articles(gold))
    articles = [parse_article((texts_dir / f).read_text(encoding="utf-8")) for f in files]
    found = extractor.extract(articles, n_process=n_process)
    return score(gold, {f: names_by_type(e) for f, e in zip(files, found, strict=True)})


def names_by_type(entities: Sequence) -> dict[EntityType, set[str]]:
    """Collect the canonical names of an article's entities by type."""
    out: dict[EntityType, set[str]] = {t: set() for t in ENTITY_TYPES}
    for entity in entities:
        out[entity.type].add(entity.name)
    return out
