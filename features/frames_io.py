"""Reading and writing result files: frames (features, rules, scores) as CSV or Parquet, and text pages.

Writes are atomic: the content goes to a temporary file in the target folder, then replaces the target
in one rename, so a crash never leaves a half-written output for a CRM import to pick up. The file
gets the permissions a plain ``open(..., "w")`` would give it (the user's umask), and overwriting a
file keeps that file's mode, so hand-off to a shared folder keeps working.
"""

from __future__ import annotations

import os
import stat
import tempfile
from collections.abc import Callable
from pathlib import Path

import pandas as pd

from leadscore.features.errors import LeadscoreError

SUFFIXES = (".csv", ".parquet")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise LeadscoreError(f"{path}: output must end in .csv or .parquet, not {suffix or 'nothing'!r}.")
    return suffix


def _new_file_mode() -> int:
    """The mode ``open(path, "w")`` would create a file with: 0666 less the process umask."""
    mask = os.umask(0)
    os.umask(mask)
    return 0o666 & ~mask


def write_atomic(target: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then move the file onto ``target`` in one rename; returns ``target``.

    The temporary file sits beside the target (a rename is atomic only within one file system) and is
    removed if ``write`` fails or the process is interrupted.
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    try:
        write(tmp_name)
        os.chmod(tmp_name, mode)
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def write_text(text: str, target: str | os.PathLike) -> Path:
    """Write ``text`` (UTF-8) to ``target`` atomically; returns the path."""
    return write_atomic(target, lambda tmp: Path(tmp).write_text(text, encoding="utf-8"))


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by extension) atomically; returns the path."""
    target = Path(path)
    suffix = _suffix(target)

    def write(tmp: str) -> None:
        if suffix == ".csv":
            frame.to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        else:
            # Microseconds: Spark (and other readers) refuse Parquet timestamps in nanoseconds.
            frame.to_parquet(tmp, index=False, coerce_timestamps="us", allow_truncated_timestamps=True)

    return write_atomic(target, write)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet result frame written by :func:`write_frame` (or a user's leads file)."""
    source = Path(path)
    suffix = _suffix(source)
    if not source.exists():
        raise LeadscoreError(f"{source}: file not found.")
    try:
        if suffix == ".csv":
            return pd.read_csv(source, dtype={"lead_id": "str", "account_id": "str"})
        return pd.read_parquet(source)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"{source}: cannot read it ({exc}).") from exc
