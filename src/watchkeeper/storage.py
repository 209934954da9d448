"""Damage named: SQLite files checked when opened, and I/O errors that name the file and the operation.

Watchkeeper's own files (the state database, the MLflow SQLite store it configures, the report
spool, the JSON log, the dashboards) fail in ways nobody can act on without being told which file:
a full disk (`OSError: [Errno 28]`), a file SQLite cannot read ("file is not a database"), or one
bad page that only a rare query ever reads, so runs go on until that query comes. Here:

- `check_sqlite_file` runs ``PRAGMA quick_check`` on a SQLite file when it is opened (once per
  process for each version of the file: its inode, size and modification time) and raises
  `DamagedDatabaseError` naming the file, what was found and how to restore or salvage it.
  quick_check reads every page of the file: it finds malformed pages, broken b-trees (tables and
  indexes), pages used twice or lost, a damaged free list, and a file that is not a database at all.
  It does not compare index entries with their table's rows or check UNIQUE constraints (that is
  ``PRAGMA integrity_check``), and it cannot see a value changed inside a well-formed page: SQLite
  keeps no checksums.
- `naming_errors` (around a block) and `name_database_errors` (on an SQLAlchemy engine) turn an
  `OSError` or a SQLite error into a `StorageError` that reads "<operation> <file>: <what happened>
  (<errno or SQLite code>)" and says what to do.
- `write_atomically` writes a file beside its place and renames it over; `settle_temporaries`
  adopts a temporary left by a crash when it is complete and valid, and removes it otherwise.

Stdlib and SQLAlchemy only; nothing happens at import time.
"""

from __future__ import annotations

import errno
import logging
import os
import re
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import closing, contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Engine

log = logging.getLogger("watchkeeper.storage")

# How many problems quick_check reports at most (it stops there): enough to name the damage.
QUICK_CHECK_MAX_FINDINGS = 10
# A temporary file this old is not being written any more: its writer crashed (a write takes ms).
STRAY_AFTER_S = 60.0

# SQLite's primary result codes (the low byte of an extended code) that mean the file or the disk,
# never the statement or a concurrent writer (busy and locked are left to the callers that wait).
_SQLITE_PERM, _SQLITE_READONLY, _SQLITE_IOERR, _SQLITE_CORRUPT = 3, 8, 10, 11
_SQLITE_FULL, _SQLITE_CANTOPEN, _SQLITE_NOTADB = 13, 14, 26
_SQLITE_STORAGE_CODES = {
    _SQLITE_PERM,
    _SQLITE_READONLY,
    _SQLITE_IOERR,
    _SQLITE_CORRUPT,
    _SQLITE_FULL,
    _SQLITE_CANTOPEN,
    _SQLITE_NOTADB,
}
_SQLITE_NAMES = {
    _SQLITE_PERM: "SQLITE_PERM",
    _SQLITE_READONLY: "SQLITE_READONLY",
    _SQLITE_IOERR: "SQLITE_IOERR",
    _SQLITE_CORRUPT: "SQLITE_CORRUPT",
    _SQLITE_FULL: "SQLITE_FULL",
    _SQLITE_CANTOPEN: "SQLITE_CANTOPEN",
    _SQLITE_NOTADB: "SQLITE_NOTADB",
}

_NO_SPACE = (
    "free space on its file system (or raise the quota or file-size limit that stopped it), then run again"
)
_NO_ACCESS = "check that its directory exists and that this user may write there"
_DISK_FAILED = (
    "a read or write failed (a failing disk, or a full one or a file-size limit seen through SQLite): "
    "check free space and the disk (dmesg) before running again"
)


def restore_advice(path: Path | str) -> str:
    """What to do with a damaged SQLite file: stop its writers, restore a backup, or salvage it."""
    recovered = Path(path).with_suffix(".recovered.db")
    # `.recover` needs a sqlite3 built with the dbpage table (Debian 12's 3.40 is not: "SQL logic
    # error"); `.dump` reads table by table and rebuilds the indexes, enough for a damaged index.
    return (
        "stop the runs that use it, then restore it from a backup, or salvage what is readable with "
        f"`sqlite3 {path} .recover | sqlite3 {recovered}` (`.dump` where .recover fails) and put the "
        "recovered file in its place (move the damaged one and its -wal and -shm files aside first)"
    )


class StorageError(RuntimeError):
    """An I/O or database error on one of Watchkeeper's own files.

    The message reads "<operation> <file>: <problem>; <advice>", for example "writing the report
    spool /x/y.tmp: no space left on device (errno 28); free space …".
    """

    def __init__(self, operation: str, path: Path | str, problem: str, advice: str = "") -> None:
        self.operation, self.path, self.problem, self.advice = operation, str(path), problem, advice
        super().__init__(f"{operation} {path}: {problem}" + (f"; {advice}" if advice else ""))


