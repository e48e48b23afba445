"""The point-in-time rule: pandas join_as_of and its compiled form in the kernel select the same rows."""

from __future__ import annotations

import numba
import numpy as np
import pandas as pd
import pytest

from leadscore.features.pit import NULL_TIME, join_as_of, visible, visible_end, visible_or_dateless
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


@numba.njit
def _pairs(spine_lead, spine_as_of, lead, at, null_visible):
    out = []
    for row in range(len(spine_lead)):
        for j in range(len(lead)):
            seen = visible_or_dateless(at[j], spine_as_of[row]) if null_visible else visible(at[j], spine_as_of[row])
            if lead[j] == spine_lead[row] and seen:
                out.append((row, j))
    return out


def _kernel_rows(spine: pd.DataFrame, frame: pd.DataFrame, null_visible: bool) -> set[tuple[int, int]]:
    codes = {lead: i for i, lead in enumerate(sorted(set(spine["lead_id"]) | set(frame["lead_id"])))}
    pairs = _pairs(np.array([codes[x] for x in spine["lead_id"]]), to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64"),
                   np.array([codes[x] for x in frame["lead_id"]]),
                   to_epoch_ns(frame["at"]).to_numpy(dtype="int64", na_value=NULL_TIME), null_visible)
    return {(row, int(frame["value"].iloc[j])) for row, j in pairs}


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("null_visible", [False, True])
def test_the_kernels_visibility_agrees_with_join_as_of(seed: int, null_visible: bool) -> None:
    spine, frame = _random_case(seed)
    pandas_rows = join_as_of(spine, frame, "at", null_visible=null_visible)
    expected = set(zip(pandas_rows["row"].tolist(), pandas_rows["value"].tolist(), strict=True))
    assert _kernel_rows(spine, frame, null_visible) == expected
    assert expected  # the random case is not vacuous


def test_join_as_of_sees_the_row_exactly_at_as_of_but_not_after_or_undated() -> None:
    spine = pd.DataFrame({"lead_id": ["a"], "as_of": [T0]})
    frame = pd.DataFrame({"lead_id": ["a", "a", "a"], "at": [T0, T0 + pd.Timedelta("1ns"), pd.NaT], "value": [1, 2, 3]})
    frame["at"] = frame["at"].astype("datetime64[ns, UTC]")
    assert join_as_of(spine, frame, "at")["value"].tolist() == [1]
    assert sorted(join_as_of(spine, frame, "at", null_visible=True)["value"].tolist()) == [1, 3]
    assert sorted(_kernel_rows(spine, frame, False)) == [(0, 1)]


@pytest.mark.parametrize("seed", range(20))
def test_the_visible_prefix_of_sorted_times_is_what_visible_admits(seed: int) -> None:
    rng = np.random.default_rng(seed)
    times = np.sort(rng.integers(0, 30, rng.integers(0, 12)))
    for as_of in range(-2, 33):
        end = visible_end(times, 0, len(times), as_of)
        assert all(visible(t, as_of) for t in times[:end]) and not any(visible(t, as_of) for t in times[end:])


def test_to_epoch_ns_is_unit_independent_and_keeps_missing() -> None:
    stamps = pd.Series(pd.to_datetime(["2024-01-01T00:00:00Z", None], utc=True))
    as_micro = stamps.astype("datetime64[us, UTC]")
    assert to_epoch_ns(stamps).tolist() == to_epoch_ns(as_micro).tolist() == [1_704_067_200 * 10**9, pd.NA]
