"""Tests for finding and reading article files."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from app.ingest.files import BadArticleFile, iter_article_files, read_article_text

CAP = 10_000


def write(path: Path, data: bytes | str) -> Path:
    """Create path with its parent directories and the given content."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    path.write_bytes(data)
    return path


def keys(paths: list[Path]) -> list[str]:
    """Return the keys iter_article_files yields for paths."""
    return [key for _, key in iter_article_files(paths)]


def test_walks_directories_recursively_in_name_order(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "b")
    write(tmp_path / "a" / "z.txt", "z")
    write(tmp_path / "a" / "deep" / "y.TXT", "y")
    write(tmp_path / "notes.md", "skipped")
    write(tmp_path / ".hidden" / "h.txt", "skipped")

    found = list(iter_article_files([tmp_path]))

    assert [key for _, key in found] == ["a/deep/y.TXT", "a/z.txt", "b.txt"]
    assert found[0][0] == tmp_path / "a" / "deep" / "y.TXT"


def test_file_given_directly_is_keyed_by_its_name(tmp_path: Path) -> None:
    article = write(tmp_path / "sub" / "one.txt", "x")
    other = write(tmp_path / "two.md", "x")

    assert list(iter_article_files([article, other])) == [(article, "one.txt"), (other, "two.md")]


def test_keys_are_relative_to_each_directory_argument(tmp_path: Path) -> None:
    write(tmp_path / "x" / "a.txt", "a")
    write(tmp_path / "y" / "b.txt", "b")

    assert keys([tmp_path / "x", tmp_path / "y"]) == ["a.txt", "b.txt"]


def test_survives_a_symlink_loop(tmp_path: Path) -> None:
    write(tmp_path / "a" / "one.txt", "x")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self").symlink_to(tmp_path / "a", target_is_directory=True)

    assert keys([tmp_path]) == ["a/one.txt"]


def test_a_file_symlink_loop_is_yielded_and_reported(tmp_path: Path) -> None:
    write(tmp_path / "good.txt", "x")
    (tmp_path / "loop-a.txt").symlink_to("loop-b.txt")
    (tmp_path / "loop-b.txt").symlink_to("loop-a.txt")

    assert keys([tmp_path]) == ["good.txt", "loop-a.txt", "loop-b.txt"]
    with pytest.raises(BadArticleFile, match="symbolic links"):
        read_article_text(tmp_path / "loop-a.txt", max_bytes=CAP)


def test_follows_a_symlinked_directory_outside_the_tree(tmp_path: Path) -> None:
    write(tmp_path / "elsewhere" / "far.txt", "x")
    (tmp_path / "tree").mkdir()
    (tmp_path / "tree" / "link").symlink_to(tmp_path / "elsewhere", target_is_directory=True)

    assert keys([tmp_path / "tree"]) == ["link/far.txt"]


def test_unreadable_directory_is_yielded_and_reported(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "ok.txt", "fine")
    locked = tmp_path / "locked"
    write(locked / "secret.txt", "x")
    real_scandir = os.scandir

    def scandir(path: Path) -> object:
        if Path(path) == locked:
            raise PermissionError(13, "Permission denied", str(path))
        return real_scandir(path)

    # Root reads everything, so the permission error is emulated rather than made with chmod.
    monkeypatch.setattr(os, "scandir", scandir)
    monkeypatch.setattr(os, "access", lambda path, mode: Path(path) != locked)

    found = list(iter_article_files([tmp_path]))
    assert found == [(locked, "locked"), (tmp_path / "ok.txt", "ok.txt")]
    with pytest.raises(BadArticleFile, match="not readable: permission denied"):
        read_article_text(locked, max_bytes=CAP)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 directory")
def test_chmod_000_directory_is_reported(tmp_path: Path) -> None:
    locked = tmp_path / "locked"
    write(locked / "secret.txt", "x")
    locked.chmod(0)
    try:
        found = list(iter_article_files([tmp_path]))
        assert found == [(locked, "locked")]
        with pytest.raises(BadArticleFile, match="permission denied"):
            read_article_text(locked, max_bytes=CAP)
    finally:
        locked.chmod(0o755)


