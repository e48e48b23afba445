"""top_leads: the highest p_sqo among scored rows only, never a lead that could not be scored."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.serving.score import top_leads


def test_top_leads_ranks_scored_rows_by_p_sqo_and_skips_unscored_ones() -> None:
    scores = pd.DataFrame(
        {
            "lead_id": ["a", "b", "c", "d"],
            "p_sqo": [0.2, np.nan, 0.9, 0.5],
            "status": ["ok", "unknown lead_id", "ok", "ok"],
        }
    )
    assert top_leads(scores, 2)["lead_id"].tolist() == ["c", "d"]
    assert list(top_leads(scores, 5, ["lead_id"]).columns) == ["lead_id"]
    assert "b" not in top_leads(scores, 10)["lead_id"].tolist()


def test_the_demos_call_list_and_the_reports_best_leads_break_ties_alike_by_lead_id() -> None:
    from leadscore.serving.report.scores_summary import pick_top_leads

    scores = pd.DataFrame({"lead_id": ["z", "m", "a", "k"], "p_sqo": [0.4, 0.4, 0.4, 0.7], "score": [40, 40, 40, 70],
                           "status": ["ok"] * 4})
    assert top_leads(scores, 3)["lead_id"].tolist() == ["k", "a", "m"]
    assert pick_top_leads(scores, 3)["lead_id"].tolist() == ["k", "a", "m"]
