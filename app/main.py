"""The FastAPI application: routers, error handlers and the lifespan that starts indexing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline

from app.api import articles, entities, explore, export, health, sources, stories, timeline
from app.api.catalog import Catalog
from app.api.cursors import load_cursors
from app.api.deps import problem_schemas, problems
from app.budget import BudgetedSearch
from app.config import Settings, get_settings
from app.db import create_db_engine
from app.errors import install_error_handlers
from app.indexer import BackgroundIndexer
from app.middleware import install_middleware
from app.migrate import upgrade_to_head
from app.search.tantivy_index import TantivyIndex

DESCRIPTION = """
A REST API over a corpus of news articles: list, search with ranking and highlighted
snippets, and filter by the people, places and organisations the articles mention.
Every error is `application/problem+json` (RFC 9457).
"""


def create_app(settings: Settings | None = None) -> FastAPI:
    """Build the application for the given settings (default: from the environment)."""
    settings = settings or get_settings()

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        engine = create_db_engine(settings.resolved_database_url)
        upgrade_to_head(engine)
        app.state.cursors = load_cursors(engine)
        index = TantivyIndex(settings.resolved_index_dir, engine)
        indexer = BackgroundIndexer(index, interval=settings.index_poll_seconds)
        # Catch up with what was committed while we were down; if that fails (a full disk),
        # reads are served all the same and the indexer tries again.
        indexer.step()
        indexer.start()
        # Routers search through the time budget; the indexer writes the index directly.
        search = BudgetedSearch(index, threads=settings.search_threads)
        app.state.engine, app.state.search, app.state.indexer = engine, search, indexer
        app.state.catalog = Catalog(
            cached_pages=settings.cached_pages, search_seconds=settings.index_poll_seconds
        )
        yield
        search.close()
        indexer.stop()
        engine.dispose()

    app = FastAPIOffline(
        title="newscorpus",
        version="1.0.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        # Operation ids are what generated clients name their functions: `list_articles`.
        generate_unique_id_function=lambda route: route.name,
        # A trailing-slash redirect would echo the Host header into Location: 404 instead.
        redirect_slashes=False,
    )
    app.state.settings = settings
    app.state.export_slots = export.ExportSlots(settings.export_concurrency)
    _document_problems(app)
    install_error_handlers(app)
    install_middleware(app, settings)
    # export before articles: /articles/export is not an article's id.
    for module in (export, articles, timeline, stories, entities, sources, health):
        # Any route may answer 400 (an unknown query parameter, a NUL character in its path or
        # query), and 503 when over its time budget or the database is busy or lost.
        app.include_router(module.router, responses=problems(400, 503))
    app.include_router(explore.router)
    explore.mount_assets(app)
    return app


def _document_problems(app: FastAPI) -> None:
    """Put the problem schema the error responses refer to into the document's components."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            components = build().setdefault("components", {})
            components.setdefault("schemas", {}).update(problem_schemas())
        return app.openapi_schema  # type: ignore[return-value]

    app.openapi = openapi  # type: ignore[method-assign]
