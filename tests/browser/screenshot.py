"""Save a screenshot of the explore page over the seeds: `python -m tests.browser.screenshot
docs/explore.png` (README shows it)."""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

from app.ingest.entities import EntityExtractor
from tests.browser.conftest import CHROMIUM, CHROMIUM_ARGS, serve
from tests.conftest import SEEDS


def main(out: Path) -> None:
    from playwright.sync_api import sync_playwright

    with tempfile.TemporaryDirectory() as data, sync_playwright() as playwright:
        server = serve(Path(data), [SEEDS], EntityExtractor())
        base = next(server)
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        page = browser.new_page(viewport={"width": 1200, "height": 760})
        page.goto(base + "explore?q=putin%20georgia&sort=relevance")
        page.wait_for_selector("body[data-ready=search]")
        page.screenshot(path=str(out), full_page=True)
        browser.close()
        server.close()  # stops the server


if __name__ == "__main__":
    main(Path(sys.argv[1]))
