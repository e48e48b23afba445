"""The export's own columns: kind inferred from the values, identifiers and personal data never features,
usable columns typed at read, and ``leadscore validate`` saying which are used and why the others are not."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.building.own import own_feature_specs
from leadscore.features.reading.own_columns import describe_own_columns, feature_name, infer_kind
from leadscore.features.reading.validation import read_export
from leadscore.features.synthetic.flat import make_flat_export
from leadscore.features.tables import ColumnNotes

N = 80
RNG = np.random.default_rng(20240601)

COLUMNS: dict[str, tuple[list, str | None, str]] = {
    # header: (values, kind, words the reason holds)
    "TotalVisits": ([str(v) for v in RNG.poisson(3, N)], "number", ""),
    "Time on Site": ([f"{v:.1f}" for v in RNG.gamma(2, 100, N)], "number", ""),
    "Lead Source": (list(RNG.choice(["Google", "Reference", "Olark Chat"], N)), "category", ""),
    "Do Not Call": (list(RNG.choice(["Yes", "No"], N)), "yes_no", ""),
    "Newsletter": (list(RNG.choice(["1", "0"], N)), "yes_no", ""),
    "Webinar Date": ([f"2024-{1 + i % 12:02d}-{1 + i % 28:02d}" for i in range(N)], "timestamp", ""),
    "Last Activity Date": ([f"2024-03-{1 + i % 28:02d} {i % 24:02d}:{i % 60:02d}:00" for i in range(N)], "timestamp", ""),
    "Email": ([f"person{i}@acme{i % 5}.com" for i in range(N)], None, "e-mail"),
    "Work mail": ([f"p{i % 9}@acme.com" for i in range(N)], None, "e-mail"),
    "Phone": ([f"+44 20 7946 {1000 + i}" for i in range(N)], None, "phone"),
    "First Name": (list(RNG.choice(["Ann", "Bob", "Cy"], N)), None, "personal data"),
    "Street Address": (list(RNG.choice(["1 Main St", "2 High St"], N)), None, "personal data"),
    "Prospect ID": ([f"7927b2df-{i:04d}-4f4d" for i in range(N)], None, "identifier"),
    "Lead Number": ([str(660000 + i) for i in range(N)], None, "identifier"),
    "Notes": ([f"Called twice, asked about the pricing of the advanced course {i % 7}" for i in range(N)], None,
              "free text"),
    "Language": (["English"] * N, None, "one value"),
    "Fax": ([None] * N, None, "no value"),
}


@pytest.mark.parametrize("header", list(COLUMNS))
def test_each_own_column_gets_its_kind_or_the_reason_it_is_not_a_feature(header: str) -> None:
    values, kind, why = COLUMNS[header]
    got_kind, got_why, n_distinct = infer_kind(header, pd.Series(values, dtype="str"), N)
    assert got_kind == kind
    assert (why in got_why) if kind is None else got_why == ""
    assert n_distinct == pd.Series(values, dtype="str").nunique()


def test_unique_values_are_an_identifier_only_with_enough_rows_to_tell() -> None:
    few = pd.Series([str(100 + i) for i in range(10)], dtype="str")
    assert infer_kind("Score", few, 10)[0] == "number"
    many = pd.Series([str(100 + i) for i in range(60)], dtype="str")
    assert infer_kind("Score", many, 60)[0] is None


@pytest.mark.parametrize("token", ["n/a", "NULL", "NA", "#N/A"])
def test_null_words_in_a_number_or_date_column_do_not_make_it_text(token: str) -> None:
    numbers = pd.Series([str(v) for v in RNG.poisson(3, 40)] + [token] * 10, dtype="str")
    assert infer_kind("TotalVisits", numbers, 50)[0] == "number"
    dates = pd.Series([f"2024-02-{1 + i % 28:02d}" for i in range(40)] + [token] * 10, dtype="str")
    assert infer_kind("Webinar Date", dates, 50)[0] == "timestamp"


def test_a_unique_date_per_lead_is_a_timestamp_not_an_identifier() -> None:
    stamps = pd.Series([f"2024-01-01 00:{i // 60:02d}:{i % 60:02d}" for i in range(200)], dtype="str")
    assert infer_kind("Signed Up", stamps, 200) == ("timestamp", "", 200)


def test_feature_names_are_slugs_of_the_header_unique_and_account_columns_say_so() -> None:
    taken: set[str] = set()
    assert feature_name("leads", "Lead Source", taken) == "own_lead_source"
    assert feature_name("leads", "lead-source", taken) == "own_lead_source_2"
    assert feature_name("accounts", "Tier (2024)", taken) == "own_account_tier_2024"


def test_excluded_and_outcome_columns_are_never_features_whatever_their_values() -> None:
    leads = pd.DataFrame({"lead_id": ["a", "b", "c", "d"], "Source": ["x", "y", "x", "y"],
                          "Converted": ["1", "0", "1", "0"], "Rating": ["hot", "cold", "hot", "cold"]})
    notes = {"leads": ColumnNotes(excluded=frozenset({"Rating"}), outcomes=frozenset({"Converted"}))}
    described = {c.column: c for c in describe_own_columns({"leads": leads}, notes)}
    assert set(described) == {"Source", "Converted", "Rating"}  # contract columns are not own columns
    assert described["Source"].used
    assert (described["Rating"].kind, described["Rating"].why) == (None, "excluded in the mapping file (features.exclude)")
    assert (described["Converted"].kind, described["Converted"].why) == (None, "an outcome (read by stage_dates / reached)")


# --------------------------------------------------------------------------------------------------
# Through read_export: typed columns, the spec entries, validate's listing


def own_export(tmp_path: Path) -> tuple[Path, Path]:
    folder = tmp_path / "export"
    folder.mkdir()
    frame = pd.DataFrame({"lead_id": [f"L{i}" for i in range(N)],
                          "captured_at": [f"2024-01-{1 + i % 28:02d}" for i in range(N)]})
    for header, (values, _, _) in COLUMNS.items():
        frame[header] = values
    frame.to_csv(folder / "leads.csv", index=False)
    (folder / "accounts.csv").write_text("account_id,Tier,Seats\nA1,gold,10\nA2,silver,25\nA3,gold,n/a\n")
    mapping = tmp_path / "m.yaml"
    mapping.write_text("leads:\n  features: {exclude: [Notes], known_at_capture: [Lead Source]}\n")
    return folder, mapping


def test_usable_own_columns_are_typed_at_read_and_the_others_stay_text(tmp_path: Path) -> None:
    folder, mapping = own_export(tmp_path)
    tables, findings = read_export(folder, mapping)
    assert [f for f in findings if f.is_error] == []
    leads = tables.leads
    assert str(leads["TotalVisits"].dtype) == "float64" and str(leads["Time on Site"].dtype) == "float64"
    assert str(leads["Do Not Call"].dtype) == "boolean" and str(leads["Newsletter"].dtype) == "boolean"
    assert leads["Newsletter"].tolist() == [v == "1" for v in COLUMNS["Newsletter"][0]]
    assert str(leads["Webinar Date"].dtype) == "datetime64[ns, UTC]"
    assert leads["Last Activity Date"].iloc[1] == pd.Timestamp("2024-03-02T01:01:00Z")
    assert str(leads["Lead Source"].dtype) == "str"
    assert leads["Lead Number"].iloc[0] == "660000"  # not a feature: kept as the export wrote it
    assert str(tables.accounts["Seats"].dtype) == "float64" and pd.isna(tables.accounts["Seats"].iloc[2])
    notes = {c.column: c for c in tables.own_columns}
    assert notes["Notes"].why == "excluded in the mapping file (features.exclude)"
    assert tables.column_notes["leads"].known_at_capture == frozenset({"Lead Source"})


def test_only_usable_columns_become_feature_specs_and_never_identifiers_or_personal_data(tmp_path: Path) -> None:
    folder, mapping = own_export(tmp_path)
    tables, _ = read_export(folder, mapping)
    specs = own_feature_specs(tables)
    sources = {s["source"]["column"]: s for s in specs}
    assert set(sources) == {"TotalVisits", "Time on Site", "Lead Source", "Do Not Call", "Newsletter", "Webinar Date",
                            "Last Activity Date", "Tier", "Seats"}
    assert sources["Tier"]["source"]["table"] == "accounts" and sources["Tier"]["name"] == "own_account_tier"
    assert {s["source"]["kind"]: s["kind"] for s in specs} == {
        "number": "numeric", "category": "categorical", "yes_no": "flag", "timestamp": "numeric"}
    assert sources["Lead Source"]["template"] == "Lead Source: {value}"
    assert sources["TotalVisits"]["template"] == "TotalVisits: {value:,.6g}"


def test_a_mapping_naming_an_excluded_column_the_export_lacks_warns(tmp_path: Path) -> None:
    folder, mapping = own_export(tmp_path)
    mapping.write_text("leads:\n  features: {exclude: [Notes, Middle Name]}\n")
    _, findings = read_export(folder, mapping)
    [missing] = [f for f in findings if f.rule == "mapping_column_missing"]
    assert (missing.severity, missing.table, missing.column) == ("warning", "leads", "Middle Name")
    assert "leads.features.exclude" in missing.message


def test_validate_prints_the_exports_own_columns_used_or_why_not(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, mapping = own_export(tmp_path)
    assert main(["validate", str(folder), "--mapping", str(mapping)]) == 0
    out = capsys.readouterr().out
    section = out[out.index("features from your export"):]
    assert section.startswith(f"features from your export: 9 of {len(COLUMNS) + 2} columns used")
    lines = {line.split()[0]: line for line in section.splitlines()[2:]}
    assert lines["TotalVisits"].rstrip().endswith("yes")
    assert "no: e-mail addresses (personal data)" in lines["Email"]
    assert "no: excluded in the mapping file (features.exclude)" in lines["Notes"]


def test_validate_json_lists_every_own_column_with_kind_and_reason(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    folder, mapping = own_export(tmp_path)
    assert main(["validate", str(folder), "--mapping", str(mapping), "--json"]) == 0
    records = {r["column"]: r for r in json.loads(capsys.readouterr().out)["own_columns"]}
    assert set(records) == set(COLUMNS) | {"Tier", "Seats"}
    assert records["Lead Source"] == {"table": "leads", "column": "Lead Source", "kind": "category", "n_distinct": 3,
                                      "share_missing": 0.0, "used": True, "why": None, "feature": "own_lead_source"}
    for header in ("Email", "Work mail", "Phone", "First Name", "Street Address", "Prospect ID", "Lead Number", "Fax"):
        assert records[header]["used"] is False and records[header]["feature"] is None and records[header]["why"]
    assert records["Fax"]["share_missing"] == 1.0


def test_the_generated_export_without_exclusions_never_uses_email_name_or_phone(tmp_path: Path) -> None:
    flat = make_flat_export(120, seed=9, shape="converted", leaks=False)
    folder = flat.write(tmp_path / "flat")
    mapping = (folder / "mapping.yaml").read_text().replace("    exclude: [Email, First Name, Phone]\n", "    exclude: []\n")
    (folder / "mapping.yaml").write_text(mapping)
    tables, _ = read_export(folder, folder / "mapping.yaml")
    own = {c.column: c for c in tables.own_columns}
    assert "e-mail" in own["Email"].why and "phone" in own["Phone"].why and "personal" in own["First Name"].why
    assert not any(c.used for c in (own["Email"], own["Phone"], own["First Name"]))
    assert own["Lead Source"].used and own["TotalVisits"].kind == "number" and own["Do Not Email"].kind == "yes_no"


PLACEHOLDERS = ["Select", " select ", "--", "Please choose", "Select...", "N/A", "-- Select --", "please select one"]


@pytest.mark.parametrize("placeholder", PLACEHOLDERS)
def test_a_form_placeholder_in_an_own_column_reads_as_no_answer_without_a_mapping_entry(
        tmp_path: Path, placeholder: str) -> None:
    folder = tmp_path / "export"
    folder.mkdir()
    n = 60
    pd.DataFrame({
        "lead_id": [f"L{i}" for i in range(n)],
        "captured_at": [f"2024-02-{1 + i % 28:02d}" for i in range(n)],
        "Specialization": [placeholder if i % 3 == 0 else ["Finance", "Marketing"][i % 2] for i in range(n)],
        "TotalVisits": [placeholder if i % 4 == 0 else str(i % 7) for i in range(n)],
    }).to_csv(folder / "leads.csv", index=False)
    tables, findings = read_export(folder)
    assert [f for f in findings if f.is_error] == []
    own = {c.column: c for c in tables.own_columns}
    assert own["Specialization"].kind == "category" and own["Specialization"].n_distinct == 2
    assert own["Specialization"].share_missing == pytest.approx(1 / 3)
    assert own["TotalVisits"].kind == "number" and own["TotalVisits"].share_missing == pytest.approx(1 / 4)
    leads = tables.leads
    assert leads["Specialization"].isna().sum() == n // 3 and set(leads["Specialization"].dropna()) == {"Finance", "Marketing"}
    assert leads["TotalVisits"].isna().sum() == n // 4


def test_answers_that_only_look_like_placeholders_are_kept() -> None:
    values = pd.Series(["NA", "Other", "None of the above", "Selective", "Choose later", "-5"], dtype="str")
    kind, _, n_distinct = infer_kind("Answer", values, len(values))
    assert kind == "category" and n_distinct == len(values)  # "NA" is Namibia; "None of the above" an answer


def test_a_placeholder_a_request_sends_for_a_category_is_no_answer_when_features_are_built() -> None:
    from leadscore.features.building.own import typed_own_column

    sent = pd.Series(["Select", "Finance", "--"], dtype="str")  # the service's own columns arrive as text
    assert typed_own_column(sent, "category", 3, None).isna().tolist() == [True, False, True]
