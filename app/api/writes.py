"""Who may change the corpus: API keys from NEWSCORPUS_API_KEYS, compared in constant time."""

from __future__ import annotations

import hmac
import threading
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from app.errors import Forbidden, Unauthorized, Unavailable
from app.failures import OperatorError
from app.ingest.pipeline import load_extractor

api_key_header = APIKeyHeader(name="X-API-Key", auto_error=False)
_extractor_lock = threading.Lock()


def require_writer(
    request: Request, api_key: Annotated[str | None, Security(api_key_header)]
) -> None:
    """Let the request through only with a configured key; with none configured, writes are off."""
    keys: list[str] = request.app.state.settings.api_keys
    if not keys:
        raise Forbidden("writes are disabled: the server has no API key configured")
    if not api_key:
        raise Unauthorized("send an API key in the X-API-Key header")
    # The header's bytes, as received (Starlette reads them as latin-1), against each key's
    # (printable ASCII without spaces at its ends: see Settings); all compared, so timing tells
    # nothing about which one nearly matched. Whitespace around a header's value is no part of
    # it (RFC 9110, 5.5): the parser drops it before the value, not always after.
    sent = api_key.strip(" \t").encode("latin-1")
    matches = [hmac.compare_digest(sent, key.encode("ascii")) for key in keys]
    if not any(matches):
        raise Forbidden("the API key is not valid")


def get_extractor(request: Request):  # type: ignore[no-untyped-def]
    """Load the entity extractor on first write: readers never pay for spaCy."""
    state = request.app.state
    with _extractor_lock:
        if getattr(state, "extractor", None) is None:
            try:
                state.extractor = load_extractor(state.settings)
            except OperatorError as error:  # no spaCy pipeline: the operator must install it
                raise Unavailable(f"entity extraction is unavailable: {error}") from None
    return state.extractor


WriterDep = Depends(require_writer)
