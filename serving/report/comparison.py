"""The matured leads scored both ways: the input of the report's section 2 (model against rules).

Opinions about new leads cannot be checked yet, so section 2 judges both methods on leads captured
long enough ago that their outcome is known, and only on leads the model did not train on: a model
judged on its own training leads looks better than it is. Each lead is scored as it stood at the
moment the model is used (its spec's scoring moment, at capture by default), by the model and by the
rule points. The leads are, in this order of preference:

1. leads captured after the model's training data whose outcome is known by now, scored through the
   batch scorer (:func:`leadscore.serving.score.score_leads`), exactly what it would have delivered;
2. otherwise (a model refit on every labelled lead of this export), the model's own test window as it
   was evaluated before the refit, from the held-out rows stored with the model, with the rule points
   recomputed on this export.

The label horizon is the model's own (its spec's ``horizon_days``): judging a 60-day model on 90-day
outcomes would credit it with SQOs it was never trained to foresee.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pandas as pd

from leadscore.features.tables import Tables
from leadscore.scorers.rules import RulesConfig, load_rules
from leadscore.serving.loading import ScoringModel
from leadscore.serving.report.compare import make_matured_spine
from leadscore.serving.score import score_leads

DEFAULT_HORIZON_DAYS = 90  # only for a model whose spec predates horizon_days
CAPTURE_DAYS = 180
MIN_HELD_OUT_LEADS = 50


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


def scoring_moment_of(sqo_model: ScoringModel) -> int:
    """The days after capture the model is used at (its spec's first scoring moment; at capture by default)."""
    return int((sqo_model.spec.get("moments_days") or [0])[0])


def build_comparison(
    tables: Tables,
    sqo_model: ScoringModel,
    rules_config: RulesConfig | None = None,
    end: pd.Timestamp | None = None,
    offset_days: int | None = None,
    horizon_days: int | None = None,
    capture_days: int = CAPTURE_DAYS,
) -> Comparison:
    """Score the matured leads the model did not train on, with the model and the rules (see the module).

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
    offset_days
        Days after capture each lead is scored at (default: the model's scoring moment).

    Returns
    -------
    Comparison
        Leads the scorer could not score are counted in ``info["n_not_scored"]``, not silently lost.
    """
    horizon_days = horizon_days_of(sqo_model) if horizon_days is None else horizon_days
    offset_days = scoring_moment_of(sqo_model) if offset_days is None else offset_days
    config = rules_config if rules_config is not None else load_rules(None)
    trained_to = sqo_model.spec.get("trained_on_captured_to")
    captured_after = pd.Timestamp(trained_to) if trained_to else None
    spine, info = make_matured_spine(tables, end, offset_days=offset_days, horizon_days=horizon_days,
                                     capture_days=capture_days, captured_after=captured_after)
    info["window"] = ("leads captured after the model's training data" if captured_after is not None
                      else "the latest matured leads (the model does not say what it trained on)")
    if len(spine) < MIN_HELD_OUT_LEADS and sqo_model.model.held_out is not None:
        comparison = held_out_comparison(tables, sqo_model, config, horizon_days, offset_days, info)
        comparison.info.update(audit_findings(sqo_model))
        return comparison
    info.update(audit_findings(sqo_model))
    if spine.empty:
        return Comparison(spine.assign(p_sqo=pd.Series(dtype="float64")), info)
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


def audit_findings(sqo_model: ScoringModel) -> dict[str, Any]:
    """The model's leakage audit for the page: the candidates judged leaky or suspicious, and how many were ok."""
    audit = sqo_model.spec.get("audit") or []
    return {"audit": [r for r in audit if r.get("verdict") != "ok"],
            "audit_n_ok": sum(r.get("verdict") == "ok" for r in audit), "audit_ran": bool(audit)}


def held_out_comparison(tables: Tables, sqo_model: ScoringModel, rules_config: RulesConfig, horizon_days: int,
                        offset_days: int, after_info: dict[str, Any]) -> Comparison:
    """Section 2 from the model's own test window as evaluated before its refit (``held_out.csv``).

    The probabilities and reasons are the evaluated model's, stored at training; the outcome is the one
    training labelled; the rule points are computed on this export at each lead's moment.
    """
    from leadscore.features.tables import positions
    from leadscore.scorers.model.grading import grade_from_p
    from leadscore.scorers.model.reasons import join_directions
    from leadscore.scorers.rules import score_rules

    held = sqo_model.model.held_out
    known = held[positions(held["lead_id"], tables.leads["lead_id"]) >= 0].reset_index(drop=True)
    spine = known.loc[:, ["lead_id", "as_of"]]
    rules = score_rules(tables, spine, rules_config) if len(spine) else pd.DataFrame(
        {c: [] for c in ("rule_score", "rule_grade", "rule_stage", "rule_reasons")})
    cuts = sqo_model.grade_cuts or {"A": 1.0, "B": 1.0, "C": 1.0}
    frame = pd.DataFrame({
        "lead_id": known["lead_id"], "as_of": known["as_of"], "sqo": known["label"].astype("int64"),
        "p_sqo": known["p"].astype("float64"), "grade": grade_from_p(known["p"].to_numpy(), cuts),
        "reasons_positive": known["reasons_positive"].fillna(""), "reasons_negative": known["reasons_negative"].fillna(""),
        "rule_score": rules["rule_score"].to_numpy(), "rule_grade": rules["rule_grade"].astype("str").to_numpy(),
        "rule_stage": rules["rule_stage"].astype("str").to_numpy(),
        "rule_reasons": rules["rule_reasons"].astype("str").to_numpy(), "status": "ok",
    })
    frame["reasons"] = pd.array(join_directions(frame["reasons_positive"].astype("str").tolist(),
                                                frame["reasons_negative"].astype("str").tolist()), dtype="str")
    frame = frame[frame["rule_score"].notna()].reset_index(drop=True)
    windows = sqo_model.spec.get("windows", {}).get("test", {})
    info = {
        "window": "the model's own test window, as evaluated before it was refit on every labelled lead (no lead "
                  "captured after its training data has a known outcome yet)",
        "earliest_capture": pd.Timestamp(windows.get("captured_from") or known["as_of"].min()),
        "latest_capture": pd.Timestamp(windows.get("captured_to") or known["as_of"].max()),
        "offset_days": offset_days,
        "horizon_days": horizon_days,
        "n_captured": int(len(held)),
        "n_already_sqo": 0,
        "n_other_excluded": {"not in this export": int(len(held) - len(known))} if len(held) > len(known) else {},
        "n_leads": int(len(frame)),
        "n_sqo": int(frame["sqo"].sum()),
        "n_too_recent": int(after_info.get("n_too_recent", 0)),
        "n_not_scored": 0,
        "model": f"{sqo_model.name} v{sqo_model.version} as evaluated",
    }
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
