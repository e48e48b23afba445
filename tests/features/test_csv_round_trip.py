"""Every CSV leadscore writes reads back as it was written (RFC 4180): a cell holding a carriage return, a line
feed, a quote or the separator is quoted, and a quoted cell may hold any of them. Property tests over arbitrary
text cells, for each writer and the reader that reads its files: results (``write_frame`` / ``read_frame``, formula
quoting included), generated exports (contract tables and flat CRM files) and a model's held-out rows.

CSV has a single empty cell for an empty text and a missing value: both read back as missing.
"""

from __future__ import annotations

import csv
import tempfile
from pathlib import Path

import pandas as pd
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st

from leadscore.features.frames_io import read_frame, write_atomic, write_csv, write_frame
from leadscore.features.reading.sources import read_csv_table
from leadscore.features.synthetic.demo import write_export

# Any character UTF-8 can hold (lone surrogates cannot be written as text), CSV's own ones drawn often.
CHARACTERS = st.one_of(st.sampled_from(["\r", "\n", "\r\n", '"', ",", ";", "\t", "'", "=", " "]),
                       st.characters(exclude_categories=("Cs",)))
CELLS = st.one_of(st.none(), st.lists(CHARACTERS, max_size=12).map("".join))
NAMES = ["lead_id", "note", "job_title"]


@st.composite
def text_frames(draw, min_columns: int = 1) -> pd.DataFrame:
    n_rows = draw(st.integers(min_value=0, max_value=6))
    n_columns = draw(st.integers(min_value=min_columns, max_value=len(NAMES)))
    return pd.DataFrame({name: pd.array(draw(st.lists(CELLS, min_size=n_rows, max_size=n_rows)), dtype="str")
                         for name in NAMES[:n_columns]})


def _as_read(frame: pd.DataFrame) -> pd.DataFrame:
    """What CSV keeps of ``frame``: text, an empty text as missing."""
    return frame.apply(lambda column: column.mask(column == "")).astype("str")


def _same(back: pd.DataFrame, frame: pd.DataFrame) -> None:
    expected = _as_read(frame)
    assert list(back.columns) == list(expected.columns)
    assert len(back) == len(expected)
    for name in expected.columns:
        assert back[name].astype("str").tolist() == expected[name].tolist(), name


SETTINGS = settings(max_examples=100, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow])
LONE_CR = pd.DataFrame({"lead_id": ["L1", "L2"], "note": ["Head\rof Sales", "=cmd\r"]})


@SETTINGS
@given(text_frames())
@example(LONE_CR)
def test_a_result_csv_reads_back_as_it_was_written(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        back = read_frame(write_frame(frame, Path(folder) / "out.csv"), text=frame.columns)
    _same(back, frame)


@SETTINGS
@given(text_frames())
@example(LONE_CR)
def test_every_csv_reader_sees_the_rows_a_result_csv_holds(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_frame(frame, Path(folder) / "out.csv")
        with path.open(newline="", encoding="utf-8") as handle:
            rows = list(csv.reader(handle))
        arrow, findings = read_csv_table(path, "leads", delimiter=",")
    assert len(rows) == len(frame) + 1 and all(len(row) == frame.shape[1] for row in rows)
    assert not [f for f in findings if f.is_error]
    assert len(arrow) == len(frame)


@SETTINGS
@given(text_frames(min_columns=2))  # every contract table has two columns or more
@example(LONE_CR)
def test_a_generated_contract_export_reads_back_as_it_was_written(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        write_export({"leads": frame}, pd.DataFrame({"lead_id": pd.array([], dtype="str")}), Path(folder), "csv")
        back, findings = read_csv_table(Path(folder) / "leads.csv", "leads", delimiter=",")
    assert not [f for f in findings if f.is_error]
    _same(back, frame)


@SETTINGS
@given(text_frames())
@example(LONE_CR)
def test_a_flat_export_file_reads_back_as_it_was_written(frame: pd.DataFrame) -> None:
    with tempfile.TemporaryDirectory() as folder:
        path = write_atomic(Path(folder) / "contacts.csv", lambda tmp: write_csv(frame, tmp))
        back, findings = read_csv_table(path, "leads", delimiter=",")
    assert not [f for f in findings if f.is_error]
    _same(back, frame)


def test_a_crm_export_with_a_carriage_return_inside_a_quoted_cell_is_read(tmp_path: Path) -> None:
    from leadscore.features.reading.validation import read_export

    (tmp_path / "leads.csv").write_bytes(b'lead_id,captured_at,job_title\r\nL1,2025-01-01,"Head\rof Sales"\r\n'
                                         b'L2,2025-01-02,"CEO; ""founder"""\r\n')
    tables, findings = read_export(tmp_path)
    assert [f.message for f in findings if f.is_error] == []
    assert tables.leads["job_title"].tolist() == ["Head\rof Sales", 'CEO; "founder"']


def test_a_models_held_out_rows_read_back_as_they_were_written(tmp_path: Path) -> None:
    from leadscore.scorers.model.artifacts import _read_held_out

    held_out = pd.DataFrame({"lead_id": pd.array(["L\r1", "=2", "NA", "'3"], dtype="str"),
                             "as_of": pd.Timestamp("2025-01-01", tz="UTC"), "label": [1, 0, 0, 1]})
    write_frame(held_out, tmp_path / "held_out.csv")
    back = _read_held_out(tmp_path / "held_out.csv")
    assert back["lead_id"].tolist() == held_out["lead_id"].tolist()
    assert back["as_of"].tolist() == held_out["as_of"].tolist()
