"""Write the marketing report: compute each section, render the page, write it as one file.

Marketing would rather look than read, and they share the page by e-mail or a drive, so the report is
a single HTML file that opens offline. This module is the report's one entry point and only wires the
steps together: the funnel KPIs (:mod:`leadscore.serving.report.kpis`), the matured leads scored both
ways (:mod:`leadscore.serving.report.comparison`), the page's contents
(:mod:`leadscore.serving.report.contents`), the HTML (:mod:`leadscore.serving.report.rendering`), and
the project's atomic writer, so a crash never leaves half a page.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.frames_io import write_text
from leadscore.features.tables import Tables, has_table
from leadscore.scorers.rules import RulesConfig
from leadscore.serving.loading import ScoringModel
from leadscore.serving.monitor.verdict import MonitorResult
from leadscore.serving.report.comparison import ModelUnavailable, build_comparison
from leadscore.serving.report.contents import gather_contents
from leadscore.serving.report.kpis import build_funnel_kpis
from leadscore.serving.report.rendering import render_report

log = logging.getLogger(__name__)


def write_report(
    tables: Tables,
    out: str | os.PathLike,
    scores: pd.DataFrame | None = None,
    sqo_model: ScoringModel | None = None,
    rules_config: RulesConfig | None = None,
    as_of: pd.Timestamp | str | None = None,
    capacity: int | None = None,
    *,
    window_days: int = 90,
    model_note: ModelUnavailable | None = None,
    store: str | None = None,
    monitor: MonitorResult | None = None,
) -> Path:
    """Write the marketing report for ``tables`` to ``out`` (one self-contained HTML file).

    Parameters
    ----------
    tables
        The export.
    out
        Where to write the page (written atomically: a crash never leaves half a page).
    scores
        A scorer output to summarise in section 3 (optional).
    sqo_model
        The loaded SQO model (from :mod:`leadscore.serving.loading`); without it section 2 says how to
        train one. Its spec's ``horizon_days`` is the horizon section 2 judges outcomes over.
    rules_config
        Rules to compare against (default: the shipped rules).
    as_of
        The report's moment (default: the data's end). Section 1's window ends here; section 2 judges
        only outcomes known by then.
    capacity
        Leads sales can work, for "SQOs at capacity K" (default 10% of the matured leads).
    window_days
        Length of section 1's window and of the previous window it is compared with.
    model_note
        Why no SQO model could be loaded; section 2 then says so instead of the default notice.
    monitor
        What ``leadscore monitor`` found in the score store: the "Model over time" section.
    store
        A score store (file or ``postgresql://`` URI): section 4 shows what changed since its last run.

    Returns
    -------
    pathlib.Path
        The written file.
    """
    started = time.perf_counter()
    if capacity is not None and capacity < 1:
        raise LeadscoreError(f"--capacity must be a positive number of leads, not {capacity}.")
    kpis = build_funnel_kpis(tables, as_of, window_days)
    log.debug("funnel KPIs in %.1f s", time.perf_counter() - started)
    comparison = None
    without_outcomes = sqo_model is not None and not has_table(tables, "stage_history")
    if sqo_model is not None and not without_outcomes:
        # At the moment asked for, even when section 1's window moved back to where the leads are.
        comparison = build_comparison(tables, sqo_model, rules_config, end=kpis.requested_end)
        log.debug("model against rules on %d matured leads in %.1f s", len(comparison.frame), time.perf_counter() - started)
    changes = None
    if store is not None:
        from leadscore.serving.history.store import open_store
        from leadscore.serving.report.changes_summary import summarize_changes

        with open_store(store, read_only=True) as opened:
            changes = summarize_changes(opened)
    contents = gather_contents(tables, kpis, comparison, scores, capacity, model_note, without_outcomes=without_outcomes,
                               changes=changes, monitor=monitor)
    page = render_report(contents)
    target = write_text(page, out)
    log.debug("report written to %s (%.0f kB) in %.1f s", target, len(page) / 1024, time.perf_counter() - started)
    return target
