"""Reading exports: folder of CSV / CSV.gz / Parquet or a DuckDB file, delimiters, encodings, bad files."""

from __future__ import annotations

import gzip
from pathlib import Path

import duckdb
import pandas as pd
import pytest

from leadscore.features.reading.findings import EXAMPLE_CHARS
from leadscore.features.reading.validation import read_export

LEADS = pd.DataFrame(
    {
        "lead_id": ["000123", "000124", "L-3"],
        "account_id": ["A01", None, "A01"],
        "captured_at": ["2024-01-01T10:00:00+02:00", "2024-01-02T11:00:00Z", "2024-01-03T12:30:00-05:00"],
        "channel": ["linkedin", "email", "organic"],
        "email_consent": ["true", "false", None],
    }
)
EVENTS = pd.DataFrame(
    {
        "lead_id": ["000123", "000123", "000124"],
        "occurred_at": ["2024-01-05T10:00:00Z", "2024-01-06T10:00:00Z", "2024-01-07T09:00:00Z"],
        "event_type": ["page_view", "email_open", "form_submit"],
        "page_type": ["pricing", None, "contact"],
        "email_step": [None, "1", None],
    }
)
STAGES = pd.DataFrame(
    {
        "lead_id": ["000123", "000123", "000124"],
        "stage": ["MCL", "MQL", "MCL"],
        "entered_at": ["2024-01-01T08:00:00Z", "2024-01-10T00:00:00Z", "2024-01-02T11:00:00Z"],
    }
)
FRAMES = {"leads": LEADS, "events": EVENTS, "stage_history": STAGES}


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """The frame as a typed source (Parquet, DuckDB) would hold it."""
    out = frame.copy()
    for column in out.columns:
        if column.endswith("_at"):
            out[column] = pd.to_datetime(out[column], utc=True)
        elif column == "email_step":
            out[column] = pd.to_numeric(out[column]).astype("Int64")
        elif column == "email_consent":
            out[column] = out[column].map({"true": True, "false": False}).astype("boolean")
    return out


def write_csv_folder(folder: Path, frames: dict[str, pd.DataFrame] = FRAMES, **to_csv: object) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for name, frame in frames.items():
        frame.to_csv(folder / f"{name}.csv", index=False, **to_csv)
    return folder


def test_ids_keep_leading_zeros_and_timestamps_become_utc(tmp_path: Path) -> None:
    tables, findings = read_export(write_csv_folder(tmp_path / "x"))
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["lead_id"].tolist() == ["000123", "000124", "L-3"]
    assert str(tables.leads["captured_at"].dtype) == "datetime64[ns, UTC]"
    assert tables.leads["captured_at"].iloc[0] == pd.Timestamp("2024-01-01T08:00:00Z")
    assert tables.leads["captured_at"].iloc[2] == pd.Timestamp("2024-01-03T17:30:00Z")
    assert tables.present == {"leads", "events", "stage_history"}
    assert tables.data_end == pd.Timestamp("2024-01-10T00:00:00Z")


def test_csv_parquet_and_duckdb_exports_read_to_identical_tables(tmp_path: Path) -> None:
    from_csv, _ = read_export(write_csv_folder(tmp_path / "csv"))
    parquet = tmp_path / "parquet"
    parquet.mkdir()
    for name, frame in FRAMES.items():
        typed(frame).to_parquet(parquet / f"{name}.parquet", index=False)
    from_parquet, _ = read_export(parquet)
    db = tmp_path / "export.duckdb"
    with duckdb.connect(str(db)) as con:
        for name, frame in FRAMES.items():
            con.register("frame", typed(frame))
            con.execute(f"CREATE TABLE {name} AS SELECT * FROM frame")
            con.unregister("frame")
    from_duckdb, _ = read_export(db)
    for name in ("leads", "events", "stage_history", "accounts", "spend"):
        pd.testing.assert_frame_equal(from_parquet.table(name), from_csv.table(name), check_column_type=True)
        pd.testing.assert_frame_equal(from_duckdb.table(name), from_csv.table(name), check_column_type=True)
    assert from_csv.data_end == from_parquet.data_end == from_duckdb.data_end


