"""Reasons in words: the lead's own values, honest about what is unknown, strongest first, right direction."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.catalogue import feature_spec
from leadscore.scorers.model.reasons import SEPARATOR, phrase_missing, phrase_reasons, pick_reasons

SPEC = [
    {"name": "n_pricing_views_30d", "kind": "numeric", "story": "pricing_interest"},
    {"name": "n_pricing_views_90d", "kind": "numeric", "story": "pricing_interest"},
    {"name": "employees", "kind": "numeric", "story": "company_size"},
    {"name": "days_since_last_activity", "kind": "numeric", "story": "recency"},
    {"name": "industry", "kind": "categorical", "story": "industry", "categories": ["finance", "software"]},
    {"name": "has_cdo", "kind": "flag", "story": "digital_maturity"},
    {"name": "n_demo_requests_30d", "kind": "numeric", "story": "demo_interest"},
]


def _features(**columns: list) -> pd.DataFrame:
    base = {
        "n_pricing_views_30d": [4.0, 0.0], "n_pricing_views_90d": [6.0, 1.0], "employees": [320.0, np.nan],
        "days_since_last_activity": [41.0, np.nan], "industry": ["software", "fintech"], "has_cdo": [1.0, 0.0],
        "n_demo_requests_30d": [1.0, 0.0],
    }
    base.update(columns)
    frame = pd.DataFrame(base)
    frame["industry"] = frame["industry"].astype("str")
    return frame


def test_reasons_use_the_lead_s_own_values_strongest_first_in_both_directions() -> None:
    values = np.zeros((2, len(SPEC)))
    # lead 0: pricing (30d speaks) +1.0, company size +0.5, demo +0.2, CDO +0.05; silence -0.7, industry -0.1
    values[0] = [0.8, 0.2, 0.5, -0.7, -0.1, 0.05, 0.2]
    reasons = phrase_reasons(_features(), values, SPEC)
    positive = reasons.loc[0, "reasons_positive"].split("; ")
    assert positive == ["4 pricing-page visits in the last 30 days", "Company size 320 employees",
                        "1 demo request in the last 30 days"]
    assert reasons.loc[0, "reasons_negative"].split("; ") == ["No activity for 41 days", "Industry: software"]
    assert reasons.loc[0, "reasons"] == (
        "up: 4 pricing-page visits in the last 30 days; Company size 320 employees; "
        "1 demo request in the last 30 days | down: No activity for 41 days; Industry: software"
    )


def test_the_combined_reasons_never_start_like_a_spreadsheet_formula() -> None:
    values = np.zeros((3, len(SPEC)))
    values[0] = [0.8, 0.2, 0.5, -0.7, -0.1, 0.05, 0.2]  # both directions
    values[1] = [0.0, 0.0, -0.4, -0.3, -0.2, 0.0, 0.0]  # only against
    features = pd.concat([_features(), _features().iloc[[0]]], ignore_index=True)
    reasons = phrase_reasons(features, values, SPEC)["reasons"].tolist()
    assert reasons[0].startswith("up: 4 pricing-page visits") and " | down: No activity for 41 days" in reasons[0]
    assert reasons[1] == "down: Company size unknown; No activity yet; Industry: fintech (new value, not seen in training)"
    assert reasons[2] == ""
    assert not any(text.startswith(("=", "+", "-", "@")) for text in reasons)


def test_missing_and_unseen_values_are_said_plainly() -> None:
    values = np.zeros((2, len(SPEC)))
    values[1] = [0.0, 0.0, -0.4, -0.3, -0.2, 0.3, 0.0]
    reasons = phrase_reasons(_features(), values, SPEC)
    assert reasons.loc[1, "reasons_negative"].split("; ") == [
        "Company size unknown", "No activity yet", "Industry: fintech (new value, not seen in training)",
    ]
    assert reasons.loc[1, "reasons_positive"] == "Has a Chief Digital Officer: no"


def test_a_lead_without_effects_beyond_the_threshold_gets_empty_reasons_not_noise() -> None:
    values = np.zeros((2, len(SPEC)))
    values[0, 0] = 0.004  # below MIN_EFFECT
    reasons = phrase_reasons(_features(), values, SPEC)
    assert reasons["reasons_positive"].tolist() == ["", ""]
    assert reasons["reasons"].tolist() == ["", ""]


def test_pick_reasons_returns_at_most_three_per_direction_and_marks_the_rest_absent() -> None:
    sums = np.array([[0.5, -0.2, 0.9, 0.3, 0.02, -1.0, 0.0]])
    up, down = pick_reasons(sums, n_reasons=3, min_effect=0.01)
    assert up.tolist() == [[2, 0, 3]]
    assert down.tolist() == [[5, 1, -1]]


def test_missing_phrases_follow_the_catalogue_templates() -> None:
    assert phrase_missing(feature_spec("employees")) == "Company size unknown"
    assert phrase_missing(feature_spec("annual_revenue_usd")) == "Annual revenue unknown"
    assert phrase_missing(feature_spec("industry")) == "Industry: unknown"
    assert phrase_missing(feature_spec("days_since_last_high_intent")) == "No high-intent action yet"
    # templates that start with the value fall back to the description
    assert phrase_missing(feature_spec("n_pricing_views_30d")) == "Pricing-page views in the last 30 days: unknown"
    assert phrase_missing(feature_spec("channel")) == "Acquisition channel of the lead: unknown"


def test_many_leads_get_their_phrases_joined_exactly_as_a_few_do() -> None:
    from leadscore.scorers.model.reasons import _directions_arrow, _joined_arrow, join_directions

    rng = np.random.default_rng(5)
    words = np.full((3000, 3), None, dtype=object)
    present = rng.integers(0, 4, 3000)  # 0-3 phrases per lead, absent ones always last
    for k in range(3):
        words[present > k, k] = [f"phrase {k}; ×{i}" for i in range(int((present > k).sum()))]
    up_list = [SEPARATOR.join(w for w in row if w is not None) for row in words.tolist()]
    down_list = up_list[::-1]
    up = _joined_arrow([words[:, k] for k in range(3)])
    assert up.to_pylist() == up_list
    assert _directions_arrow(up, pa.array(down_list)).to_pylist() == join_directions(up_list, down_list)
