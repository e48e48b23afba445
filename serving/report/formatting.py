"""How the page writes numbers: the Jinja filters every number on the report goes through.

One set of functions, registered as filters by :mod:`leadscore.serving.report.rendering`, so a
percentage or a count reads the same in every table, card and sentence. Each returns plain text (the
template escapes it) and writes a missing value (None, NaN, ``pd.NA``) as an en dash, so an empty cell
never reads as a zero.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

import pandas as pd

MISSING = "–"


def is_missing(value: Any) -> bool:
    """True for None, ``pd.NA`` and float NaN: the values the page shows as "–"."""
    try:
        return value is None or value is pd.NA or (isinstance(value, float) and math.isnan(value))
    except TypeError:
        return False


def fmt_int(value: Any) -> str:
    """A whole number with thousands separators (``1,234``)."""
    # Adding 0.0 turns a negative zero (rounded rule points) into 0, so the page never shows "-0".
    return MISSING if is_missing(value) else f"{round(float(value)) + 0.0:,.0f}"


def fmt_count(value: Any) -> str:
    """A count that may be an expected (fractional) value where ties were split: one decimal only then."""
    if is_missing(value):
        return MISSING
    value = float(value)
    return f"{value:,.0f}" if abs(value - round(value)) < 1e-9 else f"{value:,.1f}"


def fmt_pct(value: Any, digits: int = 1) -> str:
    """A percentage already on the 0–100 scale (``12.3%``)."""
    return MISSING if is_missing(value) else f"{float(value):.{digits}f}%"


def fmt_change(value: Any) -> str:
    """A change in percent with its sign, using a true minus sign (``+12%``, ``−4%``)."""
    if is_missing(value):
        return MISSING
    return f"{round(float(value)):+d}%".replace("-", "−")


def fmt_roi(value: Any) -> str:
    """A return on spend in percent, thousands separated, with a true minus sign."""
    return MISSING if is_missing(value) else f"{float(value):,.0f}%".replace("-", "−")


def fmt_money(value: Any) -> str:
    """US dollars without cents (``$1,234``)."""
    return MISSING if is_missing(value) else f"${float(value):,.0f}"


def fmt_days(value: Any) -> str:
    """A duration in days with one decimal."""
    return MISSING if is_missing(value) else f"{float(value):.1f}"


def fmt_prob(value: Any) -> str:
    """A probability (0–1) as a percentage with one decimal."""
    return MISSING if is_missing(value) else f"{100 * float(value):.1f}%"


def fmt_text(value: Any) -> str:
    """Any value as text; a missing one as an empty string (text cells stay blank, not dashed)."""
    return "" if is_missing(value) else str(value)


def fmt_threshold(value: Any) -> str:
    """A rule-points threshold as the condition it stands for (``≥ 70``)."""
    return MISSING if is_missing(value) else f"≥ {float(value):g}"


def fmt_stat(value: Any) -> str:
    """A statistic (AUC, PSI, a threshold) to three significant digits (``0.761``, ``0.0123``)."""
    return MISSING if is_missing(value) else f"{float(value):.3g}"


def fmt_yes_no(value: Any) -> str:
    """An outcome flag (1 reached, anything else not) as "yes" or "no"."""
    return "yes" if value == 1 else "no"


def fmt_date(value: Any) -> str:
    """A timestamp's day (``2025-07-01``)."""
    return "" if is_missing(value) else f"{value:%Y-%m-%d}"


def fmt_minute(value: Any) -> str:
    """A timestamp to the minute (``2025-07-01 09:30``), for the page's header."""
    return "" if is_missing(value) else f"{value:%Y-%m-%d %H:%M}"


def change_class(value: Any) -> str:
    """The CSS class that colours a change: ``up``, ``down``, or none for (almost) no change."""
    if is_missing(value) or abs(float(value)) < 0.5:
        return ""
    return "up" if float(value) > 0 else "down"


def verdict_class(verdict: Any) -> str:
    """The CSS class of a rule-of-thumb verdict (``below good`` -> ``v-below-good``)."""
    return "" if is_missing(verdict) else "v-" + str(verdict).replace(" ", "-")


FORMATS: dict[str, Callable[[Any], str]] = {
    "fmt_int": fmt_int,
    "fmt_count": fmt_count,
    "fmt_pct": fmt_pct,
    "fmt_change": fmt_change,
    "fmt_roi": fmt_roi,
    "fmt_money": fmt_money,
    "fmt_days": fmt_days,
    "fmt_prob": fmt_prob,
    "fmt_text": fmt_text,
    "fmt_threshold": fmt_threshold,
    "fmt_stat": fmt_stat,
    "fmt_yes_no": fmt_yes_no,
    "fmt_date": fmt_date,
    "fmt_minute": fmt_minute,
}
CLASSES: dict[str, Callable[[Any], str]] = {"change_class": change_class, "verdict_class": verdict_class}


def fmt_by_name(value: Any, name: str) -> str:
    """``value`` through the format called ``name``: lets a table's column list pick its format as data."""
    return FORMATS[name](value)
