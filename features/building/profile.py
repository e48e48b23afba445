"""Who the lead is: firmographic fit, persona and acquisition features.

These read the lead's own row and its account's row, which carry no timestamps of their own beyond
``captured_at``: a lead's attributes are known from its capture, which the spine guarantees is at or
before ``as_of``.

Free-text categories a user may hold in the thousands (campaign, country, industry, region) are kept
only when common enough, otherwise "other", so no identifier-like column reaches the model. For lead
attributes "common" is judged among the leads captured by the row's as_of (a count of later leads
would leak the future into the category); accounts carry no timestamps, so industry and region are
judged among all accounts.

Everything here is numpy over the staged export's columns (:mod:`leadscore.features.building.staging`),
worked out per distinct value where text is concerned, the same for one lead and for a million.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np

from leadscore.features.building.columns import Category, FeatureColumns
from leadscore.features.building.persona import DEPARTMENTS, SENIORITIES, free_mail_flags
from leadscore.features.building.staging import Staged
from leadscore.features.building.text import Text, respell, respelled, text_codes
from leadscore.features.timestamps import NS_PER_DAY

LEAD_CATEGORY_MIN_SHARE = 0.01
LEAD_CATEGORY_MIN_LEADS = 30
ACCOUNT_CATEGORY_MIN_SHARE = 0.005
ACCOUNT_CATEGORY_MIN_ACCOUNTS = 5
OTHER = "other"
EMPLOYEE_BANDS = ((50, "<50"), (200, "50-199"), (1_000, "200-999"), (5_000, "1,000-4,999"))
BAND_LABELS = tuple(label for _, label in EMPLOYEE_BANDS) + ("5,000+",)
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def capture_ranks(captured_ns: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted known capture times, and each lead's count of leads captured at or before it.

    A lead is captured by ``as_of`` exactly when its rank is at most
    ``searchsorted(times, as_of, side="right")``, ties included.
    """
    times = np.sort(captured_ns[known])
    return times, sorted_searchsorted(times, captured_ns, side="right")


