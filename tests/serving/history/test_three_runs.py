"""The score store through the command line: three runs of a generated export (new events between the
first two, a second SQO model version before the third), read back through ``history`` and ``changes``.
"""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.pit import cut_frames


@pytest.fixture(scope="module")
def three_runs(store_world, tmp_path_factory: pytest.TempPathFactory):
    """The store after the three runs (and the second run repeated), with each run's scores file."""
    folder = tmp_path_factory.mktemp("three-runs")
    store = str(folder / "scores.duckdb")
    w = store_world
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", w.tracking_uri)
        assert w.score(w.first, store, folder / "first.csv", data_end=w.t1) == 0
        assert w.score(w.second, store, folder / "second.csv") == 0
        assert w.score(w.second, store, folder / "again.csv") == 0
        assert w.score(w.second, store, folder / "third.csv", "--model-sqo", w.model_v2) == 0
    con = duckdb.connect(store, read_only=True)
    runs = con.execute("SELECT * FROM scoring_runs ORDER BY started_at").df()
    rows = con.execute("SELECT * FROM lead_scores").df()
    con.close()
    return store, runs, rows, folder


def _leads_with_new_rows(frames: dict, t1: pd.Timestamp) -> set[str]:
    """Leads with an event or stage entry after t1, or whose account has one, or a colleague captured after t1."""
    leads = frames["leads"]
    later = set(frames["events"].loc[frames["events"]["occurred_at"] > t1, "lead_id"].astype(str))
    later |= set(frames["stage_history"].loc[~(frames["stage_history"]["entered_at"] <= t1), "lead_id"].astype(str))
    later |= set(leads.loc[leads["captured_at"] > t1, "lead_id"].astype(str))
    account = leads.set_index(leads["lead_id"].astype(str))["account_id"]
    touched_accounts = set(account.reindex(list(later)).dropna().astype(str))
    opps = frames["opportunities"]
    touched_accounts |= set(opps.loc[(opps["created_at"] > t1) | (opps["closed_at"] > t1), "account_id"].dropna().astype(str))
    with_account = account[account.notna()].astype(str)
    return later | set(with_account[with_account.isin(touched_accounts)].index)


def test_running_the_same_run_again_adds_no_rows(three_runs):
    _, runs, rows, _ = three_runs
    assert len(runs) == 3
    assert rows.groupby("run_id").size().tolist() == sorted(runs["n_leads"].tolist()) or \
        rows.groupby("run_id").size().to_dict() == dict(zip(runs["run_id"], runs["n_leads"], strict=True))
    assert not rows.duplicated(["run_id", "lead_id", "as_of"]).any()


def test_stored_rows_are_the_scores_files_rows(three_runs):
    _, runs, rows, folder = three_runs
    for name, run_id in (("first", runs["run_id"][0]), ("third", runs["run_id"][2])):
        written = pd.read_csv(folder / f"{name}.csv")
        stored = rows[rows["run_id"] == run_id].set_index("lead_id").loc[written["lead_id"].astype(str)]
        assert np.allclose(stored["p_sqo"].to_numpy(), written["p_sqo"].to_numpy(), rtol=0, atol=1e-12, equal_nan=True)
        assert (stored["grade"].fillna("").to_numpy() == written["grade"].fillna("").to_numpy()).all()
        assert (stored["status"].to_numpy() == written["status"].to_numpy()).all()


def test_parts_add_up_to_each_change(three_runs):
    _, runs, rows, _ = three_runs
    scored = rows[rows["p_sqo"].notna()]
    before = scored.set_index(["run_id", "lead_id"])["p_sqo"]
    changed = scored[scored["previous_run_id"].notna()]
    p_before = before.loc[list(zip(changed["previous_run_id"], changed["lead_id"], strict=True))].to_numpy()
    total = changed["change_data"] + changed["change_time"] + changed["change_model"]
    assert len(changed) > 3000
    assert np.allclose(total.to_numpy(), changed["p_sqo"].to_numpy() - p_before, rtol=0, atol=1e-12, equal_nan=True)


