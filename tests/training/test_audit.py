"""The leakage audit: each signal is shown by a planted column only that signal catches.

The export is a flat CSV read through a mapping file, as a user brings it. One latent quality drives the
outcome and an honest form answer; each other column is planted with one kind of leak: a status written
after the outcome (single-column AUC), a rating mostly filled in for converted leads (missingness), a
page-view counter measured at the export (accumulation), a call date after capture (after capture), and
a data-collection window in which few deals were recorded (label drift, which drops capture_month).
"""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main

START = pd.Timestamp("2024-01-01T00:00:00Z")
RECORDED_FROM = pd.Timestamp("2024-05-01T00:00:00Z")


def write_planted_export(folder: Path, n_leads: int = 4000, seed: int = 0) -> Path:
    rng = np.random.default_rng(seed)
    captured = START + pd.to_timedelta(np.sort(rng.uniform(0, 365, n_leads)), unit="D")
    quality = rng.normal(size=n_leads)
    converted = rng.random(n_leads) < 1 / (1 + np.exp(-(-1.6 + 1.3 * quality)))
    won_at = captured + pd.Timedelta(days=20)
    # before it, few deals were recorded (a drift of the outcome rate over capture months; deals missing
    # altogether before a date would be outcome records that start late, which training leaves out)
    recorded = converted & ((captured >= RECORDED_FROM) | (rng.random(n_leads) < 0.1))
    age_at_export = (pd.Timestamp("2025-06-30T00:00:00Z") - captured).days.to_numpy()
    leads = pd.DataFrame({
        "id": [f"C{i:05d}" for i in range(n_leads)],
        "created": captured.strftime("%Y-%m-%d %H:%M:%S"),
        "Fit Score": np.round(quality + rng.normal(0, 0.8, n_leads), 2),
        "Status": np.where(recorded, rng.choice(["Closed", "Won deal"], n_leads), rng.choice(["Lost", "Nurture"], n_leads)),
        "Rating": np.where(rng.random(n_leads) < np.where(recorded, 0.55, 0.15), rng.choice(["A", "B", "C"], n_leads), ""),
        "Page Views": rng.poisson(0.05 * age_at_export).astype(float),
        "Last Call": (captured + pd.to_timedelta(rng.uniform(1, 60, n_leads), unit="D")).strftime("%Y-%m-%d %H:%M:%S"),
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


@pytest.fixture(scope="module")
def planted(tmp_path_factory) -> tuple[Path, dict[str, dict]]:
    folder = write_planted_export(tmp_path_factory.mktemp("audit") / "export")
    return folder, audit(folder)


def test_the_json_has_one_object_per_candidate_with_verdict_evidence_and_why(planted) -> None:
    _, rows = planted
    assert {"Fit Score", "Status", "Rating", "Page Views", "Last Call", "capture_month", "lead_age_days"} <= set(rows)
    for row in rows.values():
        assert row["verdict"] in ("ok", "suspicious", "leaky") and row["why"].endswith(".")
        assert {"single_auc", "missingness", "accumulation", "after_capture"} <= set(row["evidence"])


def test_an_honest_form_answer_is_ok(planted) -> None:
    _, rows = planted
    assert rows["Fit Score"]["verdict"] == "ok" and rows["Fit Score"]["used"]
    assert 0.6 < rows["Fit Score"]["evidence"]["single_auc"] < 0.8


def test_a_status_written_after_the_outcome_is_leaky_by_its_single_column_auc(planted) -> None:
    _, rows = planted
    status = rows["Status"]
    assert status["verdict"] == "leaky" and not status["used"]
    assert status["evidence"]["single_auc"] >= 0.9 and "almost perfectly" in status["why"]


def test_a_rating_filled_in_for_converted_leads_is_suspicious_by_missingness(planted) -> None:
    _, rows = planted
    rating = rows["Rating"]
    assert rating["verdict"] == "suspicious" and rating["used"]
    assert rating["evidence"]["single_auc"] < 0.8  # its values say nothing: only whether it is filled in does
    assert rating["evidence"]["missingness"]["filled_when_converted"] - rating["evidence"]["missingness"]["filled_otherwise"] >= 0.3
    assert "filled in" in rating["why"]


def test_a_counter_measured_at_the_export_is_leaky_by_accumulation(planted) -> None:
    _, rows = planted
    views = rows["Page Views"]
    assert views["verdict"] == "leaky" and not views["used"]
    assert views["evidence"]["single_auc"] < 0.8  # at capture it predicts little: it grows with age
    assert min(views["evidence"]["accumulation"].values()) >= 0.3 and "grows with the lead's age" in views["why"]


def test_a_date_written_after_capture_is_leaky(planted) -> None:
    _, rows = planted
    call = rows["Last Call"]
    assert call["verdict"] == "leaky" and call["evidence"]["after_capture"] == 1.0


def test_label_drift_over_capture_months_drops_the_calendar_feature(planted) -> None:
    _, rows = planted
    month = rows["capture_month"]
    assert month["verdict"] == "suspicious" and not month["used"]
    assert month["evidence"]["label_drift"] >= 0.1 and "capture month" in month["why"]


def test_a_column_the_user_vouches_for_is_kept_though_leaky(planted, tmp_path) -> None:
    folder, _ = planted
    vouched = tmp_path / "export"
    vouched.mkdir()
    (vouched / "leads.csv").write_bytes((folder / "leads.csv").read_bytes())
    (vouched / "mapping.yaml").write_text((folder / "mapping.yaml").read_text().replace(
        "  constants: {channel: other}\n", "  constants: {channel: other}\n  features: {known_at_capture: [Status]}\n"))
    status = audit(vouched)["Status"]
    assert status["verdict"] == "leaky" and status["used"] and "vouches" in status["why"]


def test_training_leaves_the_leaky_columns_out_of_the_model(planted, tmp_path, monkeypatch) -> None:
    folder, _ = planted
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'mlflow.db'}")
    config = tmp_path / "train.yaml"
    config.write_text("lightgbm: {num_threads: 1}\nevaluation: {n_bootstrap: 20}\nmodel: {refit: false}\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        assert main(["train", str(folder), "--mapping", str(folder / "mapping.yaml"), "--target", "won",
                     "--config", str(config)]) == 0
    text = out.getvalue()
    assert "LEAKY      Status" in text and "left out" in text
    from leadscore.serving.loading import load_scoring_model
    from leadscore.tracking import configure_tracking

    configure_tracking(tmp_path)
    model = load_scoring_model("models:/leadscore-won/1")
    used = {f.get("source", {}).get("column", f["name"]) for f in model.spec_features}
    assert {"Status", "Page Views", "Last Call", "capture_month"}.isdisjoint(used)
    assert {"Fit Score", "Rating"} <= used
