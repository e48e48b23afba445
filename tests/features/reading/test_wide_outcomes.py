"""Wide outcome columns as stage entries (``stage_dates``, ``reached``), and one file read for two tables.

A flat contacts export carries the funnel as columns: one "Became a … Date" per stage and a "Converted" flag.
Each non-empty date is one stage entry; a ``reached`` value is an entry at an unknown time (empty entered_at),
never doubled when the same stage has a dated entry; the columns they read are outcomes, never features.
"""

from __future__ import annotations

from pathlib import Path
from unittest import mock

import numpy as np
import pandas as pd

import leadscore.features.reading.sources as sources
from leadscore.features.reading.mapping import ReachedRule, TableMapping
from leadscore.features.reading.outcomes import stage_entries_from_wide
from leadscore.features.reading.validation import read_export
from leadscore.features.synthetic.flat import make_flat_export


def wide(**columns: list) -> pd.DataFrame:
    n = len(next(iter(columns.values())))
    return pd.DataFrame({"lead_id": [f"L{i}" for i in range(n)], **columns}, dtype="str")


def as_triples(entries: pd.DataFrame) -> list[tuple[str, str, str | None]]:
    out = [(r.lead_id, r.stage, None if pd.isna(r.entered_at) else r.entered_at.strftime("%Y-%m-%d"))
           for r in entries.itertuples()]
    return sorted(out, key=lambda t: (t[0], t[1], t[2] or ""))


def test_stage_dates_give_one_entry_per_non_empty_date() -> None:
    frame = wide(MQLDate=["2024-01-02", None, "2024-01-05", ""], WonDate=["2024-02-01", None, None, "2024-03-01"])
    section = TableMapping(stage_dates={"MQL": "MQLDate", "WON": "WonDate"})
    entries, findings = stage_entries_from_wide(frame, section)
    assert findings == []
    assert as_triples(entries) == [("L0", "MQL", "2024-01-02"), ("L0", "WON", "2024-02-01"),
                                   ("L2", "MQL", "2024-01-05"), ("L3", "WON", "2024-03-01")]
    assert str(entries["entered_at"].dtype) == "datetime64[ns, UTC]"


def test_entries_keep_the_row_position_of_the_users_file() -> None:
    frame = wide(WonDate=[None, None, "2024-02-01"])
    entries, _ = stage_entries_from_wide(frame, TableMapping(stage_dates={"WON": "WonDate"}))
    assert entries.index.tolist() == [2]


def test_reached_values_give_entries_at_an_unknown_time_matching_values_ignoring_case() -> None:
    frame = wide(Converted=["1", "YES", "0", None, " yes ", "no"])
    section = TableMapping(reached={"WON": ReachedRule(column="Converted", values=["1", "yes"])})
    entries, findings = stage_entries_from_wide(frame, section)
    assert findings == []
    assert as_triples(entries) == [("L0", "WON", None), ("L1", "WON", None), ("L4", "WON", None)]
    assert entries["entered_at"].isna().all()


def test_a_reached_stage_with_a_dated_entry_gets_no_second_undated_one() -> None:
    frame = wide(WonDate=["2024-02-01", None, "2024-03-01"], Converted=["1", "1", "0"])
    section = TableMapping(stage_dates={"WON": "WonDate"},
                           reached={"WON": ReachedRule(column="Converted", values=["1"])})
    entries, _ = stage_entries_from_wide(frame, section)
    # L0 dated and flagged: one entry; L1 flagged only: undated; L2 dated, not flagged: dated.
    assert as_triples(entries) == [("L0", "WON", "2024-02-01"), ("L1", "WON", None), ("L2", "WON", "2024-03-01")]


def test_a_reached_flag_for_another_stage_than_the_dated_one_still_counts() -> None:
    frame = wide(SQODate=["2024-02-01", None], Converted=["1", "1"])
    section = TableMapping(stage_dates={"SQO": "SQODate"},
                           reached={"WON": ReachedRule(column="Converted", values=["1"])})
    entries, _ = stage_entries_from_wide(frame, section)
    assert as_triples(entries) == [("L0", "SQO", "2024-02-01"), ("L0", "WON", None), ("L1", "WON", None)]


def test_a_missing_outcome_column_is_an_error_naming_the_key_and_the_header() -> None:
    frame = wide(Converted=["1"])
    section = TableMapping(stage_dates={"WON": "Won Date"},
                           reached={"SQO": ReachedRule(column="Qualified", values=["1"])})
    entries, findings = stage_entries_from_wide(frame, section)
    assert entries.empty
    assert [(f.severity, f.rule) for f in findings] == [("error", "mapping_column_missing")] * 2
    assert "'Won Date' under stage_history.stage_dates" in findings[0].message
    assert "'Qualified' under stage_history.reached" in findings[1].message


def test_unreadable_stage_dates_are_reported_and_give_no_entry() -> None:
    frame = wide(WonDate=["2024-02-01", "soon", None])
    entries, findings = stage_entries_from_wide(frame, TableMapping(stage_dates={"WON": "WonDate"}))
    assert as_triples(entries) == [("L0", "WON", "2024-02-01")]
    [bad] = findings
    assert (bad.rule, bad.n_rows, bad.examples) == ("bad_timestamp", 1, [{"row": 2, "value": "soon"}])


# --------------------------------------------------------------------------------------------------
# Through read_export

