"""Labels from stage entries reached at an unknown time (a flat export's "Converted" flag).

Such an entry counts as reached after capture and within any horizon: positive at capture; a later snapshot
cannot be labelled (``outcome_time_unknown``); an unknown-time WON counts for SQO too; a timed entry of the
target decides over an undated one; training then uses at-capture snapshots only and says so.
"""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.building.labels import build_training_set, label_snapshots, unknown_time_targets
from leadscore.features.reading.validation import read_export
from leadscore.features.synthetic.flat import make_flat_export
from leadscore.features.tables import contract_frame, make_tables

T = pd.Timestamp("2025-01-01T00:00:00Z")
DAY = pd.Timedelta(days=1)
UNKNOWN = None


def tables_with(stages: list[tuple[str, str, pd.Timestamp | None]], leads: list[str] | None = None,
                data_end: pd.Timestamp = T + 400 * DAY):
    lead_ids = leads or sorted({lead for lead, _, _ in stages})
    return make_tables({
        "leads": contract_frame("leads", [{"lead_id": lead, "captured_at": T} for lead in lead_ids]),
        "stage_history": contract_frame("stage_history", [{"lead_id": lead, "stage": s, "entered_at": at}
                                                          for lead, s, at in stages]),
    }, data_end=data_end)


def statuses(tables, lead: str, target: str, offsets: tuple[int, ...] = (0, 7, 30)) -> list[tuple[str, object]]:
    spine = pd.DataFrame({"lead_id": [lead] * len(offsets), "as_of": [T + o * DAY for o in offsets]})
    out = label_snapshots(tables, spine, target, 90 if target == "sqo" else 180)
    return list(zip(out["status"], out["label"], strict=True))


def test_an_unknown_time_won_is_positive_at_capture_and_later_snapshots_are_left_out() -> None:
    tables = tables_with([("a", "MCL", T), ("a", "WON", UNKNOWN)])
    unknown = ("outcome_time_unknown", pd.NA)
    assert statuses(tables, "a", "won") == [("ok", 1), unknown, unknown]
    assert statuses(tables, "a", "sqo") == [("ok", 1), unknown, unknown]  # a WON counts for SQO too


def test_an_unknown_time_sqo_is_not_a_won() -> None:
    tables = tables_with([("a", "SQO", UNKNOWN)])
    assert statuses(tables, "a", "sqo") == [("ok", 1), ("outcome_time_unknown", pd.NA), ("outcome_time_unknown", pd.NA)]
    # At capture it did not win; later, whether its SQO was already reached (the WON label's condition) is unknown.
    assert statuses(tables, "a", "won") == [("ok", 0), ("outcome_time_unknown", pd.NA), ("outcome_time_unknown", pd.NA)]


def test_a_timed_target_entry_decides_over_an_undated_one() -> None:
    tables = tables_with([("a", "WON", T + 20 * DAY), ("a", "WON", UNKNOWN),
                          ("b", "SQO", T + 5 * DAY), ("b", "WON", UNKNOWN)])
    assert statuses(tables, "a", "won") == [("ok", 1), ("ok", 1), ("already_reached", pd.NA)]
    assert list(unknown_time_targets(tables, "won")) == ["b"]
    # b's SQO is timed: the SQO label follows it; its WON has no time: the WON label is unknown after capture.
    assert statuses(tables, "b", "sqo") == [("ok", 1), ("already_reached", pd.NA), ("already_reached", pd.NA)]
    assert statuses(tables, "b", "won") == [("ok", 1), ("outcome_time_unknown", pd.NA), ("outcome_time_unknown", pd.NA)]
    assert list(unknown_time_targets(tables, "sqo")) == []


def test_an_unknown_time_entry_of_another_stage_does_not_make_a_positive() -> None:
    tables = tables_with([("a", "MQL", UNKNOWN), ("a", "LOST", UNKNOWN)])
    assert statuses(tables, "a", "sqo") == [("ok", 0), ("ok", 0), ("ok", 0)]


def test_censoring_still_applies_to_unknown_time_outcomes_at_capture() -> None:
    # no SQO is recorded: a win is its own SQO, so the WON label is known once the SQO horizon has passed
    tables = tables_with([("a", "WON", UNKNOWN)], data_end=T + 100 * DAY)
    assert statuses(tables, "a", "won", (0,)) == [("ok", 1)]
    assert statuses(tables, "a", "sqo", (0,)) == [("ok", 1)]
    tables = tables_with([("a", "WON", UNKNOWN)], data_end=T + 80 * DAY)
    assert statuses(tables, "a", "won", (0,)) == [("censored", pd.NA)]
    # with SQOs recorded, a win may come after its SQO: both horizons must have passed
    tables = tables_with([("a", "WON", UNKNOWN), ("b", "SQO", T + DAY)], data_end=T + 100 * DAY)
    assert statuses(tables, "a", "won", (0,)) == [("censored", pd.NA)]


