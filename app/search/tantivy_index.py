"""The Tantivy search index: derived from the articles table, rebuilt from it at will.

Its parts by role: `schema` (fields and the directory), `writing` (catching up with the
database), `reading` (searches, facets), `scanning` (every match: the timeline, exports) and
`snippets`.
"""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import Engine

from app.search.query import folding_analyzer
from app.search.scanning import IndexScanning
from app.search.schema import open_index
from app.search.writing import IndexBusy, IndexWriting

__all__ = ["IndexBusy", "TantivyIndex"]


class TantivyIndex(IndexWriting, IndexScanning):
    """Full-text search over articles, with filters, facets and keyset pages inside the index."""

    def __init__(self, path: Path, engine: Engine) -> None:
        super().__init__()
        self.path = path
        self.engine = engine
        self.index = open_index(path)
        self.schema = self.index.schema
        self.analyzer = folding_analyzer()
        self._writer = None
        self._write_lock = threading.Lock()
