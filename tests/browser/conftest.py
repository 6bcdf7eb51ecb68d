"""A real server on a free port over the seeds and the timeline corpus, and Debian's chromium
driven by Playwright (no test downloads a browser: `.ci/run` installs chromium with apt)."""

from __future__ import annotations

import shutil
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import uvicorn

from app.main import create_app
from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.timeline_corpus import write_corpus

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def serve(data_dir: Path, files: list[Path], extractor) -> Iterator[str]:  # type: ignore[no-untyped-def]
    """Ingest the files and serve them with uvicorn in a thread; yield the base URL."""
    settings = make_settings(data_dir)
    ingest(migrated_engine(settings), files, extractor)
    port = free_port()
    config = uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}/"
    finally:
        server.should_exit = True
        thread.join(timeout=10)


@pytest.fixture(scope="session")
def server(tmp_path_factory: pytest.TempPathFactory, extractor) -> Iterator[str]:  # type: ignore[no-untyped-def]
    files = write_corpus(tmp_path_factory.mktemp("browser-files"))
    for seed in SEEDS.glob("*.txt"):
        shutil.copy(seed, files / seed.name)
    yield from serve(tmp_path_factory.mktemp("browser"), [files], extractor)


# Module scope: Playwright's sync API runs an event loop in this thread while it is open, and
# tests after these (asyncio.run) need the thread without one.
@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    if not CHROMIUM.exists():
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium; .ci/run does)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        yield chromium
        chromium.close()


@pytest.fixture
def page_errors() -> list[str]:
    """Script errors, CSP violations and failed requests the page met (none, unless a test
    clears the ones it caused on purpose)."""
    return []


@pytest.fixture
def page(browser, server: str, page_errors: list[str]) -> Iterator[object]:  # type: ignore[no-untyped-def]
    context = browser.new_context(base_url=server, viewport={"width": 1200, "height": 900})
    page = context.new_page()
    page.on("pageerror", lambda error: page_errors.append(str(error)))
    page.on("console", lambda m: page_errors.append(m.text) if m.type == "error" else None)
    yield page
    context.close()
    assert not page_errors, page_errors
