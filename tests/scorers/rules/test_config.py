"""Rules YAML: the shipped default matches rules.md, and every mistake is one error naming its key path."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from leadscore.features.errors import LeadscoreError
from leadscore.scorers.rules import DEFAULT_RULES_PATH, load_rules, parse_rules
from leadscore.scorers.rules.config import AllOf, FieldTest


def _minimal(**sections: object) -> dict:
    return {"mel": None, **sections}


def test_shipped_default_loads_and_carries_the_rules_md_points() -> None:
    config = load_rules()
    fit = {rule_id: rule.points for rule_id, rule in config.fit.items()}
    behaviour = {rule_id: rule.points for rule_id, rule in config.behaviour.items()}
    # Security-software example: job role 30 / 20 / 10, company size 30 / 20.
    assert (fit["role_technical_decision_maker"], fit["role_senior_influencer"], fit["role_other_influencer"]) == (30, 20, 10)
    assert (fit["company_over_1000_employees"], fit["company_200_to_1000_employees"]) == (30, 20)
    # Behaviour points of the practitioner sources.
    assert behaviour["home_page_visit"] == 1
    assert behaviour["product_page_visit"] == 5
    assert behaviour["content_download"] == 10
    assert behaviour["contact_form"] == 20
    assert behaviour["demo_request"] == 25
    # Decay, thresholds (SQL 70 after the worked example's review), MEL rule.
    assert config.decay.half_life_days == 30
    assert (config.stages.mql, config.stages.sql) == (60, 70)
    assert config.grades.hot > config.grades.warm
    assert config.mel is not None and config.mel.email is not None and config.mel.visits is not None
    assert (config.mel.email.first_steps, config.mel.email.later_steps) == ([1, 2], [3, 4, 5])
    assert config.mel.email.min_open_rate == 0.4 and config.mel.email.min_opens == 2
    assert config.mel.visits.min_distinct_days == 3
    assert set(config.mel.visits.page_types) == {"product", "pricing", "contact"}
    # Every negative point kind the issue lists is present and below zero.
    assert set(config.negative) >= {"free_mail_domain", "student_or_intern", "unsubscribed", "competitor_domain"}
    assert all(rule.points < 0 for rule in config.negative.values())


def test_default_file_is_commented_for_a_marketer() -> None:
    text = DEFAULT_RULES_PATH.read_text(encoding="utf-8")
    comment_lines = [line for line in text.splitlines() if line.lstrip().startswith("#")]
    assert len(comment_lines) >= 40
    assert "half_life_days" in text and "between" in text


def test_points_that_are_not_a_number_name_the_key_path() -> None:
    raw = _minimal(behaviour={"demo_request": {"points": "lots", "event": {"event_type": "demo_request"}}})
    with pytest.raises(LeadscoreError) as info:
        parse_rules(raw, "rules.yaml")
    assert str(info.value) == "rules.yaml: behaviour.demo_request.points: must be a number."


def test_unknown_key_names_its_path_and_suggests_the_close_one() -> None:
    raw = _minimal(behaviour={"demo_request": {"points": 25, "evnt": {"event_type": "demo_request"}}})
    with pytest.raises(LeadscoreError, match=r"behaviour\.demo_request\.evnt: unknown key 'evnt' \(did you mean 'event'\?\)"):
        parse_rules(raw)


def test_unknown_top_level_section_is_an_error() -> None:
    with pytest.raises(LeadscoreError, match=r"rules\.yaml: behavior: unknown key 'behavior' \(did you mean 'behaviour'\?\)"):
        parse_rules(_minimal(behavior={}))


def test_unknown_event_type_names_the_path_and_lists_the_known_ones() -> None:
    raw = _minimal(behaviour={"demo": {"points": 25, "event": {"event_type": "demo_requested"}}})
    with pytest.raises(LeadscoreError, match=r"behaviour\.demo\.event\.event_type\[0\]: unknown event type 'demo_requested'.*demo_request"):
        parse_rules(raw)


def test_unknown_page_type_is_an_error() -> None:
    raw = _minimal(behaviour={"pricing": {"points": 10, "event": {"event_type": "page_view", "page_type": "prices"}}})
    with pytest.raises(LeadscoreError, match=r"behaviour\.pricing\.event\.page_type\[0\]: unknown page type 'prices'"):
        parse_rules(raw)


def test_page_type_on_an_event_without_pages_is_an_error() -> None:
    raw = _minimal(behaviour={"x": {"points": 1, "event": {"event_type": "email_open", "page_type": "home"}}})
    with pytest.raises(LeadscoreError, match=r"behaviour\.x\.event: page_type applies only to page_view and form_submit"):
        parse_rules(raw)


def test_bad_operator_names_the_path_and_the_allowed_ones() -> None:
    raw = _minimal(fit={"big": {"points": 30, "when": {"employees": {"more_than": 1000}}}})
    with pytest.raises(LeadscoreError, match=r"fit\.big\.when\.employees\.more_than: unknown operator 'more_than'.*greater_than"):
        parse_rules(raw)


def test_text_operator_on_a_number_field_is_an_error() -> None:
    raw = _minimal(fit={"big": {"points": 30, "when": {"employees": {"contains_any": ["1000"]}}}})
    with pytest.raises(LeadscoreError, match=r"fit\.big\.when\.employees\.contains_any: unknown operator"):
        parse_rules(raw)


def test_unknown_field_in_a_condition_is_an_error() -> None:
    raw = _minimal(fit={"big": {"points": 30, "when": {"employee_count": {"greater_than": 1000}}}})
    with pytest.raises(LeadscoreError, match=r"fit\.big\.when\.employee_count: unknown condition or field .*'employees'"):
        parse_rules(raw)


def test_nested_condition_errors_carry_the_full_path() -> None:
    raw = _minimal(fit={"role": {"points": 30, "when": {"any_of": [{"department_in": ["it"]}, {"seniority_in": ["boss"]}]}}})
    with pytest.raises(LeadscoreError, match=r"fit\.role\.when\.any_of\[1\]\.seniority_in\[0\]: unknown seniority 'boss'"):
        parse_rules(raw)


def test_closed_vocabulary_field_values_are_checked() -> None:
    raw = _minimal(fit={"paid": {"points": 5, "when": {"channel": {"in": ["linkedn"]}}}})
    with pytest.raises(LeadscoreError, match=r"fit\.paid\.when\.channel\.in\[0\]: unknown channel value 'linkedn'"):
        parse_rules(raw)


def test_between_needs_low_below_high() -> None:
    raw = _minimal(fit={"mid": {"points": 20, "when": {"employees": {"between": [1000, 200]}}}})
    with pytest.raises(LeadscoreError, match=r"fit\.mid\.when\.employees\.between: low 1000 must be below high 200"):
        parse_rules(raw)


def test_negative_rule_needs_points_below_zero_and_one_kind() -> None:
    with pytest.raises(LeadscoreError, match=r"negative\.gmail\.points: must be less than 0"):
        parse_rules(_minimal(negative={"gmail": {"points": 10, "when": {"free_mail": True}}}))
    with pytest.raises(LeadscoreError, match=r"negative\.gmail: needs exactly one of `when`"):
        parse_rules(_minimal(negative={"gmail": {"points": -10}}))


def test_bad_repeat_mode_lists_the_modes() -> None:
    raw = _minimal(behaviour={"x": {"points": 1, "repeat": "always", "event": {"event_type": "page_view"}}})
    with pytest.raises(LeadscoreError, match=r"behaviour\.x\.repeat: unknown repeat mode 'always'; known: once, per_occurrence, per_day"):
        parse_rules(raw)


def test_thresholds_out_of_order_are_errors() -> None:
    with pytest.raises(LeadscoreError, match=r"grades: warm \(80\) must be below hot \(70\)"):
        parse_rules(_minimal(grades={"hot": 70, "warm": 80}))
    with pytest.raises(LeadscoreError, match=r"stages: sql \(50\) must not be below mql \(60\)"):
        parse_rules(_minimal(stages={"mql": 60, "sql": 50}))


def test_a_rule_name_used_in_two_sections_is_an_error() -> None:
    raw = _minimal(
        fit={"x": {"points": 1, "when": {"free_mail": False}}},
        negative={"x": {"points": -1, "when": {"free_mail": True}}},
    )
    with pytest.raises(LeadscoreError, match=r"negative\.x: the name is already used in fit"):
        parse_rules(raw)


def test_several_problems_report_the_first_and_count_the_rest() -> None:
    raw = _minimal(behaviour={
        "a": {"points": "x", "event": {"event_type": "page_view"}},
        "b": {"points": "y", "event": {"event_type": "page_view"}},
    })
    with pytest.raises(LeadscoreError, match=r"behaviour\.a\.points: must be a number \(and 1 more problem\)"):
        parse_rules(raw)


def test_conditions_compile_to_the_closed_vocabulary() -> None:
    config = parse_rules(_minimal(fit={"mid": {"points": 20, "when": {"employees": {"greater_or_equal": 200, "less_or_equal": 1000}}}}))
    assert config.fit["mid"].when == AllOf((FieldTest("employees", "greater_or_equal", 200.0), FieldTest("employees", "less_or_equal", 1000.0)))


def test_load_rules_names_the_file_in_every_error(tmp_path: Path) -> None:
    path = tmp_path / "my-rules.yaml"
    path.write_text(yaml.safe_dump({"behaviour": {"demo_request": {"points": "x", "event": {"event_type": "demo_request"}}}}))
    with pytest.raises(LeadscoreError, match=rf"^{path}: behaviour\.demo_request\.points: must be a number\.$"):
        load_rules(path)


def test_a_key_given_twice_in_yaml_is_an_error_not_a_silent_override(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("stages:\n  mql: 60\n  mql: 50\n")
    with pytest.raises(LeadscoreError, match=r"not valid YAML at line 3.*'mql' appears twice"):
        load_rules(path)


def test_broken_yaml_and_missing_file_are_clear_errors(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("fit: [unclosed\n")
    with pytest.raises(LeadscoreError, match=r"rules\.yaml: not valid YAML at line"):
        load_rules(path)
    with pytest.raises(LeadscoreError, match=r"nope\.yaml: rules file not found"):
        load_rules(tmp_path / "nope.yaml")
    path.write_text("- just\n- a list\n")
    with pytest.raises(LeadscoreError, match=r"must hold a mapping"):
        load_rules(path)


def test_yaml_is_never_evaluated_as_code(tmp_path: Path) -> None:
    path = tmp_path / "rules.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(LeadscoreError, match=r"not valid YAML"):
        load_rules(path)
