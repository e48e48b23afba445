"""The store's two databases: PostgreSQL holds the same rows as DuckDB for the same runs, a run is
written whole or not at all (a writer killed mid-write leaves nothing), and a run is stored once."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from leadscore.serving.history.store import open_store

TIMES = ("started_at", "written_at")


def _table(target: str, table: str, order: str) -> pd.DataFrame:
    with open_store(target) as store:
        frame = store.query(f"SELECT * FROM {table} ORDER BY {order}")
    for column in frame.columns:
        if frame[column].dtype == object and frame[column].map(lambda v: isinstance(v, (list, np.ndarray))).any():
            frame[column] = frame[column].map(lambda v: None if v is None else [None if np.isnan(x) else float(np.float32(x)) for x in v])  # PostgreSQL reads a real back as its shortest decimal
    return frame


@pytest.mark.postgres
def test_postgres_holds_the_same_rows_as_duckdb(store_world, postgres_uri, tmp_path, monkeypatch):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_world.tracking_uri)
    w = store_world
    duck = str(tmp_path / "scores.duckdb")
    for target in (duck, postgres_uri):
        assert w.score(w.first, target, tmp_path / "first.csv", data_end=w.t1) == 0
        assert w.score(w.second, target, tmp_path / "second.csv") == 0
        assert w.score(w.second, target, tmp_path / "again.csv") == 0  # stored once
    runs = [_table(t, "scoring_runs", "run_id").drop(columns=list(TIMES)) for t in (duck, postgres_uri)]
    pd.testing.assert_frame_equal(runs[0], runs[1], check_dtype=False)
    assert len(runs[0]) == 2
    rows = [_table(t, "lead_scores", "run_id, lead_id") for t in (duck, postgres_uri)]
    assert len(rows[0]) == len(rows[1]) > 7000
    for column in rows[0].columns:
        left, right = rows[0][column], rows[1][column]
        if pd.api.types.is_float_dtype(left):
            assert np.array_equal(left.to_numpy(), right.to_numpy(dtype=float), equal_nan=True), column
        else:
            a, b = left.map(_plain).tolist(), right.map(_plain).tolist()
            if a != b:
                i = next(k for k in range(len(a)) if a[k] != b[k])
                if isinstance(a[i], list):
                    j = next(k for k in range(len(a[i])) if a[i][k] != b[i][k])
                    raise AssertionError(f"{column} row {i} item {j}: {a[i][j]!r} != {b[i][j]!r}")
                raise AssertionError(f"{column} row {i}: {a[i]!r} != {b[i]!r}")
    current = [_table(t, "lead_scores_current", "lead_id").drop(columns=["scored_at"]) for t in (duck, postgres_uri)]
    pd.testing.assert_frame_equal(current[0], current[1], check_dtype=False)


def _plain(value: object) -> object:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NaT or value is pd.NA:
        return None
    if isinstance(value, pd.Timestamp | np.datetime64) or hasattr(value, "tzinfo"):
        return pd.Timestamp(value).tz_convert("UTC") if pd.Timestamp(value).tzinfo else pd.Timestamp(value, tz="UTC")
    if isinstance(value, np.integer):
        return int(value)
    return value


WRITER = textwrap.dedent("""
    import sys
    import numpy as np
    import pyarrow as pa
    from leadscore.serving.history.schema import SCORE_COLUMNS
    from leadscore.serving.history.store import open_store
    from leadscore.serving.history.vectors import list_column

    n = int(sys.argv[2])
    rng = np.random.default_rng(3)
    columns = {}
    for name, duck_type, _, _ in SCORE_COLUMNS:
        if duck_type == "DOUBLE":
            columns[name] = pa.array(rng.random(n))
        elif duck_type == "INTEGER":
            columns[name] = pa.array(rng.integers(0, 100, n))
        elif duck_type == "TIMESTAMPTZ":
            columns[name] = pa.array(np.full(n, 1_750_000_000_000_000, dtype="int64"), pa.timestamp("us", tz="UTC"))
        elif duck_type == "FLOAT[]":
            columns[name] = list_column(rng.random((n, 40), dtype=np.float32), np.ones(n, bool))
        else:
            columns[name] = pa.array([f"L{i}" for i in range(n)]) if name == "lead_id" else pa.array(["x"] * n)
    columns["run_id"] = pa.array(["killedrun000"] * n)
    run = {"run_id": "killedrun000", "run_key": "k" * 64, "n_leads": n, "n_ok": n}
    with open_store(sys.argv[1]) as store:
        from leadscore.serving.history.schema import RUN_NAMES
        run = {name: run.get(name) for name in RUN_NAMES}
        print("writing", flush=True)
        store.write_run(run, pa.table(columns))
    print("committed", flush=True)
""")


def _kill_during_write(target: str, n: int) -> None:
    process = subprocess.Popen([sys.executable, "-c", WRITER, target, str(n)], stdout=subprocess.PIPE, text=True,
                               env={**os.environ, "PYTHONUNBUFFERED": "1"})
    assert process.stdout.readline().strip() == "writing"
    try:
        process.wait(timeout=0.5)
    except subprocess.TimeoutExpired:
        process.send_signal(signal.SIGKILL)
    process.wait(timeout=60)
    rest = process.stdout.read()
    assert process.returncode == -signal.SIGKILL and "committed" not in rest, "the write ended before the kill"


@pytest.mark.parametrize("backend", ["duckdb", pytest.param("postgresql", marks=pytest.mark.postgres)])
def test_a_writer_killed_during_the_write_leaves_no_partial_run(backend, tmp_path, request):
    target = str(tmp_path / "scores.duckdb") if backend == "duckdb" else request.getfixturevalue("postgres_uri")
    _kill_during_write(target, 1_500_000)
    with open_store(target) as store:
        assert store.query("SELECT count(*) AS n FROM scoring_runs")["n"].iloc[0] == 0
        assert store.query("SELECT count(*) AS n FROM lead_scores")["n"].iloc[0] == 0
