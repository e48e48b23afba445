"""The report page as HTML: computed contents in, one self-contained HTML string out.

The page is laid out by the Jinja2 templates in ``templates/`` (``report.html.j2`` and the partials it
includes), with autoescaping on, so a campaign or lead name from the export can never become markup,
and ``StrictUndefined``, so a misspelt name in a template fails loudly instead of printing nothing.
Numbers go through the filters of :mod:`leadscore.serving.report.formatting`. This module's only other
job is drawing the charts (:mod:`leadscore.serving.report.charts`) the templates place as inline PNG
data URIs: the page stays one file that opens offline, with no scripts and no fetches.
"""

from __future__ import annotations

import functools
from typing import Any

import jinja2
import pandas as pd

from leadscore.serving.report import charts
from leadscore.serving.report.contents import ReportContents
from leadscore.serving.report.formatting import CLASSES, FORMATS, fmt_by_name

PAGE_TEMPLATE = "report.html.j2"


def frame_records(frame: pd.DataFrame) -> list[dict[str, Any]]:
    """A frame's rows as dicts, the form the templates' table macro walks."""
    return frame.to_dict("records")


@functools.cache
def report_environment() -> jinja2.Environment:
    """The Jinja2 environment of the report's templates (made once, on first use, never at import)."""
    environment = jinja2.Environment(
        loader=jinja2.PackageLoader("leadscore.serving.report", "templates"),
        # Every template, partials and CSS included, escapes what it prints; markup only ever comes
        # from the templates' own text.
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    environment.filters.update(FORMATS)
    environment.filters.update(CLASSES)
    environment.filters["fmt"] = fmt_by_name
    environment.filters["records"] = frame_records
    return environment


def draw_charts(contents: ReportContents) -> dict[str, str | None]:
    """Each chart of the page as a PNG data URI, by name; None where the page shows no such chart."""
    kpis = contents.kpis
    window = kpis.window
    drawn: dict[str, str | None] = dict.fromkeys(
        ("funnel", "channel", "velocity", "gain", "roc", "calibration", "thresholds", "scores", "model_over_time")
    )
    drawn["funnel"] = charts.plot_funnel(
        kpis.stages[kpis.stages["recorded"]], f"this window ({window.label()})", f"previous window ({window.previous.label()})"
    )
    if len(kpis.by_channel) and "SQO" in kpis.recorded:
        drawn["channel"] = charts.plot_breakdown(kpis.by_channel, "channel", "Leads captured and SQOs by channel")
    if kpis.velocity["n_leads"].sum() or kpis.velocity["n_leads_previous"].sum():
        drawn["velocity"] = charts.plot_velocity(kpis.velocity)
    judgement = contents.comparison.judgement if contents.comparison is not None else None
    if judgement is not None:
        drawn["gain"] = charts.plot_gain(judgement.gain, judgement.capacity / contents.comparison.n_leads)
        drawn["roc"] = charts.plot_roc(judgement.roc)
        drawn["calibration"] = charts.plot_calibration(judgement.calibration)
        drawn["thresholds"] = charts.plot_thresholds(judgement.thresholds)
    if contents.scores is not None and contents.scores.n_scored:
        scored = contents.scores.scored
        drawn["scores"] = charts.plot_score_distribution(scored["score"], scored["grade"])
    if contents.model_over_time is not None and len(contents.model_over_time.cohorts):
        drawn["model_over_time"] = charts.plot_model_over_time(contents.model_over_time.cohorts)
    return drawn


def render_report(contents: ReportContents) -> str:
    """The whole page as one HTML string (sections 2 and 3 as ``contents`` has them)."""
    template = report_environment().get_template(PAGE_TEMPLATE)
    return template.render(c=contents, kpis=contents.kpis, charts=draw_charts(contents))
