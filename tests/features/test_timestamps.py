"""One policy for every written moment: the export's rules read a user's moments too."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.errors import LeadscoreError
from leadscore.features.timestamps import to_epoch_ns, to_moment, to_utc, to_utc_column

END = pd.Timestamp("2025-07-01T12:00:00Z")


def test_one_column_of_slashed_dates_is_read_in_one_order_the_one_a_value_proves() -> None:
    # 13/04 can only be day first, so 03/04 is 3 April too (pandas' mixed format made it 4 March).
    parsed = to_utc_column(pd.Series(["03/04/2025", "13/04/2025"]))
    assert parsed.dt.strftime("%Y-%m-%d").tolist() == ["2025-04-03", "2025-04-13"]


def test_slashed_dates_that_read_both_ways_are_refused_unless_the_date_order_says() -> None:
    ambiguous = pd.Series(["03/04/2025", "05/06/2025"])
    with pytest.raises(LeadscoreError, match="could be read month first .* `date_order: day_first`"):
        to_utc_column(ambiguous, "the leads file's as_of column")
    assert to_utc_column(ambiguous, date_order="day_first").dt.month.tolist() == [4, 6]
    assert to_utc_column(ambiguous, date_order="month_first").dt.month.tolist() == [3, 5]
    with pytest.raises(LeadscoreError, match="^--as-of '03/04/2025' could be read month first .* will not guess"):
        to_utc("03/04/2025", "--as-of")
    assert to_utc("03/04/2025", "--as-of", "day_first") == pd.Timestamp("2025-04-03T00:00:00Z")


def test_iso_first_offsets_honoured_naive_as_utc_and_placeholders_unreadable() -> None:
    assert to_utc("2025-04-03T14:00:00+02:00", "--as-of") == pd.Timestamp("2025-04-03T12:00:00Z")
    assert to_utc("2025-04-03 14:00", "--as-of") == pd.Timestamp("2025-04-03T14:00:00Z")
    assert to_utc(pd.Timestamp("2025-04-03 14:00"), "--as-of") == pd.Timestamp("2025-04-03T14:00:00Z")
    for placeholder in ("9999-12-31", "last tuesday", "1700000000"):
        with pytest.raises(LeadscoreError, match=f"^--as-of '{placeholder}' is not a timestamp"):
            to_utc(placeholder, "--as-of")


def test_a_relative_moment_counts_days_back_from_the_data_end() -> None:
    assert to_moment("14d", "--since", END) == END - pd.Timedelta(days=14)
    assert to_moment(" 0D ", "--since", END) == END
    assert to_moment("2025-06-01", "--since", END) == pd.Timestamp("2025-06-01T00:00:00Z")


def test_epoch_numbers_in_a_leads_file_are_unreadable_never_guessed_as_nanoseconds() -> None:
    assert to_utc_column(pd.Series([1_700_000_000, None])).isna().all()


def test_the_one_epoch_conversion_is_unit_and_zone_independent() -> None:
    micro = pd.Series(pd.to_datetime(["2025-01-01T01:00:00+01:00"], utc=True)).astype("datetime64[us, UTC]")
    nano = pd.Series(pd.to_datetime(["2025-01-01T00:00:00Z"])).astype("datetime64[ns, UTC]")
    assert to_epoch_ns(micro).tolist() == to_epoch_ns(nano).tolist() == [1_735_689_600 * 10**9]
