"""The score store: where every ``leadscore score`` run is kept, a DuckDB file or a PostgreSQL database.

``open_store(target)`` opens (and on first use creates) the tables of
:mod:`leadscore.serving.history.schema`. A run is written in one transaction: the run's row and all its
leads' rows are committed together, so a failed or killed run leaves nothing behind. A run whose
``run_key`` is already stored is not written again (idempotence); the unique key on ``run_key`` keeps
that true when two runs race.

Where the store is: ``--store`` (a file path, or ``postgresql://…``), else ``LEADSCORE_STORE``, else
``leadscore-scores.duckdb`` in the working directory, beside the MLflow store.
"""

from __future__ import annotations

import logging
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa

from leadscore.features.errors import LeadscoreError
from leadscore.features.remote import redact
from leadscore.serving.history.schema import DUCKDB, POSTGRES, RUN_NAMES, SCORE_NAMES, Dialect

logger = logging.getLogger(__name__)

DEFAULT_STORE = "leadscore-scores.duckdb"
STORE_ENV = "LEADSCORE_STORE"
POSTGRES_SCHEMES = ("postgresql://", "postgres://")
# A DuckDB file takes one writing process at a time: another score run waits this long for it.
LOCK_WAIT_SECONDS = 120.0


def store_target(given: str | None) -> str:
    """The store a command uses: ``--store``, else ``LEADSCORE_STORE``, else the default file here."""
    return given or os.environ.get(STORE_ENV) or DEFAULT_STORE


def is_postgres(target: str) -> bool:
    return target.startswith(POSTGRES_SCHEMES)


def describe_target(target: str) -> str:
    """The store as a message may name it: a PostgreSQL URI without its password."""
    return redact(target) if is_postgres(target) else str(target)


def check_store_target(target: str, others: Sequence[str | os.PathLike | None] = ()) -> None:
    """Refuse, before any work, a store file that is one of the command's other files or cannot be made."""
    if is_postgres(target):
        return
    path = Path(target)
    for other in others:
        if other is not None and Path(other).resolve() == path.resolve():
            raise LeadscoreError(f"--store {target} is also the command's {other}: give the store its own file.")
    if path.is_dir():
        raise LeadscoreError(f"--store {target} is a folder; give a file name such as {DEFAULT_STORE}.")
    if not path.parent.resolve().is_dir():
        raise LeadscoreError(f"--store {target}: the folder {path.parent} does not exist.")


