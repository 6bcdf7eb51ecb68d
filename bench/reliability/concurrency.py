"""Ingest a large batch while clients read at full speed: no read may fail; how much slower?

    .venv/bin/python -m bench.run --size 10000 --prepare-only      # once: the base corpus
    .venv/bin/python -m bench.reliability.concurrency --base 10k --batch 13000

A server (one uvicorn worker, as `newscorpus serve` runs) serves a copy of the prepared base
corpus. wrk reads at full speed (16 connections, a mix of listing, search, entity filters and
detail) for `--seconds`, first alone, then in windows of `--seconds` for as long as
`newscorpus ingest` writes a batch of new articles into the same database (the server's
indexer makes them searchable as they commit).
Every non-2xx answer and socket error counts as a failed read.
"""

from __future__ import annotations

import argparse
import subprocess
import tempfile
import threading
import time
from pathlib import Path

from bench.reliability.common import (
    ROOT,
    VENV_BIN,
    child_env,
    copy_prepared,
    generate_files,
    machine,
    read_mix,
    serve,
    wrk,
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--base", default="10k", help="label of bench/out/data-<base>")
    parser.add_argument("--batch", type=int, default=13000, help="corpus size to ingest")
    parser.add_argument("--seconds", type=int, default=30, help="per wrk window")
    parser.add_argument("--max-windows", type=int, default=40)
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--extract", action="store_true", help="with entity extraction")
    args = parser.parse_args()
    print(f"machine: {machine()}")
    with tempfile.TemporaryDirectory(prefix="newscorpus-concurrency-") as tmp:
        data = copy_prepared(args.base, Path(tmp))
        # The base corpus is the first articles of the generated one: ingesting `--batch`
        # articles leaves those unchanged and adds the rest as new articles.
        corpus = generate_files(args.batch, Path(tmp) / "corpus")
        (corpus / "planted.tsv").unlink(missing_ok=True)
        with serve(data) as server:
            paths = read_mix(server.url)
            quiet = wrk(server.url, paths, connections=args.connections, seconds=args.seconds)
            print(f"reads alone:          {quiet.line()}")
            env = child_env(data_dir=str(data))
            command = [str(VENV_BIN / "newscorpus"), "ingest", str(corpus)]
            if not args.extract:
                command.insert(2, "--no-extract")
            outcome: dict[str, object] = {}

            def ingest() -> None:
                started = time.perf_counter()
                result = subprocess.run(
                    command, env=env, cwd=ROOT, capture_output=True, text=True, timeout=3600
                )
                outcome["seconds"] = time.perf_counter() - started
                outcome["exit"] = result.returncode
                outcome["summary"] = result.stdout.strip().replace("\n", "; ")

            writer = threading.Thread(target=ingest)
            writer.start()
            windows = []
            while writer.is_alive() and len(windows) < args.max_windows:
                window = wrk(server.url, paths, connections=args.connections, seconds=args.seconds)
                windows.append(window)
                print(f"reads during ingest:  {window.line()}", flush=True)
            writer.join(3600)
            print(
                f"ingest ({' '.join(command[1:3])}): {outcome.get('summary')}, exit "
                f"{outcome.get('exit')}, {outcome.get('seconds', 0):.0f} s"
            )
            locked = server.log_file.read_text().count("database is locked")
            print(f"'database is locked' in the server log: {locked}")
        during = windows[:-1] or windows  # the last window may outlast the ingest
        for p in (50, 90, 99):
            before = quiet.percentiles_ms[p]
            worst = max(w.percentiles_ms[p] for w in during)
            print(
                f"p{p}: {before:.1f} ms alone, up to {worst:.1f} ms during ({worst / before:.1f}x)"
            )
        rps = sum(w.requests for w in during) / sum(w.seconds for w in during)
        print(f"throughput: {quiet.rps:.0f} req/s alone, {rps:.0f} req/s during")
        failed = quiet.failures + sum(w.failures for w in windows)
        reads = quiet.requests + sum(w.requests for w in windows)
        print(f"reads: {reads}, failed: {failed}")
        print("RESULT:", "no read failed" if not failed else f"{failed} reads failed")


if __name__ == "__main__":
    main()
