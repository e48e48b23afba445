"""Every number of the report's section 2, computed from the scored matured leads before any rendering.

:mod:`leadscore.serving.report.comparison` scores the matured leads; the functions of
:mod:`leadscore.serving.report.compare` measure them. This module decides which measurements section 2
shows (the capacity K, the capacity grid, ROC and gain, calibration, the agreement matrix, the
disagreements and the threshold review) and bundles them, so the template only places numbers it is
handed and a test can check them without reading HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.serving.report.compare import (
    MODEL,
    RULE_THRESHOLDS,
    RULES,
    capacity_grid,
    compute_gain,
    compute_roc,
    default_capacity,
    find_disagreements,
    review_thresholds,
    rules_edge,
    summarize_agreement,
    summarize_calibration,
    summarize_capacity,
    summarize_disagreement,
)
from leadscore.serving.report.comparison import Comparison

N_DISAGREEMENTS = 8
REASON_COLUMNS = ("reasons_positive", "reasons_negative", "reasons", "rule_reasons")
DIRECTIONS = ("model high, rules low", "rules high, model low")


@dataclass(frozen=True)
class AgreementCell:
    """One (model grade, rule temperature) cell: its leads, their SQOs and SQO rate (%).

    ``shade`` is the rate relative to the matrix's highest rate (0–1), for the cell's colour.
    """

    n_leads: int
    n_sqo: int
    sqo_rate: float
    shade: float


@dataclass(frozen=True)
class AgreementRow:
    """One model grade across the rule temperatures, with the grade's own total."""

    grade: str
    cells: list[AgreementCell]
    n_leads: int
    n_sqo: int
    sqo_rate: float


@dataclass(frozen=True)
class Disagreement:
    """Leads in one method's top list only, the largest gaps first, and how many reached SQO."""

    direction: str
    leads: pd.DataFrame
    n_sqo: int


@dataclass
class Judgement:
    """Model against rules on matured leads with both outcomes present (see :func:`summarize_comparison`)."""

    capacity: int
    capacity_table: pd.DataFrame
    at_capacity: dict[str, float]
    roc: dict[str, tuple[np.ndarray, np.ndarray, float]]
    gain: dict[str, tuple[np.ndarray, np.ndarray]]
    calibration: pd.DataFrame
    rule_grades: list[str]
    agreement: list[AgreementRow]
    overlap: pd.DataFrame
    disagreements: list[Disagreement]
    model_reasons: str
    thresholds: pd.DataFrame
    rules_edge: dict[str, float]

    @property
    def rules_rank_nothing(self) -> bool:
        """Every lead has the same rule points: the rules' list is the model's, nothing to compare."""
        return self.rules_edge["n_tied"] == self.rules_edge["n_leads"]

    @property
    def overlap_by_group(self) -> dict[str, dict[str, Any]]:
        """The overlap rows by group (``both``, ``model only``, ``rules only``, ``neither``)."""
        return {row["group"]: row for row in self.overlap.to_dict("records")}


@dataclass
class ComparisonSummary:
    """Section 2's numbers: how the matured leads were chosen, and the judgement when one is possible.

    ``judgement`` is None when the matured leads do not hold both outcomes (no lead, or all or none
    reached SQO): no ranking can be judged then, and the page says so.
    """

    info: dict[str, Any]
    n_leads: int
    sqo_share: float
    judgement: Judgement | None


def choose_capacity(n_leads: int, capacity: int | None) -> int:
    """The K of "SQOs at capacity K": the user's, else the default share of leads, within 1..n_leads."""
    k = int(capacity) if capacity else default_capacity(n_leads)
    return min(max(k, 1), n_leads)