class ScoreStore:
    """An open store: SQL in both dialects through one small interface (``?`` placeholders)."""

    dialect: Dialect
    target: str

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        raise NotImplementedError

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        raise NotImplementedError

    @contextmanager
    def transaction(self) -> Iterator[None]:
        raise NotImplementedError
        yield

    def insert_rows(self, table: str, rows: pa.Table) -> None:
        raise NotImplementedError

    @contextmanager
    def staged_ids(self, lead_ids: Sequence[str]) -> Iterator[str]:
        """A temporary table ``name(lead_id)`` holding ``lead_ids``, to join queries against."""
        raise NotImplementedError
        yield

    def close(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> ScoreStore:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- what the commands ask -------------------------------------------------------------------

    def create_tables(self) -> None:
        with self.transaction():
            for statement in self.dialect.create_statements():
                self.execute(statement)

    def run_id_for(self, run_key: str) -> str | None:
        found = self.query("SELECT run_id FROM scoring_runs WHERE run_key = ?", [run_key])
        return None if found.empty else str(found["run_id"].iloc[0])

    def write_run(self, run: dict[str, Any], rows: pa.Table) -> bool:
        """Store one run and its leads' rows in one transaction; False when the run was already stored."""
        with self.transaction():
            if self.run_id_for(run["run_key"]) is not None:
                return False
            names = ", ".join(RUN_NAMES)
            marks = ", ".join("?" for _ in RUN_NAMES)
            self.execute(f"INSERT INTO scoring_runs ({names}) VALUES ({marks})", [run[c] for c in RUN_NAMES])
            self.insert_rows("lead_scores", rows.select(list(SCORE_NAMES)))
        return True

    def runs(self) -> pd.DataFrame:
        """Every stored run, oldest first."""
        return self.query("SELECT * FROM scoring_runs ORDER BY as_of, started_at, run_id")

    def resolve_run(self, given: str) -> str:
        """The run a user named by its id or a unique prefix of it."""
        text = given.strip().lower()
        runs = self.query("SELECT run_id FROM scoring_runs")["run_id"].astype(str)
        found = runs[runs.str.startswith(text)] if text else runs.iloc[:0]
        if len(found) == 1:
            return str(found.iloc[0])
        if found.empty:
            raise LeadscoreError(f"no run {given!r} in the store {describe_target(self.target)}; "
                                 "`leadscore history LEAD_ID` lists a lead's runs.")
        raise LeadscoreError(f"run {given!r} is ambiguous ({len(found)} runs start with it): give more of its id.")


class DuckDBStore(ScoreStore):
    """The default store: one DuckDB file, one writing process at a time (others wait for it)."""

    dialect = DUCKDB

    def __init__(self, target: str, read_only: bool = False) -> None:
        import duckdb

        self.target = target
        deadline = time.monotonic() + LOCK_WAIT_SECONDS
        while True:
            try:
                self.con = duckdb.connect(target, read_only=read_only)
                break
            except duckdb.IOException as exc:
                if "lock" not in str(exc).lower() or time.monotonic() > deadline:
                    raise LeadscoreError(f"the score store {target} cannot be opened: {exc}") from None
                logger.warning("the score store %s is in use by another run; waiting for it", target)
                time.sleep(1.0)
        self.con.execute("SET TimeZone = 'UTC'")

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table().to_pandas()

    def query_arrow(self, sql: str, params: Sequence[Any] = ()) -> pa.Table:
        return self.con.sql(sql, params=list(params) or None).to_arrow_table()

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        self.con.execute(sql, list(params))

    @contextmanager
    def transaction(self) -> Iterator[None]:
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    def insert_rows(self, table: str, rows: pa.Table) -> None:
        self.con.register("incoming_rows", rows)
        try:
            self.con.execute(f"INSERT INTO {table} ({', '.join(rows.column_names)}) "
                             f"SELECT {', '.join(rows.column_names)} FROM incoming_rows")
        finally:
            self.con.unregister("incoming_rows")

    @contextmanager
    def staged_ids(self, lead_ids: Sequence[str]) -> Iterator[str]:
        self.con.register("staged_lead_ids", pa.table({"lead_id": pa.array(list(lead_ids), pa.string())}))
        try:
            yield "staged_lead_ids"
        finally:
            self.con.unregister("staged_lead_ids")

    def close(self) -> None:
        self.con.close()


class PostgresStore(ScoreStore):
    """A PostgreSQL database through psycopg 3; rows go in with COPY (DuckDB formats them as CSV)."""

    dialect = POSTGRES

    def __init__(self, target: str) -> None:
        try:
            import psycopg
        except ImportError:
            raise LeadscoreError(
                "a PostgreSQL store needs psycopg: pip install 'leadscore[postgres]' (it brings its own libpq)."
            ) from None
        self.target = target
        try:
            self.con = psycopg.connect(target, autocommit=True)
        except psycopg.OperationalError as exc:
            reason = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            raise LeadscoreError(f"the score store {describe_target(target)} cannot be reached: {reason}") from None
        self.con.execute("SET TIME ZONE 'UTC'")

    @staticmethod
    def _sql(sql: str) -> str:
        return sql.replace("?", "%s")

    def query(self, sql: str, params: Sequence[Any] = ()) -> pd.DataFrame:
        with self.con.cursor() as cursor:
            cursor.execute(self._sql(sql), list(params))
            names = [d.name for d in cursor.description]
            return pd.DataFrame(cursor.fetchall(), columns=names)

    def execute(self, sql: str, params: Sequence[Any] = ()) -> None:
        with self.con.cursor() as cursor:
            cursor.execute(self._sql(sql), list(params) or None)

    @contextmanager
    def transaction(self) -> Iterator[None]:
        with self.con.transaction():
            yield

    def insert_rows(self, table: str, rows: pa.Table) -> None:
        import duckdb

        columns = rows.column_names
        lists = {name for name in columns if pa.types.is_list(rows.schema.field(name).type)}
        # PostgreSQL reads arrays as {1.5,2}; DuckDB writes each float as its shortest exact text.
        select = ", ".join(
            f"CASE WHEN {c} IS NULL THEN NULL ELSE '{{' || array_to_string({c}, ',') || '}}' END AS {c}"
            if c in lists else c for c in columns
        )
        with tempfile.TemporaryDirectory(prefix="leadscore-copy-") as folder:
            path = Path(folder) / "rows.csv"
            con = duckdb.connect()
            try:
                con.execute("SET TimeZone = 'UTC'")
                con.register("incoming_rows", rows)
                con.execute(f"COPY (SELECT {select} FROM incoming_rows) TO '{path}' (FORMAT csv, HEADER false)")
            finally:
                con.close()
            with self.con.cursor() as cursor, cursor.copy(
                f"COPY {table} ({', '.join(columns)}) FROM STDIN (FORMAT csv)"
            ) as copy, path.open("rb") as handle:
                while block := handle.read(1 << 20):
                    copy.write(block)

    @contextmanager
    def staged_ids(self, lead_ids: Sequence[str]) -> Iterator[str]:
        with self.con.transaction():
            self.execute("CREATE TEMPORARY TABLE staged_lead_ids (lead_id TEXT) ON COMMIT DROP")
            with self.con.cursor() as cursor, cursor.copy("COPY staged_lead_ids (lead_id) FROM STDIN") as copy:
                for lead_id in lead_ids:
                    copy.write_row((lead_id,))
            yield "staged_lead_ids"

    def close(self) -> None:
        self.con.close()


def open_store(target: str, read_only: bool = False) -> ScoreStore:
    """Open the store at ``target`` (a DuckDB file path or a PostgreSQL URI), creating its tables if new.

    ``read_only`` (DuckDB) opens an existing file for reading only, and refuses a missing one.
    """
    if is_postgres(target):
        store: ScoreStore = PostgresStore(target)
    else:
        if read_only and not Path(target).is_file():
            raise LeadscoreError(f"no score store at {target}: `leadscore score` writes one (--store, "
                                 f"{STORE_ENV}, default ./{DEFAULT_STORE}).")
        store = DuckDBStore(target, read_only=read_only)
        if read_only:
            return store
    try:
        store.create_tables()
    except BaseException:
        store.close()
        raise
    return store
