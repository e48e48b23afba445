"""The builder's contract: spine handling, shape and dtypes, missing tables, and individual feature rules."""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.catalogue import CATALOGUE, feature_names
from leadscore.features.building.profile import (
    BAND_LABELS,
    band_codes,
    bound_lead_codes,
    capture_ranks,
    index_lead_category,
)
from leadscore.features.building.spine import make_spine
from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import contract_frame, make_tables

T = pd.Timestamp("2025-06-01T00:00:00Z")
DAY = pd.Timedelta(days=1)




def small_tables(events: list[dict] | None = None, **frames: list[dict]):
    leads = frames.pop("leads", None) or [
        {"lead_id": "a", "account_id": "X", "captured_at": T - 30 * DAY, "channel": "email", "job_title": "CFO"},
        {"lead_id": "b", "account_id": None, "captured_at": T - 10 * DAY, "channel": "linkedin"},
        {"lead_id": "c", "account_id": "X", "captured_at": T + 5 * DAY, "channel": "email"},
    ]
    typed_frames = {"leads": contract_frame("leads", leads)}
    if events is not None:
        typed_frames["events"] = contract_frame("events", events)
    for name, rows in frames.items():
        typed_frames[name] = contract_frame(name, rows)
    return make_tables(typed_frames, data_end=T + 30 * DAY)


def test_make_spine_defaults_to_every_lead_at_the_data_end() -> None:
    tables = small_tables()
    spine, excluded = make_spine(tables)
    assert spine["lead_id"].tolist() == ["a", "b", "c"]
    assert (spine["as_of"] == tables.data_end).all()
    assert excluded.empty and list(excluded.columns) == ["lead_id", "as_of", "reason"]


def test_make_spine_accounts_for_every_requested_row_in_order() -> None:
    tables = small_tables()
    request = pd.DataFrame({
        "lead_id": ["b", "zzz", "a", "c", "a", None, "b"],
        "as_of": ["2025-06-02", "2025-06-02", "not a date", "2025-06-02T00:00:00Z", "", "2025-06-02", "2025-06-01 12:00"],
    })
    spine, excluded = make_spine(tables, as_of="2025-06-20T00:00:00Z", leads=request)
    assert len(spine) + len(excluded) == len(request)
    assert spine["lead_id"].tolist() == ["b", "a", "b"]
    # A blank as_of takes the global one; naive timestamps are UTC.
    assert spine["as_of"].tolist() == [pd.Timestamp("2025-06-02", tz="UTC"), pd.Timestamp("2025-06-20", tz="UTC"),
                                       pd.Timestamp("2025-06-01T12:00", tz="UTC")]
    assert excluded["reason"].tolist() == ["unknown_lead_id", "as_of_unparseable", "captured_after_as_of", "unknown_lead_id"]
    assert excluded["lead_id"].iloc[:3].tolist() == ["zzz", "a", "c"]


def test_make_spine_without_as_of_column_uses_the_global_as_of() -> None:
    spine, excluded = make_spine(small_tables(), as_of=T, leads=pd.DataFrame({"lead_id": ["a", "c"]}))
    assert spine["lead_id"].tolist() == ["a"] and excluded["reason"].tolist() == ["captured_after_as_of"]


def test_make_spine_gives_crm_placeholders_and_moments_after_the_data_end_a_reason_each() -> None:
    tables = small_tables()  # data end: T + 30 days
    request = pd.DataFrame({
        "lead_id": ["a", "a", "b", "b", "a"],
        "as_of": ["9999-12-31", "1677-01-01", (T + 31 * DAY).isoformat(), (T + 30 * DAY).isoformat(), "2025-06-02"],
    })
    spine, excluded = make_spine(tables, leads=request)
    assert excluded["reason"].tolist() == ["as_of_unparseable", "as_of_unparseable", "as_of_after_data_end"]
    assert spine["as_of"].tolist() == [T + 30 * DAY, pd.Timestamp("2025-06-02", tz="UTC")]