def sorted_searchsorted(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(a, v)`` for large unsorted ``v``: sorting the queries first walks ``a`` once.

    Binary searches in random order miss the cache on every probe; a million of them cost seconds,
    sorted they cost a fraction of that.
    """
    if len(v) < 10_000:
        return np.searchsorted(a, v, side=side)
    order = np.argsort(v, kind="stable")
    out = np.empty(len(v), dtype=np.int64)
    out[order] = np.searchsorted(a, v[order], side=side)
    return out


def index_lead_category(codes: np.ndarray, ranks: tuple[np.ndarray, np.ndarray], known: np.ndarray) -> np.ndarray:
    """The whole-table half of :func:`bound_lead_codes`: sorted (value code, capture rank) keys of all leads."""
    times, rank = ranks
    scale = np.int64(len(times) + 1)
    usable = known & (codes >= 0)
    return np.sort(codes[usable].astype(np.int64) * scale + rank[usable])


def bound_lead_codes(codes: np.ndarray, values: list[str], keys: np.ndarray, ranks: tuple[np.ndarray, np.ndarray],
                     lead_pos: np.ndarray, as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> Category:
    """Each row's lead value, or "other" when fewer than max(30, 1%) of the leads captured by as_of share it.

    Parameters
    ----------
    codes, values
        The column over all leads as codes into ``values`` (-1 missing: stays missing).
    keys, ranks
        :func:`index_lead_category` of the column, and :func:`capture_ranks` of all leads.
    lead_pos, as_of_ns
        Per spine row: the lead's position and the row's as_of.
    vocabulary
        Values kept whatever their count here: the categories a model learnt (its spec), so scoring a
        handful of leads (one lead posted to the service) keeps "linkedin" instead of calling every
        value rare. Empty when building training rows, where the count alone decides.

    Counting is by sorted (value, capture rank) keys and binary search, so each row's own as_of costs
    log(n) rather than a scan.
    """
    times, _ = ranks
    scale = np.int64(len(times) + 1)
    row_code = codes[lead_pos].astype(np.int64)
    seen = sorted_searchsorted(times, as_of_ns, side="right")  # leads captured at or before as_of
    upper = sorted_searchsorted(keys, row_code * scale + seen, side="right")
    lower = sorted_searchsorted(keys, row_code * scale, side="left")
    common = (upper - lower) >= np.maximum(LEAD_CATEGORY_MIN_LEADS, LEAD_CATEGORY_MIN_SHARE * seen)
    if vocabulary:
        in_vocabulary = np.array([v in vocabulary for v in values] + [False])
        common |= in_vocabulary[np.where(row_code >= 0, row_code, len(values))]
    other = len(values)
    return Category(np.where(row_code < 0, -1, np.where(common, row_code, other)), [*values, OTHER])


def bound_account_codes(codes: np.ndarray, values: list[str], vocabulary: frozenset[str] = frozenset()) -> Category:
    """Account values kept when at least max(5, 0.5%) of accounts share them (or ``vocabulary`` holds them), else "other"."""
    counts = np.bincount(codes[codes >= 0], minlength=len(values))
    threshold = max(ACCOUNT_CATEGORY_MIN_ACCOUNTS, ACCOUNT_CATEGORY_MIN_SHARE * len(codes))
    keep = np.array([(n >= threshold) or (v in vocabulary) for n, v in zip(counts, values, strict=True)] + [False])
    other = len(values)
    return Category(np.where(codes < 0, -1, np.where(keep[np.where(codes >= 0, codes, other)], codes, other)),
                    [*values, OTHER])


_BLANKS = re.compile(r"\s+")


def normalize_titles(titles: Text) -> tuple[np.ndarray, list[str]]:
    """Job titles as one spelling: trimmed, inner blanks collapsed, lower case; blank is missing.

    Returns codes (-1 missing) into the distinct spellings. Each distinct title is respelled once.

    Examples
    --------
    >>> import pyarrow as pa
    >>> codes, spellings = normalize_titles(pa.array(["  Head of  Sales", None, "CTO", " ", "head of sales"]))
    >>> [spellings[c] if c >= 0 else None for c in codes]
    ['head of sales', None, 'cto', None, 'head of sales']
    """
    codes, distinct = text_codes(titles)
    spelled = [_BLANKS.sub(" ", text) for text in respelled("trim_lower", distinct)]
    recoded, spellings = text_codes([s if s else None for s in spelled])
    return np.append(recoded, -1)[codes], spellings


def band_codes(employees: np.ndarray) -> np.ndarray:
    """Employee counts as :data:`BAND_LABELS` positions (the rules' 200 and 1,000 cut points among them); -1 unknown.

    Examples
    --------
    >>> [BAND_LABELS[c] for c in band_codes(np.array([0, 49, 50, 999, 1000, 5000.0]))]
    ['<50', '<50', '50-199', '200-999', '1,000-4,999', '5,000+']
    """
    uppers = np.array([upper for upper, _ in EMPLOYEE_BANDS], dtype="float64")
    return np.where(np.isnan(employees), -1, np.searchsorted(uppers, employees, side="right"))


def weekday_codes(captured_ns: np.ndarray) -> np.ndarray:
    """The UTC weekday of each moment as a :data:`WEEKDAYS` position (1970-01-01 was a Thursday)."""
    return (captured_ns // NS_PER_DAY + 3) % 7


def month_codes(captured_ns: np.ndarray) -> np.ndarray:
    """The UTC calendar month of each moment as a :data:`MONTHS` position."""
    return captured_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) % 12


def _text(columns: dict, name: str, n: int) -> Text:
    values = columns.get(name)
    return values if values is not None else [None] * n


def _numbers(columns: dict, name: str, n: int) -> np.ndarray:
    values = columns.get(name)
    return np.asarray(values, dtype=np.float64) if values is not None else np.full(n, np.nan)


def lead_category(staged: Staged, name: object, make: Callable[[], tuple[np.ndarray, list[str]]], lead_pos: np.ndarray,
                  as_of_ns: np.ndarray, vocabulary: frozenset[str]) -> Category:
    """:func:`bound_lead_codes` of a lead column, its whole-table index kept with the staged export."""
    def index() -> tuple:
        codes, values = make()
        return codes, values, index_lead_category(codes, staged_ranks(staged), staged.captured != _NULL)

    codes, values, keys = staged.kept(("lead category", name), index)
    return bound_lead_codes(codes, values, keys, staged_ranks(staged), lead_pos, as_of_ns, vocabulary)


_NULL = np.iinfo(np.int64).min


def staged_ranks(staged: Staged) -> tuple[np.ndarray, np.ndarray]:
    """:func:`capture_ranks` of the staged leads, kept."""
    return staged.kept("ranks", lambda: capture_ranks(staged.captured, staged.captured != _NULL))


def _gather(category: Category, at: np.ndarray, missing: np.ndarray | None = None) -> Category:
    codes = np.append(category.codes, -1)[at]
    if missing is not None:
        codes = np.where(missing, -1, codes)
    return Category(codes, category.values)


def profile_features(staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray, out: FeatureColumns,
                     vocabulary: dict[str, frozenset[str]] | None = None) -> None:
    """Fit, persona and acquisition features of each row's lead into ``out``.

    ``vocabulary`` holds, per categorical feature, values kept whatever their count (a model's categories).
    """
    vocabulary = vocabulary or {}
    leads, accounts = staged.leads, staged.accounts
    n_leads, n_accounts = staged.n_leads, int(accounts["n"])
    account_pos = staged.account_row[lead_pos]
    no_account = account_pos < 0
    at_account = np.where(no_account, n_accounts, account_pos)

    def account_number(name: str) -> np.ndarray:
        return np.append(_numbers(accounts, name, n_accounts), np.nan)[at_account]

    def account_text(name: str) -> Category:
        codes, values = staged.kept(("account text", name), lambda: text_codes(_text(accounts, name, n_accounts)))
        return _gather(Category(codes, values), at_account)

    def account_bounded(name: str) -> Category:
        words = vocabulary.get(name, frozenset())
        bounded = staged.kept(("account category", name, words),
                              lambda: bound_account_codes(*text_codes(_text(accounts, name, n_accounts)), words))
        return _gather(bounded, at_account)

    def lead_text(name: str) -> Category:
        codes, values = staged.kept(("lead text", name), lambda: text_codes(_text(leads, name, n_leads)))
        return Category(codes[lead_pos], values)

    def lead_bounded(name: str, make: Callable[[], tuple[np.ndarray, list[str]]]) -> Category:
        return lead_category(staged, name, make, lead_pos, as_of_ns, vocabulary.get(name, frozenset()))

    employees = account_number("employees")
    seniority, department = staged.persona
    captured = staged.captured[lead_pos]
    out.number("employees", employees)
    out.category("employees_band", Category(band_codes(employees), list(BAND_LABELS)))
    out.number("annual_revenue_usd", account_number("annual_revenue_usd"))
    out.category("industry", account_bounded("industry"))
    out.category("region", account_bounded("region"))
    out.category("country", lead_bounded("country", lambda: respell("upper", _text(leads, "country", n_leads))))
    out.number("branch_count", account_number("branch_count"))
    out.category("business_model", account_text("business_model"))
    out.number("paying_customers", account_number("paying_customers"))
    out.number("is_public", account_number("is_public"))
    out.category("company_stage", account_text("company_stage"))
    out.number("has_cdo", account_number("has_cdo"))
    out.category("digital_transformation", account_text("digital_transformation"))
    out.category("seniority", Category(seniority[lead_pos], list(SENIORITIES)))
    out.category("department", Category(department[lead_pos], list(DEPARTMENTS)))
    # The title itself, so no signal is erased by the parser ("Working Professional" is its own value).
    out.category("job_title", lead_bounded("job_title", lambda: normalize_titles(_text(leads, "job_title", n_leads))))
    out.number("is_free_mail", staged.kept("is_free_mail", lambda: free_mail_flags(_text(leads, "email_domain",
                                                                                         n_leads)))[lead_pos])
    out.number("has_email_consent", _numbers(leads, "email_consent", n_leads)[lead_pos])
    out.category("channel", lead_text("channel"))
    out.category("campaign", lead_bounded("campaign", lambda: text_codes(_text(leads, "campaign", n_leads))))
    out.category("capture_weekday", Category(weekday_codes(captured), list(WEEKDAYS)))
    out.category("capture_month", Category(month_codes(captured), list(MONTHS)))
    out.number("lead_age_days", (as_of_ns - captured) / NS_PER_DAY)

