"""Keep the search index in step with the database: from inside the server process, and
beside a bulk load (a child process that follows its commits)."""

from __future__ import annotations

import logging
import multiprocessing
import os
import threading
from multiprocessing.sharedctypes import Synchronized
from multiprocessing.synchronize import Event as EventType

from app.config import Settings
from app.db import create_db_engine
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
            else:
                self.index.refresh()  # another process may have indexed them
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


# Between the follower's looks for the loader's next commit.
FOLLOW_POLL = 0.2
FOLLOWER_BUSY = 3  # the follower's exit status when another process holds the index writer


class FollowerFailed(Exception):
    """The follower process ended in an error: the caller catches the index up itself."""


class IndexFollower:
    """A child process that indexes what a bulk load commits while it loads, then catches up
    once the load is over. The index's watermark moves only after its commits, as in any
    catch-up: a crash of either process leaves nothing but articles to index again."""

    def __init__(self, settings: Settings) -> None:
        self._stopping = multiprocessing.Event()
        self._indexed = multiprocessing.Value("q", 0)
        self._process = multiprocessing.Process(
            target=follow,
            args=(settings, self._stopping, self._indexed, os.getpid()),
            name="newscorpus-index-follower",
            daemon=True,  # never outlives an interrupted load
        )
        self._process.start()

    def stop(self) -> None:
        """Tell it the load is over: it catches up with the rest and exits."""
        self._stopping.set()

    def finish(self) -> int | None:
        """Wait for it; return how many articles it indexed, None if another process holds
        the index (that one indexes them); raise FollowerFailed if it failed."""
        self.stop()
        self._process.join()
        if self._process.exitcode == FOLLOWER_BUSY:
            return None
        if self._process.exitcode != 0:
            raise FollowerFailed(f"exit status {self._process.exitcode}")
        return int(self._indexed.value)


def follow(
    settings: Settings, stopping: EventType, indexed: Synchronized[int], parent: int
) -> None:
    """The follower's body: index each transaction the loader commits as it comes, committing
    the index every COMMIT_EVERY articles, until the load is over (or its parent is gone: it
    must not hold the index writer for ever); then what is left, and a last commit."""
    engine = create_db_engine(settings.resolved_database_url)  # never the parent's connections
    index = TantivyIndex(settings.resolved_index_dir, engine)

    def loading() -> bool:
        return not stopping.wait(FOLLOW_POLL) and os.getppid() == parent

    try:
        indexed.value = index.catch_up(more=loading)
    except IndexBusy:
        raise SystemExit(FOLLOWER_BUSY) from None
    finally:
        index.close()
        engine.dispose()
