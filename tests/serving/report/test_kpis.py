"""Funnel KPIs of the report equal an independent, plain-Python computation on a hand-made export.

The export is built here by hand (seeded), not by the demo generator, and every expected number is
recomputed with loops and dictionaries rather than the report's pandas code, then compared with both
the KPI tables and the numbers printed in the HTML page.
"""

from __future__ import annotations

import calendar
import statistics
from html.parser import HTMLParser

import numpy as np
import pandas as pd
import pytest

from leadscore.features.contract import FUNNEL_ORDER
from leadscore.features.tables import make_tables
from leadscore.serving.report.contents import gather_contents
from leadscore.serving.report.kpis import build_funnel_kpis, rate_health
from leadscore.serving.report.page import write_report
from leadscore.serving.report.rendering import render_report

END = pd.Timestamp("2025-07-01", tz="UTC")
RANK = {stage: i for i, stage in enumerate(FUNNEL_ORDER)}


def _str(values: list) -> pd.Series:
    return pd.Series(values, dtype="str")


def make_export(seed: int = 3, n: int = 160):
    """Leads over ~200 days with random funnel progress, skipped stages, losses, e-mails, deals, spend."""
    rng = np.random.default_rng(seed)
    captured = [END - pd.Timedelta(days=float(d)) for d in rng.uniform(0.5, 200, n)]
    leads = pd.DataFrame(
        {
            "lead_id": _str([f"L{i:03d}" for i in range(n)]),
            "account_id": _str([None if i % 7 == 0 else f"A{i % 9}" for i in range(n)]),
            "captured_at": pd.Series(captured, dtype="datetime64[ns, UTC]"),
            "channel": _str(list(rng.choice(["linkedin", "email", "facebook", "google_search"], n))),
            "campaign": _str([None if i % 5 == 0 else f"c{i % 6}" for i in range(n)]),
        }
    )
    # A8 is referenced by leads but absent here; A2 and A6 have no region: all three are "(unknown)".
    accounts = pd.DataFrame(
        {"account_id": _str([f"A{i}" for i in range(8)]), "region": _str(["us_east", "europe", None, "us_west"] * 2)}
    )
    history, events = [], []
    for lead_id, at in zip(leads["lead_id"], leads["captured_at"], strict=True):
        history.append((lead_id, "MCL", at))
        t = at
        depth = int(rng.integers(0, 7))
        for stage in FUNNEL_ORDER[1 : depth + 1]:
            t = t + pd.Timedelta(days=float(rng.uniform(0.5, 20)))
            if stage == "SAL" and rng.random() < 0.2:
                continue  # the CRM skipped SAL
            history.append((lead_id, stage, t))
        if depth == 5 and rng.random() < 0.5:
            history.append((lead_id, "LOST", t + pd.Timedelta(days=3)))
        if depth >= 2 and rng.random() < 0.15:
            history.append((lead_id, "MEL", t + pd.Timedelta(days=1)))  # a re-entry: first entry counts
        for step in (1, 2, 3):
            sent = at + pd.Timedelta(days=2 * step)
            events.append((lead_id, sent, "email_sent", float(step)))
            if rng.random() < 0.5:
                events.append((lead_id, sent + pd.Timedelta(hours=2), "email_open", float(step)))
                events.append((lead_id, sent + pd.Timedelta(hours=5), "email_open", float(step)))
                if rng.random() < 0.4:
                    events.append((lead_id, sent + pd.Timedelta(hours=6), "email_click", float(step)))
    stage_history = pd.DataFrame(history, columns=["lead_id", "stage", "entered_at"]).astype(
        {"lead_id": "str", "stage": "str", "entered_at": "datetime64[ns, UTC]"}
    )
    event_frame = pd.DataFrame(events, columns=["lead_id", "occurred_at", "event_type", "email_step"]).astype(
        {"lead_id": "str", "occurred_at": "datetime64[ns, UTC]", "event_type": "str", "email_step": "float64"}
    )
    won = stage_history[stage_history["stage"] == "WON"].reset_index(drop=True)
    n_won = len(won)
    opportunities = pd.DataFrame(
        {
            "opportunity_id": _str([f"O{i}" for i in range(n_won + 1)]),
            # The last deal has no lead, only an account: it is credited to that account's first lead.
            "lead_id": _str(won["lead_id"].tolist() + [None]),
            "account_id": _str([None] * n_won + ["A1"]),
            "created_at": pd.Series(won["entered_at"].tolist() + [END - pd.Timedelta(days=20)], dtype="datetime64[ns, UTC]"),
            "closed_at": pd.Series(won["entered_at"].tolist() + [END - pd.Timedelta(days=10)], dtype="datetime64[ns, UTC]"),
            "outcome": _str(["won"] * (n_won + 1)),
            "amount_usd": np.arange(n_won + 1, dtype="float64") * 1000 + 5000,
        }
    )
    spend = pd.DataFrame(
        {
            "channel": _str(["linkedin", "email", "facebook"] * 7),
            "month": _str([f"2025-{m:02d}" for m in range(1, 8) for _ in range(3)]),
            "amount_usd": np.tile([3100.0, 900.0, 1240.0], 7) + np.repeat(np.arange(7) * 10.0, 3),
        }
    )
    frames = {"leads": leads, "accounts": accounts, "stage_history": stage_history, "events": event_frame,
              "opportunities": opportunities, "spend": spend}
    return make_tables(frames, data_end=END)