def _category_moved(runs: pd.DataFrame, rows: pd.DataFrame, lead_ids: pd.Index) -> pd.Series:
    """Per lead: a categorical input read differently in the second run than in the first.

    Rare values are grouped as "other" by how many leads hold them, so new leads elsewhere in the export
    can regroup a lead's job title or country: other leads' data, counted in the data part.
    """
    out = pd.Series(False, index=lead_ids)
    layouts = [json.loads(runs["features"][k]) for k in (0, 1)]
    vectors = [rows[rows["run_id"] == runs["run_id"][k]].set_index("lead_id").loc[lead_ids, "feature_values"]
               for k in (0, 1)]
    for j, entry in enumerate(layouts[0]):
        if entry["kind"] != "categorical":
            continue
        values = []
        for layout, column in zip(layouts, vectors, strict=True):
            known = layout[j]["values"]
            values.append(column.map(lambda v, known=known, j=j: None if np.isnan(v[j]) else known[int(v[j])]))
        out |= values[0].ne(values[1]) & ~(values[0].isna() & values[1].isna())
    return out


def test_data_part_is_exactly_zero_for_leads_without_new_rows(three_runs, store_world):
    _, runs, rows, _ = three_runs
    second = rows[(rows["run_id"] == runs["run_id"][1]) & rows["previous_run_id"].notna()].set_index("lead_id")
    untouched = second.index.difference(sorted(_leads_with_new_rows(store_world.frames, store_world.t1)))
    touched = second.index.difference(untouched)
    regrouped = _category_moved(runs, rows, untouched)
    assert regrouped.mean() < 0.02
    untouched = untouched[~regrouped.to_numpy()]
    assert len(untouched) > 1000 and len(touched) > 100
    assert (second.loc[untouched, "change_data"] == 0.0).all()
    assert (second.loc[untouched, "rule_change_data"] == 0.0).all()
    assert (second["change_model"] == 0.0).all()  # the same models
    assert (second.loc[touched, "change_data"] != 0.0).mean() > 0.5
    assert (second["change_time"] != 0.0).mean() > 0.5  # three weeks later: recency and age moved


def test_a_model_swap_gives_only_model_parts(three_runs):
    _, runs, rows, _ = three_runs
    third = rows[rows["run_id"] == runs["run_id"][2]]
    # only open leads get a p_sqo, so only they have a previous score to compare with
    assert third["previous_run_id"].notna().eq(third["p_sqo"].notna()).all()
    third = third[third["p_sqo"].notna()]
    assert len(third) > 2500 and third["previous_run_id"].eq(runs["run_id"][1]).all()
    assert (third["change_data"] == 0.0).all() and (third["change_time"] == 0.0).all()
    assert (third["change_model"] != 0.0).mean() > 0.9
    because = third["change_because"].map(json.loads)
    assert because.map(lambda items: {item[0] for item in items} <= {"model"}).all()


def test_changes_splits_each_move_and_says_why(three_runs, capsys):
    store, runs, rows, _ = three_runs
    assert main(["changes", "--store", store, "--from", runs["run_id"][0], "--to", runs["run_id"][1],
                 "--min-change", "0.05", "--json"]) == 0
    changes = json.loads(capsys.readouterr().out)
    assert changes, "some leads moved by 0.05 in three weeks of new events"
    moves = [abs(c["p_sqo_after"] - c["p_sqo_before"]) for c in changes]
    assert moves == sorted(moves, reverse=True) and min(moves) >= 0.05
    for change in changes:
        assert set(change) >= {"lead_id", "p_sqo_before", "p_sqo_after", "parts", "because"}
        assert sum(change["parts"].values()) == pytest.approx(change["p_sqo_after"] - change["p_sqo_before"], abs=1e-12)
        assert change["parts"]["model"] == 0.0
        assert change["because"] and all(isinstance(s, str) for s in change["because"])
    assert any("from data" in s for c in changes for s in c["because"])

    # across all three runs the consecutive parts add up, the model's part included
    assert main(["changes", "--store", store, "--from", runs["run_id"][0][:6], "--min-change", "0", "--json"]) == 0
    across = {c["lead_id"]: c for c in json.loads(capsys.readouterr().out)}
    assert len(across) > 2500
    for change in across.values():
        assert sum(change["parts"].values()) == pytest.approx(change["p_sqo_after"] - change["p_sqo_before"], abs=1e-12)
    assert sum(abs(c["parts"]["model"]) > 0 for c in across.values()) > 0.9 * len(across)

    assert main(["changes", "--store", store]) == 0
    text = capsys.readouterr().out
    assert "from the model: version 1 → 2" in text and "data +0.000, time +0.000" in text


