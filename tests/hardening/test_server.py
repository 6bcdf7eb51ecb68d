"""The server as shipped (`newscorpus serve`), spoken to over raw sockets: what a client that
does not play by the rules gets before any route runs."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

HEADER_TIMEOUT = 1.0
ROOT = str(Path(__file__).resolve().parents[2])


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, int]]:
    port = _free_port()
    env = {
        **os.environ,
        # This tree's code, whichever checkout the installed `newscorpus` script was made from.
        "PYTHONPATH": os.pathsep.join(filter(None, [ROOT, os.environ.get("PYTHONPATH")])),
        "NEWSCORPUS_DATA_DIR": str(tmp_path_factory.mktemp("served")),
        "NEWSCORPUS_PORT": str(port),
        "NEWSCORPUS_WORKERS": "1",
        "NEWSCORPUS_LOG_LEVEL": "warning",
        "NEWSCORPUS_HEADER_TIMEOUT_SECONDS": str(HEADER_TIMEOUT),
    }
    command = [str(Path(sys.executable).parent / "newscorpus"), "serve"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            assert process.poll() is None, "the server exited"
            try:
                if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            pytest.fail("the server did not start")
        yield "127.0.0.1", port
    finally:
        process.terminate()
        process.wait(timeout=30)


def exchange(address: tuple[str, int], request: bytes, *, timeout: float = 10) -> bytes:
    """Send raw bytes and read until the server closes the connection (or `timeout`)."""
    with socket.create_connection(address, timeout=timeout) as s:
        s.sendall(request)
        return _read_until_closed(s, timeout)


def _read_until_closed(s: socket.socket, timeout: float) -> bytes:
    received = b""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        chunk = s.recv(65536)
        if not chunk:
            return received
        received += chunk
    raise AssertionError(f"still open after {timeout} s; got {received[:200]!r}")


def parse(raw: bytes) -> tuple[int, dict[str, str], bytes]:
    head, _, body = raw.partition(b"\r\n\r\n")
    status_line, *lines = head.decode("latin-1").split("\r\n")
    headers = {k.lower(): v.strip() for k, v in (line.split(":", 1) for line in lines)}
    return int(status_line.split()[1]), headers, body


def assert_problem(raw: bytes, status: int) -> dict:
    code, headers, body = parse(raw)
    assert code == status, raw[:300]
    assert headers["content-type"] == "application/problem+json"
    assert headers["x-content-type-options"] == "nosniff"
    assert "default-src 'none'" in headers["content-security-policy"]
    problem = json.loads(body)
    assert problem["status"] == status and problem["detail"]
    return problem


def test_raw_non_ascii_bytes_in_the_url_are_a_400_problem(server: tuple[str, int]) -> None:
    raw = exchange(server, b"GET /articles/caf\xc3\xa9\xff HTTP/1.1\r\nHost: x\r\n\r\n")
    assert "ASCII" in assert_problem(raw, 400)["detail"]


@pytest.mark.parametrize(
    ("request_bytes", "fault"),
    [
        (b"\xff\xfe GARBAGE\r\n\r\n", "malformed request line"),
        (b"\x16\x03\x01\x02\x00\x01\x00\x01\xfc\x03\x03\r\n\r\n", "malformed request line"),  # TLS
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", "Invalid header token"),
        (b"GET / HTTP/9.9\r\nHost: x\r\n\r\n", "Invalid HTTP version"),
        (b"GET http://x:port/ HTTP/1.1\r\nHost: x\r\n\r\n", "malformed URL"),
    ],
)
def test_a_request_that_is_not_http_is_a_400_naming_its_fault(
    server: tuple[str, int], request_bytes: bytes, fault: str
) -> None:
    detail = assert_problem(exchange(server, request_bytes), 400)["detail"]
    assert fault in detail and ("ASCII" in detail) == (fault == "malformed URL"), detail


def test_headers_over_64_kb_are_a_431_problem(server: tuple[str, int]) -> None:
    def request(total: int) -> bytes:
        headers = b"".join(b"X-Filler-%d: %s\r\n" % (i, b"a" * 1000) for i in range(total // 1000))
        return b"GET /healthz HTTP/1.1\r\nHost: x\r\nConnection: close\r\n" + headers + b"\r\n"

    assert parse(exchange(server, request(60_000)))[0] == 200
    assert_problem(exchange(server, request(70_000)), 431)
    one_huge = b"GET /healthz HTTP/1.1\r\nHost: x\r\nCookie: " + b"c" * 70_000 + b"\r\n\r\n"
    assert_problem(exchange(server, one_huge), 431)


def test_a_client_dribbling_its_headers_is_cut_off(server: tuple[str, int]) -> None:
    started = time.monotonic()
    with socket.create_connection(server, timeout=10) as s:
        s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        raw = b""
        for _ in range(40):  # a byte every 0.1 s, never the blank line that ends the head
            try:
                s.sendall(b"X")
            except OSError:
                break  # the server closed the connection
            time.sleep(0.1)
            s.setblocking(False)
            try:
                raw += s.recv(65536)
            except BlockingIOError:
                pass
            finally:
                s.setblocking(True)
            if raw:
                break
    assert time.monotonic() - started < HEADER_TIMEOUT + 2.5
    assert_problem(raw, 408)


def test_an_idle_connection_is_closed(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as s:
        assert_problem(_read_until_closed(s, HEADER_TIMEOUT + 5), 408)


def test_keep_alive_requests_within_the_deadline_are_served(server: tuple[str, int]) -> None:
    with socket.create_connection(server, timeout=10) as s:
        for _ in range(3):
            s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
            answer = b""
            while not answer.endswith(b'{"status":"ok"}'):
                answer += s.recv(65536)
            assert parse(answer)[0] == 200
            time.sleep(HEADER_TIMEOUT / 2)


def test_no_redirect_echoes_the_host_header(server: tuple[str, int]) -> None:
    raw = exchange(
        server, b"GET /articles/ HTTP/1.1\r\nHost: evil.example\r\nConnection: close\r\n\r\n"
    )
    _, headers, _ = parse(raw)
    assert "location" not in headers and b"evil.example" not in raw
    assert_problem(raw, 404)
