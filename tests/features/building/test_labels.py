"""Labels: horizon edges, censoring, leads past the target, recycled leads, WON without SQO; summaries reconcile."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.building.catalogue import feature_names
from leadscore.features.building.labels import build_training_set, label_snapshots
from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import contract_frame, make_tables

T = pd.Timestamp("2025-01-01T00:00:00Z")
H = pd.Timedelta(days=90)




def tables_with(stages: list[tuple[str, str, pd.Timestamp]], leads: list[tuple[str, pd.Timestamp]] | None = None,
                data_end: pd.Timestamp | None = None):
    data_end = T + pd.Timedelta(days=400) if data_end is None else data_end
    leads = leads or sorted({(lead, T) for lead, _, _ in stages})
    return make_tables(
        {
            "leads": contract_frame("leads", [{"lead_id": lead, "captured_at": at, "channel": "email"} for lead, at in leads]),
            "stage_history": contract_frame("stage_history", [{"lead_id": lead, "stage": s, "entered_at": at} for lead, s, at in stages]),
        },
        data_end=data_end,
    )


def snapshot(tables, lead: str, as_of: pd.Timestamp, target: str = "sqo", horizon: int | None = 90) -> tuple[str, object]:
    out = label_snapshots(tables, pd.DataFrame({"lead_id": [lead], "as_of": [as_of]}), target, horizon)
    return out.loc[0, "status"], out.loc[0, "label"]


def test_entry_exactly_at_the_horizon_end_counts_and_one_nanosecond_later_does_not() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "SQO", T + H), ("b", "MCL", T), ("b", "SQO", T + H + pd.Timedelta("1ns"))])
    assert snapshot(tables, "a", T) == ("ok", 1)
    assert snapshot(tables, "b", T) == ("ok", 0)


def test_entry_exactly_at_as_of_is_not_a_future_label_but_already_reached() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "SQO", T + pd.Timedelta(days=7))])
    assert snapshot(tables, "a", T + pd.Timedelta(days=7)) == ("already_reached", pd.NA)
    assert snapshot(tables, "a", T + pd.Timedelta(days=7) - pd.Timedelta("1ns")) == ("ok", 1)


def test_rows_whose_horizon_passes_the_data_end_are_censored() -> None:
    end = T + pd.Timedelta(days=100)
    tables = tables_with([("a", "MCL", T), ("a", "SQO", T + pd.Timedelta(days=50))], data_end=end)
    assert snapshot(tables, "a", end - H) == ("ok", 1)  # window ends exactly at the data's end
    assert snapshot(tables, "a", end - H + pd.Timedelta("1ns")) == ("censored", pd.NA)
    # Censored even though this lead's outcome is already known: the rule cannot depend on the outcome.
    assert snapshot(tables, "a", T + pd.Timedelta(days=20)) == ("censored", pd.NA)
    assert snapshot(tables, "a", end + pd.Timedelta(days=1)) == ("not_yet_observable", pd.NA)


def test_leads_already_past_the_target_are_not_training_rows() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "SQO", T + pd.Timedelta(days=1)), ("a", "LOST", T + pd.Timedelta(days=2))])
    assert snapshot(tables, "a", T + pd.Timedelta(days=3)) == ("already_reached", pd.NA)
    # For the won target an SQO is not the target, but the lead is closed (LOST): the scorer gives a closed
    # lead no probability, so it is no training row either.
    assert snapshot(tables, "a", T + pd.Timedelta(days=3), "won", 180) == ("closed", pd.NA)
    assert snapshot(tables, "a", T + pd.Timedelta(days=1), "won", 180) == ("ok", 0)  # an open opportunity


def test_closed_leads_are_not_training_rows_until_recycled() -> None:
    day = pd.Timedelta(days=1)
    tables = tables_with([("a", "MCL", T), ("a", "DISQUALIFIED", T + 5 * day), ("a", "RECYCLED", T + 20 * day),
                          ("a", "SQO", T + 40 * day)])
    assert snapshot(tables, "a", T) == ("ok", 1)
    assert snapshot(tables, "a", T + 7 * day) == ("closed", pd.NA)
    assert snapshot(tables, "a", T + 30 * day) == ("ok", 1)  # recycled: open again, and its SQO is ahead


def test_recycled_leads_are_labelled_by_their_first_entry() -> None:
    stages = [("a", "MCL", T), ("a", "SQO", T + pd.Timedelta(days=10)), ("a", "RECYCLED", T + pd.Timedelta(days=20)),
              ("a", "SQO", T + pd.Timedelta(days=60))]
    tables = tables_with(stages)
    assert snapshot(tables, "a", T) == ("ok", 1)
    # At day 30 the lead had already been an SQO; its second entry is not a new conversion.
    assert snapshot(tables, "a", T + pd.Timedelta(days=30)) == ("already_reached", pd.NA)


def test_won_without_a_recorded_sqo_counts_as_sqo() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "WON", T + pd.Timedelta(days=30))])
    assert snapshot(tables, "a", T) == ("ok", 1)
    assert snapshot(tables, "a", T, "won", 180) == ("ok", 1)


def test_a_lead_that_never_converts_is_a_negative() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "MQL", T + pd.Timedelta(days=3))])
    assert snapshot(tables, "a", T) == ("ok", 0)


def test_default_horizons_are_90_days_for_sqo_and_180_for_won_with_its_sqo_inside_90() -> None:
    day = pd.Timedelta(days=1)
    tables = tables_with([("a", "MCL", T), ("a", "SQO", T + 60 * day), ("a", "WON", T + 120 * day),
                          ("b", "MCL", T), ("b", "WON", T + 120 * day)])
    assert snapshot(tables, "a", T, "sqo", None) == ("ok", 1)
    assert snapshot(tables, "a", T, "won", None) == ("ok", 1)
    # b's win is its own SQO (none is recorded), on day 120: outside the SQO horizon, so no win for the
    # chain either; P(won) = P(sqo) x P(won | sqo) holds row by row.
    assert snapshot(tables, "b", T, "sqo", None) == ("ok", 0)
    assert snapshot(tables, "b", T, "won", None) == ("ok", 0)


def test_a_won_label_implies_an_sqo_label_and_reached_sqo_is_the_chains_condition() -> None:
    day = pd.Timedelta(days=1)
    stages = [("a", "SQO", T + 10 * day), ("a", "WON", T + 100 * day), ("b", "SQO", T + 80 * day),
              ("c", "WON", T + 30 * day), ("d", "MQL", T + 2 * day), ("e", "SQO", T + 5 * day)]
    tables = tables_with(stages)
    spine = pd.DataFrame({"lead_id": list("abcde") * 2, "as_of": [T] * 5 + [T + 7 * day] * 5})
    sqo = label_snapshots(tables, spine, "sqo", 90)
    won = label_snapshots(tables, spine, "won", 180, 90)
    both = (sqo["status"] == "ok") & (won["status"] == "ok")
    assert ((won.loc[both, "label"] == 1) <= (sqo.loc[both, "label"] == 1)).all()
    assert won["label"].tolist()[:5] == [1, 0, 1, 0, 0]
    assert won["reached_sqo"].tolist()[:5] == [1, 1, 1, 0, 1]
    # a week later e is an open opportunity (at SQO): a row of the WON set, with its condition met
    assert (won.loc[9, "status"], bool(won.loc[9, "at_sqo"]), won.loc[9, "reached_sqo"]) == ("ok", True, 1)


def test_training_set_rows_are_the_ok_snapshots_with_features_and_a_reconciled_summary() -> None:
    day = pd.Timedelta(days=1)
    leads = [("a", T), ("b", T + 10 * day), ("c", T + 300 * day)]
    stages = [("a", "MCL", T), ("a", "SQO", T + 5 * day), ("b", "MCL", T + 10 * day), ("b", "WON", T + 40 * day),
              ("c", "MCL", T + 300 * day), ("c", "MQL", T + 301 * day)]
    tables = tables_with(stages, leads, data_end=T + 320 * day)
    rows, summary = build_training_set(tables, "sqo", offsets_days=(0, 7, 30), horizon_days=90)

    assert list(rows.columns) == ["lead_id", "as_of", "offset_days", "captured_at", "label", *feature_names()]
    assert rows["label"].dtype == "int8"
    got = {(r.lead_id, r.offset_days): r.label for r in rows.itertuples()}
    # a: SQO on day 5 -> positive at 0, already reached at 7 and 30; b: WON on day 30 after capture -> positive
    # at 0 and 7, already reached at 30; c: windows pass the data's end (censored), at 30 days after the end.
    assert got == {("a", 0): 1, ("b", 0): 1, ("b", 7): 1}
    assert (rows["as_of"] == rows["captured_at"] + pd.to_timedelta(rows["offset_days"], unit="D")).all()
    assert rows["as_of"].is_monotonic_increasing

    exclusions = [c for c in summary.columns if c.startswith("n_") and c not in ("n_candidates", "n_rows", "n_positive")]
    assert (summary["n_candidates"] == summary["n_rows"] + summary[exclusions].sum(axis=1)).all()
    total = summary.set_index("offset").loc["total"]
    assert (total["n_candidates"], total["n_rows"], total["n_positive"]) == (9, 3, 3)
    assert (total["n_censored"], total["n_already_reached"], total["n_not_yet_observable"]) == (2, 3, 1)
    assert summary["offset"].tolist() == ["0", "7", "30", "total"]


def test_training_set_counts_snapshots_after_the_data_end() -> None:
    day = pd.Timedelta(days=1)
    tables = tables_with([("a", "MCL", T), ("a", "MQL", T + day)], [("a", T)], data_end=T + 100 * day)
    rows, summary = build_training_set(tables, "sqo", offsets_days=(0, 200), horizon_days=10)
    by_offset = summary.set_index("offset")
    assert by_offset.loc["200", "n_not_yet_observable"] == 1
    assert by_offset.loc["0", "n_rows"] == 1 and len(rows) == 1


def test_bad_training_requests_fail_with_a_clear_error() -> None:
    tables = tables_with([("a", "MCL", T)])
    with pytest.raises(LeadscoreError, match="target"):
        build_training_set(tables, "mql")
    with pytest.raises(LeadscoreError, match="offsets"):
        build_training_set(tables, "sqo", offsets_days=(0, -7))
    with pytest.raises(LeadscoreError, match="horizon"):
        build_training_set(tables, "sqo", horizon_days=0)
    without_history = make_tables({"leads": tables.leads})
    with pytest.raises(LeadscoreError, match="stage_history"):
        build_training_set(without_history, "sqo")


def _deals_export(recorded_from_day: int | None, n_leads: int = 600, seed: int = 0):
    """Leads over 400 days, a third of them won 20 days after capture; wins before ``recorded_from_day`` unrecorded."""
    import numpy as np

    rng = np.random.default_rng(seed)
    day = pd.Timedelta(days=1)
    captured = [T + float(d) * day for d in np.sort(rng.uniform(0, 400, n_leads))]
    leads = [(f"L{i:04d}", at) for i, at in enumerate(captured)]
    stages = [(lead, "WON", at + 20 * day) for lead, at in leads
              if rng.random() < 0.33 and (recorded_from_day is None or at + 20 * day >= T + recorded_from_day * day)]
    return tables_with(stages, leads, data_end=T + 420 * pd.Timedelta(days=1))


def test_outcome_records_that_start_late_are_detected_and_the_months_before_left_out_saying_so() -> None:
    from leadscore.features.building.labels import late_outcome_records

    tables = _deals_export(recorded_from_day=200)
    start, why = late_outcome_records(tables, "sqo", 90)
    first_win = tables.stage_history["entered_at"].min()
    assert start == first_win and "no SQO or WON is recorded before" in why
    rows, summary = build_training_set(tables, "sqo", offsets_days=(0,), horizon_days=90)
    assert (rows["as_of"] >= start).all()  # no row whose horizon starts before the records do
    total = summary.set_index("offset").loc["total"]
    assert total["n_before_outcome_records"] > 0
    assert total["n_candidates"] == total["n_rows"] + sum(total[c] for c in summary.columns
                                                         if c.startswith("n_") and c not in ("n_candidates", "n_rows", "n_positive"))
    assert "outcome records seem to start then" in summary.attrs["note"]
    assert summary.attrs["records_start"] == start


def test_outcome_records_from_the_start_are_not_called_late() -> None:
    from leadscore.features.building.labels import late_outcome_records

    tables = _deals_export(recorded_from_day=None)
    assert late_outcome_records(tables, "sqo", 90) == (None, "")
    _, summary = build_training_set(tables, "sqo", offsets_days=(0,), horizon_days=90)
    assert summary.set_index("offset").loc["total", "n_before_outcome_records"] == 0 and summary.attrs["note"] == ""


def test_a_flat_export_trains_on_capture_snapshots_only_and_says_so() -> None:
    from leadscore.features.building.labels import after_capture_rows

    day = pd.Timedelta(days=1)
    stages = [("a", "WON", T + 30 * day), ("b", "LOST", T + 10 * day), ("c", "MCL", T)]
    tables = tables_with(stages, [("a", T), ("b", T), ("c", T)])
    assert after_capture_rows(tables) == 0  # outcomes and closings only: nothing changes a kept row's features
    rows, summary = build_training_set(tables, "sqo", offsets_days=(0, 7, 30))
    assert set(rows["offset_days"]) == {0} and "nothing in the export changes after a lead's capture" in summary.attrs["note"]
    moving = tables_with([*stages, ("c", "MQL", T + 3 * day)], [("a", T), ("b", T), ("c", T)])
    assert after_capture_rows(moving) == 1
    rows, summary = build_training_set(moving, "sqo", offsets_days=(0, 7, 30))
    assert set(rows["offset_days"]) == {0, 7, 30} and summary.attrs["note"] == ""
