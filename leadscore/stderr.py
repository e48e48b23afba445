"""What the command line writes on stderr: one plain line per step or problem, for the person running it.

The rule every module follows (library code logs through ``logging.getLogger(__name__)`` as usual):

- ``log.info(...)`` is a line for the person running the command: a step, a count, where something went.
  It is a plain sentence in the export's own words (its column names, never ``own_*``), with no Python
  reprs (no dicts, lists, ``None``). Long tasks report their steps through
  :class:`leadscore.features.progress.Progress`, which logs at INFO too.
- ``log.warning(...)`` is a problem the person should act on; the sentence says what to do.
- ``log.debug(...)`` is developer detail (timings, internal names, dictionaries): only ``--verbose`` shows it.

Without ``--verbose`` leadscore's INFO and above print as ``leadscore: <message>`` (no level, no logger
name, no traceback), other libraries print only their errors (MLflow's and SQLAlchemy's not even those:
the command says in one sentence what failed), and Python warnings are not shown (they
are developer detail). With ``--verbose`` everything prints as a developer log: time, level, logger name,
message, tracebacks. Results go to stdout, never through here. A library caller (a notebook) sees
nothing unless it configures logging itself: nothing here runs at import.
"""

from __future__ import annotations

import logging
import os
import sys
from collections.abc import Callable
from typing import TextIO

PREFIX = "leadscore: "
DEVELOPER_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class PlainFormatter(logging.Formatter):
    """``leadscore: <message>``: one line for people, without level, logger name or traceback.

    Another library's record (only its errors pass) keeps its top-level name, so the reader knows who spoke.
    """

    def format(self, record: logging.LogRecord) -> str:
        message = " ".join(record.getMessage().split())  # one line, whatever the message held
        if not _is_ours(record):
            message = f"{record.name.split('.')[0]}: {message}"
        return PREFIX + message


def _is_ours(record: logging.LogRecord) -> bool:
    return record.name == "leadscore" or record.name.startswith("leadscore.")


# Libraries whose errors end in an exception the command states itself, in one sentence (the store cannot be
# reached, the disk is full): their own error lines (SQL, tracebacks as text) would bury it. --verbose shows them.
HELD_BACK = ("mlflow", "sqlalchemy", "alembic")


class _ForPeople(logging.Filter):
    """leadscore's lines from INFO up; another library's only from ERROR up, and none of :data:`HELD_BACK`'s."""

    def filter(self, record: logging.LogRecord) -> bool:
        if record.name.split(".")[0] in HELD_BACK:
            return False
        return record.levelno >= (logging.INFO if _is_ours(record) else logging.ERROR)


class _AboveTheBar(logging.StreamHandler):
    """Writes each line above a progress bar being drawn on the same terminal, not into it."""

    def emit(self, record: logging.LogRecord) -> None:
        from leadscore.features.progress import active_bar

        bar = active_bar()
        if bar is None or bar.stream is not self.stream:
            super().emit(record)
            return
        bar.clear()
        super().emit(record)
        bar.redraw()


def setup_stderr(verbose: bool = False, stream: TextIO | None = None) -> Callable[[], None]:
    """Send log records to ``stream`` (default stderr) as plain lines, or as a developer log if ``verbose``.

    Called by the command line for the duration of a command (and by each ``serve --workers`` process);
    returns what puts logging back as it was, so a caller that runs commands in its own process (a test,
    a notebook) keeps its own set-up. MLflow is told not to install its own handler, so its records come
    here too: hidden unless they are errors or ``--verbose``.
    """
    from leadscore.features.remote import RedactingFilter

    os.environ.setdefault("MLFLOW_CONFIGURE_LOGGING", "false")
    handler = _AboveTheBar(stream if stream is not None else sys.stderr)
    handler.addFilter(RedactingFilter())  # a store's password never printed, in a message or a traceback
    root, ours, warned = logging.getLogger(), logging.getLogger("leadscore"), logging.getLogger("py.warnings")
    levels = [(logger, logger.level) for logger in (root, ours, warned)]
    if verbose:
        handler.setFormatter(logging.Formatter(DEVELOPER_FORMAT))
        root.setLevel(logging.INFO)
        logging.getLogger("leadscore").setLevel(logging.DEBUG)
    else:
        handler.setFormatter(PlainFormatter())
        handler.addFilter(_ForPeople())
        root.setLevel(logging.ERROR)
        logging.getLogger("leadscore").setLevel(logging.INFO)
    root.addHandler(handler)
    logging.captureWarnings(True)
    warned.setLevel(logging.WARNING if verbose else logging.CRITICAL)

    def restore() -> None:
        root.removeHandler(handler)
        for logger, level in levels:
            logger.setLevel(level)
        logging.captureWarnings(False)

    return restore
