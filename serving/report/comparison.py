"""The matured leads scored both ways: the input of the report's section 2 (model against rules).

Opinions about new leads cannot be checked yet, so section 2 judges both methods on leads captured
long enough ago that their outcome is known: each is scored as it stood a week after capture, by the
model and by the rule points, through the batch scorer (:func:`leadscore.serving.score.score_leads`),
so the page compares exactly what the scorer would have delivered. The label horizon is the model's
own (its spec's ``horizon_days``): judging a 60-day model on 90-day outcomes would credit it with SQOs
it was never trained to foresee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from leadscore.features.rules import RulesConfig, load_rules
from leadscore.features.tables import Tables
from leadscore.serving.loading import ScoringModel
from leadscore.serving.report.compare import make_matured_spine
from leadscore.serving.score import score_leads

OFFSET_DAYS = 7
DEFAULT_HORIZON_DAYS = 90  # only for a model whose spec predates horizon_days
CAPTURE_DAYS = 180


@dataclass
class Comparison:
    """The matured leads scored both ways (``frame``) and how they were chosen (``info``).

    ``frame`` has one row per matured lead the scorer scored: ``lead_id, as_of, sqo`` and the scorer's
    columns (``p_sqo``, ``grade``, ``rule_score``, ``rule_grade``, reasons). ``info`` holds the capture
    window, the horizon, the counts left out and the model's name and version.
    """

    frame: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class ModelUnavailable:
    """Why section 2 has no model: where it was looked for and what loading it said.

    The page words the notice itself (the template); this carries only the facts, as plain text.
    """

    uri: str
    store: str
    error: str


def horizon_days_of(sqo_model: ScoringModel) -> int:
    """The label horizon the SQO model was trained for, in days (its spec's ``horizon_days``)."""
    return int(sqo_model.spec.get("horizon_days", DEFAULT_HORIZON_DAYS))


def build_comparison(
    tables: Tables,
    sqo_model: ScoringModel,
    rules_config: RulesConfig | None = None,
    end: pd.Timestamp | None = None,
    offset_days: int = OFFSET_DAYS,
    horizon_days: int | None = None,
    capture_days: int = CAPTURE_DAYS,
) -> Comparison:
    """Score the matured leads with the model and the rules as they stood ``offset_days`` after capture.

    Parameters
    ----------
    tables
        The export.
    sqo_model
        The loaded SQO model; its spec's ``horizon_days`` is the label horizon unless ``horizon_days``
        is given.
    rules_config
        Rules to compare against (default: the shipped rules).
    end
        The moment outcomes are known up to (default: the data's end).

    Returns
    -------
    Comparison
        Leads the scorer could not score are counted in ``info["n_not_scored"]``, not silently lost.
    """
    horizon_days = horizon_days_of(sqo_model) if horizon_days is None else horizon_days
    spine, info = make_matured_spine(tables, end, offset_days=offset_days, horizon_days=horizon_days,
                                     capture_days=capture_days)
    if spine.empty:
        return Comparison(spine.assign(p_sqo=pd.Series(dtype="float64")), info)
    config = rules_config if rules_config is not None else load_rules(None)
    scores, _ = score_leads(tables, sqo_model, None, config, leads=spine.loc[:, ["lead_id", "as_of"]])
    scores = scores.drop(columns=[c for c in ("as_of",) if c in scores.columns])
    frame = spine.merge(scores, on="lead_id", how="left", validate="one_to_one")
    ok = frame["status"].eq("ok") & frame["p_sqo"].notna() & frame["rule_score"].notna()
    info["n_not_scored"] = int((~ok).sum())
    if info["n_not_scored"]:
        reasons = frame.loc[~ok, "status"].astype("object").fillna("missing").value_counts().to_dict()
        info["not_scored_reasons"] = reasons
    frame = frame[ok].reset_index(drop=True)
    info["model"] = _model_label(frame)
    return Comparison(frame, info)


def _model_label(frame: pd.DataFrame) -> str:
    """``leadscore-sqo v3`` from the scorer's model columns (``model`` when the scorer wrote none)."""
    if "model_name" not in frame or not len(frame):
        return "model"
    label = _text(frame["model_name"].iloc[0])
    if "model_version" in frame:
        label += f" v{_text(frame['model_version'].iloc[0])}"
    return label


def _text(value: object) -> str:
    return "" if pd.isna(value) else str(value)
