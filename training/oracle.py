"""How close a model gets to the truth, where the truth is known: generated data.

The demo generator records, for one reference snapshot per lead, the exact probability of the
outcome given everything it knows (``p_sqo_true`` / ``p_won_true``). On the test window's reference
snapshots, the AUC of those true probabilities is the ceiling any model can reach (the *oracle AUC*),
and ``mean |p - p_true|`` says how far the model's calibrated probabilities are from the real ones,
lead by lead, which ECE (an average over bins) cannot.

Only for generated data: real exports have no truth. Used by the slow end-to-end test and by
``bench/train.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.training.metrics import expected_calibration_error, roc_auc

TRUTH_COLUMNS = {"sqo": "p_sqo_true", "won": "p_won_true"}


def compare_with_truth(scored: pd.DataFrame, truth: pd.DataFrame, target: str) -> dict[str, float]:
    """Model, baselines and oracle on the test snapshots that are also the generator's reference snapshots.

    Parameters
    ----------
    scored
        Test-window snapshots with ``lead_id``, ``as_of``, ``label``, ``p_model`` and optionally
        the rival candidate's ``p_logistic`` or ``p_lightgbm`` and ``rule_score`` (``TrainedModels.scored``).
    truth
        The generator's reference snapshots: ``lead_id``, ``as_of`` and the true probability column
        of ``target``. A reference snapshot is compared only where the training set has a labelled
        row at exactly that as_of (so the training offsets must include the generator's snapshot day).

    Returns
    -------
    dict
        ``n_snapshots``, ``n_positive``, ``observed_rate``, ``mean_p``, ``mean_p_true``,
        ``model_auc``, ``oracle_auc``, the rival's ``logistic_auc`` or ``lightgbm_auc``, ``rules_auc``, ``mean_abs_error``
        (mean of |p − p_true|), ``oracle_ece`` (ECE of the truth itself: sampling noise floor).
    """
    column = TRUTH_COLUMNS.get(target)
    if column is None or column not in truth.columns:
        raise LeadscoreError(f"truth: no true-probability column for target {target!r}.")
    reference = truth.loc[truth[column].notna(), ["lead_id", "as_of", column]]
    reference = reference.assign(
        lead_id=reference["lead_id"].astype("str"), as_of=pd.to_datetime(reference["as_of"], utc=True)
    )
    joined = scored.merge(reference, on=["lead_id", "as_of"], how="inner", validate="one_to_one")
    if joined.empty:
        raise LeadscoreError(
            "truth: no test snapshot falls on a reference snapshot; include the generator's snapshot day in "
            "training_set.offsets_days."
        )
    label = joined["label"].to_numpy(dtype=float)
    p = joined["p_model"].to_numpy(dtype=float)
    p_true = joined[column].to_numpy(dtype=float)
    out = {
        "n_snapshots": float(len(joined)),
        "n_positive": float(label.sum()),
        "observed_rate": float(label.mean()),
        "mean_p": float(p.mean()),
        "mean_p_true": float(p_true.mean()),
        "model_auc": roc_auc(label, p),
        "oracle_auc": roc_auc(label, p_true),
        "mean_abs_error": float(np.abs(p - p_true).mean()),
        "oracle_ece": expected_calibration_error(label, p_true, 20),
    }
    for name, score_column in (("logistic_auc", "p_logistic"), ("lightgbm_auc", "p_lightgbm"), ("rules_auc", "rule_score")):
        if score_column in joined.columns:
            out[name] = roc_auc(label, joined[score_column].to_numpy(dtype=float))
    return out
