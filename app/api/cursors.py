"""Opaque keyset cursors: the last item's sort position, bound to the query that made it and
signed with the database's cursor key, so a cursor from one host is good on every other and a
forged or altered one is refused. Positions are range-checked too (as a shape each route
declares): a value a column cannot hold is a 400, never a 500."""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Request
from pydantic import BaseModel, Field, Strict, TypeAdapter, ValidationError
from pydantic_core import to_json
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from app.errors import BadCursor
from app.models import Secret

KEY_NAME = "cursor_key"
TAG_BYTES = 16  # 128 bits of HMAC-SHA256: forging one is out of reach, the cursor stays short
INT_MAX = 2**31 - 1  # the largest value of an integer column (PostgreSQL's `integer`)
# A count or a primary key in a cursor: what an integer column holds, never a bool or float.
Count = Annotated[int, Strict(), Field(ge=0, le=INT_MAX)]
RowId = Annotated[str, Field(max_length=64)]

T = TypeVar("T")
NOT_OURS = "the cursor is not one this server issued"


def fingerprint(params: BaseModel) -> str:
    """Identify a query by everything but its cursor and page size."""
    raw = params.model_dump_json(exclude={"cursor", "limit"})
    return hashlib.sha256(raw.encode()).hexdigest()[:16]


class Cursors:
    """Write and read the cursors of one database (its key)."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def _tag(self, payload: bytes) -> bytes:
        return hmac.digest(self._key, payload, "sha256")[:TAG_BYTES]

    def encode(self, position: list[object] | tuple[object, ...], query: str) -> str:
        payload = to_json({"f": query, "p": position})  # compact JSON
        return base64.urlsafe_b64encode(self._tag(payload) + payload).decode().rstrip("=")

    def decode(self, cursor: str, query: str, shape: TypeAdapter[T]) -> T:
        """Return the position a cursor holds, checked against `shape`, or raise BadCursor
        (400) for anything this server did not issue for this query."""
        try:
            raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        except (ValueError, binascii.Error):
            raise BadCursor(NOT_OURS) from None
        tag, payload = raw[:TAG_BYTES], raw[TAG_BYTES:]
        if not hmac.compare_digest(tag, self._tag(payload)):
            raise BadCursor(NOT_OURS)
        try:
            issued: Any = json.loads(payload)
            position, issued_for = issued["p"], issued["f"]
        except (ValueError, TypeError, KeyError):
            raise BadCursor(NOT_OURS) from None
        if issued_for != query:
            raise BadCursor("the cursor belongs to a different query; start again without it")
        try:
            return shape.validate_python(position)
        except ValidationError:
            raise BadCursor("the cursor holds a value out of range") from None


def load_cursors(engine: Engine) -> Cursors:
    """The database's cursor key, which its migration generated."""
    with Session(engine) as session:
        key = session.scalar(select(Secret.value).where(Secret.name == KEY_NAME))
    if key is None:
        raise RuntimeError(f"the database has no {KEY_NAME!r} secret: run the migrations")
    return Cursors(bytes.fromhex(key))


async def get_cursors(request: Request) -> Cursors:
    return request.app.state.cursors


CursorsDep = Annotated[Cursors, Depends(get_cursors)]
