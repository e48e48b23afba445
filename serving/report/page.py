"""The marketing report: one self-contained HTML page with the funnel KPIs and the model against rules.

Marketing would rather look than read, and they share the page by e-mail or a drive, so the page is a
single file that opens offline: CSS inline, charts as inline PNG data URIs, no scripts, no web fonts.
Numbers come from :mod:`leadscore.serving.report.kpis` (funnel) and :mod:`leadscore.serving.report.compare` (model against
rules); charts from :mod:`leadscore.serving.report.charts`. This module only decides what goes where and writes
the file; every caption says in plain words what a chart shows and how its numbers were made.
"""

from __future__ import annotations

import html
import logging
import math
import os
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import Tables, has_table
from leadscore.serving.report import charts
from leadscore.serving.report.compare import (
    MODEL,
    RULE_THRESHOLDS,
    RULES,
    capacity_grid,
    compute_gain,
    compute_roc,
    default_capacity,
    find_disagreements,
    make_matured_spine,
    review_thresholds,
    summarize_agreement,
    summarize_calibration,
    summarize_capacity,
    summarize_disagreement,
)
from leadscore.serving.report.kpis import SETTLE_DAYS, FunnelKpis, build_funnel_kpis

log = logging.getLogger(__name__)

OFFSET_DAYS = 7
HORIZON_DAYS = 90
CAPTURE_DAYS = 180
N_DISAGREEMENTS = 8
N_TOP_LEADS = 20
NO_MODEL_NOTE = (
    "No registered SQO model was found, so this section is empty. Train one with "
    "<code>leadscore train DATA --target sqo</code> (it registers <code>leadscore-sqo</code> and makes the first "
    "version champion), then run <code>leadscore report</code> again."
)
SCORES_COLUMNS = ("lead_id", "score", "grade")
SETTLED_TITLE = (
    "of the leads that reached the earlier stage in the window (and had time to move on), the share that reached "
    "the later one"
)


# --------------------------------------------------------------------------------------------------
# Formatting: every number on the page goes through one of these, so the page reads the same everywhere
# --------------------------------------------------------------------------------------------------
def _missing(value: Any) -> bool:
    try:
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def fmt_int(value: Any) -> str:
    # Adding 0.0 turns a negative zero (rounded rule points) into 0, so the page never shows "-0".
    return "–" if _missing(value) else f"{round(float(value)) + 0.0:,.0f}"


def fmt_count(value: Any) -> str:
    """A count that may be an expected (fractional) value where ties were split."""
    if _missing(value):
        return "–"
    value = float(value)
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    return "–" if _missing(value) else f"{float(value):.{digits}f}%"


def fmt_change(value: Any) -> str:
    if _missing(value):
        return "–"
    return f"{round(float(value)):+d}%".replace("-", "−")


def fmt_money(value: Any) -> str:
    return "–" if _missing(value) else f"${float(value):,.0f}"


def fmt_days(value: Any) -> str:
    return "–" if _missing(value) else f"{float(value):.1f}"


def fmt_prob(value: Any) -> str:
    return "–" if _missing(value) else f"{100 * float(value):.1f}%"


def fmt_text(value: Any) -> str:
    return "" if _missing(value) else str(value)


def _change_class(value: Any) -> str:
    if _missing(value) or abs(float(value)) < 0.5:
        return ""
    return "up" if float(value) > 0 else "down"


def _verdict_class(verdict: Any) -> str:
    return "v-" + str(verdict).replace(" ", "-") if not _missing(verdict) else ""


@dataclass
class Column:
    """One table column: the frame's key, its header, a formatter and an optional cell class."""

    key: str
    header: str
    fmt: Callable[[Any], str] = fmt_text
    numeric: bool = True
    css: Callable[[pd.Series], str] | None = None
    title: str | None = None