def summarize_agreement_matrix(frame: pd.DataFrame) -> tuple[list[str], list[AgreementRow]]:
    """The agreement matrix as rows of cells: (rule temperatures in column order, one row per model grade)."""
    agreement = summarize_agreement(frame)
    rule_grades = list(dict.fromkeys(agreement["rule_grade"]))
    grades = list(dict.fromkeys(agreement["grade"]))
    cells = agreement.set_index(["grade", "rule_grade"])
    top = max(float(agreement["sqo_rate"].max(skipna=True) or 0.0), 1e-9)
    rows = []
    for grade in grades:
        row_cells = []
        for rule_grade in rule_grades:
            cell = cells.loc[(grade, rule_grade)]
            rate = float(cell["sqo_rate"])
            shade = 0.0 if np.isnan(rate) else min(rate / top, 1.0)
            row_cells.append(AgreementCell(int(cell["n_leads"]), int(cell["n_sqo"]), rate, shade))
        of_grade = agreement[agreement["grade"] == grade]
        n_all, sqo_all = int(of_grade["n_leads"].sum()), int(of_grade["n_sqo"].sum())
        rate_all = 100.0 * sqo_all / n_all if n_all else np.nan
        rows.append(AgreementRow(grade, row_cells, n_all, sqo_all, rate_all))
    return rule_grades, rows


def list_disagreements(frame: pd.DataFrame, capacity: int) -> tuple[list[Disagreement], str]:
    """The disagreeing leads per direction, and which reasons column explains the model's high scores.

    The scorer writes ``reasons_positive``; an older scores layout has only ``reasons``, so that one is
    shown when ``reasons_positive`` is empty everywhere.
    """
    table = find_disagreements(frame, capacity, N_DISAGREEMENTS)
    for column in REASON_COLUMNS:
        if column not in table:
            table = table.assign(**{column: ""})
    model_reasons = "reasons_positive" if table["reasons_positive"].astype(str).str.strip().ne("").any() else "reasons"
    out = []
    for direction in DIRECTIONS:
        leads = table[table["direction"] == direction]
        out.append(Disagreement(direction, leads, int(leads["sqo"].sum())))
    return out, model_reasons


def judge_rankings(frame: pd.DataFrame, capacity: int | None = None) -> Judgement:
    """Every section-2 measurement of the model's and the rules' rankings on ``frame``, at capacity K."""
    n = len(frame)
    k = choose_capacity(n, capacity)
    y = frame["sqo"].to_numpy(dtype="float64")
    p = frame["p_sqo"].to_numpy(dtype="float64")
    rule = frame["rule_score"].to_numpy(dtype="float64")
    capacity_table = summarize_capacity(y, {MODEL: p, RULES: rule}, capacity_grid(n, k))
    at_k = capacity_table[capacity_table["n_leads"] == k].iloc[0]
    at_capacity = {
        "n_sqo_model": float(at_k["n_sqo_model"]),
        "n_sqo_rules": float(at_k["n_sqo_rules"]),
        "model_minus_rules": float(at_k["n_sqo_model"] - at_k["n_sqo_rules"]),
        "n_sqo_random": round(float(at_k["n_sqo_random"]), 1),
        "share_of_leads": 100.0 * k / n,
    }
    rule_grades, agreement = summarize_agreement_matrix(frame)
    disagreements, model_reasons = list_disagreements(frame, k)
    return Judgement(
        capacity=k,
        capacity_table=capacity_table,
        at_capacity=at_capacity,
        roc={MODEL: compute_roc(y, p), RULES: compute_roc(y, rule)},
        gain={MODEL: compute_gain(y, p), RULES: compute_gain(y, rule)},
        calibration=summarize_calibration(y, p),
        rule_grades=rule_grades,
        agreement=agreement,
        overlap=summarize_disagreement(frame, k),
        disagreements=disagreements,
        model_reasons=model_reasons,
        thresholds=review_thresholds(frame, RULE_THRESHOLDS),
        rules_edge=rules_edge(frame, k),
    )


def summarize_comparison(comparison: Comparison, capacity: int | None = None) -> ComparisonSummary:
    """Section 2's numbers for ``comparison``; ``capacity`` is the K sales can work (default: a share of leads)."""
    frame, info = comparison.frame, comparison.info
    n = len(frame)
    y = frame["sqo"].to_numpy(dtype="float64") if n else np.zeros(0)
    share = 100.0 * info["n_sqo"] / info["n_leads"] if info.get("n_leads") else np.nan
    judgeable = n > 0 and 0 < y.sum() < n
    return ComparisonSummary(info=info, n_leads=n, sqo_share=share,
                             judgement=judge_rankings(frame, capacity) if judgeable else None)
