"""The point-in-time rule: pandas join_as_of and its DuckDB form select the same rows."""

from __future__ import annotations

import duckdb
import numpy as np
import pandas as pd
import pytest

from leadscore.features.pit import join_as_of, visible_sql
from leadscore.features.timestamps import to_epoch_ns

T0 = pd.Timestamp("2024-03-01", tz="UTC")


def _random_case(seed: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    spine = pd.DataFrame({
        "lead_id": pd.Series([f"L{i}" for i in rng.integers(0, 6, 12)], dtype="str"),
        "as_of": T0 + pd.to_timedelta(rng.integers(0, 5, 12), unit="D"),
    })
    times = T0 + pd.to_timedelta(rng.integers(0, 6, 60), unit="D")
    frame = pd.DataFrame({
        "lead_id": pd.Series([f"L{i}" for i in rng.integers(0, 7, 60)], dtype="str"),
        "at": pd.Series(times).where(rng.random(60) > 0.15),
        "value": np.arange(60),
    })
    return spine, frame


def _duckdb_rows(spine: pd.DataFrame, frame: pd.DataFrame, null_visible: bool) -> set[tuple[int, int]]:
    con = duckdb.connect()
    try:
        con.register("s", pd.DataFrame({"row": range(len(spine)), "lead_id": spine["lead_id"], "as_of": to_epoch_ns(spine["as_of"])}))
        con.register("f", frame.assign(at=to_epoch_ns(frame["at"])))
        rows = con.execute(
            f"SELECT s.row, f.value FROM s JOIN f ON f.lead_id = s.lead_id AND {visible_sql('f.at', 's.as_of', null_visible)}"
        ).fetchall()
    finally:
        con.close()
    return set(rows)


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("null_visible", [False, True])
def test_duckdb_visibility_agrees_with_join_as_of(seed: int, null_visible: bool) -> None:
    spine, frame = _random_case(seed)
    pandas_rows = join_as_of(spine, frame, "at", null_visible=null_visible)
    expected = set(zip(pandas_rows["row"].tolist(), pandas_rows["value"].tolist(), strict=True))
    assert _duckdb_rows(spine, frame, null_visible) == expected
    assert expected  # the random case is not vacuous


def test_join_as_of_sees_the_row_exactly_at_as_of_but_not_after_or_undated() -> None:
    spine = pd.DataFrame({"lead_id": ["a"], "as_of": [T0]})
    frame = pd.DataFrame({"lead_id": ["a", "a", "a"], "at": [T0, T0 + pd.Timedelta("1ns"), pd.NaT], "value": [1, 2, 3]})
    frame["at"] = frame["at"].astype("datetime64[ns, UTC]")
    assert join_as_of(spine, frame, "at")["value"].tolist() == [1]
    assert sorted(join_as_of(spine, frame, "at", null_visible=True)["value"].tolist()) == [1, 3]
    assert sorted(_duckdb_rows(spine, frame, False)) == [(0, 1)]


def test_to_epoch_ns_is_unit_independent_and_keeps_missing() -> None:
    stamps = pd.Series(pd.to_datetime(["2024-01-01T00:00:00Z", None], utc=True))
    as_micro = stamps.astype("datetime64[us, UTC]")
    assert to_epoch_ns(stamps).tolist() == to_epoch_ns(as_micro).tolist() == [1_704_067_200 * 10**9, pd.NA]