def test_make_spine_rejects_bad_requests_with_a_sentence() -> None:
    with pytest.raises(LeadscoreError, match="not a timestamp"):
        make_spine(small_tables(), as_of="yesterday-ish")
    with pytest.raises(LeadscoreError, match=r"as_of 2025-07-02 00:00 is after the data's end \(2025-07-01 00:00 UTC\)"):
        make_spine(small_tables(), as_of=T + 31 * DAY)
    with pytest.raises(LeadscoreError, match="no lead_id column"):
        make_spine(small_tables(), leads=pd.DataFrame({"id": ["a"]}))


def test_build_features_keeps_spine_order_duplicates_and_catalogue_dtypes() -> None:
    tables = small_tables(events=[{"lead_id": "a", "occurred_at": T - DAY, "event_type": "page_view", "page_type": "pricing"}])
    spine = pd.DataFrame({"lead_id": ["b", "a", "a"], "as_of": [T, T, T - 2 * DAY]})
    out = build_features(tables, spine)
    assert list(out.columns) == ["lead_id", "as_of", *feature_names()]
    assert out["lead_id"].tolist() == ["b", "a", "a"]
    assert out["n_pricing_views_7d"].tolist() == [0.0, 1.0, 0.0]
    for spec in CATALOGUE:
        assert str(out[spec.name].dtype) == ("str" if spec.kind == "categorical" else "float64"), spec.name


def test_build_features_on_an_empty_spine_returns_the_columns() -> None:
    out = build_features(small_tables(), pd.DataFrame({"lead_id": [], "as_of": []}))
    assert out.empty and list(out.columns) == ["lead_id", "as_of", *feature_names()]


def test_build_features_refuses_rows_make_spine_would_exclude() -> None:
    tables = small_tables()
    with pytest.raises(LeadscoreError, match="not in leads"):
        build_features(tables, pd.DataFrame({"lead_id": ["nope"], "as_of": [T]}))
    with pytest.raises(LeadscoreError, match="before the lead's capture"):
        build_features(tables, pd.DataFrame({"lead_id": ["c"], "as_of": [T]}))


def test_tables_the_export_lacks_give_unknown_features_and_empty_ones_give_zeros() -> None:
    spine = pd.DataFrame({"lead_id": ["a"], "as_of": [T]})
    lacking = build_features(small_tables(), spine).iloc[0]
    assert np.isnan(lacking["n_activities_30d"]) and np.isnan(lacking["n_technologies"])
    assert pd.isna(lacking["current_stage"]) and np.isnan(lacking["n_account_activities_30d"])
    assert lacking["n_account_leads"] == 0.0  # colleague c is captured after as_of
    empty = build_features(small_tables(events=[], stage_history=[], technographics=[]), spine).iloc[0]
    assert empty["n_activities_30d"] == 0.0 and empty["n_technologies"] == 0.0 and empty["is_unsubscribed"] == 0.0
    assert empty["current_stage"] == "MCL" and empty["days_in_current_stage"] == 30.0
    assert np.isnan(empty["days_since_last_activity"])


def test_a_lead_without_an_account_has_no_firmographics_or_account_context() -> None:
    tables = small_tables(accounts=[{"account_id": "X", "employees": 250, "industry": "software"}], events=[])
    out = build_features(tables, pd.DataFrame({"lead_id": ["a", "b"], "as_of": [T, T]})).set_index("lead_id")
    assert out.loc["a", "employees"] == 250.0 and out.loc["a", "employees_band"] == "200-999"
    assert np.isnan(out.loc["b", "employees"]) and pd.isna(out.loc["b", "industry"])
    assert np.isnan(out.loc["b", "n_account_leads"]) and np.isnan(out.loc["b", "account_had_sqo"])