class DamagedDatabaseError(StorageError):
    """A SQLite file that quick_check (or SQLite itself) found damaged; `findings` says what."""

    def __init__(self, operation: str, path: Path | str, findings: list[str], *, found_by: str = "") -> None:
        self.findings = tuple(findings)
        shown = "; ".join(findings[:3]) + (f" (+{len(findings) - 3} more)" if len(findings) > 3 else "")
        by = f", {found_by} found" if found_by else ""
        super().__init__(operation, path, f"the file is damaged{by}: {shown}", restore_advice(path))


# OSError


def describe_os_error(exc: OSError) -> str:
    """``no space left on device (errno 28)``: the system's words for the errno, and its number."""
    if exc.errno is None:
        return str(exc) or type(exc).__name__
    text = exc.strerror or os.strerror(exc.errno)
    return f"{text[:1].lower()}{text[1:]} (errno {exc.errno})"


def _os_advice(exc: OSError) -> str:
    if exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
        return _NO_SPACE
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS, errno.ENOENT, errno.ENOTDIR):
        return _NO_ACCESS
    if exc.errno == errno.EIO:
        return _DISK_FAILED
    return ""


# SQLite errors (from sqlite3 directly, or wrapped by SQLAlchemy)


def _sqlite_error(exc: BaseException) -> sqlite3.Error | None:
    if isinstance(exc, sa.exc.DBAPIError):
        exc = exc.orig  # type: ignore[assignment]
    return exc if isinstance(exc, sqlite3.Error) else None


def _sqlite_code(exc: sqlite3.Error) -> int | None:
    code = getattr(exc, "sqlite_errorcode", None)
    if code is None:
        # Errors raised before SQLite answered carry no code; its messages are stable.
        text = str(exc)
        for needle, primary in (("file is not a database", _SQLITE_NOTADB), ("malformed", _SQLITE_CORRUPT)):
            if needle in text:
                return primary
        return None
    return int(code) & 0xFF


def is_storage_failure(exc: BaseException) -> bool:
    """Whether `exc` is about the file or the disk (full, damaged, unreadable, not writable), as
    opposed to the statement or a concurrent writer (a syntax error, "database is locked")."""
    if isinstance(exc, StorageError):
        return True
    if isinstance(exc, OSError):
        return True
    error = _sqlite_error(exc)
    return error is not None and _sqlite_code(error) in _SQLITE_STORAGE_CODES


def storage_error(operation: str, path: Path | str, exc: BaseException) -> StorageError:
    """`exc` (an OSError, a sqlite3 or SQLAlchemy error) as a `StorageError` naming the file."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError):
        return StorageError(operation, path, describe_os_error(exc), _os_advice(exc))
    error = _sqlite_error(exc)
    if error is None:
        return StorageError(operation, path, f"{type(exc).__name__}: {exc}")
    code = _sqlite_code(error)
    if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
        return DamagedDatabaseError(operation, path, [f"{error} ({_SQLITE_NAMES[code]})"])
    name = getattr(error, "sqlite_errorname", None) or (_SQLITE_NAMES.get(code, "") if code else "")
    problem = f"{error} ({name})" if name else str(error)
    advice = {
        _SQLITE_FULL: _NO_SPACE,
        _SQLITE_IOERR: _DISK_FAILED,
        _SQLITE_CANTOPEN: _NO_ACCESS,
        _SQLITE_READONLY: _NO_ACCESS,
        _SQLITE_PERM: _NO_ACCESS,
    }.get(code or -1, "")
    return StorageError(operation, path, problem, advice)


@contextmanager
def naming_errors(operation: str, path: Path | str) -> Iterator[None]:
    """Inside the block, an OSError or a SQLite error on the file at `path` becomes a `StorageError`
    that names the file and the operation (``naming_errors("writing the report spool", tmp)``)."""
    try:
        yield
    except StorageError:
        raise
    except (OSError, sqlite3.Error, sa.exc.DBAPIError) as exc:
        if isinstance(exc, OSError) or is_storage_failure(exc):
            raise storage_error(operation, path, exc) from exc
        raise


def _operation_verb(context: Any) -> str:
    if context.connection is None:
        return "opening"
    words = (context.statement or "").split(None, 1)
    # No statement: a commit (or a rollback), which writes.
    return "reading" if words and words[0].upper() in ("SELECT", "PRAGMA", "WITH") else "writing"


def name_database_errors(engine: Engine, *, what: str, path: Path | str) -> None:
    """Every failure of the file or disk behind `engine` (a SQLite file) raises a `StorageError`
    naming it: ``writing the state database /x/state.db: database or disk is full (SQLITE_FULL); …``.

    Errors of the statement or of a concurrent writer ("database is locked") stay SQLAlchemy's,
    for the callers that catch them.
    """

    def rename(context: Any) -> BaseException | None:
        original = context.original_exception
        if not is_storage_failure(original):
            return None
        operation = f"{_operation_verb(context)} {what}"
        return storage_error(operation, path, original)

    sa.event.listen(engine, "handle_error", rename, retval=True)


# quick_check at open


def sqlite_file(url: str) -> Path | None:
    """The file of a ``sqlite:///…`` SQLAlchemy URL; None for another database or an in-memory one."""
    try:
        parsed = sa.engine.make_url(url)
    except sa.exc.ArgumentError:
        return None
    if parsed.get_backend_name() != "sqlite":
        return None
    database = parsed.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return None
    return Path(database).expanduser().resolve()


