"""Input drift: thresholds that hold their false-alarm rate at any window size, and what moved in words."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.monitoring.drift import (
    FeatureWords,
    expected_shares,
    judge_drift,
    null_threshold,
    psi,
    smoothed_shares,
)
from leadscore.scorers.monitoring.reference import build_reference

SPEC = [{"name": "views", "kind": "numeric"}, {"name": "employees", "kind": "numeric"},
        {"name": "channel", "kind": "categorical"}, {"name": "capture_month", "kind": "categorical"}]
OFFSETS = (0, 7, 30)
SINCE = pd.Timestamp("2026-03-01T00:00:00Z")
WORDS = {"views": FeatureWords("Web page views in the last 30 days", "numeric", "web_visits")}


def _leads(n: int, rng: np.random.Generator, views_factor: float = 1.0, offsets: tuple[int, ...] = OFFSETS,
           months: tuple[str, ...] = ("January", "February", "March")) -> pd.DataFrame:
    """Leads at snapshot ages: page views grow with age, company size and channel do not."""
    offset = rng.choice(offsets, n)
    return pd.DataFrame({
        "offset_days": offset,
        "views": rng.poisson(views_factor * (0.5 + offset / 4.0)).astype(float),
        "employees": np.round(np.exp(rng.normal(5, 1.4, n))),
        "channel": rng.choice(["linkedin", "email", "facebook", "tiktok"], n, p=[0.45, 0.3, 0.2, 0.05]).astype(object),
        "capture_month": rng.choice(list(months), n).astype(object),
        "score": rng.beta(1, 12, n),
    })


@pytest.fixture(scope="module")
def reference():
    training = _leads(20_000, np.random.default_rng(0))
    return build_reference(training, SPEC, training["score"].to_numpy())


def _judge(reference, window: pd.DataFrame, seed: int = 0):
    slots = np.searchsorted(np.asarray(reference.offsets_days), window["offset_days"].to_numpy())
    return {row.feature: row for row in judge_drift(reference, window, slots, SINCE, WORDS, seed=seed)}


@pytest.mark.parametrize("n", [100, 500, 5000])
def test_an_unchanged_world_rarely_alarms_at_any_window_size(reference, n: int) -> None:
    rng = np.random.default_rng(n)
    tables = [_judge(reference, _leads(n, rng), seed=k) for k in range(40)]
    alarms = sum(any(row.alarm for row in table.values()) for table in tables)
    # 1% for the whole table: 40 unchanged windows allow 0.4 on average; 3 or more would be a 1% chance
    assert alarms <= 2


def test_the_fixed_cut_off_cries_wolf_on_small_windows_where_the_simulated_threshold_does_not(reference) -> None:
    rng = np.random.default_rng(11)
    sketch = reference.features["employees"]
    per_age = np.array([0, 100, 0])
    expected = expected_shares(sketch.counts, per_age)
    values = [float(psi(smoothed_shares(np.bincount(sketch.bin_of(_leads(100, rng, offsets=(7,))["employees"]),
                                                       minlength=sketch.n_bins)), expected)) for _ in range(200)]
    threshold = null_threshold(sketch.counts, per_age, 0.01, np.random.default_rng(0))
    assert np.mean(np.array(values) > 0.1) > 0.5
    assert np.mean(np.array(values) > threshold) < 0.05


def test_page_views_lost_by_a_tracking_change_alarm_and_are_said_in_the_catalogue_words(reference) -> None:
    table = _judge(reference, _leads(2000, np.random.default_rng(3), views_factor=0.2))
    assert table["views"].alarm and not table["employees"].alarm and not table["channel"].alarm
    assert table["views"].moved.startswith("Web page views in the last 30 days: fell by 8")
    assert "since 1 March 2026" in table["views"].moved and table["views"].story == "web_visits"


def test_a_window_of_older_leads_is_compared_with_training_snapshots_of_the_same_age(reference) -> None:
    old = _leads(3000, np.random.default_rng(4), offsets=(30,))
    assert not _judge(reference, old)["views"].alarm


def test_a_share_of_missing_values_that_jumps_is_said_as_missing() -> None:
    rng = np.random.default_rng(5)
    training = _leads(20_000, rng)
    reference = build_reference(training, SPEC, training["score"].to_numpy())
    window = _leads(2000, rng)
    window.loc[window.index[:800], "employees"] = np.nan
    row = _judge(reference, window)["employees"]
    assert row.alarm and row.moved.startswith("employees: missing for 40% of leads")


def test_a_category_whose_share_moved_is_named(reference) -> None:
    window = _leads(2000, np.random.default_rng(6))
    window.loc[window.index[:600], "channel"] = "tiktok"
    row = _judge(reference, window)["channel"]
    assert row.alarm and row.moved.startswith("channel: tiktok")


def test_the_capture_month_is_shown_never_judged(reference) -> None:
    row = _judge(reference, _leads(2000, np.random.default_rng(7), months=("June",)))["capture_month"]
    assert not row.judged and not row.alarm and row.psi > 1


def test_the_score_is_judged_beside_the_features(reference) -> None:
    window = _leads(2000, np.random.default_rng(8)).assign(score=lambda f: f["score"] / 2)
    row = _judge(reference, window)["score"]
    assert row.judged and row.alarm and "fell by" in row.moved


def test_values_training_never_held_are_named_when_they_move_a_feature(reference) -> None:
    window = _leads(2000, np.random.default_rng(9))
    window.loc[window.index[:500], "channel"] = "tiktok_ads"
    row = _judge(reference, window)["channel"]
    assert row.alarm and row.moved.startswith("channel: values the training data did not hold for 25% of leads")
    assert "(tiktok_ads 25%)" in row.moved