def test_orphan_events_are_left_out_and_logged(caplog: pytest.LogCaptureFixture) -> None:
    events = [{"lead_id": "ghost", "occurred_at": T - DAY, "event_type": "page_view", "page_type": "home"},
              {"lead_id": "a", "occurred_at": T - DAY, "event_type": "page_view", "page_type": "home"}]
    with caplog.at_level(logging.WARNING, logger="leadscore.features.building.builder"):
        out = build_features(small_tables(events=events), pd.DataFrame({"lead_id": ["a"], "as_of": [T]}))
    assert out.loc[0, "n_page_views_7d"] == 1.0
    assert "1 events row(s) name a lead_id not in leads" in caplog.text


def test_email_rates_are_over_the_steps_sent_so_far_and_fall_back_to_counts() -> None:
    def email(kind: str, step: float | None, days_ago: float) -> dict:
        return {"lead_id": "a", "occurred_at": T - days_ago * DAY, "event_type": kind, "email_step": step}

    stepped = [email("email_sent", 1, 20), email("email_open", 1, 19), email("email_open", 1, 18),
               email("email_sent", 2, 10), email("email_click", 2, 9), email("email_sent", 3, 1),
               email("email_sent", 4, -1)]
    row = build_features(small_tables(events=stepped), pd.DataFrame({"lead_id": ["a"], "as_of": [T]})).iloc[0]
    assert row["n_emails_sent_to_date"] == 3.0 and row["max_email_step_sent"] == 3.0
    assert row["email_open_rate"] == pytest.approx(2 / 3)  # steps 1 and 2 (a click implies an open) of 1-3
    assert row["email_click_rate"] == pytest.approx(1 / 3)
    assert row["days_since_last_email_open"] == 9.0
    unstepped = [email("email_sent", None, 20), email("email_sent", None, 10), email("email_open", None, 9)]
    row = build_features(small_tables(events=unstepped), pd.DataFrame({"lead_id": ["a"], "as_of": [T]})).iloc[0]
    assert row["email_open_rate"] == 0.5 and row["email_click_rate"] == 0.0


def test_activity_trend_compares_the_last_week_with_the_month_before() -> None:
    events = [{"lead_id": "a", "occurred_at": T - d * DAY, "event_type": "page_view", "page_type": "blog"}
              for d in (1, 2, 3, 4, 10, 20, 40)]
    events.append({"lead_id": "a", "occurred_at": T - DAY, "event_type": "email_sent", "email_step": 1})
    row = build_features(small_tables(events=events), pd.DataFrame({"lead_id": ["a"], "as_of": [T]})).iloc[0]
    assert row["n_activities_7d"] == 4.0 and row["n_active_days_30d"] == 6.0
    assert row["activity_trend_7d"] == pytest.approx(4 - 2 * 7 / 30)


def test_funnel_state_reads_the_latest_entry_and_counts_recycles() -> None:
    stages = [{"lead_id": "a", "stage": s, "entered_at": T - d * DAY}
              for s, d in (("MCL", 30), ("MQL", 20), ("SAL", 15), ("RECYCLED", 10), ("MEL", 10), ("MQL", 4))]
    row = build_features(small_tables(stage_history=stages), pd.DataFrame({"lead_id": ["a"], "as_of": [T]})).iloc[0]
    assert (row["current_stage"], row["days_in_current_stage"]) == ("MQL", 4.0)
    assert row["highest_stage"] == "SAL" and row["n_recycles"] == 1.0


def test_rare_lead_categories_become_other_counting_only_leads_captured_by_as_of() -> None:
    codes = np.array([0] * 40 + [1] * 35 + [-1] * 5)
    captured = np.arange(80, dtype=np.int64)
    known = np.ones(80, dtype=bool)
    rows = np.array([0, 40, 75, 40])
    as_of = np.array([79, 64, 79, 79])  # by 64 only 25 y-leads exist (fewer than 30); by 79, 35
    ranks = capture_ranks(captured, known)
    out = bound_lead_codes(codes, ["x", "y"], index_lead_category(codes, ranks, known), ranks, rows, as_of)
    assert [out.value(i) for i in range(4)] == ["x", "other", None, "y"]


