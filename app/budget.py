"""A time budget for every read: database queries and index searches stop at a deadline.

A request's deadline lives in a context variable set by `BudgetMiddleware` (reads only: a
write that has taken its lock should finish). The context is copied into the worker threads
that run the endpoint and the search, so:

- SQLite: a progress handler on every connection checks the deadline every few thousand VM
  steps and interrupts the statement once it has passed; the error becomes a 503 problem.
- Index searches: Tantivy cannot be interrupted, so a search runs on a small bounded thread
  pool and the request stops waiting at the deadline (503). The search itself runs on to its
  end: the request's worker is freed, but that CPU is spent. The pool's size bounds how many
  such searches can run at once; requests queued behind them time out the same way.
- PostgreSQL: each read transaction inside a request sets `statement_timeout` and
  `lock_timeout` (SET LOCAL: they end with the transaction, so the pooled connection comes
  back as it was) to what is left of the budget; a cancelled statement becomes the same 503.
- A connection lost under a request (server restart, terminated backend) is a 503 too, logged
  in one line; the pool replaces the connection at the next checkout (pre-ping).
"""

from __future__ import annotations

import asyncio
import functools
import logging
import math
import sqlite3
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from contextlib import contextmanager
from contextvars import ContextVar, copy_context
from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from sqlalchemy import Connection
from sqlalchemy.exc import DBAPIError
from starlette.types import ASGIApp, Receive, Scope, Send

from app.errors import Unavailable, disk_full_response, problem_response
from app.failures import is_disk_full

log = logging.getLogger(__name__)

# SQLite VM steps between deadline checks: about 0.1 ms of work, a negligible overhead.
PROGRESS_STEPS = 10_000
READ_METHODS = frozenset({"GET", "HEAD"})

_deadline: ContextVar[float | None] = ContextVar("newscorpus_deadline", default=None)
_budget_seconds: ContextVar[float] = ContextVar("newscorpus_budget_seconds", default=1.0)


class OverBudget(Unavailable):
    """The request ran out of its time budget."""

    title = "Query Over Budget"


def retry_after() -> dict[str, str]:
    return {"Retry-After": str(max(1, math.ceil(_budget_seconds.get())))}


def over_budget() -> OverBudget:
    return OverBudget(
        "the query took longer than this server allows; simplify it or try again later",
        headers=retry_after(),
    )


def remaining() -> float | None:
    """Seconds left before the current request's deadline; None without a deadline."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


def expired() -> bool:
    left = remaining()
    return left is not None and left <= 0


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Run the enclosed code under a deadline `seconds` from now."""
    tokens = _deadline.set(time.monotonic() + seconds), _budget_seconds.set(seconds)
    try:
        yield
    finally:
        _deadline.reset(tokens[0])
        _budget_seconds.reset(tokens[1])


def lift_deadline() -> None:
    """Let the rest of this context run without a deadline (an export streams for as long as
    it takes; its own limit is how many run at once)."""
    _deadline.set(None)


def _past_deadline() -> int:
    # Called by SQLite from inside a statement: must be cheap and must not raise.
    deadline = _deadline.get()
    return 1 if deadline is not None and time.monotonic() > deadline else 0


def watch_sqlite(connection: sqlite3.Connection) -> None:
    """Make statements on this connection stop when the current request's deadline passes."""
    connection.set_progress_handler(_past_deadline, PROGRESS_STEPS)


def limit_postgresql(connection: Connection) -> None:
    """Bound this transaction's statements and lock waits by the request's remaining budget."""
    left = remaining()
    if left is None:
        return
    if left <= 0:
        raise over_budget()
    timeout = f"{max(1, int(left * 1000))}ms"
    connection.exec_driver_sql(
        "SELECT set_config('statement_timeout', %(t)s, true), "
        "set_config('lock_timeout', %(t)s, true)",
        {"t": timeout},
    )


# PostgreSQL's query_canceled (statement_timeout) and lock_not_available (lock_timeout).
OVER_BUDGET_STATES = frozenset({"57014", "55P03"})


class BudgetMiddleware:
    """Give each read request a deadline `budget` seconds after it arrives."""

    def __init__(self, app: ASGIApp, *, budget_ms: int) -> None:
        self.app = app
        self.budget = budget_ms / 1000

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in READ_METHODS:
            await self.app(scope, receive, send)
            return
        with deadline(self.budget):
            await self.app(scope, receive, send)


class BudgetedSearch:
    """Run every call on a search backend on a bounded pool, abandoning it at the deadline."""

    def __init__(self, backend: Any, *, threads: int) -> None:
        self.backend = backend
        self._pool_thread = threading.local()
        self.pool = ThreadPoolExecutor(
            max_workers=threads, thread_name_prefix="search", initializer=self._mark_pool_thread
        )

    def _mark_pool_thread(self) -> None:
        self._pool_thread.on = True

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self.backend, name)
        return functools.partial(self._call, attribute) if callable(attribute) else attribute

    async def run(self, function: Any, *args: Any) -> Any:
        """Run a whole request's work (which may search) on the pool, from the event loop: one
        thread hop instead of two, and the request stops waiting at its deadline."""
        left = remaining()
        if left is not None and left <= 0:
            raise over_budget()
        future = self.pool.submit(copy_context().run, function, *args)
        try:
            return await asyncio.wait_for(asyncio.wrap_future(future), left)
        except TimeoutError:
            future.cancel()  # still queued: never runs; already running: runs to its end
            raise over_budget() from None

    def _call(self, function: Any, *args: Any, **kwargs: Any) -> Any:
        left = remaining()
        if left is None or getattr(self._pool_thread, "on", False):
            # No deadline (CLI, background work), or already on the pool (`run`): run here.
            return function(*args, **kwargs)
        if left <= 0:
            raise over_budget()
        future = self.pool.submit(copy_context().run, function, *args, **kwargs)
        try:
            return future.result(timeout=left)
        except FutureTimeout:
            future.cancel()  # still queued: never runs; already running: runs to its end
            raise over_budget() from None

    def close(self) -> None:
        self.pool.shutdown(wait=False, cancel_futures=True)


async def _on_database_error(request: Request, error: Exception) -> JSONResponse:
    """Turn an interrupted, locked or lost database into a 503 a client can retry, a full disk
    into a 507."""
    assert isinstance(error, DBAPIError)
    if is_disk_full(error):
        return disk_full_response()
    message = str(error.orig)
    state = getattr(error.orig, "sqlstate", None)
    if message == "interrupted" or state in OVER_BUDGET_STATES or expired():
        return problem_response(
            503, over_budget().detail, title=OverBudget.title, headers=retry_after()
        )
    if "locked" in message or "busy" in message:
        return problem_response(
            503, "the database is busy; try again shortly", headers={"Retry-After": "1"}
        )
    if error.connection_invalidated:
        # The pool has dropped the connection; the next request gets a fresh one.
        reason = message.strip().splitlines()[0] if message.strip() else type(error.orig).__name__
        log.warning("database connection lost (%s %s): %s", request.method, request.url, reason)
        return problem_response(
            503, "the database connection was lost; try again", headers={"Retry-After": "1"}
        )
    raise error


def install_budget(app: FastAPI, *, budget_ms: int) -> None:
    app.add_middleware(BudgetMiddleware, budget_ms=budget_ms)
    app.add_exception_handler(DBAPIError, _on_database_error)
