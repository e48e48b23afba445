"""How much a perfect model could rank on the demo world, at capture: the ceiling the WON gate is judged under.

Run ``python bench/demo_truth.py [demo-workspace/data]`` after ``make demo`` (seconds). The demo generator
writes each lead's true chances at capture (``_truth/reference_snapshots.parquet``: ``p_sqo_true``,
``p_won_true``). On the leads whose WON horizon is over (all of them, and the newest 20% by capture: the
test window's share), it prints the WON label's AUC when ranked by the true p_win and by the true p_sqo, and
among leads reaching SQO within its horizon the AUC of the true q = p_win / p_sqo on winning. When ranking
by p_sqo alone comes within a few thousandths of the true p_win, no WON model can beat a p_sqo-like ranking
(the rules') by more than noise there, however good its q.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

SQO_DAYS, WON_DAYS = 90, 180


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data", nargs="?", default="demo-workspace/data", type=Path)
    args = parser.parse_args()
    from leadscore.scorers.ranking import roc_auc

    truth = pd.read_parquet(args.data / "_truth" / "reference_snapshots.parquet")
    history = pd.read_parquet(args.data / "stage_history.parquet")
    first = {stage: history[history["stage"].isin(stages)].groupby("lead_id")["entered_at"].min()
             for stage, stages in (("won", ["WON"]), ("sqo", ["SQO", "WON"]))}
    end = history["entered_at"].max()
    rows = truth[truth["p_sqo_true"].notna() & (truth["as_of"] + pd.Timedelta(days=WON_DAYS) <= end)].copy()

    def within(stage: str, days: int) -> pd.Series:
        at = rows["lead_id"].map(first[stage])
        return ((at > rows["as_of"]) & (at <= rows["as_of"] + pd.Timedelta(days=days))).astype(int)

    rows["won"], rows["sqo"] = within("won", WON_DAYS), within("sqo", SQO_DAYS)
    rows = rows.sort_values("as_of")
    for name, part in (("every lead", rows), ("the newest 20%", rows.tail(len(rows) // 5))):
        reached = part[part["sqo"] == 1]
        q_auc = roc_auc(reached["won"].to_numpy(), (reached["p_won_true"] / reached["p_sqo_true"]).to_numpy())
        print(f"{name}: {len(part):,} leads, {int(part['won'].sum())} wins within {WON_DAYS} days; WON AUC by the "
              f"true p_win {roc_auc(part['won'].to_numpy(), part['p_won_true'].to_numpy()):.3f}, by the true p_sqo "
              f"{roc_auc(part['won'].to_numpy(), part['p_sqo_true'].to_numpy()):.3f}; among the {len(reached):,} "
              f"reaching SQO within {SQO_DAYS} days ({int(reached['won'].sum())} wins), the true q's AUC {q_auc:.3f}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