def test_employee_bands_follow_the_rule_cut_points() -> None:
    codes = band_codes(np.array([0, 49, 50, 199, 200, 999, 1000, 4999, 5000, np.nan]))
    assert [BAND_LABELS[c] for c in codes[:-1]] == ["<50", "<50", "50-199", "50-199", "200-999", "200-999",
                                                    "1,000-4,999", "1,000-4,999", "5,000+"]
    assert codes[-1] == -1


def test_capture_weekday_and_month_are_the_utc_calendar_ones() -> None:
    leads = [{"lead_id": lead, "captured_at": at, "channel": "email"} for lead, at in
             (("mon", "2025-03-03T23:59:59Z"), ("tue", "2024-12-31T00:00:00Z"), ("sun", "2025-06-01T00:00:00Z"))]
    out = build_features(small_tables(leads=leads), pd.DataFrame({"lead_id": ["mon", "tue", "sun"], "as_of": [T, T, T]}))
    assert out["capture_weekday"].tolist() == ["Monday", "Tuesday", "Sunday"]
    assert out["capture_month"].tolist() == ["March", "December", "June"]


def test_active_periods_and_email_steps_use_every_bit_of_their_masks() -> None:
    ages = (0.5, 1.5, 33, 63.5, 64.5, 89.5, 95)
    events = [{"lead_id": "a", "occurred_at": T - age * DAY, "event_type": "content_download"} for age in ages]
    events += [{"lead_id": "a", "occurred_at": T - DAY, "event_type": "email_sent", "email_step": step} for step in (0, 1, 62, 63)]
    events += [{"lead_id": "a", "occurred_at": T - DAY, "event_type": "email_open", "email_step": 63}]
    row = build_features(small_tables(events=events), pd.DataFrame({"lead_id": ["a"], "as_of": [T]})).iloc[0]
    assert (row["n_active_days_30d"], row["n_active_days_90d"]) == (2.0, 6.0)
    assert row["email_open_rate"] == 0.25


def test_building_in_chunks_gives_the_same_frame() -> None:
    events = [{"lead_id": lead, "occurred_at": T - d * DAY, "event_type": "page_view", "page_type": "pricing"}
              for lead in ("a", "b") for d in (1, 3, 40)]
    tables = small_tables(events=events, stage_history=[{"lead_id": "a", "stage": "MQL", "entered_at": T - 2 * DAY}])
    spine = pd.DataFrame({"lead_id": ["a", "b", "a", "b", "a"], "as_of": [T, T, T - 2 * DAY, T - DAY, T + DAY]})
    pd.testing.assert_frame_equal(build_features(tables, spine, chunk_rows=2), build_features(tables, spine))


def test_a_flat_export_built_in_chunks_gives_the_same_frame(tmp_path) -> None:
    # Own columns of every kind, lead and account categories bounded by as_of: what every chunk reads
    # about all the leads is worked out once per build, and no chunk may see another's rows.
    from leadscore.features.reading.validation import read_export
    from leadscore.features.synthetic.flat import make_flat_export

    for shape in ("hubspot", "deals"):
        folder = make_flat_export(300, seed=21, shape=shape).write(tmp_path / shape)
        tables, _ = read_export(folder, folder / "mapping.yaml")
        leads = tables.leads.sample(frac=1.0, random_state=3)
        spine = pd.DataFrame({"lead_id": leads["lead_id"].to_numpy(),
                              "as_of": (leads["captured_at"] + pd.to_timedelta(np.arange(len(leads)) % 90, unit="D")).to_numpy()})
        spine = spine[spine["as_of"] <= tables.data_end].reset_index(drop=True)
        assert len(spine) > 200 and any(c.used for c in tables.own_columns)
        pd.testing.assert_frame_equal(build_features(tables, spine, chunk_rows=37), build_features(tables, spine))
