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

from leadscore.features.building.catalogue import description_subject
from leadscore.features.tables import Tables
from leadscore.scorers.model.reasons import feature_words
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


def window_bounds(scores: pd.DataFrame, version: str, window_days: int = WINDOW_DAYS) -> tuple[pd.Timestamp, pd.Timestamp]:
    """``(since, until)``: the last ``window_days`` of ``as_of`` among ``version``'s scores (since excluded)."""
    until = scores.loc[scores["model_version"].astype("str") == str(version), "as_of"].max()
    return until - pd.Timedelta(days=window_days), until


def judge_window(
    scores: pd.DataFrame,
    features: pd.DataFrame,
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

    ``scores`` holds ``lead_id``, ``as_of``, ``p`` and ``model_version``; ``features`` the feature values
    stored with the window's scores (``lead_id``, ``as_of`` and a column per feature). Features the model
    reads but the store does not hold are left out of the table, and said.
    """
    since, until = window_bounds(scores, version, window_days)
    mine = scores[scores["model_version"].astype("str") == str(version)]
    recent = mine[mine["as_of"] > since].drop_duplicates(["lead_id", "as_of"], keep="last")
    recent = recent.merge(features, on=["lead_id", "as_of"], how="left", indicator=True)
    left_out = {}
    unexplained = recent["_merge"] == "left_only"
    if unexplained.any():
        left_out["scores stored without feature values"] = int(recent.loc[unexplained, "lead_id"].nunique())
    recent = recent[~unexplained].drop(columns="_merge")
    slots = reference.offset_slot(age_days(tables, recent["lead_id"], recent["as_of"]))
    at_age = recent.assign(_slot=slots)[slots >= 0]
    latest = at_age.sort_values(["lead_id", "as_of"], kind="stable").drop_duplicates("lead_id", keep="last")
    n_other = int(pd.Index(recent.loc[slots < 0, "lead_id"].unique()).difference(pd.Index(latest["lead_id"])).size)
    if n_other:
        left_out["scored only at ages training did not learn from"] = n_other
    stored = [name for name in reference.features if name in features.columns]
    absent = [name for name in reference.features if name not in features.columns]
    if absent:
        left_out[f"features not stored ({', '.join(absent[:3])}{'…' if len(absent) > 3 else ''})"] = len(absent)
    judged = TrainingReference(reference.offsets_days, {name: reference.features[name] for name in stored},
                               reference.score, reference.origin)
    window = latest.rename(columns={"p": SCORE}).reset_index(drop=True)
    rows = judge_drift(judged, window, window["_slot"].to_numpy(dtype=np.int64), since,
                       drift_words(spec_features, target), alpha=alpha, seed=seed)
    return DriftWindow(str(version), since, until, len(window), left_out, rows, reference.origin)
