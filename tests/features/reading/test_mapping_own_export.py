"""The mapping keys of a flat CRM export: the spec's example verbatim, strict key paths, constants, own value maps,
date order.

Keys and semantics from ``bring-your-own-data.md``: ``date_order``, ``constants``, ``values`` keyed by the export's
own headers, ``features`` (leads / accounts), ``stage_dates`` and ``reached`` (stage_history only).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.features.reading.mapping import load_mapping
from leadscore.features.reading.validation import read_export

# Copied verbatim from bring-your-own-data.md, "Mapping file additions (accepted exactly as written here)".
SPEC_EXAMPLE = """\
data_end: "2024-06-30T00:00:00Z"    # when the export was taken (already accepted today)
date_order: day_first               # how to read ambiguous dates like 03/04/2025: day_first | month_first

leads:
  file: contacts.csv
  columns: {Record ID: lead_id, Create Date: captured_at, Original Source: channel}
  features:                      # the export's own columns as model features
    exclude: [Email, First Name]  # never read as features
    known_at_capture: [Industry]  # the user vouches: set when the lead was created
  constants: {email_consent: true}   # a contract column the export lacks, one value for every row
  values:
    Lead Source: {Select: ~}     # value maps work on the export's own columns too (~ = missing)

stage_history:
  file: contacts.csv             # any table's file may be named again as another table's source
  columns: {Record ID: lead_id}
  stage_dates:                   # one stage entry per non-empty date: STAGE -> export column
    MQL: Became a Marketing Qualified Lead Date
    SQO: Became an Opportunity Date
    WON: Became a Customer Date
  reached:                       # a stage known to be reached, at an unknown time after capture
    WON: {column: Converted, values: ["1", "yes"]}

