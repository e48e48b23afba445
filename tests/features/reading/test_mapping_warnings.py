"""Warnings about what a mapping may have got wrong, and unknown values listed in full.

``matched_by_name``: a text contract column taken by its header alone holds numbers (``columns: {x: ~}`` keeps it
the export's own). ``opposite_meaning``: "Do Not Email" mapped to ``email_consent`` without swapping yes and no.
``unknown_value``: every unknown value with its count, in ``leadscore validate --json``.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leadscore.cli import main
from leadscore.features.reading.validation import read_export


def write(tmp_path: Path, leads_csv: str, mapping: str) -> tuple[Path, Path]:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "leads.csv").write_text(leads_csv)
    (tmp_path / "m.yaml").write_text(mapping)
    return folder, tmp_path / "m.yaml"


def by_rule(findings: list, rule: str) -> list:
    return [f for f in findings if f.rule == rule]


# --------------------------------------------------------------------------------------------------
# matched_by_name

BANK = "lead_id,captured_at,campaign,job\n1,2024-01-01,3,admin.\n2,2024-01-02,1,technician\n3,2024-01-03,12,admin.\n"


def test_a_text_contract_column_taken_by_its_header_but_holding_numbers_warns(tmp_path: Path) -> None:
    folder, mapping = write(tmp_path, BANK, "leads: {}\n")
    tables, findings = read_export(folder, mapping)
    [warned] = by_rule(findings, "matched_by_name")
    assert (warned.severity, warned.table, warned.column) == ("warning", "leads", "campaign")
    assert "`leads: columns: {campaign: ~}`" in warned.fix
    assert tables.leads["campaign"].tolist() == ["3", "1", "12"]  # still read, as the contract's text


def test_mapping_the_header_to_tilde_keeps_it_the_exports_own_column(tmp_path: Path) -> None:
    folder, mapping = write(tmp_path, BANK, "leads:\n  columns: {campaign: ~}\n")
    tables, findings = read_export(folder, mapping)
    assert by_rule(findings, "matched_by_name") == []
    assert tables.leads["campaign"].isna().all()  # the contract column is absent, filled with nulls
    assert tables.leads["campaign (export)"].tolist() == [3.0, 1.0, 12.0]
    own = next(c for c in tables.own_columns if c.column == "campaign (export)")
    assert own.kind == "number" and own.feature == "own_campaign_export"


def test_a_header_match_holding_text_or_an_id_holding_numbers_does_not_warn(tmp_path: Path) -> None:
    csv = "lead_id,captured_at,campaign,account_id\n1,2024-01-01,spring,17\n2,2024-01-02,summer,18\n"
    folder, mapping = write(tmp_path, csv, "leads: {}\n")
    _, findings = read_export(folder, mapping)
    assert by_rule(findings, "matched_by_name") == []


# --------------------------------------------------------------------------------------------------
# opposite_meaning

DNE = "lead_id,captured_at,{header}\nL1,2024-01-01,Yes\nL2,2024-01-02,No\n"


@pytest.mark.parametrize("header", ["Do Not Email", "Email Opt Out", "Unsubscribed", "DoNotEmail", "HasOptedOutOfEmail", "do_not_email", "Opt-Out"])
def test_a_yes_no_whose_header_says_the_opposite_warns_when_mapped_as_it_is(tmp_path: Path, header: str) -> None:
    folder, mapping = write(tmp_path, DNE.format(header=header), f"leads:\n  columns: {{{header}: email_consent}}\n")
    tables, findings = read_export(folder, mapping)
    [warned] = by_rule(findings, "opposite_meaning")
    assert (warned.severity, warned.table, warned.column) == ("warning", "leads", "email_consent")
    assert header in warned.message and 'Yes: "false", No: "true"' in warned.fix
    assert tables.leads["email_consent"].tolist() == [True, False]  # read as written: the warning is the guard


@pytest.mark.parametrize(("yes", "no"), [("Yes", "No"), ("Y", "N"), ("TRUE", "FALSE")])
def test_swapping_yes_and_no_in_the_value_map_silences_the_warning_and_reads_consent(tmp_path: Path, yes: str,
                                                                                      no: str) -> None:
    folder, mapping = write(
        tmp_path, f"lead_id,captured_at,Do Not Email\nL1,2024-01-01,{yes}\nL2,2024-01-02,{no}\n",
        f"leads:\n  columns: {{Do Not Email: email_consent}}\n  values:\n    email_consent: {{{yes}: 'false', {no}: 'true'}}\n",
    )
    tables, findings = read_export(folder, mapping)
    assert by_rule(findings, "opposite_meaning") == []
    assert tables.leads["email_consent"].tolist() == [False, True]


@pytest.mark.parametrize("header", ["Email Opt In", "Marketing Consent", "Email consent (Yes/No)", "Opt-In (Y/N)",
                                    "HasOptedIntoEmail", "Notification Consent"])
def test_a_header_that_means_the_same_does_not_warn(tmp_path: Path, header: str) -> None:
    folder, mapping = write(tmp_path, DNE.format(header=header), f"leads:\n  columns: {{{header}: email_consent}}\n")
    _, findings = read_export(folder, mapping)
    assert by_rule(findings, "opposite_meaning") == []


# --------------------------------------------------------------------------------------------------
# unknown values, every one of them


def test_validate_json_lists_every_unknown_value_with_its_count(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    rows = "".join(f"L{i},2024-01-01,source {i % 20},\n" for i in range(20 * 3 + 1))  # source 0 three + one times
    folder, mapping = write(tmp_path, "lead_id,captured_at,channel,x\n" + rows, "leads: {}\n")
    code = main(["validate", str(folder), "--mapping", str(mapping), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    [unknown] = [f for f in report["findings"] if f["rule"] == "unknown_value"]
    assert (unknown["table"], unknown["column"], unknown["severity"], unknown["n_rows"]) == ("leads", "channel", "error", 61)
    assert unknown["counts"] == {"source 0": 4, **{f"source {i}": 3 for i in range(1, 20)}}
    assert "and 15 more" in unknown["message"]  # the text summarises; the counts do not


def test_unknown_values_of_an_open_vocabulary_are_listed_in_full_too(tmp_path: Path) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "leads.csv").write_text("lead_id,captured_at,account_id\nL1,2024-01-01,A1\n")
    regions = [f"zone {i}" for i in range(8)]
    (folder / "accounts.csv").write_text("account_id,region\n" + "".join(f"A{i},{r}\n" for i, r in enumerate(regions)))
    _, findings = read_export(folder)
    [unknown] = by_rule(findings, "unknown_value")
    assert unknown.severity == "warning" and unknown.counts == dict.fromkeys(regions, 1)
