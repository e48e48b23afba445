"""What the lead did: engagement counts over windows, recency, frequency, momentum and nurture e-mail.

Each spine row is joined to its lead's events that :func:`leadscore.features.pit.visible_sql` admits
(``occurred_at <= as_of``). A window of ``w`` days is ``as_of - w days < occurred_at <= as_of``, so an
event exactly at as_of is in every window.

"Activity" is what the lead initiated: every event but ``email_sent`` (our action) and ``unsubscribe``
(counted on its own). "High intent" is a pricing or contact page view, any form submit, a demo request,
a trial start or a booked meeting.

"Active days" are distinct 24-hour periods counted back from as_of (so a 30-day window holds exactly
30 of them, whatever the time of day of as_of). E-mail rates are over distinct nurture steps; steps are
tracked as bits 0-63, which covers any real sequence.

Speed: one pass over the visible events makes partial aggregates per (row, event code): window counts,
first/last ages and bit masks of active periods and e-mail steps. numpy then combines those few million
partials per row for every feature (sums as matrix products, distinct counts as popcounts of OR-ed
masks), so the twenty-million-event scan evaluates a handful of integer expressions once.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from leadscore.features.building.catalogue import CATALOGUE
from leadscore.features.building.staging import event_codes
from leadscore.features.contract import EVENT_TYPES
from leadscore.features.pit import visible_sql
from leadscore.features.tables import Tables, has_table
from leadscore.features.timestamps import NS_PER_DAY

if TYPE_CHECKING:
    import duckdb

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
OUTPUT_COLUMNS = frozenset(
    [spec.name for spec in CATALOGUE if spec.group in ("engagement", "email")] + [OWN_HIGH_INTENT_90D]
)


def _codes_of(sql_list: str) -> list[int]:
    return [int(c) for c in sql_list.strip("()").split(",")]


def engagement_sums() -> list[tuple[str, str, str]]:
    """(output column, partial-count column, SQL code list) for every per-row sum of partial counts."""
    sums: list[tuple[str, str, str]] = []
    for w in (7, 30, 90):
        sums.append((f"n_activities_{w}d", f"c{w}", ACTIVITY))
    sums.append(("n_activities_to_date", "c_all", ACTIVITY))
    for w in (7, 30, 90):
        sums.append((f"n_page_views_{w}d", f"c{w}", event_codes(["page_view"])))
        sums.append((f"n_pricing_views_{w}d", f"c{w}", event_codes(["page_view"], ("pricing",))))
    for page, windows in (("product", (30, 90)), ("contact", (30, 90)), ("docs", (90,)), ("careers", (90,))):
        for w in windows:
            sums.append((f"n_{page}_views_{w}d", f"c{w}", event_codes(["page_view"], (page,))))
    per_type = (
        ("form_submits", "form_submit", (30, 90)), ("content_downloads", "content_download", (30, 90)),
        ("webinar_registers", "webinar_register", (90,)), ("webinar_attends", "webinar_attend", (90,)),
        ("demo_requests", "demo_request", (30, 90)), ("trial_starts", "trial_start", (90,)),
        ("meetings_booked", "meeting_booked", (90,)), ("ad_clicks", "ad_click", (30,)),
    )
    for name, event_type, windows in per_type:
        for w in windows:
            sums.append((f"n_{name}_{w}d", f"c{w}", event_codes([event_type])))
    sums += [
        (OWN_HIGH_INTENT_90D, "c90", HIGH_INTENT),
        ("_n_activities_37d", "c37", ACTIVITY),
        ("n_emails_sent_to_date", "c_all", event_codes(["email_sent"])),
        ("_n_opens", "c_all", event_codes(["email_open"])),
        ("_n_clicks", "c_all", event_codes(["email_click"])),
        ("n_email_opens_30d", "c30", event_codes(["email_open"])),
        ("n_email_clicks_30d", "c30", event_codes(["email_click"])),
        ("_n_unsubscribes", "c_all", event_codes(["unsubscribe"])),
    ]
    return sums


# Smallest or largest of a partial column over some codes; missing where no such event is visible.
ENGAGEMENT_EXTREMES = (
    ("_age_last_activity", "min_age", ACTIVITY, "min"),
    ("_age_last_high_intent", "min_age", HIGH_INTENT, "min"),
    ("_age_last_open", "min_age", OPENED, "min"),
    ("max_email_step_sent", "max_step", event_codes(["email_sent"]), "max"),
)


# Bit masks OR-ed over codes: 24-hour periods back from as_of with activity (bits 0-63 and 64-89),
# and nurture steps 0-63 seen (sent, opened, clicked).
ENGAGEMENT_MASKS = (
    ("_days_lo", "days_lo", ACTIVITY),
    ("_days_hi", "days_hi", ACTIVITY),
    ("_steps_sent_mask", "steps", EMAIL),
    ("_steps_opened_mask", "steps", OPENED),
    ("_steps_clicked_mask", "steps", event_codes(["email_click"])),
)
PARTIAL_STATS = ("c7", "c30", "c37", "c90", "c_all", "min_age", "max_step", "days_lo", "days_hi", "steps")


def partials_query() -> str:
    """Per (row, event code): window counts, extremes and bit masks of the visible events."""
    # Shift amounts are UBIGINT: an INTEGER amount would widen the mask to HUGEINT (and numpy to float).
    day = f"CAST(age // {NS_PER_DAY} AS UBIGINT)"
    windows = ", ".join(f"count(*) FILTER (WHERE age < {w * NS_PER_DAY}) AS c{w}" for w in WINDOWS)
    return f"""
        SELECT row, code, {windows}, count(*) AS c_all, min(age) AS min_age, max(step) AS max_step,
               bit_or(CASE WHEN age < {64 * NS_PER_DAY} THEN CAST(1 AS UBIGINT) << {day}
                      ELSE CAST(0 AS UBIGINT) END) AS days_lo,
               bit_or(CASE WHEN age >= {64 * NS_PER_DAY} AND age < {90 * NS_PER_DAY}
                      THEN CAST(1 AS UBIGINT) << ({day} - CAST(64 AS UBIGINT)) ELSE CAST(0 AS UBIGINT) END) AS days_hi,
               bit_or(CASE WHEN step >= 0 AND step < 64 THEN CAST(1 AS UBIGINT) << CAST(step AS UBIGINT)
                      ELSE CAST(0 AS UBIGINT) END) AS steps
        FROM (
            SELECT s.row, s.as_of - e.t AS age, e.code, e.step FROM spine s
            JOIN events e ON e.lead = s.lead AND {visible_sql('e.t', 's.as_of')}
        ) GROUP BY row, code
    """


def pivot_partials(partials: dict[str, np.ndarray], n_rows: int) -> dict[str, np.ndarray]:
    """Per-row aggregates from the per-(row, code) partials, in numpy.

    Each partial column is spread into a dense (row x code) matrix once, as (row, code) pairs are
    unique; a feature is then a sum (a matrix-vector product), a min / max, or an OR of bit masks over
    a few of its columns.
    """
    rows = np.asarray(partials["row"], dtype=np.int64)
    codes = np.asarray(partials["code"], dtype=np.int64)
    vocabulary = np.unique(codes)
    width = len(vocabulary)
    column_of = {int(c): i for i, c in enumerate(vocabulary)}
    flat = rows * width + np.searchsorted(vocabulary, codes)

    def columns(code_list: str) -> list[int]:
        return [column_of[c] for c in _codes_of(code_list) if c in column_of]

    def spread(stat: str, dtype: str, fill: float) -> np.ndarray:
        values = np.ma.asarray(partials[stat])
        matrix = np.zeros(n_rows * width, dtype=dtype) if fill == 0 else np.full(n_rows * width, fill, dtype=dtype)
        matrix[flat] = np.ma.filled(values.astype(dtype), fill)
        return matrix.reshape(n_rows, width)

    out: dict[str, np.ndarray] = {}
    for stat in PARTIAL_STATS:
        if stat in ("days_lo", "days_hi", "steps"):
            if np.ma.asarray(partials[stat]).dtype != np.uint64:  # a float would silently drop high bits
                raise TypeError(f"bit mask {stat} arrived as {partials[stat].dtype}, not uint64")
            matrix = spread(stat, "uint64", 0)
            for name, source, code_list in ENGAGEMENT_MASKS:
                if source == stat:
                    cols = columns(code_list)
                    out[name] = (np.bitwise_or.reduce(matrix[:, cols], axis=1) if cols
                                 else np.zeros(n_rows, dtype=np.uint64))
            continue
        if stat in ("min_age", "max_step"):
            lowest = stat == "min_age"
            matrix = spread(stat, "float64", np.inf if lowest else -np.inf)
            for name, source, code_list, _how in ENGAGEMENT_EXTREMES:
                if source == stat:
                    cols = columns(code_list)
                    best = (matrix[:, cols].min(axis=1) if lowest else matrix[:, cols].max(axis=1)) if cols \
                        else np.full(n_rows, np.inf)
                    out[name] = np.where(np.isinf(best), np.nan, best)
            continue
        matrix = spread(stat, "float64", 0)
        for name, source, code_list in engagement_sums():
            if source == stat:
                indicator = np.zeros(width)
                indicator[columns(code_list)] = 1.0
                out[name] = matrix @ indicator
    return out


def _popcount(masks: np.ndarray) -> np.ndarray:
    return np.bitwise_count(masks).astype("float64")


def build_engagement_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Engagement and e-mail features per spine row (index 0..n-1), plus ``_own_*`` helper columns.

    Counts are 0 for a lead without visible events; recency and rates are NaN when there is nothing to
    measure. Without an events table every value is NaN (unknown, not "did nothing").
    """
    agg = pivot_partials(con.execute(partials_query()).fetchnumpy(), n_rows)
    last_30_days = np.uint64((1 << 30) - 1)
    agg["n_active_days_30d"] = _popcount(agg["_days_lo"] & last_30_days)
    agg["n_active_days_90d"] = _popcount(agg["_days_lo"]) + _popcount(agg["_days_hi"])
    agg["_steps_sent"] = _popcount(agg["_steps_sent_mask"] | agg["_steps_opened_mask"])
    agg["_steps_opened"] = _popcount(agg["_steps_opened_mask"])
    agg["_steps_clicked"] = _popcount(agg["_steps_clicked_mask"])
    return derive_engagement(agg, has_table(tables, "events"))


def derive_engagement(agg: dict[str, np.ndarray], has_events: bool) -> pd.DataFrame:
    """Recency in days, momentum and e-mail rates from the raw per-row aggregates."""
    out = {name: values for name, values in agg.items() if not name.startswith("_") or name.startswith("_own")}
    out = {name: values for name, values in out.items() if name in OUTPUT_COLUMNS}
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
