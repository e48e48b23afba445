"""The leakage audit: for every candidate feature, built-in or the export's own, a verdict with its evidence.

A flat export's own columns carry most of its signal and most of its leaks: a status filled in by sales
after the first call, a counter measured on the day of the export, a "last activity" that is the sales
call itself. The audit looks at each candidate at the moment a lead is scored (at capture) and gives a
verdict, ``ok``, ``suspicious`` or ``leaky``, from these signals, each its own evidence key:

``single_auc``
    The column alone, out of fold on time-ordered data: leads sorted by capture time are cut into
    blocks; a one-column model (target rates per category, or per quantile bin of a number, missing
    values their own group) learnt on the earlier blocks scores the next one. The AUC is taken within
    each scored block (pairs of leads captured in the same block) and averaged, so a column that says
    nothing scores 0.5 even when the outcome rate moves from block to block. Leaky at 0.90 or more;
    suspicious from 0.80.
``capture_set_auc``
    For the export's own columns that alone reach 0.75: what the columns known at capture (every other
    candidate no signal flags) reach together, out of fold the same way (a logistic regression on their
    groups). A column that alone beats them all together by ``far_better_margin`` knows something the
    lead's profile at capture cannot: suspicious.
``post_contact_name``
    For the export's own columns: the header names a snapshot of the latest activity or status ("Last
    Activity", "Lead Status", "Tags") or a score or grade the company assigns ("Lead Quality", "Lead
    Score", "Rating"). A flat export is a snapshot at export time: such a field was written after
    capture, by sales or the CRM (suspicious).
``missingness``
    The share of rows with a value, overall, among converted leads and among the others: a field that is
    mostly filled in for converted leads was written after the fact (suspicious).
``accumulation``
    For the export's own counts (non-negative, whole numbers): the rank correlation with the lead's
    age at the export, within each outcome class, and how much larger the values of the oldest leads
    are than those of the youngest. A count that keeps growing after capture was measured at the
    export (leaky). A value that merely follows the calendar (an interest rate, a headcount) is no
    count that starts near zero at capture, so it is not called an accumulation.
``after_capture``
    For the export's own dates: the share of values after the lead's capture (leaky when most are).
``calendar_proxy``
    For the export's own columns: the share of the column's information that the capture month holds
    (uncertainty coefficient of its values, numbers in deciles, given the month). A column that is all
    but a function of the month (an interest rate, a monthly index, a field added to the form in some
    month) learns when a lead was captured; where the outcome rate drifts over the months it is
    suspicious, as a calendar feature would be.
``label_drift``
    For the calendar features (capture month, weekday): how much the outcome rate moves with the
    capture month (Cramér's V). A calendar feature would learn a data-collection window instead of lead
    quality: it is dropped when the outcome drifts, unless the mapping file states the calendar's cause
    (``features.calendar_causes``), which the model's spec then carries.

What is left out: the export's own columns judged leaky or suspicious (a flat export has no dates per
field, so the evidence is all there is), and built-in features judged leaky, unless the user vouches
for them (``known_at_capture`` in the mapping file, by the export's header or the feature's name; the
audit prints the exact line). Built-in features judged suspicious are kept and named: they are computed
point in time from dated records. The audit may sample leads (``audit.sample_leads``) so it stays
cheap on a million.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import yaml

from leadscore.features.reading.mapping import CALENDAR_FEATURES
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import NS_PER_DAY, to_epoch_ns
from leadscore.scorers.ranking import roc_auc
from leadscore.training.config import AuditConfig

VERDICTS = ("ok", "suspicious", "leaky")
SEVERITY = {"ok": 0, "suspicious": 1, "leaky": 2}
N_BINS = 10
# How much larger (relative) the oldest fifth's values must be than the youngest fifth's for a count to
# have accumulated: (old - young) / (old + young).
ACCUMULATION_GROWTH = 0.25
SMOOTHING = 20.0  # pseudo-leads of the overall rate in each group's target rate
# An own column alone below this AUC is never "far above" the columns known at capture together.
FAR_ABOVE_FLOOR = 0.75
CAPTURE_SET_SAMPLE = 50_000  # leads the columns-together model reads (it is only evidence)

# Headers of a flat export's fields that hold what happened after capture (read as lower-case words).
LATEST_ACTIVITY_OR_STATUS = re.compile(
    r"\b(?:last|latest|most recent|recent)\b(?: \w+){0,2} (?:activity|activities|action|touch|touchpoint|engagement"
    r"|interaction|contact|contacted|call|called|meeting|response|reply|modified|update|updated)\b"
    r"|\b(?:lead|contact|lifecycle|sales|deal|opportunity|crm|call|current|customer|prospect) (?:status|stage|disposition"
    r"|outcome|result)\b|^(?:status|stage|lifecycle)$|\btags?\b|\bdisposition\b"
)
COMPANY_SCORE = re.compile(
    r"\b(?:score|scoring|grade|grading|rating|rated|quality|priority|temperature)\b"
    r"|\b(?:activity|profile|engagement|behaviou?r|intent) (?:index|level|band|tier)\b"
    r"|\blead (?:profile|level|rank|ranking|tier|class)\b"
)
NAME_MEANINGS = {"the latest activity or status": LATEST_ACTIVITY_OR_STATUS, "a score or grade the company assigns": COMPANY_SCORE}


@dataclass
class AuditResult:
    """The audit of one training set: one row per candidate feature, and what training does with them.

    Attributes
    ----------
    table
        ``column, feature, origin (built-in / export), verdict, why, used, evidence, vouch`` per candidate
        (``vouch``: the mapping line that would keep a column left out, else None).
    dropped
        Feature names left out of training (see the module docstring).
    label_drift
        The outcome's drift over capture months (Cramér's V, monthly rates).
    calendar_causes
        Calendar features kept with the cause the mapping file states (feature -> sentence).
    capture_set_auc
        What the candidates no signal flags reach together at capture (out of fold), when it was needed.
    """

    table: pd.DataFrame
    dropped: list[str] = field(default_factory=list)
    label_drift: dict = field(default_factory=dict)
    calendar_causes: dict[str, str] = field(default_factory=dict)
    capture_set_auc: float | None = None

    def records(self) -> list[dict]:
        """The spec's JSON form: one object per candidate with column, verdict, evidence and why."""
        return [
            {"column": r.column, "feature": r.feature, "origin": r.origin, "verdict": r.verdict,
             "evidence": r.evidence, "why": r.why, "used": bool(r.used),
             "vouch": r.vouch if isinstance(r.vouch, str) else None}
            for r in self.table.itertuples(index=False)
        ]

    def named(self, verdict: str) -> list[str]:
        return self.table.loc[self.table["verdict"] == verdict, "column"].tolist()

    def filled_shares(self) -> dict[str, float]:
        """Feature name -> the share of leads with a value at capture (what a scorer compares its batch with)."""
        return {r.feature: r.evidence["missingness"]["filled"] for r in self.table.itertuples(index=False)
                if r.evidence["missingness"].get("filled") is not None}


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


