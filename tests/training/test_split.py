"""Time split: one window per lead, windows in capture order, label horizons never reach the next window."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.training.config import SplitConfig
from leadscore.training.split import WINDOWS, split_by_time

HORIZON_DAYS = 30


def make_snapshots(n_leads: int = 400, days: int = 400, seed: int = 0) -> pd.DataFrame:
    """Leads captured uniformly over ``days`` with snapshots at 0, 7 and 20 days after capture."""
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(rng.uniform(0, days, n_leads), unit="D")
    parts = []
    for offset in (0, 7, 20):
        parts.append(
            pd.DataFrame(
                {
                    "lead_id": [f"L{i}" for i in range(n_leads)],
                    "as_of": captured + pd.Timedelta(days=offset),
                    "offset_days": offset,
                    "captured_at": captured,
                    "label": rng.integers(0, 2, n_leads).astype("int8"),
                }
            )
        )
    return pd.concat(parts, ignore_index=True)


@pytest.fixture(scope="module")
def split() -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    rows = make_snapshots()
    out, summary = split_by_time(rows, HORIZON_DAYS, SplitConfig())
    return rows, out, summary


def test_every_lead_lives_in_exactly_one_window(split) -> None:
    _, out, _ = split
    assert (out.groupby("lead_id")["window"].nunique() == 1).all()


def test_windows_follow_capture_time_oldest_first(split) -> None:
    _, out, _ = split
    ranges = out.groupby("window")["captured_at"].agg(["min", "max"]).loc[list(WINDOWS)]
    assert (ranges["max"].iloc[:-1].to_numpy() < ranges["min"].iloc[1:].to_numpy()).all()


def test_every_label_before_the_test_window_was_known_when_it_began(split) -> None:
    _, out, _ = split
    label_end = out.loc[out["window"] != "test", "as_of"].max() + pd.Timedelta(days=HORIZON_DAYS)
    assert label_end <= out.loc[out["window"] == "test", "as_of"].min()


def test_as_of_ranges_of_consecutive_windows_do_not_overlap(split) -> None:
    _, out, _ = split
    for earlier, later in zip(WINDOWS[:-1], WINDOWS[1:], strict=True):
        assert out.loc[out["window"] == earlier, "as_of"].max() <= out.loc[out["window"] == later, "as_of"].min()


def test_strict_gaps_keep_every_windows_labels_out_of_the_next() -> None:
    out, _ = split_by_time(make_snapshots(), HORIZON_DAYS, SplitConfig(horizon_gap_before=("validation", "calibration", "test")))
    for earlier, later in zip(WINDOWS[:-1], WINDOWS[1:], strict=True):
        label_end = out.loc[out["window"] == earlier, "as_of"].max() + pd.Timedelta(days=HORIZON_DAYS)
        assert label_end <= out.loc[out["window"] == later, "as_of"].min()


def test_every_input_row_is_kept_or_counted_as_dropped(split) -> None:
    rows, out, summary = split
    assert summary["n_rows"].sum() == len(out)
    assert summary["n_rows"].sum() + summary["n_rows_dropped_by_gap"].sum() == len(rows)
    assert summary.loc[summary["window"] == "test", "n_rows_dropped_by_gap"].item() == 0


def test_test_window_holds_its_share_of_the_leads(split) -> None:
    rows, out, _ = split
    share = out.loc[out["window"] == "test", "lead_id"].nunique() / rows["lead_id"].nunique()
    assert share == pytest.approx(SplitConfig().test_fraction, abs=0.01)


def test_split_does_not_depend_on_row_order(split) -> None:
    rows, out, _ = split
    shuffled, _ = split_by_time(rows.sample(frac=1.0, random_state=3), HORIZON_DAYS, SplitConfig())
    key = ["lead_id", "as_of"]
    pd.testing.assert_frame_equal(
        out.sort_values(key, ignore_index=True), shuffled.sort_values(key, ignore_index=True)
    )


def test_a_longer_gap_drops_more_rows_but_keeps_the_rule() -> None:
    rows = make_snapshots()
    _, short = split_by_time(rows, HORIZON_DAYS, SplitConfig(horizon_gap_before=("test",)))
    out, long = split_by_time(rows, HORIZON_DAYS, SplitConfig(horizon_gap_before=("test",), extra_gap_days=10))
    assert long["n_rows_dropped_by_gap"].sum() > short["n_rows_dropped_by_gap"].sum()
    train_end = out.loc[out["window"] == "train", "as_of"].max() + pd.Timedelta(days=10)
    assert train_end <= out.loc[out["window"] == "validation", "as_of"].min()
    calibration_end = out.loc[out["window"] == "calibration", "as_of"].max() + pd.Timedelta(days=HORIZON_DAYS + 10)
    assert calibration_end <= out.loc[out["window"] == "test", "as_of"].min()


def test_history_shorter_than_the_gaps_is_a_clear_error() -> None:
    rows = make_snapshots(days=60)
    with pytest.raises(LeadscoreError, match="window"):
        split_by_time(rows, 200, SplitConfig(horizon_gap_before=("validation", "calibration", "test")))


def test_missing_capture_time_is_a_clear_error() -> None:
    rows = make_snapshots().drop(columns="captured_at")
    with pytest.raises(LeadscoreError, match="captured_at"):
        split_by_time(rows, HORIZON_DAYS, SplitConfig())


def test_the_strictest_plan_the_data_allows_is_used_and_said() -> None:
    rows = make_snapshots(days=400)
    _, long_history = split_by_time(rows, HORIZON_DAYS, SplitConfig())
    assert long_history.attrs["plan"] == "strict" and long_history.attrs["why"] == "the strictest plan"
    _, short_history = split_by_time(rows, 120, SplitConfig())  # a horizon of a third of the history
    assert short_history.attrs["plan"] in ("half_gap", "no_gap")
    assert "rejected strict" in short_history.attrs["why"] and "120-day" not in short_history.attrs["plan_description"]


def test_a_configured_gap_is_kept_even_when_looser_plans_would_fit() -> None:
    rows = make_snapshots(days=400)
    _, summary = split_by_time(rows, HORIZON_DAYS, SplitConfig(horizon_gap_before=("test",)))
    assert summary.attrs["plan"] == "configured" and "before test (configured)" in summary.attrs["plan_description"]


def test_too_few_positives_for_any_plan_names_how_many_there_are_and_where() -> None:
    rows = make_snapshots(days=400)
    rows["label"] = 0
    lucky = rows["lead_id"].isin(["L1", "L2", "L3"])
    rows.loc[lucky, "label"] = 1
    with pytest.raises(LeadscoreError, match=r"3 positive lead\(s\) among 400 labelled leads, captured 2024-.* to 2024-"):
        split_by_time(rows, HORIZON_DAYS, SplitConfig())
