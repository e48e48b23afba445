"""Occupation answers in the job title field, and the job title itself as a feature.

Forms ask "what is your current occupation?" and exports put the answer where a title goes: it says who the
lead is, not a rank or a department, so it keeps its own seniority (department "none" unless a function word
says otherwise). The built-in ``job_title`` feature keeps the title itself (trimmed, lower case) when common.
"""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.catalogue import feature_spec
from leadscore.features.building.persona import OCCUPATIONS, SENIOR_LEVELS, SENIORITIES, parse_job_titles
from leadscore.features.tables import contract_frame, make_tables
from leadscore.scorers.rules import parse_rules, score_rules

T = pd.Timestamp("2025-01-01T00:00:00Z")


@pytest.mark.parametrize(
    ("title", "seniority"),
    [
        ("Working Professional", "working_professional"),
        ("working professional", "working_professional"),
        ("Unemployed", "unemployed"),
        ("Looking for a job", "unemployed"),
        ("Housewife", "homemaker"),
        ("Homemaker", "homemaker"),
        ("Housewife/Homemaker", "homemaker"),
        ("Self-employed", "self_employed"),
        ("Self Employed", "self_employed"),
        ("Freelancer", "self_employed"),
        ("Retired", "retired"),
        ("Pensioner", "retired"),
    ],
)
def test_occupation_answers_get_their_own_seniority_and_no_department(title: str, seniority: str) -> None:
    parsed = parse_job_titles(pd.Series([title]))
    assert (parsed.loc[0, "seniority"], parsed.loc[0, "department"]) == (seniority, "none")


def test_a_function_word_beside_an_occupation_still_names_the_department() -> None:
    parsed = parse_job_titles(pd.Series(["Retired CFO", "Freelance Developer", "Working professional in marketing"]))
    assert parsed["seniority"].tolist() == ["retired", "self_employed", "working_professional"]
    assert parsed["department"].tolist() == ["finance", "it", "marketing"]


def test_occupations_are_in_the_vocabulary_and_never_senior() -> None:
    assert set(OCCUPATIONS) <= set(SENIORITIES)
    assert not set(OCCUPATIONS) & set(SENIOR_LEVELS)


def test_titles_that_are_ranks_are_not_taken_for_occupations() -> None:
    parsed = parse_job_titles(pd.Series(["Professional Services Manager", "Student", "Employee Relations Manager"]))
    assert parsed["seniority"].tolist() == ["manager", "student_intern", "manager"]


def test_rules_can_give_points_to_an_occupation_answer() -> None:
    config = parse_rules({
        "version": 1, "name": "occupation points", "decay": {"half_life_days": None},
        "grades": {"hot": 70, "warm": 40}, "stages": {"mql": 60, "sql": 70}, "mel": {"email": None, "visits": None},
        "fit": {"professional": {"label": "Working professional", "points": 20,
                                 "when": {"seniority_in": ["working_professional"]}}},
    })
    leads = contract_frame("leads", {"lead_id": ["a", "b"], "captured_at": [T, T],
                                     "job_title": ["Working Professional", "Unemployed"]})
    scored = score_rules(make_tables({"leads": leads}, data_end=T), pd.DataFrame({"lead_id": ["a", "b"], "as_of": [T, T]}),
                         config)
    assert scored["rule_score"].tolist() == [20.0, 0.0]


def test_the_job_title_feature_is_the_normalised_title_when_common_and_other_when_rare() -> None:
    titles = (["Working Professional"] * 20 + [" working   professional "] * 15 + ["Unemployed"] * 31
              + ["Chief Llama Officer"] + [None] * 3)
    n = len(titles)
    leads = contract_frame("leads", {"lead_id": [f"L{i}" for i in range(n)], "captured_at": [T] * n, "job_title": titles})
    tables = make_tables({"leads": leads}, data_end=T + pd.Timedelta(days=30))
    rows = [0, 20, 35, 66, 67]
    built = build_features(tables, pd.DataFrame({"lead_id": [f"L{i}" for i in rows], "as_of": [T] * len(rows)}))
    assert built["job_title"].tolist()[:4] == ["working professional", "working professional", "unemployed", "other"]
    assert pd.isna(built["job_title"].iloc[4])
    assert built["seniority"].tolist()[:3] == ["working_professional", "working_professional", "unemployed"]
    assert built["department"].tolist()[:3] == ["none", "none", "none"]


def test_the_job_title_feature_is_described_in_the_catalogue_as_a_persona_category() -> None:
    spec = feature_spec("job_title")
    assert (spec.group, spec.kind) == ("persona", "categorical")
    assert spec.template.format(value="working professional") == "Job title: working professional"


def test_titles_are_respelled_once_per_distinct_title_as_each_would_be_alone() -> None:
    import pyarrow as pa

    from leadscore.features.building.profile import normalize_titles

    def spelled(titles: list) -> list:
        codes, spellings = normalize_titles(pa.array(titles, type=pa.string()))
        return [spellings[c] if c >= 0 else None for c in codes]

    titles = ["  Head of  Sales", None, "CTO", " ", "head of sales", "Ünïcode\tTitle", "", "CTO "] * 50
    expected = ["head of sales", None, "cto", None, "head of sales", "ünïcode title", None, "cto"] * 50
    assert spelled(titles) == expected
    assert [spelled([title])[0] for title in titles[:8]] == expected[:8]
