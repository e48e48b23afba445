"""`leadscore demo` end to end on a small demo: every step runs and every promised output exists."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.cli import main


@pytest.mark.slow
def test_demo_runs_every_step_and_writes_its_outputs(tmp_path, monkeypatch, capsys) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    workdir = tmp_path / "demo"
    assert main(["demo", "--leads", "8000", "--seed", "3", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    for step in ("1/6 generate", "2/6 validate", "3/6 funnel", "4/6 train the SQO", "4/6 train the WON", "5/6 score", "6/6 marketing report"):
        assert step in out
    assert (workdir / "mlflow.db").exists()
    assert (workdir / "report.html").stat().st_size > 10_000
    scores = pd.read_csv(workdir / "scores.csv", dtype={"lead_id": "str"})
    assert len(scores) > 0 and scores["lead_id"].is_unique
    assert set(scores["status"]) == {"ok"}
    assert scores["p_sqo"].between(0, 1).all()
    assert str(workdir / "report.html") in out
