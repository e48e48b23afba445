"""Model against rules on leads whose outcome is known: the numbers behind the report's section 2.

Everything here works on plain arrays or on one *comparison frame* (one row per matured lead with
``sqo`` (0/1, reached SQO within the horizon), ``p_sqo``, ``rule_score``, ``grade``, ``rule_grade`` and
the reasons), so the comparison is testable without MLflow or a scorer.

Ties matter: rule points are coarse, so hundreds of leads can share the score at a capacity's edge.
Picking some of them in file order would favour whichever method the order happens to help, so every
count "at capacity K" takes the tied group at the edge *proportionally*: the expected SQOs of a random
choice among the tied leads. Gain and ROC curves are drawn the same way (straight lines through ties).
Lists of leads are different: a list a sales team works holds exactly K leads, so where rule points tie
at its edge the model's order picks among the tied leads, and the page says so (:func:`mark_top`).
Those tie-aware metrics (capture at K, ROC, gain, calibration bins, capacity K) are the ones training
logs to MLflow: both come from :mod:`leadscore.scorers.ranking`. The functions here add the report's
input checks and shapes.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from leadscore.features.tables import Tables
from leadscore.scorers.model.grading import ALL_GRADES
from leadscore.scorers.ranking import calibration_bins, captured_at_k, gain_curve, roc_auc, roc_curve
from leadscore.scorers.ranking import capacity_k as default_capacity

MODEL = "model"
RULES = "rules"
MODEL_GRADES = ALL_GRADES
RULE_GRADES = ("hot", "warm", "cold")
RULE_THRESHOLDS = (50, 60, 70, 80)


def _as_arrays(y: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(y, dtype="float64")
    score = np.asarray(score, dtype="float64")
    if y.shape != score.shape:
        raise ValueError(f"outcomes and scores differ in length: {y.shape} vs {score.shape}")
    if np.isnan(score).any():
        raise ValueError("scores contain missing values; drop or fill them before comparing")
    return y, score


def expected_hits_at(y: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray, k: float) -> float:
    """SQOs among the ``k`` highest-scored leads, ties at the edge taken proportionally."""
    return captured_at_k(*_as_arrays(y, score), k)


def compute_roc(y: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray, float]:
    """ROC curve points and area, tie-aware (equals the Mann–Whitney AUC with ties counted half).

    Returns ``(fpr, tpr, auc)``; with only one outcome present ``auc`` is NaN and the curve the diagonal,
    so the chart still draws.
    """
    y, score = _as_arrays(y, score)
    auc = roc_auc(y, score)
    if np.isnan(auc):
        return np.array([0.0, 1.0]), np.array([0.0, 1.0]), auc
    fpr, tpr = roc_curve(y, score)
    return fpr, tpr, auc


def compute_gain(y: Sequence[float] | np.ndarray, score: Sequence[float] | np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Cumulative gain: share of leads worked (x) against share of all SQOs captured (y), both 0–1."""
    return gain_curve(*_as_arrays(y, score))


def summarize_capacity(
    y: Sequence[float] | np.ndarray, scores: Mapping[str, Sequence[float] | np.ndarray], capacities: Sequence[int]
) -> pd.DataFrame:
    """SQOs each method delivers when sales can work ``K`` leads, for several ``K``.

    Returns one row per K with ``n_leads`` (K), ``share_of_leads`` (%), ``n_sqo_<method>`` and
    ``sqo_rate_<method>`` (%) per method, ``n_sqo_random`` (K × base rate) and ``n_sqo_best`` (a perfect
    ranking). Expected counts may be fractional where ties are split.
    """
    y = np.asarray(y, dtype="float64")
    n = len(y)
    rows = []
    for k in capacities:
        k = int(min(max(k, 0), n))
        row: dict[str, float] = {"n_leads": k, "share_of_leads": 100.0 * k / n if n else np.nan}
        for name, score in scores.items():
            hits = expected_hits_at(y, score, k)
            row[f"n_sqo_{name}"] = hits
            row[f"sqo_rate_{name}"] = 100.0 * hits / k if k else np.nan
        row["n_sqo_random"] = k * (y.mean() if n else 0.0)
        row["n_sqo_best"] = float(min(k, y.sum()))
        rows.append(row)
    return pd.DataFrame(rows)


