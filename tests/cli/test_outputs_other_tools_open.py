"""What ``features``, ``rules`` and ``training-set`` write opens safely in a spreadsheet (CSV) and as it is in
Spark, DuckDB or pandas (Parquet), on an export whose lead ids and campaigns look like formulas.
"""

from __future__ import annotations

import csv
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from leadscore.cli import main
from leadscore.features.frames_io import read_frame
from leadscore.features.synthetic.demo import generate_demo, write_export

FORMULA_IDS = ['=HYPERLINK("http://evil.example","x")', "+1+2", "-2+3", "@SUM(A1)"]
FORMULA_CAMPAIGN = "@cmd|' /C calc'!A0"
COMMANDS = {
    "features": ["features", "{data}"],
    "rules": ["rules", "{data}"],
    "training-set": ["training-set", "{data}", "--target", "sqo", "--offsets", "0,7"],
}


@pytest.fixture(scope="module")
def export(tmp_path_factory: pytest.TempPathFactory) -> Path:
    frames, truth = generate_demo(400, seed=3)
    leads = frames["leads"]
    # the earliest leads, so the training set (matured leads only) holds them too
    first = leads.sort_values("captured_at")["lead_id"].head(len(FORMULA_IDS)).tolist()
    renamed = dict(zip(first, FORMULA_IDS, strict=True))
    for name, frame in frames.items():
        if "lead_id" in frame.columns:
            frames[name] = frame.assign(lead_id=frame["lead_id"].replace(renamed))
    # a campaign of one lead in ten, so the features keep it by name (rare ones become "other")
    frames["leads"].loc[frames["leads"].index % 10 == 0, "campaign"] = FORMULA_CAMPAIGN
    truth = truth.assign(lead_id=truth["lead_id"].replace(renamed))
    folder = tmp_path_factory.mktemp("formula-export") / "export"
    write_export(frames, truth, folder, "parquet")
    return folder


def _write(command: str, export: Path, out: Path) -> Path:
    argv = [a.format(data=export) for a in COMMANDS[command]] + ["--out", str(out)]
    assert main(argv) == 0
    return out


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_csv_outputs_quote_every_cell_a_spreadsheet_would_run(command: str, export: Path, tmp_path: Path,
                                                              capsys) -> None:
    out = _write(command, export, tmp_path / f"{command}.csv")
    capsys.readouterr()
    with out.open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    formulas = [cell for row in rows for cell in row.values()
                if cell.startswith(("=", "+", "-", "@", "\t", "\r")) and not _is_number(cell)]
    assert formulas == []
    assert {"'" + lead for lead in FORMULA_IDS} <= {row["lead_id"] for row in rows}
    if "campaign" in rows[0]:
        assert "'" + FORMULA_CAMPAIGN in {row["campaign"] for row in rows}
    assert set(FORMULA_IDS) <= set(read_frame(out)["lead_id"])  # read back, the values are true again


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_parquet_outputs_keep_true_values_and_microsecond_utc_timestamps(command: str, export: Path, tmp_path: Path,
                                                                         capsys) -> None:
    out = _write(command, export, tmp_path / f"{command}.parquet")
    capsys.readouterr()
    assert set(FORMULA_IDS) <= set(pd.read_parquet(out)["lead_id"])
    schema = pq.read_schema(out)
    assert schema.field("as_of").type == pa.timestamp("us", tz="UTC")
    assert all(field.type.unit == "us" and field.type.tz == "UTC" for field in schema
               if pa.types.is_timestamp(field.type))
