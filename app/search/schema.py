"""The index's layout: its fields, the numbers stored in them, and its directory on disk.

Entity fields hold entity ids as numbers: numeric fast fields aggregate without looking terms
up in each segment's dictionary (facets over 'about' at 100k, 7 segments: 6.4 -> 3.9 ms).
Aggregations over huge match sets run on a deterministic sample (`sample`, `story_key`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path

import tantivy

from app.search.base import ENTITY_TYPES
from app.search.query import TEXT_TOKENIZER, folding_analyzer

log = logging.getLogger(__name__)

SCHEMA_VERSION = 10  # bump when the schema changes: the index is then rebuilt from the database
# Samples halve: a document is in sample level k (1/2^k of all documents) when the first k bits
# of a hash of its pk are zero. It is indexed under every level it is in (one term on average),
# so a sample is one posting list (not a union of buckets: 2x cheaper to intersect).
MAX_SAMPLE_LEVEL = 24
STORY_KEY_END = 1 << 63  # story keys are spread uniformly below this
NO_STORY = "article:"  # story field of an article not yet in a story: a story of its own
# Stored fields read for each hit (with the date from its sort key): what a listing shows.
STORED_FIELDS = ("id", "title", "source", "author", "body", "word_count", "story")
STATE_FILE = "newscorpus-state.json"  # the schema version and the watermark, beside the index
_U64 = (1 << 64) - 1
_HEX_ID = re.compile(r"[0-9a-f]{16}")


def sample_levels(pk: int) -> range:
    """The sample levels an article is in: its hash is splitmix64 of its pk, uniform even
    though pks are consecutive and correlate with dates."""
    z = (pk + 0x9E3779B97F4A7C15) & _U64
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _U64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _U64
    leading_zeros = 64 - (z ^ (z >> 31)).bit_length()
    return range(1, min(leading_zeros, MAX_SAMPLE_LEVEL) + 1)


def entity_number(entity_id: str) -> int | None:
    """An entity id as the number its fast field holds: ids are 16 hex digits (`stable_id`),
    so the number is the id; anything else cannot be indexed (None)."""
    return int(entity_id, 16) if _HEX_ID.fullmatch(entity_id) else None


def story_key(story: str) -> int:
    """A story id as a number, readable as a fast field (string ones are not, in tantivy-py);
    63 bits, so collisions are negligible and it fits an i64."""
    return int.from_bytes(hashlib.blake2b(story.encode(), digest_size=8).digest()) >> 1


def build_schema() -> tantivy.Schema:
    builder = tantivy.SchemaBuilder()
    # Stored: what a listing shows of an article (STORED_FIELDS), and the body for snippets.
    builder.add_text_field("id", stored=True, tokenizer_name="raw")
    builder.add_text_field("title", stored=True, tokenizer_name=TEXT_TOKENIZER)
    builder.add_text_field("body", stored=True, tokenizer_name=TEXT_TOKENIZER)
    builder.add_text_field(
        "source", stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    builder.add_text_field("author", stored=True, tokenizer_name="raw", index_option="basic")
    builder.add_unsigned_field("word_count", stored=True)
    for name in ENTITY_TYPES:
        builder.add_unsigned_field(name, fast=True, indexed=True)
    builder.add_text_field(
        "story", stored=True, fast=True, tokenizer_name="raw", index_option="basic"
    )
    builder.add_integer_field("pk", fast=True)  # a walk with dedupe ignores newer articles
    builder.add_integer_field("seq", fast=True)  # the index's version: its largest seq
    for name in ("story_key", "sort_key", "oldest_key"):
        builder.add_integer_field(name, fast=True, indexed=True)
    builder.add_integer_field("sample", indexed=True)
    return builder.build()


def read_state(path: Path) -> dict | None:
    """The state saved beside the index (None: none yet, or unreadable)."""
    try:
        return json.loads((path / STATE_FILE).read_text())
    except (FileNotFoundError, ValueError):
        return None


def open_index(path: Path) -> tantivy.Index:
    """Open (or create) the index; one built with another schema version is wiped first, so
    the next catch-up (at every start-up) rebuilds it from the database."""
    path.mkdir(parents=True, exist_ok=True)
    state = read_state(path)
    if state is not None and state.get("schema") != SCHEMA_VERSION:
        log.warning("index schema changed: rebuilding %s", path)
        shutil.rmtree(path)
        path.mkdir(parents=True)
    index = tantivy.Index(build_schema(), path=str(path), reuse=True)
    # Searches see a commit when told (IndexReading.reload), not whenever Tantivy notices one:
    # each version a search ran on is then known by its largest seq, for walks to come back to.
    index.config_reader("Manual")
    index.register_tokenizer(TEXT_TOKENIZER, folding_analyzer())  # not kept in the index
    return index
