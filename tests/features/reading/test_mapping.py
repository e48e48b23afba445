"""The mapping file: column renames, value maps, case-insensitive categories, strict keys."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.features.reading.mapping import load_mapping
from leadscore.features.reading.validation import read_export

ROOT = Path(__file__).resolve().parents[3]

CRM_LEADS = (
    "Lead ID;Created Date;Lead Source;Opt In;Region Code\n"
    "000123;2024-03-05 14:00:00;LinkedIn Ads;Yes;x\n"
    "000124;2024-03-06 09:30:00; linkedin ;No;y\n"
    "000125;2024-03-07 10:00:00;Google Search;yes;z\n"
)
CRM_STAGES = (
    "Lead ID,Stage Name,Entered\n"
    "000123,Marketing Captured,2024-03-05 14:00:00\n"
    "000123,Marketing Qualified,2024-03-20 10:00:00\n"
    "000124,Marketing Captured,2024-03-06 09:30:00\n"
    "000124,sqo,2024-04-01 09:30:00\n"
)
MAPPING = """
data_end: 2024-06-30T00:00:00Z
leads:
  columns:
    Lead ID: lead_id
    Created Date: captured_at
    Lead Source: channel
    Opt In: email_consent
  values:
    channel:
      LinkedIn Ads: linkedin
stage_history:
  file: crm_stages.csv
  columns:
    lead id: lead_id        # matched ignoring case
    Stage Name: stage
    Entered: entered_at
  values:
    stage:
      Marketing Captured: MCL
      Marketing Qualified: MQL
"""


def crm_export(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "crm"
    folder.mkdir()
    (folder / "leads.csv").write_text(CRM_LEADS)
    (folder / "crm_stages.csv").write_text(CRM_STAGES)
    mapping = tmp_path / "mapping.yaml"
    mapping.write_text(MAPPING)
    return folder, mapping


def test_mapping_renames_columns_and_maps_values_to_the_contract(tmp_path: Path) -> None:
    folder, mapping = crm_export(tmp_path)
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["lead_id"].tolist() == ["000123", "000124", "000125"]
    assert tables.leads["channel"].tolist() == ["linkedin", "linkedin", "google_search"]
    assert tables.leads["email_consent"].tolist() == [True, False, True]
    assert tables.leads["Region Code"].tolist() == ["x", "y", "z"]  # unknown columns kept untouched
    assert tables.stage_history["stage"].tolist() == ["MCL", "MQL", "MCL", "SQO"]
    assert tables.leads["captured_at"].iloc[0] == pd.Timestamp("2024-03-05T14:00:00Z")
    assert tables.data_end == pd.Timestamp("2024-06-30T00:00:00Z")


def test_without_a_mapping_the_same_export_reports_what_to_map(tmp_path: Path) -> None:
    folder, _ = crm_export(tmp_path)
    _, findings = read_export(folder)
    errors = {(f.rule, f.table, f.column) for f in findings if f.is_error}
    assert ("missing_column", "leads", "lead_id") in errors
    assert ("missing_column", "leads", "captured_at") in errors
    assert {(f.rule, f.table) for f in findings} >= {("missing_table", "stage_history"), ("unknown_file", "export")}


def test_category_values_match_ignoring_case_and_blanks_without_a_mapping(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_text(
        "lead_id,captured_at,channel\nL1,2024-01-01,LinkedIn\nL2,2024-01-01,  EMAIL \nL3,2024-01-01,Google Search\n"
    )
    (folder / "stage_history.csv").write_text("lead_id,stage,entered_at\nL1,mql,2024-01-02\nL2,Sqo,2024-01-02\n")
    tables, findings = read_export(folder)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["channel"].tolist() == ["linkedin", "email", "google_search"]
    assert tables.stage_history["stage"].tolist() == ["MQL", "SQO"]


def test_a_mapped_column_missing_from_the_export_is_an_error_naming_it(tmp_path: Path) -> None:
    folder, mapping = crm_export(tmp_path)
    mapping.write_text(MAPPING.replace("Lead Source: channel", "Source Channel: channel"))
    _, findings = read_export(folder, mapping)
    missing = [f for f in findings if f.rule == "mapping_column_missing"]
    assert len(missing) == 1 and missing[0].table == "leads" and missing[0].column == "channel"
    assert "Source Channel" in missing[0].message


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("leads:\n  colums:\n    a: lead_id\n", "leads.colums: unknown key"),
        ("lead:\n  columns: {}\n", "lead: unknown key"),
        ("leads:\n  columns:\n    Lead Source: source\n", "not a leads contract column"),
        ("leads:\n  values:\n    channel:\n      LinkedIn Ads: linkedn\n", "not an allowed channel"),
        ("leads:\n  values:\n    captured_at:\n      x: y\n", "not timestamp columns"),
        ("leads:\n  columns:\n    A: lead_id\n    B: lead_id\n", "both 'A' and 'B' map to 'lead_id'"),
        ("leads:\n  delimiter: ';;'\n", "leads.delimiter"),
        ("leads:\n  encoding: klingon\n", "leads.encoding"),
        ("data_end: someday\n", "data_end"),
        ("leads: [1, 2\n", "not valid UTF-8 YAML"),
    ],
)
def test_bad_mapping_files_are_errors_naming_the_key_path(tmp_path: Path, text: str, says: str) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text(text)
    with pytest.raises(LeadscoreError, match="mapping file") as caught:
        load_mapping(mapping)
    assert says in str(caught.value)


def test_yaml_scalars_stay_text_so_yes_and_leading_zeros_match_literally(tmp_path: Path) -> None:
    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  values:\n    email_consent:\n      Oui: yes\n    account_id:\n      007: 0007\n")
    maps = load_mapping(mapping).value_maps("leads")
    assert maps == {"email_consent": {"Oui": "yes"}, "account_id": {"007": "0007"}}


def test_the_documented_example_mapping_is_valid() -> None:
    mapping = load_mapping(ROOT / "docs" / "mapping-example.yaml")
    assert mapping.table("stage_history").values["stage"]["Marketing Qualified"] == "MQL"
    assert mapping.table("leads").values["channel"]["LinkedIn Ads"] == "linkedin"


def test_the_documented_example_shows_every_key_a_mapping_file_accepts() -> None:
    """docs/mapping-example.yaml covers every key (the flat-export alternatives as comments)."""
    from leadscore.features.reading.mapping import FeatureColumns, MappingFile, ReachedRule, TableMapping

    text = (ROOT / "docs" / "mapping-example.yaml").read_text()
    keys = {*MappingFile.model_fields, *TableMapping.model_fields, *FeatureColumns.model_fields, *ReachedRule.model_fields}
    missing = [key for key in sorted(keys) if f"{key}:" not in text]
    assert missing == []