@dataclass(frozen=True)
class _FileVersion:
    path: str
    device: int
    inode: int
    size: int
    mtime_ns: int


_checked: set[_FileVersion] = set()
_checked_lock = threading.Lock()


def quick_check(path: Path | str) -> list[str]:
    """The problems ``PRAGMA quick_check`` finds in the SQLite file at `path` (empty: none).

    The first finding names the tables and indexes the damaged pages belong to, where SQLite can
    still tell (its ``dbstat`` table). Opened read-write without creating (a hot journal left by a
    crashed writer is rolled back, as by any opener). A file locked for longer than the busy timeout
    raises `sqlite3.OperationalError`: that is a busy file, not a damaged one.
    """
    uri = f"{Path(path).resolve().as_uri()}?mode=rw"
    with closing(sqlite3.connect(uri, uri=True, timeout=30)) as conn:
        try:
            rows = conn.execute(f"PRAGMA quick_check({QUICK_CHECK_MAX_FINDINGS})").fetchall()
        except sqlite3.DatabaseError as exc:
            code = _sqlite_code(exc)
            if code in (_SQLITE_CORRUPT, _SQLITE_NOTADB):
                return [f"{exc} ({_SQLITE_NAMES[code]})"]
            raise
        # One row per problem, the first prefixed with the schema's name ("*** in database main ***").
        findings = [
            line.strip()
            for row in rows
            for line in str(row[0]).splitlines()
            if line.strip() and not line.startswith("*** in database")
        ]
        if findings == ["ok"]:
            return []
        owners = _page_owners(conn, findings)
    return ([f"damaged pages belong to {', '.join(owners)}"] if owners else []) + findings


_PAGE_NUMBER = re.compile(r"\b[Pp]age (\d+)")


def _page_owners(conn: sqlite3.Connection, findings: list[str]) -> list[str]:
    """``index ix_x`` / ``table t`` for the pages the findings name (best effort: SQLite built
    without ``dbstat``, or too damaged to walk, names none)."""
    pages = sorted({int(n) for f in findings for n in _PAGE_NUMBER.findall(f)})
    if not pages:
        return []
    try:
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_schema").fetchall())
        marks = ",".join("?" * len(pages))
        names = conn.execute(
            f"SELECT DISTINCT name FROM dbstat WHERE pageno IN ({marks}) ORDER BY name", pages
        ).fetchall()
    except sqlite3.Error:
        return []
    return [f"{kinds.get(name, 'table')} {name}" for (name,) in names]


def check_sqlite_file(path: Path | str, *, what: str) -> None:
    """Raise `DamagedDatabaseError` if the SQLite file at `path` fails ``PRAGMA quick_check``.

    A file that does not exist yet is left alone (it is created by its first opener). Each version
    of a file (inode, size, modification time) is checked once per process, so repeated opens cost
    one `stat`. A check that cannot run (the file stays locked, it cannot be opened) is logged and
    left to the opener, whose error is named by `name_database_errors`.
    """
    target = Path(path).expanduser().resolve()
    try:
        st = target.stat()
    except FileNotFoundError:
        return
    except OSError as exc:
        raise storage_error(f"opening {what}", target, exc) from exc
    version = _FileVersion(str(target), st.st_dev, st.st_ino, st.st_size, st.st_mtime_ns)
    with _checked_lock:
        if version in _checked:
            return
    started = time.perf_counter()
    try:
        findings = quick_check(target)
    except sqlite3.Error as exc:
        if is_storage_failure(exc):
            raise storage_error(f"checking {what}", target, exc) from exc
        log.warning("could not check %s %s now (%s); checked at its next open", what, target, exc)
        return
    if findings:
        raise DamagedDatabaseError(f"checking {what}", target, findings, found_by="PRAGMA quick_check")
    with _checked_lock:
        _checked.add(version)
    log.debug(
        "quick_check of %s %s: ok in %.1f ms (%d bytes)",
        what,
        target,
        (time.perf_counter() - started) * 1000,
        st.st_size,
    )