def render_table(frame: pd.DataFrame, columns: Sequence[Column], table_id: str | None = None, extra_class: str = "") -> str:
    """An HTML table of ``frame``'s rows in ``columns``' order, everything escaped."""
    head = "".join(
        f'<th class="{"num" if c.numeric else "txt"}"'
        + (f' title="{html.escape(c.title)}"' if c.title else "")
        + f">{html.escape(c.header)}</th>"
        for c in columns
    )
    body = []
    for _, row in frame.iterrows():
        cells = []
        for c in columns:
            classes = ["num" if c.numeric else "txt"]
            if c.css is not None:
                extra = c.css(row)
                if extra:
                    classes.append(extra)
            cells.append(f'<td class="{" ".join(classes)}">{html.escape(c.fmt(row[c.key]))}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    ident = f' id="{html.escape(table_id)}"' if table_id else ""
    return (
        f'<div class="table-wrap"><table{ident} class="{html.escape(extra_class)}"><thead><tr>{head}</tr></thead>'
        f'<tbody>{"".join(body)}</tbody></table></div>'
    )


def render_figure(data_uri: str, alt: str, caption: str, wide: bool = False) -> str:
    """A chart with a plain-language caption under it (``caption`` is trusted HTML from this module)."""
    return (
        f'<figure class="{"wide" if wide else ""}"><img src="{data_uri}" alt="{html.escape(alt)}">'
        f"<figcaption>{caption}</figcaption></figure>"
    )


def _p(text: str, cls: str = "note") -> str:
    return f'<p class="{cls}">{text}</p>'


def _esc(value: Any) -> str:
    return html.escape(fmt_text(value))


# --------------------------------------------------------------------------------------------------
# Section 1: funnel KPIs
# --------------------------------------------------------------------------------------------------
def _card(label: str, value: str, detail: str = "", cls: str = "") -> str:
    return (
        f'<div class="card {cls}"><div class="card-label">{html.escape(label)}</div>'
        f'<div class="card-value">{html.escape(value)}</div><div class="card-detail">{detail}</div></div>'
    )


def _change_detail(now: float, before: float) -> str:
    if not before:
        return "previous window: 0"
    change = 100.0 * (now - before) / before
    return f'<span class="{_change_class(change)}">{fmt_change(change)}</span> vs {fmt_int(before)} in the previous window'


def render_funnel_section(kpis: FunnelKpis) -> str:
    """Section 1: headline cards, funnel table and chart, health, breakdowns, e-mail, velocity, spend."""
    window = kpis.window
    now_label = f"this window ({window.label()})"
    before_label = f"previous window ({window.previous.label()})"
    stages = kpis.stages.set_index("stage")
    n_mcl = int(stages.loc["MCL", "n_leads"])
    n_sqo = int(stages.loc["SQO", "n_leads"])
    failing = kpis.health[kpis.health["verdict"] == "failing"]["conversion"].tolist()
    cards = "".join(
        [
            _card("Leads captured (MCL)", fmt_int(n_mcl), _change_detail(n_mcl, stages.loc["MCL", "n_leads_previous"])),
            _card("Reached MQL", fmt_int(stages.loc["MQL", "n_leads"]),
                  _change_detail(stages.loc["MQL", "n_leads"], stages.loc["MQL", "n_leads_previous"])),
            _card("Reached SQO", fmt_int(n_sqo), _change_detail(n_sqo, stages.loc["SQO", "n_leads_previous"])),
            _card("MCL → SQO", fmt_pct(stages.loc["SQO", "pct_of_mcl"], 2),
                  f"previous window {fmt_pct(100.0 * stages.loc['SQO', 'n_leads_previous'] / stages.loc['MCL', 'n_leads_previous'], 2) if stages.loc['MCL', 'n_leads_previous'] else '–'}"),
            _card("Conversions failing the rule of thumb", str(len(failing)),
                  html.escape(", ".join(failing)) if failing else "none", "alert" if failing else "ok"),
        ]
    )
    parts = [
        '<section id="funnel"><h2>1. Funnel KPIs</h2>',
        _p(
            f"Window: leads captured in the {window.days} days {html.escape(window.label())} (up to the report's as-of "
            f"moment), compared with the {window.days} days before ({html.escape(window.previous.label())}). A lead "
            "counts at a stage when it reached that stage or a later one by the end of its window, so counts never "
            "rise down the funnel. Leads captured in the last weeks may still move on: their later-stage counts "
            f"grow as they progress. {fmt_int(kpis.n_leads_outside)} leads captured before both windows are not in "
            "these tables.",
            "lead",
        ),
        f'<div class="cards">{cards}</div>',
        '<h3 id="funnel-stages">Funnel by stage</h3>',
        '<div class="row">',
        render_table(
            kpis.stages,
            [
                Column("stage", "stage", numeric=False),
                Column("n_leads", "leads", fmt_int),
                Column("pct_of_previous", "% of previous stage", fmt_pct),
                Column("pct_of_mcl", "% of MCL", fmt_pct),
                Column("n_leads_previous", "previous window", fmt_int),
                Column("pct_change", "change", fmt_change, css=lambda r: _change_class(r["pct_change"])),
            ],
            table_id="kpi-stages",
        ),
        render_figure(
            charts.plot_funnel(kpis.stages, now_label, before_label),
            "bar chart of leads reaching each funnel stage, this window and the previous one",
            "Each bar is the number of leads captured in the window that got at least this far. The dark bar is "
            "this window, the light bar the previous one: a dark bar shorter than the light one means fewer leads "
            "reached that stage than before.",
        ),
        "</div>",
        '<h3 id="funnel-health">Conversion health (rules of thumb)</h3>',
        render_table(
            kpis.health,
            [
                Column("conversion", "conversion", numeric=False),
                Column("rate", "this window", fmt_pct),
                Column("rate_previous", "previous window", fmt_pct),
                Column("n_base", "leads in the base", fmt_int),
                Column("n_converted", "converted", fmt_int),
                Column("rule", "rule of thumb", numeric=False),
                Column("verdict", "verdict", numeric=False, css=lambda r: _verdict_class(r["verdict"])),
            ],
            table_id="kpi-health",
        ),
        _p(
            "Each rate follows the leads that reached the earlier stage in the window, at least "
            f"{min(SETTLE_DAYS, window.days // 2)} days before its end, and counts how many reached the later stage "
            "by the end: leads that became MQL yesterday have not had time to be accepted yet, and counting them "
            "would make every recent period look like a failure. That is why these rates can be higher than the "
            "funnel table's % of previous stage. The win rate counts the window's new SQOs whose deal is already "
            "won or lost. Rules of thumb from practitioners: MQL → SAL under 50% is failing, over 70% good, over "
            "85% excellent; SAL → SQL under 50% failing, over 65% good, over 80% excellent; SQL → SQO under 40% "
            "failing, over 70% good; SQO → won 25–45% is typical. With fewer than 20 leads in the base no verdict "
            "is given."
        ),
    ]
    parts.append(_render_breakdowns(kpis))
    parts.append(_render_email(kpis))
    parts.append(_render_velocity(kpis))
    parts.append(_render_spend(kpis))
    parts.append("</section>")
    return "\n".join(parts)


def _breakdown_columns(by: str, header: str) -> list[Column]:
    columns = [Column(by, header, numeric=False)]
    columns += [Column(stage, stage, fmt_int) for stage in ("MCL", "MEL", "MQL", "SAL", "SQL", "SQO", "WON")]
    columns += [
        Column("mcl_change_pct", "MCL change", fmt_change, css=lambda r: _change_class(r["mcl_change_pct"]),
               title="leads captured, change against the previous window"),
        Column("sqo_change_pct", "SQO change", fmt_change, css=lambda r: _change_class(r["sqo_change_pct"]),
               title="leads reaching SQO, change against the previous window"),
        Column("pct_mql_to_sal", "MQL→SAL", fmt_pct, css=lambda r: _verdict_class(r["verdict_mql_to_sal"]),
               title=SETTLED_TITLE),
        Column("pct_sal_to_sql", "SAL→SQL", fmt_pct, css=lambda r: _verdict_class(r["verdict_sal_to_sql"]),
               title=SETTLED_TITLE),
        Column("pct_sql_to_sqo", "SQL→SQO", fmt_pct, css=lambda r: _verdict_class(r["verdict_sql_to_sqo"]),
               title=SETTLED_TITLE),
        Column("pct_sqo_of_mcl", "SQO % of MCL", fmt_pct),
    ]
    return columns


def _render_breakdowns(kpis: FunnelKpis) -> str:
    legend = (
        "Conversion columns are the settled rates of the health table, per group, coloured by the rule of thumb: "
        '<span class="v-failing chip">failing</span> <span class="v-below-good chip">below good</span> '
        '<span class="v-good chip">good</span> <span class="v-excellent chip">excellent</span>; uncoloured cells '
        "have fewer than 20 leads in the base."
    )
    parts = ['<h3 id="funnel-channel">By acquisition channel</h3>', '<div class="row">']
    parts.append(render_table(kpis.by_channel, _breakdown_columns("channel", "channel"), table_id="kpi-channel"))
    parts.append("</div>")
    if len(kpis.by_channel):
        parts.append(
            render_figure(
                charts.plot_breakdown(kpis.by_channel, "channel", "Leads captured and SQOs by channel"),
                "bars of leads captured and leads reaching SQO per channel",
                "The light bar is the leads each channel brought in this window; the dark part is how many of them "
                "reached SQO. A long light bar with a small dark part is volume that does not turn into pipeline.",
                wide=True,
            )
        )
    parts.append(_p(legend))
    parts.append('<h3 id="funnel-region">By region</h3>')
    parts.append(render_table(kpis.by_region, _breakdown_columns("region", "region"), table_id="kpi-region"))
    parts.append(_p("Region is the region of the lead's company (from the accounts table); leads not matched to a "
                    "company, or whose company has no region, are shown as (unknown)."))
    parts.append('<h3 id="funnel-campaign">By campaign</h3>')
    parts.append(render_table(kpis.by_campaign, _breakdown_columns("campaign", "campaign"), table_id="kpi-campaign"))
    parts.append(_p("The largest campaigns of this window by leads captured; smaller ones are added up under "
                    "\"other\", leads without a campaign are under (none)."))
    return "\n".join(parts)


def _render_email(kpis: FunnelKpis) -> str:
    parts = ['<h3 id="funnel-email">E-mail sequence</h3>']
    if kpis.email_sequence.empty:
        parts.append(_p("The export has no e-mail events (email_sent, email_open, email_click) in this window."))
        return "\n".join(parts)
    parts.append(
        render_table(
            kpis.email_sequence,
            [
                Column("email_step", "step", numeric=False),
                Column("n_sent", "leads sent", fmt_int),
                Column("n_opened", "opened", fmt_int),
                Column("n_clicked", "clicked", fmt_int),
                Column("open_rate", "open rate", fmt_pct),
                Column("click_rate", "click rate", fmt_pct),
                Column("click_to_open_rate", "click-to-open", fmt_pct),
            ],
            table_id="kpi-email",
        )
    )
    parts.append(_p("Distinct leads per step of the nurture sequence, from e-mail events in this window (a lead who "
                    "opens the same e-mail three times is one opener). Open and click rates are over leads sent; "
                    "click-to-open is clicks over opens."))
    return "\n".join(parts)


def _render_velocity(kpis: FunnelKpis) -> str:
    parts = ['<h3 id="funnel-velocity">Velocity</h3>', '<div class="row">']
    parts.append(
        render_table(
            kpis.velocity,
            [
                Column("step", "step", numeric=False),
                Column("median_days", "median days", fmt_days),
                Column("n_leads", "leads", fmt_int),
                Column("median_days_previous", "previous window", fmt_days),
                Column("n_leads_previous", "leads (previous)", fmt_int),
            ],
            table_id="kpi-velocity",
        )
    )
    if kpis.velocity["n_leads"].sum() or kpis.velocity["n_leads_previous"].sum():
        parts.append(
            render_figure(
                charts.plot_velocity(kpis.velocity),
                "bars of median days per funnel step",
                "Median days from first entering one stage to first entering the next, for leads that made the move "
                "in the window. Shorter is faster; leads that skipped a stage are not counted for it.",
            )
        )
    parts.append("</div>")
    out_of_order = int(kpis.velocity["n_out_of_order"].sum())
    if out_of_order:
        parts.append(_p(f"{out_of_order:,} moves recorded backwards in time (a later stage entered before the earlier "
                        "one) are left out of the medians."))
    return "\n".join(parts)


def _render_spend(kpis: FunnelKpis) -> str:
    parts = ['<h3 id="funnel-spend">Cost and return per channel</h3>']
    if kpis.spend.empty:
        parts.append(_p("The export has no spend table, so costs per lead and ROI cannot be shown. Add spend.csv "
                        "(channel, month, amount_usd) to see them."))
        return "\n".join(parts)
    parts.append(
        render_table(
            kpis.spend,
            [
                Column("channel", "channel", numeric=False),
                Column("spend_usd", "spend", fmt_money),
                Column("n_mcl", "MCL", fmt_int),
                Column("cost_per_mcl", "cost per MCL", fmt_money),
                Column("n_mql", "MQL", fmt_int),
                Column("cost_per_mql", "cost per MQL", fmt_money),
                Column("n_sqo", "SQO", fmt_int),
                Column("cost_per_sqo", "cost per SQO", fmt_money),
                Column("n_won_deals", "deals won", fmt_int),
                Column("won_revenue_usd", "won revenue", fmt_money),
                Column("roi_pct", "ROI", lambda v: "–" if _missing(v) else f"{float(v):,.0f}%".replace("-", "−"),
                       css=lambda r: _change_class(r["roi_pct"])),
            ],
            table_id="kpi-spend",
        )
    )
    parts.append(
        _p(
            "Spend is the monthly spend prorated to the window's days. Cost per MCL, MQL and SQO divides it by the "
            "window's leads that reached each stage. ROI is (won revenue − spend) ÷ spend, where won revenue is the "
            "amount of deals closed won in the window, each credited to the channel of the lead it came from (deals "
            "with only a company are credited to the channel of that company's first lead; the rest are listed as "
            "(unattributed)). Deals closing now mostly come from leads captured earlier, so read ROI as a rough "
            "guide. A channel missing from the spend table shows no cost."
        )
    )
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Section 2: model against rules on matured leads
# --------------------------------------------------------------------------------------------------
@dataclass
class Comparison:
    """The matured leads scored both ways (``frame``) and how they were chosen (``info``)."""

    frame: pd.DataFrame
    info: dict[str, Any] = field(default_factory=dict)


def build_comparison(
    tables: Tables,
    sqo_model: Any,
    rules_config: Any = None,
    end: pd.Timestamp | None = None,
    offset_days: int = OFFSET_DAYS,
    horizon_days: int = HORIZON_DAYS,
    capture_days: int = CAPTURE_DAYS,
) -> Comparison:
    """Score the matured leads with the model and the rules as they stood ``offset_days`` after capture.

    Uses the batch scorer (:func:`leadscore.serving.score.score_leads`), so the report compares exactly what the
    scorer would have delivered; leads the scorer could not score are counted, not silently lost.
    """
    from leadscore.features.rules import load_rules
    from leadscore.serving.score import score_leads

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
    info["model"] = f"{fmt_text(frame['model_name'].iloc[0]) if 'model_name' in frame and len(frame) else 'model'}"
    if "model_version" in frame and len(frame):
        info["model"] += f" v{fmt_text(frame['model_version'].iloc[0])}"
    return Comparison(frame, info)


def _pct_text(part: float, whole: float) -> str:
    return fmt_pct(100.0 * part / whole) if whole else "–"


def render_comparison_section(comparison: Comparison | None, capacity: int | None = None, note: str | None = None) -> str:
    """Section 2: ROC and gain, SQOs at capacity, calibration, agreement, disagreements, thresholds."""
    parts = ['<section id="compare"><h2>2. Predicted against rules</h2>']
    if comparison is None:
        parts.append(f'<div class="notice">{note or NO_MODEL_NOTE}</div></section>')
        return "\n".join(parts)
    frame, info = comparison.frame, comparison.info
    intro = (
        f"To judge both methods on outcomes that are already known, every lead captured between "
        f"{info['earliest_capture']:%Y-%m-%d} and {info['latest_capture']:%Y-%m-%d} is scored as it stood "
        f"{info['offset_days']} days after capture, by the model ({html.escape(str(info.get('model', 'model')))}) "
        f"and by the rule points, and then checked: did it reach SQO within the next {info['horizon_days']} days? "
        f"{fmt_int(info['n_leads'])} leads qualify, of which {fmt_int(info['n_sqo'])} "
        f"({_pct_text(info['n_sqo'], info['n_leads'])}) reached SQO. Left out: {fmt_int(info['n_already_sqo'])} leads "
        f"already at SQO when scored, {fmt_int(info.get('n_not_scored', 0))} the scorer could not score"
    )
    if info.get("not_scored_reasons"):
        intro += " (" + html.escape(", ".join(f"{k}: {v:,}" for k, v in info["not_scored_reasons"].items())) + ")"
    for reason, count in info.get("n_other_excluded", {}).items():
        intro += f", {count:,} for another reason ({html.escape(reason.replace('_', ' '))})"
    intro += (
        f", and {fmt_int(info['n_too_recent'])} captured too recently for their outcome to be known. Later leads "
        "cannot be judged yet, which is why this section looks further back than section 1."
    )
    parts.append(_p(intro, "lead"))
    y = frame["sqo"].to_numpy(dtype="float64")
    if len(frame) == 0 or y.sum() == 0 or y.sum() == len(y):
        parts.append('<div class="notice">Too few matured leads with both outcomes (reached SQO and not) to compare '
                     "the methods. Use an export with a longer history.</div></section>")
        return "\n".join(parts)
    n = len(frame)
    k = int(capacity) if capacity else default_capacity(n)
    k = min(max(k, 1), n)
    p = frame["p_sqo"].to_numpy(dtype="float64")
    rule = frame["rule_score"].to_numpy(dtype="float64")
    scores = {MODEL: p, RULES: rule}
    capacity_table = summarize_capacity(y, scores, capacity_grid(n, k))
    at_k = capacity_table[capacity_table["n_leads"] == k].iloc[0]
    more = at_k["n_sqo_model"] - at_k["n_sqo_rules"]
    headline = (
        f"If sales works the top <strong>{k:,}</strong> of these {n:,} leads ({fmt_pct(100.0 * k / n)}), ranking by the "
        f"model finds <strong>{fmt_count(at_k['n_sqo_model'])}</strong> SQOs and ranking by rule points "
        f"<strong>{fmt_count(at_k['n_sqo_rules'])}</strong> "
        + f"({'+' if more >= 0 else '−'}{fmt_count(abs(more))} for the model). "
        + f"A random pick would find about {fmt_count(round(at_k['n_sqo_random'], 1))}."
    )
    parts.append(f'<div class="headline">{headline}</div>')
    roc = {MODEL: compute_roc(y, p), RULES: compute_roc(y, rule)}
    gain = {MODEL: compute_gain(y, p), RULES: compute_gain(y, rule)}
    parts.append('<h3 id="compare-ranking">Who ranks future SQOs higher</h3><div class="row">')
    parts.append(
        render_figure(
            charts.plot_gain(gain, k / n),
            "gain chart of model and rules",
            f"Work down each ranking from the best-scored lead: the curve shows what share of all SQOs you have found "
            f"after working a given share of leads. Higher is better; the dotted line is your capacity of {k:,} "
            "leads. Leads with equal rule points are taken in proportion, so ties favour neither method.",
        )
    )
    parts.append(
        render_figure(
            charts.plot_roc(roc),
            "ROC curves of model and rules",
            f"How well each score separates leads that reached SQO from those that did not. AUC is the chance that "
            f"a random future SQO scores higher than a random other lead: model {roc[MODEL][2]:.2f}, rules "
            f"{roc[RULES][2]:.2f}, a coin 0.50.",
        )
    )
    parts.append("</div>")
    parts.append('<h3 id="compare-capacity">SQOs at the capacity sales has</h3>')
    parts.append(
        render_table(
            capacity_table,
            [
                Column("n_leads", "leads worked (K)", fmt_int),
                Column("share_of_leads", "share of leads", fmt_pct),
                Column("n_sqo_model", "SQOs, model", fmt_count),
                Column("sqo_rate_model", "hit rate, model", fmt_pct),
                Column("n_sqo_rules", "SQOs, rules", fmt_count),
                Column("sqo_rate_rules", "hit rate, rules", fmt_pct),
                Column("n_sqo_random", "SQOs, random", fmt_count),
                Column("n_sqo_best", "SQOs, perfect ranking", fmt_count),
            ],
            table_id="compare-capacity-table",
        )
    )
    parts.append(_p("Counts can have a decimal where the K-th place falls inside a group of leads with equal rule "
                    "points: the group is split in proportion (the expected count of a random choice among them). "
                    f"Change K with <code>--capacity</code> (now {k:,})."))
    calibration = summarize_calibration(y, p)
    parts.append('<h3 id="compare-calibration">Can the model\'s probabilities be taken at face value?</h3>')
    parts.append(
        render_figure(
            charts.plot_calibration(calibration),
            "calibration plot of the model",
            "The leads are sorted by predicted chance of SQO and cut into ten groups of equal size. Each dot is one "
            "group: its average predicted chance (across) against the share that really reached SQO (up). Dots on "
            "the dashed line mean a predicted 20% really is about 20%, so the probabilities can be used to plan.",
        )
    )
    parts.append(_render_agreement(frame))
    parts.append(_render_disagreements(frame, k))
    parts.append(_render_thresholds(frame))
    parts.append("</section>")
    return "\n".join(parts)


def _render_agreement(frame: pd.DataFrame) -> str:
    agreement = summarize_agreement(frame)
    rule_grades = list(dict.fromkeys(agreement["rule_grade"]))
    grades = list(dict.fromkeys(agreement["grade"]))
    cells = agreement.set_index(["grade", "rule_grade"])
    top = max(float(agreement["sqo_rate"].max(skipna=True) or 0.0), 1e-9)
    head = "<th></th>" + "".join(f'<th class="num">rules: {html.escape(g)}</th>' for g in rule_grades) + '<th class="num">all</th>'
    rows = []
    for grade in grades:
        tds = []
        for rule_grade in rule_grades:
            cell = cells.loc[(grade, rule_grade)]
            rate = cell["sqo_rate"]
            shade = 0.0 if _missing(rate) else min(float(rate) / top, 1.0)
            style = f"background: rgba(31, 95, 168, {0.08 + 0.5 * shade:.2f})" if cell["n_leads"] else ""
            tds.append(
                f'<td class="num matrix" style="{style}"><span class="big">{fmt_pct(rate)}</span>'
                f'<span class="small">{fmt_int(cell["n_leads"])} leads, {fmt_int(cell["n_sqo"])} SQO</span></td>'
            )
        row_all = agreement[agreement["grade"] == grade]
        n_all, sqo_all = int(row_all["n_leads"].sum()), int(row_all["n_sqo"].sum())
        tds.append(f'<td class="num matrix"><span class="big">{_pct_text(sqo_all, n_all)}</span>'
                   f'<span class="small">{n_all:,} leads</span></td>')
        rows.append(f'<tr><th class="txt">model: {html.escape(grade)}</th>{"".join(tds)}</tr>')
    table = (f'<div class="table-wrap"><table id="compare-agreement" class="matrix-table"><thead><tr>{head}</tr></thead>'
             f'<tbody>{"".join(rows)}</tbody></table></div>')
    return (
        '<h3 id="compare-agreement-h">Where the model and the rules agree</h3>' + table
        + _p("Rows are the model's grade (A best), columns the rule temperature. Each cell shows the share of its "
             "leads that reached SQO (darker = higher) and how many leads it holds. Cells on the diagonal are leads "
             "both methods see alike; the corners off it are where they disagree, and the SQO share there tells "
             "who was right.")
    )


def _render_disagreements(frame: pd.DataFrame, capacity: int) -> str:
    summary = summarize_disagreement(frame, capacity).set_index("group")
    table = find_disagreements(frame, capacity, N_DISAGREEMENTS)
    for column in ("reasons_positive", "reasons_negative", "reasons", "rule_reasons"):
        if column not in table:
            table = table.assign(**{column: ""})
    parts = ['<h3 id="compare-disagree">Where they disagree, and who was right</h3>']
    model_only, rules_only, both = summary.loc["model only"], summary.loc["rules only"], summary.loc["both"]
    parts.append(render_table(
        summary.reset_index().assign(group=lambda f: f["group"].map({
            "both": "in both top lists", "model only": "model's top only", "rules only": "rules' top only",
            "neither": "in neither"})),
        [Column("group", f"top {capacity:,} by", numeric=False), Column("n_leads", "leads", fmt_int),
         Column("n_sqo", "reached SQO", fmt_int), Column("sqo_rate", "SQO rate", fmt_pct)],
        table_id="compare-disagree-summary",
    ))
    parts.append(_p(
        f"At a capacity of {capacity:,} leads, {fmt_int(both['n_leads'])} leads are in both methods' top list. "
        f"The {fmt_int(model_only['n_leads'])} leads only the model would send to sales reached SQO at "
        f"{fmt_pct(model_only['sqo_rate'])}; the {fmt_int(rules_only['n_leads'])} only the rules would send, at "
        f"{fmt_pct(rules_only['sqo_rate'])}. Leads tied with the last place are counted in, so a list can be a "
        "little longer than the capacity."
    ))
    base = [
        Column("lead_id", "lead", numeric=False),
        Column("p_sqo", "model: chance of SQO", fmt_prob),
        Column("grade", "grade", numeric=False),
        Column("rule_score", "rule points", fmt_int),
        Column("rule_grade", "temperature", numeric=False),
        Column("sqo", "reached SQO?", lambda v: "yes" if v == 1 else "no", numeric=False,
               css=lambda r: "yes" if r["sqo"] == 1 else ""),
    ]
    model_reasons = "reasons_positive" if table["reasons_positive"].astype(str).str.strip().ne("").any() else "reasons"
    for direction, reasons_key, reasons_header, text in (
        ("model high, rules low", model_reasons, "why the model rates it high",
         "In the model's top list, far down the rules' ranking."),
        ("rules high, model low", "reasons_negative", "why the model rates it low",
         "In the rules' top list, far down the model's ranking."),
    ):
        subset = table[table["direction"] == direction]
        parts.append(f"<h4>{html.escape(direction.capitalize())}</h4>")
        if subset.empty:
            parts.append(_p("No such leads: every lead in this method's top list is also in the other's."))
            continue
        columns = [*base, Column(reasons_key, reasons_header, numeric=False, css=lambda r: "reasons"),
                   Column("rule_reasons", "rule points that fired", numeric=False, css=lambda r: "reasons")]
        parts.append(render_table(subset, columns, table_id="disagree-" + direction.split(",")[0].replace(" ", "-")))
        parts.append(_p(f"{text} {int(subset['sqo'].sum())} of these {len(subset)} reached SQO."))
    return "\n".join(parts)


def _render_thresholds(frame: pd.DataFrame) -> str:
    review = review_thresholds(frame, RULE_THRESHOLDS)
    parts = ['<h3 id="compare-thresholds">Are the rule thresholds set right?</h3>', '<div class="row">']
    parts.append(
        render_table(
            review,
            [
                Column("threshold", "rule threshold", lambda v: f"≥ {float(v):g}"),
                Column("n_pass", "leads passing", fmt_int),
                Column("share_pass", "share of leads", fmt_pct),
                Column("n_sqo_rules", "rules: SQOs", fmt_count),
                Column("sqo_rate_rules", "rules: SQO rate", fmt_pct),
                Column("share_of_sqo_rules", "rules: of all SQOs", fmt_pct),
                Column("n_sqo_model", "model: SQOs", fmt_count),
                Column("sqo_rate_model", "model: SQO rate", fmt_pct),
                Column("share_of_sqo_model", "model: of all SQOs", fmt_pct),
            ],
            table_id="compare-thresholds-table",
        )
    )
    parts.append(
        render_figure(
            charts.plot_thresholds(review),
            "bars of SQO rate per rule threshold for rules and model",
            "For each rule threshold, the orange bar is the share of passing leads that reached SQO; the blue bar is "
            "the same for the model's best leads at the same volume. A threshold that passes many leads with a low "
            "share is too loose; one that passes few while good leads stay below it is too strict. The table's "
            "\"of all SQOs\" columns say how many of the SQOs that did happen each cut would have kept.",
        )
    )
    parts.append("</div>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# Section 3: a scorer output
# --------------------------------------------------------------------------------------------------
def check_scores(scores: pd.DataFrame, source: str = "the scores file") -> pd.DataFrame:
    """Raise a clear error when ``scores`` is not a scorer output (it needs lead_id, score, grade)."""
    missing = [c for c in SCORES_COLUMNS if c not in scores.columns]
    if missing:
        raise LeadscoreError(f"{source} lacks column(s) {', '.join(missing)}; pass the output of `leadscore score`.")
    return scores


def render_scores_section(scores: pd.DataFrame | None) -> str:
    """Section 3: distribution of new scores and grades, and the top leads with their reasons."""
    if scores is None:
        return ""
    check_scores(scores)
    parts = ['<section id="scores"><h2>3. The latest scores</h2>']
    status = scores["status"].astype("object").fillna("missing") if "status" in scores else pd.Series("ok", index=scores.index)
    ok = scores[(status == "ok").to_numpy() & pd.to_numeric(scores["score"], errors="coerce").notna().to_numpy()]
    not_ok = status[status != "ok"].value_counts()
    text = f"{len(scores):,} leads in the scores file, {len(ok):,} scored"
    if len(not_ok):
        text += "; not scored: " + ", ".join(f"{html.escape(str(k))} {v:,}" for k, v in not_ok.items())
    if "as_of" in scores and len(scores):
        as_of = pd.to_datetime(scores["as_of"], utc=True, errors="coerce")
        if as_of.notna().any():
            text += f". Scored as of {as_of.min():%Y-%m-%d}" + (
                f" to {as_of.max():%Y-%m-%d}" if as_of.max().date() != as_of.min().date() else ""
            )
    parts.append(_p(text + ".", "lead"))
    if ok.empty:
        parts.append('<div class="notice">No lead in the scores file was scored.</div></section>')
        return "\n".join(parts)
    parts.append(
        render_figure(
            charts.plot_score_distribution(ok["score"], ok["grade"]),
            "histogram of scores coloured by grade, and leads per grade",
            "Left: how the new leads' scores (0–100, from the model's calibrated chance of SQO) spread, coloured by "
            "grade. Right: how many leads got each grade. Most new leads score low; the few at the right are the "
            "ones to call first.",
            wide=True,
        )
    )
    grades = ok.assign(p=pd.to_numeric(ok["p_sqo"], errors="coerce") if "p_sqo" in ok else np.nan)
    by_grade = grades.groupby(grades["grade"].astype("object").fillna("(none)")).agg(
        n_leads=("lead_id", "size"), mean_p=("p", "mean"), min_score=("score", "min"), max_score=("score", "max")
    ).reset_index(names="grade")
    by_grade["share"] = 100.0 * by_grade["n_leads"] / len(ok)
    by_grade["expected_sqo"] = by_grade["mean_p"] * by_grade["n_leads"]
    parts.append(
        render_table(
            by_grade,
            [
                Column("grade", "grade", numeric=False),
                Column("n_leads", "leads", fmt_int),
                Column("share", "share", fmt_pct),
                Column("min_score", "lowest score", fmt_int),
                Column("max_score", "highest score", fmt_int),
                Column("mean_p", "average chance of SQO", fmt_prob),
                Column("expected_sqo", "expected SQOs", fmt_count),
            ],
            table_id="scores-grades",
        )
    )
    sort_key = "p_sqo" if "p_sqo" in ok else "score"
    top = ok.assign(_key=pd.to_numeric(ok[sort_key], errors="coerce")).sort_values(
        ["_key", "lead_id"], ascending=[False, True], kind="stable"
    ).head(N_TOP_LEADS)
    columns = [Column("lead_id", "lead", numeric=False), Column("score", "score", fmt_int),
               Column("grade", "grade", numeric=False)]
    if "p_sqo" in top:
        columns.append(Column("p_sqo", "chance of SQO", fmt_prob))
    for key, header in (("rule_score", "rule points"), ("rule_grade", "temperature")):
        if key in top:
            columns.append(Column(key, header, fmt_int if key == "rule_score" else fmt_text, numeric=key == "rule_score"))
    for key, header in (("reasons_positive", "why"), ("reasons_negative", "against")):
        if key in top:
            columns.append(Column(key, header, numeric=False, css=lambda r: "reasons"))
    if "reasons_positive" not in top and "reasons" in top:
        columns.append(Column("reasons", "reasons", numeric=False, css=lambda r: "reasons"))
    parts.append(f'<h3 id="scores-top">The {len(top)} best-scored leads</h3>')
    parts.append(render_table(top, columns, table_id="scores-top-table"))
    parts.append("</section>")
    return "\n".join(parts)


# --------------------------------------------------------------------------------------------------
# The page
# --------------------------------------------------------------------------------------------------
CSS = """
:root { --ink: #1d2433; --muted: #5b6475; --line: #dde2ea; --model: #1f5fa8; --rules: #d9730d; }
* { box-sizing: border-box; }
body { margin: 0; color: var(--ink); background: #f6f7f9;
  font: 14px/1.5 system-ui, -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; }
main { max-width: 1240px; margin: 0 auto; padding: 24px 28px 60px; background: #fff; }
header h1 { margin: 0 0 4px; font-size: 26px; }
header .meta { color: var(--muted); margin: 0; }
nav { margin: 14px 0 6px; padding: 10px 14px; background: #f1f4f8; border-radius: 6px; }
nav a { margin-right: 16px; color: var(--model); text-decoration: none; white-space: nowrap; }
h2 { margin: 34px 0 8px; padding-bottom: 6px; border-bottom: 2px solid var(--ink); font-size: 21px; }
h3 { margin: 26px 0 8px; font-size: 16px; }
h4 { margin: 16px 0 6px; font-size: 14px; color: var(--muted); }
p.lead { font-size: 14.5px; max-width: 1000px; }
p.note { color: var(--muted); font-size: 12.5px; max-width: 1000px; margin: 6px 0 12px; }
code { background: #eef1f5; padding: 1px 4px; border-radius: 3px; font-size: 12.5px; }
.cards { display: flex; flex-wrap: wrap; gap: 12px; margin: 14px 0; }
.card { flex: 1 1 200px; border: 1px solid var(--line); border-radius: 8px; padding: 10px 14px; }
.card-label { color: var(--muted); font-size: 12px; }
.card-value { font-size: 24px; font-weight: 600; }
.card-detail { font-size: 12px; color: var(--muted); }
.card.alert { border-color: #e3a19a; background: #fdf1f0; }
.card.ok { border-color: #a9d5b3; background: #f1f9f3; }
.row { display: flex; flex-wrap: wrap; gap: 18px; align-items: flex-start; }
.table-wrap { overflow-x: auto; max-width: 100%; }
table { border-collapse: collapse; margin: 6px 0 10px; font-size: 13px; }
th, td { padding: 4px 9px; border-bottom: 1px solid var(--line); vertical-align: top; }
thead th { background: #f1f4f8; font-weight: 600; border-bottom: 2px solid #c9d1dc; white-space: normal;
  vertical-align: bottom; }
tbody tr:nth-child(even) { background: #fafbfc; }
.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
.txt { text-align: left; }
td.reasons { min-width: 220px; max-width: 340px; font-size: 12px; white-space: normal; }
td.up { color: #1a7f37; } td.down { color: #b42318; }
span.up { color: #1a7f37; } span.down { color: #b42318; }
td.yes { color: #1a7f37; font-weight: 600; }
.v-failing { background: #fbdcd8 !important; } .v-below-good { background: #fff1c9 !important; }
.v-good { background: #dcf1e0 !important; } .v-excellent { background: #b9e4c3 !important; }
.v-below-typical { background: #fff1c9 !important; } .v-typical { background: #dcf1e0 !important; }
.v-above-typical { background: #b9e4c3 !important; }
.chip { padding: 0 6px; border-radius: 3px; }
figure { margin: 6px 0 14px; max-width: 720px; }
figure.wide { max-width: 860px; }
.row > .table-wrap { flex: 0 0 auto; }
.row > figure { flex: 1 1 440px; max-width: 600px; }
figure img { display: block; max-width: 100%; height: auto; border: 1px solid var(--line); border-radius: 4px; }
figcaption { color: var(--muted); font-size: 12.5px; margin-top: 4px; }
.notice { padding: 12px 16px; background: #fff8e6; border: 1px solid #f0d48a; border-radius: 6px; max-width: 1000px; }
.headline { padding: 12px 16px; background: #eef4fb; border-left: 4px solid var(--model); font-size: 15px;
  max-width: 1000px; margin: 10px 0; }
.matrix-table td.matrix { min-width: 120px; text-align: center; }
.matrix-table .big { display: block; font-size: 16px; font-weight: 600; }
.matrix-table .small { display: block; font-size: 11px; color: var(--muted); }
footer { margin-top: 40px; color: var(--muted); font-size: 12px; }
"""


def render_report(
    tables: Tables,
    kpis: FunnelKpis,
    comparison: Comparison | None = None,
    scores: pd.DataFrame | None = None,
    capacity: int | None = None,
    model_note: str | None = None,
) -> str:
    """The whole page as one HTML string (sections 2 and 3 as available)."""
    nav = ['<a href="#funnel">1. Funnel KPIs</a>', '<a href="#compare">2. Predicted against rules</a>']
    if scores is not None:
        nav.append('<a href="#scores">3. The latest scores</a>')
    generated = pd.Timestamp.now(tz="UTC")
    body = [
        "<header><h1>Lead scoring report</h1>",
        f'<p class="meta">Data: {html.escape(str(tables.source))} · data up to {tables.data_end:%Y-%m-%d %H:%M} UTC · '
        f"report as of {kpis.window.end:%Y-%m-%d %H:%M} UTC · generated {generated:%Y-%m-%d %H:%M} UTC</p></header>",
        f"<nav>{''.join(nav)}</nav>",
        render_funnel_section(kpis),
        render_comparison_section(comparison, capacity, model_note),
        render_scores_section(scores),
        "<footer>Made by leadscore. Every chart and table in this file is self-contained; the page needs no "
        "network connection.</footer>",
    ]
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1">'
        f"<title>Lead scoring report · {kpis.window.end:%Y-%m-%d}</title><style>{CSS}</style></head>"
        f"<body><main>{''.join(body)}</main></body></html>\n"
    )


def _write_atomic(text: str, target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(text)
        # mkstemp creates the file private (0600); a report is meant to be shared, so honour the umask.
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp_name, 0o666 & ~umask)
        os.replace(tmp_name, target)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return target


def write_report(
    tables: Tables,
    out: str | os.PathLike,
    scores: pd.DataFrame | None = None,
    sqo_model: Any = None,
    rules_config: Any = None,
    as_of: pd.Timestamp | str | None = None,
    capacity: int | None = None,
    *,
    window_days: int = 90,
    model_note: str | None = None,
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
        The loaded SQO model (from :mod:`leadscore.serving.loading`); without it section 2 says how to train one.
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
        HTML shown in section 2 instead of the default "no model" notice (e.g. why loading failed).

    Returns
    -------
    pathlib.Path
        The written file.
    """
    started = time.perf_counter()
    if capacity is not None and capacity < 1:
        raise LeadscoreError(f"--capacity must be a positive number of leads, not {capacity}.")
    kpis = build_funnel_kpis(tables, as_of, window_days)
    log.info("funnel KPIs in %.1f s", time.perf_counter() - started)
    comparison = None
    if sqo_model is not None and not has_table(tables, "stage_history"):
        model_note = ("The export has no stage_history table, so no lead's outcome is known and the model cannot be "
                      "compared with the rules. Add stage_history (lead_id, stage, entered_at) to see this section.")
    elif sqo_model is not None:
        comparison = build_comparison(tables, sqo_model, rules_config, end=kpis.window.end)
        log.info("model against rules on %d matured leads in %.1f s", len(comparison.frame), time.perf_counter() - started)
    page = render_report(tables, kpis, comparison, scores, capacity, model_note)
    target = _write_atomic(page, Path(out))
    log.info("report written to %s (%.0f kB) in %.1f s", target, len(page) / 1024, time.perf_counter() - started)
    return target
