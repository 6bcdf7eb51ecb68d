"""Opaque keyset cursors: the last item's sort position, bound to the query that made it."""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from pydantic import BaseModel

from app.errors import BadCursor


def fingerprint(params: BaseModel) -> str:
    """Identify a query by everything but its cursor and page size."""
    raw = params.model_dump_json(exclude={"cursor", "limit"})
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


def encode(position: list[object], query: str) -> str:
    raw = json.dumps({"f": query, "p": position}, separators=(",", ":"))
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode(cursor: str, query: str) -> list[Any]:
    """Return the position a cursor holds, or raise BadCursor (400) for anything else."""
    try:
        raw = json.loads(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
        position, issued_for = raw["p"], raw["f"]
    except (ValueError, TypeError, KeyError, binascii.Error):
        raise BadCursor("the cursor is not one this server issued") from None
    if issued_for != query:
        raise BadCursor("the cursor belongs to a different query; start again without it")
    if not isinstance(position, list):
        raise BadCursor("the cursor is not one this server issued")
    return position