def blocked_auc(label: np.ndarray, scores: np.ndarray, blocks: np.ndarray) -> float:
    """AUC over pairs of rows in the same block (rows without a score left out); NaN without such a pair.

    Each block's AUC is weighted by its number of positive-negative pairs. Scores learnt on earlier blocks
    differ from block to block as the outcome rate does; pooled, they would rank by capture time, and a
    column that says nothing would look predictive wherever the outcome drifts.

    Examples
    --------
    >>> label = np.array([0, 0, 1, 1, 0, 1, 1, 1])
    >>> blocks = np.array([0, 0, 0, 0, 1, 1, 1, 1])
    >>> blocked_auc(label, np.array([0.2, 0.2, 0.2, 0.2, 0.6, 0.6, 0.6, 0.6]), blocks)  # constant within blocks
    0.5
    """
    total, weight = 0.0, 0.0
    for block in np.unique(blocks):
        rows = (blocks == block) & ~np.isnan(scores)
        n_pos = int(label[rows].sum())
        pairs = n_pos * (int(rows.sum()) - n_pos)
        if pairs == 0:
            continue
        total += pairs * roc_auc(label[rows], scores[rows])
        weight += pairs
    return total / weight if weight else float("nan")


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
    return blocked_auc(label, scores, blocks)


