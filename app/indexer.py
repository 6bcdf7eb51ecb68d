"""Keep the search index in step with the database from inside the server process."""

from __future__ import annotations

import logging
import threading

from app.failures import disk_full_message, is_disk_full
from app.search.tantivy_index import IndexBusy, TantivyIndex

log = logging.getLogger(__name__)


MAX_BACKOFF = 60.0  # seconds: the longest wait between two attempts after failures


class BackgroundIndexer:
    """Poll for committed changes and index them; if another process holds the writer, only
    reload so its commits become visible. After a failure (a full disk, most often) it waits
    twice as long each time, up to MAX_BACKOFF, and keeps the reason for /readyz."""

    def __init__(self, index: TantivyIndex, *, interval: float) -> None:
        self.index = index
        self.interval = interval
        self.delay = interval  # until the next attempt
        self.failure: str | None = None  # why the last attempt failed
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="indexer", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self.index.close()

    def _run(self) -> None:
        while not self._stop.wait(self.delay):
            self.step()

    def step(self) -> None:
        """Index what is new, or see another indexer's commits; never let an error kill the loop."""
        try:
            if self.index.lag():
                indexed = self.index.catch_up()
                log.info("indexed %d changed articles", indexed)
        except IndexBusy:
            self.index.refresh()
        except Exception as error:
            self._failed(error)
            return
        self.delay, self.failure = self.interval, None

    def _failed(self, error: Exception) -> None:
        self.delay = min(self.delay * 2, max(MAX_BACKOFF, self.interval))
        before = self.failure
        if is_disk_full(error, self.index.path):
            self.failure = disk_full_message(self.index.path)
            log.warning("indexing failed: %s; next try in %.1fs", self.failure, self.delay)
            return
        self.failure = f"indexing failed: {error}"
        if self.failure != before:  # a bug: its traceback once, not at every try
            log.exception("indexing failed; next try in %.1fs", self.delay)
        else:
            log.warning("%s; next try in %.1fs", self.failure, self.delay)