# or, for deals in their own file with no stage column:
# stage_history:
#   file: closed_deals.csv
#   columns: {lead ref: lead_id, won date: entered_at}
#   constants: {stage: WON}
"""

# A contacts export the example fits. Slashed dates are day first: 03/04/2024 is 3 April.
CONTACTS = (
    "Record ID,Create Date,Original Source,Email,First Name,Industry,Lead Source,"
    "Became a Marketing Qualified Lead Date,Became an Opportunity Date,Became a Customer Date,Converted\n"
    "101,2024-01-05 09:00:00,LinkedIn,ann@acme.com,Ann,Software,Select,10/01/2024,20/01/2024,03/02/2024,1\n"
    "102,2024-01-06 10:00:00,email,bob@beta.io,Bob,Retail,Google,03/04/2024,,,yes\n"
    "103,2024-01-07 11:00:00,organic,cy@gamma.de,Cy,Software,SELECT,,,,0\n"
    "104,2024-01-08 12:00:00,LinkedIn,di@delta.fr,Di,Retail,Reference,,,,no\n"
)


def write_export(tmp_path: Path, files: dict[str, str], mapping: str) -> tuple[Path, Path]:
    folder = tmp_path / "export"
    folder.mkdir()
    for name, text in files.items():
        (folder / name).write_text(text)
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(mapping)
    return folder, mapping_path


def rules_of(findings: list) -> set[tuple[str, str, str | None, str]]:
    return {(f.severity, f.table, f.column, f.rule) for f in findings}


# --------------------------------------------------------------------------------------------------
# The spec's example


def test_every_key_of_the_spec_example_is_accepted_verbatim(tmp_path: Path) -> None:
    mapping_path = tmp_path / "mapping.yaml"
    mapping_path.write_text(SPEC_EXAMPLE)
    mapping = load_mapping(mapping_path)
    assert mapping.data_end == "2024-06-30T00:00:00Z" and mapping.date_order == "day_first"
    leads = mapping.table("leads")
    assert leads.file == "contacts.csv"
    assert leads.columns == {"Record ID": "lead_id", "Create Date": "captured_at", "Original Source": "channel"}
    assert leads.features is not None
    assert leads.features.exclude == ["Email", "First Name"] and leads.features.known_at_capture == ["Industry"]
    assert leads.constants == {"email_consent": "true"}
    assert mapping.value_maps("leads") == {"Lead Source": {"Select": None}}
    history = mapping.table("stage_history")
    assert history.file == "contacts.csv" and history.columns == {"Record ID": "lead_id"}
    assert history.stage_dates == {"MQL": "Became a Marketing Qualified Lead Date", "SQO": "Became an Opportunity Date",
                                   "WON": "Became a Customer Date"}
    assert history.reached["WON"].column == "Converted" and history.reached["WON"].values == ["1", "yes"]


def test_the_spec_example_reads_a_contacts_export_into_leads_and_stage_entries(tmp_path: Path) -> None:
    folder, mapping = write_export(tmp_path, {"contacts.csv": CONTACTS}, SPEC_EXAMPLE)
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.present >= {"leads", "stage_history"}
    leads = tables.leads
    assert leads["lead_id"].tolist() == ["101", "102", "103", "104"]
    assert leads["channel"].tolist() == ["linkedin", "email", "organic", "linkedin"]
    assert leads["email_consent"].tolist() == [True] * 4
    assert leads["Lead Source"].isna().tolist() == [True, False, True, False]  # "Select" in any case is no value
    entries = tables.stage_history.sort_values(["lead_id", "stage"]).reset_index(drop=True)
    got = [(r.lead_id, r.stage, None if pd.isna(r.entered_at) else r.entered_at.strftime("%Y-%m-%d"))
           for r in entries.itertuples()]
    assert got == [("101", "MQL", "2024-01-10"), ("101", "SQO", "2024-01-20"), ("101", "WON", "2024-02-03"),
                   ("102", "MQL", "2024-04-03"), ("102", "WON", None)]
    assert tables.data_end == pd.Timestamp("2024-06-30T00:00:00Z")
    own = {c.column: c for c in tables.own_columns}
    assert not own["Email"].used and "excluded" in own["Email"].why
    assert not own["First Name"].used and "excluded" in own["First Name"].why
    assert own["Industry"].kind == "category" and own["Lead Source"].kind == "category"
    assert tables.column_notes["leads"].known_at_capture == frozenset({"Industry"})
    for outcome in ("Became a Marketing Qualified Lead Date", "Became an Opportunity Date", "Became a Customer Date",
                    "Converted"):
        assert not own[outcome].used and own[outcome].why == "an outcome (read by stage_dates / reached)"


# --------------------------------------------------------------------------------------------------
# Unknown and misplaced keys


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("date_ordr: day_first\n", "date_ordr: unknown key"),
        ("date_order: year_first\n", "date_order: Input should be 'day_first' or 'month_first'"),
        ("leads:\n  features:\n    exclud: [Email]\n", "leads.features.exclud: unknown key"),
        ("leads:\n  constant: {channel: email}\n", "leads.constant: unknown key"),
        ("stage_history:\n  reached:\n    WON: {colum: Converted, values: ['1']}\n",
         "stage_history.reached.WON.colum: unknown key"),
        ("stage_history:\n  reached:\n    WON: {column: Converted}\n", "stage_history.reached.WON.values: Field required"),
        ("stage_history:\n  reached:\n    WON: {column: Converted, values: []}\n", "stage_history.reached.WON.values"),
        ("stage_history:\n  stage_date: {WON: Won On}\n", "stage_history.stage_date: unknown key"),
        ("events:\n  features: {exclude: [x]}\n", "events.features: the export's own columns are features only under "
                                                  "leads and accounts"),
        ("stage_history:\n  features: {exclude: [x]}\n", "stage_history.features:"),
        ("leads:\n  stage_dates: {WON: Won On}\n", "leads.stage_dates: wide outcome columns become stage entries only "
                                                   "under stage_history"),
        ("accounts:\n  reached:\n    WON: {column: Converted, values: ['1']}\n", "accounts.reached: wide outcome columns"),
        ("leads:\n  reached:\n    DONE: {column: Converted, values: ['1']}\n", "leads.reached.DONE: 'DONE' is not a stage"),
        ("stage_history:\n  stage_dates: {QUALIFIED: Q Date}\n", "stage_history.stage_dates.QUALIFIED: 'QUALIFIED' is not "
                                                                 "a stage"),
        ("stage_history:\n  reached:\n    Won: {column: Converted, values: ['1']}\n",
         "stage_history.reached.Won: 'Won' is not a stage"),
        ("stage_history:\n  columns: {Stage: stage}\n  stage_dates: {WON: Won On}\n",
         "stage_history: give stage entries either as columns (stage, entered_at) or as stage_dates / reached, not both"),
        ("stage_history:\n  constants: {stage: WON}\n  reached:\n    WON: {column: C, values: ['1']}\n",
         "stage_history: give stage entries either as columns"),
        ("leads:\n  constants: {colour: blue}\n", "leads.constants.colour: 'colour' is not a leads contract column"),
        ("leads:\n  columns: {Source: channel}\n  constants: {channel: email}\n",
         "leads.constants.channel: channel is already mapped from an export column under leads.columns"),
        ("leads:\n  constants: {channel: myspace}\n", "leads.constants.channel: 'myspace' is not an allowed channel"),
        ("stage_history:\n  constants: {stage: Closed}\n", "stage_history.constants.stage: 'Closed' is not an allowed stage"),
    ],
)
def test_unknown_and_misplaced_keys_are_errors_naming_the_key_path(tmp_path: Path, text: str, says: str) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(text)
    with pytest.raises(LeadscoreError, match="mapping file") as caught:
        load_mapping(mapping)
    assert says in str(caught.value)


def test_features_are_accepted_under_accounts_and_constants_under_any_table(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(
        "accounts:\n  features: {exclude: [CEO Name], known_at_capture: [Tier]}\n  constants: {region: europe}\n"
        "events:\n  constants: {channel: email}\n"
        "stage_history:\n  file: deals.csv\n  columns: {lead ref: lead_id, won date: entered_at}\n  constants: {stage: WON}\n"
    )
    loaded = load_mapping(mapping)
    assert loaded.table("accounts").features is not None
    assert loaded.table("accounts").features.known_at_capture == ["Tier"]
    assert loaded.table("events").constants == {"channel": "email"}
    assert loaded.table("stage_history").constants == {"stage": "WON"}


# --------------------------------------------------------------------------------------------------
# Constants


def test_constants_fill_a_contract_column_the_export_lacks_with_one_typed_value(tmp_path: Path) -> None:
    folder, mapping = write_export(
        tmp_path,
        {"leads.csv": "lead_id,captured_at\nL1,2024-01-01\nL2,2024-01-02\nL3,2024-01-03\n"},
        "leads:\n  constants: {email_consent: 'yes', channel: LinkedIn, campaign: spring-24}\n",
    )
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["email_consent"].tolist() == [True, True, True]
    assert str(tables.leads["email_consent"].dtype) == "boolean"
    assert tables.leads["channel"].tolist() == ["linkedin"] * 3  # the contract's spelling
    assert tables.leads["campaign"].tolist() == ["spring-24"] * 3
    missing = [f for f in findings if f.rule == "missing_column"]
    assert all("email_consent" not in f.message and "channel" not in f.message for f in missing)


def test_the_optional_columns_a_flat_export_lacks_are_one_warning_per_table(tmp_path: Path) -> None:
    folder, mapping = write_export(tmp_path, {"leads.csv": "lead_id,captured_at,job_title\nL1,2024-01-01,CFO\n"},
                                   "leads:\n  constants: {channel: email}\n")
    _, findings = read_export(folder, mapping)
    [missing] = [f for f in findings if f.rule == "missing_column"]
    assert (missing.severity, missing.table, missing.column) == ("warning", "leads", None)
    assert "account_id, campaign, country, email_domain, email_consent columns" in missing.message
    assert "constants:" in missing.fix
    (folder / "leads.csv").write_text("lead_id,captured_at,job_title,account_id,campaign,country,email_domain\n"
                                      "L1,2024-01-01,CFO,A1,c,US,acme.com\n")
    _, findings = read_export(folder, mapping)
    [missing] = [f for f in findings if f.rule == "missing_column"]
    assert (missing.table, missing.column) == ("leads", "email_consent")  # a single one is named


def test_a_constant_for_a_column_the_export_has_by_name_is_an_error_and_never_drops_it_silently(tmp_path: Path) -> None:
    folder, mapping = write_export(
        tmp_path, {"leads.csv": "lead_id,captured_at,Channel\nL1,2024-01-01,email\nL2,2024-01-02,organic\n"},
        "leads:\n  constants: {channel: linkedin}\n",
    )
    tables, findings = read_export(folder, mapping)
    [duplicate] = [f for f in findings if f.rule == "duplicate_column"]
    assert (duplicate.severity, duplicate.table, duplicate.column) == ("error", "leads", "channel")
    assert "'Channel'" in duplicate.message and "`leads: columns: {Channel: ~}`" in duplicate.fix
    assert tables.leads["channel"].tolist() == ["linkedin", "linkedin"]
    assert tables.leads["Channel (unmapped)"].tolist() == ["email", "organic"]


def test_a_stage_constant_turns_a_deals_file_without_a_stage_column_into_won_entries(tmp_path: Path) -> None:
    folder, mapping = write_export(
        tmp_path,
        {"leads.csv": "mql_id,first_contact_date\nm1,2024-01-01\nm2,2024-01-02\nm3,2024-01-03\n",
         "closed_deals.csv": "lead ref,won date,segment\nm1,2024-02-01,pet\nm3,2024-03-01,car\n"},
        "leads:\n  columns: {mql_id: lead_id, first_contact_date: captured_at}\n"
        "stage_history:\n  file: closed_deals.csv\n  columns: {lead ref: lead_id, won date: entered_at}\n"
        "  constants: {stage: WON}\n",
    )
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    history = tables.stage_history
    assert history["lead_id"].tolist() == ["m1", "m3"] and history["stage"].tolist() == ["WON", "WON"]
    assert history["entered_at"].tolist() == [pd.Timestamp("2024-02-01T00:00:00Z"), pd.Timestamp("2024-03-01T00:00:00Z")]


# --------------------------------------------------------------------------------------------------
# Value maps keyed by the export's own headers


def test_own_value_maps_match_exactly_then_ignoring_case_and_blanks_and_tilde_means_missing(tmp_path: Path) -> None:
    folder, mapping = write_export(
        tmp_path,
        {"leads.csv": "lead_id,captured_at,Lead Source,City\n"
                      "L1,2024-01-01,Select,Pune\nL2,2024-01-02, select ,Select\nL3,2024-01-03,Google Ads,Mumbai\n"
                      "L4,2024-01-04,Google,\nL5,2024-01-05,Reference,Pune\n"},
        "leads:\n  values:\n    Lead Source: {Select: ~, Google Ads: Google}\n    city: {select: null}\n",
    )
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    source = tables.leads["Lead Source"]
    assert source.isna().tolist() == [True, True, False, False, False]
    assert source.dropna().tolist() == ["Google", "Google", "Reference"]
    assert tables.leads["City"].isna().tolist() == [False, True, False, True, False]  # header matched ignoring case
    assert not [f for f in findings if f.rule == "mapping_column_missing"]


def test_an_own_value_map_for_a_header_the_export_lacks_is_a_warning_naming_it(tmp_path: Path) -> None:
    folder, mapping = write_export(
        tmp_path, {"leads.csv": "lead_id,captured_at,Lead Source\nL1,2024-01-01,Google\n"},
        "leads:\n  values:\n    Lead Sauce: {Select: ~}\n",
    )
    tables, findings = read_export(folder, mapping)
    [missing] = [f for f in findings if f.rule == "mapping_column_missing"]
    assert (missing.severity, missing.table, missing.column) == ("warning", "leads", "Lead Sauce")
    assert tables.leads["Lead Source"].tolist() == ["Google"]


# --------------------------------------------------------------------------------------------------
# Date order

AMBIGUOUS_LEADS = "lead_id,captured_at\nL1,03/04/2025\nL2,05/06/2025\n"


def test_ambiguous_slashed_dates_are_an_error_without_a_date_order(tmp_path: Path) -> None:
    folder, mapping = write_export(tmp_path, {"leads.csv": AMBIGUOUS_LEADS}, "leads: {}\n")
    _, findings = read_export(folder, mapping)
    [ambiguous] = [f for f in findings if f.rule == "ambiguous_dates"]
    assert (ambiguous.severity, ambiguous.table, ambiguous.column) == ("error", "leads", "captured_at")
    assert "03/04/2025" in ambiguous.message and "date_order: day_first" in ambiguous.fix


@pytest.mark.parametrize(
    ("order", "expected"),
    [("day_first", ["2025-04-03", "2025-06-05"]), ("month_first", ["2025-03-04", "2025-05-06"])],
)
def test_date_order_reads_slashed_dates_in_the_stated_order(tmp_path: Path, order: str, expected: list[str]) -> None:
    folder, mapping = write_export(tmp_path, {"leads.csv": AMBIGUOUS_LEADS}, f"date_order: {order}\nleads: {{}}\n")
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["captured_at"].dt.strftime("%Y-%m-%d").tolist() == expected


def test_dates_that_rule_out_one_order_need_no_date_order(tmp_path: Path) -> None:
    folder, mapping = write_export(tmp_path, {"leads.csv": "lead_id,captured_at\nL1,03/04/2025\nL2,25/06/2025\n"},
                                   "leads: {}\n")
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["captured_at"].dt.strftime("%Y-%m-%d").tolist() == ["2025-04-03", "2025-06-25"]


def test_a_stated_date_order_wins_over_what_the_column_would_suggest(tmp_path: Path) -> None:
    # 25/06 cannot be month first: with month_first stated it is unreadable, never silently read day first.
    folder, mapping = write_export(tmp_path, {"leads.csv": "lead_id,captured_at\nL1,03/04/2025\nL2,25/06/2025\n"},
                                   "date_order: month_first\nleads: {}\n")
    tables, findings = read_export(folder, mapping)
    assert ("error", "leads", "captured_at", "bad_timestamp") in rules_of(findings)
    assert tables.leads["captured_at"].iloc[0] == pd.Timestamp("2025-03-04T00:00:00Z")
    assert pd.isna(tables.leads["captured_at"].iloc[1])


def test_ambiguous_stage_dates_need_a_date_order_too(tmp_path: Path) -> None:
    contacts = "Record ID,Create Date,Won On\n1,2025-01-01,03/04/2025\n2,2025-01-02,05/06/2025\n"
    history = "stage_history:\n  file: contacts.csv\n  columns: {Record ID: lead_id}\n  stage_dates: {WON: Won On}\n"
    leads = "leads:\n  file: contacts.csv\n  columns: {Record ID: lead_id, Create Date: captured_at}\n"
    folder, mapping = write_export(tmp_path, {"contacts.csv": contacts}, leads + history)
    _, findings = read_export(folder, mapping)
    assert ("error", "stage_history", "entered_at", "ambiguous_dates") in rules_of(findings)
    mapping.write_text("date_order: day_first\n" + leads + history)
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.stage_history["entered_at"].dt.strftime("%Y-%m-%d").tolist() == ["2025-04-03", "2025-06-05"]


def test_ambiguous_dates_in_an_own_column_are_an_error_and_date_order_reads_them(tmp_path: Path) -> None:
    leads = "lead_id,captured_at,Last Visit\nL1,2025-01-01,03/04/2025\nL2,2025-01-02,05/06/2025\nL3,2025-01-03,\n"
    folder, mapping = write_export(tmp_path, {"leads.csv": leads}, "leads: {}\n")
    _, findings = read_export(folder, mapping)
    assert ("error", "leads", "Last Visit", "ambiguous_dates") in rules_of(findings)
    mapping.write_text("date_order: day_first\nleads: {}\n")
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    visits = tables.leads["Last Visit"]
    assert str(visits.dtype) == "datetime64[ns, UTC]"
    assert visits.dt.strftime("%Y-%m-%d").tolist()[:2] == ["2025-04-03", "2025-06-05"] and pd.isna(visits.iloc[2])


def test_values_keyed_by_the_export_header_of_a_mapped_column_apply_to_it(tmp_path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "leads.csv").write_text("id,created,Occupation\nL1,2024-01-05,Select\nL2,2024-01-06,Student\n")
    (tmp_path / "map.yaml").write_text(
        "leads:\n  columns: {id: lead_id, created: captured_at, Occupation: job_title}\n"
        "  values:\n    Occupation: {Select: ~}\n"
    )
    tables, findings = read_export(folder, tmp_path / "map.yaml")
    assert tables.leads["job_title"].isna().tolist() == [True, False]
    assert not [f for f in findings if f.rule == "mapping_column_missing"]
