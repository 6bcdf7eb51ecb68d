"""The parser against the dev set's human gold (real Wikinews articles), when it is at hand.

The dev set lives beside the repository (../shared/dev/entities, or NEWSCORPUS_DEV_SET), never
in it: the repository does not depend on it, and these tests skip without it.
"""

from __future__ import annotations

import json
import os
from datetime import date
from pathlib import Path
from typing import Any

import pytest

from app.ingest.parse import parse_article

DEV_SET = Path(
    os.environ.get("NEWSCORPUS_DEV_SET")
    or Path(__file__).resolve().parents[2].parent / "shared" / "dev" / "entities"
)


def _gold() -> dict[str, dict[str, Any]]:
    if not (DEV_SET / "gold.json").is_file():
        return {}
    gold = json.loads((DEV_SET / "gold.json").read_text(encoding="utf-8"))
    return {name: entry for name, entry in gold.items() if (DEV_SET / name).is_file()}


GOLD = _gold()


@pytest.mark.skipif(not GOLD, reason=f"no dev set at {DEV_SET} (set NEWSCORPUS_DEV_SET)")
@pytest.mark.parametrize("name", sorted(GOLD) or ["-"])
def test_dev_article_metadata_matches_gold(name: str) -> None:
    gold = GOLD[name]
    parsed = parse_article((DEV_SET / name).read_text(encoding="utf-8"))

    assert parsed.title == gold["headline"]
    assert parsed.published_at == (gold["published"] and date.fromisoformat(gold["published"]))
    assert (parsed.source, parsed.author) == (gold["source"], gold["author"])
