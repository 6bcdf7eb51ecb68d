"""Two API hosts on one PostgreSQL database, as separate processes: each keeps its own index
and converges on the same results, through a host killed and restarted while articles arrive."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import pytest

from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.operations.helpers import COMMAND, free_port

pytestmark = pytest.mark.postgresql_only("hosts share one database server")


@contextmanager
def host(data: Path, database_url: str) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`newscorpus serve` with its own data directory (its own index) on a free port."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSCORPUS_")}
    environment |= {
        "NEWSCORPUS_DATA_DIR": str(data),
        "NEWSCORPUS_DATABASE_URL": database_url,
        "NEWSCORPUS_INDEX_POLL_SECONDS": "0.1",
        "NEWSCORPUS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [COMMAND, "serve", "--port", str(port), "--workers", "1"],
        env=environment,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(1200):
            assert process.poll() is None, "the host exited"
            try:
                if httpx.get(f"{url}/readyz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        yield url, process
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=60)


def results(url: str) -> tuple[int, list[str]]:
    """What a host answers: its total, and the ids a search finds."""
    total = httpx.get(f"{url}/articles", params={"limit": 1}, timeout=30).json()["total"]
    found = httpx.get(f"{url}/articles", params={"q": "harbour", "limit": 100}, timeout=30)
    return total, sorted(item["id"] for item in found.json()["items"])


def converged(urls: list[str], total: int) -> list[tuple[int, list[str]]]:
    """Wait until every host lists `total` articles and its index has caught up."""
    answers: list[tuple[int, list[str]]] = []
    for _ in range(600):
        ready = [httpx.get(f"{u}/readyz", timeout=30).json()["index_lag"] == 0 for u in urls]
        answers = [results(u) for u in urls]
        if all(ready) and all(a[0] == total for a in answers):
            break
        time.sleep(0.1)
    return answers


def harbour_news(directory: Path, first: int, count: int) -> Path:
    directory.mkdir()
    for n in range(first, first + count):
        (directory / f"{n:03d}.txt").write_text(
            f"Harbour news {n}\n\nThe harbour of Valletta reopened on day {n}, officials said.\n"
        )
    return directory


def test_hosts_converge_through_a_kill_and_a_restart(tmp_path: Path) -> None:
    settings = make_settings(tmp_path / "loader")
    engine = migrated_engine(settings)
    url = settings.resolved_database_url
    ingest(engine, [SEEDS, harbour_news(tmp_path / "first", 0, 4)], None)
    with host(tmp_path / "a", url) as (a, _), host(tmp_path / "b", url) as (b, b_process):
        first = converged([a, b], 7)
        assert first[0] == first[1] and first[0][0] == 7 and len(first[0][1]) == 4
        os.killpg(b_process.pid, signal.SIGKILL)  # host b dies
        b_process.wait()
        ingest(engine, [harbour_news(tmp_path / "second", 4, 5)], None)
        assert converged([a], 12)[0][0] == 12
        with host(tmp_path / "b", url) as (b_again, _):  # restarted on its own index
            after = converged([a, b_again], 12)
    engine.dispose()
    assert after[0] == after[1] and after[0][0] == 12 and len(after[0][1]) == 9
