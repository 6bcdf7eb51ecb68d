"""Keep the search index in step with the database from inside the server process."""

from __future__ import annotations

import logging
import threading

from app.search.tantivy_index import IndexBusy, TantivyIndex

log = logging.getLogger(__name__)


class BackgroundIndexer:
    """Poll for committed changes and index them; if another process holds the writer, only
    reload so its commits become visible."""

    def __init__(self, index: TantivyIndex, *, interval: float) -> None:
        self.index = index
        self.interval = interval
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.index.close()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.step()

    def step(self) -> None:
        """Index what is new, or see another indexer's commits; never let an error kill the loop."""
        try:
            if self.index.lag():
                indexed = self.index.catch_up()
                log.info("indexed %d changed articles", indexed)
        except IndexBusy:
            self.index.refresh()
        except Exception:
            log.exception("indexing failed; retrying in %.1fs", self.interval)