def test_history_lists_each_run_once_with_the_change_in_words(three_runs, capsys):
    store, runs, rows, _ = three_runs
    second = rows[(rows["run_id"] == runs["run_id"][1]) & (rows["change_data"].abs() > 0.02)]
    lead = str(second["lead_id"].iloc[0])
    assert main(["history", lead, "--store", store, "--json"]) == 0
    history = json.loads(capsys.readouterr().out)
    assert [r["run_id"] for r in history["runs"]] == runs["run_id"].tolist()
    assert [r["models"]["sqo"] for r in history["runs"]] == ["leadscore-sqo v1", "leadscore-sqo v1", "leadscore-sqo v2"]
    assert history["runs"][0]["change"] is None
    assert any("from data" in s for s in history["runs"][1]["change"]["because"])
    assert main(["history", lead, "--store", store]) == 0
    text = capsys.readouterr().out
    assert f"lead {lead}: 3 stored scores, oldest first" in text and "from the model" in text


def test_history_of_an_unknown_lead_is_one_sentence(three_runs, capsys):
    store, *_ = three_runs
    assert main(["history", "no-such-lead", "--store", store]) == 2
    assert capsys.readouterr().err.strip().count("\n") == 0


def test_the_current_view_holds_each_leads_latest_score(three_runs):
    store, runs, rows, _ = three_runs
    con = duckdb.connect(store, read_only=True)
    current = con.execute("SELECT * FROM lead_scores_current").df()
    con.close()
    assert current["lead_id"].is_unique
    assert len(current) == rows["lead_id"].nunique()
    assert (current["run_id"] == runs["run_id"][2]).all()
    assert set(current["model_sqo_version"]) == {"2"}


def test_the_cut_export_gives_the_first_runs_inputs(store_world):
    cut = cut_frames(store_world.frames, store_world.t1)
    assert len(cut["events"]) < len(store_world.frames["events"])
    assert Path(store_world.first).is_dir()



def test_the_report_shows_what_changed_since_the_last_run(three_runs, store_world, tmp_path, monkeypatch):
    from leadscore.serving.history.store import open_store
    from leadscore.serving.report.changes_summary import summarize_changes

    store, runs, rows, _ = three_runs
    with open_store(store, read_only=True) as opened:
        summary = summarize_changes(opened)
    third = rows[rows["run_id"] == runs["run_id"][2]]
    assert summary.run_id == runs["run_id"][2] and summary.n_compared == third["previous_run_id"].notna().sum() > 2500
    assert (summary.up["after"] > summary.up["before"]).all() and (summary.down["after"] < summary.down["before"]).all()
    assert summary.up["because"].str.contains("from the model: version 1 → 2").all()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_world.tracking_uri)
    out = tmp_path / "report.html"
    assert main(["report", str(store_world.second), "--out", str(out), "--store", store]) == 0
    page = out.read_text()
    assert "4. What changed since the last run" in page
    assert str(summary.up["lead_id"].iloc[0]) in page and str(summary.down["lead_id"].iloc[0]) in page


def test_where_the_store_is_default_environment_flag_and_none(store_world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_world.tracking_uri)
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("LEADSCORE_STORE", raising=False)
    leads = tmp_path / "leads.csv"
    pd.DataFrame({"lead_id": [f"L{i:07d}" for i in range(1, 40)]}).to_csv(leads, index=False)
    base = ["score", str(store_world.second), "--leads", str(leads), "--out", "scores.csv"]
    assert main([*base, "--no-store"]) == 0
    assert not (tmp_path / "leadscore-scores.duckdb").exists()
    assert main(base) == 0
    assert "score store: run" in capsys.readouterr().out
    assert (tmp_path / "leadscore-scores.duckdb").is_file()
    monkeypatch.setenv("LEADSCORE_STORE", str(tmp_path / "elsewhere.duckdb"))
    assert main(base) == 0
    assert (tmp_path / "elsewhere.duckdb").is_file()
    assert main(["changes", "--to", "nosuchrun"]) == 2
    assert "no run 'nosuchrun'" in capsys.readouterr().err


def test_a_store_that_is_the_scores_file_is_refused_before_scoring(store_world, tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("MLFLOW_TRACKING_URI", store_world.tracking_uri)
    out = tmp_path / "scores.parquet"
    assert main(["score", str(store_world.second), "--out", str(out), "--store", str(out)]) == 2
    # refused as every output that is one of the command's inputs is (leadscore.inputs)
    assert capsys.readouterr().err == (f"leadscore score: {out} is the score store, which keeps every earlier run's "
                                       "scores; choose another output.\n")
    assert not out.exists()
