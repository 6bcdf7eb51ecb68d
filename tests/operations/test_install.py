"""The package works once installed: a built wheel, in a fresh virtual environment, run from a
directory that has nothing to do with the checkout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.operations.helpers import REPO, SEEDS, free_port


def _uv() -> str:
    local = REPO / ".tools" / "bin" / "uv"
    found = str(local) if local.exists() else shutil.which("uv")
    if found is None:
        pytest.skip("uv not found: `make install` puts it in .tools/bin")
    return found


def _run(*command: str | Path, cwd: Path, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(
        [str(c) for c in command], cwd=cwd, env=env, capture_output=True, text=True
    )
    assert done.returncode == 0, f"{command}: {done.stdout}\n{done.stderr}"
    return done.stdout


def _installed_wheel(tmp_path: Path) -> Path:
    """Build the wheel (with the locked hatchling from this environment: no download), install
    it with the locked dependencies (uv's cache holds them) into a new venv; its bin/."""
    uv = _uv()
    dist, venv = tmp_path / "dist", tmp_path / "venv"
    python = ["--python", sys.executable]
    _run(uv, "build", "--wheel", "--no-build-isolation", *python, "--out-dir", dist, cwd=REPO)
    requirements = tmp_path / "requirements.txt"
    _run(uv, "export", "--frozen", "--no-dev", "--no-emit-project", "--no-hashes",
         "--quiet", "-o", requirements, cwd=REPO)  # fmt: skip
    _run(uv, "venv", "--quiet", *python, venv, cwd=tmp_path)
    (wheel,) = dist.glob("newscorpus-*.whl")
    _run(uv, "pip", "install", "--quiet", "--python", venv / "bin" / "python",
         "-r", requirements, wheel, cwd=tmp_path)  # fmt: skip
    return venv / "bin"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.load(response)


def _wait_ready(url: str, server: subprocess.Popen[str]) -> dict:
    deadline = time.monotonic() + 120  # a deadline for a hung server, not a speed check
    while time.monotonic() < deadline:
        assert server.poll() is None, server.communicate()
        try:
            return _get(url)
        except OSError:
            time.sleep(0.3)
    raise AssertionError("the installed server never became ready")


def test_the_wheel_migrates_ingests_and_serves_from_anywhere(tmp_path: Path) -> None:
    bin_dir = _installed_wheel(tmp_path)
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(SEEDS, elsewhere / "articles")
    env = {k: v for k, v in os.environ.items() if not k.startswith(("NEWSCORPUS_", "PYTHON"))}
    env.pop("VIRTUAL_ENV", None)
    env["NEWSCORPUS_DATA_DIR"] = str(elsewhere / "data")

    found = "import app; print(app.__file__)"
    where = _run(bin_dir / "python", "-c", found, cwd=elsewhere, env=env)
    assert Path(where.strip()).is_relative_to(tmp_path / "venv")  # not the checkout's app/
    _run(bin_dir / "newscorpus", "migrate", cwd=elsewhere, env=env)
    assert "3 loaded" in _run(bin_dir / "newscorpus", "ingest", "articles", cwd=elsewhere, env=env)

    port = free_port()
    server = subprocess.Popen(
        [bin_dir / "newscorpus", "serve", "--port", str(port), "--workers", "1"],
        cwd=elsewhere, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )  # fmt: skip
    try:
        ready = _wait_ready(f"http://127.0.0.1:{port}/readyz", server)
        assert ready["status"] == "ready" and ready["index_lag"] == 0
        assert _get(f"http://127.0.0.1:{port}/articles?q=the")["total"] == 3
    finally:
        server.terminate()
        server.wait(timeout=30)
