"""Failures an operator can fix, recognised and said in one line: what failed, where, the fix.

The command line prints these instead of a traceback; the server uses `is_disk_full` to answer
507 and to back off. Anything not recognised here is a bug, and keeps its traceback.
"""

from __future__ import annotations

import errno
import re
import shutil
import sqlite3
from collections.abc import Iterator
from pathlib import Path

from pydantic import ValidationError
from pydantic_settings import SettingsError
from sqlalchemy.engine import make_url
from sqlalchemy.exc import DBAPIError

ENV_PREFIX = "NEWSCORPUS_"
USAGE, FAILURE = 2, 1  # exit statuses: the operator asked for something wrong; it went wrong


class OperatorError(Exception):
    """A failure explained in one line, with the exit status the command should end with."""

    def __init__(self, message: str, status: int = FAILURE) -> None:
        super().__init__(message)
        self.status = status


def _chain(error: BaseException) -> Iterator[BaseException]:
    """The error, what caused it, and a DBAPI error's driver exception."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        yield error
        if isinstance(error, DBAPIError) and error.orig is not None:
            yield error.orig
        error = error.__cause__ or error.__context__  # type: ignore[assignment]


# SQLite says SQLITE_FULL; Tantivy passes the OS's message on inside its own error text.
_DISK_FULL_TEXT = re.compile(r"database or disk is full|no space left on device|disk quota", re.I)


# Tantivy reports a failed write as a killed writer, without the OS's reason: when almost no
# space is left where it writes, that is the reason.
LOW_SPACE = 16 * 2**20


def is_disk_full(error: BaseException, directory: Path | None = None) -> bool:
    """Tell whether the error, or one behind it, is a full disk (or an exhausted quota); or,
    for a write under `directory`, whether almost no space is left there."""
    if directory is not None and (free_space(directory) or 0) < LOW_SPACE:
        return True
    for cause in _chain(error):
        if isinstance(cause, OSError) and cause.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if _DISK_FULL_TEXT.search(str(cause)):
            return True
    return False


def human_size(n: float) -> str:
    for unit in ("bytes", "kB", "MB", "GB"):
        if n < 1000 or unit == "GB":
            return f"{n:.0f} {unit}" if unit == "bytes" else f"{n:.1f} {unit}"
        n /= 1000
    raise AssertionError("unreachable")


def free_space(directory: Path) -> int | None:
    """Bytes free for us on the file system holding `directory` (or its nearest parent)."""
    for candidate in (directory, *directory.absolute().parents):
        try:
            return shutil.disk_usage(candidate).free
        except OSError:
            continue
    return None


def database_disk_full(database_url: str, *, needed: int | None = None) -> str:
    """One line for a database write that found the disk full."""
    database = sqlite_path(database_url)
    if database is None:  # PostgreSQL: its server's disk
        return "the database server's disk is full: free some space there and run it again"
    return disk_full_message(database.parent, needed=needed)


def disk_full_message(where: Path, *, needed: int | None = None) -> str:
    """One line for a full disk: where, what is free there, and what is needed if known."""
    free = free_space(where)
    space = f"{human_size(free)} free there" if free is not None else "no space there"
    if needed:
        space += f", at least {human_size(needed)} needed"
    return f"the disk is full writing {where} ({space}): free some space and run it again"


def sqlite_path(url: str) -> Path | None:
    """The database file of a SQLite URL (None for another database, or in memory)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or parsed.database in (None, "", ":memory:"):
        return None
    return Path(parsed.database)


def explain(
    error: BaseException, *, database_url: str | None = None, data_dir: Path | None = None
) -> OperatorError | None:
    """Say a foreseeable failure in one line, or None if it is not one (a bug: keep the
    traceback). The database URL and data directory name the place in the message."""
    if isinstance(error, OperatorError):
        return error
    if isinstance(error, ValidationError) and error.title == "Settings":
        return _bad_setting(error)
    if isinstance(error, SettingsError):
        return _unparsable_setting(error)
    database = sqlite_path(database_url) if database_url else None
    if is_disk_full(error):
        if database_url:
            return OperatorError(database_disk_full(database_url))
        return OperatorError(disk_full_message(data_dir or Path()))

    for cause in _chain(error):
        if isinstance(cause, sqlite3.DatabaseError):
            return _sqlite_failure(cause, database)
        if isinstance(cause, OSError) and cause.errno in _UNWRITABLE and cause.filename:
            return _unwritable(cause)
    return None


SECRET_SETTINGS = {"api_keys", "database_url"}  # never echoed in a message


def _bad_setting(error: ValidationError) -> OperatorError:
    first = error.errors(include_url=False)[0]
    field = str(first["loc"][0]) if first["loc"] else ""
    name = ENV_PREFIX + field.upper()
    value = name if field in SECRET_SETTINGS else f"{name}={first['input']!r}"
    more = f" (and {error.error_count() - 1} more)" if error.error_count() > 1 else ""
    return OperatorError(
        f"{value}: {first['msg']}{more}; set it to a valid value or unset it", USAGE
    )


def _unparsable_setting(error: SettingsError) -> OperatorError:
    # pydantic-settings says: error parsing value for field "api_keys" from source "..."
    field = re.search(r'field "(\w+)"', str(error))
    name = ENV_PREFIX + field.group(1).upper() if field else "a NEWSCORPUS_ setting"
    return OperatorError(
        f'{name} is not valid JSON (a list is written like ["a", "b"]); fix it or unset it',
        USAGE,
    )


def _sqlite_failure(error: sqlite3.DatabaseError, database: Path | None) -> OperatorError | None:
    where = str(database) if database else "the database"
    text = str(error)
    fix = "set NEWSCORPUS_DATA_DIR or NEWSCORPUS_DATABASE_URL to a writable place"
    if "file is not a database" in text:
        return OperatorError(
            f"{where} is not a SQLite database: point NEWSCORPUS_DATA_DIR or "
            "NEWSCORPUS_DATABASE_URL at a newscorpus database, or move the file away"
        )
    if "unable to open database file" in text:
        return OperatorError(f"cannot open or create the database {where}: {fix}")
    if "readonly database" in text:
        return OperatorError(f"the database {where} is read-only: {fix}")
    return None


# Creating the data directory, the database or the index failed for these (EEXIST, ENOTDIR:
# a file stands where a directory should be).
_UNWRITABLE = {errno.EACCES, errno.EPERM, errno.EROFS, errno.EEXIST, errno.ENOTDIR}


def _unwritable(error: OSError) -> OperatorError:
    reason = (
        "a file is in the way"
        if error.errno in (errno.EEXIST, errno.ENOTDIR)
        else (error.strerror or str(error)).lower()
    )
    return OperatorError(
        f"cannot write {error.filename} ({reason}): set NEWSCORPUS_DATA_DIR (or "
        "NEWSCORPUS_DATABASE_URL, NEWSCORPUS_INDEX_DIR) to a writable directory"
    )
