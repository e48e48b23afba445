"""Tables helpers: hand-made frames carry contract dtypes; absent tables and columns appear empty."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.contract import PANDAS_DTYPES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import contract_frame, make_tables


def test_contract_frame_types_rows_and_columns_alike_and_fills_unmentioned_columns() -> None:
    from_rows = contract_frame("leads", [{"lead_id": "007", "captured_at": "2025-01-01T02:00:00+02:00"}])
    from_columns = contract_frame("leads", {"lead_id": ["007"], "captured_at": ["2025-01-01T02:00:00+02:00"]})
    pd.testing.assert_frame_equal(from_rows, from_columns)
    assert list(from_rows.columns) == list(TABLES["leads"].column_names)
    assert from_rows.loc[0, "lead_id"] == "007"
    assert from_rows.loc[0, "captured_at"] == pd.Timestamp("2025-01-01T00:00:00Z")
    assert from_rows["account_id"].isna().all()
    assert str(from_rows["captured_at"].dtype) == PANDAS_DTYPES["timestamp"]


def test_make_tables_gives_every_table_and_infers_the_data_end() -> None:
    leads = contract_frame("leads", [{"lead_id": "a", "captured_at": "2025-01-01T00:00:00Z"}])
    events = contract_frame("events", [{"lead_id": "a", "occurred_at": "2025-02-01T00:00:00Z", "event_type": "page_view"}])
    tables = make_tables({"leads": leads, "events": events})
    assert tables.present == frozenset({"leads", "events"})
    assert tables.accounts.empty and list(tables.accounts.columns) == list(TABLES["accounts"].column_names)
    assert tables.data_end == pd.Timestamp("2025-02-01T00:00:00Z")


def test_make_tables_never_takes_the_wall_clock_for_the_data_end() -> None:
    leads = contract_frame("leads", [{"lead_id": "a", "captured_at": None}])
    with pytest.raises(LeadscoreError, match=r"data's end is unknown; give it with --data-end \(or data_end in the mapping file\)"):
        make_tables({"leads": leads})
    assert make_tables({"leads": leads}, data_end="2025-03-01").data_end == pd.Timestamp("2025-03-01T00:00:00Z")
