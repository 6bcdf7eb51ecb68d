"""Render bench/results/*.json as the tables of docs/PERFORMANCE.md and its latency chart.

    .venv/bin/python -m bench.report

Rewrites only the part of docs/PERFORMANCE.md between the `results:start` and `results:end`
markers, and docs/performance-latency.png.
"""

from __future__ import annotations

import json
from pathlib import Path

from bench.run import CLASS_LABELS, CLASSES, SEARCH_CLASSES

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "bench" / "results"
DOC = ROOT / "docs" / "PERFORMANCE.md"
CHART = ROOT / "docs" / "performance-latency.png"
START, END = "<!-- results:start -->", "<!-- results:end -->"
PHRASE_ALLOWANCE = 2  # phrases over very common words may take twice the latency targets
TARGETS = {  # corpus size -> (p50, p99) in ms at the HTTP client, for every search class
    100_000: (10, 30),
    1_000_000: (25, 80),
}


def load() -> list[dict]:
    runs = [json.loads(p.read_text()) for p in RESULTS.glob("*.json")]
    return sorted(runs, key=lambda r: r["size"])


def size_label(size: int) -> str:
    return f"{size // 1_000_000}M" if size % 1_000_000 == 0 else f"{size // 1000}k"


def ms(value: float | None) -> str:
    if value is None:
        return "–"
    if value >= 100:
        return f"{value:.0f}"
    if value >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratio(a: float | None, b: float | None) -> str:
    if not a or not b:
        return "–"
    r = a / b
    if r >= 10:
        return f"{r:.0f}×"
    return f"{r:.1f}×" if r >= 0.1 else f"{r:.2f}×"


def datasette_best(row: dict) -> tuple[str, dict] | None:
    forms = [
        (k.removeprefix("datasette: "), v) for k, v in row.items() if k.startswith("datasette")
    ]
    forms = [(k, v) for k, v in forms if v.get("n")]
    return min(forms, key=lambda kv: kv[1]["p50_ms"]) if forms else None


