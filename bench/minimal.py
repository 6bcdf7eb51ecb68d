"""The floor for the API's uncached listing: a minimal FastAPI app that runs the listing's
SQLite query and returns its rows as JSON, with no middleware, no validation model and no
cache. `bench.run` serves it with uvicorn as `newscorpus serve` serves the API (the same
workers and HTTP implementation) and measures both side by side.

    NEWSCORPUS_DATA_DIR=bench/out/data-100k .venv/bin/uvicorn bench.minimal:app
"""

from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path
from typing import Any

from fastapi import FastAPI

LIST_COLUMNS = (
    "id, title, source, author, published_at, substr(body, 1, 200) AS excerpt, word_count"
)
LIST_FIRST = f"SELECT {LIST_COLUMNS} FROM articles ORDER BY published_at DESC, pk DESC LIMIT ?"

DATABASE = Path(os.environ.get("NEWSCORPUS_DATA_DIR", "data")) / "newscorpus.db"
_local = threading.local()
app = FastAPI()


def _connection() -> sqlite3.Connection:
    if not hasattr(_local, "connection"):  # one per worker thread, as a pool would give
        _local.connection = sqlite3.connect(f"file:{DATABASE}?mode=ro", uri=True)
        _local.connection.row_factory = sqlite3.Row
    return _local.connection


@app.get("/articles")
def articles(limit: int = 20) -> dict[str, Any]:
    """The newest articles, as the API's plain listing (first page) reads them."""
    rows = _connection().execute(LIST_FIRST, (limit,)).fetchall()
    return {"items": [dict(row) for row in rows]}
