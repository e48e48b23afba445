"""The feature catalogue: well-formed entries that serving can phrase."""

from __future__ import annotations

import dataclasses
import re

import pytest

import leadscore.features.building.catalogue as catalogue
from leadscore.features.building.catalogue import (
    CATALOGUE,
    GROUPS,
    catalogue_hash,
    feature_names,
    feature_spec,
    phrase,
    phrase_missing,
)


def test_catalogue_names_are_unique_and_in_order() -> None:
    names = feature_names()
    assert len(names) == len(set(names))
    assert names == [s.name for s in CATALOGUE]
    assert 60 <= len(names) <= 110


def test_catalogue_entries_use_closed_vocabularies() -> None:
    for spec in CATALOGUE:
        assert spec.group in GROUPS, spec.name
        assert spec.kind in ("numeric", "categorical", "flag"), spec.name
        assert spec.description.endswith("."), spec.name
        assert re.fullmatch(r"[a-z][a-z0-9_]*", spec.story), spec.name
        assert "{value" in spec.template, spec.name


def test_catalogue_names_follow_house_naming() -> None:
    for spec in CATALOGUE:
        windowed = re.search(r"_(\d+)d$", spec.name)
        if windowed:
            assert f"last {windowed.group(1)} days" in spec.description or "weekly" in spec.description
        if spec.kind == "flag":
            assert re.match(r"(is|has|account_had)_", spec.name), spec.name
    assert not {"lead_id", "account_id", "email_domain", "opportunity_id"} & set(feature_names())


@pytest.mark.parametrize("spec", CATALOGUE, ids=lambda s: s.name)
def test_every_template_phrases_a_typical_value(spec: catalogue.FeatureSpec) -> None:
    value = {"numeric": 0.25, "categorical": "enterprise", "flag": 1.0}[spec.kind]
    text = phrase(spec, value)
    assert "{" not in text and text
    assert phrase(spec, float("nan")) == phrase_missing(spec)


def test_phrase_reads_flags_as_yes_or_no() -> None:
    spec = feature_spec("is_unsubscribed")
    assert phrase(spec, 1.0) == "Unsubscribed from e-mail: yes"
    assert phrase(spec, 0.0) == "Unsubscribed from e-mail: no"
    assert phrase(feature_spec("n_pricing_views_30d"), 3.0) == "3 pricing-page visits in the last 30 days"


def test_catalogue_hash_changes_with_meaning_not_wording(monkeypatch: pytest.MonkeyPatch) -> None:
    before = catalogue_hash()
    assert re.fullmatch(r"[0-9a-f]{16}", before)
    reworded = tuple(dataclasses.replace(s, template=s.template + "!") for s in CATALOGUE)
    monkeypatch.setattr(catalogue, "CATALOGUE", reworded)
    assert catalogue_hash() == before
    redefined = (dataclasses.replace(CATALOGUE[0], description="Something else."),) + CATALOGUE[1:]
    monkeypatch.setattr(catalogue, "CATALOGUE", redefined)
    assert catalogue_hash() != before


def test_a_count_of_one_reads_in_the_singular() -> None:
    from leadscore.features.building.catalogue import agree_number

    assert agree_number("1 pricing-page visits in the last 30 days") == "1 pricing-page visit in the last 30 days"
    assert agree_number("No activity for 1 days") == "No activity for 1 day"
    assert agree_number("1 careers-page visits in the last 90 days") == "1 careers-page visit in the last 90 days"
    assert agree_number("1 known technologies in use") == "1 known technology in use"
    assert agree_number("1 branches") == "1 branch"
    # Other counts, and ones inside larger numbers, stay as written.
    assert agree_number("11 days in the current stage") == "11 days in the current stage"
    assert agree_number("Company size 1,000 employees") == "Company size 1,000 employees"
    assert agree_number("+1.0 activities this week") == "+1.0 activities this week"


def test_category_codes_are_phrased_as_words() -> None:
    from leadscore.features.building.catalogue import feature_spec, phrase

    assert phrase(feature_spec("seniority"), "individual_contributor") == "Seniority: individual contributor"


