"""Comparison with the generator's truth: joins on the reference snapshots, measures the gap to the oracle."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.training.oracle import compare_with_truth


def _world(n: int = 4000, seed: int = 0) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    lead = [f"L{i}" for i in range(n)]
    as_of = pd.Timestamp("2025-03-01", tz="UTC") + pd.to_timedelta(rng.integers(0, 60, n), unit="D")
    p_true = rng.beta(1, 12, n)
    label = (rng.random(n) < p_true).astype(int)
    scored = pd.DataFrame(
        {"lead_id": lead, "as_of": as_of, "label": label, "p_model": np.clip(p_true + rng.normal(0, 0.03, n), 0.001, 0.999)}
    )
    truth = pd.DataFrame({"lead_id": lead, "as_of": as_of, "p_sqo_true": p_true, "p_won_true": p_true / 3})
    return scored, truth


def test_oracle_auc_bounds_a_noisy_copy_of_the_truth() -> None:
    scored, truth = _world()
    result = compare_with_truth(scored, truth, "sqo")
    assert result["n_snapshots"] == len(scored)
    assert result["oracle_auc"] > result["model_auc"] > 0.5
    expected = np.abs(scored["p_model"] - truth["p_sqo_true"]).mean()
    assert result["mean_abs_error"] == pytest.approx(expected)


def test_only_matching_snapshots_with_a_known_truth_are_compared() -> None:
    scored, truth = _world()
    truth.loc[:99, "p_sqo_true"] = np.nan
    truth.loc[100:199, "as_of"] += pd.Timedelta(days=1)
    assert compare_with_truth(scored, truth, "sqo")["n_snapshots"] == len(scored) - 200


def test_no_overlap_with_the_reference_snapshots_is_a_clear_error() -> None:
    scored, truth = _world(50)
    truth["as_of"] += pd.Timedelta(hours=1)
    with pytest.raises(LeadscoreError, match="offsets_days"):
        compare_with_truth(scored, truth, "sqo")