def columns_together_auc(columns: list[tuple[pd.Series, str]], label: np.ndarray, blocks: np.ndarray) -> float:
    """Out-of-fold AUC of the columns together: a logistic regression on their groups, as :func:`single_column_auc`."""
    from scipy import sparse
    from sklearn.linear_model import LogisticRegression

    n_blocks = int(blocks.max()) + 1 if len(blocks) else 0
    scores = np.full(len(label), np.nan)
    rows = np.arange(len(label))
    for block in range(1, n_blocks):
        fit_rows = blocks < block
        if not columns or len(np.unique(label[fit_rows])) < 2:
            continue
        parts = []
        for values, kind in columns:
            group = _groups(values, kind, fit_rows) + 1
            parts.append(sparse.csr_matrix((np.ones(len(group)), (rows, group)), shape=(len(group), int(group.max()) + 1)))
        matrix = sparse.hstack(parts, format="csr")
        model = LogisticRegression(C=0.5, max_iter=500).fit(matrix[fit_rows], label[fit_rows])
        scored = blocks == block
        scores[scored] = model.decision_function(matrix[scored])
    return blocked_auc(label, scores, blocks)


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


def _entropy(counts: np.ndarray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def calendar_proxy(values: pd.Series, kind: str, months: np.ndarray, min_leads: int = 20) -> float:
    """How much of the column the capture month tells, from 0 (nothing) to 1 (all of it).

    A category: the uncertainty coefficient 1 - H(column | month) / H(column), missing values their own
    group. A number: the share of its variance between months (the correlation ratio), values clipped at
    their 1st and 99th percentiles so a few outliers neither make nor hide it; missing values left out.
    Months with fewer than ``min_leads`` leads (with a value) are left out: their few rows would look
    determined. NaN for a column with one value.

    Examples
    --------
    >>> months = np.repeat(np.arange(4), 50)
    >>> round(calendar_proxy(pd.Series(np.repeat([3.1, 2.9, 2.5, 1.2], 50)), "numeric", months), 2)
    1.0
    >>> round(calendar_proxy(pd.Series(np.tile([1.0, 2.0], 100)), "numeric", months), 2)
    0.0
    """
    if kind == "categorical":
        kept = np.bincount(months)[months] >= min_leads
        group = (_groups(values, kind, np.ones(len(values), dtype=bool)) + 1)[kept]
        total = _entropy(np.bincount(group)) if len(group) else 0.0
        if total == 0:
            return float("nan")
        table = pd.crosstab(months[kept], group).to_numpy()
        within = sum(row.sum() / len(group) * _entropy(row) for row in table)
        return max(0.0, 1 - within / total)
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype="float64", na_value=np.nan)
    known = ~np.isnan(numbers)
    if known.any():
        known &= np.bincount(months[known], minlength=int(months.max()) + 1)[months] >= min_leads
    if known.sum() < 2:
        return float("nan")
    x = np.clip(numbers[known], *np.quantile(numbers[known], [0.01, 0.99]))
    total = float(((x - x.mean()) ** 2).sum())
    if total == 0:
        return float("nan")
    month = months[known]
    means = np.bincount(month, weights=x) / np.maximum(np.bincount(month), 1)
    return float(((means[month] - x.mean()) ** 2).sum() / total)


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


