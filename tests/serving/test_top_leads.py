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
