"""Section 3's numbers: a scorer output summarised (how many scored, grades, the best leads).

The scores file is whatever ``leadscore score`` wrote, perhaps edited by hand or from an older version,
so only ``lead_id``, ``score`` and ``grade`` are required; the optional columns (``p_sqo``, rule points,
reasons, ``status``, ``as_of``) are used when present, and :attr:`ScoresSummary.columns` tells the page
which of them it can show.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.scorers.status import split_counts

SCORES_COLUMNS = ("lead_id", "score", "grade")
N_TOP_LEADS = 20


@dataclass
class ScoresSummary:
    """What section 3 shows about one scorer output.

    Attributes
    ----------
    n_leads, n_scored
        Rows in the file, and rows scored (status ok with a score: open leads).
    not_open
        Leads already at SQO or closed (``reached SQO``, ``closed: …``), by status: no chance of SQO to give.
    not_scored
        Other rows not scored, by status, most frequent first.
    first_as_of, last_as_of
        The scoring moments' range; ``last_as_of`` is None when all fall on ``first_as_of``'s day,
        both None when the file has no readable ``as_of``.
    scored
        The scored rows (for the distribution chart).
    by_grade
        ``grade, n_leads, mean_p, min_score, max_score, share, expected_sqo`` per grade.
    top
        The ``N_TOP_LEADS`` best-scored leads, best first.
    columns
        The optional columns the file has, so the page shows only those.
    """

    n_leads: int
    n_scored: int
    not_open: dict[str, int]
    not_scored: dict[str, int]
    first_as_of: pd.Timestamp | None
    last_as_of: pd.Timestamp | None
    scored: pd.DataFrame
    by_grade: pd.DataFrame
    top: pd.DataFrame
    columns: frozenset[str]


def check_scores(scores: pd.DataFrame, source: str = "the scores file") -> pd.DataFrame:
    """Raise a clear error when ``scores`` is not a scorer output (it needs lead_id, score, grade)."""
    missing = [c for c in SCORES_COLUMNS if c not in scores.columns]
    if missing:
        raise LeadscoreError(f"{source} lacks column(s) {', '.join(missing)}; pass the output of `leadscore score`.")
    return scores


def _as_of_range(scores: pd.DataFrame) -> tuple[pd.Timestamp | None, pd.Timestamp | None]:
    if "as_of" not in scores or not len(scores):
        return None, None
    as_of = pd.to_datetime(scores["as_of"], utc=True, errors="coerce")
    if not as_of.notna().any():
        return None, None
    first, last = as_of.min(), as_of.max()
    return first, (last if last.date() != first.date() else None)


def summarize_grades(scored: pd.DataFrame) -> pd.DataFrame:
    """Leads, score range, average chance of SQO and expected SQOs per grade of the scored rows."""
    grades = scored.assign(p=pd.to_numeric(scored["p_sqo"], errors="coerce") if "p_sqo" in scored else np.nan)
    by_grade = grades.groupby(grades["grade"].astype("object").fillna("(none)")).agg(
        n_leads=("lead_id", "size"), mean_p=("p", "mean"), min_score=("score", "min"), max_score=("score", "max")
    ).reset_index(names="grade")
    by_grade["share"] = 100.0 * by_grade["n_leads"] / len(scored)
    by_grade["expected_sqo"] = by_grade["mean_p"] * by_grade["n_leads"]
    return by_grade


def pick_top_leads(scored: pd.DataFrame, n: int = N_TOP_LEADS) -> pd.DataFrame:
    """The ``n`` best leads by chance of SQO (by score without one), lead id breaking ties."""
    from leadscore.serving.score import rank_leads

    return rank_leads(scored, "p_sqo" if "p_sqo" in scored else "score").head(n)


def summarize_scores(scores: pd.DataFrame) -> ScoresSummary:
    """Section 3's numbers for a scorer output (checked with :func:`check_scores` first)."""
    check_scores(scores)
    if "status" in scores:
        status = scores["status"].astype("object").fillna("missing")
    else:
        status = pd.Series("ok", index=scores.index)
    scored_mask = (status == "ok").to_numpy() & pd.to_numeric(scores["score"], errors="coerce").notna().to_numpy()
    scored = scores[scored_mask]
    _, not_open, others = split_counts({str(k): int(v) for k, v in status.value_counts().items()})
    first, last = _as_of_range(scores)
    empty = scored.empty
    return ScoresSummary(
        n_leads=len(scores),
        n_scored=len(scored),
        not_open=not_open,
        not_scored=others,
        first_as_of=first,
        last_as_of=last,
        scored=scored,
        by_grade=pd.DataFrame() if empty else summarize_grades(scored),
        top=scored.iloc[:0] if empty else pick_top_leads(scored),
        columns=frozenset(scores.columns) - set(SCORES_COLUMNS),
    )
