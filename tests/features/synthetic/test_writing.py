"""Demo export writing: CSV, Parquet and DuckDB layouts, the truth beside the tables, byte-identical reruns."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.contract import TABLE_NAMES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.synthetic.demo import (
    DUCKDB_FILE,
    TRUTH_FILE,
    TRUTH_FOLDER,
    generate_demo,
    write_export,
)

N_LEADS = 800


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_demo(N_LEADS, seed=5)


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_folder_export_has_one_file_per_table_and_the_truth_in_an_underscore_folder(demo, tmp_path: Path, fmt: str) -> None:
    frames, truth = demo
    written = write_export(frames, truth, tmp_path / "out", fmt)
    out = tmp_path / "out"
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(f"{name}.{fmt}" for name in TABLE_NAMES)
    assert written[TRUTH_FOLDER] == out / TRUTH_FOLDER / TRUTH_FILE
    stored_truth = pd.read_parquet(written[TRUTH_FOLDER])
    assert list(stored_truth.columns[:4]) == ["lead_id", "as_of", "p_sqo_true", "p_won_true"]
    assert len(stored_truth) == N_LEADS
    meta = json.loads((out / TRUTH_FOLDER / "generator.json").read_text())
    assert meta["seed"] == 5 and meta["n_leads"] == N_LEADS
    for name in TABLE_NAMES:
        stored = pd.read_csv(written[name], dtype=str) if fmt == "csv" else pd.read_parquet(written[name])
        assert tuple(stored.columns) == TABLES[name].column_names
        assert len(stored) == len(frames[name])
        assert not {"p_sqo_true", "p_won_true"} & set(stored.columns)


def test_csv_keeps_whole_second_utc_timestamps_and_integer_looking_counts(demo, tmp_path: Path) -> None:
    frames, truth = demo
    written = write_export(frames, truth, tmp_path, "csv")
    events = pd.read_csv(written["events"], dtype=str)
    assert events["occurred_at"].str.fullmatch(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z").all()
    parsed = pd.to_datetime(events["occurred_at"], utc=True)
    assert (parsed == frames["events"]["occurred_at"].reset_index(drop=True)).all()
    assert events["email_step"].dropna().str.fullmatch(r"[1-5]").all()
    leads = pd.read_csv(written["leads"], dtype=str)
    assert leads["email_consent"].isin(["true", "false"]).all()
    assert (leads["lead_id"] == frames["leads"]["lead_id"].to_numpy()).all()


@pytest.mark.parametrize("fmt", ["csv", "parquet"])
def test_same_seed_writes_byte_identical_files(tmp_path: Path, fmt: str) -> None:
    for run in ("a", "b"):
        frames, truth = generate_demo(600, seed=9)
        write_export(frames, truth, tmp_path / run, fmt)
    files_a = sorted(p.relative_to(tmp_path / "a") for p in (tmp_path / "a").rglob("*") if p.is_file())
    files_b = sorted(p.relative_to(tmp_path / "b") for p in (tmp_path / "b").rglob("*") if p.is_file())
    assert files_a == files_b and len(files_a) == len(TABLE_NAMES) + 2
    for rel in files_a:
        assert (tmp_path / "a" / rel).read_bytes() == (tmp_path / "b" / rel).read_bytes(), rel


def test_duckdb_into_a_folder_writes_leadscore_duckdb_with_every_table_and_truth_beside_it(demo, tmp_path: Path) -> None:
    frames, truth = demo
    written = write_export(frames, truth, tmp_path / "db", "duckdb")
    db = tmp_path / "db" / DUCKDB_FILE
    assert written["leads"] == db
    assert written[TRUTH_FOLDER] == tmp_path / "db" / TRUTH_FOLDER / TRUTH_FILE
    with duckdb.connect(str(db), read_only=True) as con:
        tables = {row[0] for row in con.execute("select table_name from information_schema.tables").fetchall()}
        assert tables == set(TABLE_NAMES)
        for name in TABLE_NAMES:
            columns = [row[0] for row in con.execute(f'describe "{name}"').fetchall()]
            assert tuple(columns) == TABLES[name].column_names
            assert con.execute(f'select count(*) from "{name}"').fetchone()[0] == len(frames[name])
        ids = con.execute("select lead_id from leads order by lead_id").fetchall()
    assert [row[0] for row in ids] == sorted(frames["leads"]["lead_id"])


def test_duckdb_to_a_file_path_puts_the_truth_in_a_sibling_folder(demo, tmp_path: Path) -> None:
    frames, truth = demo
    written = write_export(frames, truth, tmp_path / "export.duckdb", "duckdb")
    assert written["events"] == tmp_path / "export.duckdb"
    assert (tmp_path / TRUTH_FOLDER / TRUTH_FILE).is_file()


def test_a_folder_holding_another_format_is_refused_rather_than_mixed(demo, tmp_path: Path) -> None:
    frames, truth = demo
    write_export(frames, truth, tmp_path, "csv")
    with pytest.raises(LeadscoreError, match="leads.csv"):
        write_export(frames, truth, tmp_path, "parquet")
    with pytest.raises(LeadscoreError, match="format"):
        write_export(frames, truth, tmp_path / "x", "xlsx")


def test_generate_command_writes_the_export_and_prints_tables_and_funnel(tmp_path: Path, capsys) -> None:
    code = main(["generate", "--leads", "400", "--seed", "2", "--out", str(tmp_path / "demo"), "--format", "csv"])
    assert code == 0
    printed = capsys.readouterr().out
    for name in TABLE_NAMES:
        assert f"{tmp_path / 'demo' / name}.csv" in printed
    assert "SQO" in printed and "% of previous" in printed
    assert (tmp_path / "demo" / TRUTH_FOLDER / TRUTH_FILE).is_file()


def test_generate_command_reports_a_bad_size_in_one_sentence(tmp_path: Path, capsys) -> None:
    code = main(["generate", "--leads", "0", "--out", str(tmp_path)])
    assert code == 2
    assert "--leads" in capsys.readouterr().err


def test_generated_parquet_timestamps_are_microseconds_in_utc(demo, tmp_path: Path) -> None:
    import pyarrow as pa
    import pyarrow.parquet as pq

    frames, truth = demo
    write_export(frames, truth, tmp_path / "out", "parquet")
    files = [*(tmp_path / "out").glob("*.parquet"), tmp_path / "out" / TRUTH_FOLDER / TRUTH_FILE]
    timestamps = {(path.name, field.name): field.type for path in files for field in pq.read_schema(path)
                  if pa.types.is_timestamp(field.type)}
    assert ("leads.parquet", "captured_at") in timestamps and (TRUTH_FILE, "as_of") in timestamps
    assert set(timestamps.values()) == {pa.timestamp("us", tz="UTC")}
