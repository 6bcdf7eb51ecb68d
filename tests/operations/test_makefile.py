"""The Makefile on a fresh machine: the checks it makes and what it hands to pip and uv, run
with a stand-in python3 whose venv writes stand-in pip, uv and newscorpus that log their calls."""

from __future__ import annotations

import os
import shutil
import ssl
import subprocess
import sys
from pathlib import Path

import pytest

from tests.operations.helpers import REPO


def _make(tmp_path: Path, target: str, python: Path) -> subprocess.CompletedProcess[str]:
    shutil.copy(REPO / "Makefile", tmp_path / "Makefile")  # a fresh checkout: no .tools, .venv
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_", "MAKE"))}
    return subprocess.run(
        ["make", "--no-print-directory", target, f"PYTHON={python}"],
        cwd=tmp_path, env=env, capture_output=True, text=True,
    )  # fmt: skip


def _script(path: Path, body: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f"#!/bin/sh\n{body}\n")
    path.chmod(0o755)
    return path


def _python_without_venv(tmp_path: Path) -> Path:
    """Debian's python3 without python3-venv: no ensurepip (venv fails with its message)."""
    return _script(
        tmp_path / "bin" / "python3",
        f"""case "$*" in *ensurepip*|*venv*)
  echo "ModuleNotFoundError: No module named 'ensurepip'" >&2; exit 1;; esac
exec {sys.executable} "$@\"""",
    )


def test_a_python_without_venv_gets_the_one_line_fix(tmp_path: Path) -> None:
    done = _make(tmp_path, "install", _python_without_venv(tmp_path))
    assert done.returncode != 0
    assert "apt-get install python3-venv" in done.stderr
    assert not (tmp_path / ".tools").exists()


def _python_with_logging_tools(tmp_path: Path) -> Path:
    """A python3 whose `-m venv .tools` installs a pip that installs a uv; each logs."""
    log = tmp_path / "calls.log"
    tools = tmp_path / "stand-ins"
    _script(tools / "newscorpus", f'echo "newscorpus $*" >> {log}')
    _script(
        tools / "uv",
        f"""echo "uv $* UV_SYSTEM_CERTS=$UV_SYSTEM_CERTS" >> {log}
mkdir -p .venv/bin && cp {tools / "newscorpus"} .venv/bin/""",
    )
    _script(
        tools / "pip",
        f'echo "pip $* PIP_CERT=$PIP_CERT" >> {log}; cp {tools / "uv"} .tools/bin/uv',
    )
    return _script(
        tmp_path / "bin" / "python3",
        f"""if [ "$1 $2 $3" = "-m venv .tools" ]; then
  mkdir -p .tools/bin && cp {tools / "pip"} .tools/bin/pip; exit 0; fi
exec {sys.executable} "$@\"""",
    )


def test_run_trusts_the_system_certificates_and_installs_no_dev_tools(tmp_path: Path) -> None:
    system_ca = ssl.get_default_verify_paths().cafile
    if system_ca is None:
        pytest.skip("this machine has no system CA bundle for pip to be pointed at")
    done = _make(tmp_path, "run", _python_with_logging_tools(tmp_path))
    assert done.returncode == 0, done.stderr
    pip, uv, newscorpus = (tmp_path / "calls.log").read_text().splitlines()
    assert pip.startswith("pip install") and pip.endswith(f"PIP_CERT={system_ca}")
    assert uv == "uv sync --frozen --no-dev --inexact UV_SYSTEM_CERTS=1"
    assert newscorpus == "newscorpus serve --seed seeds"


def test_install_trusts_the_system_certificates_and_installs_dev_tools(tmp_path: Path) -> None:
    done = _make(tmp_path, "install", _python_with_logging_tools(tmp_path))
    assert done.returncode == 0, done.stderr
    assert "uv sync --frozen UV_SYSTEM_CERTS=1" in (tmp_path / "calls.log").read_text()
