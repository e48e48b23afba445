"""The leakage audit: for every candidate feature, built-in or the export's own, a verdict with its evidence.

A flat export's own columns carry most of its signal and most of its leaks: a status filled in by sales
after the first call, a counter measured on the day of the export, a "last activity" that is the sales
call itself. The audit looks at each candidate at the moment a lead is scored (at capture) and gives a
verdict, ``ok``, ``suspicious`` or ``leaky``, from these signals, each its own evidence key:

``single_auc``
    The column alone, out of fold on time-ordered data: leads sorted by capture time are cut into
    blocks; a one-column model (target rates per category, or per quantile bin of a number, missing
    values their own group) learnt on the earlier blocks scores the next one. Leaky at 0.90 or more;
    suspicious from 0.80, or when it beats every other column by a wide margin.
``missingness``
    The share of rows with a value among converted leads and among the others: a field that is mostly
    filled in for converted leads was written after the fact (suspicious).
``accumulation``
    For the export's own counts (non-negative, whole numbers): the rank correlation with the lead's
    age at the export, within each outcome class, and how much larger the values of the oldest leads
    are than those of the youngest. A count that keeps growing after capture was measured at the
    export (leaky). A value that merely follows the calendar (an interest rate, a headcount) is no
    count that starts near zero at capture, so it is not called an accumulation.
``after_capture``
    For the export's own dates: the share of values after the lead's capture (leaky when most are).
``label_drift``
    How much the outcome rate moves with the capture month (Cramér's V). Calendar features would learn
    a data-collection window instead of lead quality: they are dropped when it drifts.

Leaky features are left out of training unless the user vouches for them (``known_at_capture`` in the
mapping file, by the export's header or the feature's name); suspicious ones are kept and named. The
audit may sample leads (``audit.sample_leads``) so it stays cheap on a million.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns
from leadscore.scorers.ranking import roc_auc
from leadscore.training.config import AuditConfig

VERDICTS = ("ok", "suspicious", "leaky")
CALENDAR_FEATURES = ("capture_month",)
N_BINS = 10
# How much larger (relative) the oldest fifth's values must be than the youngest fifth's for a count to
# have accumulated: (old - young) / (old + young).
ACCUMULATION_GROWTH = 0.25
SMOOTHING = 20.0  # pseudo-leads of the overall rate in each group's target rate


@dataclass
class AuditResult:
    """The audit of one training set: one row per candidate feature, and what training does with them.

    Attributes
    ----------
    table
        ``column, feature, origin (built-in / export), verdict, why, used, evidence`` per candidate.
    dropped
        Feature names left out of training (leaky and not vouched for; calendar features under drift).
    label_drift
        The outcome's drift over capture months (Cramér's V, monthly rates).
    """

    table: pd.DataFrame
    dropped: list[str] = field(default_factory=list)
    label_drift: dict = field(default_factory=dict)

    def records(self) -> list[dict]:
        """The spec's JSON form: one object per candidate with column, verdict, evidence and why."""
        return [
            {"column": r.column, "feature": r.feature, "origin": r.origin, "verdict": r.verdict,
             "evidence": r.evidence, "why": r.why, "used": bool(r.used)}
            for r in self.table.itertuples(index=False)
        ]

    def named(self, verdict: str) -> list[str]:
        return self.table.loc[self.table["verdict"] == verdict, "column"].tolist()