def test_training_uses_only_at_capture_snapshots_when_the_target_has_unknown_time_outcomes_and_says_so() -> None:
    tables = tables_with([("a", "WON", UNKNOWN), ("b", "MQL", T + 3 * DAY), ("c", "SQO", T + 10 * DAY)],
                         leads=["a", "b", "c"])
    rows, summary = build_training_set(tables, "won", offsets_days=(0, 7, 30))
    assert rows["offset_days"].tolist() == [0, 0, 0]
    assert dict(zip(rows["lead_id"], rows["label"], strict=True)) == {"a": 1, "b": 0, "c": 0}
    assert summary["offset"].tolist() == ["0", "total"]
    note = summary.attrs["note"]
    assert "1 lead(s) reached WON at an unknown time" in note and "offset 0 instead of 0, 7, 30" in note


def test_training_keeps_every_offset_and_no_note_when_the_target_has_no_unknown_time_outcome() -> None:
    tables = tables_with([("a", "MQL", UNKNOWN), ("b", "MQL", T + 3 * DAY), ("b", "SQO", T + 60 * DAY)])
    rows, summary = build_training_set(tables, "sqo", offsets_days=(0, 7, 30))
    assert summary.attrs["note"] == "" and summary["offset"].tolist() == ["0", "7", "30", "total"]
    assert sorted(set(rows["offset_days"])) == [0, 7, 30]


def test_asking_for_at_capture_snapshots_only_needs_no_note() -> None:
    tables = tables_with([("a", "WON", UNKNOWN), ("b", "MQL", T)])
    _, summary = build_training_set(tables, "won", offsets_days=(0,))
    assert summary.attrs["note"] == ""


@pytest.mark.parametrize("target", ["sqo", "won"])
def test_every_snapshot_is_accounted_for_with_unknown_time_exclusions(target: str) -> None:
    tables = tables_with([("a", "WON", UNKNOWN), ("b", "SQO", UNKNOWN), ("c", "MQL", T + DAY)],
                         data_end=T + 200 * DAY)
    spine = pd.DataFrame({"lead_id": ["a", "b", "c"] * 3, "as_of": [T] * 3 + [T + 7 * DAY] * 3 + [T + 30 * DAY] * 3})
    labels = label_snapshots(tables, spine, target, 90)
    # a's undated WON and b's undated SQO: their later snapshots cannot be labelled, for either target
    # (for won, b's SQO is the chain's condition)
    expected_unknown = {"sqo": 4, "won": 4}[target]
    assert int((labels["status"] == "outcome_time_unknown").sum()) == expected_unknown
    assert labels["label"].notna().sum() == (labels["status"] == "ok").sum()


def test_a_converted_flag_export_trains_on_capture_snapshots_with_one_positive_per_observed_conversion(
        tmp_path) -> None:
    flat = make_flat_export(160, seed=21, shape="converted", leaks=False)
    folder = flat.write(tmp_path / "flat")
    tables, findings = read_export(folder, folder / "mapping.yaml")
    assert [f for f in findings if f.is_error] == []
    rows, summary = build_training_set(tables, "won", offsets_days=(0, 14))
    assert set(rows["offset_days"]) == {0} and summary.attrs["note"]
    observed = flat.truth.set_index("lead_id")["observed"]
    # a Converted flag records no SQO: a win is its own SQO, known once the 90-day SQO horizon has passed
    uncensored = flat.truth["captured_at"] + 90 * DAY <= tables.data_end
    expected = int((flat.truth["observed"] & uncensored).sum())
    assert int(rows["label"].sum()) == expected > 0
    assert observed.loc[rows.loc[rows["label"] == 1, "lead_id"]].all()
    assert len(rows) == int(uncensored.sum())


def test_a_converted_flag_filled_in_only_from_some_month_on_is_detected_and_the_months_before_left_out(tmp_path) -> None:
    from leadscore.features.building.labels import late_outcome_records

    start = pd.Timestamp("2024-07-01T00:00:00Z")
    flat = make_flat_export(3000, seed=5, shape="converted", leaks=False, collection_start=start)
    folder = flat.write(tmp_path / "flat")
    tables, _ = read_export(folder, folder / "mapping.yaml")
    records_start, why = late_outcome_records(tables, "sqo", 90)
    first_flagged = flat.truth.loc[flat.truth["observed"], "captured_at"].min()
    assert records_start is not None and records_start.normalize() == first_flagged.normalize() >= start
    assert "no lead is flagged as converted before" in why
    rows, summary = build_training_set(tables, "won", offsets_days=(0,))
    assert rows["as_of"].min() >= records_start and summary.set_index("offset").loc["total", "n_before_outcome_records"] > 0
    # the same export with every conversion flagged is not called late
    whole = make_flat_export(3000, seed=5, shape="converted", leaks=False).write(tmp_path / "whole")
    assert late_outcome_records(read_export(whole, whole / "mapping.yaml")[0], "sqo", 90) == (None, "")
