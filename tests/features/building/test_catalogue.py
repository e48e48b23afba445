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
    assert phrase(spec, float("nan")).endswith(": unknown")


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
    assert agree_number("1 known technologies in use") == "1 known technology in use"
    assert agree_number("1 branches") == "1 branch"
    # Other counts, and ones inside larger numbers, stay as written.
    assert agree_number("11 days in the current stage") == "11 days in the current stage"
    assert agree_number("Company size 1,000 employees") == "Company size 1,000 employees"
    assert agree_number("+1.0 activities this week") == "+1.0 activities this week"


def test_category_codes_are_phrased_as_words() -> None:
    from leadscore.features.building.catalogue import feature_spec, phrase

    assert phrase(feature_spec("seniority"), "individual_contributor") == "Seniority: individual contributor"