def _time_blocks(captured_ns: np.ndarray, n_blocks: int) -> np.ndarray:
    """Block number per row: rows sorted by capture time cut into ``n_blocks`` blocks of equal size."""
    order = np.argsort(captured_ns, kind="stable")
    blocks = np.empty(len(order), dtype=np.int64)
    blocks[order] = np.minimum(np.arange(len(order)) * n_blocks // max(len(order), 1), n_blocks - 1)
    return blocks


def _groups(values: pd.Series, kind: str, fit_rows: np.ndarray) -> np.ndarray:
    """Group code per row: a category, or a quantile bin of a number learnt on ``fit_rows``; -1 missing."""
    if kind == "categorical":
        codes, _ = pd.factorize(values.astype("str"))
        return codes.astype(np.int64)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(numbers)
    fit_values = numbers[fit_rows & known]
    if len(fit_values) == 0:
        return np.where(known, 0, -1)
    edges = np.unique(np.quantile(fit_values, np.linspace(0, 1, N_BINS + 1)[1:-1]))
    return np.where(known, np.searchsorted(edges, numbers, side="right"), -1)


def single_column_auc(values: pd.Series, kind: str, label: np.ndarray, blocks: np.ndarray) -> float:
    """Out-of-fold AUC of the column alone, each block scored by target rates learnt on the earlier ones."""
    n_blocks = int(blocks.max()) + 1 if len(blocks) else 0
    scores = np.full(len(label), np.nan)
    for block in range(1, n_blocks):
        fit_rows = blocks < block
        group = _groups(values, kind, fit_rows) + 1  # 0 = missing
        size = int(group.max()) + 1 if len(group) else 1
        prior = label[fit_rows].mean() if fit_rows.any() else 0.0
        hits = np.bincount(group[fit_rows], weights=label[fit_rows], minlength=size)
        counts = np.bincount(group[fit_rows], minlength=size)
        rate = (hits + SMOOTHING * prior) / (counts + SMOOTHING)
        scored = blocks == block
        scores[scored] = rate[group[scored]]
    judged = ~np.isnan(scores)
    if len(np.unique(label[judged])) < 2:
        return float("nan")
    return roc_auc(label[judged], scores[judged])


def label_drift(captured_ns: np.ndarray, label: np.ndarray, min_leads: int = 20) -> dict:
    """Cramér's V of capture month against the outcome, and the monthly outcome rates."""
    months = pd.Series(pd.to_datetime(captured_ns, utc=True).strftime("%Y-%m"))
    frame = pd.DataFrame({"month": months, "label": label})
    counts = frame.groupby("month")["label"].agg(["size", "sum"])
    counts = counts[counts["size"] >= min_leads]
    rates = {m: round(float(r["sum"] / r["size"]), 4) for m, r in counts.iterrows()}
    n, positives = counts["size"].sum(), counts["sum"].sum()
    if len(counts) < 2 or positives == 0 or positives == n:
        return {"cramers_v": 0.0, "monthly_rates": rates}
    expected_pos = counts["size"] * positives / n
    expected_neg = counts["size"] - expected_pos
    chi2 = (((counts["sum"] - expected_pos) ** 2 / expected_pos)
            + ((counts["size"] - counts["sum"] - expected_neg) ** 2 / expected_neg)).sum()
    return {"cramers_v": round(float(math.sqrt(chi2 / n)), 4), "monthly_rates": rates}


def _rank_correlation(x: np.ndarray, y: np.ndarray) -> float:
    if len(x) < 30 or np.nanstd(x) == 0 or np.std(y) == 0:
        return float("nan")
    rx = pd.Series(x).rank().to_numpy()
    ry = pd.Series(y).rank().to_numpy()
    return float(np.corrcoef(rx, ry)[0, 1])


def accumulation(values: np.ndarray, age: np.ndarray, converted: np.ndarray) -> dict | None:
    """Rank correlation with age at the export per outcome class, and the growth from young to old leads.

    None for a column that is not a count (negative or fractional values): only counts accumulate.
    """
    known = ~np.isnan(values)
    present = values[known]
    if len(present) < 30 or present.min() < 0 or np.mean(present == np.round(present)) < 0.9:
        return None
    young, old = np.quantile(age[known], [0.2, 0.8])
    low, high = np.median(present[age[known] <= young]), np.median(present[age[known] >= old])
    return {
        "converted": _round(_rank_correlation(values[known & converted], age[known & converted])),
        "not_converted": _round(_rank_correlation(values[known & ~converted], age[known & ~converted])),
        "growth": _round((high - low) / (abs(high) + abs(low)) if high + low else 0.0),
    }


def _export_values(tables: Tables, source: dict, lead_ids: pd.Series) -> pd.Series | None:
    """The export's own column as it stands in the export, for each of ``lead_ids`` (leads table only)."""
    if source.get("table") != "leads" or source.get("column") not in tables.leads.columns:
        return None
    at = positions(lead_ids, tables.leads["lead_id"])
    return tables.leads[source["column"]].take(np.where(at >= 0, at, 0)).reset_index(drop=True).where(pd.Series(at >= 0))


def audit_features(
    rows: pd.DataFrame,
    features: list[dict],
    tables: Tables,
    config: AuditConfig,
    seed: int = 0,
) -> AuditResult:
    """Audit every candidate feature on at-capture labelled rows (see the module docstring).

    Parameters
    ----------
    rows
        Labelled snapshots with ``lead_id``, ``captured_at``, ``label`` and the feature columns; only
        the at-capture ones are used (``offset_days == 0`` when the column is there).
    features
        Spec entries of the candidates (own columns carry their ``source``).
    tables
        The export: the own columns as measured at the export, ``data_end`` and what the mapping vouches for.
    """
    if "offset_days" in rows.columns:
        rows = rows[rows["offset_days"] == 0]
    rows = rows.reset_index(drop=True)
    if len(rows) > config.sample_leads:
        rows = rows.sample(config.sample_leads, random_state=seed).reset_index(drop=True)
    label = rows["label"].to_numpy(dtype=float)
    captured_ns = to_epoch_ns(rows["captured_at"]).to_numpy(dtype="int64", na_value=0)
    blocks = _time_blocks(captured_ns, config.folds)
    drift = label_drift(captured_ns, label)
    age_at_export = (tables.data_end.value - captured_ns) / NS_PER_DAY
    vouched = set()
    for note in tables.column_notes.values():
        vouched |= set(note.known_at_capture)
    converted = label == 1

    records = []
    for feature in features:
        name, kind, source = feature["name"], feature["kind"], feature.get("source") or {}
        values = rows[name]
        evidence: dict = {"single_auc": _round(single_column_auc(values, kind, label, blocks))}
        filled = values.notna().to_numpy()
        evidence["missingness"] = {
            "filled_when_converted": round(float(filled[converted].mean()), 4) if converted.any() else None,
            "filled_otherwise": round(float(filled[~converted].mean()), 4) if (~converted).any() else None,
        }
        evidence["accumulation"] = None
        evidence["after_capture"] = None
        raw = _export_values(tables, source, rows["lead_id"]) if source else None
        if raw is not None and source.get("kind") == "number":
            evidence["accumulation"] = accumulation(pd.to_numeric(raw, errors="coerce").to_numpy(
                dtype="float64", na_value=np.nan), age_at_export, converted)
        if raw is not None and source.get("kind") == "timestamp":
            moment = to_epoch_ns(raw)
            known = moment.notna().to_numpy()
            later = moment.to_numpy(dtype="int64", na_value=0) > captured_ns
            evidence["after_capture"] = round(float(later[known].mean()), 4) if known.any() else None
        if name in CALENDAR_FEATURES:
            evidence["label_drift"] = drift["cramers_v"]
        records.append({"column": source.get("column", name), "feature": name,
                        "origin": "export" if source else "built-in", "evidence": evidence})

    best = sorted((r["evidence"]["single_auc"] for r in records if not _nan(r["evidence"]["single_auc"])), reverse=True)
    dropped = []
    for record in records:
        verdict, why = judge(record["evidence"], best, drift, record["feature"], config)
        is_vouched = record["column"] in vouched or record["feature"] in vouched
        used = not (verdict == "leaky" and not is_vouched) and not (
            record["feature"] in CALENDAR_FEATURES and drift["cramers_v"] >= config.drift_cramers_v)
        if verdict == "leaky" and is_vouched:
            why += " Kept: the mapping file vouches it is known at capture."
        if not used:
            dropped.append(record["feature"])
        record.update(verdict=verdict, why=why, used=used)
    table = pd.DataFrame.from_records(records, columns=["column", "feature", "origin", "verdict", "why", "used", "evidence"])
    return AuditResult(table=table, dropped=dropped, label_drift=drift)


def _round(value: float) -> float | None:
    return None if _nan(value) else round(float(value), 4)


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def judge(evidence: dict, best: list[float], drift: dict, feature: str, config: AuditConfig) -> tuple[str, str]:
    """The verdict and the one sentence on why, from a candidate's evidence (thresholds in ``config``)."""
    auc = evidence["single_auc"]
    accumulated = evidence.get("accumulation") or {}
    after = evidence.get("after_capture")
    correlations = [v for k, v in accumulated.items() if k != "growth" and not _nan(v)]
    growth = accumulated.get("growth")
    if not _nan(auc) and auc >= config.leaky_auc:
        return "leaky", f"Alone it predicts the outcome at capture almost perfectly (out-of-fold AUC {auc:.2f})."
    if after is not None and after > config.after_capture_share:
        return "leaky", f"Its dates fall after the lead's capture for {after:.0%} of leads: it was written later."
    if correlations and all(c >= config.accumulation_correlation for c in correlations) and not _nan(growth) \
            and growth >= ACCUMULATION_GROWTH:
        shown = ", ".join(f"{k.replace('_', ' ')} {v:+.2f}" for k, v in accumulated.items() if k != "growth" and not _nan(v))
        return "leaky", (f"It grows with the lead's age at the export within each outcome ({shown}), from near nothing "
                         "for the newest leads: measured at the export.")
    if feature in CALENDAR_FEATURES and drift["cramers_v"] >= config.drift_cramers_v:
        return "suspicious", (f"The outcome rate moves with the capture month (Cramér's V {drift['cramers_v']:.2f}): "
                              "a calendar feature would learn when data was collected, so it is dropped.")
    if not _nan(auc) and auc >= config.suspicious_auc:
        return "suspicious", f"Alone it predicts the outcome at capture very well (out-of-fold AUC {auc:.2f}); check when it is filled in."
    others = [b for b in best if b != auc] if not _nan(auc) else []
    if not _nan(auc) and others and auc >= 0.75 and auc - others[0] >= config.far_better_margin:
        return "suspicious", f"Alone it beats every other column by far (AUC {auc:.2f} against {others[0]:.2f} for the next)."
    missing = evidence["missingness"]
    when, otherwise = missing["filled_when_converted"], missing["filled_otherwise"]
    if when is not None and otherwise is not None and when >= 0.5 and when - otherwise >= config.missingness_gap:
        return "suspicious", (f"It is filled in for {when:.0%} of converted leads but {otherwise:.0%} of the others: "
                              "it may be written after the fact.")
    return "ok", "No sign that it was written after capture."


def format_audit(result: AuditResult) -> str:
    """The audit as text: leaky and suspicious candidates first, each with its sentence."""
    table = result.table
    order = {"leaky": 0, "suspicious": 1, "ok": 2}
    shown = table.assign(rank=table["verdict"].map(order)).sort_values(["rank", "column"], kind="stable")
    counts = table["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    lines = [f"leakage audit: {counts['leaky']} leaky, {counts['suspicious']} suspicious, {counts['ok']} ok "
             f"(label drift over capture months: Cramér's V {result.label_drift.get('cramers_v', 0):.2f})"]
    for row in shown.itertuples(index=False):
        if row.verdict == "ok":
            continue
        auc = row.evidence["single_auc"]
        flag = "used" if row.used else "left out"
        lines.append(f"  {row.verdict.upper():<10} {row.column} ({row.origin}, {flag}; single AUC "
                     f"{'n/a' if _nan(auc) else f'{auc:.2f}'}): {row.why}")
    n_ok = int(counts["ok"])
    if n_ok:
        lines.append(f"  {n_ok} other candidate(s) ok")
    return "\n".join(lines)
