"""Reading and writing result files: frames (features, rules, scores) as CSV or Parquet, and text pages.

Writes are atomic: the content goes to a temporary file in the target folder, then replaces the target
in one rename, so a crash never leaves a half-written output for a CRM import to pick up. The file
gets the permissions a plain ``open(..., "w")`` would give it (the user's umask), and overwriting a
file keeps that file's mode, so hand-off to a shared folder keeps working.

CSV outputs are opened in spreadsheets, which run a cell starting with ``=``, ``+``, ``-`` or ``@`` (or a
tab or carriage return) as a formula: a lead named ``=HYPERLINK(...)`` in a CRM export must not become
one (CSV injection). Such text cells are written with a leading single quote, as OWASP advises; so
are cells that already start with one, which makes the quoting exactly reversible: :func:`read_frame`
removes it again. Parquet keeps the true values.

A process killed outright (``kill -9``, a power cut) cannot remove its temporary file. The next write
of the same target removes the stale ones it finds (:func:`remove_stale_temporaries`): a temporary file
names the host and process that writes it, and counts as stale when that process is gone on this host,
or, written from another host (a shared folder) or by an older leadscore, when nobody has touched it for
an hour. A file a live writer could still be writing is never removed.
"""

from __future__ import annotations

import itertools
import logging
import os
import re
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import pandas as pd

from leadscore.features.errors import LeadscoreError

log = logging.getLogger(__name__)

SUFFIXES = (".csv", ".parquet")
PAGE_SUFFIXES = (".html", ".htm")
# A text cell starting with one of these is written to CSV behind a single quote (see the module docstring).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
QUOTE = "'"
# Parquet timestamps in microseconds, as Spark, DuckDB, pandas and warehouses all read them (Spark refuses
# nanoseconds); time zones stay UTC. Sub-microsecond parts are dropped, never an error.
PARQUET_TIMESTAMPS = {"coerce_timestamps": "us", "allow_truncated_timestamps": True}
# A temporary file nobody has written for this long is stale whoever made it (see the module docstring).
STALE_AFTER_SECONDS = 3600
# ``.<target name>.<host>-<pid>.<random>.tmp``; older leadscore wrote ``.<target name>.<random>.tmp``.
_WRITER = re.compile(r"(?P<host>.+)-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+")


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


def _temporary_prefix(path: Path) -> str:
    return f".{path.name}."


