"""What the leakage audit costs on flat exports: columns left out, honest columns lost, AUC at capture.

Run ``python bench/own_export_audit.py`` (about 10 minutes on 2 cores). For each generated flat export
shape (``leadscore generate --shape``) and seed, and for the UCI bank file read through
``docs/bank-marketing/mapping.yaml``, it reads the export through its mapping file as a user would,
builds the SQO training set with the leakage audit, fits and evaluates both model kinds with the shipped
training configuration (no refit: the figures are the held-out evaluation's), and prints:

- which of the export's own columns were left out, with their verdicts;
- how many honest columns (known at capture, per the generator) were left out, and whether any planted
  post-contact column was kept;
- AUC and ECE at capture on the test window's leads for the kind that serves, the kind that does not
  and the rules;
- the same for a logistic regression on the honest columns alone (numbers in deciles, categories one-hot,
  placeholders as no answer), fitted on every lead captured before the test window and scored on the
  same test leads at capture: the careful baseline the served model must come within 0.02 of.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
BANK = ROOT.parent / "shared" / "data" / "uci-bank-marketing" / "bank-additional-full.csv"
BANK_DOCS = ROOT / "docs" / "bank-marketing"
BANK_POST_CONTACT = ("duration", "month", "day_of_week")
BANK_NOT_FEATURES = ("contact_id", "contacted_at", "y")
MIN_CATEGORY_ROWS = 10


def honest_baseline(raw, id_column: str, honest: list[str], split_rows, ece_bins: int) -> tuple[float, float, int]:
    """AUC and ECE at capture on the test leads of a logistic regression on ``honest`` columns of ``raw``."""
    import numpy as np
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    from leadscore.features.reading.coerce import as_text
    from leadscore.features.reading.own_columns import without_placeholders
    from leadscore.scorers.ranking import expected_calibration_error, roc_auc

    rows = split_rows[split_rows["offset_days"] == 0].drop_duplicates("lead_id")
    train = rows[rows["window"] != "test"]
    test = rows[rows["window"] == "test"]
    table = raw.assign(**{id_column: as_text(raw[id_column])}).set_index(id_column)
    parts = []
    for column in honest:
        text = without_placeholders(as_text(table[column]))
        numbers = pd.to_numeric(text, errors="coerce")
        if numbers.notna().sum() >= 0.98 * text.notna().sum() and text.notna().any():
            known = numbers.loc[train["lead_id"]].dropna()
            edges = np.unique(np.quantile(known, np.linspace(0, 1, 11)[1:-1])) if len(known) else np.array([])
            group = pd.Series(np.where(numbers.isna(), "(none)",
                                       np.searchsorted(edges, numbers.fillna(0), side="right").astype(str)),
                              index=table.index)
        else:
            counts = text.loc[train["lead_id"]].value_counts()
            common = set(counts[counts >= MIN_CATEGORY_ROWS].index)
            group = text.where(text.isin(common), "(rare)").where(text.notna(), "(none)").astype(str)
        parts.append(pd.get_dummies(group.rename(column), prefix=column, dtype=float))
    matrix = pd.concat(parts, axis=1)
    model = LogisticRegression(C=1.0, max_iter=5000).fit(matrix.loc[train["lead_id"]].to_numpy(),
                                                         train["label"].to_numpy())
    p = model.predict_proba(matrix.loc[test["lead_id"]].to_numpy())[:, 1]
    label = test["label"].to_numpy()
    return roc_auc(label, p), expected_calibration_error(label, p, ece_bins), len(test)


def measure(name: str, folder: Path, mapping: Path, raw_file: str, honest: list[str], post_contact: list[str]) -> dict:
    """Read, audit, fit and evaluate one export; compare with the honest-columns baseline."""
    import pandas as pd

    from leadscore.features.reading.mapping import load_mapping
    from leadscore.features.reading.validation import load_tables
    from leadscore.training.config import load_config
    from leadscore.training.pipeline import fit_models, model_features, prepare_training_data

    tables = load_tables(folder, mapping)
    config = load_config(None)
    config = config.model_copy(update={
        "model": config.model.model_copy(update={"refit": False}),
        "evaluation": config.evaluation.model_copy(update={"n_bootstrap": 50}),
    })
    data = prepare_training_data(tables, "sqo", config)
    _, hash_ = model_features(tables, config)
    trained = fit_models(data.split_rows, data.features, "sqo", data.horizon_days, config, data.split_summary, hash_,
                         tables.data_end)
    audit = data.audit.table
    own = audit[audit["origin"] == "export"]
    left_out = own[~own["used"]]
    excluded = sorted(tables.column_notes["leads"].excluded)
    used_columns = {c.removesuffix(" (export)") for c in own.loc[own["used"], "column"]}
    candidates = {c.column.removesuffix(" (export)"): c for c in tables.own_columns}
    honest_lost = [c for c in honest if c in candidates and candidates[c].used and c not in used_columns]
    not_candidates = {c: candidates[c].why if c in candidates else "read as a contract column" for c in honest
                      if c not in candidates or not candidates[c].used}
    mapped = load_mapping(mapping).table("leads").columns
    id_column = next(source for source, target in mapped.items() if target == "lead_id")
    raw = pd.read_csv(folder / raw_file, dtype=str, keep_default_na=False)
    baseline = honest_baseline(raw, id_column, [c for c in honest if c in raw.columns], data.split_rows,
                               config.evaluation.ece_bins)
    kept = [c for c in honest if c in raw.columns and c not in honest_lost]
    kept_baseline = honest_baseline(raw, id_column, kept, data.split_rows, config.evaluation.ece_bins) \
        if honest_lost else None
    metrics = trained.metrics
    other = next(k for k in metrics.index if k not in ("model", "rules"))
    return {
        "export": name,
        "served": trained.serving_kind,
        "left_out": {r.column: r.verdict for r in left_out.itertuples()},
        "excluded_by_mapping": excluded,
        "honest_lost": honest_lost,
        "honest_not_candidates": not_candidates,
        "post_contact_kept": [c for c in post_contact if c in used_columns],
        "model": (metrics.loc["model", "roc_auc"], metrics.loc["model", "ece"]),
        "other": (other, metrics.loc[other, "roc_auc"], metrics.loc[other, "ece"]),
        "rules": (metrics.loc["rules", "roc_auc"], metrics.loc["rules", "ece"]) if "rules" in metrics.index else None,
        "baseline": baseline,
        "kept_baseline": kept_baseline,
    }


def report(result: dict) -> str:
    served_auc, served_ece = result["model"]
    other, other_auc, other_ece = result["other"]
    base_auc, base_ece, n_test = result["baseline"]
    lines = [f"== {result['export']}",
             "  left out by the audit: " + (", ".join(f"{c} ({v})" for c, v in result["left_out"].items()) or "none")]
    if result["excluded_by_mapping"]:
        lines.append(f"  excluded in the mapping file: {', '.join(result['excluded_by_mapping'])}")
    lines += [
        f"  honest columns left out: {len(result['honest_lost'])} {result['honest_lost'] or ''}"
        + (f" (not own-column features at all: {result['honest_not_candidates']})" if result["honest_not_candidates"] else ""),
        f"  post-contact columns kept: {result['post_contact_kept'] or 'none'}",
        f"  at capture on {n_test:,} test leads: served {result['served']} AUC {served_auc:.3f} ECE {served_ece:.3f}; "
        f"{other} AUC {other_auc:.3f} ECE {other_ece:.3f}"
        + (f"; rules AUC {result['rules'][0]:.3f} ECE {result['rules'][1]:.3f}" if result["rules"] else ""),
        f"  honest-columns logistic regression: AUC {base_auc:.3f} ECE {base_ece:.3f}; served - baseline "
        f"{served_auc - base_auc:+.3f} ({'ok' if served_auc >= base_auc - 0.02 else 'MORE THAN 0.02 BELOW'})",
    ]
    if result["kept_baseline"] is not None:
        kept_auc, kept_ece, _ = result["kept_baseline"]
        lines.append(f"  the same on the honest columns the audit kept: AUC {kept_auc:.3f} ECE {kept_ece:.3f}")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=["hubspot", "converted", "deals", "edtech"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1, 2, 3])
    parser.add_argument("--leads", type=int, default=8000)
    parser.add_argument("--bank", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the UCI bank file (default on)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    from leadscore.features.synthetic.flat import make_flat_export

    with tempfile.TemporaryDirectory() as tmp:
        for shape in args.shapes:
            for seed in args.seeds:
                export = make_flat_export(args.leads, seed, shape)
                folder = export.write(Path(tmp) / f"{shape}-{seed}")
                raw_file = next(iter(export.files))
                print(report(measure(f"{shape} seed {seed} ({args.leads:,} leads)", folder, folder / "mapping.yaml",
                                     raw_file, list(export.honest), list(export.post_contact))), flush=True)
        if args.bank and BANK.exists():
            import runpy

            folder = Path(tmp) / "bank"
            runpy.run_path(str(BANK_DOCS / "add_ids_and_dates.py"))["add_ids_and_dates"](BANK, folder / "contacts.csv")
            (folder / "mapping.yaml").write_text((BANK_DOCS / "mapping.yaml").read_text())
            import pandas as pd

            columns = pd.read_csv(folder / "contacts.csv", nrows=1).columns
            honest = [c for c in columns if c not in BANK_POST_CONTACT + BANK_NOT_FEATURES]
            print(report(measure("UCI bank marketing (docs/bank-marketing/mapping.yaml)", folder, folder / "mapping.yaml",
                                 "contacts.csv", honest, list(BANK_POST_CONTACT))), flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
