"""The bad-input corpus: exports that break, or only look right, run through the command line as a user runs them.

Each case is an export (a small generated one spoiled one way, or files written as they are) and what a
user must get back. ``validate`` (text and ``--json``) exits with the README's code (1 on errors) and one
error finding whose sentence names the table, the column and, for row problems, the rows. ``score``, with
the session's small real models (``serving_world``), either refuses with exit 2 and one line on stderr
naming the same table and column, writing nothing, or exits 0 with exactly one row per requested lead, in
request order, each with its status. Never a traceback, and nothing a case marks as private (another
file's lines, a person's data in a malformed row) in any output. A new bad input belongs here.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.reading.findings import EXAMPLE_CHARS
from leadscore.features.synthetic.demo import generate_demo

N_LEADS = 150
SEED = 5
Frames = dict[str, pd.DataFrame]
Spoil = Callable[[Frames, Path], list[str]]
# The small exports test_validate_command.py reads too (described there).
SAMPLES = Path(__file__).resolve().parent / "samples"
LEADS_CSV, STAGES_CSV, BANK_CSV = (
    (SAMPLES / name).read_bytes().decode() for name in ("leads.csv", "stage_history.csv", "bank-additional-full.csv"))

PRIVATE_ROW = "L9,2024-01-03,jane.doe@example.com,Chief, Doe Officer\n"


@dataclass(frozen=True)
class Case:
    """A spoiled export and what the command line must answer.

    ``spoil`` changes the generated frames in place (or empties them and writes its own files) and
    returns extra command-line arguments. ``finding`` is ``(table, column, rule)`` of the error that
    must explain the problem, None when validate must find no error; ``rows`` says whether it is about
    rows (then it counts them and shows row numbers). ``request`` is the ``--leads`` file as
    ``(lead, as_of, status)`` rows, ``lead`` a row number of the generated leads or an id; without one,
    score runs on every lead. ``private`` must appear in no output.
    """

    spoil: Spoil
    validate_exit: int
    finding: tuple[str, str | None, str] | None
    rows: bool = True
    score_exit: int = 2
    request: list[tuple[int | str, str, str]] = field(default_factory=list)
    private: str | None = None


def _files(files: dict[str, str | bytes]) -> Spoil:
    """An export of exactly these files (the generated tables are not written)."""
    def spoil(frames: Frames, folder: Path) -> list[str]:
        frames.clear()
        folder.mkdir(parents=True)
        for name, content in files.items():
            (folder / name).write_bytes(content if isinstance(content, bytes) else content.encode())
        return []
    return spoil


def _as_is(frames: Frames, folder: Path) -> list[str]:
    return []


def _ids_as_numbers_in_leads(frames: Frames, folder: Path) -> list[str]:
    # leads.parquet holds the ids as integers (L0000012 -> 12); events.csv as zero-padded text (0000012).
    leads = frames.pop("leads")
    leads["lead_id"] = leads["lead_id"].str[1:].astype("int64")
    folder.mkdir(parents=True)
    leads.to_parquet(folder / "leads.parquet")
    for name in ("events", "stage_history", "opportunities"):
        frames[name]["lead_id"] = frames[name]["lead_id"].str[1:]
    return []


def _no_readable_time(frames: Frames, folder: Path) -> list[str]:
    frames["leads"]["captured_at"] = "last spring"
    for name in ("events", "stage_history", "opportunities"):
        del frames[name]
    return []


def _header_only_leads(frames: Frames, folder: Path) -> list[str]:
    frames["leads"] = frames["leads"].iloc[:0]
    return []


def _day_first_dates(frames: Frames, folder: Path) -> list[str]:
    # Only leads captured on the 1st to 12th of a month: every date reads both ways (03/04/2025).
    leads = frames["leads"]
    leads = leads[leads["captured_at"].dt.day <= 12].copy()
    leads["captured_at"] = leads["captured_at"].dt.strftime("%d/%m/%Y %H:%M")
    frames["leads"] = leads
    for name in ("events", "stage_history", "opportunities"):
        frames[name] = frames[name][frames[name]["lead_id"].isin(leads["lead_id"])]
    return []


def _day_first_dates_with_date_order(frames: Frames, folder: Path) -> list[str]:
    _day_first_dates(frames, folder)
    mapping = folder.parent / "mapping.yaml"
    mapping.write_text("date_order: day_first\n")
    return ["--mapping", str(mapping)]


def _mapping_naming_etc_passwd(frames: Frames, folder: Path) -> list[str]:
    del frames["events"]
    mapping = folder.parent / "mapping.yaml"
    mapping.write_text("events:\n  file: " + "../" * 12 + "etc/passwd\n")
    return ["--mapping", str(mapping)]


# Rows of the generated leads (or ids) a --leads request asks for, with the status each must get.
PLACEHOLDER_REQUEST = [
    (0, "9999-12-31", "as_of unreadable"),
    (1, "1677-01-01", "as_of unreadable"),
    (2, "2200-01-01", "as_of after the data's end"),
    (3, "", "closed: disqualified"),  # disqualified before the data's end: its row, no probability
    (6, "", "ok"),
    ("no-such-lead", "", "unknown lead_id"),
    (4, "not a date", "as_of unreadable"),
    (5, "2020-01-01", "captured after as_of"),
]
SMALL_EXPORT_REQUEST = [("000123", "", "ok"), ("000124", "", "ok")]

CASES: dict[str, Case] = {
    # Data that looks right and is not.
    "lead ids as integers in leads.parquet, zero-padded text in events.csv": Case(
        _ids_as_numbers_in_leads, 1, ("events", "lead_id", "ids_do_not_match")),
    "no readable timestamp anywhere": Case(_no_readable_time, 1, ("export", None, "data_end_unknown"), rows=False),
    "header-only leads.csv beside events and stage history": Case(
        _header_only_leads, 1, ("leads", None, "empty_table"), rows=False),
    "day-first capture dates without date_order": Case(
        _day_first_dates, 1, ("leads", "captured_at", "ambiguous_dates"), rows=False),
    "day-first capture dates with date_order: day_first": Case(
        _day_first_dates_with_date_order, 0, None, score_exit=0, request=[(0, "", "ok"), (1, "", "ok")]),
    "as_of placeholders, unreadable and after the data's end in --leads": Case(
        _as_is, 0, None, score_exit=0, request=PLACEHOLDER_REQUEST),
    "a mapping naming ../../etc/passwd": Case(
        _mapping_naming_etc_passwd, 1, ("events", None, "file_outside_export"), rows=False, private="root:"),
    "a malformed row holding personal data": Case(
        _files({"leads.csv": "lead_id,captured_at,email_domain,job_title\nL1,2024-01-01,acme.com,CFO\n" + PRIVATE_ROW}),
        1, ("leads", None, "inconsistent_fields"), private="jane.doe"),
    # Files that are not an export, or not readable.
    "empty folder": Case(_files({}), 1, ("leads", None, "missing_table"), rows=False),
    "zero-byte leads": Case(_files({"leads.csv": b""}), 1, ("leads", None, "empty_file"), rows=False),
    "binary garbage leads": Case(_files({"leads.csv": bytes(range(256)) * 4}), 1, ("leads", None, "bad_encoding")),
    "garbage gzip": Case(_files({"leads.csv.gz": b"not gzip at all"}), 1, ("leads", None, "unreadable_file"), rows=False),
    "garbage parquet": Case(_files({"leads.parquet": b"PAR1garbagePAR1"}), 1, ("leads", None, "unreadable_file"), rows=False),
    "cp1252 leads": Case(_files({"leads.csv": LEADS_CSV.replace("linkedin", "Société").encode("cp1252")}), 1,
                         ("leads", None, "bad_encoding")),
    "utf-16 without bom": Case(_files({"leads.csv": LEADS_CSV.encode("utf-16-le")}), 1, ("leads", None, "bad_encoding"),
                               rows=False),
    "header-only leads.csv": Case(_files({"leads.csv": "lead_id,captured_at\n"}), 1, ("leads", None, "empty_table"),
                                  rows=False),
    "one odd column": Case(_files({"leads.csv": "x\n1\n2\n"}), 1, ("leads", "lead_id", "missing_column"), rows=False),
    "ragged rows": Case(_files({"leads.csv": LEADS_CSV + "000125;2024-01-03;email\n"}), 1, ("leads", None, "inconsistent_fields")),
    "quote never closed": Case(_files({"leads.csv": LEADS_CSV + '000125,"2024-01-03,email\n'}), 1,
                               ("leads", None, "inconsistent_fields")),
    "all capture times unreadable": Case(_files({"leads.csv": "lead_id,captured_at\n1,yesterday\n2,tomorrow\n"}), 1,
                                         ("leads", "captured_at", "bad_timestamp")),
    "an unknown file only": Case(_files({"notes.txt": "hello"}), 1, ("leads", None, "missing_table"), rows=False),
    "a workbook saved as .csv": Case(_files({"leads.csv": b"PK\x03\x04" + bytes(200)}), 1,
                                     ("leads", None, "unreadable_file"), rows=False),
    "one 3 MB field": Case(_files({"leads.csv": "x" * 3_000_000}), 1, ("leads", None, "unreadable_file"), rows=False),
    "the bank-marketing file": Case(_files({"bank-additional-full.csv": BANK_CSV}), 1, ("leads", None, "missing_table"),
                                    rows=False),
    # Fine as they are: a NUL byte inside a value, a stray stage entry of an unknown lead.
    "a NUL byte in a value": Case(_files({"leads.csv": LEADS_CSV.replace("CFO", "C\x00FO")}), 0, None, score_exit=0,
                                  request=SMALL_EXPORT_REQUEST),
    "valid, with one orphan stage entry": Case(_files({"leads.csv": LEADS_CSV, "stage_history.csv": STAGES_CSV}), 0, None,
                                               score_exit=0, request=SMALL_EXPORT_REQUEST),
}


@pytest.fixture(scope="module")
def generated() -> Frames:
    frames, _ = generate_demo(N_LEADS, SEED)
    return frames


@pytest.fixture()
def store(serving_world, monkeypatch: pytest.MonkeyPatch) -> str:
    """The commands use the session's store with its small real champion models."""
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    return serving_world.tracking_uri