def header_words(header: str) -> str:
    """A header as lower-case words: "hs_lead_status" and "LeadStatus" read "hs lead status", "lead status"."""
    spaced = re.sub(r"(?<=[a-z0-9])(?=[A-Z])", " ", header)
    return " ".join(re.findall(r"[a-z0-9]+", spaced.lower()))


def post_contact_name(header: str) -> str | None:
    """What the header says the field holds when it is written after capture, else None.

    Examples
    --------
    >>> [post_contact_name(h) for h in ("Last Notable Activity", "Tags", "Lead Quality", "Lead Source", "poutcome")]
    ['the latest activity or status', 'the latest activity or status', 'a score or grade the company assigns', None, None]
    """
    words = header_words(header)
    return next((meaning for meaning, pattern in NAME_MEANINGS.items() if pattern.search(words)), None)


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
    months = pd.factorize(pd.Series(pd.to_datetime(captured_ns, utc=True).strftime("%Y-%m")))[0]
    age_at_export = (tables.data_end.value - captured_ns) / NS_PER_DAY
    vouched: set[str] = set()
    causes: dict[str, str] = {}
    for note in tables.column_notes.values():
        vouched |= set(note.known_at_capture)
        causes.update(note.calendar_causes)
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
            "filled": round(float(filled.mean()), 4) if len(filled) else None,
        }
        evidence["accumulation"] = None
        evidence["after_capture"] = None
        evidence["post_contact_name"] = post_contact_name(source["column"]) if source else None
        evidence["calendar_proxy"] = _round(calendar_proxy(values, kind, months)) if source else None
        evidence["capture_set_auc"] = None
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
        records.append({"column": source.get("column", name), "feature": name, "table": source.get("table", "leads"),
                        "origin": "export" if source else "built-in", "kind": kind, "evidence": evidence})

    for record in records:
        record["findings"] = findings(record["evidence"], drift, record["feature"], config)
    capture_auc = _far_above_capture_set(records, rows, label, blocks, config, seed)

    dropped: list[str] = []
    kept_causes: dict[str, str] = {}
    for record in records:
        found = record.pop("findings")
        verdict = max((v for v, _ in found), key=SEVERITY.__getitem__, default="ok")
        why = " ".join(sentence for _, sentence in found) or "No sign that it was written after capture."
        is_vouched = record["column"] in vouched or record["feature"] in vouched
        vouch = None
        if record["feature"] in CALENDAR_FEATURES and verdict != "leaky":
            # Its value is known at capture by definition; what is in doubt is whether the calendar means anything.
            cause = causes.get(record["feature"])
            used = cause is not None or drift["cramers_v"] < config.drift_cramers_v
            if cause is not None:
                why += f" Kept with the cause the mapping file states: {cause}"
                kept_causes[record["feature"]] = cause
            elif not used:
                why += " It is dropped unless the mapping file states a cause."
                vouch = f'{record["table"]}.features.calendar_causes: {{{record["feature"]}: "<why the calendar matters>"}}'
        else:
            left_out = verdict == "leaky" or (verdict == "suspicious" and record["origin"] == "export")
            used = not left_out or is_vouched
            if left_out and is_vouched:
                why += " Kept: the mapping file vouches it is known at capture."
            elif left_out:
                vouch = f"{record['table']}.features.known_at_capture: " + yaml.safe_dump(
                    [record["column"]], default_flow_style=True, width=1000).strip()
        if not used:
            dropped.append(record["feature"])
        record.pop("kind")
        record.update(verdict=verdict, why=why if why.endswith(".") else why + ".", used=used, vouch=vouch)
    table = pd.DataFrame.from_records(
        records, columns=["column", "feature", "table", "origin", "verdict", "why", "used", "evidence", "vouch"])
    return AuditResult(table=table, dropped=dropped, label_drift=drift, calendar_causes=kept_causes,
                       capture_set_auc=capture_auc)