CONTACTS = (
    "Record ID,Create Date,Lead Source,MQL Date,Customer Date,Converted\n"
    "1,2024-01-01,Google,2024-01-03,2024-02-01,1\n"
    "2,2024-01-02,Google,,,1\n"
    "3,2024-01-03,Reference,2024-01-09,,0\n"
    "4,2024-01-04,Reference,,,0\n"
)
WIDE_HISTORY = (
    "stage_history:\n  file: {file}\n  columns: {{Record ID: lead_id}}\n"
    "  stage_dates: {{MQL: MQL Date, WON: Customer Date}}\n"
    "  reached:\n    WON: {{column: Converted, values: ['1']}}\n"
)


def write(tmp_path: Path, files: dict[str, str], mapping: str) -> tuple[Path, Path]:
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    (tmp_path / "m.yaml").write_text(mapping)
    return folder, tmp_path / "m.yaml"


def test_unknown_time_entries_are_one_warning_with_their_count_per_stage(tmp_path: Path) -> None:
    leads = "leads:\n  file: contacts.csv\n  columns: {Record ID: lead_id, Create Date: captured_at}\n"
    folder, mapping = write(tmp_path, {"contacts.csv": CONTACTS}, leads + WIDE_HISTORY.format(file="contacts.csv"))
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert as_triples(tables.stage_history) == [("1", "MQL", "2024-01-03"), ("1", "WON", "2024-02-01"),
                                                ("2", "WON", None), ("3", "MQL", "2024-01-09")]
    [unknown] = [f for f in findings if f.rule == "unknown_time"]
    assert (unknown.severity, unknown.table, unknown.column, unknown.n_rows) == ("warning", "stage_history", "entered_at", 1)
    assert "WON 1" in unknown.message


def test_a_file_named_for_two_tables_is_read_once(tmp_path: Path) -> None:
    leads = "leads:\n  file: contacts.csv\n  columns: {Record ID: lead_id, Create Date: captured_at}\n"
    folder, mapping = write(tmp_path, {"contacts.csv": CONTACTS}, leads + WIDE_HISTORY.format(file="contacts.csv"))
    with mock.patch.object(sources, "read_file_table", wraps=sources.read_file_table) as reader:
        tables, _ = read_export(folder, mapping)
    assert [call.args[0].name for call in reader.call_args_list] == ["contacts.csv"]
    assert tables.present >= {"leads", "stage_history"} and len(tables.leads) == 4


def test_leads_found_by_their_file_name_share_it_with_stage_history_and_its_outcomes_are_no_features(
        tmp_path: Path) -> None:
    csv = CONTACTS.replace("Create Date", "captured_at").replace("Record ID", "lead_id")
    history = WIDE_HISTORY.format(file="leads.csv").replace("Record ID", "lead_id")
    folder, mapping = write(tmp_path, {"leads.csv": csv}, history)  # no `leads:` section: leads.csv by its name
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.present >= {"leads", "stage_history"} and tables.leads["lead_id"].tolist() == ["1", "2", "3", "4"]
    own = {c.column: c for c in tables.own_columns}
    for outcome in ("MQL Date", "Customer Date", "Converted"):
        assert not own[outcome].used and "outcome" in own[outcome].why
    assert own["Lead Source"].used


def test_the_same_file_written_two_ways_is_recognised_as_one(tmp_path: Path) -> None:
    leads = "leads:\n  file: ./contacts.csv\n  columns: {Record ID: lead_id, Create Date: captured_at}\n"
    folder, mapping = write(tmp_path, {"contacts.csv": CONTACTS}, leads + WIDE_HISTORY.format(file="contacts.csv"))
    tables, _ = read_export(folder, mapping)
    converted = next(c for c in tables.own_columns if c.column == "Converted")
    assert not converted.used and "outcome" in converted.why


def test_the_generated_hubspot_export_gives_one_entry_per_date_it_holds(tmp_path: Path) -> None:
    flat = make_flat_export(150, seed=5, shape="hubspot")
    folder = flat.write(tmp_path / "hubspot")
    tables, findings = read_export(folder, folder / "mapping.yaml")
    assert [f for f in findings if f.is_error] == []
    contacts = flat.files["contacts.csv"]
    expected = {stage: int(contacts[column].notna().sum()) for stage, column in (
        ("MQL", "Became a Marketing Qualified Lead Date"), ("SQO", "Became an Opportunity Date"),
        ("WON", "Became a Customer Date"))}
    assert tables.stage_history["stage"].value_counts().to_dict() == expected
    assert int(tables.stage_history["entered_at"].isna().sum()) == 0
    assert expected["WON"] == int(flat.truth["observed"].sum())


def test_the_generated_converted_export_gives_one_undated_won_per_converted_lead(tmp_path: Path) -> None:
    flat = make_flat_export(150, seed=6, shape="converted")
    folder = flat.write(tmp_path / "converted")
    tables, findings = read_export(folder, folder / "mapping.yaml")
    assert [f for f in findings if f.is_error] == []
    history = tables.stage_history
    converted = flat.files["leads.csv"].loc[lambda f: f["Converted"] == 1, "Prospect ID"]
    assert sorted(history["lead_id"]) == sorted(converted) and (history["stage"] == "WON").all()
    assert history["entered_at"].isna().all()
    assert np.array_equal(np.sort(history["lead_id"].to_numpy()), np.unique(history["lead_id"].to_numpy()))
