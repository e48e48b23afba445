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

import numpy as np
import pandas as pd

from features.build import positions
from features.persona import is_free_mail
from features.pit import to_epoch_ns
from features.tables import Tables

NS_PER_DAY = 86_400 * 10**9
LEAD_CATEGORY_MIN_SHARE = 0.01
LEAD_CATEGORY_MIN_LEADS = 30
ACCOUNT_CATEGORY_MIN_SHARE = 0.005
ACCOUNT_CATEGORY_MIN_ACCOUNTS = 5
OTHER = "other"
EMPLOYEE_BANDS = ((50, "<50"), (200, "50-199"), (1_000, "200-999"), (5_000, "1,000-4,999"))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def bound_lead_category(values: pd.Series, captured_ns: np.ndarray, known: np.ndarray, lead_pos: np.ndarray,
                        as_of_ns: np.ndarray) -> np.ndarray:
    """Each row's lead value, or "other" when fewer than max(30, 1%) of the leads captured by as_of share it.

    Parameters
    ----------
    values
        The column over all leads (missing allowed: stays missing).
    captured_ns, known
        Capture times of all leads (epoch ns) and whether each is known.
    lead_pos, as_of_ns
        Per spine row: the lead's position and the row's as_of.

    Counting is by sorted (value, capture time) keys and binary search, so per-row as_of cost
    log(n) each rather than a scan.
    """
    codes, uniques = pd.factorize(values.reset_index(drop=True))
    times = np.unique(captured_ns[known])
    rank = np.searchsorted(times, captured_ns) + 1
    scale = np.int64(len(times) + 1)
    usable = known & (codes >= 0)
    keys = np.sort(codes[usable].astype(np.int64) * scale + rank[usable])
    row_code = codes[lead_pos].astype(np.int64)
    seen = np.searchsorted(times, as_of_ns, side="right")
    upper = np.searchsorted(keys, row_code * scale + seen, side="right")
    lower = np.searchsorted(keys, row_code * scale, side="left")
    n_value = upper - lower
    n_all = seen  # leads with a known capture time at or before as_of
    common = n_value >= np.maximum(LEAD_CATEGORY_MIN_LEADS, LEAD_CATEGORY_MIN_SHARE * n_all)
    text = np.asarray(uniques, dtype=object)
    out = np.full(len(lead_pos), np.nan, dtype=object)
    has_value = row_code >= 0
    out[has_value] = np.where(common[has_value], text[row_code[has_value]], OTHER)
    return out


def bound_account_category(values: pd.Series) -> pd.Series:
    """Account values kept when at least max(5, 0.5%) of accounts share them, else "other"."""
    counts = values.value_counts(dropna=True)
    threshold = max(ACCOUNT_CATEGORY_MIN_ACCOUNTS, ACCOUNT_CATEGORY_MIN_SHARE * len(values))
    keep = counts.index[counts >= threshold]
    return values.where(values.isna() | values.isin(keep), OTHER)


def _flag(values: pd.Series) -> np.ndarray:
    return pd.Series(values).astype("boolean").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def band_employees(employees: np.ndarray) -> np.ndarray:
    """Employee counts in the bands marketing uses (the rules' 200 and 1,000 cut points among them)."""
    labels = np.full(len(employees), "5,000+", dtype=object)
    for upper, label in reversed(EMPLOYEE_BANDS):
        labels[employees < upper] = label
    labels[np.isnan(employees)] = np.nan
    return labels


def build_profile_features(tables: Tables, spine: pd.DataFrame, lead_pos: np.ndarray, persona: pd.DataFrame) -> pd.DataFrame:
    """Fit, persona and acquisition features of each spine row's lead (index 0..n-1)."""
    leads = tables.leads.reset_index(drop=True)
    accounts = tables.accounts.reset_index(drop=True)
    n = len(spine)
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    captured = to_epoch_ns(leads["captured_at"])
    captured_known = captured.notna().to_numpy()
    captured_ns = captured.to_numpy(dtype="int64", na_value=0)

    account_pos = positions(leads["account_id"], accounts["account_id"])[lead_pos]
    has_account = account_pos >= 0
    take_at = account_pos.clip(0)

    def account_column(name: str, values: pd.Series | None = None) -> pd.Series:
        column = accounts[name] if values is None else values
        if len(column) == 0:
            return pd.Series(np.full(n, np.nan, dtype=object))
        taken = column.take(take_at).reset_index(drop=True)
        return taken.where(pd.Series(has_account))

    def account_number(name: str) -> np.ndarray:
        return pd.to_numeric(account_column(name)).to_numpy(dtype="float64", na_value=np.nan)

    def lead_column(name: str) -> pd.Series:
        return leads[name].take(lead_pos).reset_index(drop=True)

    employees = account_number("employees")
    out = {
        "employees": employees,
        "employees_band": band_employees(employees),
        "annual_revenue_usd": account_number("annual_revenue_usd"),
        "industry": account_column("industry", bound_account_category(accounts["industry"].astype("str"))),
        "region": account_column("region", bound_account_category(accounts["region"].astype("str"))),
        "country": bound_lead_category(leads["country"].astype("str").str.upper(), captured_ns, captured_known,
                                       lead_pos, as_of_ns),
        "branch_count": account_number("branch_count"),
        "business_model": account_column("business_model"),
        "paying_customers": account_number("paying_customers"),
        "is_public": _flag(account_column("is_public")),
        "company_stage": account_column("company_stage"),
        "has_cdo": _flag(account_column("has_cdo")),
        "digital_transformation": account_column("digital_transformation"),
        "seniority": persona["seniority"].take(lead_pos).reset_index(drop=True),
        "department": persona["department"].take(lead_pos).reset_index(drop=True),
        "is_free_mail": _flag(is_free_mail(leads["email_domain"]).take(lead_pos).reset_index(drop=True)),
        "has_email_consent": _flag(lead_column("email_consent")),
        "channel": lead_column("channel"),
        "campaign": bound_lead_category(leads["campaign"].astype("str"), captured_ns, captured_known, lead_pos, as_of_ns),
    }
    captured_at = pd.Series(pd.to_datetime(captured_ns[lead_pos], utc=True))
    out["capture_weekday"] = np.asarray(WEEKDAYS, dtype=object)[captured_at.dt.day_of_week.to_numpy()]
    out["capture_month"] = np.asarray(MONTHS, dtype=object)[captured_at.dt.month.to_numpy() - 1]
    out["lead_age_days"] = (as_of_ns - captured_ns[lead_pos]) / NS_PER_DAY
    return pd.DataFrame({k: (v.to_numpy() if isinstance(v, pd.Series) else v) for k, v in out.items()})
