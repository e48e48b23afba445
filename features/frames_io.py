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
PAGE_SUFFIXES = (".html", ".htm")


def _suffix(path: Path, suffixes: tuple[str, ...] = SUFFIXES) -> str:
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        listed = " or ".join(suffixes)
        raise LeadscoreError(f"{path}: the file name must end in {listed}, not {suffix or 'nothing'!r}.")
    return suffix


def check_output(
    path: str | os.PathLike, suffixes: tuple[str, ...] | None = SUFFIXES, *, folder: bool = False
) -> Path:
    """Refuse, before any work, an output that could not be written; returns the path.

    Every command that writes calls this first, so a wrong suffix or a folder nobody may write in costs
    the user one sentence, not the minutes of the work and then a traceback.

    Parameters
    ----------
    path
        The output the user named.
    suffixes
        The suffixes a file output may have (``None``: any).
    folder
        The output is a folder (created if missing) rather than a file.

    Raises
    ------
    LeadscoreError
        The suffix is not one of ``suffixes``; a file is named where a folder is expected or the other
        way round; a file stands where a folder of the path should be; or the folder that would hold
        the output cannot be written in.
    """
    target = Path(path)
    if not folder and suffixes is not None:
        _suffix(target, suffixes)
    if folder and target.exists() and not target.is_dir():
        raise LeadscoreError(f"{target} is a file, not a folder; give a folder to write into.")
    if not folder and target.is_dir():
        raise LeadscoreError(f"{target} is a folder; give a file name to write to.")
    # The nearest part of the path that exists is where the output (or its new folders) gets created.
    existing = target if folder else target.parent
    while not existing.exists() and existing != existing.parent:
        existing = existing.parent
    if not existing.is_dir():
        raise LeadscoreError(f"{target}: {existing} is a file, so nothing can be written under it; choose another path.")
    try:
        # A real write is the only test that holds for every cause (permissions, ACLs, read-only
        # mounts, root), so try one.
        with tempfile.TemporaryFile(dir=existing):
            pass
    except OSError as exc:
        raise LeadscoreError(
            f"{target}: cannot write in {existing} ({exc.strerror or exc}); choose a folder you can write to."
        ) from exc
    return target


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
            frame.to_parquet(tmp, index=False)

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
