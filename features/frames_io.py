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
an hour. A file a live writer could still be writing is never removed. Temporary folders a command
works in (:func:`process_temporary_folder`) are named and swept the same way.

CSV follows RFC 4180: a cell holding a carriage return, a line feed, a double quote or the separator is
quoted (a lone carriage return included, which Python's and pandas' writers leave bare when records end
in a line feed), and a quoted cell may hold any of them when read back. Records end in a line feed, as
Unix tools expect. CSV has one empty cell for an empty text and a missing value; both read back missing.

An output is never one of the command's inputs (:func:`check_output` with ``inputs``): writing a
result over the export's table, the leads list or the model store would destroy what the command, or
the next one, reads.
"""

from __future__ import annotations

import contextlib
import itertools
import logging
import os
import re
import shutil
import socket
import stat
import tempfile
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from leadscore.features.contract import NULL_TOKENS
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
CSV_DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
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


@dataclass(frozen=True)
class Input:
    """Something a command reads, which its output must never replace.

    Attributes
    ----------
    path
        A file, or a folder.
    what
        What an output there would be, completing "<output> …" (``"is the --leads file this command reads"``).
    inside
        For a folder: which names directly inside it are read too, so an output there is refused
        (``None``: none, only the folder itself; an export folder reads the files named after tables).
        A folder whose every file is read (the model store's artifacts) says ``lambda name: True``.
    """

    path: Path
    what: str
    inside: Callable[[str], bool] | None = None


def _real(path: Path) -> Path:
    return Path(os.path.realpath(path))


def _same_file(a: Path, b: Path) -> bool:
    """Whether ``a`` and ``b`` name one file or folder (links, ``..`` and hard links seen through)."""
    try:
        return os.path.samefile(a, b)
    except OSError:
        return _real(a) == _real(b)


def input_replaced(target: str | os.PathLike, inputs: Iterable[Input]) -> Input | None:
    """The input that writing ``target`` would replace or write into, else None.

    ``target`` replaces an input it names (links, ``..`` and hard links seen through), and writes into
    a folder input when it lies under it at a name the folder's ``inside`` says is read: ``ex/leads.csv``
    and ``ex/events.parquet/part-0.parquet`` in an export folder, anything in the model store's folder.

    Examples
    --------
    >>> import tempfile
    >>> export = Path(tempfile.mkdtemp())
    >>> tables = Input(export, "is named after a table", inside=lambda name: name.startswith("leads."))
    >>> input_replaced(export / "x" / ".." / "leads.parquet", [tables]).what
    'is named after a table'
    >>> input_replaced(export / "scores.csv", [tables]) is None
    True
    """
    real = _real(Path(target))
    for entry in inputs:
        source = Path(entry.path)
        if _same_file(Path(target), source):
            return entry
        folder = _real(source)
        if (entry.inside is not None and real != folder and real.is_relative_to(folder)
                and entry.inside(real.relative_to(folder).parts[0])):
            return entry
    return None


def check_output(
    path: str | os.PathLike,
    suffixes: tuple[str, ...] | None = SUFFIXES,
    *,
    folder: bool = False,
    inputs: Iterable[Input] = (),
) -> Path:
    """Refuse, before any work, an output that could not be written or would replace an input; returns the path.

    Every command that writes calls this first, so a wrong suffix, a folder nobody may write in or an
    output that is one of the command's own inputs (the export's table, the leads list, the model
    store) costs the user one sentence, not the minutes of the work and then a traceback, or worse, the
    input itself.

    Parameters
    ----------
    path
        The output the user named.
    suffixes
        The suffixes a file output may have (``None``: any).
    folder
        The output is a folder (created if missing) rather than a file.
    inputs
        What the command reads (:class:`Input`); the output may be none of them and lie at no name
        a folder input reads.

    Raises
    ------
    LeadscoreError
        The suffix is not one of ``suffixes``; a file is named where a folder is expected or the other
        way round; a file stands where a folder of the path should be; the output is one of the
        inputs; or the folder that would hold the output cannot be written in.
    """
    target = Path(path)
    if not folder and suffixes is not None:
        _suffix(target, suffixes)
    replaced = input_replaced(target, inputs)
    if replaced is not None:
        raise LeadscoreError(f"{target} {replaced.what}; choose another output.")
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


# ``leadscore-<job>-<host>-<pid>.<random>``: a command's temporary folder (see :func:`process_temporary_folder`).
_FOLDER = re.compile(r"leadscore-(?P<job>[a-z_]+)-(?P<host>.+)-(?P<pid>[0-9]+)\.[A-Za-z0-9_]+")
# What older leadscore named its temporary folders: ``leadscore-train-<random>``, ``leadscore-model-<random>``.
_OLD_FOLDER = re.compile(r"leadscore-(train|model)-[A-Za-z0-9_]+")


def remove_stale_temporary_folders(root: str | os.PathLike | None = None,
                                   stale_after: float = STALE_AFTER_SECONDS) -> list[Path]:
    """Remove the temporary folders of leadscore commands that were killed; returns those removed.

    Stale as for files (:func:`remove_stale_temporaries`): made on this host by a process that is gone,
    or (another host's, or an older leadscore's) untouched for ``stale_after`` seconds.
    """
    base = Path(root or tempfile.gettempdir())
    host = socket.gethostname()
    removed = []
    try:
        entries = [p for p in base.iterdir() if p.name.startswith("leadscore-")]
    except OSError:
        return removed
    for entry in entries:
        owner = _FOLDER.fullmatch(entry.name)
        if owner is None and not _OLD_FOLDER.fullmatch(entry.name):
            continue
        try:
            if not entry.is_dir() or entry.is_symlink():
                continue
            idle = time.time() - entry.stat().st_mtime
        except OSError:
            continue
        gone = owner is not None and owner["host"] == host and _process_is_gone(int(owner["pid"]))
        if gone or idle > stale_after:
            shutil.rmtree(entry, ignore_errors=True)
            removed.append(entry)
            log.info("removed %s, a temporary folder a stopped command left behind", entry)
    return removed


@contextlib.contextmanager
def process_temporary_folder(job: str) -> Iterator[Path]:
    """A temporary folder for this process's work while the block runs; removed after it, whatever happens.

    It is made :mod:`tempfile`'s default for the block, so the temporary files and folders libraries
    make (MLflow's while logging a model) land in it too, and it names the host and process, so the next
    command removes it when this process was killed outright before it could
    (:func:`remove_stale_temporary_folders`, called first).
    """
    base = tempfile.gettempdir()
    remove_stale_temporary_folders(base)
    name = re.sub(r"[^a-z_]", "_", job.lower())
    folder = Path(tempfile.mkdtemp(prefix=f"leadscore-{name}-{socket.gethostname()}-{os.getpid()}.", dir=base))
    previous = tempfile.tempdir
    tempfile.tempdir = str(folder)
    try:
        yield folder
    finally:
        tempfile.tempdir = previous
        shutil.rmtree(folder, ignore_errors=True)


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


class _LineFeedRecords:
    """A text handle that ends each record a CRLF csv dialect writes in a line feed instead.

    Python's csv writer (pandas' too) quotes a cell holding any character of the record terminator, so
    only a CRLF dialect quotes a cell with a lone carriage return; this handle keeps that quoting and
    writes the line feed Unix tools expect. The writer hands over each record, terminator last, in one
    ``write``, so a CRLF inside a quoted cell is never the one replaced.
    """

    def __init__(self, handle: object) -> None:
        self.handle = handle

    def write(self, text: str) -> int:
        if text.endswith("\r\n"):
            text = text[:-2] + "\n"
        return self.handle.write(text)

    def __iter__(self) -> Iterator[str]:  # pandas takes an object with ``write`` and ``__iter__`` for a handle
        return iter(())


def write_csv(frame: pd.DataFrame, path: str | os.PathLike) -> None:
    """Write ``frame`` to ``path`` as RFC 4180 CSV (see the module docstring), as it is: no formula quoting.

    For files leadscore itself reads back as data (a generated export, a model's held-out rows);
    results people open go through :func:`write_frame`.
    """
    with open(path, "w", encoding="utf-8", newline="") as handle:
        try:
            frame.to_csv(_LineFeedRecords(handle), index=False, lineterminator="\r\n", date_format=CSV_DATE_FORMAT)
        except OSError as exc:  # a write to a handle names no file; the user needs to know which (a full disk)
            if exc.filename is None:
                exc.filename = str(path)
            raise


def write_frame(frame: pd.DataFrame, path: str | os.PathLike) -> Path:
    """Write ``frame`` to ``path`` (CSV or Parquet by extension) atomically; returns the path."""
    target = Path(path)
    suffix = _suffix(target)

    def write(tmp: str) -> None:
        if suffix == ".csv":
            write_csv(neutralise_formulas(frame), tmp)
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
        with contextlib.ExitStack() as stack:
            handle = stack.enter_context(open(tmp, "w", encoding="utf-8", newline="")) if suffix == ".csv" else None
            for frame in itertools.chain(frames, [empty]):
                if not header and frame is empty:
                    break
                if handle is not None:
                    # RFC 4180 as write_csv, record by record into one handle.
                    try:
                        neutralise_formulas(frame).to_csv(_LineFeedRecords(handle), index=False, header=header,
                                                          lineterminator="\r\n", date_format=CSV_DATE_FORMAT)
                    except OSError as exc:  # a write to a handle names no file (a full disk): name it
                        if exc.filename is None:
                            exc.filename = tmp
                        raise
                else:
                    table = pa.Table.from_pandas(frame, preserve_index=False)
                    if writer is None:
                        schema = table.schema
                        writer = stack.enter_context(pq.ParquetWriter(tmp, schema, **PARQUET_TIMESTAMPS))
                    writer.write_table(table.cast(schema))
                header = False

    return write_atomic(target, write)


ID_COLUMNS = ("lead_id", "account_id")
# What reads as missing in a CSV column that is not text: the empty cell and the words exports write.
MISSING_WORDS = ["", *sorted({form for word in NULL_TOKENS for form in (word, word.upper(), word.title())})]


def read_frame(path: str | os.PathLike, text: Iterable[str] = ID_COLUMNS) -> pd.DataFrame:
    """Read a CSV or Parquet result frame written by :func:`write_frame` (or a user's leads file).

    A CSV's text cells lose one leading single quote, the one :func:`write_frame` put before a value a
    spreadsheet would take for a formula. The ``text`` columns stay text (an id ``007`` keeps its zeros)
    and only an empty cell is missing there (``NA``, Namibia's code, ``null`` and ``None`` are text). In
    the other columns those words are missing too (an ``as_of`` of ``NULL`` is none), and a column is read
    as numbers where every cell is one.
    """
    source = Path(path)
    suffix = _suffix(source)
    if not source.exists():
        raise LeadscoreError(f"{source}: file not found.")
    try:
        if suffix == ".csv":
            text = set(text)
            header = pd.read_csv(source, nrows=0).columns
            missing = {name: [""] if name in text else MISSING_WORDS for name in header}
            frame = pd.read_csv(source, dtype={name: "str" for name in header if name in text},
                                keep_default_na=False, na_values=missing)
            return restore_formulas(frame)
        return pd.read_parquet(source)
    except (ValueError, OSError, UnicodeDecodeError) as exc:
        raise LeadscoreError(f"{source}: cannot read it ({exc}).") from exc