def _far_above_capture_set(records: list[dict], rows: pd.DataFrame, label: np.ndarray, blocks: np.ndarray,
                           config: AuditConfig, seed: int) -> float | None:
    """Judge the own columns that alone beat what the columns known at capture reach together.

    "Known at capture" are the candidates no other signal flags; each own column among them that alone
    reaches :data:`FAR_ABOVE_FLOOR` is compared with the others together (a finding is added to its
    record). Returns the AUC of all of them together, or None when no column needed the comparison.
    """
    clean = [r for r in records if not r["findings"]]
    judged = [r for r in clean if r["origin"] == "export" and not _nan(r["evidence"]["single_auc"])
              and r["evidence"]["single_auc"] >= FAR_ABOVE_FLOOR]
    if not judged:
        return None
    sample = np.arange(len(rows))
    if len(sample) > CAPTURE_SET_SAMPLE:
        sample = np.sort(np.random.default_rng(seed).choice(sample, CAPTURE_SET_SAMPLE, replace=False))
    columns = {r["feature"]: (rows[r["feature"]].iloc[sample].reset_index(drop=True), r["kind"]) for r in clean}
    for record in judged:
        others = [column for name, column in columns.items() if name != record["feature"]]
        together = _round(columns_together_auc(others, label[sample], blocks[sample]))
        record["evidence"]["capture_set_auc"] = together
        alone = record["evidence"]["single_auc"]
        if together is not None and alone - together >= config.far_better_margin:
            record["findings"].append(("suspicious", (
                f"Alone it predicts the outcome at capture far better (out-of-fold AUC {alone:.2f}) than every column "
                f"known at capture together ({together:.2f}): it knows what happened after capture.")))
    return _round(columns_together_auc(list(columns.values()), label[sample], blocks[sample]))


def _round(value: float) -> float | None:
    return None if _nan(value) else round(float(value), 4)


def _nan(value: object) -> bool:
    return value is None or (isinstance(value, float) and math.isnan(value))


def findings(evidence: dict, drift: dict, feature: str, config: AuditConfig) -> list[tuple[str, str]]:
    """Each signal that fires for a candidate: ``(verdict, sentence)``, most telling first (thresholds in ``config``)."""
    out: list[tuple[str, str]] = []
    auc = evidence["single_auc"]
    accumulated = evidence.get("accumulation") or {}
    after = evidence.get("after_capture")
    correlations = [v for k, v in accumulated.items() if k != "growth" and not _nan(v)]
    growth = accumulated.get("growth")
    if not _nan(auc) and auc >= config.leaky_auc:
        out.append(("leaky", f"Alone it predicts the outcome at capture almost perfectly (out-of-fold AUC {auc:.2f})."))
    elif not _nan(auc) and auc >= config.suspicious_auc:
        out.append(("suspicious", f"Alone it predicts the outcome at capture very well (out-of-fold AUC {auc:.2f}); "
                                  "check when it is filled in."))
    if after is not None and after > config.after_capture_share:
        out.append(("leaky", f"Its dates fall after the lead's capture for {after:.0%} of leads: it was written later."))
    if correlations and all(c >= config.accumulation_correlation for c in correlations) and not _nan(growth) \
            and growth >= ACCUMULATION_GROWTH:
        shown = ", ".join(f"{k.replace('_', ' ')} {v:+.2f}" for k, v in accumulated.items() if k != "growth" and not _nan(v))
        out.append(("leaky", f"It grows with the lead's age at the export within each outcome ({shown}), from near "
                             "nothing for the newest leads: measured at the export."))
    if feature in CALENDAR_FEATURES and drift["cramers_v"] >= config.drift_cramers_v:
        out.append(("suspicious", f"The outcome rate moves with the capture month (Cramér's V {drift['cramers_v']:.2f}): "
                                  "a calendar feature would learn when data was collected."))
    proxy = evidence.get("calendar_proxy")
    if proxy is not None and proxy >= config.calendar_proxy and drift["cramers_v"] >= config.drift_cramers_v:
        out.append(("suspicious", f"The capture month tells {proxy:.0%} of its value while the outcome rate moves with "
                                  f"the month (Cramér's V {drift['cramers_v']:.2f}): like a calendar feature, it would "
                                  "learn when leads were captured."))
    meaning = evidence.get("post_contact_name")
    if meaning is not None:
        out.append(("suspicious", f"Its name says it holds {meaning}: in an export taken in one go that is the value "
                                  "at the export, written after capture."))
    missing = evidence["missingness"]
    when, otherwise = missing["filled_when_converted"], missing["filled_otherwise"]
    if when is not None and otherwise is not None and when >= 0.5 and when - otherwise >= config.missingness_gap:
        out.append(("suspicious", f"It is filled in for {when:.0%} of converted leads but {otherwise:.0%} of the others: "
                                  "it may be written after the fact."))
    order = sorted(range(len(out)), key=lambda i: -SEVERITY[out[i][0]])
    return [out[i] for i in order]


