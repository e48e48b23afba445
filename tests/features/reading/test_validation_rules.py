"""One test per contract rule, through `leadscore validate --json`: exit code, severity, table and column."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli import main


def valid_frames() -> dict[str, pd.DataFrame]:
    """A tiny export that follows the contract in every table (all text, as a CRM writes CSV)."""
    return {
        "leads": pd.DataFrame({
            "lead_id": ["000123", "000124", "L3", "L4"],
            "account_id": ["A1", "A1", "A2", None],
            "captured_at": ["2024-01-01T10:00:00Z", "2024-01-02T10:00:00+02:00", "2024-01-03 09:00:00", "2024-01-04T10:00:00Z"],
            "channel": ["linkedin", "email", "facebook", "google_search"],
            "campaign": ["q1", None, "q1", None],
            "job_title": ["CFO", "Controller", None, "Intern"],
            "country": ["US", "IL", "DE", "NA"],
            "email_domain": ["acme.com", "acme.com", "beta.de", "gmail.com"],
            "email_consent": ["yes", "no", "true", "0"],
        }),
        "accounts": pd.DataFrame({
            "account_id": ["A1", "A2"], "industry": ["software", "retail"], "employees": ["250", "40"],
            "annual_revenue_usd": ["5e7", "2000000"], "hq_country": ["US", "DE"], "region": ["us_east", "europe"],
            "branch_count": ["2", "1"], "business_model": ["b2b", "b2c"], "paying_customers": ["1500", "80"],
            "is_public": ["false", "false"], "company_stage": ["scaleup", "startup"], "has_cdo": ["true", "false"],
            "digital_transformation": ["in_progress", "none"],
        }),
        "technographics": pd.DataFrame({
            "account_id": ["A1", "A2"], "technology": ["salesforce", "stripe"], "category": ["crm", "billing"],
            "first_seen_at": ["2023-05-01", None],
        }),
        "events": pd.DataFrame({
            "lead_id": ["000123", "000123", "000124", "L3"],
            "occurred_at": ["2024-01-05T10:00:00Z", "2024-01-06T10:00:00Z", "2024-01-07T10:00:00Z", "2024-01-08T10:00:00Z"],
            "event_type": ["email_open", "page_view", "form_submit", "demo_request"],
            "page_type": [None, "pricing", "contact", None],
            "email_step": ["1", None, None, None],
            "channel": ["email", "organic", "direct", None],
        }),
        "stage_history": pd.DataFrame({
            "lead_id": ["000123", "000123", "000123", "000124", "L3", "L4"],
            "stage": ["MCL", "MQL", "SQO", "MCL", "MCL", "MCL"],
            "entered_at": ["2024-01-01T10:00:00Z", "2024-01-10T10:00:00Z", "2024-02-01T10:00:00Z",
                           "2024-01-02T08:00:00Z", "2024-01-03T09:00:00Z", "2024-01-04T10:00:00Z"],
        }),
        "opportunities": pd.DataFrame({
            "opportunity_id": ["O1"], "lead_id": ["000123"], "account_id": ["A1"], "created_at": ["2024-02-01T10:00:00Z"],
            "closed_at": [None], "outcome": ["open"], "amount_usd": ["12000"],
        }),
        "spend": pd.DataFrame({"channel": ["linkedin", "email"], "month": ["2024-01", "2024-01"], "amount_usd": ["5000", "800.5"]}),
    }


def write_export(folder: Path, frames: dict[str, pd.DataFrame]) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    return folder


def validate(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict]:
    code = main(["validate", *args, "--json"])
    out = capsys.readouterr()
    assert "Traceback" not in out.err
    return code, json.loads(out.out)


def set_cell(table: str, column: str, row: int, value: str | None) -> Callable[[dict[str, pd.DataFrame]], None]:
    def change(frames: dict[str, pd.DataFrame]) -> None:
        frames[table].loc[row, column] = value
    return change


def drop_column(table: str, column: str) -> Callable[[dict[str, pd.DataFrame]], None]:
    def change(frames: dict[str, pd.DataFrame]) -> None:
        frames[table] = frames[table].drop(columns=[column])
    return change


def drop_table(table: str) -> Callable[[dict[str, pd.DataFrame]], None]:
    def change(frames: dict[str, pd.DataFrame]) -> None:
        del frames[table]
    return change


def test_a_valid_export_passes_with_no_findings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, report = validate(capsys, str(write_export(tmp_path / "x", valid_frames())))
    assert (code, report["findings"], report["n_errors"]) == (0, [], 0)
    assert report["tables"] == {"leads": 4, "accounts": 2, "technographics": 2, "events": 4, "stage_history": 6,
                                "opportunities": 1, "spend": 2}


def test_exit_0_with_extra_columns_mixed_offsets_and_zero_padded_ids(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = valid_frames()
    frames["leads"]["crm_owner"] = ["ann", "bob", "cy", "dee"]
    frames["events"]["utm_source"] = ["x", None, "y", "z"]
    # The same instants as the stage entries, written with other offsets (a wrong reading would put
    # stage entries before capture).
    frames["leads"]["captured_at"] = ["2024-01-01T15:30:00+05:30", "2024-01-02T01:00:00-07:00", "2024-01-03T09:00:00Z",
                                      "2024-01-04 10:00:00"]
    code, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    assert (code, report["findings"]) == (0, [])
    from leadscore.features.reading.validation import load_tables

    tables = load_tables(tmp_path / "x")
    assert tables.leads["lead_id"].iloc[0] == "000123"
    assert tables.leads["crm_owner"].tolist() == ["ann", "bob", "cy", "dee"]


ERRORS = {
    "missing_table": (drop_table("leads"), "leads", None),
    "missing_column": (drop_column("events", "occurred_at"), "events", "occurred_at"),
    "duplicate_lead_id": (set_cell("leads", "lead_id", 1, "000123"), "leads", "lead_id"),
    "duplicate_account_id": (set_cell("accounts", "account_id", 1, "A1"), "accounts", "account_id"),
    "null_lead_id": (set_cell("leads", "lead_id", 2, None), "leads", "lead_id"),
    "null_stage": (set_cell("stage_history", "stage", 0, None), "stage_history", "stage"),
    "unknown_stage": (set_cell("stage_history", "stage", 1, "Hot Prospect"), "stage_history", "stage"),
    "unknown_event_type": (set_cell("events", "event_type", 0, "tweet"), "events", "event_type"),
    "unknown_page_type": (set_cell("events", "page_type", 1, "faq"), "events", "page_type"),
    "unknown_lead_channel": (set_cell("leads", "channel", 0, "carrier pigeon"), "leads", "channel"),
    "unknown_event_channel": (set_cell("events", "channel", 0, "linkedin"), "events", "channel"),
    "unknown_business_model": (set_cell("accounts", "business_model", 0, "d2c"), "accounts", "business_model"),
    "unknown_outcome": (set_cell("opportunities", "outcome", 0, "pending"), "opportunities", "outcome"),
    "negative_employees": (set_cell("accounts", "employees", 0, "-5"), "accounts", "employees"),
    "negative_amount": (set_cell("spend", "amount_usd", 0, "-100"), "spend", "amount_usd"),
    "bad_timestamp": (set_cell("events", "occurred_at", 2, "last tuesday"), "events", "occurred_at"),
    "out_of_range_timestamp": (set_cell("leads", "captured_at", 0, "2999-01-01T00:00:00Z"), "leads", "captured_at"),
    "bad_number": (set_cell("accounts", "employees", 1, "about 40"), "accounts", "employees"),
    "bad_bool": (set_cell("leads", "email_consent", 0, "maybe"), "leads", "email_consent"),
    "bad_month": (set_cell("spend", "month", 0, "Jan 2024"), "spend", "month"),
    # A header-only leads table beside events and stage history was a TypeError traceback.
    "header_only_leads": (lambda f: f.__setitem__("leads", f["leads"].iloc[:0]), "leads", None),
    "duplicate_opportunity_id": (
        lambda f: f.__setitem__("opportunities", pd.concat([f["opportunities"]] * 2, ignore_index=True)),
        "opportunities", "opportunity_id",
    ),
}


@pytest.mark.parametrize("case", ERRORS)
def test_each_broken_rule_exits_1_naming_table_and_column(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    change, table, column = ERRORS[case]
    frames = valid_frames()
    change(frames)
    code, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    assert code == 1
    errors = [f for f in report["findings"] if f["severity"] == "error"]
    assert [(f["table"], f["column"]) for f in errors] == [(table, column)]
    [finding] = errors
    assert finding["fix"] and finding["message"]
    if finding["n_rows"]:
        assert finding["examples"] and all(e["row"] >= 1 for e in finding["examples"])


WARNINGS = {
    "unknown_lead_events": (set_cell("events", "lead_id", 3, "GHOST"), "events", "lead_id", "unknown_lead"),
    "unknown_lead_stages": (set_cell("stage_history", "lead_id", 5, "GHOST"), "stage_history", "lead_id", "unknown_lead"),
    "unknown_lead_opportunity": (set_cell("opportunities", "lead_id", 0, "GHOST"), "opportunities", "lead_id", "unknown_lead"),
    "unknown_account": (set_cell("leads", "account_id", 3, "A9"), "leads", "account_id", "unknown_account"),
    "stage_before_capture": (set_cell("stage_history", "entered_at", 3, "2023-12-01T00:00:00Z"), "stage_history", "entered_at",
                             "stage_before_capture"),
    "future_timestamp": (set_cell("events", "occurred_at", 0, "2200-01-01T00:00:00Z"), "events", "occurred_at", "future_timestamp"),
    "open_vocabulary": (set_cell("accounts", "region", 0, "mars"), "accounts", "region", "unknown_value"),
    "missing_optional_column": (drop_column("leads", "job_title"), "leads", "job_title", "missing_column"),
    "missing_stage_history": (drop_table("stage_history"), "stage_history", None, "missing_table"),
    "empty_optional_table": (lambda f: f.__setitem__("spend", f["spend"].iloc[:0]), "spend", None, "empty_table"),
}


@pytest.mark.parametrize("case", WARNINGS)
def test_warnings_are_reported_and_never_block(tmp_path: Path, capsys: pytest.CaptureFixture[str], case: str) -> None:
    change, table, column, rule = WARNINGS[case]
    frames = valid_frames()
    change(frames)
    code, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    assert code == 0 and report["n_errors"] == 0
    expected = [(table, column, rule)]
    if rule == "future_timestamp":
        expected.insert(0, ("export", None, "data_end_capped"))
        assert pd.Timestamp(report["data_end"]) <= pd.Timestamp.now(tz="UTC")
    assert [(f["table"], f["column"], f["rule"]) for f in report["findings"]] == expected


def test_timestamps_after_a_given_data_end_warn(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = write_export(tmp_path / "x", valid_frames())
    code, report = validate(capsys, str(folder), "--data-end", "2024-01-20")
    assert code == 0
    late = {(f["table"], f["column"], f["n_rows"]) for f in report["findings"] if f["rule"] == "after_data_end"}
    assert late == {("stage_history", "entered_at", 1), ("opportunities", "created_at", 1)}
    assert report["data_end"] == "2024-01-20T00:00:00+00:00"
    code, report = validate(capsys, str(folder))
    assert not [f for f in report["findings"] if f["rule"] == "after_data_end"]


def _many_events(lead_ids: list[str], n: int = 24) -> pd.DataFrame:
    return pd.DataFrame({
        "lead_id": [lead_ids[i % len(lead_ids)] for i in range(n)],
        "occurred_at": [f"2024-01-{5 + i % 20:02d}T10:00:00Z" for i in range(n)],
        "event_type": ["page_view"] * n, "page_type": ["pricing"] * n, "email_step": [None] * n, "channel": ["organic"] * n,
    })


def test_integer_ids_in_leads_parquet_against_zero_padded_events_are_an_error_showing_both_sides(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    leads = pd.DataFrame({"lead_id": [123, 124, 125], "captured_at": pd.to_datetime(["2024-01-01"] * 3, utc=True),
                          "channel": ["email"] * 3})
    leads.to_parquet(folder / "leads.parquet")
    _many_events(["000123", "000124", "000125"]).to_csv(folder / "events.csv", index=False)
    code, report = validate(capsys, str(folder))
    assert code == 1
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert (finding["table"], finding["column"], finding["rule"], finding["n_rows"]) == ("events", "lead_id", "ids_do_not_match", 24)
    assert ("24 of 24 rows of events (100%) name a lead_id that is not in leads: the ids do not match, "
            "e.g. events has '000123' where leads has '123'; they differ only in leading zeros.") == finding["message"]
    assert "leading zeros" in finding["fix"]


@pytest.mark.parametrize(("theirs", "ours", "difference"), [
    ("l-0042", "L-0042", "letter case or surrounding blanks"),
    ("42", "CRM-0042", "a prefix or punctuation around the digits"),
    ("X9", "L1", None),
])
def test_an_id_mismatch_says_how_the_ids_differ_when_it_can_tell(theirs: str, ours: str, difference: str | None) -> None:
    from leadscore.features.reading.validation import ids_do_not_match

    ids = pd.Series([theirs] * 12)
    known = pd.Series(["ZZ", ours])
    finding = ids_do_not_match("stage_history", "lead_id", "leads", ids, ~ids.isin(known).to_numpy(), known)
    assert finding is not None and finding.is_error
    assert f"stage_history has {theirs!r} where leads has {(ours if difference else 'ZZ')!r}" in finding.message
    assert (f"they differ only in {difference}" in finding.message) if difference else "differ only" not in finding.message


def test_a_minority_of_unknown_ids_and_a_handful_of_rows_stay_warnings(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = valid_frames()
    frames["events"] = _many_events(["000123"] * 13 + ["GONE"] * 11, n=24)  # 11 of 24: strays, not a mismatch
    frames["stage_history"].loc[[4, 5], "lead_id"] = "GHOST"  # 2 of 6: too few rows to tell
    frames["leads"].loc[[0, 1, 2], "account_id"] = "A9"  # 3 of 3 leads with an account: too few rows to tell
    code, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    assert code == 0
    assert [(f["table"], f["rule"]) for f in report["findings"]] == [
        ("leads", "unknown_account"), ("events", "unknown_lead"), ("stage_history", "unknown_lead"),
    ]


def test_account_ids_that_do_not_match_are_an_error_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = valid_frames()
    n = 12
    frames["leads"] = pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)], "account_id": ["a1", "a2"] * (n // 2),
        "captured_at": ["2024-01-01T10:00:00Z"] * n, "channel": ["email"] * n,
    })
    frames = {"leads": frames["leads"], "accounts": frames["accounts"]}
    code, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    assert code == 1
    [finding] = [f for f in report["findings"] if f["severity"] == "error"]
    assert (finding["table"], finding["column"], finding["rule"]) == ("leads", "account_id", "ids_do_not_match")
    assert "leads has 'a1' where accounts has 'A1'; they differ only in letter case" in finding["message"]


def test_a_stage_before_capture_example_fits_whole_in_a_short_example(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    frames = valid_frames()
    set_cell("stage_history", "entered_at", 3, "2023-12-01T00:00:00Z")(frames)
    _, report = validate(capsys, str(write_export(tmp_path / "x", frames)))
    [finding] = [f for f in report["findings"] if f["rule"] == "stage_before_capture"]
    assert finding["examples"] == [{"row": 4, "value": "MCL at 2023-12-01 00:00, captured 2024-01-02 08:00"}]


@pytest.mark.parametrize("table, column, value, maximum", [
    ("accounts", "employees", "1.2e22", "10,000,000"),
    ("accounts", "annual_revenue_usd", "5e15", "2,000,000,000,000"),
    ("events", "email_step", "40000", "1,000"),
    ("opportunities", "amount_usd", "1e12", "100,000,000,000"),
])
def test_a_number_past_its_columns_plausible_maximum_is_a_warning_and_read_as_missing(
        table, column, value, maximum, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from leadscore.features.reading.validation import read_export

    frames = valid_frames()
    set_cell(table, column, 0, value)(frames)
    folder = write_export(tmp_path / "x", frames)
    code, report = validate(capsys, str(folder))
    assert code == 0
    [finding] = report["findings"]
    assert (finding["severity"], finding["table"], finding["column"], finding["rule"]) == (
        "warning", table, column, "implausible_value")
    assert f"above {maximum}, which no real one reaches" in finding["message"]
    assert finding["examples"] == [{"row": 1, "value": value}]
    tables, _ = read_export(folder)
    assert pd.isna(tables.table(table)[column].iloc[0])