# Every value a built-in feature can take, as the builder writes it (vocabularies from where they are made).
def _values_of(spec: catalogue.FeatureSpec) -> list[object]:
    from leadscore.features.building.persona import DEPARTMENTS, SENIORITIES
    from leadscore.features.building.profile import EMPLOYEE_BANDS, MONTHS, WEEKDAYS
    from leadscore.features.contract import (
        BUSINESS_MODELS,
        COMPANY_STAGES,
        DIGITAL_TRANSFORMATION,
        FUNNEL_ORDER,
        LEAD_CHANNELS,
        REGIONS,
        STAGES,
    )

    categories = {
        "employees_band": [label for _, label in EMPLOYEE_BANDS] + ["5,000+"],
        "industry": ["software", "professional_services", "other"], "region": list(REGIONS),
        "country": ["US", "IL", "other"], "business_model": list(BUSINESS_MODELS),
        "company_stage": list(COMPANY_STAGES), "digital_transformation": list(DIGITAL_TRANSFORMATION),
        "seniority": list(SENIORITIES), "department": list(DEPARTMENTS),
        "job_title": ["head of finance", "vp, finance", "other"], "channel": list(LEAD_CHANNELS),
        "campaign": ["li_retarget_pricing", "other"], "capture_weekday": list(WEEKDAYS), "capture_month": list(MONTHS),
        "current_stage": [s for s in STAGES if s not in ("WON", "LOST", "DISQUALIFIED")],
        "highest_stage": [s for s in FUNNEL_ORDER if s not in ("SQO", "WON")],
    }
    if spec.kind == "flag":
        return [0.0, 1.0, None]
    if spec.kind == "categorical":
        return [*categories[spec.name], None]
    if spec.name.endswith("_rate"):
        return [0.0, 0.001, 0.25, 1.0, None]
    negative = [-0.04, -1.5] if spec.name == "activity_trend_7d" else []
    return [0.0, 0.3, 0.6, 1.0, 1.2, 2.0, 17.0, 1234.0, *negative, float("nan")]


def _every_phrase() -> list[tuple[str, object, str]]:
    return [(spec.name, value, phrase(spec, value)) for spec in CATALOGUE for value in _values_of(spec)]


def test_every_phrase_the_catalogue_can_produce_reads_as_a_person_would_say_it() -> None:
    odd = []
    for name, value, text in _every_phrase():
        problems = [
            bool(re.search(r"[{}_]|\bnan\b|\bNone\b|unknown|as_of|new value|not seen", text)),  # code leaking through
            bool(re.search(r"(?<![\d.,])0(\.0)? (days?|times?|[a-z-]+s)\b|\bfor 0\b|^0 |\b0%", text)),  # zero said as a count
            bool(re.search(r"(?<![\d.,])1 (days|times|activities|visits|views|e-mails|colleagues|branches)\b", text)),
            bool(re.search(r"(?<![\d,])-\d", text)),  # a negative count
            not text[:1].isupper() and not text[:1].isdigit(),
        ]
        if any(problems):
            odd.append(f"{name}={value!r}: {text!r}")
    assert not odd, "\n".join(odd)


def test_missing_values_read_alike() -> None:
    meanings = {"No activity yet", "No high-intent action yet", "Never opened an e-mail", "No nurture e-mails sent yet"}
    for spec in CATALOGUE:
        text = phrase(spec, None)
        assert text.endswith(": not given") or text in meanings, (spec.name, text)
    # features with one source say it the same way, so a lead's reasons can say it once
    assert {phrase(feature_spec(n), None) for n in ("seniority", "department", "job_title")} == {"Job title: not given"}
    assert phrase(feature_spec("department"), "none") == "Department: not given"


def test_zero_and_today_read_as_a_person_says_them() -> None:
    assert phrase(feature_spec("lead_age_days"), 0.2) == "Captured today"
    assert phrase(feature_spec("days_since_last_activity"), 0.0) == "Active today"
    assert phrase(feature_spec("days_since_last_high_intent"), 0.4) == "High-intent action today"
    assert phrase(feature_spec("n_emails_sent_to_date"), 0.0) == "No nurture e-mails received"
    assert phrase(feature_spec("n_active_days_90d"), 0.0) == "Not active in the last 90 days"
    assert phrase(feature_spec("n_recycles"), 0.0) == "Never recycled to marketing"
    assert phrase(feature_spec("activity_trend_7d"), -1.5) == (
        "1.5 fewer activities this week than the weekly average of the month before")


def test_only_the_capture_calendar_is_marked_calendar() -> None:
    assert {spec.name for spec in CATALOGUE if spec.calendar} == {"capture_month", "capture_weekday"}