def format_audit(result: AuditResult) -> str:
    """The audit as text: leaky and suspicious candidates first, each with its evidence and sentence; how to vouch."""
    table = result.table
    order = {"leaky": 0, "suspicious": 1, "ok": 2}
    shown = table.assign(rank=table["verdict"].map(order)).sort_values(["rank", "column"], kind="stable")
    counts = table["verdict"].value_counts().reindex(list(VERDICTS), fill_value=0)
    lines = [f"leakage audit: {counts['leaky']} leaky, {counts['suspicious']} suspicious, {counts['ok']} ok "
             f"(label drift over capture months: Cramér's V {result.label_drift.get('cramers_v', 0):.2f})"]
    if result.capture_set_auc is not None:
        lines.append(f"  the candidates no signal flags reach AUC {result.capture_set_auc:.2f} together at capture")
    for row in shown.itertuples(index=False):
        if row.verdict == "ok":
            continue
        flag = "used" if row.used else "left out"
        lines.append(f"  {row.verdict.upper():<10} {row.column} ({row.origin}, {flag}; {_evidence_text(row.evidence)}): "
                     f"{row.why}")
    n_ok = int(counts["ok"])
    if n_ok:
        lines.append(f"  {n_ok} other candidate(s) ok")
    vouchable = table[table["vouch"].notna() & table["vouch"].str.contains("known_at_capture", regex=False, na=False)]
    if len(vouchable):
        lines.append(f"  {len(vouchable)} left out. To use one anyway (you know it is set when the lead is created, and it "
                     "says more than when), vouch for it in the mapping file:")
        for name, part in vouchable.groupby("table", sort=False):
            listed = yaml.safe_dump(part["column"].tolist(), default_flow_style=True, width=1000).strip()
            lines += [f"    {name}:", "      features:", f"        known_at_capture: {listed}"]
    calendar = table[table["vouch"].notna() & table["vouch"].str.contains("calendar_causes", regex=False, na=False)]
    if len(calendar):
        lines.append("  Calendar features are kept, and offered as reasons, only with a cause you state in the mapping file:")
        lines += ["    leads:", "      features:", "        calendar_causes:"]
        lines += [f'          {feature}: "<why the calendar matters to your sales>"' for feature in calendar["feature"]]
    return "\n".join(lines)


def _evidence_text(evidence: dict) -> str:
    """The numbers behind a verdict, short: single AUC, fill rates, the columns known at capture together."""
    auc = evidence["single_auc"]
    parts = [f"single AUC {'n/a' if _nan(auc) else f'{auc:.2f}'}"]
    missing = evidence["missingness"]
    if missing["filled_when_converted"] is not None and missing["filled_otherwise"] is not None:
        parts.append(f"filled {missing['filled_when_converted']:.0%} converted / {missing['filled_otherwise']:.0%} others")
    if evidence.get("capture_set_auc") is not None:
        parts.append(f"at-capture columns together {evidence['capture_set_auc']:.2f}")
    return ", ".join(parts)
