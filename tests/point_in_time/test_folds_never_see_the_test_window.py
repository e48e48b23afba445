"""Rolling-origin folds are point-in-time correct: no choice sees the test window, no fold sees its own future.

Shown the way the feature tests show it: rewriting what a step must not see (the test window's labels and
features; the blocks after a fold's) changes nothing that step produced.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.training.config import config_from_dict
from leadscore.training.split import split_by_time
from leadscore.training.stage import fit_stage

HORIZON_DAYS = 30
CONFIG = config_from_dict({"lightgbm": {"num_threads": 1, "max_trees": 60}, "split": {"plan": "test_gap"}})
FEATURES = [{"name": f"x{j}", "kind": "numeric", "group": "fit", "story": f"x{j}"} for j in range(4)] + [
    {"name": "tier", "kind": "categorical", "group": "fit", "story": "tier"}]


def world(n_leads: int = 1500, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2024-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 600, n_leads)), unit="D")
    X = rng.normal(size=(n_leads, 4))
    tier = rng.choice(["a", "b", "c"], n_leads)
    logit = -1.5 + X @ np.array([0.8, -0.5, 0.3, 0.0]) + np.where(tier == "a", 0.7, 0.0)
    rows = pd.DataFrame({"lead_id": [f"L{i:05d}" for i in range(n_leads)], "as_of": captured, "offset_days": 0,
                         "captured_at": captured, "label": (rng.random(n_leads) < 1 / (1 + np.exp(-logit))).astype("int8"),
                         "tier": tier})
    for j in range(4):
        rows[f"x{j}"] = X[:, j]
    return rows


def rewrite(rows: pd.DataFrame, which: np.ndarray, seed: int) -> pd.DataFrame:
    """The same rows with the outcomes and features of ``which`` replaced by noise (and a category never seen)."""
    rng = np.random.default_rng(seed)
    out = rows.copy()
    out.loc[which, "label"] = rng.integers(0, 2, int(which.sum())).astype("int8")
    for j in range(4):
        out.loc[which, f"x{j}"] = rng.normal(5, 3, int(which.sum()))
    out.loc[which, "tier"] = "from the future"
    return out


def choices(stage) -> dict:
    """Everything a stage chose over the folds, as comparable values."""
    return {
        "kind": stage.kind,
        "n_trees": stage.n_trees,
        **{f"{kind}.calibration": fit.calibration for kind, fit in stage.kinds.items()},
        **{f"{kind}.oof": np.nan_to_num(np.round(fit.oof_margin, 12), nan=-999.0).tolist()
           for kind, fit in stage.kinds.items()},
        **{f"{kind}.lead_log_loss": fit.lead_log_loss.round(12).to_dict() for kind, fit in stage.kinds.items()},
    }


def test_no_choice_made_over_the_folds_sees_the_test_window() -> None:
    rows = world()
    split = split_by_time(rows, HORIZON_DAYS, CONFIG.split)
    test_leads = split.test["lead_id"]
    poisoned = rewrite(rows, rows["lead_id"].isin(test_leads).to_numpy(), seed=1)
    again = split_by_time(poisoned, HORIZON_DAYS, CONFIG.split)
    assert again.test["lead_id"].tolist() == test_leads.tolist()  # the same blocks: capture times are unchanged
    before = fit_stage("SQO", split.development, split.folds, FEATURES, CONFIG)
    after = fit_stage("SQO", again.development, again.folds, FEATURES, CONFIG)
    assert choices(before) == choices(after)
    sample = split.development.head(300)
    for kind in before.kinds:  # the development models too: fitted on the development rows alone
        np.testing.assert_array_equal(before.p(sample, kind), after.p(sample, kind))
    assert "from the future" not in next(f for f in before.model.spec_features if f["name"] == "tier")["categories"]


def test_each_fold_predicts_its_block_from_the_past_alone() -> None:
    rows = world(seed=2)
    split = split_by_time(rows, HORIZON_DAYS, CONFIG.split)
    development = split.development
    base = fit_stage("SQO", development, split.folds, FEATURES, CONFIG)
    for k in split.folds.numbers[:-1]:
        # rewrite every block after fold k: fold k's out-of-fold logistic margins cannot move (its trees can:
        # their number is chosen over all folds together, on out-of-fold losses only)
        later = (development["fold"] > k).to_numpy()
        changed = development.copy()
        changed.loc[later] = rewrite(development, later, seed=k).loc[later]
        stage = fit_stage("SQO", changed, split.folds, FEATURES, CONFIG)
        block = (development["fold"] == k).to_numpy()
        np.testing.assert_array_equal(stage.kinds["logistic"].oof_margin[block], base.kinds["logistic"].oof_margin[block])
