"""Everything the report page shows, computed: one object the templates only have to lay out.

Section 1 comes from :mod:`leadscore.serving.report.kpis`, section 2 from
:mod:`leadscore.serving.report.comparison_summary`, section 3 from
:mod:`leadscore.serving.report.scores_summary`. This module adds the few numbers section 1 states
outside its tables (the headline cards, the failing conversions) and bundles the three, so rendering
computes nothing and every number on the page can be checked without parsing HTML.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.tables import Tables
from leadscore.serving.monitor.verdict import MonitorResult
from leadscore.serving.report.changes_summary import ChangesSummary
from leadscore.serving.report.comparison import Comparison, ModelUnavailable
from leadscore.serving.report.comparison_summary import ComparisonSummary, summarize_comparison
from leadscore.serving.report.kpis import SETTLE_DAYS, FunnelKpis
from leadscore.serving.report.model_over_time import ModelOverTime, summarize_model_over_time
from leadscore.serving.report.scores_summary import ScoresSummary, summarize_scores


@dataclass(frozen=True)
class FunnelHeadline:
    """Section 1's numbers outside its tables.

    Attributes
    ----------
    stages
        Each stage's row of the stage table (``n_leads``, ``n_leads_previous``, ``pct_change``, …), by stage.
    sqo_of_mcl_previous
        MCL → SQO in the previous window, in % (NaN when that window captured no lead).
    failing
        The conversions whose rate fails its rule of thumb.
    settle_days
        How long before the window's end a lead must have reached a stage to count in a conversion rate.
    n_out_of_order
        Stage moves recorded backwards in time, left out of the velocity medians.
    """

    stages: dict[str, dict[str, Any]]
    sqo_of_mcl_previous: float
    failing: list[str]
    settle_days: int
    n_out_of_order: int


@dataclass
class ReportContents:
    """The whole page's data: where it came from, and each section's numbers.

    ``comparison`` is None when section 2 has no model to judge; the page then says why:
    ``model_note`` when loading a model failed, ``without_outcomes`` when the export has no stage
    history to learn outcomes from, and otherwise that no model is registered. ``scores`` is None when
    no scores file was given (no section 3), ``changes`` when no score store was (no section 4), and
    ``model_over_time`` too (no section 5).
    """

    source: str
    data_end: pd.Timestamp
    generated_at: pd.Timestamp
    kpis: FunnelKpis
    headline: FunnelHeadline
    comparison: ComparisonSummary | None
    model_note: ModelUnavailable | None
    without_outcomes: bool
    scores: ScoresSummary | None
    model_over_time: ModelOverTime | None = None
    changes: ChangesSummary | None = None


def headline_funnel(kpis: FunnelKpis) -> FunnelHeadline:
    """The cards' numbers and the notes' counts of section 1, from its KPI tables."""
    stages = {row["stage"]: row for row in kpis.stages.to_dict("records")}
    mcl_previous = stages["MCL"]["n_leads_previous"]
    sqo_of_mcl_previous = 100.0 * stages["SQO"]["n_leads_previous"] / mcl_previous if mcl_previous else np.nan
    return FunnelHeadline(
        stages=stages,
        sqo_of_mcl_previous=sqo_of_mcl_previous,
        failing=kpis.health[kpis.health["verdict"] == "failing"]["conversion"].tolist(),
        settle_days=min(SETTLE_DAYS, kpis.window.days // 2),
        n_out_of_order=int(kpis.velocity["n_out_of_order"].sum()),
    )


def gather_contents(
    tables: Tables,
    kpis: FunnelKpis,
    comparison: Comparison | None = None,
    scores: pd.DataFrame | None = None,
    capacity: int | None = None,
    model_note: ModelUnavailable | None = None,
    *,
    without_outcomes: bool = False,
    generated_at: pd.Timestamp | None = None,
    monitor: MonitorResult | None = None,
    changes: ChangesSummary | None = None,
) -> ReportContents:
    """Bundle the page's data from the computed KPIs, the scored matured leads and a scores file.

    Parameters
    ----------
    tables
        The export (for its name and data end in the page's header).
    kpis
        Section 1's tables (:func:`leadscore.serving.report.kpis.build_funnel_kpis`).
    comparison
        The matured leads scored both ways (:func:`leadscore.serving.report.comparison.build_comparison`).
    scores
        A scorer output for section 3.
    capacity
        Leads sales can work, for "SQOs at capacity K" (default: a share of the matured leads).
    model_note
        Why no model could be loaded, when that is why ``comparison`` is None.
    without_outcomes
        True when a model was given but the export has no stage history to judge it on.
    generated_at
        The moment the page says it was made (default: now).
    monitor
        What ``leadscore monitor`` found from the score store, for the "Model over time" section.
    changes
        What changed since the score store's last run, for section 4.
    """
    return ReportContents(
        source=str(tables.source),
        data_end=tables.data_end,
        generated_at=pd.Timestamp.now(tz="UTC") if generated_at is None else generated_at,
        kpis=kpis,
        headline=headline_funnel(kpis),
        comparison=None if comparison is None else summarize_comparison(comparison, capacity),
        model_note=model_note,
        without_outcomes=without_outcomes,
        scores=None if scores is None else summarize_scores(scores),
        model_over_time=None if monitor is None else summarize_model_over_time(monitor),
        changes=changes,
    )