def _run(capsys: pytest.CaptureFixture[str], private: str | None, *args: str) -> tuple[int, str, str]:
    code = main(list(args))  # an uncaught exception here is the traceback a user would see
    out = capsys.readouterr()
    for stream in (out.out, out.err):
        assert "Traceback" not in stream
        assert private is None or private not in stream
    return code, out.out, out.err


def _names(sentence: str, table: str, column: str | None) -> None:
    # An export-wide finding names the tables it is about in its sentence (leads.captured_at, …).
    assert (table if table != "export" else "leads") in sentence, sentence
    assert column is None or column in sentence, sentence


@pytest.mark.parametrize("name", CASES)
def test_a_bad_export_gets_its_exit_code_one_sentence_naming_what_and_one_row_per_requested_lead(
    name: str, generated: Frames, store: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    case = CASES[name]
    frames = {table: frame.copy() for table, frame in generated.items()}
    folder = tmp_path / "export"
    extra = case.spoil(frames, folder)
    folder.mkdir(exist_ok=True)
    for table, frame in frames.items():
        frame.to_csv(folder / f"{table}.csv", index=False)

    code, _, _ = _run(capsys, case.private, "validate", str(folder), *extra)
    assert code == case.validate_exit
    code, out, _ = _run(capsys, case.private, "validate", str(folder), "--json", *extra)
    assert code == case.validate_exit
    report = json.loads(out)
    assert all(f["message"] and f["fix"] for f in report["findings"])
    if case.finding is None:
        assert report["n_errors"] == 0
    else:
        table, column, rule = case.finding
        said = [f for f in report["findings"] if (f["table"], f["column"], f["rule"]) == case.finding]
        assert len(said) == 1, [(f["table"], f["column"], f["rule"]) for f in report["findings"]]
        [finding] = said
        assert finding["severity"] == "error" and finding["fix"]
        _names(finding["message"], table, column)
        if case.rows:
            n_rows = finding["n_rows"]
            assert n_rows > 0 and re.search(rf"\b({n_rows}|{n_rows:,})\b", finding["message"]), finding["message"]
            assert finding["examples"] and all(isinstance(e["row"], int) for e in finding["examples"])
        assert all(len(str(e["value"])) <= EXAMPLE_CHARS for f in report["findings"] for e in f["examples"])

    request = pd.DataFrame({
        "lead_id": [generated["leads"]["lead_id"].iloc[who] if isinstance(who, int) else who for who, _, _ in case.request],
        "as_of": [as_of for _, as_of, _ in case.request],
    })
    request.to_csv(tmp_path / "request.csv", index=False)
    out_path = tmp_path / "scores.csv"
    args = ["score", str(folder), "--out", str(out_path), *extra]
    code, _, err = _run(capsys, case.private, *(args + (["--leads", str(tmp_path / "request.csv")] if case.request else [])))
    assert code == case.score_exit
    if code == 2:
        line = err.strip().splitlines()[-1]
        assert line.startswith("leadscore score: ") and line.endswith(".")
        _names(line, *case.finding[:2])
        assert not out_path.exists()
        return
    scores = pd.read_csv(out_path, dtype={"lead_id": "str"}, keep_default_na=False)
    assert scores["lead_id"].tolist() == request["lead_id"].tolist()
    assert scores["status"].tolist() == [status for _, _, status in case.request]
