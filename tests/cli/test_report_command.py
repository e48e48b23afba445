"""``leadscore report`` on a CSV export: writes the page, prints its path, explains a missing model."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.frames_io import read_frame, write_frame
from leadscore.features.reading.validation import load_tables
from leadscore.serving.report.page import write_report

END = pd.Timestamp("2025-07-01", tz="UTC")


def write_export(folder: Path, n: int = 120, seed: int = 2) -> Path:
    """A CSV export with leads, stage history and a scores file, as a user would bring it."""
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True)
    captured = [END - pd.Timedelta(days=float(d)) for d in rng.uniform(1, 250, n)]
    leads = pd.DataFrame(
        {
            "lead_id": [f"L{i:03d}" for i in range(n)],
            "captured_at": [t.isoformat() for t in captured],
            "channel": rng.choice(["linkedin", "email"], n),
        }
    )
    rows = []
    for lead_id, at in zip(leads["lead_id"], captured, strict=True):
        rows.append((lead_id, "MCL", at.isoformat()))
        for k, stage in enumerate(("MEL", "MQL", "SAL", "SQL", "SQO")):
            if rng.random() < 0.45:
                break
            rows.append((lead_id, stage, (at + pd.Timedelta(days=5 * (k + 1))).isoformat()))
    leads.to_csv(folder / "leads.csv", index=False)
    pd.DataFrame(rows, columns=["lead_id", "stage", "entered_at"]).to_csv(folder / "stage_history.csv", index=False)
    return folder


@pytest.fixture
def isolated_store(tmp_path, monkeypatch):
    """An empty MLflow store of the test's own, so no registered model exists."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def test_report_without_a_registered_model_still_writes_the_page_and_says_how_to_train(isolated_store, capsys) -> None:
    export = write_export(isolated_store / "export")
    out = isolated_store / "out" / "report.html"
    code = main(["report", str(export), "--out", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    assert captured.out.strip() == str(out)
    page = out.read_text(encoding="utf-8")
    assert "1. Funnel KPIs" in page
    assert "No SQO model could be loaded" in page and "leadscore train DATA --target sqo" in page


def test_report_summarises_a_scores_file(tmp_path) -> None:
    tables = load_tables(write_export(tmp_path / "export"))
    scores = pd.DataFrame(
        {"lead_id": ["N1", "N2", "N3"], "score": [91, 40, 3], "grade": ["A", "B", "D"], "p_sqo": [0.6, 0.2, 0.01],
         "status": ["ok", "ok", "no features"], "reasons_positive": ["demo request yesterday", "", ""]}
    )
    write_frame(scores, tmp_path / "scores.csv")
    out = write_report(tables, tmp_path / "report.html", scores=read_frame(tmp_path / "scores.csv"))
    page = out.read_text(encoding="utf-8")
    assert "3 leads in the scores file, 2 scored; not scored: no features 1" in page
    top = page.split('id="scores-top-table"')[1].split("</table>")[0]
    assert top.index(">N1<") < top.index(">N2<")  # best first
    assert "demo request yesterday" in top and ">N3<" not in top  # N3 was not scored


def test_report_refuses_an_as_of_after_the_data_end(isolated_store, capsys) -> None:
    export = write_export(isolated_store / "export")
    code = main(["report", str(export), "--out", str(isolated_store / "r.html"), "--as-of", "2030-01-01"])
    assert code == 2
    assert "after the data's end" in capsys.readouterr().err
    assert not (isolated_store / "r.html").exists()


def test_report_refuses_an_unreadable_as_of(isolated_store, capsys) -> None:
    export = write_export(isolated_store / "export")
    code = main(["report", str(export), "--out", str(isolated_store / "r.html"), "--as-of", "last tuesday"])
    assert code == 2
    assert "--as-of 'last tuesday' is not a timestamp" in capsys.readouterr().err
    assert not (isolated_store / "r.html").exists()


def test_report_refuses_a_capacity_below_one(isolated_store, capsys) -> None:
    export = write_export(isolated_store / "export")
    assert main(["report", str(export), "--capacity", "0"]) == 2
    assert "--capacity must be a positive number" in capsys.readouterr().err


def test_scores_file_without_score_columns_is_a_clear_error(isolated_store, capsys) -> None:
    export = write_export(isolated_store / "export")
    pd.DataFrame({"lead_id": ["N1"]}).to_csv(isolated_store / "scores.csv", index=False)
    code = main(["report", str(export), "--scores", str(isolated_store / "scores.csv")])
    assert code == 2
    assert "lacks column(s) score, grade" in capsys.readouterr().err


def test_report_on_an_export_whose_leads_stop_months_before_its_end_writes_the_page(isolated_store, capsys) -> None:
    # Was KeyError 'stage': no lead captured in the 90 days before the report's moment.
    export = write_export(isolated_store / "export")
    leads = pd.read_csv(export / "leads.csv")
    leads[pd.to_datetime(leads["captured_at"]) < END - pd.Timedelta(days=120)].to_csv(export / "leads.csv", index=False)
    stages = pd.read_csv(export / "stage_history.csv")
    stages[stages["lead_id"].isin(pd.read_csv(export / "leads.csv")["lead_id"])].to_csv(export / "stage_history.csv", index=False)
    out = isolated_store / "report.html"
    code = main(["report", str(export), "--out", str(out), "--data-end", END.isoformat()])
    captured = capsys.readouterr()
    assert code == 0 and "Traceback" not in captured.err
    page = out.read_text(encoding="utf-8")
    assert "No lead was captured in the 90 days up to the report's as-of moment (2025-07-01 00:00 UTC)" in page
    assert "report as of 2025-07-01 00:00 UTC" in page
