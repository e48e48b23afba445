"""Coercion to contract dtypes: timestamps, booleans, numbers, ids; nothing dropped, failures reported."""

from __future__ import annotations

import pandas as pd
from hypothesis import given, settings
from hypothesis import strategies as st

from leadscore.features.reading.coerce import (
    NULL_TOKENS,
    coerce_table,
    parse_booleans,
    parse_numbers,
    parse_timestamps,
)


def text(values: list[str | None]) -> pd.Series:
    return pd.Series(values, dtype="str")


def test_mixed_offsets_and_naive_times_become_utc() -> None:
    parsed, failed, note = parse_timestamps(
        text(["2024-03-05T14:00:00+02:00", "2024-03-05T14:00:00Z", "2024-03-05 14:00:00", "2024-03-05", None])
    )
    assert str(parsed.dtype) == "datetime64[ns, UTC]"
    assert parsed.tolist()[:4] == [
        pd.Timestamp("2024-03-05T12:00:00Z"),
        pd.Timestamp("2024-03-05T14:00:00Z"),
        pd.Timestamp("2024-03-05T14:00:00Z"),
        pd.Timestamp("2024-03-05T00:00:00Z"),
    ]
    assert pd.isna(parsed.iloc[4]) and not failed.any() and note is None


def test_common_non_iso_layouts_are_read_and_day_first_is_detected() -> None:
    parsed, failed, note = parse_timestamps(text(["25/12/2024 14:00", "05/01/2024 09:30", "31.01.2024"]))
    assert not failed.any()
    assert parsed.tolist() == [
        pd.Timestamp("2024-12-25T14:00Z"), pd.Timestamp("2024-01-05T09:30Z"), pd.Timestamp("2024-01-31T00:00Z"),
    ]
    assert note is None  # 25/12 rules out month first


def test_ambiguous_slash_dates_are_read_month_first_with_a_note() -> None:
    parsed, failed, note = parse_timestamps(text(["03/05/2024 14:00", "04/06/2024 10:00"]))
    assert not failed.any() and parsed.iloc[0] == pd.Timestamp("2024-03-05T14:00Z")
    assert note is not None and "month first" in note


def test_unreadable_timestamps_become_null_and_are_reported_with_rows_and_values() -> None:
    frame = pd.DataFrame(
        {"lead_id": ["a", "b", "c", "d"], "occurred_at": ["2024-01-01", "soon", "NULL", "2024-13-45"],
         "event_type": ["page_view"] * 4}
    )
    coerced = coerce_table("events", frame)
    assert len(coerced.frame) == 4
    [finding] = coerced.findings
    assert (finding.rule, finding.table, finding.column, finding.n_rows) == ("bad_timestamp", "events", "occurred_at", 2)
    assert finding.examples == [{"row": 2, "value": "soon"}, {"row": 4, "value": "2024-13-45"}]
    assert coerced.unparsed["occurred_at"].tolist() == [False, True, False, True]


def test_booleans_accept_the_usual_words_in_any_case() -> None:
    values, failed = parse_booleans(text(["true", "FALSE", "Yes", "no", "1", "0", "T", "f", "Y", "n", None, "maybe"]))
    assert str(values.dtype) == "boolean"
    assert values.tolist()[:10] == [True, False, True, False, True, False, True, False, True, False]
    assert pd.isna(values.iloc[10]) and pd.isna(values.iloc[11])
    assert failed.tolist() == [False] * 11 + [True]


def test_numbers_are_float64_and_bad_ones_are_flagged() -> None:
    values, failed = parse_numbers(text(["12", " 3.5 ", None, "1,200", "n/a", "inf"]))
    assert values.dtype == "float64"
    assert values.iloc[:2].tolist() == [12.0, 3.5] and values.iloc[2:].isna().all()
    assert failed.tolist() == [False, False, False, True, False, True]


def test_integer_ids_from_typed_sources_keep_their_digits() -> None:
    frame = pd.DataFrame({"lead_id": pd.array([123, 9007199254740993, None], dtype="Int64"), "captured_at": ["2024-01-01"] * 3})
    coerced = coerce_table("leads", frame)
    assert coerced.frame["lead_id"].tolist()[:2] == ["123", "9007199254740993"]


def test_extra_columns_are_kept_untouched_after_the_contract_columns() -> None:
    frame = pd.DataFrame({"zz_score": [1.5, 2.0], "lead_id": ["1", "2"], "captured_at": ["2024-01-01", "2024-01-02"]})
    coerced = coerce_table("leads", frame)
    assert list(coerced.frame.columns) == ["lead_id", "captured_at", "zz_score"]
    pd.testing.assert_series_equal(coerced.frame["zz_score"], frame["zz_score"])


@settings(max_examples=40, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=8), st.integers(-5, 5).map(str)), min_size=1, max_size=30))
def test_coercion_never_drops_a_row_and_counts_every_unreadable_value(cells: list[str | None]) -> None:
    frame = pd.DataFrame({"channel": ["email"] * len(cells), "month": ["2024-01"] * len(cells), "amount_usd": cells})
    coerced = coerce_table("spend", frame)
    assert len(coerced.frame) == len(cells)
    n_reported = sum(f.n_rows for f in coerced.findings if f.rule == "bad_number")
    n_read = int(coerced.frame["amount_usd"].notna().sum())
    n_given = sum(c is not None and c.strip() != "" and c.strip().lower() not in NULL_TOKENS for c in cells)
    assert n_read + n_reported == n_given
