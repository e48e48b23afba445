"""Input drift in the latest window of scored leads, against the model's training reference.

The window is the last ``window_days`` (30 by default) of ``as_of`` among the scores of the model
version in use. Each lead counts once, with its latest score in the window made at one of the snapshot
ages training learnt from (:meth:`~leadscore.scorers.monitoring.reference.TrainingReference.offset_slot`:
the offset itself, up to a day later), so the comparison is age for age; scores at other ages are left
out and counted. The table itself, the thresholds and the sentences are
:func:`leadscore.scorers.monitoring.drift.judge_drift`'s.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.tables import Tables
from leadscore.scorers.model.reasons import description_subject, feature_words
from leadscore.scorers.monitoring.drift import ALPHA, FeatureDrift, FeatureWords, judge_drift
from leadscore.scorers.monitoring.reference import SCORE, TrainingReference
from leadscore.serving.monitor.cohorts import age_days

WINDOW_DAYS = 30


@dataclass(frozen=True)
class DriftWindow:
    """The drift table of one window, with where it starts and ends and what it left out."""

    version: str
    since: pd.Timestamp
    until: pd.Timestamp
    n_leads: int
    left_out: dict[str, int]
    rows: list[FeatureDrift]
    reference_origin: str

    @property
    def alarms(self) -> list[FeatureDrift]:
        return [row for row in self.rows if row.alarm]

    @property
    def moved(self) -> list[str]:
        """The features that moved, in words: one sentence per story, its most drifted feature's."""
        strongest: dict[str, FeatureDrift] = {}
        for row in self.alarms:
            held = strongest.get(row.story)
            if held is None or row.psi / row.threshold > held.psi / held.threshold:
                strongest[row.story] = row
        return [row.moved for row in sorted(strongest.values(), key=lambda r: -r.psi / r.threshold)]


def drift_words(spec_features: list[dict], target: str) -> dict[str, FeatureWords]:
    """Per feature how its drift is said: the catalogue's description of it (the words the model carries
    for an own column), its kind and its story."""
    out = {}
    for feature in spec_features:
        words = feature_words(feature)
        out[feature["name"]] = FeatureWords(description_subject(words), words.kind, words.story)
    out[SCORE] = FeatureWords(f"The model's probability of {target.upper()}", "numeric", SCORE)
    return out


def judge_window(
    scores: pd.DataFrame,
    tables: Tables,
    reference: TrainingReference,
    version: str,
    spec_features: list[dict],
    target: str,
    window_days: int = WINDOW_DAYS,
    alpha: float = ALPHA,
    seed: int = 0,
) -> DriftWindow:
    """The drift table of ``version``'s latest window of scores.

    ``scores`` holds ``lead_id``, ``as_of``, ``p``, ``model_version`` and a column per feature the model
    reads (the values it read when it scored).
    """
    mine = scores[scores["model_version"].astype("str") == str(version)]
    until = mine["as_of"].max()
    since = until - pd.Timedelta(days=window_days)
    recent = mine[mine["as_of"] > since]
    slots = reference.offset_slot(age_days(tables, recent["lead_id"], recent["as_of"]))
    at_age = recent.assign(_slot=slots)[slots >= 0]
    latest = at_age.sort_values(["lead_id", "as_of"], kind="stable").drop_duplicates("lead_id", keep="last")
    left_out = {}
    n_other = int(pd.Index(recent.loc[slots < 0, "lead_id"].unique()).difference(pd.Index(latest["lead_id"])).size)
    if n_other:
        left_out["scored only at ages training did not learn from"] = n_other
    window = latest.rename(columns={"p": SCORE}).reset_index(drop=True)
    rows = judge_drift(reference, window, window["_slot"].to_numpy(dtype=np.int64), since,
                       drift_words(spec_features, target), alpha=alpha, seed=seed)
    return DriftWindow(str(version), since, until, len(window), left_out, rows, reference.origin)