# ---- the independent computation: loops over plain Python records ---------------------------------
def _records(frame: pd.DataFrame) -> list[dict]:
    return frame.to_dict("records")


def _inside(t, start, end) -> bool:
    return t is not None and not pd.isna(t) and start < t <= end


def expected_stage_counts(tables, start, end, group_of=None) -> dict:
    best: dict[str, int] = {}
    for row in _records(tables.stage_history):
        if row["entered_at"] <= end and row["stage"] in RANK:
            best[row["lead_id"]] = max(best.get(row["lead_id"], 0), RANK[row["stage"]])
    counts: dict = {}
    for lead in _records(tables.leads):
        if not _inside(lead["captured_at"], start, end):
            continue
        key = group_of(lead) if group_of else None
        per_stage = counts.setdefault(key, dict.fromkeys(FUNNEL_ORDER, 0))
        for stage in FUNNEL_ORDER:
            if best.get(lead["lead_id"], 0) >= RANK[stage]:
                per_stage[stage] += 1
    return counts


def expected_conversions(tables, start, end, group_of=None, settle_days=30) -> dict:
    """(group, before, after) -> (leads in the base, converted), following the settled definition."""
    entries = {lead["lead_id"]: {"MCL": lead["captured_at"]} for lead in _records(tables.leads)}
    lost: dict[str, pd.Timestamp] = {}
    for row in _records(tables.stage_history):
        if row["lead_id"] not in entries:
            continue
        if row["stage"] == "LOST":
            lost[row["lead_id"]] = min(lost.get(row["lead_id"], row["entered_at"]), row["entered_at"])
        elif row["stage"] in RANK and row["stage"] != "MCL":
            seen = entries[row["lead_id"]]
            seen[row["stage"]] = min(seen.get(row["stage"], row["entered_at"]), row["entered_at"])

    def reached(lead_id: str, stage: str):
        times = [t for s, t in entries[lead_id].items() if RANK[s] >= RANK[stage]]
        return min(times) if times else None

    out: dict = {}
    groups = {lead["lead_id"]: group_of(lead) if group_of else None for lead in _records(tables.leads)}
    for lead_id in entries:
        for before, after in (("MQL", "SAL"), ("SAL", "SQL"), ("SQL", "SQO"), ("SQO", "WON")):
            t_before, t_after = reached(lead_id, before), reached(lead_id, after)
            if after == "WON":
                decided = [t for t in (t_after, lost.get(lead_id)) if t is not None]
                in_base = _inside(t_before, start, end) and bool(decided) and min(decided) <= end
            else:
                in_base = _inside(t_before, start, end - pd.Timedelta(days=settle_days))
            if in_base:
                n_base, n_converted = out.get((groups[lead_id], before, after), (0, 0))
                converted = t_after is not None and t_after <= end
                out[(groups[lead_id], before, after)] = (n_base + 1, n_converted + int(converted))
    return out


def region_of(tables):
    regions = {a["account_id"]: a["region"] for a in _records(tables.accounts)}

    def group(lead: dict) -> str:
        region = regions.get(lead["account_id"]) if isinstance(lead["account_id"], str) else None
        return region if isinstance(region, str) else "(unknown)"

    return group


