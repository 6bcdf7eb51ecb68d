"""Ingest a directory that mixes good articles with every kind of bad file; print what happened.

    .venv/bin/python -m bench.reliability.bad_files

Bad files: binary, empty, whitespace only, invalid UTF-8 (cp1252 text, and garbage bytes),
50 MB, NUL bytes, a symlink loop (file and directory), a dangling symlink, a FIFO, an
unreadable file and an unreadable directory. The ingest runs as `nobody` (setpriv) when we
are root, since root reads a chmod 000 file. Expect: every good article loaded, every bad
file named with its reason, exit status 1.
"""

from __future__ import annotations

import os
import random
import shutil
import sqlite3
import subprocess
import tempfile
import time
from pathlib import Path

from bench.reliability.common import (
    ROOT,
    VENV_BIN,
    article_files,
    child_env,
    generate_files,
    log,
    machine,
)

GOOD = 1000


def build(directory: Path, corpus: Path) -> dict[str, str]:
    """Lay out the mixed directory; return {bad file name: what it is}."""
    good = directory / "good"
    good.mkdir(parents=True)
    for n, path in enumerate(article_files(corpus)[:GOOD]):
        sub = good / f"{n // 100:02d}"
        sub.mkdir(exist_ok=True)
        shutil.copy(path, sub / path.name)
    for seed in sorted((ROOT / "seeds").glob("*.txt")):
        shutil.copy(seed, good / seed.name)
    # A file in Windows-1252, as old newsroom exports are: loads, with a warning.
    cp1252 = "Caf\u00e9 owners in Valletta said on Monday \u201cprices\u201d rose.\n"
    (good / "cp1252.txt").write_bytes(("Caf\u00e9 prices rise\n\n" + cp1252 * 20).encode("cp1252"))

    bad = directory / "bad"
    bad.mkdir()
    rng = random.Random(5)
    kinds = {}

    def add(name: str, what: str, data: bytes | None = None) -> Path:
        path = bad / name
        if data is not None:
            path.write_bytes(data)
        kinds[name] = what
        return path

    add("binary.txt", "binary (random bytes)", rng.randbytes(20_000))
    add("png.txt", "binary (a PNG header)", b"\x89PNG\r\n\x1a\n" + rng.randbytes(5000))
    add("empty.txt", "empty", b"")
    add("whitespace.txt", "only whitespace", b" \n\t\n  \r\n")
    garbage = bytes(rng.choice([*range(0x80, 0xA0), *range(0x01, 0x08)]) for _ in range(4000))
    add("invalid-utf8.txt", "invalid UTF-8: control bytes", garbage)
    add("nul.txt", "text with NUL bytes", b"Headline\n\nSome text\x00 with a NUL.\n" * 50)
    big = add("huge.txt", "50 MB")
    with big.open("wb") as file:
        file.truncate(50 * 1024 * 1024)  # sparse: 50 MB of size at no disk cost
    (bad / "loop-a.txt").symlink_to("loop-b.txt")
    (bad / "loop-b.txt").symlink_to("loop-a.txt")
    kinds["loop-a.txt"] = kinds["loop-b.txt"] = "symlink loop"
    (bad / "self-loop-dir").mkdir()
    (bad / "self-loop-dir" / "again").symlink_to("..")  # walked once, never forever
    (bad / "dangling.txt").symlink_to("does-not-exist.txt")
    kinds["dangling.txt"] = "dangling symlink"
    os.mkfifo(bad / "fifo.txt")
    kinds["fifo.txt"] = "FIFO (reading would block)"
    secret = add("unreadable.txt", "unreadable (chmod 000)", b"Secret\n\nNobody may read this.\n")
    secret.chmod(0)
    locked = bad / "locked-dir"
    locked.mkdir()
    (locked / "inside.txt").write_text("Inside\n\nA good article nobody can reach.\n")
    locked.chmod(0)
    kinds["locked-dir"] = "unreadable directory"
    return kinds


def main() -> None:
    with tempfile.TemporaryDirectory(prefix="newscorpus-bad-") as tmp:
        work = Path(tmp)
        corpus = generate_files(GOOD, work / "corpus")
        build(work / "mixed", corpus)
        good_count = len(list((work / "mixed" / "good").rglob("*.txt")))
        data = work / "data"
        data.mkdir()
        command = [str(VENV_BIN / "newscorpus"), "ingest", "--no-extract", str(work / "mixed")]
        if os.geteuid() == 0 and shutil.which("setpriv"):
            # Root reads chmod 000 files: ingest as nobody, so "unreadable" is real.
            for path in (work, data):
                os.chown(path, 65534, 65534)
            command = ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", *command]
        env = {**child_env(data_dir=str(data)), "HOME": str(work)}
        log(" ".join(command))
        started = time.perf_counter()
        result = subprocess.run(
            command, env=env, capture_output=True, text=True, timeout=600, cwd=work
        )
        seconds = time.perf_counter() - started
        with sqlite3.connect(data / "newscorpus.db") as db:
            loaded = db.execute("SELECT count(*) FROM articles").fetchone()[0]
        failed = [line for line in result.stderr.splitlines() if line.startswith("failed:")]
        warnings = [line for line in result.stderr.splitlines() if line.startswith("warning:")]
        print(f"machine: {machine()}")
        print(f"files: {good_count} good articles, and the bad ones below")
        print(f"ingest: {seconds:.1f} s, exit status {result.returncode}")
        print(f"summary: {result.stdout.strip().splitlines()[0] if result.stdout else '?'}")
        print(f"articles in the database: {loaded} (good files: {good_count})")
        for line in failed + warnings:
            print("  " + line.replace(str(work) + "/", ""))
        ok = loaded == good_count and result.returncode == 1
        if not result.stdout:
            print(result.stderr[-3000:])
        print(
            "RESULT:", "every good article loaded, every bad file named, exit 1" if ok else "FAIL"
        )
        # Let the temporary directory go: give the locked paths back their permissions.
        for path in (work / "mixed" / "bad" / "locked-dir", work / "mixed" / "bad"):
            path.chmod(0o755)


if __name__ == "__main__":
    main()
