"""Reading and writing one result frame (features, rules, scores) as CSV or Parquet by file extension.

Writes are atomic: the frame goes to a temporary file in the target folder, then replaces the target
in one rename, so a crash never leaves a half-written output for a CRM import to pick up.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pandas as pd

from leadscore.features.errors import LeadscoreError

SUFFIXES = (".csv", ".parquet")


def _suffix(path: Path) -> str:
    suffix = path.suffix.lower()
    if suffix not in SUFFIXES:
        raise LeadscoreError(f"{path}: output must end in .csv or .parquet, not {suffix or 'nothing'!r}.")
    return suffix


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by extension) atomically; returns the path."""
    target = Path(path)
    suffix = _suffix(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    os.close(fd)
    try:
        if suffix == ".csv":
            frame.to_csv(tmp_name, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        else:
            frame.to_parquet(tmp_name, index=False)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


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
