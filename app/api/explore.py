"""The explore page: a search box, results, facets and a timeline in the browser, over this
API. Plain HTML, CSS and JavaScript served by the app (no CDN: it works offline)."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, FastAPI
from fastapi.responses import FileResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles

PAGES = Path(__file__).resolve().parent.parent / "static" / "explore"
# The page runs only its own script and styles and talks only to this server.
CSP = (
    "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'"
)

router = APIRouter(include_in_schema=False)


@router.get("/")
def home() -> RedirectResponse:
    """Send a browser to the explore page (a relative Location: it works under any prefix)."""
    return RedirectResponse("explore", status_code=307)


@router.get("/explore")
def explore() -> FileResponse:
    """The explore page; it reads what to show from its own query string."""
    return FileResponse(PAGES / "index.html", headers={"Content-Security-Policy": CSP})


def mount_assets(app: FastAPI) -> None:
    app.mount("/explore/assets", StaticFiles(directory=PAGES / "assets"), name="explore-assets")
