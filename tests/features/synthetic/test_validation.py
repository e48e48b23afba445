"""A generated demo export passes the contract validation cleanly and reads back to the same tables."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from leadscore.features.contract import TABLE_NAMES
from leadscore.features.reading.validation import load_tables, validate_export
from leadscore.features.synthetic.demo import generate_demo, write_export


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_demo(1_500, seed=8)


@pytest.mark.parametrize("fmt", ["csv", "parquet", "duckdb"])
def test_generated_export_validates_with_no_findings_and_reads_back_unchanged(demo, tmp_path: Path, fmt: str) -> None:
    frames, truth = demo
    written = write_export(frames, truth, tmp_path, fmt)
    path = written["leads"] if fmt == "duckdb" else tmp_path
    findings = validate_export(path)
    assert findings == [], [f.message for f in findings]
    tables = load_tables(path)
    assert tables.present == frozenset(TABLE_NAMES)
    for name in TABLE_NAMES:
        loaded = tables.table(name)
        expected = frames[name]
        if name in ("accounts", "spend", "technographics"):
            key = list(expected.columns[:2])
            loaded = loaded.sort_values(key).reset_index(drop=True)
            expected = expected.sort_values(key).reset_index(drop=True)
        pd.testing.assert_frame_equal(loaded[list(expected.columns)].reset_index(drop=True), expected.reset_index(drop=True), check_dtype=True)
