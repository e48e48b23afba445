"""What the lead did: engagement counts over windows, recency, frequency, momentum and nurture e-mail.

Each spine row is joined to its lead's events that :func:`features.pit.visible_sql` admits
(``occurred_at <= as_of``). A window of ``w`` days is ``as_of - w days < occurred_at <= as_of``, so an
event exactly at as_of is in every window.

"Activity" is what the lead initiated: every event but ``email_sent`` (our action) and ``unsubscribe``
(counted on its own). "High intent" is a pricing or contact page view, any form submit, a demo request,
a trial start or a booked meeting.

Speed: the visible events are first counted per (row, event code) with one set of window counters,
then those few million partial counts are summed per row for every feature, so the 20M-event scan
evaluates five cheap integer filters instead of forty string comparisons. Distinct active days and
distinct e-mail steps need their own grouping and get their own (filtered, smaller) passes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.build import event_codes, has_table
from features.contract import EVENT_TYPES
from features.pit import visible_sql
from features.tables import Tables

if TYPE_CHECKING:
    import duckdb

NS_PER_DAY = 86_400 * 10**9
WINDOWS = (7, 30, 37, 90)  # 37 = the trend's last 7 days plus the 30 before
ACTIVITY = event_codes([t for t in EVENT_TYPES if t not in ("email_sent", "unsubscribe")])
HIGH_INTENT = (
    "(" + event_codes(["page_view"], ("pricing", "contact"))[1:-1] + ", "
    + event_codes(["form_submit", "demo_request", "trial_start", "meeting_booked"])[1:-1] + ")"
)
EMAIL = event_codes(["email_sent", "email_open", "email_click"])
OPENED = event_codes(["email_open", "email_click"])  # a click implies an open
# Columns other families need but the catalogue does not list (the account context subtracts them).
OWN_HIGH_INTENT_90D = "_own_high_intent_90d"


def _sum(codes: str, window: int | None, name: str) -> str:
    column = f"c{window}" if window is not None else "c_all"
    return f"coalesce(sum({column}) FILTER (WHERE code IN {codes}), 0) AS {name}"


def engagement_select() -> list[str]:
    """Per-row expressions over the per-(row, code) partial counts ``c7, c30, c37, c90, c_all, min_age``."""
    items: list[str] = []
    for w in (7, 30, 90):
        items.append(_sum(ACTIVITY, w, f"n_activities_{w}d"))
    items.append(_sum(ACTIVITY, None, "n_activities_to_date"))
    for w in (7, 30, 90):
        items.append(_sum(event_codes(["page_view"]), w, f"n_page_views_{w}d"))
        items.append(_sum(event_codes(["page_view"], ("pricing",)), w, f"n_pricing_views_{w}d"))
    for page, windows in (("product", (30, 90)), ("contact", (30, 90)), ("docs", (90,)), ("careers", (90,))):
        for w in windows:
            items.append(_sum(event_codes(["page_view"], (page,)), w, f"n_{page}_views_{w}d"))
    per_type = (
        ("form_submits", "form_submit", (30, 90)), ("content_downloads", "content_download", (30, 90)),
        ("webinar_registers", "webinar_register", (90,)), ("webinar_attends", "webinar_attend", (90,)),
        ("demo_requests", "demo_request", (30, 90)), ("trial_starts", "trial_start", (90,)),
        ("meetings_booked", "meeting_booked", (90,)), ("ad_clicks", "ad_click", (30,)),
    )
    for name, event_type, windows in per_type:
        for w in windows:
            items.append(_sum(event_codes([event_type]), w, f"n_{name}_{w}d"))
    items += [
        _sum(HIGH_INTENT, 90, OWN_HIGH_INTENT_90D),
        _sum(ACTIVITY, 37, "_n_activities_37d"),
        f"min(min_age) FILTER (WHERE code IN {ACTIVITY}) AS _age_last_activity",
        f"min(min_age) FILTER (WHERE code IN {HIGH_INTENT}) AS _age_last_high_intent",
        _sum(event_codes(["email_sent"]), None, "n_emails_sent_to_date"),
        f"max(max_step) FILTER (WHERE code IN {event_codes(['email_sent'])}) AS max_email_step_sent",
        _sum(event_codes(["email_open"]), None, "_n_opens"),
        _sum(event_codes(["email_click"]), None, "_n_clicks"),
        _sum(event_codes(["email_open"]), 30, "n_email_opens_30d"),
        _sum(event_codes(["email_click"]), 30, "n_email_clicks_30d"),
        f"min(min_age) FILTER (WHERE code IN {OPENED}) AS _age_last_open",
        _sum(event_codes(["unsubscribe"]), None, "_n_unsubscribes"),
    ]
    return items


def _visible_events(where: str = "TRUE") -> str:
    return (
        f"SELECT s.row, s.as_of - e.t AS age, e.t, e.code, e.step FROM spine s "
        f"JOIN events e ON e.lead = s.lead AND {visible_sql('e.t', 's.as_of')} WHERE {where}"
    )


# Aggregates that stay unknown (NaN) for a row without any visible event, rather than 0.
UNKNOWN_WHEN_ABSENT = ("_age_last_activity", "_age_last_high_intent", "_age_last_open", "max_email_step_sent")


def _scatter(raw: pd.DataFrame, n_rows: int, fill: float) -> dict[str, np.ndarray]:
    rows = raw["row"].to_numpy(dtype=np.int64)
    out = {}
    for name in raw.columns.drop("row"):
        values = np.full(n_rows, np.nan if name in UNKNOWN_WHEN_ABSENT else fill, dtype="float64")
        values[rows] = raw[name].to_numpy(dtype="float64", na_value=np.nan)
        out[name] = values
    return out


def build_engagement_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Engagement and e-mail features per spine row (index 0..n-1), plus ``_own_*`` helper columns.

    Counts are 0 for a lead without visible events; recency and rates are NaN when there is nothing to
    measure. Without an events table every value is NaN (unknown, not "did nothing").
    """
    windows = ", ".join(f"count(*) FILTER (WHERE age < {w * NS_PER_DAY}) AS c{w}" for w in WINDOWS)
    per_code = f"""
        WITH visible AS ({_visible_events()}),
        per_code AS (
            SELECT row, code, {windows}, count(*) AS c_all, min(age) AS min_age, max(step) AS max_step
            FROM visible GROUP BY row, code
        )
        SELECT row, {', '.join(engagement_select())} FROM per_code GROUP BY row
    """
    agg = _scatter(con.execute(per_code).df(), n_rows, 0.0)
    days = f"""
        WITH days AS (
            SELECT row, t // {NS_PER_DAY} AS day, min(age) AS min_age
            FROM ({_visible_events(f'e.code IN {ACTIVITY} AND s.as_of - e.t < {90 * NS_PER_DAY}')})
            GROUP BY row, day
        )
        SELECT row, count(*) FILTER (WHERE min_age < {30 * NS_PER_DAY}) AS n_active_days_30d,
               count(*) AS n_active_days_90d
        FROM days GROUP BY row
    """
    agg.update(_scatter(con.execute(days).df(), n_rows, 0.0))
    steps = f"""
        WITH steps AS (
            SELECT row, step, bool_or(code IN {OPENED}) AS opened,
                   bool_or(code IN {event_codes(['email_click'])}) AS clicked
            FROM ({_visible_events(f'e.code IN {EMAIL} AND e.step IS NOT NULL')})
            GROUP BY row, step
        )
        SELECT row, count(*) AS _steps_sent, count(*) FILTER (WHERE opened) AS _steps_opened,
               count(*) FILTER (WHERE clicked) AS _steps_clicked
        FROM steps GROUP BY row
    """
    agg.update(_scatter(con.execute(steps).df(), n_rows, 0.0))
    return derive_engagement(agg, has_table(tables, "events"))


