"""Time split: one block per lead, blocks in capture order, folds that never see the test window or their own future."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.training.config import SplitConfig
from leadscore.training.split import TEST_FOLD, split_by_time

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
def split():
    rows = make_snapshots()
    return rows, split_by_time(rows, HORIZON_DAYS, SplitConfig())


def test_every_lead_lives_in_exactly_one_block(split) -> None:
    _, result = split
    assert (result.rows.groupby("lead_id")["fold"].nunique() == 1).all()
    assert set(result.rows["window"]) == {"train", "test"}
    assert ((result.rows["fold"] == TEST_FOLD) == (result.rows["window"] == "test")).all()


def test_blocks_follow_capture_time_oldest_first_and_the_test_window_is_newest(split) -> None:
    _, result = split
    order = [*sorted(f for f in result.rows["fold"].unique() if f >= 0), TEST_FOLD]
    ranges = result.rows.groupby("fold")["captured_at"].agg(["min", "max"]).loc[order]
    assert (ranges["max"].iloc[:-1].to_numpy() < ranges["min"].iloc[1:].to_numpy()).all()
    assert result.summary["window"].tolist() == ["first", "fold_1", "fold_2", "fold_3", "fold_4", "test"]


def test_every_label_before_the_test_window_was_known_when_it_began(split) -> None:
    _, result = split
    rows = result.rows
    label_end = rows.loc[rows["window"] != "test", "as_of"].max() + pd.Timedelta(days=HORIZON_DAYS)
    assert label_end <= rows.loc[rows["window"] == "test", "as_of"].min()


def test_no_fold_learns_from_the_test_window_its_own_block_or_anything_after_it(split) -> None:
    _, result = split
    rows, folds = result.rows, result.folds
    assert folds.numbers == [1, 2, 3, 4]
    for k in folds.numbers:
        learnt = rows[folds.training(rows, k)]
        judged = rows[folds.validation(rows, k)]
        assert not learnt["window"].eq("test").any() and not judged["window"].eq("test").any()
        assert set(learnt["lead_id"]).isdisjoint(judged["lead_id"])
        # expanding window: every lead it learns from was captured, and its snapshot taken, before the block began
        assert learnt["captured_at"].max() < judged["captured_at"].min()
        assert learnt["as_of"].max() + folds.gap <= folds.starts[k] <= judged["captured_at"].min()
    # the folds learn from ever more of the past
    sizes = [int(folds.training(rows, k).sum()) for k in folds.numbers]
    assert sizes == sorted(sizes) and sizes[0] > 0


def test_strict_gaps_keep_every_folds_labels_out_of_the_block_it_predicts() -> None:
    result = split_by_time(make_snapshots(), HORIZON_DAYS, SplitConfig(plan="strict"))
    rows, folds = result.rows, result.folds
    assert folds.gap == pd.Timedelta(days=HORIZON_DAYS)
    for k in folds.numbers:
        label_end = rows.loc[folds.training(rows, k), "as_of"].max() + pd.Timedelta(days=HORIZON_DAYS)
        assert label_end <= rows.loc[folds.validation(rows, k), "as_of"].min()


def test_every_input_row_is_kept_or_counted_as_dropped(split) -> None:
    rows, result = split
    summary = result.summary
    assert summary["n_rows"].sum() == len(result.rows)
    assert summary["n_rows"].sum() + summary["n_rows_dropped_by_gap"].sum() == len(rows)
    assert summary.loc[summary["window"] == "test", "n_rows_dropped_by_gap"].item() == 0


def test_test_window_holds_its_share_of_the_leads(split) -> None:
    rows, result = split
    share = result.test["lead_id"].nunique() / rows["lead_id"].nunique()
    assert share == pytest.approx(SplitConfig().test_fraction, abs=0.01)


def test_split_does_not_depend_on_row_order(split) -> None:
    rows, result = split
    shuffled = split_by_time(rows.sample(frac=1.0, random_state=3), HORIZON_DAYS, SplitConfig())
    key = ["lead_id", "as_of"]
    pd.testing.assert_frame_equal(
        result.rows.sort_values(key, ignore_index=True), shuffled.rows.sort_values(key, ignore_index=True)
    )


def test_a_longer_gap_drops_more_rows_but_keeps_the_rule() -> None:
    rows = make_snapshots()
    short = split_by_time(rows, HORIZON_DAYS, SplitConfig(plan="test_gap")).summary
    result = split_by_time(rows, HORIZON_DAYS, SplitConfig(plan="test_gap", extra_gap_days=10))
    assert result.summary["n_rows_dropped_by_gap"].sum() > short["n_rows_dropped_by_gap"].sum()
    dev_end = result.development["as_of"].max() + pd.Timedelta(days=HORIZON_DAYS + 10)
    assert dev_end <= result.test["as_of"].min()
    assert result.folds.gap == pd.Timedelta(days=10)


def test_history_shorter_than_the_gaps_is_a_clear_error() -> None:
    rows = make_snapshots(days=60)
    with pytest.raises(LeadscoreError, match="positive lead"):
        split_by_time(rows, 200, SplitConfig(plan="strict"))


def test_missing_capture_time_is_a_clear_error() -> None:
    rows = make_snapshots().drop(columns="captured_at")
    with pytest.raises(LeadscoreError, match="captured_at"):
        split_by_time(rows, HORIZON_DAYS, SplitConfig())


def test_the_strictest_plan_the_data_allows_is_used_and_said() -> None:
    rows = make_snapshots(days=400)
    long_history = split_by_time(rows, HORIZON_DAYS, SplitConfig()).summary
    assert long_history.attrs["plan"] == "strict" and long_history.attrs["why"] == "the strictest plan"
    short_history = split_by_time(rows, 120, SplitConfig()).summary  # a horizon of a third of the history
    # folds without a horizon gap between them cost little, so a horizon gap before the test window stays
    assert short_history.attrs["plan"] == "test_gap" and "rejected strict" in short_history.attrs["why"]


def test_short_data_gets_fewer_folds_and_says_so() -> None:
    rows = make_snapshots(n_leads=120, days=400, seed=4)
    rows["label"] = 0
    positives = rows["lead_id"].isin([f"L{i}" for i in range(0, 120, 6)])  # 20 positive leads
    rows.loc[positives, "label"] = 1
    result = split_by_time(rows, HORIZON_DAYS, SplitConfig(plan="no_gap", min_positives=3))
    assert 1 <= result.summary.attrs["n_folds"] < 4
    assert "fewer than the 4 configured" in result.summary.attrs["plan_description"]


def test_a_configured_plan_is_kept_even_when_looser_plans_would_fit() -> None:
    rows = make_snapshots(days=400)
    summary = split_by_time(rows, HORIZON_DAYS, SplitConfig(plan="test_gap")).summary
    assert summary.attrs["plan"] == "test_gap" and "before the test window (configured)" in summary.attrs["plan_description"]


def test_too_few_positives_for_any_plan_names_how_many_there_are_and_where() -> None:
    rows = make_snapshots(days=400)
    rows["label"] = 0
    lucky = rows["lead_id"].isin(["L1", "L2", "L3"])
    rows.loc[lucky, "label"] = 1
    with pytest.raises(LeadscoreError, match=r"3 positive lead\(s\) among 400 labelled leads, captured 2024-.* to 2024-"):
        split_by_time(rows, HORIZON_DAYS, SplitConfig())