def test_file_and_table_names_are_case_insensitive_and_gzip_is_read(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    LEADS.to_csv(folder / "Leads.CSV", index=False)
    with gzip.open(folder / "EVENTS.csv.gz", "wt", encoding="utf-8") as handle:
        EVENTS.to_csv(handle, index=False)
    tables, findings = read_export(folder)
    assert tables.present >= {"leads", "events"}
    assert len(tables.events) == 3
    db = tmp_path / "x.db"
    with duckdb.connect(str(db)) as con:
        con.register("frame", typed(LEADS))
        con.execute('CREATE TABLE "LEADS" AS SELECT * FROM frame')
    assert read_export(db)[0].leads["lead_id"].tolist() == ["000123", "000124", "L-3"]


def test_underscore_and_dot_entries_are_ignored_and_other_files_warn(tmp_path: Path) -> None:
    folder = write_csv_folder(tmp_path / "x")
    (folder / "_truth").mkdir()
    (folder / "_truth" / "leads.csv").write_text("garbage")
    (folder / ".DS_Store").write_bytes(b"\x00\x01")
    (folder / "notes.txt").write_text("hello")
    _, findings = read_export(folder)
    assert [(f.severity, f.rule) for f in findings if f.table == "export"] == [("warning", "unknown_file")]
    assert "notes.txt" in findings[0].message


@pytest.mark.parametrize("delimiter", [";", "\t", "|"])
def test_delimiter_is_sniffed(tmp_path: Path, delimiter: str) -> None:
    tables, findings = read_export(write_csv_folder(tmp_path / "x", sep=delimiter))
    assert [f for f in findings if f.is_error] == []
    assert tables.events["event_type"].tolist() == ["page_view", "email_open", "form_submit"]


@pytest.mark.parametrize("encoding", ["utf-8-sig", "utf-16"])
def test_utf8_with_bom_and_utf16_with_bom_read_fine(tmp_path: Path, encoding: str) -> None:
    leads = LEADS.assign(job_title=["Directeur Général", "Jefa de Compras", "Ürün Müdürü"])
    tables, findings = read_export(write_csv_folder(tmp_path / "x", {"leads": leads}, encoding=encoding))
    assert [f for f in findings if f.is_error] == []
    assert tables.leads.columns[0] == "lead_id"
    assert tables.leads["job_title"].tolist() == ["Directeur Général", "Jefa de Compras", "Ürün Müdürü"]


def test_cp1252_file_is_an_error_naming_the_encoding_and_the_fix(tmp_path: Path) -> None:
    leads = LEADS.assign(job_title=["Directeur Général", "CFO", "Gérant"])
    folder = write_csv_folder(tmp_path / "x", {"leads": leads}, encoding="cp1252")
    _, findings = read_export(folder)
    bad = [f for f in findings if f.rule == "bad_encoding"]
    assert len(bad) == 1 and bad[0].is_error and bad[0].table == "leads"
    assert "cp1252" in bad[0].message.lower() and "encoding: cp1252" in bad[0].fix
    assert bad[0].n_rows == 2 and [e["row"] for e in bad[0].examples] == [1, 3]

    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  encoding: cp1252\n")
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["job_title"].iloc[0] == "Directeur Général"


def test_invalid_utf8_beyond_the_sniffed_sample_is_still_an_encoding_error(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    rows = "".join(f"L{i:06d},2024-01-01T00:00:00Z\n" for i in range(20_000))
    (folder / "leads.csv").write_bytes(b"lead_id,captured_at\n" + rows.encode() + "L9,caf\u00e9\n".encode("cp1252"))
    _, findings = read_export(folder)
    assert [(f.rule, f.n_rows, f.examples[0]["row"]) for f in findings if f.is_error] == [("bad_encoding", 1, 20_001)]


@pytest.mark.parametrize(
    ("content", "rule"),
    [(b"", "empty_file"), (b"\n\n  \n", "empty_file"), (b"lead_id,captured_at\n", "empty_table")],
)
def test_empty_files_are_errors(tmp_path: Path, content: bytes, rule: str) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_bytes(content)
    _, findings = read_export(folder)
    assert (rule, "leads") in {(f.rule, f.table) for f in findings if f.is_error}


def test_corrupt_parquet_and_non_duckdb_file_are_errors_not_tracebacks(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.parquet").write_bytes(b"PAR1 this is not parquet at all")
    _, findings = read_export(folder)
    assert ("unreadable_file", "leads") in {(f.rule, f.table) for f in findings if f.is_error}
    fake = tmp_path / "fake.duckdb"
    fake.write_text("not a database")
    _, findings = read_export(fake)
    assert [(f.severity, f.rule) for f in findings] == [("error", "unreadable_export")]


def test_a_forced_wrong_delimiter_is_reported_with_the_likely_one(tmp_path: Path) -> None:
    folder = write_csv_folder(tmp_path / "x", {"leads": LEADS}, sep=";")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  delimiter: ','\n")
    _, findings = read_export(folder, mapping)
    wrong = [f for f in findings if f.rule == "wrong_delimiter"]
    assert len(wrong) == 1 and wrong[0].table == "leads" and "';'" in wrong[0].fix


def test_rows_with_the_wrong_field_count_are_errors_with_their_row_numbers(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_text(
        "lead_id,captured_at,channel\n"
        "L1,2024-01-01,email\n"
        "L2;2024-01-02;email\n"
        "L3,2024-01-03,email\n"
        "L4,2024-01-04,email,extra\n"
        "L5,2024-01-05,linkedin\n"
    )
    tables, findings = read_export(folder)
    bad = [f for f in findings if f.rule == "inconsistent_fields"]
    assert len(bad) == 1 and bad[0].is_error and bad[0].n_rows == 2
    assert [e["row"] for e in bad[0].examples] == [2, 4]
    assert tables.leads["lead_id"].tolist() == ["L1", "L3", "L5"]
    # Rows set aside do not shift the row numbers of later findings.
    (folder / "leads.csv").write_text(
        "lead_id,captured_at,channel\nL1,2024-01-01,email\nL2;x\nL3,2024-01-03,fax\n"
    )
    _, findings = read_export(folder)
    unknown = next(f for f in findings if f.rule == "unknown_value")
    assert unknown.examples == [{"row": 3, "value": "fax"}]


def test_two_files_for_one_table_is_an_error(tmp_path: Path) -> None:
    folder = write_csv_folder(tmp_path / "x", {"leads": LEADS})
    typed(LEADS).to_parquet(folder / "leads.parquet")
    _, findings = read_export(folder)
    assert ("duplicate_table", "leads") in {(f.rule, f.table) for f in findings if f.is_error}


def test_a_folder_of_parquet_parts_is_read_as_one_table(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    (folder / "leads").mkdir(parents=True)
    typed(LEADS).iloc[:2].to_parquet(folder / "leads" / "part-0.parquet", index=False)
    typed(LEADS).iloc[2:].to_parquet(folder / "leads" / "part-1.parquet", index=False)
    tables, _ = read_export(folder)
    assert sorted(tables.leads["lead_id"]) == ["000123", "000124", "L-3"]


def test_a_single_csv_file_or_sqlite_file_as_data_is_a_clear_error(tmp_path: Path) -> None:
    single = tmp_path / "leads.csv"
    LEADS.to_csv(single, index=False)
    assert [f.rule for f in read_export(single)[1]] == ["not_an_export"]
    sqlite = tmp_path / "crm.db"
    sqlite.write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    findings = read_export(sqlite)[1]
    assert [f.rule for f in findings] == ["unreadable_export"] and "SQLite" in findings[0].message


def test_duplicate_header_is_an_error(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_text("lead_id,captured_at,lead_id\nL1,2024-01-01,L9\n")
    tables, findings = read_export(folder)
    assert ("duplicate_column", "leads", "lead_id") in {(f.rule, f.table, f.column) for f in findings if f.is_error}
    assert tables.leads["lead_id"].tolist() == ["L1"]


def test_excel_sep_hint_line_sets_the_delimiter(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_bytes(b"sep=;\r\nlead_id;captured_at\r\n007;2024-01-01\r\n")
    tables, findings = read_export(folder)
    assert [f for f in findings if f.is_error] == []
    assert tables.leads["lead_id"].tolist() == ["007"]


def test_duckdb_tables_can_be_named_in_the_mapping_and_others_warn(tmp_path: Path) -> None:
    db = tmp_path / "crm.duckdb"
    with duckdb.connect(str(db)) as con:
        con.register("frame", typed(LEADS))
        con.execute("CREATE TABLE crm_leads AS SELECT * FROM frame")
        con.execute("CREATE TABLE audit_log AS SELECT 1 AS x")
        con.execute("CREATE TABLE _scratch AS SELECT 1 AS x")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  file: CRM_LEADS\n")
    tables, findings = read_export(db, mapping)
    assert tables.leads["lead_id"].tolist() == ["000123", "000124", "L-3"]
    assert [(f.table, f.rule) for f in findings if f.table == "export"] == [("export", "unknown_table")]
    assert "audit_log" in findings[0].message


@pytest.mark.parametrize("where", ["../secret/leads.csv", "ABSOLUTE", "link/leads.csv"])
def test_a_mapping_cannot_read_files_outside_the_export_folder_unless_allowed(tmp_path: Path, where: str) -> None:
    secret = write_csv_folder(tmp_path / "secret", {"leads": LEADS})
    folder = tmp_path / "export"
    folder.mkdir()
    (folder / "link").symlink_to(secret)  # a link inside the folder that leads out of it
    named = str(secret / "leads.csv") if where == "ABSOLUTE" else where
    mapping = tmp_path / "m.yaml"
    mapping.write_text(f"leads:\n  file: {named}\n")
    tables, findings = read_export(folder, mapping)
    [refused] = [f for f in findings if f.is_error and f.rule == "file_outside_export"]
    assert refused.table == "leads" and "outside the export folder" in refused.message
    assert "--allow-files-outside" in refused.fix
    assert tables.leads.empty
    tables, findings = read_export(folder, mapping, allow_files_outside=True)
    assert not [f for f in findings if f.is_error] and tables.leads["lead_id"].tolist() == LEADS["lead_id"].tolist()


def test_files_the_mapping_names_inside_the_folder_are_read_however_they_are_written(tmp_path: Path) -> None:
    folder = write_csv_folder(tmp_path / "export" / "crm", {"contacts": LEADS}).parent
    for named in ("crm/contacts.csv", "./crm/../crm/contacts.csv", str(folder / "crm" / "contacts.csv")):
        mapping = tmp_path / "m.yaml"
        mapping.write_text(f"leads:\n  file: {named}\n")
        tables, findings = read_export(folder, mapping)
        assert not [f for f in findings if f.is_error], named
        assert len(tables.leads) == len(LEADS)


def test_malformed_rows_are_shown_by_number_and_field_count_never_by_their_text(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_text(
        "lead_id,captured_at,email_domain,job_title\n"
        "L1,2024-01-01,acme.com,CFO\n"
        "L2,2024-01-02,jane.doe@example.com,Chief, Doe Officer\n"
        "L3;2024-01-03;x.com\n"
    )
    _, findings = read_export(folder)
    [bad] = [f for f in findings if f.rule == "inconsistent_fields"]
    assert bad.examples == [{"row": 2, "value": "5 fields"}, {"row": 3, "value": "1 fields"}]
    assert "jane" not in str(bad.to_dict()) and "Doe" not in str(bad.to_dict())


def test_an_encoding_example_is_the_field_holding_the_bad_bytes_not_the_row(tmp_path: Path) -> None:
    folder = tmp_path / "x"
    folder.mkdir()
    (folder / "leads.csv").write_bytes(
        b"lead_id,captured_at,email_domain,job_title\nL1,2024-01-01,jane.doe@example.com,Jos\xe9 Garc\xeda's assistant\n"
    )
    _, findings = read_export(folder)
    [bad] = [f for f in findings if f.rule == "bad_encoding"]
    assert bad.examples == [{"row": 1, "value": "José García's assistant"}]


def test_findings_cut_long_values_short_in_examples_and_messages(tmp_path: Path) -> None:
    long_value = "x" * 300
    frame = LEADS.assign(channel=[long_value, "email", "organic"])
    _, findings = read_export(write_csv_folder(tmp_path / "x", {"leads": frame}))
    [unknown] = [f for f in findings if f.rule == "unknown_value"]
    cut = "x" * (EXAMPLE_CHARS - 1) + "…"
    assert unknown.examples == [{"row": 1, "value": cut}]
    assert long_value not in unknown.message and long_value not in unknown.fix
    assert f"'{cut}' (1)" in unknown.message
