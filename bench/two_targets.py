"""Both targets at capture on exports nobody tuned to: the kind that serves, the kind left out, the rules.

Run ``python bench/two_targets.py`` (about 5 minutes on 2 cores with the defaults). For each generated flat
export shape (``leadscore generate --shape``) and the UCI bank file (read through
``docs/bank-marketing/mapping.yaml``), it reads the export through its mapping file as a user would,
trains the SQO and the WON model with the shipped configuration (no refit: the figures are the held-out
evaluation's) and prints, per target, the served kind and every method's AUC and ECE at capture on the
test window (the kind not served, the rules, a base rate or the ranking floor where training shows one).
It then scores the WON model's test window at capture as the batch scorer does (p_sqo from the SQO model,
``p_win = p_sqo x q``) and counts open leads whose p_win exceeds their p_sqo (0 by construction).
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from own_export_audit import flat_and_bank_exports


def train(tables, target: str, config):
    from leadscore.training.pipeline import fit_models, model_features, prepare_training_data

    data = prepare_training_data(tables, target, config)
    _, hash_ = model_features(tables, config)
    return fit_models(data.split, data.features, target, data.horizon_days, config, hash_, tables.data_end,
                      labelled=data.labelled, sqo_horizon_days=data.sqo_horizon_days)


def p_win_above_p_sqo(sqo, won) -> tuple[int, int]:
    """Open test leads (WON's test window, at capture) whose p_win exceeds p_sqo, and how many were compared."""
    from leadscore.scorers.model.answer import feature_frame, probability

    rows = won.scored_features
    rows = rows[rows["offset_days"] == 0]
    at_sqo = rows["at_sqo"].to_numpy(dtype=bool) if "at_sqo" in rows else np.zeros(len(rows), dtype=bool)
    rows = rows[~at_sqo]
    p_sqo = probability(sqo.model, feature_frame(sqo.model, rows))
    p_win = probability(won.model, feature_frame(won.model, rows), p_sqo=p_sqo,
                        at_sqo=np.zeros(len(rows), dtype=bool))
    return int((p_win > p_sqo + 1e-12).sum()), len(rows)


def served_words(trained) -> str:
    """The served kind; for a chain, q's kind and its SQO link's."""
    sqo_link = trained.stages.get("sqo")
    if sqo_link is None or "q" not in trained.stages:
        return f"served {trained.serving_kind}"
    return f"served p_sqo ({sqo_link.kind}) x q ({trained.serving_kind})"


def line(target: str, trained, gates) -> str:
    from leadscore.training.registry import apply_gates

    metrics = trained.metrics
    parts = [f"{served_words(trained) if name == 'model' else name} AUC {row.roc_auc:.3f} ECE {row.ece:.3f}"
             for name, row in metrics.iterrows()]
    decision = apply_gates(metrics, gates)
    verdict = "gates passed" if not decision.failures else "FAILED: " + "; ".join(decision.failures)
    return (f"  {target.upper()} at capture: " + "; ".join(parts) + f"\n    {verdict}\n"
            f"    model that serves: {trained.serving_reason}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shapes", nargs="*", default=["hubspot", "converted", "deals", "edtech"])
    parser.add_argument("--seeds", nargs="*", type=int, default=[1])
    parser.add_argument("--leads", type=int, default=8000)
    parser.add_argument("--bank", action=argparse.BooleanOptionalAction, default=True,
                        help="also measure the UCI bank file (default on)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR, stream=sys.stderr)

    from leadscore.features.errors import LeadscoreError
    from leadscore.features.reading.validation import load_tables
    from leadscore.training.config import load_config

    config = load_config(None)
    config = config.model_copy(update={
        "model": config.model.model_copy(update={"refit": False}),
        "evaluation": config.evaluation.model_copy(update={"n_bootstrap": 50}),
    })
    with tempfile.TemporaryDirectory() as tmp:
        for name, folder, mapping, *_ in flat_and_bank_exports(Path(tmp), args.shapes, args.seeds, args.leads, args.bank):
            print(f"== {name}", flush=True)
            tables = load_tables(folder, mapping)
            trained = {}
            for target in ("sqo", "won"):
                try:
                    trained[target] = train(tables, target, config)
                except LeadscoreError as error:
                    print(f"  {target.upper()}: not trained: {error}", flush=True)
                    continue
                print(line(target, trained[target], config.gates), flush=True)
                for words in trained[target].chain_lines:
                    print(f"    {words}", flush=True)
            if len(trained) == 2:
                above, compared = p_win_above_p_sqo(trained["sqo"], trained["won"])
                print(f"  p_win above p_sqo: {above} of {compared:,} open test leads at capture", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