def summarize_calibration(y: Sequence[float] | np.ndarray, p: Sequence[float] | np.ndarray, n_bins: int = 10) -> pd.DataFrame:
    """Predicted against observed SQO rate in ``n_bins`` groups of equal size, ordered by prediction.

    Equal-count groups keep every point on the plot backed by the same number of leads (fixed-width
    bins on skewed probabilities leave the upper bins with a handful of leads). Returns ``bin,
    n_leads, mean_predicted, observed_rate`` (probabilities 0–1).
    """
    bins = calibration_bins(*_as_arrays(y, p), n_bins)
    return bins.rename(columns={"n_rows": "n_leads"})


def summarize_agreement(
    frame: pd.DataFrame, model_grades: Sequence[str] = MODEL_GRADES, rule_grades: Sequence[str] = RULE_GRADES
) -> pd.DataFrame:
    """Leads and actual SQO rate for every (model grade, rule grade) pair, empty cells included.

    Grades outside the given vocabularies (a custom rules file with other bands) are appended, never
    dropped. Returns ``grade, rule_grade, n_leads, n_sqo, sqo_rate`` (rate in %, NaN for empty cells).
    """
    grades = list(model_grades) + sorted(set(frame["grade"].dropna().astype(str)) - set(model_grades))
    rules = list(rule_grades) + sorted(set(frame["rule_grade"].dropna().astype(str)) - set(rule_grades))
    grade = frame["grade"].astype("object").fillna("(none)")
    rule_grade = frame["rule_grade"].astype("object").fillna("(none)")
    if (grade == "(none)").any():
        grades.append("(none)")
    if (rule_grade == "(none)").any():
        rules.append("(none)")
    stats = (
        pd.DataFrame({"grade": grade, "rule_grade": rule_grade, "sqo": frame["sqo"].astype("float64")})
        .groupby(["grade", "rule_grade"])["sqo"].agg(["size", "sum"])
    )
    index = pd.MultiIndex.from_product([grades, rules], names=["grade", "rule_grade"])
    stats = stats.reindex(index).fillna(0)
    out = pd.DataFrame({"n_leads": stats["size"].astype("int64"), "n_sqo": stats["sum"].astype("int64")}).reset_index()
    out["sqo_rate"] = (100.0 * out["n_sqo"] / out["n_leads"]).where(out["n_leads"] > 0)
    return out


def top_k(frame: pd.DataFrame, keys: Sequence[str], capacity: int) -> np.ndarray:
    """Whether each lead is among the ``capacity`` first by ``keys`` (highest first), then lead id: exactly K leads."""
    k = int(min(max(capacity, 0), len(frame)))
    columns = [frame["lead_id"].astype(str).to_numpy()]  # last tie-break, for a list that never depends on file order
    columns += [-frame[key].to_numpy(dtype="float64") for key in reversed(keys)]
    order = np.lexsort(columns)
    chosen = np.zeros(len(frame), dtype=bool)
    chosen[order[:k]] = True
    return chosen


