"""Funnel KPIs for the marketing report, as plain numeric DataFrames (formatting is the page's job).

Every table describes one *report window*: by default the 90 days up to the report's ``as_of``, next to
the 90 days before it, so each number has a comparison of equal length. Stage counts are *cohort*
counts, as in the worked example of ``shared/spec/funnel.md``: the leads captured in the window and the
furthest stage each reached by the window's end (through :func:`leadscore.features.funnel.summarize_funnel`, so
the demo, the generator's checks and the report agree). The previous window is observed at its own end,
so both windows have had the same time to move down the funnel.

Two kinds of export would otherwise give a wrong page. One where no lead was captured in the 90 days
before the report's moment (an export whose leads stop earlier than its events): the window then moves
back to the latest 90 days that hold leads (ending at the last capture), and the page says so. One whose
stage history never records some funnel stages (many CRMs write only MQL, SQO and WON): counted the
funnel's way, where a lead that reached a later stage reached every earlier one, such a stage would show
a 100% conversion with an "excellent" verdict. Stages the export never records are *not recorded*:
no count, no rate, no verdict, and "% of previous stage" is taken over the previous recorded stage.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.contract import FUNNEL_ORDER
from leadscore.features.funnel import summarize_funnel
from leadscore.features.tables import Tables

UNKNOWN = "(unknown)"
NO_VALUE = "(none)"
OTHER = "other"
FUNNEL_STAGES = FUNNEL_ORDER  # MCL … WON
STAGE_RATES = (("MQL", "SAL"), ("SAL", "SQL"), ("SQL", "SQO"))
VELOCITY_STEPS = (("MCL", "MEL"), ("MEL", "MQL"), ("MQL", "SAL"), ("SAL", "SQL"), ("SQL", "SQO"), ("SQO", "WON"))

# Rules of thumb from shared/spec/funnel.md: (failing below, good above, excellent above), in percent.
HEALTH_RULES: dict[tuple[str, str], tuple[float, float, float | None]] = {
    ("MQL", "SAL"): (50.0, 70.0, 85.0),
    ("SAL", "SQL"): (50.0, 65.0, 80.0),
    ("SQL", "SQO"): (40.0, 70.0, None),
}
NOT_RECORDED = "not recorded"
WIN_RATE_TYPICAL = (25.0, 45.0)
MIN_BASE_FOR_VERDICT = 20
SETTLE_DAYS = 30


@dataclass(frozen=True)
class ReportWindow:
    """The period a report describes, ``(start, end]``, and the period of equal length before it."""

    start: pd.Timestamp
    end: pd.Timestamp
    days: int

    @property
    def previous(self) -> ReportWindow:
        return ReportWindow(self.start - pd.Timedelta(days=self.days), self.start, self.days)

    def label(self) -> str:
        return f"{self.start:%Y-%m-%d} – {self.end:%Y-%m-%d}"

    def contains(self, times: pd.Series) -> pd.Series:
        return (times > self.start) & (times <= self.end)


@dataclass
class FunnelKpis:
    """Every table of the report's funnel section; empty frames where the export lacks the data.

    ``window`` is the window the tables describe: the one ending at ``requested_end`` (the report's
    moment), or, when no lead was captured in that one, the latest that holds leads. ``recorded`` holds
    the funnel stages the export records (see :func:`recorded_stages`).
    """

    window: ReportWindow
    requested_end: pd.Timestamp
    recorded: frozenset[str]
    stages: pd.DataFrame
    health: pd.DataFrame
    by_channel: pd.DataFrame
    by_region: pd.DataFrame
    by_campaign: pd.DataFrame
    email_sequence: pd.DataFrame
    velocity: pd.DataFrame
    spend: pd.DataFrame
    n_leads_outside: int

    @property
    def unrecorded(self) -> list[str]:
        """The funnel stages the export never records, in funnel order."""
        return [stage for stage in FUNNEL_STAGES if stage not in self.recorded]


def make_window(tables: Tables, as_of: pd.Timestamp | str | None = None, days: int = 90) -> ReportWindow:
    """The report window ending at ``as_of`` (default: the data's end) and lasting ``days`` days."""
    if days < 1:
        raise ValueError(f"the report window must last at least one day, not {days}")
    end = tables.data_end if as_of is None else pd.Timestamp(as_of)
    end = end.tz_localize("UTC") if end.tzinfo is None else end.tz_convert("UTC")
    return ReportWindow(start=end - pd.Timedelta(days=days), end=end, days=days)


def choose_window(tables: Tables, as_of: pd.Timestamp | str | None = None, days: int = 90) -> ReportWindow:
    """The window ending at ``as_of`` when a lead was captured in it, else the latest one that holds leads.

    The latest window with leads ends at the last capture at or before ``as_of``; with no capture at
    all by then, the requested (empty) window is kept and the page says so.
    """
    window = make_window(tables, as_of, days)
    captured = tables.leads["captured_at"]
    if window.contains(captured).any():
        return window
    earlier = captured[(captured <= window.end).fillna(False)]
    if earlier.empty:
        return window
    return ReportWindow(start=earlier.max() - pd.Timedelta(days=days), end=earlier.max(), days=days)


def recorded_stages(tables: Tables) -> frozenset[str]:
    """The stages the export records: MCL (every lead's capture), each funnel stage its stage history
    names, and LOST when it names it (a win rate needs the lost deals too).

    Any entry counts, at any time: a stage is "not recorded" only when the export never writes it.
    """
    named = set(tables.stage_history["stage"].dropna().astype("str").unique())
    return frozenset({FUNNEL_STAGES[0], *(stage for stage in (*FUNNEL_STAGES[1:], "LOST") if stage in named)})


# The stages a conversion rate reads, beyond its two ends: a win rate is over decided deals, won or lost.
CONVERSION_NEEDS = {("SQO", "WON"): ("SQO", "WON", "LOST")}


def conversion_recorded(before: str, after: str, recorded: frozenset[str]) -> bool:
    """Whether the export records every stage the rate from ``before`` to ``after`` reads.

    SQO → won needs LOST as well: where lost deals are never recorded, every decided deal is a win and
    the rate would read 100%, "above typical".
    """
    return all(stage in recorded for stage in CONVERSION_NEEDS.get((before, after), (before, after)))


def _blank_unrecorded(funnel: pd.DataFrame, recorded: frozenset[str], by: str | None = None) -> pd.DataFrame:
    """:func:`summarize_funnel`'s rows with unrecorded stages blank and % of previous over the previous recorded stage."""
    if recorded >= set(FUNNEL_STAGES) or funnel.empty:
        return funnel
    out = funnel.copy()
    keep = out["stage"].isin(recorded)
    counts = out["n_leads"].astype("float64").where(keep)
    groups = out[by] if by is not None else pd.Series(0, index=out.index)
    previous = counts.groupby(groups).transform(lambda c: c.shift(1).ffill())
    out["n_leads"] = counts
    out["pct_of_previous"] = (100.0 * counts / previous).where(previous > 0)
    out["pct_of_mcl"] = out["pct_of_mcl"].where(keep)
    return out


def attach_segments(tables: Tables, top_campaigns: int = 8, window: ReportWindow | None = None) -> pd.DataFrame:
    """Leads with the segment columns the breakdowns use: ``channel``, ``region``, ``campaign_group``.

    Region comes from the lead's account; leads without an account, or whose account is missing or has
    no region, are "(unknown)". Campaigns beyond the ``top_campaigns`` largest (by leads captured in
    ``window``, or overall) are grouped as "other"; leads without a campaign are "(none)".
    """
    leads = tables.leads
    out = leads.loc[:, ["lead_id", "account_id", "captured_at", "channel", "campaign"]].copy()
    out["channel"] = out["channel"].astype("object").fillna(NO_VALUE)
    regions = tables.accounts.dropna(subset=["account_id"]).drop_duplicates("account_id").set_index("account_id")["region"]
    region = out["account_id"].map(regions)
    out["region"] = region.astype("object").where(region.notna(), UNKNOWN)
    campaign = out["campaign"].astype("object").fillna(NO_VALUE)
    ranked = campaign[window.contains(out["captured_at"])] if window is not None else campaign
    top = ranked[ranked != NO_VALUE].value_counts().sort_index(kind="stable").sort_values(ascending=False, kind="stable")
    keep = set(top.index[:top_campaigns])
    out["campaign_group"] = campaign.where(campaign.isin(keep) | (campaign == NO_VALUE), OTHER)
    return out


def _cohort_funnel(leads: pd.DataFrame, tables: Tables, window: ReportWindow, by: str | None = None) -> pd.DataFrame:
    cohort = leads[window.contains(leads["captured_at"])]
    funnel = summarize_funnel(cohort, tables.stage_history, by=by, as_of=window.end)
    return _blank_unrecorded(funnel, recorded_stages(tables), by)


def _pct_change(now: pd.Series, before: pd.Series) -> pd.Series:
    before = before.astype("float64")
    return (100.0 * (now - before) / before).where(before > 0)


def summarize_stage_kpis(tables: Tables, window: ReportWindow) -> pd.DataFrame:
    """Per stage: leads reaching it, % of previous, % of MCL, and the change against the previous window.

    Returns columns ``stage, n_leads, pct_of_previous, pct_of_mcl, n_leads_previous,
    pct_of_previous_previous, pct_change, recorded`` (percentages 0–100; change NaN where the previous
    count is 0; numbers NaN for a stage the export does not record, ``recorded`` False).
    """
    now = _cohort_funnel(tables.leads, tables, window)
    before = _cohort_funnel(tables.leads, tables, window.previous)
    out = now.copy()
    out["n_leads_previous"] = before["n_leads"].to_numpy()
    out["pct_of_previous_previous"] = before["pct_of_previous"].to_numpy()
    out["pct_change"] = _pct_change(out["n_leads"], out["n_leads_previous"])
    out["recorded"] = out["stage"].isin(recorded_stages(tables))
    return out


def rate_health(conversion: tuple[str, str], rate: float, n_base: int) -> str:
    """The rule-of-thumb verdict for one stage-to-stage conversion rate (percent).

    Returns one of ``failing``, ``below good``, ``good``, ``excellent`` (or for SQO→won ``below
    typical``, ``typical``, ``above typical``), ``too few leads`` when fewer than
    ``MIN_BASE_FOR_VERDICT`` leads form the base, and ``no rule`` for conversions without a rule.
    """
    if n_base < MIN_BASE_FOR_VERDICT or rate is None or np.isnan(rate):
        return "too few leads"
    if conversion == ("SQO", "WON"):
        low, high = WIN_RATE_TYPICAL
        return "below typical" if rate < low else "above typical" if rate > high else "typical"
    if conversion not in HEALTH_RULES:
        return "no rule"
    failing, good, excellent = HEALTH_RULES[conversion]
    if rate < failing:
        return "failing"
    if excellent is not None and rate > excellent:
        return "excellent"
    if rate > good:
        return "good"
    return "below good"


def _rule_text(conversion: tuple[str, str]) -> str:
    if conversion == ("SQO", "WON"):
        return f"{WIN_RATE_TYPICAL[0]:.0f}–{WIN_RATE_TYPICAL[1]:.0f}% typical"
    failing, good, excellent = HEALTH_RULES[conversion]
    text = f"< {failing:.0f}% failing, > {good:.0f}% good"
    return text + (f", > {excellent:.0f}% excellent" if excellent is not None else "")


def reach_times(tables: Tables) -> pd.DataFrame:
    """Per lead the first moment it reached each forward stage *or a later one*, plus its first loss.

    The funnel counts a lead at a stage when it reached that stage or any later one (a WON lead whose
    CRM skipped SQO is an SQO), so the moment it "reached SQO" is its first entry into SQO or WON,
    whichever came first. Columns: the stages of ``FUNNEL_ORDER`` and ``LOST``; index ``lead_id`` (the
    leads table's leads only).
    """
    first = first_stage_entries(tables)
    missing, never = np.iinfo("int64").min, np.iinfo("int64").max  # NaT's integer form, and "not yet"
    ns = np.column_stack([first[stage].to_numpy(dtype="datetime64[ns]").view("int64") for stage in FUNNEL_STAGES])
    ns = np.where(ns == missing, never, ns)
    reached = np.minimum.accumulate(ns[:, ::-1], axis=1)[:, ::-1]
    reached = np.where(reached == never, missing, reached).view("datetime64[ns]")
    out = pd.DataFrame(index=first.index)
    for i, stage in enumerate(FUNNEL_STAGES):
        out[stage] = pd.Series(reached[:, i], index=first.index).dt.tz_localize("UTC")
    history = tables.stage_history
    lost = history[history["stage"] == "LOST"].groupby("lead_id")["entered_at"].min()
    out["LOST"] = lost.reindex(out.index).astype("datetime64[ns, UTC]")
    return out


def summarize_conversions(
    tables: Tables,
    window: ReportWindow,
    groups: pd.Series | None = None,
    settle_days: int = SETTLE_DAYS,
    reach: pd.DataFrame | None = None,
) -> pd.DataFrame:
    """Stage-to-stage conversion rates of the leads that reached the earlier stage in the window.

    For MQL→SAL, SAL→SQL and SQL→SQO the base is the leads that reached the earlier stage in the window
    but at least ``settle_days`` before its end (capped at half the window), and the rate is the share
    of them that reached the later stage by the window's end. Leads that reached a stage yesterday have
    had no time to move on; counting them would make every recent period look like it is failing (on
    generated data the SQL→SQO rate of a fresh 90-day cohort read 48% where the same leads reached 63%
    once settled). For SQO→won the base is the window's new SQOs whose deal was decided (won or lost)
    by the window's end, since open deals are neither.

    Parameters
    ----------
    groups
        Optional segment of each lead (a Series indexed by ``lead_id``); without it one group "all".

    Returns
    -------
    pandas.DataFrame
        ``group, before, after, conversion, n_base, n_converted, rate, verdict`` (rate in %; for a
        conversion into or out of a stage the export does not record, or a win rate where lost deals
        are never recorded, no rate and the verdict "not recorded").
    """
    reach = reach_times(tables) if reach is None else reach
    settle = pd.Timedelta(days=min(settle_days, window.days // 2))
    key = pd.Series("all", index=reach.index) if groups is None else groups.reindex(reach.index).astype("object").fillna(NO_VALUE)
    in_window = window.contains

    def count(base: pd.Series, converted: pd.Series) -> pd.DataFrame:
        frame = pd.DataFrame({"group": key.to_numpy(), "base": base.to_numpy(), "converted": (base & converted).to_numpy()})
        return frame.groupby("group").agg(n_base=("base", "sum"), n_converted=("converted", "sum"))

    parts = []
    for before, after in STAGE_RATES:
        reached_before = reach[before]
        base = (reached_before > window.start) & (reached_before <= window.end - settle)
        converted = reach[after].notna() & (reach[after] <= window.end)
        parts.append(count(base, converted).assign(before=before, after=after))
    decided_at = reach[["WON", "LOST"]].min(axis=1)
    base = in_window(reach["SQO"]) & decided_at.notna() & (decided_at <= window.end)
    won = reach["WON"].notna() & (reach["WON"] <= window.end)
    parts.append(count(base, won).assign(before="SQO", after="WON"))
    out = pd.concat(parts).reset_index()
    out["n_base"] = out["n_base"].astype("int64")
    out["n_converted"] = out["n_converted"].astype("int64")
    out["rate"] = (100.0 * out["n_converted"] / out["n_base"].astype("float64")).where(out["n_base"] > 0)
    out["conversion"] = out["before"] + " → " + out["after"]
    out["verdict"] = [rate_health((b, a), r, n) for b, a, r, n in zip(out["before"], out["after"], out["rate"], out["n_base"], strict=True)]
    recorded = recorded_stages(tables)
    unrecorded = ~np.array([conversion_recorded(b, a, recorded) for b, a in zip(out["before"], out["after"], strict=True)],
                           dtype=bool)
    if unrecorded.any():
        # A stage the export never writes would convert "100%" (reaching SQO implies SQL; with no LOST every
        # decided deal is won): no rate, no verdict.
        out["n_base"] = out["n_base"].astype("float64").mask(unrecorded)
        out["n_converted"] = out["n_converted"].astype("float64").mask(unrecorded)
        out["rate"] = out["rate"].mask(unrecorded)
        out.loc[unrecorded, "verdict"] = NOT_RECORDED
    return out.loc[:, ["group", "before", "after", "conversion", "n_base", "n_converted", "rate", "verdict"]]


def assess_health(tables: Tables, window: ReportWindow, reach: pd.DataFrame | None = None) -> pd.DataFrame:
    """The rules-of-thumb check of ``funnel.md`` on this window's settled conversion rates.

    Rates as :func:`summarize_conversions` makes them, for this window and the previous one. Returns
    ``conversion, rate, rate_previous, n_base, n_converted, rule, verdict``.
    """
    reach = reach_times(tables) if reach is None else reach
    now = summarize_conversions(tables, window, reach=reach)
    before = summarize_conversions(tables, window.previous, reach=reach)
    out = now.loc[:, ["conversion", "rate", "n_base", "n_converted", "verdict"]].copy()
    out["rate_previous"] = before["rate"].to_numpy()
    out["rule"] = [_rule_text((b, a)) for b, a in zip(now["before"], now["after"], strict=True)]
    out.loc[now["after"].to_numpy() == "WON", "conversion"] = "SQO → won (decided deals)"
    return out.loc[:, ["conversion", "rate", "rate_previous", "n_base", "n_converted", "rule", "verdict"]].reset_index(drop=True)


def summarize_breakdown(
    segments: pd.DataFrame, tables: Tables, window: ReportWindow, by: str, reach: pd.DataFrame | None = None
) -> pd.DataFrame:
    """The funnel per value of ``by`` (one row per group), with changes and conversion verdicts.

    Columns: ``by``, one count column per stage (MCL … WON), ``n_mcl_previous``, ``mcl_change_pct``,
    ``n_sqo_previous``, ``sqo_change_pct``, the settled conversion rates of
    :func:`summarize_conversions` ``pct_mql_to_sal``, ``pct_sal_to_sql``, ``pct_sql_to_sqo`` with an
    ``n_base_…`` and a ``verdict_…`` column each, and ``pct_sqo_of_mcl``. Groups are ordered by MCL volume, with
    "other", "(none)" and "(unknown)" last; groups with no leads in either window are left out.
    """
    now = _cohort_funnel(segments, tables, window, by=by)
    before = _cohort_funnel(segments, tables, window.previous, by=by)
    wide = now.pivot(index=by, columns="stage", values="n_leads").reindex(columns=list(FUNNEL_STAGES))
    wide_before = before.pivot(index=by, columns="stage", values="n_leads").reindex(columns=list(FUNNEL_STAGES))
    groups = wide.index.union(wide_before.index)
    wide = wide.reindex(groups).fillna(0).astype("int64")
    wide_before = wide_before.reindex(groups).fillna(0).astype("int64")
    out = wide.copy()
    out.columns = list(FUNNEL_STAGES)
    out.index.name = by
    out["n_mcl_previous"] = wide_before["MCL"]
    out["mcl_change_pct"] = _pct_change(out["MCL"], out["n_mcl_previous"])
    out["n_sqo_previous"] = wide_before["SQO"]
    out["sqo_change_pct"] = _pct_change(out["SQO"], out["n_sqo_previous"])
    conversions = summarize_conversions(tables, window, segments.set_index("lead_id")[by], reach=reach)
    for before_stage, after_stage in STAGE_RATES:
        suffix = f"{before_stage.lower()}_to_{after_stage.lower()}"
        rates = conversions[(conversions["before"] == before_stage) & (conversions["after"] == after_stage)]
        rates = rates.set_index("group").reindex(out.index)
        out[f"pct_{suffix}"] = rates["rate"]
        out[f"n_base_{suffix}"] = rates["n_base"].fillna(0).astype("int64")
        out[f"verdict_{suffix}"] = rates["verdict"].fillna("too few leads")
    # Groups absent from a window were filled with zeros above; a stage never recorded has no count at all.
    unrecorded = [stage for stage in FUNNEL_STAGES if stage not in recorded_stages(tables)]
    if unrecorded:
        out[unrecorded] = np.nan
        if "SQO" in unrecorded:
            out[["n_sqo_previous", "sqo_change_pct"]] = np.nan
    mcl = out["MCL"].astype("float64")
    out["pct_sqo_of_mcl"] = (100.0 * out["SQO"] / mcl).where(mcl > 0)
    out = out.reset_index()
    catch_all = out[by].isin([OTHER, NO_VALUE, UNKNOWN])
    out = pd.concat(
        [
            out[~catch_all].sort_values(["MCL", by], ascending=[False, True], kind="stable"),
            out[catch_all].sort_values(by, kind="stable"),
        ]
    )
    return out.reset_index(drop=True)


def summarize_email_sequence(tables: Tables, window: ReportWindow) -> pd.DataFrame:
    """Per nurture e-mail step: leads sent, opened and clicked in the window, with rates.

    Counts are distinct leads per step among e-mail events that occurred in the window (a lead opening
    the same e-mail three times is one opener). ``open_rate`` and ``click_rate`` are over leads sent,
    ``click_to_open_rate`` over leads who opened; NaN where the base is zero. E-mail events without a
    step are counted in a "(no step)" row rather than dropped.
    """
    events = tables.events
    kinds = {"email_sent": "n_sent", "email_open": "n_opened", "email_click": "n_clicked"}
    mail = events[events["event_type"].isin(list(kinds)) & window.contains(events["occurred_at"])]
    columns = ["email_step", "n_sent", "n_opened", "n_clicked", "open_rate", "click_rate", "click_to_open_rate"]
    if mail.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    step = mail["email_step"].astype("float64")
    step_label = step.map(lambda s: "(no step)" if np.isnan(s) else f"{s:g}").astype("object")
    frame = pd.DataFrame({"step": step_label.to_numpy(), "sort": step.fillna(np.inf).to_numpy(),
                          "kind": mail["event_type"].map(kinds).to_numpy(), "lead_id": mail["lead_id"].to_numpy()})
    counts = frame.groupby(["sort", "step", "kind"])["lead_id"].nunique().unstack("kind")
    counts = counts.reindex(columns=list(kinds.values())).fillna(0).astype("int64").reset_index()
    counts.columns.name = None
    sent = counts["n_sent"].astype("float64")
    opened = counts["n_opened"].astype("float64")
    counts["open_rate"] = (100.0 * counts["n_opened"] / sent).where(sent > 0)
    counts["click_rate"] = (100.0 * counts["n_clicked"] / sent).where(sent > 0)
    counts["click_to_open_rate"] = (100.0 * counts["n_clicked"] / opened).where(opened > 0)
    counts = counts.rename(columns={"step": "email_step"})
    return counts.loc[:, columns].reset_index(drop=True)


def first_stage_entries(tables: Tables) -> pd.DataFrame:
    """Per lead the first time it entered each forward stage (MCL = capture), as a wide frame.

    Indexed by the leads table's ``lead_id``; stage entries of leads not in it are ignored.
    """
    out = pd.DataFrame({"MCL": tables.leads.set_index("lead_id")["captured_at"]})
    history = tables.stage_history
    firsts = history[history["stage"].isin(list(FUNNEL_STAGES[1:]))].groupby(["stage", "lead_id"])["entered_at"].min()
    present = set(firsts.index.get_level_values("stage"))
    for stage in FUNNEL_STAGES[1:]:
        values = firsts.loc[stage] if stage in present else pd.Series(dtype="datetime64[ns, UTC]")
        out[stage] = values.reindex(out.index).astype("datetime64[ns, UTC]")
    return out


def summarize_velocity(tables: Tables, window: ReportWindow) -> pd.DataFrame:
    """Median days between first entries of consecutive stages, for moves completed in each window.

    A move counts in the window in which its later stage was first entered; leads that skipped a stage
    have no time for it. Moves recorded backwards in time (a later stage entered before the earlier
    one, a CRM data-entry artefact) are counted in ``n_out_of_order`` and left out of the median.
    Returns ``step, n_leads, median_days, n_leads_previous, median_days_previous, n_out_of_order``.
    """
    first = first_stage_entries(tables)
    rows = []
    for before, after in VELOCITY_STEPS:
        pair = first[[before, after]].dropna()
        days = (pair[after] - pair[before]).dt.total_seconds() / 86400.0
        row: dict[str, object] = {"step": f"{before} → {after}"}
        out_of_order = 0
        for suffix, period in (("", window), ("_previous", window.previous)):
            inside = period.contains(pair[after])
            valid = days[inside & (days >= 0)]
            row[f"n_leads{suffix}"] = int(len(valid))
            row[f"median_days{suffix}"] = float(valid.median()) if len(valid) else np.nan
            if not suffix:
                out_of_order = int((inside & (days < 0)).sum())
        row["n_out_of_order"] = out_of_order
        rows.append(row)
    return pd.DataFrame(rows).loc[
        :, ["step", "n_leads", "median_days", "n_leads_previous", "median_days_previous", "n_out_of_order"]
    ]


def _window_spend(spend: pd.DataFrame, window: ReportWindow) -> pd.Series:
    """Spend per channel falling in the window, each month prorated by its days inside the window."""
    if spend.empty:
        return pd.Series(dtype="float64")
    month_start = pd.to_datetime(spend["month"].astype("str") + "-01", utc=True, errors="coerce")
    month_end = month_start + pd.offsets.MonthBegin(1)
    overlap_start = month_start.where(month_start > window.start, window.start)
    overlap_end = month_end.where(month_end < window.end, window.end)
    overlap = ((overlap_end - overlap_start).dt.total_seconds()).clip(lower=0)
    share = overlap / (month_end - month_start).dt.total_seconds()
    amount = spend["amount_usd"].astype("float64").fillna(0.0) * share.fillna(0.0)
    return amount.groupby(spend["channel"].astype("object").fillna(NO_VALUE)).sum()


def attribute_won_revenue(tables: Tables, window: ReportWindow) -> pd.DataFrame:
    """Won deals closed in the window, each attributed to one acquisition channel.

    A deal with a ``lead_id`` belongs to that lead's channel. A deal with only an ``account_id`` belongs
    to the channel of the account's first captured lead (first touch). Deals that neither rule places
    are kept under "(unattributed)". Returns ``channel, n_won_deals, won_revenue_usd``.
    """
    opportunities = tables.opportunities
    won = opportunities[(opportunities["outcome"] == "won") & window.contains(opportunities["closed_at"])]
    if won.empty:
        return pd.DataFrame({"channel": pd.Series(dtype="object"), "n_won_deals": pd.Series(dtype="int64"),
                             "won_revenue_usd": pd.Series(dtype="float64")})
    leads = tables.leads
    by_lead = leads.set_index("lead_id")["channel"].astype("object").fillna(NO_VALUE)
    first_touch = (
        leads.dropna(subset=["account_id"]).sort_values(["captured_at", "lead_id"], kind="stable")
        .drop_duplicates("account_id").set_index("account_id")["channel"].astype("object").fillna(NO_VALUE)
    )
    channel = won["lead_id"].map(by_lead)
    channel = channel.where(channel.notna(), won["account_id"].map(first_touch))
    channel = channel.astype("object").fillna("(unattributed)")
    frame = pd.DataFrame({"channel": channel.to_numpy(), "amount": won["amount_usd"].astype("float64").fillna(0.0).to_numpy()})
    out = frame.groupby("channel").agg(n_won_deals=("amount", "size"), won_revenue_usd=("amount", "sum")).reset_index()
    return out


def summarize_spend(tables: Tables, by_channel: pd.DataFrame, window: ReportWindow) -> pd.DataFrame:
    """Cost per MCL, MQL and SQO and ROI per channel for the window (empty without spend data).

    Spend is prorated from months to the window's days; a channel without any spend row has an unknown
    (NaN) spend and so no costs or ROI, while an explicit zero spend gives zero costs. Costs divide the window's spend by the leads
    captured in the window that reached each stage (the channel breakdown's counts). ROI is
    ``(won revenue − spend) / spend`` with won revenue from deals closed in the window, attributed as
    :func:`attribute_won_revenue` says. Returns ``channel, spend_usd, n_mcl, n_mql, n_sqo,
    cost_per_mcl, cost_per_mql, cost_per_sqo, n_won_deals, won_revenue_usd, roi_pct``.
    """
    columns = ["channel", "spend_usd", "n_mcl", "n_mql", "n_sqo", "cost_per_mcl", "cost_per_mql", "cost_per_sqo",
               "n_won_deals", "won_revenue_usd", "roi_pct"]
    if tables.spend.empty:
        return pd.DataFrame({c: pd.Series(dtype="float64") for c in columns})
    spend = _window_spend(tables.spend, window)
    counts = by_channel.set_index("channel")[["MCL", "MQL", "SQO"]]
    revenue = attribute_won_revenue(tables, window).set_index("channel")
    channels = spend.index.union(counts.index).union(revenue.index)
    out = pd.DataFrame(index=channels)
    # A channel absent from the spend table has an unknown cost (NaN), not a zero one.
    out["spend_usd"] = spend.reindex(channels)
    for stage in ("MCL", "MQL", "SQO"):
        n = counts[stage].reindex(channels).fillna(0).astype("int64")
        out[f"n_{stage.lower()}"] = n
        out[f"cost_per_{stage.lower()}"] = (out["spend_usd"] / n.astype("float64")).where(n > 0)
    out["n_won_deals"] = revenue["n_won_deals"].reindex(channels).fillna(0).astype("int64")
    out["won_revenue_usd"] = revenue["won_revenue_usd"].reindex(channels).fillna(0.0)
    out["roi_pct"] = (100.0 * (out["won_revenue_usd"] - out["spend_usd"]) / out["spend_usd"]).where(out["spend_usd"] > 0)
    out = out.reset_index(names="channel").sort_values(["spend_usd", "channel"], ascending=[False, True], kind="stable")
    return out.loc[:, columns].reset_index(drop=True)


def build_funnel_kpis(
    tables: Tables, as_of: pd.Timestamp | str | None = None, window_days: int = 90, top_campaigns: int = 8
) -> FunnelKpis:
    """All funnel tables of the report for the window of ``window_days`` ending at ``as_of``.

    When no lead was captured in that window, the tables describe the latest window that holds leads
    (:func:`choose_window`); ``requested_end`` keeps the moment asked for.
    """
    requested = make_window(tables, as_of, window_days)
    window = choose_window(tables, as_of, window_days)
    segments = attach_segments(tables, top_campaigns=top_campaigns, window=window)
    stages = summarize_stage_kpis(tables, window)
    reach = reach_times(tables)
    by_channel = summarize_breakdown(segments, tables, window, "channel", reach)
    inside = window.contains(tables.leads["captured_at"]) | window.previous.contains(tables.leads["captured_at"])
    return FunnelKpis(
        window=window,
        requested_end=requested.end,
        recorded=recorded_stages(tables),
        stages=stages,
        health=assess_health(tables, window, reach),
        by_channel=by_channel,
        by_region=summarize_breakdown(segments, tables, window, "region", reach),
        by_campaign=summarize_breakdown(segments, tables, window, "campaign_group", reach).rename(
            columns={"campaign_group": "campaign"}
        ),
        email_sequence=summarize_email_sequence(tables, window),
        velocity=summarize_velocity(tables, window),
        spend=summarize_spend(tables, by_channel, window),
        n_leads_outside=int((~inside).sum()),
    )
