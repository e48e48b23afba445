"""Property: a change's data, time and model parts add up to it; the data part is exactly 0 for a lead
whose rows (and its account's) did not change; a run that only swaps the model has only model parts.

For random generated exports and random moments ``t1`` before the data's end: every lead is scored at
``t1`` on the export as it was then (:func:`leadscore.features.pit.cut_frames`) and recorded, then at
the data's end on the whole export, then again there with another model as the SQO model.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.features.pit import cut_frames
from leadscore.features.synthetic.demo import DATA_END, generate_demo
from leadscore.features.tables import make_tables
from leadscore.scorers.rules import load_rules
from leadscore.serving.history.recording import ExplainedRows, current_setup, record_run
from leadscore.serving.history.store import open_store
from leadscore.serving.score import score_leads


def _record(store, tables, sqo, won, rules, moment, models) -> None:
    explained = ExplainedRows(sqo)
    scores, _ = score_leads(tables, sqo, won, rules, as_of=moment, progress=False, on_explained=explained)
    record_run(store, tables, scores, explained, current_setup(sqo, won, rules), sqo.grade_cuts,
               pd.Timestamp.now(tz="UTC"), lambda name, version: models[(name, version)])


def _untouched(frames: dict, t1: pd.Timestamp) -> set[str]:
    """Leads with no row after t1, whose account has none either and gained no colleague."""
    leads = frames["leads"].assign(lead_id=lambda f: f["lead_id"].astype(str))
    later = set(frames["events"].loc[frames["events"]["occurred_at"] > t1, "lead_id"].astype(str))
    later |= set(frames["stage_history"].loc[~(frames["stage_history"]["entered_at"] <= t1), "lead_id"].astype(str))
    later |= set(leads.loc[leads["captured_at"] > t1, "lead_id"])
    opps = frames["opportunities"]
    accounts = set(leads.loc[leads["lead_id"].isin(later), "account_id"].dropna().astype(str))
    accounts |= set(opps.loc[(opps["created_at"] > t1) | (opps["closed_at"] > t1), "account_id"].dropna().astype(str))
    touched = later | set(leads.loc[leads["account_id"].astype(str).isin(accounts), "lead_id"])
    return set(leads["lead_id"]) - touched


@pytest.mark.slow
@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seed=st.integers(0, 10_000), days=st.integers(1, 60), hours=st.integers(0, 23))
def test_parts_add_up_and_unchanged_data_has_no_data_part(serving_world, tmp_path_factory, seed, days, hours):
    frames, _ = generate_demo(300, seed)
    t1 = DATA_END - pd.Timedelta(days=days, hours=hours)
    rules = load_rules(None)
    sqo, won = serving_world.sqo, serving_world.won
    models = {(m.name, m.version): m for m in (sqo, won)}
    path = tmp_path_factory.mktemp("split") / "scores.duckdb"
    with open_store(str(path)) as store:
        _record(store, make_tables(cut_frames(frames, t1), data_end=t1), sqo, won, rules, t1, models)
        _record(store, make_tables(frames, data_end=DATA_END), sqo, won, rules, DATA_END, models)
        _record(store, make_tables(frames, data_end=DATA_END), won, None, rules, DATA_END, models)  # another model
        runs = store.runs()["run_id"].tolist()
        rows = store.query("SELECT * FROM lead_scores")
    assert len(runs) == 3
    scored = rows[rows["p_sqo"].notna()]
    p = scored.set_index(["run_id", "lead_id"])["p_sqo"]
    changed = scored[scored["previous_run_id"].notna()]
    before = p.loc[list(zip(changed["previous_run_id"], changed["lead_id"], strict=True))].to_numpy()
    total = changed["change_data"] + changed["change_time"] + changed["change_model"]
    assert np.allclose(total.to_numpy(), changed["p_sqo"].to_numpy() - before, rtol=0, atol=1e-12)
    rule_before = scored.set_index(["run_id", "lead_id"])["rule_score"]
    rule_before = rule_before.loc[list(zip(changed["previous_run_id"], changed["lead_id"], strict=True))].to_numpy()
    rule_total = changed["rule_change_data"] + changed["rule_change_time"] + changed["rule_change_model"]
    assert np.allclose(rule_total.to_numpy(), changed["rule_score"].to_numpy() - rule_before, rtol=0, atol=1e-9)

    second = changed[changed["run_id"] == runs[1]].set_index("lead_id")
    assert (second["change_model"] == 0).all() and (second["rule_change_model"] == 0).all()
    untouched = second.index.intersection(sorted(_untouched(frames, t1)))
    assert (second.loc[untouched, "change_data"] == 0).mean() >= 0.97  # rare categories regrouped by others' data
    assert (second.loc[untouched, "rule_change_data"] == 0).all()

    third = changed[changed["run_id"] == runs[2]]
    assert (third["change_data"] == 0).all() and (third["change_time"] == 0).all()
    assert (third["rule_change_data"] == 0).all() and (third["rule_change_time"] == 0).all()