def check_sqlite_url(url: str, *, what: str) -> Path | None:
    """`check_sqlite_file` on the file of a ``sqlite:///`` URL; returns the file (None: not one)."""
    path = sqlite_file(url)
    if path is not None:
        check_sqlite_file(path, what=what)
    return path


def guard_sqlite_engine(engine: Engine, *, what: str) -> Path | None:
    """For an engine on a SQLite file: `check_sqlite_file` now (before the first statement), and
    `name_database_errors` from now on. Returns the file (None: another database, or in memory)."""
    path = sqlite_file(engine.url.render_as_string(hide_password=False))
    if path is not None:
        check_sqlite_file(path, what=what)
        name_database_errors(engine, what=what, path=path)
    return path


# Whole files and their temporaries


def temporary_for(path: Path) -> Path:
    """Where `write_atomically` writes `path` before renaming it into place (``x.json`` → ``x.tmp``)."""
    return path.with_suffix(".tmp")


def write_atomically(path: Path, text: str, *, what: str, durable: bool = False) -> Path:
    """Write `text` to `path` whole or not at all: into its temporary, then renamed over `path`.

    On any failure (a full disk) the temporary is removed and a `StorageError` names it. `durable`
    also syncs the file before the rename (it survives a power cut, not only a crash).
    """
    tmp = temporary_for(path)
    try:
        with naming_errors(f"writing {what}", tmp), open(tmp, "w", encoding="utf-8") as out:
            out.write(text)
            out.flush()
            if durable:
                os.fsync(out.fileno())
        with naming_errors(f"renaming {what} into place at", path):
            tmp.replace(path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    return path


def _invalid(path: Path, validate: Callable[[Path], Any]) -> str | None:
    """Why `validate` refuses the file (None: it accepts it); I/O errors are raised, not reasons."""
    try:
        validate(path)
    except OSError:
        raise
    except Exception as exc:
        return f"incomplete or invalid ({type(exc).__name__}: {exc})"
    return None


@dataclass(frozen=True)
class Settled:
    """What `settle_temporaries` did with one temporary file: ``adopted`` (renamed to `target`) or
    ``removed`` (incomplete or invalid; `reason` says why)."""

    temporary: Path
    action: str
    target: Path | None = None
    reason: str = ""


def settle_temporaries(
    directory: Path,
    *,
    final_suffix: str,
    validate: Callable[[Path], Any],
    what: str,
    older_than_s: float = STRAY_AFTER_S,
) -> list[Settled]:
    """Adopt or remove the temporaries (``*.tmp``) that a crashed writer left in `directory`.

    A temporary older than `older_than_s` (younger ones may still be being written) whose content
    `validate` accepts (it raises on a bad file) is complete: it is renamed to its final name (with
    `final_suffix`), replacing a file there written before it. Otherwise (incomplete, invalid, or
    older than the file in its place) it is removed. Each is logged. A temporary that cannot be
    read (an I/O error) is left in place and the error names it.
    """
    done: list[Settled] = []
    if not directory.is_dir():
        return done
    now = time.time()
    for tmp in sorted(directory.glob("*.tmp")):
        target = tmp.with_suffix(final_suffix)
        try:
            written = tmp.stat().st_mtime
            if now - written < older_than_s:
                continue
            problem = _invalid(tmp, validate)
            if problem is None and target.exists() and target.stat().st_mtime > written:
                problem = f"older than {target.name}, written since"
        except FileNotFoundError:
            continue  # its writer finished meanwhile
        except OSError as exc:
            raise storage_error(f"reading a temporary of {what}", tmp, exc) from exc
        if problem is not None:
            with naming_errors(f"removing a stray temporary of {what}", tmp):
                tmp.unlink(missing_ok=True)
            log.warning("removed %s, a temporary of %s left by a crash: %s", tmp, what, problem)
            done.append(Settled(tmp, "removed", reason=problem))
            continue
        with naming_errors(f"adopting a temporary of {what}", tmp):
            tmp.replace(target)
        log.warning("adopted %s, a complete temporary of %s left by a crash, as %s", tmp, what, target)
        done.append(Settled(tmp, "adopted", target=target))
    return done
