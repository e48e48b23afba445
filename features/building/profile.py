"""Who the lead is: firmographic fit, persona and acquisition features.

These read the lead's own row and its account's row, which carry no timestamps of their own beyond
``captured_at``: a lead's attributes are known from its capture, which the spine guarantees is at or
before ``as_of``.

Free-text categories a user may hold in the thousands (campaign, country, industry, region) are kept
only when common enough, otherwise "other", so no identifier-like column reaches the model. For lead
attributes "common" is judged among the leads captured by the row's as_of (a count of later leads
would leak the future into the category); accounts carry no timestamps, so industry and region are
judged among all accounts.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.persona import is_free_mail
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns

LEAD_CATEGORY_MIN_SHARE = 0.01
LEAD_CATEGORY_MIN_LEADS = 30
ACCOUNT_CATEGORY_MIN_SHARE = 0.005
ACCOUNT_CATEGORY_MIN_ACCOUNTS = 5
OTHER = "other"
EMPLOYEE_BANDS = ((50, "<50"), (200, "50-199"), (1_000, "200-999"), (5_000, "1,000-4,999"))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def strings_from_codes(vocabulary: list[str] | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """A ``str`` Series of ``vocabulary[code]`` (null where code < 0), decoded by Arrow, not Python."""
    indices = pa.array(np.where(codes < 0, 0, codes).astype(np.int32), mask=codes < 0)
    dictionary = pa.array(list(vocabulary) or [""], type=pa.string())
    return pd.Series(pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string()), dtype="str")


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


def bound_lead_category(values: pd.Series, ranks: tuple[np.ndarray, np.ndarray], known: np.ndarray,
                        lead_pos: np.ndarray, as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """Each row's lead value, or "other" when fewer than max(30, 1%) of the leads captured by as_of share it.

    Parameters
    ----------
    values
        The column over all leads (missing allowed: stays missing).
    ranks, known
        :func:`capture_ranks` of all leads, and whether each lead's capture time is known.
    lead_pos, as_of_ns
        Per spine row: the lead's position and the row's as_of.
    vocabulary
        Values kept whatever their count here: the categories a model learnt (its spec), so scoring a
        handful of leads (one lead posted to the service) keeps "linkedin" instead of calling every
        value rare. Empty when building training rows, where the count alone decides.

    Counting is by sorted (value, capture rank) keys and binary search, so each row's own as_of costs
    log(n) rather than a scan.
    """
    return bound_indexed_category(index_lead_category(values, ranks, known), ranks, lead_pos, as_of_ns, vocabulary)


def index_lead_category(values: pd.Series, ranks: tuple[np.ndarray, np.ndarray],
                        known: np.ndarray) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """The whole-table half of :func:`bound_lead_category`: value codes, distinct values, sorted (value, rank) keys."""
    times, rank = ranks
    codes, uniques = pd.factorize(values.reset_index(drop=True))
    scale = np.int64(len(times) + 1)
    usable = known & (codes >= 0)
    keys = np.sort(codes[usable].astype(np.int64) * scale + rank[usable])
    return codes, uniques, keys


def bound_indexed_category(index: tuple[np.ndarray, pd.Index, np.ndarray], ranks: tuple[np.ndarray, np.ndarray],
                           lead_pos: np.ndarray, as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """The per-row half of :func:`bound_lead_category`, on an :func:`index_lead_category` of all leads."""
    times, _ = ranks
    codes, uniques, keys = index
    scale = np.int64(len(times) + 1)
    row_code = codes[lead_pos].astype(np.int64)
    seen = sorted_searchsorted(times, as_of_ns, side="right")  # leads captured at or before as_of
    upper = sorted_searchsorted(keys, row_code * scale + seen, side="right")
    lower = sorted_searchsorted(keys, row_code * scale, side="left")
    common = (upper - lower) >= np.maximum(LEAD_CATEGORY_MIN_LEADS, LEAD_CATEGORY_MIN_SHARE * seen)
    if vocabulary:
        in_vocabulary = np.append(np.isin(np.asarray(uniques, dtype=object).astype(str), list(vocabulary)), False)
        common |= in_vocabulary[np.where(row_code >= 0, row_code, len(uniques))]
    other = len(uniques)
    out_codes = np.where(row_code < 0, -1, np.where(common, row_code, other))
    return strings_from_codes([*map(str, uniques), OTHER], out_codes)


def bound_account_category(values: pd.Series, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """Account values kept when at least max(5, 0.5%) of accounts share them (or ``vocabulary`` holds them), else "other"."""
    counts = values.value_counts(dropna=True)
    threshold = max(ACCOUNT_CATEGORY_MIN_ACCOUNTS, ACCOUNT_CATEGORY_MIN_SHARE * len(values))
    keep = counts.index[(counts >= threshold) | counts.index.isin(list(vocabulary))]
    return values.where(values.isna() | values.isin(keep), OTHER)


class LeadIndex:
    """What every chunk of one build reads about all the leads and accounts, worked out once per build.

    The builder works in chunks to bound a long spine's memory, and the scorer builds chunk by chunk
    over the same leads, but capture ranks, account positions, parsed job titles, a bounded category's
    value index and a typed export column belong to the whole table: worked out again for every chunk
    they cost seconds per chunk on a million leads. Whole-table values are made on first use and kept
    (:meth:`kept`), so a chunk pays only for its own rows.
    """

    def __init__(self, tables: Tables) -> None:
        self._source = (tables.leads, tables.accounts)
        self.leads = tables.leads.reset_index(drop=True)
        self.accounts = tables.accounts.reset_index(drop=True)
        captured = to_epoch_ns(self.leads["captured_at"])
        self.captured_known = captured.notna().to_numpy()
        self.captured_ns = captured.to_numpy(dtype="int64", na_value=0)
        self.ranks = capture_ranks(self.captured_ns, self.captured_known)
        self._kept: dict[object, object] = {}

    def kept(self, key: object, make: Callable[[], object]) -> object:
        """``make()`` the first time ``key`` is asked for, the same value afterwards."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    @property
    def account_pos(self) -> np.ndarray:
        """Each lead's position in the accounts table, -1 without one."""
        return self.kept("account_pos", lambda: positions(self.leads["account_id"], self.accounts["account_id"])
                         if len(self.accounts) else np.full(len(self.leads), -1, dtype=np.int64))

    def serves(self, tables: Tables) -> bool:
        """Whether ``tables`` hold the very leads and accounts this index was made of (scoring chunks share them)."""
        return tables.leads is self._source[0] and tables.accounts is self._source[1]

    def account_category(self, column: str, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
        """:func:`bound_account_category` of an accounts column, kept."""
        return self.kept(("account category", column, vocabulary),
                         lambda: bound_account_category(self.accounts[column].astype("str"), vocabulary))

    def lead_category(self, key: object, make_values: Callable[[], pd.Series], lead_pos: np.ndarray,
                      as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
        """:func:`bound_lead_category` of the lead column ``make_values()``, its whole-table index kept under ``key``."""
        index = self.kept(("lead category", key),
                          lambda: index_lead_category(make_values(), self.ranks, self.captured_known))
        return bound_indexed_category(index, self.ranks, lead_pos, as_of_ns, vocabulary)


def _flag(values: pd.Series) -> np.ndarray:
    return pd.Series(values).astype("boolean").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def normalize_title(titles: pd.Series) -> pd.Series:
    """Job titles as one spelling: trimmed, inner blanks collapsed, lower case; blank is missing.

    Each distinct title is respelled once (a million leads hold far fewer titles; the regex per row cost
    seconds per scoring chunk).

    Examples
    --------
    >>> normalize_title(pd.Series(["  Head of  Sales", None, "CTO", " "])).tolist()
    ['head of sales', nan, 'cto', nan]
    """
    codes, uniques = pd.factorize(titles.astype("str"))
    spelled = pd.Series(uniques, dtype="str").str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    spelled = spelled.mask(spelled == "")
    spelled = np.append(spelled.to_numpy(dtype=object, na_value=None), None)  # code -1 (missing) takes the None
    return pd.Series(pd.array(spelled[codes], dtype="str"), index=titles.index)


def band_employees(employees: np.ndarray) -> pd.Series:
    """Employee counts in the bands marketing uses (the rules' 200 and 1,000 cut points among them)."""
    uppers = np.array([upper for upper, _ in EMPLOYEE_BANDS], dtype="float64")
    labels = [label for _, label in EMPLOYEE_BANDS] + ["5,000+"]
    codes = np.searchsorted(uppers, employees, side="right")
    return strings_from_codes(labels, np.where(np.isnan(employees), -1, codes))


def build_profile_features(index: LeadIndex, spine: pd.DataFrame, lead_pos: np.ndarray, persona: pd.DataFrame,
                           vocabulary: dict[str, frozenset[str]] | None = None) -> pd.DataFrame:
    """Fit, persona and acquisition features of each spine row's lead (index 0..n-1).

    ``index`` is the build's :class:`LeadIndex`; ``vocabulary`` holds, per categorical feature, values
    kept whatever their count (a model's categories).
    """
    vocabulary = vocabulary or {}
    leads, accounts = index.leads, index.accounts
    n = len(spine)
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    captured_ns = index.captured_ns

    account_pos = index.account_pos[lead_pos]
    has_account = account_pos >= 0
    take_at = account_pos.clip(0)
    no_account = pd.Series(~has_account)

    def account_column(name: str, values: pd.Series | None = None) -> pd.Series:
        column = accounts[name] if values is None else values
        if len(column) == 0:
            return pd.Series(np.full(n, np.nan), dtype="str" if column.dtype == "str" else "float64")
        taken = column.take(take_at).reset_index(drop=True)
        return taken.mask(no_account) if not has_account.all() else taken

    def account_number(name: str) -> np.ndarray:
        return pd.to_numeric(account_column(name)).to_numpy(dtype="float64", na_value=np.nan)

    def lead_column(name: str) -> pd.Series:
        return leads[name].take(lead_pos).reset_index(drop=True)

    employees = account_number("employees")
    capture_ns = captured_ns[lead_pos]
    weekday = (capture_ns // NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    month = capture_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) % 12
    out = {
        "employees": employees,
        "employees_band": band_employees(employees),
        "annual_revenue_usd": account_number("annual_revenue_usd"),
        "industry": account_column("industry", index.account_category("industry", vocabulary.get("industry", frozenset()))),
        "region": account_column("region", index.account_category("region", vocabulary.get("region", frozenset()))),
        "country": index.lead_category("country", lambda: leads["country"].astype("str").str.upper(), lead_pos, as_of_ns,
                                       vocabulary.get("country", frozenset())),
        "branch_count": account_number("branch_count"),
        "business_model": account_column("business_model"),
        "paying_customers": account_number("paying_customers"),
        "is_public": _flag(account_column("is_public")),
        "company_stage": account_column("company_stage"),
        "has_cdo": _flag(account_column("has_cdo")),
        "digital_transformation": account_column("digital_transformation"),
        "seniority": persona["seniority"].take(lead_pos).reset_index(drop=True),
        "department": persona["department"].take(lead_pos).reset_index(drop=True),
        # The title itself, so no signal is erased by the parser ("Working Professional" is its own value).
        "job_title": index.lead_category("job_title", lambda: normalize_title(leads["job_title"]), lead_pos, as_of_ns,
                                         vocabulary.get("job_title", frozenset())),
        "is_free_mail": _flag(index.kept("is_free_mail", lambda: is_free_mail(leads["email_domain"]))
                              .take(lead_pos).reset_index(drop=True)),
        "has_email_consent": _flag(lead_column("email_consent")),
        "channel": lead_column("channel"),
        "campaign": index.lead_category("campaign", lambda: leads["campaign"].astype("str"), lead_pos, as_of_ns,
                                        vocabulary.get("campaign", frozenset())),
        "capture_weekday": strings_from_codes(WEEKDAYS, weekday),
        "capture_month": strings_from_codes(MONTHS, month),
        "lead_age_days": (as_of_ns - captured_ns[lead_pos]) / NS_PER_DAY,
    }
    return pd.DataFrame(out)