def latency_table(run: dict) -> str:
    lines = [
        "| query class | API p50 / p99 | engine p50 / p99 | top-k only p50 | FTS5 p50 / p99 "
        "| Datasette, fastest form: p50 / p99 | API ÷ engine | FTS5 ÷ API (p50) |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for cls in CLASSES:
        row = run["latency"].get(cls)
        if not row:
            continue
        api, engine = row.get("api", {}), row.get("engine", {})
        topk, fts = row.get("engine: top-k only", {}), row.get("fts5", {})
        best = datasette_best(row)
        ds = f"{ms(best[1]['p50_ms'])} / {ms(best[1]['p99_ms'])} ({best[0]})" if best else "–"
        lines.append(
            f"| {CLASS_LABELS[cls]} | {ms(api.get('p50_ms'))} / {ms(api.get('p99_ms'))} "
            f"| {ms(engine.get('p50_ms'))} / {ms(engine.get('p99_ms'))} "
            f"| {ms(topk.get('p50_ms'))} "
            f"| {ms(fts.get('p50_ms'))} / {ms(fts.get('p99_ms'))} | {ds} "
            f"| {ratio(api.get('p50_ms'), engine.get('p50_ms'))} "
            f"| {ratio(fts.get('p50_ms'), api.get('p50_ms'))} |"
        )
    return "\n".join(lines)


UNCACHED = "api, no page cache"


def throughput_table(run: dict) -> str:
    lines = [
        "| query class | API req/s | API p50 / p99 at 16 | API without page cache: req/s, "
        "p50 / p99 | Datasette req/s (form) |",
        "| --- | --- | --- | --- | --- |",
    ]
    for cls in CLASSES:
        row = run["throughput"].get(cls)
        if not row:
            continue
        api, cold = row.get("api", {}), uncached(run, cls) or {}
        ds = [
            (k.removeprefix("datasette: "), v)
            for k, v in row.items()
            if k.startswith("datasette") and v.get("rps") is not None
        ]
        ds_text = "; ".join(f"{v['rps']:.0f} ({k})" for k, v in ds) or "–"
        cold_text = (
            f"{cold['rps']:.0f}, {ms(cold.get('p50_ms'))} / {ms(cold.get('p99_ms'))}"
            if cold.get("rps")
            else "–"
        )
        lines.append(
            f"| {CLASS_LABELS[cls]} | {api.get('rps', 0):.0f} "
            f"| {ms(api.get('p50_ms'))} / {ms(api.get('p99_ms'))} | {cold_text} | {ds_text} |"
        )
    return "\n".join(lines)


def uncached(run: dict, cls: str) -> dict | None:
    """wrk at 16 clients on the server without a page cache (older runs: listings only)."""
    if found := run["throughput"].get(cls, {}).get(UNCACHED):
        return found
    return run.get("uncached_listings", {}).get(cls, {}).get("16 clients")


def fastest_datasette_rps(run: dict, cls: str) -> float | None:
    rates = [
        v["rps"]
        for k, v in run["throughput"].get(cls, {}).items()
        if k.startswith("datasette") and v.get("rps")
    ]
    return max(rates) if rates else None


def datasette_table(run: dict) -> str:
    lines = ["| query class | Datasette form | p50 / p99 ms | n |", "| --- | --- | --- | --- |"]
    for cls in CLASSES:
        for key, value in run["latency"].get(cls, {}).items():
            if key.startswith("datasette") and value.get("n"):
                lines.append(
                    f"| {CLASS_LABELS[cls]} | {key.removeprefix('datasette: ')} "
                    f"| {ms(value['p50_ms'])} / {ms(value['p99_ms'])} | {value['n']} |"
                )
    return "\n".join(lines)


def scale_table(runs: list[dict]) -> str:
    header = "| | " + " | ".join(size_label(r["size"]) for r in runs) + " |"
    lines = [header, "|---" * (len(runs) + 1) + "|"]

    def row(name: str, get) -> None:  # type: ignore[no-untyped-def]
        cells = []
        for r in runs:
            try:
                cells.append(get(r))
            except (KeyError, TypeError):
                cells.append("–")
        lines.append(f"| {name} | " + " | ".join(cells) + " |")

    mb = 1024 * 1024
    row(
        "`ingest --no-extract` (load + index), articles/s",
        lambda r: f"{r['prepared']['ingest']['per_second']:.0f}",
    )
    row(
        "of which loading into SQLite, articles/s",
        lambda r: f"{r['prepared']['ingest']['load_per_second']:.0f}",
    )
    row(
        "indexing done after the load, s (it indexes while loading since 2026-11-30)",
        lambda r: f"{r['prepared']['ingest']['index_seconds']:.0f}",
    )
    row(
        "planted entities via `replace_entities`, articles/s",
        lambda r: f"{r['prepared']['entities']['per_second']:.0f}",
    )
    row(
        "index catch-up with entities, articles/s",
        lambda r: f"{r['prepared']['reindex_with_entities']['per_second']:.0f}",
    )
    row("FTS5 table build, s", lambda r: f"{r['prepared']['fts5']['build_seconds']:.0f}")
    row("database, MB", lambda r: f"{r['sizes']['database_bytes'] / mb:.0f}")
    row("Tantivy index, MB", lambda r: f"{r['sizes']['index_bytes'] / mb:.0f}")
    row("FTS5 table (in the copy), MB", lambda r: f"{r['sizes']['fts5_table_bytes'] / mb:.0f}")
    row("API server peak RSS, MB", lambda r: f"{r['memory']['api_peak_rss_mb']:.0f}")
    row("Datasette peak RSS, MB", lambda r: f"{r['memory']['datasette_peak_rss_mb']:.0f}")
    row("mentions loaded", lambda r: f"{r['prepared']['entities']['mentions']:,}")
    return "\n".join(lines)


def targets_table(runs: list[dict]) -> str:
    lines = ["| target | measured | met? |", "| --- | --- | --- |"]
    for run in runs:
        if run["size"] not in TARGETS:
            continue
        label = size_label(run["size"])
        for name, target in zip(("p50", "p99"), TARGETS[run["size"]], strict=True):
            lines.append(f"| {label}: {latency_row(run, name, target)} |")
        misses = []
        for cls in SEARCH_CLASSES:
            api = run["latency"][cls]["api"]["p50_ms"]
            engine = run["latency"][cls]["engine"]["p50_ms"]
            if api > 1.5 * engine + 2:
                misses.append(f"{CLASS_LABELS[cls]} {ms(api)} vs {ms(1.5 * engine + 2)}")
        lines.append(
            f"| {label}: API p50 ≤ 1.5 × engine p50 + 2 ms | "
            + ("; ".join(misses) if misses else "all classes within")
            + f" | {'no' if misses else 'yes'} |"
        )
        common = run["latency"]["common"]
        lines.append(
            f"| {label}: common word ≥ 20× faster than FTS5 (20× is the 1M target) "
            f"| {ratio(common['fts5']['p50_ms'], common['api']['p50_ms'])} "
            f"| {'yes' if common['fts5']['p50_ms'] >= 20 * common['api']['p50_ms'] else 'no'} |"
        )
        api_rps = run["throughput"]["list_first"]["api"]["rps"]
        cold = uncached(run, "list_first")
        lines.append(
            f"| {label}: listing at 16 clients ≥ 1,500 req/s | {api_rps:.0f} req/s"
            + (f"; {cold['rps']:.0f} without the page cache" if cold else "")
            + f" | {'yes' if api_rps >= 1500 else 'no'} |"
        )
        for cls in ("list_first", "common"):
            if not (ds := fastest_datasette_rps(run, cls)):
                continue
            rate = run["throughput"][cls]["api"]["rps"]
            cold = uncached(run, cls)
            lines.append(
                f"| {label}: {CLASS_LABELS[cls]} ≥ 3× Datasette's fastest form | {ratio(rate, ds)}"
                + (f"; {ratio(cold['rps'], ds)} without the page cache" if cold else "")
                + f" | {'yes' if rate >= 3 * ds else 'no'} |"
            )
        page1 = run["latency"]["list_first"]["api"]["p50_ms"]
        page500 = run["latency"]["list_page_500"]["api"]["p50_ms"]
        lines.append(
            f"| {label}: page 500 as fast as page 1 | {ms(page500)} vs {ms(page1)} ms p50 "
            f"| {'yes' if page500 <= page1 * 1.2 + 0.5 else 'no'} |"
        )
        rate = run["prepared"]["ingest"]["per_second"]
        lines.append(
            f"| {label}: bulk ingest without extraction ≥ 2,000 articles/s | {rate:.0f}/s "
            f"| {'yes' if rate >= 2000 else 'no'} |"
        )
    return "\n".join(lines)


def latency_row(run: dict, name: str, target: float) -> str:
    """Target, measured and met cells for one percentile over the search classes; phrases
    (over very common words) may take PHRASE_ALLOWANCE times the target."""
    api = {cls: run["latency"][cls]["api"][f"{name}_ms"] for cls in SEARCH_CLASSES}
    others = [cls for cls in SEARCH_CLASSES if cls != "phrase"]
    worst = max(others, key=api.__getitem__)
    met = api[worst] <= target and api["phrase"] <= PHRASE_ALLOWANCE * target
    return (
        f"every search class {name} ≤ {target} ms (phrases ≤ {PHRASE_ALLOWANCE * target}) "
        f"| worst {CLASS_LABELS[worst]} {api[worst]:.2f} ms; phrase {api['phrase']:.2f} ms "
        f"| {'yes' if met else 'no'}"
    )


def workload_notes(run: dict) -> str:
    notes = run["workload"]
    share = ", ".join(f"`{k}` {v:.2%}" for k, v in notes["document_frequency"].items())
    people = ", ".join(f"{k} {v:.1%}" for k, v in notes.get("entity_article_share", {}).items())
    return (
        f"Share of articles matched: {share}. Entity filters (people, share of articles): {people}."
    )


def render(runs: list[dict]) -> str:
    parts = ["### Against the targets", "", targets_table(runs), ""]
    parts += [
        "### Latency against corpus size",
        "",
        f"![Latency against corpus size]({CHART.name})",
        "",
    ]
    parts += ["### Ingest, sizes and memory", "", scale_table(runs), ""]
    for run in runs:
        label = size_label(run["size"])
        machine = run["machine"]
        parts += [
            f"### {label} articles",
            "",
            f"Run {run['started']} on {machine['cpu']}, {machine['cores']} cores, "
            f"{machine['memory']}; code at `{run.get('git', '?')}`; took {run['seconds']:.0f} s; "
            f"`{run['command']}`.",
            "",
            "Latency, one client (ms; API and Datasette at the HTTP client, engine and FTS5 "
            "in-process; systems take turns request by request"
            + (
                "; the API without its page cache, so every request does its work):"
                if run.get("latency_api") == UNCACHED
                else "; the API as shipped, with its page cache):"
            ),
            "",
            latency_table(run),
            "",
            "Requests per second, 16 connections (wrk, 2 threads, on the same 2 cores):",
            "",
            throughput_table(run),
            "",
            "Every Datasette form measured:",
            "",
            datasette_table(run),
            "",
            workload_notes(run),
            "",
        ]
    return "\n".join(parts)


def chart(runs: list[dict]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    sizes = [r["size"] for r in runs]
    figure, axes = plt.subplots(1, 3, figsize=(16, 5.5), sharey=True)
    panels = (
        ("API at the HTTP client, p50", "api", "p50_ms"),
        ("API at the HTTP client, p99", "api", "p99_ms"),
        ("SQLite FTS5 in-process, p50", "fts5", "p50_ms"),
    )
    for axis, (title, system, stat) in zip(axes, panels, strict=True):
        for cls in CLASSES:
            points = [
                (r["size"], r["latency"][cls][system][stat])
                for r in runs
                if system in r["latency"].get(cls, {}) and r["latency"][cls][system].get("n")
            ]
            if points:
                xs, ys = zip(*points, strict=True)
                style = "--" if cls not in SEARCH_CLASSES else "-"
                colour = plt.get_cmap("tab10")(CLASSES.index(cls) % 10)
                axis.plot(xs, ys, style, marker="o", color=colour, label=CLASS_LABELS[cls])
        if system == "api":
            index = 0 if stat == "p50_ms" else 1
            target_x = list(TARGETS)
            target_y = [TARGETS[x][index] for x in target_x]
            axis.plot(target_x, target_y, "k:", marker="x", label="target (search classes)")
            phrase_colour = plt.get_cmap("tab10")(CLASSES.index("phrase") % 10)
            axis.plot(
                target_x,
                [PHRASE_ALLOWANCE * y for y in target_y],
                ":",
                marker="x",
                color=phrase_colour,
                label="target (phrases)",
            )
        axis.set_title(title)
        axis.set_xscale("log")
        axis.set_yscale("log")
        axis.set_xticks([10_000, 100_000, 1_000_000])
        axis.set_xticklabels(["10k", "100k", "1M"])
        axis.set_xlim(7_000, 1_400_000)
        axis.set_xlabel("articles")
        axis.grid(True, which="both", alpha=0.3)
    axes[0].set_ylabel("ms")
    axes[0].legend(fontsize=8, loc="upper left")
    measured = ", ".join(size_label(s) for s in sizes)
    figure.suptitle(f"newscorpus latency against corpus size (measured: {measured})")
    figure.tight_layout()
    figure.savefig(CHART, dpi=110)


def main() -> None:
    runs = load()
    text = DOC.read_text()
    before, _, rest = text.partition(START)
    _, _, after = rest.partition(END)
    DOC.write_text(f"{before}{START}\n\n{render(runs)}\n{END}{after}")
    chart(runs)
    print(f"updated {DOC.relative_to(ROOT)} and {CHART.relative_to(ROOT)}")


if __name__ == "__main__":
    main()
