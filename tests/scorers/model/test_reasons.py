"""Reasons in words: the lead's own values, honest about what is unknown, strongest first, right direction,
and only what a person can act on (no value the model never saw, no calendar without a cause, each phrase once)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.catalogue import feature_spec, phrase_missing
from leadscore.scorers.model.reasons import SEPARATOR, phrase_reasons, pick_reasons

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
    assert reasons.loc[0, "reasons_negative"].split("; ") == ["Last active 41 days ago", "Industry: software"]
    assert reasons.loc[0, "reasons"] == (
        "up: 4 pricing-page visits in the last 30 days; Company size 320 employees; "
        "1 demo request in the last 30 days | down: Last active 41 days ago; Industry: software"
    )


def test_the_combined_reasons_never_start_like_a_spreadsheet_formula() -> None:
    values = np.zeros((3, len(SPEC)))
    values[0] = [0.8, 0.2, 0.5, -0.7, -0.1, 0.05, 0.2]  # both directions
    values[1] = [0.0, 0.0, -0.4, -0.3, -0.2, 0.0, 0.0]  # only against
    features = pd.concat([_features(), _features().iloc[[0]]], ignore_index=True)
    reasons = phrase_reasons(features, values, SPEC)["reasons"].tolist()
    assert reasons[0].startswith("up: 4 pricing-page visits") and " | down: Last active 41 days ago" in reasons[0]
    assert reasons[1] == "down: Company size: not given; No activity yet"
    assert reasons[2] == ""
    assert not any(text.startswith(("=", "+", "-", "@")) for text in reasons)


def test_missing_values_are_said_plainly_and_a_value_never_seen_in_training_is_no_reason() -> None:
    values = np.zeros((2, len(SPEC)))
    values[1] = [0.0, 0.0, -0.4, -0.3, -0.2, 0.3, -0.05]
    reasons = phrase_reasons(_features(), values, SPEC)
    # "fintech" is not among the model's industries: its push is no reason, the next story speaks instead
    assert reasons.loc[1, "reasons_negative"].split("; ") == [
        "Company size: not given", "No activity yet", "No demo requests in the last 30 days",
    ]
    assert reasons.loc[1, "reasons_positive"] == "Has a Chief Digital Officer: no"
    assert "fintech" not in reasons.loc[1, "reasons"] and "not seen" not in reasons.loc[1, "reasons"]


def test_a_missing_value_is_no_reason_when_training_never_had_one() -> None:
    spec = [dict(f, seen_missing=False) if f["name"] == "employees" else f for f in SPEC]
    values = np.zeros((2, len(SPEC)))
    values[1] = [0.0, 0.0, -0.4, -0.3, 0.0, 0.0, 0.0]
    reasons = phrase_reasons(_features(), values, spec)
    assert reasons.loc[1, "reasons_negative"] == "No activity yet"
    # a model that does not record it keeps missing values as reasons
    assert phrase_reasons(_features(), values, SPEC).loc[1, "reasons_negative"].startswith("Company size: not given")


def test_a_calendar_feature_is_a_reason_only_with_the_cause_the_model_states() -> None:
    spec = [*SPEC, {"name": "capture_month", "kind": "categorical", "story": "capture_timing",
                    "categories": ["June", "July"]}]
    features = _features().assign(capture_month=pd.array(["June", "July"], dtype="str"))
    values = np.zeros((2, len(spec)))
    values[:, -1] = [0.9, -0.9]
    values[:, 0] = [0.1, 0.0]
    without = phrase_reasons(features, values, spec)
    assert without["reasons_positive"].tolist() == ["4 pricing-page visits in the last 30 days", ""]
    assert not without["reasons"].str.contains("Captured").any()
    spec[-1] = dict(spec[-1], calendar_cause="Budgets are set in June and July.")
    caused = phrase_reasons(features, values, spec)
    assert caused.loc[0, "reasons_positive"].startswith("Captured in June")
    assert caused.loc[1, "reasons_negative"] == "Captured in July"
    assert values[0, -1] == 0.9  # the model's contributions themselves are left alone


def test_one_missing_source_is_said_once_not_once_per_feature() -> None:
    spec = [{"name": n, "kind": "categorical", "story": n, "categories": ["vp", "finance", "cfo"]}
            for n in ("seniority", "department", "job_title")]
    features = pd.DataFrame({n: pd.array([None, "vp"], dtype="str") for n in ("seniority", "department", "job_title")})
    values = np.array([[0.3, 0.2, 0.1], [0.0, 0.0, 0.0]])
    reasons = phrase_reasons(features, values, spec)
    assert reasons.loc[0, "reasons_positive"] == "Job title: not given"
    # the same phrase pushing both ways is said once, in the stronger direction
    values = np.array([[0.3, -0.5, 0.1], [0.0, 0.0, 0.0]])
    reasons = phrase_reasons(features, values, spec)
    assert (reasons.loc[0, "reasons_positive"], reasons.loc[0, "reasons_negative"]) == ("", "Job title: not given")


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


def test_missing_phrases_read_alike_not_given() -> None:
    assert phrase_missing(feature_spec("employees")) == "Company size: not given"
    assert phrase_missing(feature_spec("employees_band")) == "Company size: not given"
    assert phrase_missing(feature_spec("industry")) == "Industry: not given"
    assert phrase_missing(feature_spec("department")) == "Job title: not given"
    assert phrase_missing(feature_spec("days_since_last_high_intent")) == "No high-intent action yet"
    assert phrase_missing(feature_spec("n_pricing_views_30d")) == "Activity history: not given"
    assert phrase_missing(feature_spec("channel")) == "Channel: not given"


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
