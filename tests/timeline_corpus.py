"""A small corpus with known dates (some undated), sources and entities: for the routes that
answer over a set of articles (timeline, export, the explore page)."""

from __future__ import annotations

from pathlib import Path

# (day or None, source, text): every text names Vladimir Putin or Angela Merkel, and a place.
ARTICLES = [
    (
        "2023-01-02",
        "Reuters",
        "Vladimir Putin spoke in Moscow about the pipeline and the grain deal.",
    ),
    ("2023-01-05", "Reuters", "Angela Merkel met ministers in Berlin to discuss the grain deal."),
    ("2023-01-20", "Al Jazeera", "Vladimir Putin visited Tehran; the pipeline was on the agenda."),
    ("2023-03-11", "Al Jazeera", "Angela Merkel gave a speech in Paris about energy and grain."),
    ("2023-03-30", "Reuters", "In Moscow, Vladimir Putin signed a decree on the pipeline."),
    ("2023-07-14", "BBC", "Angela Merkel and Vladimir Putin talked by phone, Berlin said."),
    ("2023-12-31", "BBC", "Vladimir Putin gave his new year address in Moscow, praising grain."),
    ("2024-02-29", "Reuters", "Angela Merkel published her memoir in Berlin; a leap day launch."),
    ("2024-06-01", "Al Jazeera", "Vladimir Putin travelled to Beijing to talk about the pipeline."),
    (None, "BBC", "Angela Merkel spoke in Berlin about grain prices and the pipeline."),
    (None, None, 'Vladimir Putin, in Moscow, said the grain deal was over, "for now".'),
]


def write_corpus(directory: Path) -> Path:
    """Write the articles as files the ingest reads (title, date line, body, source trailer)."""
    directory.mkdir(parents=True, exist_ok=True)
    for n, (day, source, text) in enumerate(ARTICLES):
        lines = [f"Report Number {n} On The Talks", ""]
        if day:
            lines += [f"date {day}", ""]
        lines += [text, "", f"A second paragraph of report {n}, with more words in it.", ""]
        if source:
            lines.append(f"Source: {source}")
        (directory / f"{n:03}.txt").write_text("\n".join(lines) + "\n")
    return directory
