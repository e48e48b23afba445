"""`leadscore validate` as a user meets it: text and JSON reports, exit codes, no traceback for bad data."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.errors import ContractError
from leadscore.features.reading.validation import format_findings, load_tables, read_export, validate_export

ROOT = Path(__file__).resolve().parents[2]
# Small exports shared by the command tests (tests/cli/samples): a contract leads file with zero-padded ids,
# a stage history naming one unknown lead, and the first rows of the public UCI bank-marketing file verbatim
# (a real export that is not a funnel; CRLF line ends kept).
SAMPLES = Path(__file__).resolve().parent / "samples"
LEADS_CSV, STAGES_CSV, BANK_CSV = (
    (SAMPLES / name).read_bytes().decode() for name in ("leads.csv", "stage_history.csv", "bank-additional-full.csv"))


def export(tmp_path: Path, files: dict[str, str | bytes]) -> Path:
    folder = tmp_path / "export"
    folder.mkdir(exist_ok=True)
    for name, content in files.items():
        path = folder / name
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return folder


def test_text_report_shows_row_counts_findings_with_fix_and_a_summary(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV, "stage_history.csv": STAGES_CSV})
    code = main(["validate", str(folder)])
    out = capsys.readouterr().out
    assert code == 0
    assert "leads: 2 rows" in out and "stage_history: 2 rows" in out and "events: absent" in out
    assert "WARNING stage_history.lead_id  [unknown_lead]  1 row(s)" in out
    assert "row 2: 'GHOST'" in out and "fix: " in out
    assert "0 error(s), 1 warning(s): the export follows the data contract (warnings do not block)." in out
    assert out.strip().endswith("features from your export: none (leads and accounts hold only contract columns)")


def test_json_report_has_tables_findings_and_counts(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV.replace("linkedin", "fax"), "stage_history.csv": STAGES_CSV})
    code = main(["validate", str(folder), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    assert report["tables"]["leads"] == 2 and report["tables"]["events"] is None
    assert (report["n_errors"], report["n_warnings"]) == (1, 1)
    first = report["findings"][0]
    assert list(first) == ["severity", "table", "column", "rule", "n_rows", "examples", "message", "fix", "counts"]
    assert first["counts"] == {"fax": 1}
    assert (first["severity"], first["table"], first["column"], first["rule"]) == ("error", "leads", "channel", "unknown_value")
    assert first["examples"] == [{"row": 1, "value": "fax"}]


def test_a_data_path_that_does_not_exist_is_one_sentence_and_exit_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "leadscore.cli", "validate", "/no/such/export"], capture_output=True, text=True, cwd=ROOT
    )
    assert done.returncode == 2
    assert "Traceback" not in done.stderr
    assert done.stderr.strip() == (
        "leadscore validate: /no/such/export does not exist; point leadscore at a folder of CSV/Parquet files "
        "named after the tables, or a DuckDB file."
    )


# Bad exports (unreadable files, broken ones, ones that only look right) are the corpus of
# tests/cli/test_bad_input_corpus.py, run through validate and score alike.


def test_bad_non_data_arguments_exit_2_with_one_sentence(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV})
    bad_mapping = tmp_path / "m.yaml"
    bad_mapping.write_text("leads:\n  colums: {}\n")
    for args in (["--mapping", str(bad_mapping)], ["--mapping", str(tmp_path / "nope.yaml")], ["--data-end", "soonish"]):
        assert main(["validate", str(folder), *args]) == 2
        err = capsys.readouterr().err
        assert err.startswith("leadscore validate: ") and err.count("\n") == 1 and "Traceback" not in err


def test_the_bank_marketing_export_is_told_it_has_no_leads_table(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = export(tmp_path, {"bank-additional-full.csv": BANK_CSV, "bank-additional-names.txt": "\ufeffCitation Request:\n"})
    code = main(["validate", str(folder), "--json"])
    report = json.loads(capsys.readouterr().out)
    assert code == 1
    rules = [(f["severity"], f["table"], f["rule"]) for f in report["findings"]]
    assert rules == [("warning", "export", "unknown_file"), ("warning", "export", "unknown_file"),
                     ("error", "leads", "missing_table"), ("warning", "stage_history", "missing_table")]
    # Naming the file as the leads table gets as far as the columns a funnel needs, still without a traceback.
    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  file: bank-additional-full.csv\n")
    code = main(["validate", str(folder), "--mapping", str(mapping), "--json"])
    report = json.loads(capsys.readouterr().out)
    findings = report["findings"]
    errors = {(f["table"], f["column"], f["rule"]) for f in findings if f["severity"] == "error"}
    # Nothing in it is a time, so the data's end must be given too (it is never today's date).
    assert code == 1 and errors == {("leads", "lead_id", "missing_column"), ("leads", "captured_at", "missing_column"),
                                    ("export", None, "data_end_unknown")}
    assert report["data_end"] is None
    optional = [f["message"] for f in findings if f["rule"] == "missing_column" and f["severity"] == "warning"]
    assert len(optional) == 1  # one line for the optional columns a flat file lacks
    assert all(name in optional[0] for name in
               ("account_id", "channel", "job_title", "country", "email_domain", "email_consent"))
    # the bank file's own columns are candidate features, each with its inferred kind
    own = {c["column"]: c for c in report["own_columns"]}
    assert own["age"]["kind"] == "number" and own["job"]["kind"] == "category"


def test_load_tables_raises_contract_error_saying_the_first_error_in_its_own_words(tmp_path: Path) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV.replace("000124", "000123")})
    with pytest.raises(ContractError, match=r"1 error\(s\): leads\.lead_id: 1 lead_id value\(s\) appear more than once in leads \(2 rows\)") as caught:
        load_tables(folder)
    assert [f.rule for f in caught.value.findings if f.is_error] == ["duplicate_id"]
    tables = load_tables(folder, strict=False)
    assert tables.leads["lead_id"].tolist() == ["000123", "000123"]


def test_load_tables_logs_warnings_and_returns_every_table(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV, "stage_history.csv": STAGES_CSV})
    with caplog.at_level(logging.WARNING, logger="leadscore.features.reading.validation"):
        tables = load_tables(folder, data_end="2024-02-01")
    assert any("row(s) of stage_history belong to 1 lead_id(s) that are not in leads" in r.getMessage() for r in caplog.records)
    assert tables.data_end == pd.Timestamp("2024-02-01T00:00:00Z")
    assert tables.present == {"leads", "stage_history"}
    assert list(tables.events.columns)[:3] == ["lead_id", "occurred_at", "event_type"] and tables.events.empty
    assert tables.stage_history["lead_id"].tolist() == ["000123", "GHOST"]  # orphans kept; later steps count them


def test_validate_export_and_format_findings_agree_with_read_export(tmp_path: Path) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV})
    findings = validate_export(folder)
    assert findings == read_export(folder)[1]
    text = format_findings(findings)
    assert "stage_history:" in text and "[missing_table]" in text and text.endswith("(warnings do not block).")


def test_without_any_readable_timestamp_the_data_end_must_be_given(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # A sales-ops spreadsheet: ids and an outcome, capture dates nobody could read.
    folder = export(tmp_path, {"leads.csv": "lead_id,captured_at,channel\n1,last spring,email\n2,in May,email\n"})
    code = main(["validate", str(folder)])
    out = capsys.readouterr().out
    assert code == 1
    assert out.splitlines()[0] == f"Export: {folder}   (data end unknown)"
    assert "ERROR   export  [data_end_unknown]" in out
    assert "fix: Give it with --data-end TS (e.g. --data-end 2024-06-30) or `data_end:` in the mapping file." in out
    code = main(["validate", str(folder), "--data-end", "2024-06-30", "--json"])
    report = json.loads(capsys.readouterr().out)
    assert report["data_end"] == "2024-06-30T00:00:00+00:00"
    assert "data_end_unknown" not in {f["rule"] for f in report["findings"]}
    mapping = tmp_path / "m.yaml"
    mapping.write_text('data_end: "2024-06-30"\n')
    code = main(["validate", str(folder), "--mapping", str(mapping), "--json"])
    assert "data_end_unknown" not in {f["rule"] for f in json.loads(capsys.readouterr().out)["findings"]}
    code = main(["features", str(folder), "--out", str(tmp_path / "f.csv")])
    err = capsys.readouterr().err
    # The table's own error first (fixing the capture times gives a data end too), the data end named after it.
    assert code == 2 and err.startswith("leadscore features: ") and "Traceback" not in err
    assert "error(s): leads.captured_at: 2 value(s)" in err and "export data_end_unknown" in err


def test_a_mapping_naming_etc_passwd_is_refused_and_echoes_none_of_it(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder = export(tmp_path, {"leads.csv": LEADS_CSV})
    mapping = tmp_path / "m.yaml"
    mapping.write_text("events:\n  file: ../../../../../../../../etc/passwd\n")
    code = main(["validate", str(folder), "--mapping", str(mapping)])
    out = capsys.readouterr().out
    assert code == 1
    assert "ERROR   events  [file_outside_export]" in out
    assert "root:" not in out and "/bin/" not in out


def test_every_command_that_reads_an_export_takes_allow_files_outside() -> None:
    from leadscore.cli import build_parser

    parser = build_parser()
    for command in ("validate", "features", "training-set", "rules", "audit", "train", "score", "report", "promote"):
        extra = {"training-set": ["--target", "sqo", "--out", "x"], "rules": ["--out", "x"], "train": ["--target", "sqo"],
                 "score": ["--out", "x"], "promote": ["--target", "sqo"]}.get(command, [])
        args = parser.parse_args([command, "DATA", *extra, "--allow-files-outside"])
        assert args.allow_files_outside is True, command
        assert parser.parse_args([command, "DATA", *extra]).allow_files_outside is False
