"""One local MLflow store shared by processes that start together: its set-up and alias changes take turns.

Running ``leadscore train --target sqo`` and ``--target won`` side by side is natural, and on a fresh
SQLite store both would run MLflow's schema migrations at once: both crash, and a half-done migration
(an ``_alembic_tmp_*`` table) breaks every later command. Likewise two trains that both read "no
champion yet", then both set an alias, leave the last writer's alias and two printouts that cannot both
be true. :func:`store_lock` makes these steps take turns through an exclusive lock on a file beside the
database (``mlflow.db.lock``); other stores (a tracking server, a database server) serialise their own
writes, so the lock is a no-op there.

Light on purpose (no MLflow import at module level): the command line calls it for every command that
opens the store.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import unquote

log = logging.getLogger(__name__)

SQLITE_PREFIX = "sqlite:///"


def local_database(tracking_uri: str) -> Path | None:
    """The database file of a local SQLite store (``sqlite:///path``), else ``None``."""
    if not tracking_uri.startswith(SQLITE_PREFIX):
        return None
    return Path(unquote(tracking_uri[len(SQLITE_PREFIX):].split("?", 1)[0]))


@contextlib.contextmanager
def store_lock(tracking_uri: str) -> Iterator[None]:
    """Hold the store's exclusive lock (``<database>.lock``) while the block runs; waits for other holders.

    Only for a local SQLite store on a system with ``fcntl`` (Linux, macOS); elsewhere the block runs
    unlocked. The lock is released when the block ends or the process dies, whichever comes first.
    """
    database = local_database(tracking_uri)
    try:
        import fcntl
    except ImportError:  # Windows: no flock; MLflow's own retries are all there is
        fcntl = None
    if database is None or fcntl is None:
        yield
        return
    database.parent.mkdir(parents=True, exist_ok=True)
    with open(f"{database}.lock", "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def set_up_store(tracking_uri: str) -> None:
    """Create (or migrate) the store's tables now, one process at a time, so later calls find them ready."""
    from mlflow import MlflowClient

    with store_lock(tracking_uri):
        client = MlflowClient(tracking_uri=tracking_uri, registry_uri=tracking_uri)  # runs the migrations
        client.search_registered_models(max_results=1)  # the registry's store, on the same database
    log.debug("MLflow store ready: %s", tracking_uri)