# ---- a tiny HTML table reader, so the test checks what a reader of the page sees -------------------
class TableReader(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.tables: dict[str, list[list[str]]] = {}
        self._id: str | None = None
        self._row: list[str] | None = None
        self._cell: list[str] | None = None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table" and attrs.get("id"):
            self._id = attrs["id"]
            self.tables[self._id] = []
        elif tag == "tr" and self._id:
            self._row = []
        elif tag in ("td", "th") and self._row is not None:
            self._cell = []

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._row is not None:
            self._row.append("".join(self._cell).strip())
            self._cell = None
        elif tag == "tr" and self._row is not None and self._id:
            self.tables[self._id].append(self._row)
            self._row = None
        elif tag == "table":
            self._id = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def read_tables(page: str) -> dict[str, list[dict[str, str]]]:
    reader = TableReader()
    reader.feed(page)
    return {tid: [dict(zip(rows[0], r, strict=True)) for r in rows[1:]] for tid, rows in reader.tables.items()}


@pytest.fixture(scope="module")
def tables():
    return make_export()


@pytest.fixture(scope="module")
def kpis(tables):
    return build_funnel_kpis(tables)


@pytest.fixture(scope="module")
def page(tables, kpis):
    return read_tables(render_report(gather_contents(tables, kpis)))


def test_stage_counts_and_rates_equal_an_independent_count(tables, kpis, page) -> None:
    window = kpis.window
    now = expected_stage_counts(tables, window.start, window.end)[None]
    before = expected_stage_counts(tables, window.previous.start, window.previous.end)[None]
    table = kpis.stages.set_index("stage")
    html_rows = {r["stage"]: r for r in page["kpi-stages"]}
    for i, stage in enumerate(FUNNEL_ORDER):
        assert table.loc[stage, "n_leads"] == now[stage]
        assert table.loc[stage, "n_leads_previous"] == before[stage]
        assert html_rows[stage]["leads"] == f"{now[stage]:,}"
        assert html_rows[stage]["previous window"] == f"{before[stage]:,}"
        assert html_rows[stage]["% of MCL"] == f"{100 * now[stage] / now['MCL']:.1f}%"
        if i:
            previous_stage = FUNNEL_ORDER[i - 1]
            expected = 100 * now[stage] / now[previous_stage]
            assert table.loc[stage, "pct_of_previous"] == pytest.approx(expected)
            assert html_rows[stage]["% of previous stage"] == f"{expected:.1f}%"
        change = 100 * (now[stage] - before[stage]) / before[stage]
        assert html_rows[stage]["change"] == f"{change:+.0f}%".replace("-", "−")
    assert now["MCL"] > now["SQO"] > 0 and before["WON"] > 0  # the fixture exercises the whole funnel


def test_channel_and_region_breakdowns_equal_an_independent_count(tables, kpis, page) -> None:
    window = kpis.window
    for key, frame, table_id, group_of in (
        ("channel", kpis.by_channel, "kpi-channel", lambda lead: lead["channel"]),
        ("region", kpis.by_region, "kpi-region", region_of(tables)),
    ):
        expected = expected_stage_counts(tables, window.start, window.end, group_of)
        got = frame.set_index(key)
        assert set(got.index) == set(expected)
        html_rows = {r[key]: r for r in page[table_id]}
        for group, counts in expected.items():
            for stage in FUNNEL_ORDER:
                assert got.loc[group, stage] == counts[stage], (key, group, stage)
                assert html_rows[group][stage] == f"{counts[stage]:,}"
        conversions = expected_conversions(tables, window.start, window.end, group_of)
        for (group, before, after), (n_base, n_converted) in conversions.items():
            if after != "WON":
                assert html_rows[group][f"{before}→{after}"] == f"{100 * n_converted / n_base:.1f}%"
                assert got.loc[group, f"n_base_{before.lower()}_to_{after.lower()}"] == n_base
    assert "(unknown)" in set(kpis.by_region["region"])


def test_campaigns_beyond_the_largest_are_grouped_as_other(tables) -> None:
    kpis = build_funnel_kpis(tables, top_campaigns=2)
    window = kpis.window
    in_window = [lead for lead in _records(tables.leads) if _inside(lead["captured_at"], window.start, window.end)]
    sizes: dict[str, int] = {}
    for lead in in_window:
        if isinstance(lead["campaign"], str):
            sizes[lead["campaign"]] = sizes.get(lead["campaign"], 0) + 1
    top = sorted(sizes, key=lambda c: (-sizes[c], c))[:2]
    mcl = kpis.by_campaign.set_index("campaign")["MCL"]
    assert set(mcl.index) == set(top) | {"other", "(none)"}
    assert mcl["other"] == sum(v for c, v in sizes.items() if c not in top)
    assert mcl["(none)"] == sum(1 for lead in in_window if not isinstance(lead["campaign"], str))
    assert mcl.sum() == len(in_window)


def test_email_sequence_counts_distinct_leads_per_step_in_the_window(tables, kpis, page) -> None:
    window = kpis.window
    seen: dict[tuple[float, str], set[str]] = {}
    for e in _records(tables.events):
        if _inside(e["occurred_at"], window.start, window.end):
            seen.setdefault((e["email_step"], e["event_type"]), set()).add(e["lead_id"])
    html_rows = {r["step"]: r for r in page["kpi-email"]}
    for step in (1.0, 2.0, 3.0):
        sent = len(seen[(step, "email_sent")])
        opened = len(seen[(step, "email_open")])
        clicked = len(seen[(step, "email_click")])
        row = html_rows[f"{step:g}"]
        assert (row["leads sent"], row["opened"], row["clicked"]) == (f"{sent:,}", f"{opened:,}", f"{clicked:,}")
        assert row["open rate"] == f"{100 * opened / sent:.1f}%"
        assert row["click rate"] == f"{100 * clicked / sent:.1f}%"
        assert row["click-to-open"] == f"{100 * clicked / opened:.1f}%"


def test_velocity_is_the_median_of_first_entries_for_moves_completed_in_the_window(tables, kpis, page) -> None:
    window = kpis.window
    first: dict[str, dict[str, pd.Timestamp]] = {
        lead["lead_id"]: {"MCL": lead["captured_at"]} for lead in _records(tables.leads)
    }
    for row in _records(tables.stage_history):
        if row["stage"] in RANK and row["stage"] != "MCL":
            stages = first[row["lead_id"]]
            stages[row["stage"]] = min(stages.get(row["stage"], row["entered_at"]), row["entered_at"])
    html_rows = {r["step"]: r for r in page["kpi-velocity"]}
    for before, after in zip(FUNNEL_ORDER[:-1], FUNNEL_ORDER[1:], strict=True):
        days = [
            (s[after] - s[before]).total_seconds() / 86400
            for s in first.values()
            if before in s and after in s and _inside(s[after], window.start, window.end) and s[after] >= s[before]
        ]
        got = kpis.velocity.set_index("step").loc[f"{before} → {after}"]
        assert got["n_leads"] == len(days)
        assert got["median_days"] == pytest.approx(statistics.median(days))
        assert html_rows[f"{before} → {after}"]["median days"] == f"{statistics.median(days):.1f}"


def test_spend_costs_and_roi_equal_a_day_by_day_computation(tables, kpis, page) -> None:
    window = kpis.window
    spend: dict[str, float] = {}
    monthly = {(s["channel"], s["month"]): s["amount_usd"] for s in _records(tables.spend)}
    day = window.start
    while day < window.end:  # the fixture's window starts and ends at midnight
        days_in_month = calendar.monthrange(day.year, day.month)[1]
        for (channel, month), amount in monthly.items():
            if month == f"{day:%Y-%m}":
                spend[channel] = spend.get(channel, 0.0) + amount / days_in_month
        day += pd.Timedelta(days=1)
    counts = expected_stage_counts(tables, window.start, window.end, lambda lead: lead["channel"])
    channel_of = {lead["lead_id"]: lead["channel"] for lead in _records(tables.leads)}
    first_lead_of_account: dict[str, tuple] = {}
    for lead in _records(tables.leads):
        if isinstance(lead["account_id"], str):
            key = (lead["captured_at"], lead["lead_id"])
            if lead["account_id"] not in first_lead_of_account or key < first_lead_of_account[lead["account_id"]][0]:
                first_lead_of_account[lead["account_id"]] = (key, lead["channel"])
    revenue: dict[str, float] = {}
    for deal in _records(tables.opportunities):
        if deal["outcome"] == "won" and _inside(deal["closed_at"], window.start, window.end):
            if isinstance(deal["lead_id"], str):
                channel = channel_of[deal["lead_id"]]
            else:
                channel = first_lead_of_account[deal["account_id"]][1]
            revenue[channel] = revenue.get(channel, 0.0) + deal["amount_usd"]
    got = kpis.spend.set_index("channel")
    html_rows = {r["channel"]: r for r in page["kpi-spend"]}
    for channel, amount in spend.items():
        assert got.loc[channel, "spend_usd"] == pytest.approx(amount)
        assert got.loc[channel, "cost_per_mcl"] == pytest.approx(amount / counts[channel]["MCL"])
        if counts[channel]["SQO"]:
            assert got.loc[channel, "cost_per_sqo"] == pytest.approx(amount / counts[channel]["SQO"])
        else:
            assert np.isnan(got.loc[channel, "cost_per_sqo"]) and html_rows[channel]["cost per SQO"] == "–"
        assert html_rows[channel]["cost per MQL"] == f"${amount / counts[channel]['MQL']:,.0f}"
        roi = 100 * (revenue.get(channel, 0.0) - amount) / amount
        assert got.loc[channel, "roi_pct"] == pytest.approx(roi)
    # google_search has leads but no spend row: its cost is unknown, not zero.
    assert np.isnan(got.loc["google_search", "spend_usd"]) and html_rows["google_search"]["cost per MCL"] == "–"
    assert got["won_revenue_usd"].sum() == pytest.approx(sum(revenue.values()))


def test_health_verdicts_follow_the_rules_of_thumb_at_their_edges() -> None:
    mql_sal = ("MQL", "SAL")
    assert rate_health(mql_sal, 49.9, 100) == "failing"
    assert rate_health(mql_sal, 50.0, 100) == "below good"
    assert rate_health(mql_sal, 70.0, 100) == "below good"
    assert rate_health(mql_sal, 70.1, 100) == "good"
    assert rate_health(mql_sal, 85.1, 100) == "excellent"
    assert rate_health(("SQL", "SQO"), 95.0, 100) == "good"  # no "excellent" band for SQL→SQO
    assert rate_health(("SAL", "SQL"), 30.0, 19) == "too few leads"
    assert rate_health(("SQO", "WON"), 24.0, 50) == "below typical"
    assert rate_health(("SQO", "WON"), 30.0, 50) == "typical"


def test_health_rates_follow_leads_that_had_time_to_convert(tables, kpis, page) -> None:
    window = kpis.window
    expected = expected_conversions(tables, window.start, window.end)
    previous = expected_conversions(tables, window.previous.start, window.previous.end)
    health = kpis.health.set_index("conversion")
    html_rows = {r["conversion"]: r for r in page["kpi-health"]}
    for (_, before, after), (n_base, n_converted) in expected.items():
        name = "SQO → won (decided deals)" if after == "WON" else f"{before} → {after}"
        assert (health.loc[name, "n_base"], health.loc[name, "n_converted"]) == (n_base, n_converted)
        assert html_rows[name]["this window"] == f"{100 * n_converted / n_base:.1f}%"
        n_base_before, n_converted_before = previous[(None, before, after)]
        assert health.loc[name, "rate_previous"] == pytest.approx(100 * n_converted_before / n_base_before)
        assert health.loc[name, "verdict"] == rate_health((before, after), 100 * n_converted / n_base, n_base)
    assert len(expected) == 4


def test_stage_entries_after_the_report_moment_are_not_counted(tables) -> None:
    as_of = END - pd.Timedelta(days=30)
    early = build_funnel_kpis(tables, as_of=as_of)
    expected = expected_stage_counts(tables, as_of - pd.Timedelta(days=90), as_of)[None]
    assert early.stages.set_index("stage")["n_leads"].to_dict() == expected


def test_export_with_only_leads_and_stages_still_reports(tmp_path) -> None:
    full = make_export(seed=5, n=40)
    bare = make_tables({"leads": full.leads.drop(columns=["account_id", "campaign"]), "stage_history": full.stage_history},
                       data_end=END)
    out = write_report(bare, tmp_path / "bare.html")
    page = out.read_text()
    assert "has no spend table" in page and "no e-mail events" in page
    regions = read_tables(page)["kpi-region"]
    assert [r["region"] for r in regions] == ["(unknown)"]


def test_a_window_without_leads_moves_back_to_the_latest_window_with_leads_and_the_page_says_so() -> None:
    full = make_export(seed=4, n=120)
    last = END - pd.Timedelta(days=100)
    kept = full.leads[full.leads["captured_at"] <= last]
    tables = make_tables({"leads": kept, "stage_history": full.stage_history[full.stage_history["lead_id"].isin(kept["lead_id"])]},
                         data_end=END)
    kpis = build_funnel_kpis(tables)
    assert kpis.requested_end == END
    assert kpis.window.end == kept["captured_at"].max() and kpis.window.days == 90
    expected = expected_stage_counts(tables, kpis.window.start, kpis.window.end)[None]
    assert kpis.stages.set_index("stage")["n_leads"].to_dict() == expected and expected["MCL"] > 0
    page = render_report(gather_contents(tables, kpis))
    assert ("No lead was captured in the 90 days up to the report's as-of moment (2025-07-01 00:00 UTC), so this section "
            f"shows the latest 90 days that hold leads: up to the last capture, {kpis.window.end:%Y-%m-%d %H:%M} UTC.") in " ".join(page.split())
    # Before any capture at all: empty tables, said once, no crash.
    empty = build_funnel_kpis(tables, as_of=full.leads["captured_at"].min() - pd.Timedelta(days=1))
    assert empty.stages["n_leads"].sum() == 0 and empty.by_channel.empty
    assert "No lead was captured at or before the report's as-of moment" in render_report(gather_contents(tables, empty))


def test_stages_the_export_never_records_are_not_recorded_never_100_percent_conversions() -> None:
    full = make_export(seed=6, n=400)
    history = full.stage_history[full.stage_history["stage"].isin(["MCL", "MQL", "SQO", "WON", "LOST"])]
    tables = make_tables({"leads": full.leads, "stage_history": history, "accounts": full.accounts}, data_end=END)
    kpis = build_funnel_kpis(tables)
    assert kpis.unrecorded == ["MEL", "SAL", "SQL"]
    stages = kpis.stages.set_index("stage")
    assert stages.loc[["MEL", "SAL", "SQL"], ["n_leads", "pct_of_previous", "pct_of_mcl", "n_leads_previous"]].isna().all().all()
    assert not stages.loc[["MEL", "SAL", "SQL"], "recorded"].any() and stages.loc[["MCL", "MQL", "SQO", "WON"], "recorded"].all()
    # % of previous stage is over the previous recorded stage: SQO over MQL.
    assert stages.loc["SQO", "pct_of_previous"] == pytest.approx(100 * stages.loc["SQO", "n_leads"] / stages.loc["MQL", "n_leads"])
    health = kpis.health.set_index("conversion")
    assert health.loc[["MQL → SAL", "SAL → SQL", "SQL → SQO"], "verdict"].tolist() == ["not recorded"] * 3
    assert health.loc[["MQL → SAL", "SAL → SQL", "SQL → SQO"], ["rate", "rate_previous"]].isna().all().all()
    channel = kpis.by_channel
    assert channel[["MEL", "SAL", "SQL", "pct_mql_to_sal", "pct_sal_to_sql", "pct_sql_to_sqo"]].isna().all().all()
    assert set(channel["verdict_sal_to_sql"]) == {"not recorded"}
    page = render_report(gather_contents(tables, kpis))
    rows = {r["stage"]: r for r in read_tables(page)["kpi-stages"]}
    assert [rows[s]["note"] for s in FUNNEL_ORDER] == ["", "not recorded", "", "not recorded", "not recorded", "", ""]
    assert rows["SAL"]["leads"] == "–" and rows["SAL"]["% of previous stage"] == "–"
    health_rows = read_tables(page)["kpi-health"]
    assert "excellent" not in {r["verdict"] for r in health_rows}
    assert "never records MEL, SAL, SQL" in page


def test_a_win_rate_where_lost_deals_are_never_recorded_is_not_recorded_not_above_typical() -> None:
    full = make_export(seed=6, n=400)
    with_lost = make_tables({"leads": full.leads, "stage_history": full.stage_history, "accounts": full.accounts},
                            data_end=END)
    decided = build_funnel_kpis(with_lost).health.set_index("conversion").loc["SQO → won (decided deals)"]
    assert decided["n_base"] > 0 and decided["rate"] < 100  # with LOST recorded it is a real rate
    history = full.stage_history[full.stage_history["stage"] != "LOST"]
    tables = make_tables({"leads": full.leads, "stage_history": history, "accounts": full.accounts}, data_end=END)
    kpis = build_funnel_kpis(tables)
    win = kpis.health.set_index("conversion").loc["SQO → won (decided deals)"]
    assert win["verdict"] == "not recorded" and np.isnan(win["rate"]) and np.isnan(win["rate_previous"])
    page = " ".join(render_report(gather_contents(tables, kpis)).split())
    assert "never records LOST, so a lost deal cannot be told from an open one" in page
    assert "above typical" not in {r["verdict"] for r in read_tables(page)["kpi-health"]}
