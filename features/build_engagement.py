"""What the lead did: engagement counts over windows, recency, frequency, momentum and nurture e-mail.

One DuckDB pass joins each spine row to its lead's events that :func:`features.pit.visible_sql` admits
(``occurred_at <= as_of``) and aggregates every count with ``FILTER`` clauses. A window of ``w`` days is
``as_of - w days < occurred_at <= as_of``, so an event exactly at as_of is in every window.

"Activity" is what the lead initiated: every event but ``email_sent`` (our action) and ``unsubscribe``
(counted on its own). "High intent" is a pricing or contact page view, any form submit, a demo request,
a trial start or a booked meeting.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from features.build import has_table
from features.pit import visible_sql
from features.tables import Tables

if TYPE_CHECKING:
    import duckdb

NS_PER_DAY = 86_400 * 10**9
ACTIVITY_SQL = "event_type NOT IN ('email_sent', 'unsubscribe')"
HIGH_INTENT_SQL = (
    "((event_type = 'page_view' AND page_type IN ('pricing', 'contact')) "
    "OR event_type IN ('form_submit', 'demo_request', 'trial_start', 'meeting_booked'))"
)
# Columns other families need but the catalogue does not list (the account context subtracts them).
OWN_HIGH_INTENT_90D = "_own_high_intent_90d"


def _within(days: int) -> str:
    return f"age < {days * NS_PER_DAY}"


def _count(condition: str, days: int | None, name: str) -> str:
    window = f" AND {_within(days)}" if days is not None else ""
    return f"count(*) FILTER (WHERE {condition}{window}) AS {name}"


def engagement_select() -> list[str]:
    """The aggregate expressions, one per output column (before recency and rates are derived)."""
    items: list[str] = []
    for w in (7, 30, 90):
        items.append(_count(ACTIVITY_SQL, w, f"n_activities_{w}d"))
    items.append(_count(ACTIVITY_SQL, None, "n_activities_to_date"))
    for w in (7, 30, 90):
        items.append(_count("event_type = 'page_view'", w, f"n_page_views_{w}d"))
        items.append(_count("event_type = 'page_view' AND page_type = 'pricing'", w, f"n_pricing_views_{w}d"))
    for page, windows in (("product", (30, 90)), ("contact", (30, 90)), ("docs", (90,)), ("careers", (90,))):
        for w in windows:
            items.append(_count(f"event_type = 'page_view' AND page_type = '{page}'", w, f"n_{page}_views_{w}d"))
    per_type = (
        ("form_submits", "form_submit", (30, 90)), ("content_downloads", "content_download", (30, 90)),
        ("webinar_registers", "webinar_register", (90,)), ("webinar_attends", "webinar_attend", (90,)),
        ("demo_requests", "demo_request", (30, 90)), ("trial_starts", "trial_start", (90,)),
        ("meetings_booked", "meeting_booked", (90,)), ("ad_clicks", "ad_click", (30,)),
    )
    for name, event_type, windows in per_type:
        for w in windows:
            items.append(_count(f"event_type = '{event_type}'", w, f"n_{name}_{w}d"))
    items += [
        _count(HIGH_INTENT_SQL, 90, OWN_HIGH_INTENT_90D),
        _count(ACTIVITY_SQL, 37, "_n_activities_37d"),
        f"min(age) FILTER (WHERE {ACTIVITY_SQL}) AS _age_last_activity",
        f"min(age) FILTER (WHERE {HIGH_INTENT_SQL}) AS _age_last_high_intent",
        f"count(DISTINCT day) FILTER (WHERE {ACTIVITY_SQL} AND {_within(30)}) AS n_active_days_30d",
        f"count(DISTINCT day) FILTER (WHERE {ACTIVITY_SQL} AND {_within(90)}) AS n_active_days_90d",
        _count("event_type = 'email_sent'", None, "n_emails_sent_to_date"),
        "max(email_step) FILTER (WHERE event_type = 'email_sent') AS max_email_step_sent",
        "count(DISTINCT email_step) FILTER (WHERE event_type IN ('email_sent', 'email_open', 'email_click')) AS _steps_sent",
        "count(DISTINCT email_step) FILTER (WHERE event_type IN ('email_open', 'email_click')) AS _steps_opened",
        "count(DISTINCT email_step) FILTER (WHERE event_type = 'email_click') AS _steps_clicked",
        _count("event_type = 'email_open'", None, "_n_opens"),
        _count("event_type = 'email_click'", None, "_n_clicks"),
        _count("event_type = 'email_open'", 30, "n_email_opens_30d"),
        _count("event_type = 'email_click'", 30, "n_email_clicks_30d"),
        "min(age) FILTER (WHERE event_type IN ('email_open', 'email_click')) AS _age_last_open",
        _count("event_type = 'unsubscribe'", None, "_n_unsubscribes"),
    ]
    return items


def build_engagement_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Engagement and e-mail features per spine row (index 0..n-1), plus ``_own_*`` helper columns.

    Counts are 0 for a lead without visible events; recency and rates are NaN when there is nothing to
    measure. Without an events table every value is NaN (unknown, not "did nothing").
    """
    query = f"""
        WITH visible AS (
            SELECT s.row, s.as_of - e.t AS age, (e.t // {NS_PER_DAY}) AS day,
                   e.event_type, e.page_type, e.email_step
            FROM spine s JOIN events e ON e.lead_id = s.lead_id AND {visible_sql('e.t', 's.as_of')}
        )
        SELECT row, {', '.join(engagement_select())}
        FROM visible GROUP BY row
    """
    raw = con.execute(query).df()
    rows = raw.pop("row").to_numpy(dtype=np.int64)
    agg: dict[str, np.ndarray] = {}
    for name in raw.columns:
        agg[name] = np.full(n_rows, np.nan) if name.startswith("_age") or name == "max_email_step_sent" else np.zeros(n_rows)
        agg[name][rows] = raw[name].to_numpy(dtype="float64", na_value=np.nan)
    out = {name: values for name, values in agg.items() if not name.startswith("_") or name.startswith("_own")}
    out["days_since_last_activity"] = agg["_age_last_activity"] / NS_PER_DAY
    out["days_since_last_high_intent"] = agg["_age_last_high_intent"] / NS_PER_DAY
    prior_30d = agg["_n_activities_37d"] - agg["n_activities_7d"]
    out["activity_trend_7d"] = agg["n_activities_7d"] - prior_30d * 7 / 30
    with np.errstate(divide="ignore", invalid="ignore"):
        by_step_open = agg["_steps_opened"] / agg["_steps_sent"]
        by_step_click = agg["_steps_clicked"] / agg["_steps_sent"]
        by_count_open = np.minimum(1.0, agg["_n_opens"] / agg["n_emails_sent_to_date"])
        by_count_click = np.minimum(1.0, agg["_n_clicks"] / agg["n_emails_sent_to_date"])
    # Rates over the nurture steps sent so far; exports without step numbers fall back to event counts.
    has_steps = agg["_steps_sent"] > 0
    has_sends = agg["n_emails_sent_to_date"] > 0
    out["email_open_rate"] = np.where(has_steps, by_step_open, np.where(has_sends, by_count_open, np.nan))
    out["email_click_rate"] = np.where(has_steps, by_step_click, np.where(has_sends, by_count_click, np.nan))
    out["days_since_last_email_open"] = agg["_age_last_open"] / NS_PER_DAY
    out["is_unsubscribed"] = (agg["_n_unsubscribes"] > 0).astype("float64")
    frame = pd.DataFrame(out)
    if not has_table(tables, "events"):
        frame.loc[:, :] = np.nan
    return frame
