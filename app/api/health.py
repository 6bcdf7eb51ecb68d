"""Liveness and readiness."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.api.deps import CheckedRoute, SearchDep, problems
from app.db import EngineDep
from app.errors import Unavailable
from app.migrate import schema_is_current
from app.schemas import Health, Readiness

router = APIRouter(tags=["operations"], route_class=CheckedRoute)


# A probe must reach the process, never a cache.
NO_STORE = {"Cache-Control": "no-store"}


@router.get("/healthz", response_model=Health)
async def healthz(response: Response) -> Health:
    """Report that the process is up."""
    # On the event loop: a liveness check needs no thread, and must not queue behind busy ones.
    response.headers.update(NO_STORE)
    return Health(status="ok")


@router.get("/readyz", response_model=Readiness, responses=problems(503))
def readyz(request: Request, engine: EngineDep, search: SearchDep, response: Response) -> Readiness:
    """Report whether the database is reachable with its schema at head, and the index lag."""
    response.headers.update(NO_STORE)
    try:
        with engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        at_head = schema_is_current(engine)
        lag = search.lag()
    except SQLAlchemyError:
        raise Unavailable("the database is not reachable", headers={"Retry-After": "5"}) from None
    if not at_head:
        raise Unavailable("the database schema is not at the newest migration")
    failure = request.app.state.indexer.failure
    if failure is not None:
        raise Unavailable(f"the index cannot catch up: {failure}", headers={"Retry-After": "30"})
    return Readiness(status="ready", schema_at_head=at_head, index_lag=lag)
