"""The leakage audit: each signal is shown by a planted column only that signal catches.

The export is a flat CSV read through a mapping file, as a user brings it. One latent quality drives the
outcome and an honest form answer; each other column is planted with one kind of leak: a code written
after the outcome (single-column AUC), a partner code mostly filled in for converted leads (missingness),
a page-view counter measured at the export (accumulation), a callback date after capture (after
capture), a last-activity snapshot and a rating (their names), an intent signal that alone beats every
column known at capture together, a monthly interest rate that tells only when a lead was captured, and a
data-collection window in which few deals were recorded (label drift, which drops the calendar features and
the interest rate). Whatever is not ok among the export's own columns is left
out by default, and the audit says how to vouch for it.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.training.audit import blocked_auc, columns_together_auc, single_column_auc

START = pd.Timestamp("2024-01-01T00:00:00Z")
RECORDED_FROM = pd.Timestamp("2024-05-01T00:00:00Z")
PLANTED = {  # column -> the one evidence key that catches it
    "Segment Code": "single_auc",
    "Partner Code": "missingness",
    "Page Views": "accumulation",
    "Callback On": "after_capture",
    "Last Activity": "post_contact_name",
    "Lead Rating": "post_contact_name",
    "Intent Signal": "capture_set_auc",
    "Interest Rate": "calendar_proxy",
}


def write_planted_export(folder: Path, n_leads: int = 4000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    captured = START + pd.to_timedelta(np.sort(rng.uniform(0, 365, n_leads)), unit="D")
    quality = rng.normal(size=n_leads)
    converted = rng.random(n_leads) < 1 / (1 + np.exp(-(-1.6 + 1.3 * quality)))
    won_at = captured + pd.Timedelta(days=20)
    # before it, few deals were recorded: a drift of the outcome rate over capture months (deals missing
    # altogether before a date would be outcome records that start late, which training leaves out)
    recorded = converted & ((captured >= RECORDED_FROM) | (np.random.default_rng(seed + 1).random(n_leads) < 0.1))
    age_at_export = (pd.Timestamp("2025-06-30T00:00:00Z") - captured).days.to_numpy()
    leads = pd.DataFrame({
        "id": [f"C{i:05d}" for i in range(n_leads)],
        "created": captured.strftime("%Y-%m-%d %H:%M:%S"),
        "Budget": np.round(quality + rng.normal(0, 2.0, n_leads), 2),
        "Segment Code": np.where(recorded, rng.choice(["Closed", "Won deal"], n_leads), rng.choice(["Lost", "Nurture"], n_leads)),
        "Partner Code": np.where(rng.random(n_leads) < np.where(recorded, 0.6, 0.15), rng.choice(["A", "B", "C"], n_leads), ""),
        "Page Views": rng.poisson(0.05 * age_at_export).astype(float),
        "Callback On": (captured + pd.to_timedelta(rng.uniform(1, 60, n_leads), unit="D")).strftime("%Y-%m-%d %H:%M:%S"),
        "Last Activity": rng.choice(["Email Opened", "Page Visited on Website", "Olark Chat Conversation"], n_leads),
        "Lead Rating": rng.choice(["Hot", "Warm", "Cold"], n_leads),
        "Intent Signal": np.round(1.25 * recorded + rng.normal(0, 1, n_leads), 2),
        "Interest Rate": np.round(3 + np.cumsum(rng.normal(0, 0.3, 13))[captured.month.to_numpy() - 1]
                                  + rng.normal(0, 0.01, n_leads), 3),
        "Won On": np.where(recorded, won_at.strftime("%Y-%m-%d %H:%M:%S"), ""),
    })
    folder.mkdir(parents=True)
    leads.to_csv(folder / "leads.csv", index=False)
    (folder / "mapping.yaml").write_text(
        "data_end: '2025-06-30T00:00:00Z'\n"
        "leads:\n  columns: {id: lead_id, created: captured_at}\n  constants: {channel: other}\n"
        "stage_history:\n  file: leads.csv\n  columns: {id: lead_id}\n  stage_dates: {WON: Won On}\n"
    )
    return folder


def audit(folder: Path, *extra: str) -> dict[str, dict]:
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", str(folder), "--mapping", str(folder / "mapping.yaml"), "--target", "won", "--json",
                     *extra]) == 0
    return {row["column"]: row for row in json.loads(out.getvalue())}


def with_mapping_line(folder: Path, target: Path, line: str) -> Path:
    """A copy of the planted export whose mapping adds ``line`` under ``leads``."""
    target.mkdir()
    (target / "leads.csv").write_bytes((folder / "leads.csv").read_bytes())
    (target / "mapping.yaml").write_text((folder / "mapping.yaml").read_text().replace(
        "  constants: {channel: other}\n", f"  constants: {{channel: other}}\n{line}"))
    return target


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    folder = write_planted_export(tmp_path_factory.mktemp("audit") / "export")
    return folder, audit(folder)


def fired(row: dict) -> set[str]:
    """The evidence keys whose signal fires for one audited column (thresholds of the shipped config)."""
    evidence, keys = row["evidence"], set()
    if evidence["single_auc"] is not None and evidence["single_auc"] >= 0.8:
        keys.add("single_auc")
    filled = evidence["missingness"]
    if filled["filled_when_converted"] >= 0.5 and filled["filled_when_converted"] - filled["filled_otherwise"] >= 0.3:
        keys.add("missingness")
    growth = evidence["accumulation"] or {}
    if growth and min(growth.values()) >= 0.25:
        keys.add("accumulation")
    if (evidence["after_capture"] or 0) > 0.5:
        keys.add("after_capture")
    if evidence["post_contact_name"]:
        keys.add("post_contact_name")
    if evidence["capture_set_auc"] is not None and evidence["single_auc"] - evidence["capture_set_auc"] >= 0.1:
        keys.add("capture_set_auc")
    if (evidence["calendar_proxy"] or 0) >= 0.8:
        keys.add("calendar_proxy")
    return keys


def test_the_json_has_one_object_per_candidate_with_verdict_evidence_and_why(planted) -> None:
    _, rows = planted
    assert {"Budget", *PLANTED, "capture_month", "capture_weekday", "lead_age_days"} <= set(rows)
    for row in rows.values():
        assert row["verdict"] in ("ok", "suspicious", "leaky") and row["why"].endswith(".")
        assert {"single_auc", "missingness", "accumulation", "after_capture", "post_contact_name",
                "capture_set_auc", "calendar_proxy"} <= set(row["evidence"])


@pytest.mark.parametrize("column", list(PLANTED))
def test_each_planted_column_is_caught_by_its_own_signal_alone_and_left_out(planted, column: str) -> None:
    _, rows = planted
    row = rows[column]
    assert fired(row) == {PLANTED[column]}, row
    assert row["verdict"] in ("suspicious", "leaky") and not row["used"]
    assert row["vouch"] == f"leads.features.known_at_capture: [{column}]"


def test_an_honest_form_answer_is_ok_and_used(planted) -> None:
    _, rows = planted
    budget = rows["Budget"]
    assert budget["verdict"] == "ok" and budget["used"] and fired(budget) == set() and budget["vouch"] is None
    assert 0.55 < budget["evidence"]["single_auc"] < 0.75


def test_a_code_written_after_the_outcome_is_leaky_by_its_single_column_auc(planted) -> None:
    _, rows = planted
    code = rows["Segment Code"]
    assert code["verdict"] == "leaky" and code["evidence"]["single_auc"] >= 0.9 and "almost perfectly" in code["why"]


def test_a_field_filled_in_for_converted_leads_is_left_out_as_suspicious(planted) -> None:
    _, rows = planted
    partner = rows["Partner Code"]
    assert partner["verdict"] == "suspicious"
    assert partner["evidence"]["single_auc"] < 0.8  # its values say nothing: only whether it is filled in does
    assert "filled in for" in partner["why"]


def test_a_counter_measured_at_the_export_is_leaky_by_accumulation(planted) -> None:
    _, rows = planted
    views = rows["Page Views"]
    assert views["verdict"] == "leaky"
    assert views["evidence"]["single_auc"] < 0.8  # at capture it predicts little: it grows with age
    assert "grows with the lead's age" in views["why"]


def test_a_date_written_after_capture_is_leaky(planted) -> None:
    _, rows = planted
    assert rows["Callback On"]["verdict"] == "leaky" and rows["Callback On"]["evidence"]["after_capture"] == 1.0


def test_an_activity_snapshot_and_a_rating_are_left_out_by_their_names(planted) -> None:
    _, rows = planted
    assert rows["Last Activity"]["evidence"]["post_contact_name"] == "the latest activity or status"
    assert rows["Lead Rating"]["evidence"]["post_contact_name"] == "a score or grade the company assigns"
    for column in ("Last Activity", "Lead Rating"):
        assert rows[column]["verdict"] == "suspicious" and "Its name says" in rows[column]["why"]
        assert abs(rows[column]["evidence"]["single_auc"] - 0.5) < 0.05  # random values: only the name tells


def test_a_column_far_above_the_columns_known_at_capture_together_is_left_out(planted) -> None:
    _, rows = planted
    intent = rows["Intent Signal"]["evidence"]
    assert 0.75 <= intent["single_auc"] < 0.8  # below the single-AUC thresholds
    assert intent["single_auc"] - intent["capture_set_auc"] >= 0.1
    assert "every column known at capture together" in rows["Intent Signal"]["why"]


def test_label_drift_over_capture_months_drops_the_calendar_features(planted) -> None:
    _, rows = planted
    for feature in ("capture_month", "capture_weekday"):
        assert rows[feature]["verdict"] == "suspicious" and not rows[feature]["used"]
        assert rows[feature]["evidence"]["label_drift"] >= 0.1 and "capture month" in rows[feature]["why"]
        assert rows[feature]["vouch"] == f'leads.features.calendar_causes: {{{feature}: "<why the calendar matters>"}}'


def test_a_column_the_capture_month_tells_is_left_out_like_a_calendar_feature_under_drift(planted) -> None:
    _, rows = planted
    rate = rows["Interest Rate"]
    assert rate["evidence"]["calendar_proxy"] >= 0.95 and rate["verdict"] == "suspicious"
    assert "like a calendar feature" in rate["why"]
    assert rows["Budget"]["evidence"]["calendar_proxy"] < 0.05


def test_a_column_constant_at_capture_scores_one_half_although_the_outcome_drifts(planted) -> None:
    # Every lead is 0 days old at capture; the outcome rate jumps when deals start being recorded, which a
    # pooled AUC over the blocks' different priors would read as signal.
    _, rows = planted
    assert rows["lead_age_days"]["evidence"]["single_auc"] == 0.5


def test_single_column_evidence_is_taken_within_time_blocks() -> None:
    rng = np.random.default_rng(3)
    blocks = np.repeat(np.arange(5), 400)
    label = (rng.random(2000) < np.repeat([0.05, 0.1, 0.2, 0.4, 0.6], 400)).astype(float)
    constant = pd.Series(np.ones(2000))
    assert single_column_auc(constant, "numeric", label, blocks) == 0.5
    assert columns_together_auc([(constant, "numeric")], label, blocks) == 0.5
    # pooled over the blocks the same scores would rank by the blocks' outcome rates
    scores = np.repeat([np.nan, 0.05, 0.1, 0.2, 0.4], 400)
    assert blocked_auc(label, scores, blocks) == 0.5
    informative = pd.Series(label + rng.normal(0, 1, 2000))
    assert single_column_auc(informative, "numeric", label, blocks) > 0.65


def test_a_column_the_user_vouches_for_is_kept_though_leaky(planted, tmp_path) -> None:
    folder, _ = planted
    vouched = with_mapping_line(folder, tmp_path / "export",
                                "  features: {known_at_capture: [Segment Code, Lead Rating]}\n")
    rows = audit(vouched)
    for column in ("Segment Code", "Lead Rating"):
        assert rows[column]["verdict"] != "ok" and rows[column]["used"] and "vouches" in rows[column]["why"]
        assert rows[column]["vouch"] is None
    assert not rows["Partner Code"]["used"]


def test_a_calendar_feature_with_a_stated_cause_is_kept_and_its_cause_recorded(planted, tmp_path) -> None:
    folder, _ = planted
    cause = "Schools enrol in September: leads captured over the summer buy sooner."
    stated = with_mapping_line(folder, tmp_path / "export",
                               f"  features:\n    calendar_causes: {{capture_month: \"{cause}\"}}\n")
    rows = audit(stated)
    assert rows["capture_month"]["used"] and cause in rows["capture_month"]["why"]
    assert not rows["capture_weekday"]["used"]  # no cause stated for it


def test_the_text_audit_prints_the_evidence_and_the_mapping_lines_that_vouch(planted) -> None:
    folder, _ = planted
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["audit", str(folder), "--mapping", str(folder / "mapping.yaml"), "--target", "won"]) == 0
    text = out.getvalue()
    assert re.search(r"SUSPICIOUS Partner Code \(export, left out; single AUC 0\.\d\d, filled \d+% converted / \d+% others\)",
                     text)
    assert "    leads:\n      features:\n        known_at_capture: [" in text
    listed = text.split("known_at_capture: [")[1].split("]")[0]
    assert {c.strip() for c in listed.split(",")} == set(PLANTED)
    assert '        calendar_causes:\n          capture_weekday: "<why' in text


def test_training_leaves_out_what_the_audit_left_out_and_the_spec_keeps_fill_shares_and_calendar_causes(
        planted, tmp_path, monkeypatch) -> None:
    folder, _ = planted
    cause = "Schools enrol in September: leads captured over the summer buy sooner."
    stated = with_mapping_line(folder, tmp_path / "export", f"  features:\n    calendar_causes: {{capture_month: \"{cause}\"}}\n")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = tmp_path / "train.yaml"
    config.write_text("lightgbm: {num_threads: 1}\nevaluation: {n_bootstrap: 20}\nmodel: {refit: false}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", str(stated), "--mapping", str(stated / "mapping.yaml"), "--target", "won",
                     "--config", str(config)]) == 0
    text = out.getvalue()
    assert "LEAKY      Segment Code" in text and "left out" in text
    from leadscore.serving.loading import load_scoring_model
    from leadscore.tracking import configure_tracking

    configure_tracking(tmp_path)
    model = load_scoring_model("models:/leadscore-won/1")
    spec = {f.get("source", {}).get("column", f["name"]): f for f in model.spec_features}
    assert set(PLANTED).isdisjoint(spec) and "capture_weekday" not in spec
    assert spec["Budget"]["filled_share"] == 1.0
    assert spec["capture_month"]["calendar_cause"] == cause
    assert all("calendar_cause" not in f for name, f in spec.items() if name != "capture_month")