def mark_top(frame: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """Add ``in_model_top`` and ``in_rules_top``: whether each method would hand the lead to sales.

    Each list holds exactly ``capacity`` leads, as a sales team works them. The model's list is its
    ``capacity`` highest probabilities. Rule points are coarse, so many leads can share the points at
    the list's edge; the rules cannot choose among them, so the model's order does (highest
    probability first) and ``rules_by_points`` says which leads the points alone put in the list (their
    whole tie group fits). Also adds ``model_percentile`` and ``rule_percentile`` (ties share the
    average percentile).
    """
    out = frame.copy()
    out["in_model_top"] = top_k(out, ["p_sqo"], capacity)
    out["in_rules_top"] = top_k(out, ["rule_score", "p_sqo"], capacity)
    out["rules_by_points"] = out["rule_score"].rank(method="max", ascending=False) <= capacity
    out["model_percentile"] = 100.0 * out["p_sqo"].rank(method="average", pct=True)
    out["rule_percentile"] = 100.0 * out["rule_score"].rank(method="average", pct=True)
    return out


def rules_edge(frame: pd.DataFrame, capacity: int) -> dict[str, float]:
    """The tie at the edge of the rules' list of ``capacity`` leads: the points there, how many leads share
    them, how many of those the list takes (by the model's order), and how many leads have any other points.

    ``n_tied == n_leads`` means every lead has the same points: the rules rank nothing.
    """
    points = frame["rule_score"].to_numpy(dtype="float64")
    k = int(min(max(capacity, 0), len(points)))
    if k == 0:
        return {"points": np.nan, "n_tied": 0, "n_taken": 0, "n_leads": len(points)}
    edge = float(np.sort(points)[::-1][k - 1])
    n_above = int((points > edge).sum())
    return {"points": edge, "n_tied": int((points == edge).sum()), "n_taken": k - n_above, "n_leads": len(points)}


def summarize_disagreement(frame: pd.DataFrame, capacity: int) -> pd.DataFrame:
    """Leads each method would send to sales at ``capacity`` and the other would not, and who was right.

    Returns one row per group (``both``, ``model only``, ``rules only``, ``neither``) with ``n_leads``,
    ``n_sqo`` and ``sqo_rate`` (%): the SQO rate of "model only" against "rules only" says which
    method's own picks were better where they differ.
    """
    marked = mark_top(frame, capacity)
    group = np.select(
        [marked["in_model_top"] & marked["in_rules_top"], marked["in_model_top"], marked["in_rules_top"]],
        ["both", "model only", "rules only"],
        default="neither",
    )
    stats = marked.groupby(group)["sqo"].agg(["size", "sum"]).reindex(["both", "model only", "rules only", "neither"])
    stats = stats.fillna(0)
    out = pd.DataFrame({"group": stats.index, "n_leads": stats["size"].astype("int64").to_numpy(),
                        "n_sqo": stats["sum"].astype("int64").to_numpy()})
    out["sqo_rate"] = (100.0 * out["n_sqo"] / out["n_leads"]).where(out["n_leads"] > 0)
    return out


def find_disagreements(frame: pd.DataFrame, capacity: int, n: int = 10) -> pd.DataFrame:
    """The leads one method would send to sales and the other ranks far lower, each direction.

    "Model high, rules low" are leads in the model's top ``capacity`` but not in the rules' top, with
    the largest gap between the model's percentile and the rules' percentile; "rules high, model low"
    the reverse, among the leads the rule points alone put in their list (a lead taken from the tie at
    the list's edge was picked by the model's order, not by the rules: when every lead has 0 points,
    no lead is "rules high"). Restricting to each method's own top keeps the list to leads that would
    really be handled differently: a large percentile gap among low-probability leads changes nothing
    for sales.
    Returns the frame's rows with ``direction``, ``model_percentile``, ``rule_percentile`` and ``gap``
    added, model-high first.
    """
    ranked = mark_top(frame, capacity)
    ranked["gap"] = ranked["model_percentile"] - ranked["rule_percentile"]
    order = ["gap", "lead_id"]
    high = ranked[ranked["in_model_top"] & ~ranked["in_rules_top"]]
    low = ranked[ranked["in_rules_top"] & ranked["rules_by_points"] & ~ranked["in_model_top"]]
    high = high.sort_values(order, ascending=[False, True], kind="stable").head(n)
    low = low.sort_values(order, ascending=[True, True], kind="stable").head(n)
    high = high.assign(direction="model high, rules low")
    low = low.assign(direction="rules high, model low")
    return pd.concat([high, low], ignore_index=True)


def review_thresholds(frame: pd.DataFrame, thresholds: Sequence[float] = RULE_THRESHOLDS) -> pd.DataFrame:
    """For each rule threshold: leads passing, their SQO rate, and the model's best leads at that volume.

    Answers "is 80 too strict, is 50 too loose" from outcomes: a threshold passing N leads is set next
    to the model's N highest-probability leads (ties split proportionally). Returns ``threshold,
    n_pass, share_pass, n_sqo_rules, sqo_rate_rules, n_sqo_model, sqo_rate_model, share_of_sqo_rules,
    share_of_sqo_model`` (rates and shares in %).
    """
    y = frame["sqo"].to_numpy(dtype="float64")
    rule = frame["rule_score"].to_numpy(dtype="float64")
    p = frame["p_sqo"].to_numpy(dtype="float64")
    total = y.sum()
    rows = []
    for threshold in thresholds:
        passing = rule >= threshold
        n_pass = int(passing.sum())
        n_sqo_rules = float(y[passing].sum())
        n_sqo_model = expected_hits_at(y, p, n_pass)
        rows.append(
            {
                "threshold": threshold,
                "n_pass": n_pass,
                "share_pass": 100.0 * n_pass / len(y) if len(y) else np.nan,
                "n_sqo_rules": n_sqo_rules,
                "sqo_rate_rules": 100.0 * n_sqo_rules / n_pass if n_pass else np.nan,
                "n_sqo_model": n_sqo_model,
                "sqo_rate_model": 100.0 * n_sqo_model / n_pass if n_pass else np.nan,
                "share_of_sqo_rules": 100.0 * n_sqo_rules / total if total else np.nan,
                "share_of_sqo_model": 100.0 * n_sqo_model / total if total else np.nan,
            }
        )
    return pd.DataFrame(rows)


def make_matured_spine(
    tables: Tables,
    end: pd.Timestamp | None = None,
    offset_days: int = 7,
    horizon_days: int = 90,
    capture_days: int = 180,
    captured_after: pd.Timestamp | None = None,
) -> tuple[pd.DataFrame, dict[str, object]]:
    """Leads whose SQO outcome is known at ``end``, each scored ``offset_days`` after its capture.

    A lead captured at ``t`` is scored at ``as_of = t + offset_days`` (what a scorer running weekly
    would have seen) and labelled by :func:`leadscore.features.building.labels.label_snapshots`, the training label: 1 if it
    first reached SQO (or WON) in ``(as_of, as_of + horizon_days]``. Only captures whose horizon ends
    by ``end`` qualify, taken from the last ``capture_days`` of such captures (or all of them after
    ``captured_after``: the leads a model did not train on). Leads already at SQO or
    beyond at their ``as_of`` are left out (there is nothing left to predict) and counted. Returns
    ``(spine, info)``: the spine has ``lead_id, as_of, sqo``; ``info`` holds the window and the counts.
    """
    from leadscore.features.building.labels import label_snapshots

    end = tables.data_end if end is None else end
    latest_capture = end - pd.Timedelta(days=offset_days + horizon_days)
    earliest_capture = latest_capture - pd.Timedelta(days=capture_days) if captured_after is None else captured_after
    leads = tables.leads
    chosen = leads[(leads["captured_at"] > earliest_capture) & (leads["captured_at"] <= latest_capture)]
    spine = pd.DataFrame(
        {"lead_id": chosen["lead_id"].astype("str"), "as_of": chosen["captured_at"] + pd.Timedelta(days=offset_days)}
    ).reset_index(drop=True)
    labelled = label_snapshots(tables, spine, "sqo", horizon_days)
    status = labelled["status"].astype("object")
    ok = (status == "ok").to_numpy()
    spine = spine[ok].assign(sqo=labelled.loc[ok, "label"].astype("int64").to_numpy()).reset_index(drop=True)
    other = status[(status != "ok") & (status != "already_reached")].value_counts()
    info = {
        "earliest_capture": earliest_capture,
        "latest_capture": latest_capture,
        "offset_days": offset_days,
        "horizon_days": horizon_days,
        "n_captured": int(len(chosen)),
        "n_already_sqo": int((status == "already_reached").sum()),
        "n_other_excluded": {str(k): int(v) for k, v in other.items()},
        "n_leads": int(len(spine)),
        "n_sqo": int(spine["sqo"].sum()),
        "n_too_recent": int((leads["captured_at"] > latest_capture).sum()),
    }
    return spine, info


def capacity_grid(n_leads: int, capacity: int) -> list[int]:
    """The K values of the capacity table: 5, 10, 20 and 30 % of leads and the chosen K, sorted."""
    grid = {default_capacity(n_leads, share) for share in (0.05, 0.10, 0.20, 0.30)} | {int(capacity)}
    return sorted(k for k in grid if 0 < k <= n_leads)