def test_missing_path_is_yielded_and_reported(tmp_path: Path) -> None:
    missing = tmp_path / "gone.txt"

    assert list(iter_article_files([missing])) == [(missing, "gone.txt")]
    with pytest.raises(BadArticleFile, match="not found"):
        read_article_text(missing, max_bytes=CAP)


def test_reads_utf8(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "Georgia\u2019s caf\u00e9")

    assert read_article_text(path, max_bytes=CAP) == ("Georgia\u2019s caf\u00e9", [])


def test_strips_a_utf8_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", b"\xef\xbb\xbfHello world.")

    assert read_article_text(path, max_bytes=CAP) == ("Hello world.", [])


def test_reads_utf16_with_bom(tmp_path: Path) -> None:
    path = write(tmp_path / "a.txt", "Hello \u2014 world.".encode("utf-16"))

    assert read_article_text(path, max_bytes=CAP) == ("Hello \u2014 world.", [])


def test_falls_back_to_cp1252_with_a_warning(tmp_path: Path) -> None:
    path = write(tmp_path / "old.txt", "Georgia\u2019s \u201ccaf\u00e9\u201d".encode("cp1252"))

    text, warnings = read_article_text(path, max_bytes=CAP)

    assert text == "Georgia\u2019s \u201ccaf\u00e9\u201d"
    assert warnings == ["old.txt: not UTF-8, decoded as cp1252"]


def test_cp1252_undefined_bytes_are_replaced(tmp_path: Path) -> None:
    path = write(tmp_path / "odd.txt", b"Caf\xe9 \x81 here.")

    text, warnings = read_article_text(path, max_bytes=CAP)

    assert text == "Caf\u00e9 \ufffd here."
    assert len(warnings) == 1


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\n", "empty file"),
        (b"text\x00with\x00nul bytes", "binary content \\(NUL bytes\\)"),
        (bytes(range(1, 32)) * 5 + b"some text", "binary content \\(control characters\\)"),
    ],
)
def test_rejects_files_that_are_not_articles(tmp_path: Path, data: bytes, reason: str) -> None:
    path = write(tmp_path / "bad.txt", data)

    with pytest.raises(BadArticleFile, match=rf"bad\.txt: {reason}"):
        read_article_text(path, max_bytes=CAP)


def test_rejects_an_oversize_file_without_reading_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = write(tmp_path / "big.txt", "x" * 101)

    def no_open(*args: object, **kwargs: object) -> None:
        raise AssertionError("an oversize file must be rejected before it is opened")

    monkeypatch.setattr(Path, "open", no_open)

    with pytest.raises(BadArticleFile, match="larger than 100 bytes"):
        read_article_text(path, max_bytes=100)


def test_file_at_the_cap_is_read(tmp_path: Path) -> None:
    path = write(tmp_path / "exact.txt", "x" * 100)

    assert read_article_text(path, max_bytes=100)[0] == "x" * 100


def test_a_directory_read_as_a_file_has_no_article_files(tmp_path: Path) -> None:
    with pytest.raises(BadArticleFile, match=r"a directory without article files \(.txt\)"):
        read_article_text(tmp_path, max_bytes=CAP)


def test_unreadable_file_is_reported(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = write(tmp_path / "locked.txt", "secret")

    def denied(*args: object, **kwargs: object) -> None:
        raise PermissionError(13, "Permission denied", str(path))

    # Root reads a chmod 000 file anyway, so the permission error is emulated.
    monkeypatch.setattr(Path, "open", denied)

    with pytest.raises(BadArticleFile, match=r"locked\.txt: not readable: permission denied"):
        read_article_text(path, max_bytes=CAP)


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read a chmod 000 file")
def test_chmod_000_file_is_reported(tmp_path: Path) -> None:
    path = write(tmp_path / "locked.txt", "secret")
    path.chmod(0)
    try:
        with pytest.raises(BadArticleFile, match="permission denied"):
            read_article_text(path, max_bytes=CAP)
    finally:
        path.chmod(0o644)


def test_bad_article_file_is_a_value_error_with_its_reason(tmp_path: Path) -> None:
    path = write(tmp_path / "empty.txt", b"")

    with pytest.raises(ValueError) as caught:
        read_article_text(path, max_bytes=CAP)

    assert isinstance(caught.value, BadArticleFile)
    assert caught.value.reason == "empty file"
    assert caught.value.path == path