def derive_engagement(agg: dict[str, np.ndarray], has_events: bool) -> pd.DataFrame:
    """Recency in days, momentum and e-mail rates from the raw per-row aggregates."""
    out = {name: values for name, values in agg.items() if not name.startswith("_") or name.startswith("_own")}
    for target, source in (("days_since_last_activity", "_age_last_activity"),
                           ("days_since_last_high_intent", "_age_last_high_intent"),
                           ("days_since_last_email_open", "_age_last_open")):
        out[target] = agg[source] / NS_PER_DAY
    prior_30d = agg["_n_activities_37d"] - agg["n_activities_7d"]
    out["activity_trend_7d"] = agg["n_activities_7d"] - prior_30d * 7 / 30
    sent = agg["n_emails_sent_to_date"]
    with np.errstate(divide="ignore", invalid="ignore"):
        by_step_open = agg["_steps_opened"] / agg["_steps_sent"]
        by_step_click = agg["_steps_clicked"] / agg["_steps_sent"]
        by_count_open = np.minimum(1.0, agg["_n_opens"] / sent)
        by_count_click = np.minimum(1.0, agg["_n_clicks"] / sent)
    # Rates over the nurture steps sent so far; exports without step numbers fall back to event counts.
    has_steps = agg["_steps_sent"] > 0
    out["email_open_rate"] = np.where(has_steps, by_step_open, np.where(sent > 0, by_count_open, np.nan))
    out["email_click_rate"] = np.where(has_steps, by_step_click, np.where(sent > 0, by_count_click, np.nan))
    out["is_unsubscribed"] = (agg["_n_unsubscribes"] > 0).astype("float64")
    frame = pd.DataFrame(out)
    if not has_events:
        frame.loc[:, :] = np.nan
    return frame
