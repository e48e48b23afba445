"""Section 2 with a real registered model (the shared ``serving_world``): the page's numbers are right.

The model is a small LightGBM logged and registered exactly as training does it, loaded back through
MLflow; the report scores the matured leads through the batch scorer. The checks recompute the page's
headline numbers independently (scikit-learn's AUC, a plain sort for SQOs at capacity, loops for the
labels) from the same scored rows.
"""

from __future__ import annotations

import dataclasses
import html
import re

import numpy as np
import pandas as pd
import pytest
from sklearn.metrics import roc_auc_score

from leadscore.scorers.rules import load_rules
from leadscore.serving.report.comparison import build_comparison, horizon_days_of
from leadscore.serving.report.page import write_report

CAPACITY = 50


@pytest.fixture(scope="module")
def comparison(serving_world):
    return build_comparison(serving_world.tables, serving_world.sqo, load_rules(None))


@pytest.fixture(scope="module")
def page(serving_world, tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("report") / "report.html"
    return write_report(serving_world.tables, out, sqo_model=serving_world.sqo, capacity=CAPACITY).read_text(encoding="utf-8")


def expected_labels(tables, info, horizon_days: int) -> dict[str, int]:
    """Loops over the raw tables: each matured lead scored at the model's moment, 1 if it reached SQO in the horizon."""
    first_sqo: dict[str, pd.Timestamp] = {}
    for row in tables.stage_history.itertuples(index=False):
        if row.stage in ("SQO", "WON"):
            first_sqo[row.lead_id] = min(first_sqo.get(row.lead_id, row.entered_at), row.entered_at)
    expected = {}
    for lead in tables.leads.itertuples(index=False):
        if info["earliest_capture"] < lead.captured_at <= info["latest_capture"]:
            as_of = lead.captured_at + pd.Timedelta(days=info["offset_days"])
            reached = first_sqo.get(lead.lead_id)
            if reached is not None and reached <= as_of:
                continue  # already an SQO when scored
            expected[lead.lead_id] = int(reached is not None and reached <= as_of + pd.Timedelta(days=horizon_days))
    return expected


def test_matured_leads_are_labelled_by_whether_they_reached_sqo_within_the_horizon(serving_world, comparison) -> None:
    tables, info = serving_world.tables, comparison.info
    expected = expected_labels(tables, info, 90)
    frame = comparison.frame
    assert dict(zip(frame["lead_id"], frame["sqo"], strict=True)) == expected
    assert info["n_not_scored"] == 0 and len(frame) == info["n_leads"] > 100
    assert 0 < frame["sqo"].sum() < len(frame)
    assert info["offset_days"] == 0  # the model is used at capture, so it is judged at capture
    assert frame["as_of"].isin(set(tables.leads["captured_at"])).all()


def test_the_label_horizon_is_the_models_own(serving_world, tmp_path) -> None:
    sqo = serving_world.sqo
    assert sqo.spec["horizon_days"] == 90
    model_60 = dataclasses.replace(sqo, model=dataclasses.replace(sqo.model, spec={**sqo.spec, "horizon_days": 60}))
    tables = serving_world.tables
    comparison = build_comparison(tables, model_60, load_rules(None))
    info = comparison.info
    assert info["horizon_days"] == 60
    assert info["latest_capture"] == tables.data_end - pd.Timedelta(days=60)  # outcomes known 60 days on
    expected = expected_labels(tables, info, 60)
    assert dict(zip(comparison.frame["lead_id"], comparison.frame["sqo"], strict=True)) == expected
    assert expected != expected_labels(tables, info, 90)  # the horizon changes some labels on this data
    page = write_report(tables, tmp_path / "report.html", sqo_model=model_60, capacity=CAPACITY).read_text(encoding="utf-8")
    assert "did it reach SQO within the next 60 days?" in page
    assert f"{info['n_leads']:,} leads qualify, of which {info['n_sqo']:,}" in page


def test_a_model_without_a_horizon_in_its_spec_is_judged_over_90_days(serving_world) -> None:
    sqo = serving_world.sqo
    spec = {k: v for k, v in sqo.spec.items() if k != "horizon_days"}
    assert horizon_days_of(dataclasses.replace(sqo, model=dataclasses.replace(sqo.model, spec=spec))) == 90
    assert horizon_days_of(serving_world.won) == 180


def test_page_reports_auc_and_sqos_at_capacity_as_computed_independently(comparison, page) -> None:
    frame = comparison.frame
    capacity = CAPACITY
    y = frame["sqo"].to_numpy()
    auc_model = roc_auc_score(y, frame["p_sqo"])
    auc_rules = roc_auc_score(y, frame["rule_score"])
    assert f"model {auc_model:.2f}, rules {auc_rules:.2f}" in page
    top = frame.sort_values("p_sqo", ascending=False).head(capacity)
    ordered = np.sort(frame["p_sqo"].to_numpy())[::-1]
    assert ordered[capacity - 1] > ordered[capacity]  # no tie at the edge, so a plain sort is the exact answer
    headline = re.search(r"ranking by the model finds <strong>([\d,]+)</strong> SQOs", page)
    assert headline is not None and int(headline.group(1).replace(",", "")) == int(top["sqo"].sum())
    assert f"of these {len(frame):,} leads" in page
    assert "leadscore-sqo v" in page
    # The agreement matrix holds every matured lead once.
    cells = re.findall(r'<td class="num matrix"[^>]*><span class="big">[^<]*</span><span class="small">([\d,]+) leads,', page)
    assert sum(int(c.replace(",", "")) for c in cells) == len(frame)


def test_disagreement_tables_show_the_model_reasons_and_the_fired_rules(comparison, page) -> None:
    section = page.split('id="compare-disagree"')[1].split('id="compare-thresholds"')[0]
    assert "why the model rates it high" in section and "rule points that fired" in section
    marked = comparison.frame.assign(
        in_model=comparison.frame["p_sqo"].rank(method="min", ascending=False) <= CAPACITY,
        in_rules=comparison.frame["rule_score"].rank(method="min", ascending=False) <= CAPACITY,
    )
    model_only = marked[marked["in_model"] & ~marked["in_rules"]]
    shown = re.findall(r'<td class="txt">(L\d+)</td>', section.split("Rules high, model low")[0])
    assert shown and set(shown) <= set(model_only["lead_id"])
    reasons = model_only.set_index("lead_id").loc[shown[0], "reasons_positive"]
    assert isinstance(reasons, str) and reasons and reasons.split(";")[0].strip()[:20] in html.unescape(section)
    assert np.isfinite(model_only["p_sqo"]).all()


def test_only_leads_captured_after_the_models_training_data_are_judged(serving_world) -> None:
    sqo = serving_world.sqo
    trained_to = pd.Timestamp("2025-12-01T00:00:00Z")
    model = dataclasses.replace(sqo, model=dataclasses.replace(
        sqo.model, spec={**sqo.spec, "trained_on_captured_to": trained_to.isoformat()}))
    comparison = build_comparison(serving_world.tables, model, load_rules(None))
    captured = serving_world.tables.leads.set_index("lead_id")["captured_at"]
    assert len(comparison.frame) > 0
    assert (comparison.frame["lead_id"].map(captured) > trained_to).all()
    assert comparison.info["window"] == "leads captured after the model's training data"


def test_a_model_refit_on_everything_is_judged_on_its_stored_held_out_window(serving_world, tmp_path) -> None:
    sqo = serving_world.sqo
    leads = serving_world.tables.leads.iloc[:300]
    rng = np.random.default_rng(3)
    held_out = pd.DataFrame({
        "lead_id": leads["lead_id"].to_numpy(), "as_of": leads["captured_at"].to_numpy(),
        "label": rng.integers(0, 2, len(leads)), "p": rng.uniform(0, 1, len(leads)),
        "reasons_positive": "Current stage: SQL", "reasons_negative": "No activity yet",
    })
    model = dataclasses.replace(sqo, model=dataclasses.replace(
        sqo.model, held_out=held_out, spec={**sqo.spec, "refit": True,
                                             "trained_on_captured_to": serving_world.tables.data_end.isoformat()}))
    comparison = build_comparison(serving_world.tables, model, load_rules(None))
    frame = comparison.frame
    assert "own test window" in comparison.info["window"]
    assert list(frame["p_sqo"]) == list(held_out["p"]) and list(frame["sqo"]) == list(held_out["label"])
    assert frame["rule_score"].notna().all()  # the rules are scored on this export at each lead's moment
    # The same columns as a comparison scored live, so notebook 02 and the page read either alike.
    assert set(frame["rule_stage"]) <= {"MCL", "MEL", "MQL", "SQL"}
    assert (frame["reasons"] == "up: Current stage: SQL | down: No activity yet").all()
    page = write_report(serving_world.tables, tmp_path / "report.html", sqo_model=model, capacity=CAPACITY)
    assert "own test window" in page.read_text(encoding="utf-8")
