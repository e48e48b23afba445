"""`leadscore demo` end to end as a newcomer runs it: every step runs, every promised output exists, and the models
are where every other command looks for them."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.cli import main


@pytest.mark.slow
def test_the_full_demo_runs_every_step_writes_its_outputs_and_ends_with_both_champions_and_coherent_probabilities(
        tmp_path, monkeypatch, capsys) -> None:
    """What a newcomer's first `make demo` must show (the default 20,000 leads, seed 7), with its models where
    every other command looks for them."""
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)  # a fresh ./mlflow.db, as on a newcomer's machine
    workdir = tmp_path / "demo"
    assert main(["demo", "--workdir", str(workdir)]) == 0
    out = capsys.readouterr().out
    for step in ("1/6 generate", "2/6 validate", "3/6 funnel", "4/6 train the SQO", "4/6 train the WON", "5/6 score",
                 "6/6 marketing report"):
        assert step in out
    assert (tmp_path / "mlflow.db").exists() and not (workdir / "mlflow.db").exists()  # ./mlflow.db, the default
    assert "mlflow ui --backend-store-uri sqlite:///mlflow.db" in out
    assert (workdir / "report.html").stat().st_size > 10_000 and str(workdir / "report.html") in out
    assert "registered leadscore-sqo version 1: alias champion" in out
    assert "registered leadscore-won version 1: alias champion" in out
    assert out.count("gates at capture: passed") == 2 and "FAIL" not in out and "did not pass its gates" not in out
    assert "p_win = p_sqo x q" in out
    top = out[out.index("5/6 score"):out.index("6/6 marketing report")]
    assert "      why: " in top and not [line for line in top.splitlines() if line.rstrip().endswith(":")]  # no blank reasons
    scores = pd.read_csv(workdir / "scores.csv", dtype={"lead_id": "str"})
    assert len(scores) > 0 and scores["lead_id"].is_unique
    assert "ok" in set(scores["status"]) and set(scores["status"]) <= {"ok", "reached SQO", "closed: won", "closed: lost",
                                                                      "closed: disqualified"}
    is_open = scores["status"] == "ok"
    assert scores.loc[is_open, "p_sqo"].between(0, 1).all() and scores.loc[~is_open, "p_sqo"].isna().all()
    both = scores.dropna(subset=["p_sqo", "p_win"])
    assert len(both) and (both["p_win"] <= both["p_sqo"]).all()
