"""Result files: atomic writes and typed reads.

Every file occmodel writes goes through `write_atomic`, so an interrupted run never leaves a
half-written file behind (temp file in the same directory, then `os.replace`); the file gets the
mode the user's umask gives a new file, not the temp file's private 0600. Readers turn CSV cells
back into numbers so that bounds, plots and summaries work on typed rows, and refuse a file that
is truncated or not what occmodel wrote. `locked` keeps two processes from writing one directory.
"""
from __future__ import annotations

import contextlib
import csv
import fcntl
import io
import json
import os
import tempfile
from pathlib import Path
from typing import Any, Iterable, Iterator, Sequence

from .errors import ConfigError

Row = dict[str, Any]


class Table(list):
    """One result table (runs, summary, timeseries, latency): a list of row dicts that knows its
    column order, which is the CSV's. `to_pandas()` makes a DataFrame where pandas is installed;
    pandas is not a dependency, so it is imported only then."""

    def __init__(self, columns: Sequence[str], rows: Iterable[Row] = ()) -> None:
        super().__init__(rows)
        self.columns = list(columns)

    def to_pandas(self) -> Any:
        try:
            import pandas
        except ImportError:
            raise ImportError("Table.to_pandas() needs pandas (pip install pandas); without it the table "
                              "is a list of dicts, one per row") from None
        return pandas.DataFrame(list(self), columns=self.columns)


def write_atomic(path: Path, text: str) -> None:
    """Write `text` to `path` so readers see either the old file or the whole new one."""
    write_bytes_atomic(path, text.encode())


def write_bytes_atomic(path: Path, data: bytes) -> None:
    """The atomic write; an `OSError` (full disk, read-only mount) names `path` and leaves no
    temp file behind."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    except OSError as exc:
        raise OSError(exc.errno, exc.strerror, exc.filename or str(path)) from None
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            os.fchmod(f.fileno(), 0o666 & ~current_umask())   # mkstemp's 0600 is not the user's choice
        os.replace(tmp, path)
    except OSError as exc:
        Path(tmp).unlink(missing_ok=True)
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process umask (reading it means setting it: set it straight back)."""
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


LOCK = ".occmodel.lock"


@contextlib.contextmanager
def locked(directory: Path, option: str) -> Iterator[None]:
    """Hold `directory`'s lock (`.occmodel.lock`) or refuse: another process is writing there."""
    directory.mkdir(parents=True, exist_ok=True)
    with open(directory / LOCK, "a") as f:
        try:
            fcntl.flock(f.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise ConfigError(option, str(directory), "another occmodel process is writing results there "
                                                      "now; wait for it to finish or choose another directory") from None
        try:
            yield
        finally:
            fcntl.flock(f.fileno(), fcntl.LOCK_UN)


def format_cell(value: Any) -> str:
    """Floats with repr precision (round-trips exactly), None/NaN as empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if value != value else repr(value)
    return str(value)


def csv_text(columns: Sequence[str], rows: Iterable[Row]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(columns)
    for row in rows:
        w.writerow([format_cell(row.get(c)) for c in columns])
    return buf.getvalue()


def write_csv(path: Path, columns: Sequence[str], rows: Iterable[Row]) -> None:
    write_atomic(path, csv_text(columns, rows))


def parse_cell(text: str) -> Any:
    """'' -> None, integers -> int, other numbers -> float, anything else stays a string."""
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        pass
    try:
        return float(text)
    except ValueError:
        return text


def read_csv(path: Path) -> list[Row]:
    """Typed rows; a `ConfigError` naming the file if it is not a whole CSV (truncated, binary)."""
    try:
        with open(path, newline="", encoding="utf-8") as f:
            lines = list(csv.reader(f))
    except (UnicodeDecodeError, csv.Error) as exc:
        raise ConfigError(str(path), {}, f"is not a CSV occmodel wrote ({type(exc).__name__})") from None
    if not lines:
        raise ConfigError(str(path), {}, "is empty: expected a header line (rewrite it with occmodel run)")
    with open(path, "rb") as f:      # occmodel ends every CSV with a newline: without it, the last line is cut
        f.seek(-1, os.SEEK_END)
        if f.read(1) != b"\n":
            raise ConfigError(str(path), {}, "ends in the middle of a line: the file is truncated "
                                               "(rewrite it with occmodel run)")
    header = lines[0]
    for n, cells in enumerate(lines[1:], start=2):
        if len(cells) != len(header):
            raise ConfigError(str(path), {}, f"line {n} has {len(cells)} cells but the header has {len(header)}: "
                                               "the file is truncated or edited (rewrite it with occmodel run)")
    return [{k: parse_cell(v) for k, v in zip(header, cells)} for cells in lines[1:]]


def write_json(path: Path, obj: Any) -> None:
    write_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: Path) -> Any:
    """Parsed JSON; a `ConfigError` naming the file if it is truncated or not JSON."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ConfigError(str(path), {}, f"is not a JSON file occmodel wrote ({type(exc).__name__}); "
                                           "rewrite it with occmodel run") from None