def _process_is_gone(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # alive, another user's
        return False
    return False


def remove_stale_temporaries(target: str | os.PathLike, stale_after: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temporary files a killed writer of ``target`` left beside it; returns those removed.

    Stale: written on this host by a process that is gone, or untouched for ``stale_after`` seconds
    (the only safe sign for a file from another host, whose process numbers mean nothing here).
    """
    path = Path(target)
    prefix = _temporary_prefix(path)
    host = socket.gethostname()
    removed = []
    try:
        entries = [p for p in path.parent.iterdir() if p.name.startswith(prefix) and p.name.endswith(".tmp")]
    except OSError:
        return removed
    for entry in entries:
        writer = _WRITER.fullmatch(entry.name[len(prefix):-len(".tmp")])
        try:
            idle = time.time() - entry.stat().st_mtime
        except FileNotFoundError:
            continue
        gone = writer is not None and writer["host"] == host and _process_is_gone(int(writer["pid"]))
        if gone or idle > stale_after:
            entry.unlink(missing_ok=True)
            removed.append(entry)
            log.info("removed %s, a temporary file a stopped writer left behind", entry)
    return removed


def write_atomic(target: str | os.PathLike, write: Callable[[str], None]) -> Path:
    """Call ``write(temporary_path)``, then move the file onto ``target`` in one rename; returns ``target``.

    The temporary file sits beside the target (a rename is atomic only within one file system) and is
    removed if ``write`` fails or the process is interrupted; ones that earlier writers killed outright
    left behind are removed first (:func:`remove_stale_temporaries`).
    """
    path = Path(target)
    path.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(path)
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except FileNotFoundError:
        mode = _new_file_mode()
    writer = f"{socket.gethostname()}-{os.getpid()}."
    fd, tmp_name = tempfile.mkstemp(prefix=_temporary_prefix(path) + writer, suffix=".tmp", dir=path.parent)
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


def _is_text(column: pd.Series) -> bool:
    return (isinstance(column.dtype, pd.CategoricalDtype) or pd.api.types.is_string_dtype(column.dtype)
            or column.dtype == object)


def _quote_where(column: pd.Series, starts: tuple[str, ...]) -> pd.Series:
    """``column`` with a quote put before each text value starting with one of ``starts``."""
    if isinstance(column.dtype, pd.CategoricalDtype):
        return column.cat.rename_categories(
            [QUOTE + c if isinstance(c, str) and c.startswith(starts) else c for c in column.cat.categories])
    if column.dtype == object:
        hit = column.map(lambda v: isinstance(v, str) and v.startswith(starts), na_action="ignore")
        hit = hit.fillna(False).astype(bool)
    else:
        hit = column.str.startswith(starts).fillna(False).astype(bool)
    if not hit.any():
        return column
    out = column.copy()
    out[hit] = QUOTE + column[hit].astype("str")
    return out


def neutralise_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """``frame`` with every text cell a spreadsheet would run as a formula behind a single quote.

    Cells already starting with a quote get one more, so :func:`restore_formulas` gives back the values.

    Examples
    --------
    >>> frame = pd.DataFrame({"lead_id": ["=1+1", "L2", "'a"], "n": [-1, 2, 3]})
    >>> neutralise_formulas(frame)["lead_id"].tolist()
    ["'=1+1", 'L2', "''a"]
    >>> restore_formulas(neutralise_formulas(frame)).equals(frame)
    True
    """
    columns = {name: _quote_where(frame[name], (*FORMULA_STARTS, QUOTE)) for name in frame.columns
               if _is_text(frame[name])}
    return frame.assign(**columns) if columns else frame


def restore_formulas(frame: pd.DataFrame) -> pd.DataFrame:
    """The inverse of :func:`neutralise_formulas`: one leading quote removed from every text cell with one."""
    columns = {}
    for name in frame.columns:
        column = frame[name]
        if not _is_text(column) or isinstance(column.dtype, pd.CategoricalDtype):
            continue
        if column.dtype == object:
            columns[name] = column.map(lambda v: v[1:] if isinstance(v, str) and v.startswith(QUOTE) else v,
                                       na_action="ignore")
        else:
            columns[name] = column.str.removeprefix(QUOTE)
    return frame.assign(**columns) if columns else frame


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by extension) atomically; returns the path."""
    target = Path(path)
    suffix = _suffix(target)

    def write(tmp: str) -> None:
        if suffix == ".csv":
            neutralise_formulas(frame).to_csv(tmp, index=False, date_format="%Y-%m-%dT%H:%M:%S%z")
        else:
            # Microseconds: Spark (and other readers) refuse Parquet timestamps in nanoseconds.
            frame.to_parquet(tmp, index=False, **PARQUET_TIMESTAMPS)

    return write_atomic(target, write)


def write_frames(frames: Iterable[pd.DataFrame], path: str | os.PathLike, empty: pd.DataFrame) -> Path:
    """Write frames of the same columns one after another as one file (CSV or Parquet), atomically.

    Each frame is written as it arrives (a Parquet row group, or CSV lines), so a caller producing rows in
    chunks never holds them all; ``empty`` (the columns, no rows) is written when there are none. The file
    appears whole at the end, or not at all.
    """
    import pyarrow as pa
    import pyarrow.parquet as pq

    target = Path(path)
    suffix = _suffix(target)

    def write(tmp: str) -> None:
        writer = None
        schema = None
        header = True
        try:
            for frame in itertools.chain(frames, [empty]):
                if not header and frame is empty:
                    break
                if suffix == ".csv":
                    neutralise_formulas(frame).to_csv(tmp, index=False, header=header, mode="w" if header else "a",
                                                      date_format="%Y-%m-%dT%H:%M:%S%z")
                else:
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        schema = table.schema
                        writer = pq.ParquetWriter(tmp, schema, **PARQUET_TIMESTAMPS)
                    writer.write_table(table.cast(schema))
                header = False
        finally:
            if writer is not None:
                writer.close()

    return write_atomic(target, write)


def read_frame(path: str | os.PathLike) -> pd.DataFrame:
    """Read a CSV or Parquet result frame written by :func:`write_frame` (or a user's leads file).

    A CSV's text cells lose one leading single quote, the one :func:`write_frame` put before a value a
    spreadsheet would take for a formula.
    """
    source = Path(path)
    suffix = _suffix(source)
    if not source.exists():
        raise LeadscoreError(f"{source}: file not found.")
    try:
        if suffix == ".csv":
            return restore_formulas(pd.read_csv(source, dtype={"lead_id": "str", "account_id": "str"}))
        return pd.read_parquet(source)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"{source}: cannot read it ({exc}).") from exc
