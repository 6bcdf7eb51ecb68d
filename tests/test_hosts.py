"""Two API hosts on one PostgreSQL database, as separate processes: each keeps its own index
and converges on the same results, through a host killed and restarted while articles arrive.
The same again with each host in its own network namespace, so that its traffic (HTTP in,
PostgreSQL out) really crosses a network link."""

from __future__ import annotations

import asyncio
import os
import shutil
import signal
import subprocess
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.conftest import SEEDS, ingest, make_settings, migrated_engine
from tests.operations.helpers import COMMAND, free_port

pytestmark = pytest.mark.postgresql_only("hosts share one database server")


@dataclass(frozen=True)
class Place:
    """Where a host runs: the command prefix that puts it there, the address it listens on,
    and the address it reaches PostgreSQL at."""

    prefix: tuple[str, ...] = ()
    address: str = "127.0.0.1"
    database_address: str = "127.0.0.1"


LOOPBACK = Place()


@contextmanager
def host(
    data: Path, database_url: str, place: Place = LOOPBACK
) -> Iterator[tuple[str, subprocess.Popen[bytes]]]:
    """`newscorpus serve` with its own data directory (its own index) on a free port."""
    port = free_port()
    environment = {k: v for k, v in os.environ.items() if not k.startswith("NEWSCORPUS_")}
    environment |= {
        "NEWSCORPUS_DATA_DIR": str(data),
        "NEWSCORPUS_DATABASE_URL": database_url.replace(
            "@127.0.0.1:", f"@{place.database_address}:"
        ),
        "NEWSCORPUS_INDEX_POLL_SECONDS": "0.1",
        "NEWSCORPUS_LOG_LEVEL": "warning",
    }
    process = subprocess.Popen(
        [
            *place.prefix,
            COMMAND,
            "serve",
            "--host",
            place.address,
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        env=environment,
        stdout=subprocess.DEVNULL,
        start_new_session=True,
    )
    url = f"http://{place.address}:{port}"
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


def kill_ingest_restart(tmp_path: Path, places: tuple[Place, Place]) -> None:
    """Ingest, both hosts agree; kill host b, ingest more, host a has it; restart b on its own
    index: both agree again."""
    settings = make_settings(tmp_path / "loader")
    engine = migrated_engine(settings)
    url = settings.resolved_database_url
    ingest(engine, [SEEDS, harbour_news(tmp_path / "first", 0, 4)], None)
    a_place, b_place = places
    with (
        host(tmp_path / "a", url, a_place) as (a, _),
        host(tmp_path / "b", url, b_place) as (b, b_process),
    ):
        first = converged([a, b], 7)
        assert first[0] == first[1] and first[0][0] == 7 and len(first[0][1]) == 4
        os.killpg(b_process.pid, signal.SIGKILL)  # host b dies
        b_process.wait()
        ingest(engine, [harbour_news(tmp_path / "second", 4, 5)], None)
        assert converged([a], 12)[0][0] == 12
        with host(tmp_path / "b", url, b_place) as (b_again, _):  # restarted on its own index
            after = converged([a, b_again], 12)
    engine.dispose()
    assert after[0] == after[1] and after[0][0] == 12 and len(after[0][1]) == 9


def test_hosts_converge_through_a_kill_and_a_restart(tmp_path: Path) -> None:
    kill_ingest_restart(tmp_path, (LOOPBACK, LOOPBACK))


def test_hosts_in_their_own_network_namespaces_converge(
    tmp_path: Path, namespaces: tuple[Place, Place]
) -> None:
    kill_ingest_restart(tmp_path, namespaces)


@pytest.fixture
def namespaces() -> Iterator[tuple[Place, Place]]:
    """Two network namespaces, each joined to this one by a veth link (10.231.N.1 here,
    10.231.N.2 there). PostgreSQL listens on loopback only, so a relay here passes each link's
    PostgreSQL traffic on to it. Needs root and `ip` (iproute2)."""
    if os.geteuid() != 0 or shutil.which("ip") is None:
        pytest.skip("network namespaces need root and iproute2's `ip`")
    tag = uuid.uuid4().hex[:6]
    made: list[str] = []
    try:
        places = tuple(_namespace(f"nc{tag}{n}", n, made) for n in (1, 2))
    except subprocess.CalledProcessError as error:
        _remove(made)
        pytest.skip(f"cannot make a network namespace here: {error.stderr.strip()}")
    relay = PostgresRelay([place.database_address for place in places])
    try:
        yield places  # type: ignore[misc]
    finally:
        relay.stop()
        _remove(made)


def _namespace(name: str, n: int, made: list[str]) -> Place:
    here, there = f"10.231.{n}.1", f"10.231.{n}.2"
    outside, inside = f"{name}a", f"{name}b"  # interface names: at most 15 characters

    def ip(*args: str) -> None:
        subprocess.run(["ip", *args], check=True, capture_output=True, text=True)

    ip("netns", "add", name)
    made.append(name)
    ip("link", "add", outside, "type", "veth", "peer", "name", inside)
    ip("link", "set", inside, "netns", name)
    ip("addr", "add", f"{here}/24", "dev", outside)
    ip("link", "set", outside, "up")
    ip("-n", name, "addr", "add", f"{there}/24", "dev", inside)
    ip("-n", name, "link", "set", inside, "up")
    ip("-n", name, "link", "set", "lo", "up")
    return Place(prefix=("ip", "netns", "exec", name), address=there, database_address=here)


def _remove(namespaces: list[str]) -> None:
    for name in namespaces:  # its veth pair goes with it
        subprocess.run(["ip", "netns", "delete", name], capture_output=True)


class PostgresRelay:
    """Accept connections on each address's port 5432 and pass the bytes both ways to the
    PostgreSQL server on 127.0.0.1:5432, in a thread of its own."""

    def __init__(self, addresses: list[str]) -> None:
        self.loop = asyncio.new_event_loop()
        started = threading.Event()
        self.thread = threading.Thread(
            target=self._run, args=(addresses, started), name="postgres-relay", daemon=True
        )
        self.thread.start()
        assert started.wait(10), "the relay did not start"

    def _run(self, addresses: list[str], started: threading.Event) -> None:
        asyncio.set_event_loop(self.loop)
        for address in addresses:
            self.loop.run_until_complete(asyncio.start_server(self._pass_on, address, 5432))
        started.set()
        self.loop.run_forever()

    async def _pass_on(
        self, client_in: asyncio.StreamReader, client_out: asyncio.StreamWriter
    ) -> None:
        server_in, server_out = await asyncio.open_connection("127.0.0.1", 5432)
        await asyncio.gather(_pipe(client_in, server_out), _pipe(server_in, client_out))

    def stop(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while data := await source.read(65536):
            sink.write(data)
            await sink.drain()
    except ConnectionError:
        pass
    finally:
        sink.close()
