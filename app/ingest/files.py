"""Find article files on disk and read their text (I/O, but no database).

Errors travel with the items: iter_article_files yields every path it was asked about or found
but could not walk (a missing path, an unreadable directory), and read_article_text turns each
into a BadArticleFile that names the reason. So a caller that reports per-file failures reports
these too, and one bad path never stops a run.
"""

from __future__ import annotations

import codecs
import os
import re
import stat
from collections.abc import Iterable, Iterator
from pathlib import Path

from app.failures import USAGE, OperatorError

SUFFIXES = {".txt"}
# Text has a few tabs and form feeds at most; a larger share of control characters means the
# bytes were never text (the NUL check catches most binaries, this catches the rest).
MAX_CONTROL_SHARE = 0.05
CONTROL_CHARACTER = re.compile(r"[\x00-\x08\x0e-\x1f\x7f-\x9f]")  # Cc minus whitespace
ASCII_CONTROLS = bytes([*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F])  # the same, in ASCII
UTF16_BOMS = (codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)


class BadArticleFile(ValueError):
    """A path that cannot be read as an article; the message says why."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path.name or path}: {reason}")
        self.path = path
        self.reason = reason


def iter_article_files(paths: Iterable[Path]) -> Iterator[tuple[Path, str]]:
    """Yield (path, key) for each article file under the given files and directories."""
    visited: set[Path] = set()  # resolved directories, shared so overlapping arguments walk once
    for path in paths:
        if path.is_dir():
            walked_before = path.resolve() in visited
            found = False
            for item in _walk(path, "", visited):
                found = True
                yield item
            if not found and not walked_before:
                yield path, path.name  # reading it says there is no article file in it
        else:
            # A missing or odd path is yielded anyway: reading it reports the problem.
            yield path, path.name


class SameId(OperatorError):
    """Two different files of one run would get the same id: the second would overwrite the
    first."""

    def __init__(self, message: str) -> None:
        super().__init__(message, USAGE)


def refuse_same_ids(files: Iterable[tuple[Path, str]]) -> None:
    """Raise SameId, naming both files, if two different files have the same key (an article's
    id is derived from its key): say, `x.txt` in two directories given to one ingest."""
    first_with: dict[str, Path] = {}
    for path, key in files:
        first = first_with.setdefault(key, path)
        if first != path and first.resolve() != path.resolve():
            raise SameId(
                f"{first} and {path} would get the same id (from {key!r}, their path under the "
                "directory given): nothing was ingested; give their common parent directory "
                "instead, so that their paths under it differ"
            )


def _walk(directory: Path, key: str, visited: set[Path]) -> Iterator[tuple[Path, str]]:
    """Yield the article files under directory in name order, keyed by the directory's own key
    ("" for a walked root) joined with their relative path. Keys are joined as strings:
    pathlib's relative_to cost more than the rest of a walk over a million files."""
    real = directory.resolve()
    if real in visited:  # a symlink loop or a tree already walked
        return
    visited.add(real)
    try:
        with os.scandir(directory) as scan:
            entries = sorted(scan, key=lambda entry: entry.name)
    except OSError:
        yield directory, key or directory.name or real.name  # reading it names the error
        return
    for entry in entries:
        if entry.name.startswith("."):  # editor swap files, .git and the like
            continue
        try:
            is_dir = entry.is_dir()
        except OSError:  # a symlink loop (ELOOP) and the like: reading it names the error
            is_dir = False
        child = f"{key}/{entry.name}" if key else entry.name
        if is_dir:
            yield from _walk(Path(entry.path), child, visited)
        elif os.path.splitext(entry.name)[1].lower() in SUFFIXES:
            yield Path(entry.path), child


def read_article_text(path: Path, *, max_bytes: int) -> tuple[str, list[str]]:
    """Read an article file as text; return the text and warnings about its encoding."""
    size = _checked_size(path)
    if size > max_bytes:
        raise BadArticleFile(path, f"larger than {max_bytes} bytes ({size} bytes)")
    try:
        with path.open("rb") as file:
            data = file.read(max_bytes + 1)  # the file may have grown since stat
    except OSError as error:
        raise BadArticleFile(path, _unreadable(error)) from error
    if len(data) > max_bytes:
        raise BadArticleFile(path, f"larger than {max_bytes} bytes")
    if b"\x00" in data and not data.startswith(UTF16_BOMS):
        raise BadArticleFile(path, "binary content (NUL bytes)")
    text, warnings = _decode(data, path)
    if not text.strip():
        raise BadArticleFile(path, "empty file" if not data else "empty file (only whitespace)")
    if _control_share(text) > MAX_CONTROL_SHARE:
        raise BadArticleFile(path, "binary content (control characters)")
    return text, warnings


def _checked_size(path: Path) -> int:
    """Return the size of a regular file, or raise BadArticleFile saying what the path is."""
    try:
        info = path.stat()
    except OSError as error:
        raise BadArticleFile(path, _unreadable(error)) from error
    if stat.S_ISDIR(info.st_mode):
        if not os.access(path, os.R_OK | os.X_OK):
            raise BadArticleFile(path, "directory not readable: permission denied")
        raise BadArticleFile(path, f"a directory without article files ({', '.join(SUFFIXES)})")
    if not stat.S_ISREG(info.st_mode):
        raise BadArticleFile(path, "not a regular file")
    if info.st_size == 0:
        raise BadArticleFile(path, "empty file")
    return info.st_size


def _unreadable(error: OSError) -> str:
    """Describe why a path could not be opened or examined."""
    if isinstance(error, FileNotFoundError):
        return "not found"
    if isinstance(error, PermissionError):
        return "not readable: permission denied"
    return f"not readable: {error.strerror or error}"


def _decode(data: bytes, path: Path) -> tuple[str, list[str]]:
    """Decode UTF-8 (BOM or not) or UTF-16 with a BOM; fall back to cp1252 with a warning."""
    if data.startswith(UTF16_BOMS):
        try:
            return data.decode("utf-16"), []
        except UnicodeDecodeError as error:
            raise BadArticleFile(path, "binary content (invalid UTF-16)") from error
    try:
        return data.decode("utf-8-sig"), []
    except UnicodeDecodeError:
        # cp1252 leaves five bytes undefined; those become U+FFFD rather than failing the file.
        text = data.decode("cp1252", errors="replace")
        return text, [f"{path.name}: not UTF-8, decoded as cp1252"]


def _control_share(text: str) -> float:
    """Return the share of characters that are control characters other than whitespace."""
    if text.isascii():  # most files: deleting bytes is 4x faster than the regex
        raw = text.encode("ascii")
        return (len(raw) - len(raw.translate(None, ASCII_CONTROLS))) / len(text)
    return len(CONTROL_CHARACTER.findall(text)) / len(text)
