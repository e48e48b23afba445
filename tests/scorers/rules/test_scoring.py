"""Rule points on tiny exports: the sources' worked examples, decay, MEL, caps, repeats, point in time."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.features.tables import Tables, make_tables
from leadscore.scorers.rules import load_rules, parse_rules, score_rules

AS_OF = pd.Timestamp("2024-06-30T12:00:00", tz="UTC")
DAY = pd.Timedelta(days=1)


def _tables(leads: list[dict], accounts: list[dict] | None = None, events: list[tuple] | None = None) -> Tables:
    """A typed export from plain rows; events are (lead_id, occurred_at, event_type, page_type, email_step)."""
    lead_frame = pd.DataFrame(
        [{"account_id": None, "captured_at": AS_OF - 90 * DAY, "job_title": None, "email_domain": None, **row} for row in leads]
    )
    for column in ("lead_id", "account_id", "job_title", "email_domain"):
        lead_frame[column] = lead_frame[column].astype("str")
    frames = {"leads": lead_frame}
    if accounts is not None:
        account_frame = pd.DataFrame(accounts)
        account_frame["account_id"] = account_frame["account_id"].astype("str")
        frames["accounts"] = account_frame
    if events is not None:
        rows = [(e + (None, None))[:5] for e in events]
        event_frame = pd.DataFrame(rows, columns=["lead_id", "occurred_at", "event_type", "page_type", "email_step"])
        event_frame = event_frame.astype({"lead_id": "str", "event_type": "str", "page_type": "str", "email_step": "float64"})
        event_frame["occurred_at"] = pd.to_datetime(event_frame["occurred_at"], utc=True)
        frames["events"] = event_frame
    return make_tables(frames, data_end=AS_OF)


def _spine(lead_ids: list[str], as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": lead_ids, "as_of": [as_of] * len(lead_ids)})


def _score(tables: Tables, config=None, as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    ids = tables.leads["lead_id"].tolist()
    return score_rules(tables, _spine(ids, as_of), config or load_rules()).set_index("lead_id")


def _rules(**sections) -> object:
    return parse_rules({"mel": None, **sections})


# ------------------------------------------------------------------ the sources' examples
def test_it_security_manager_at_1500_employee_company_with_demo_request_scores_85_hot_sql() -> None:
    tables = _tables(
        [{"lead_id": "L1", "account_id": "A1", "job_title": "IT Security Manager", "email_domain": "acme.com"}],
        [{"account_id": "A1", "employees": 1500.0}],
        [("L1", AS_OF, "demo_request")],
    )
    row = _score(tables).loc["L1"]
    assert row["rule_score"] == 85.0  # 30 role + 30 size + 25 demo request (rules.md)
    assert (row["rule_grade"], row["rule_stage"]) == ("hot", "SQL")
    assert row["rule_reasons"] == "IT/security decision maker +30; Company >1,000 employees +30; Demo request +25"


def test_marketing_intern_at_small_company_reading_a_blog_post_scores_low() -> None:
    config = load_rules()
    tables = _tables(
        [{"lead_id": "L1", "account_id": "A1", "job_title": "Marketing Intern", "email_domain": "smallco.io"}],
        [{"account_id": "A1", "employees": 50.0}],
        [("L1", AS_OF - 2 * DAY, "page_view", "blog")],
    )
    row = _score(tables, config).loc["L1"]
    assert row["rule_score"] < config.grades.warm
    assert (row["rule_grade"], row["rule_stage"]) == ("cold", "MCL")
    assert "Student or intern -20" in row["rule_reasons"]


def test_behaviour_points_halve_after_one_half_life() -> None:
    tables = _tables(
        [{"lead_id": "now"}, {"lead_id": "one_half_life"}, {"lead_id": "two_half_lives"}],
        events=[("now", AS_OF, "demo_request"), ("one_half_life", AS_OF - 30 * DAY, "demo_request"),
                ("two_half_lives", AS_OF - 60 * DAY, "demo_request")],
    )
    out = _score(tables)
    assert out.loc["now", "rule_score"] == 25.0
    assert out.loc["one_half_life", "rule_score"] == 12.5
    assert out.loc["two_half_lives", "rule_score"] == pytest.approx(6.25, abs=0.05)
    assert out.loc["one_half_life", "rule_reasons"] == "Demo request +12.5"


def test_fit_points_never_decay() -> None:
    tables = _tables(
        [{"lead_id": "L1", "account_id": "A1", "job_title": "Director of IT"}], [{"account_id": "A1", "employees": 500.0}]
    )
    now = _score(tables).loc["L1", "rule_score"]
    a_year_later = _score(tables, as_of=AS_OF + 365 * DAY).loc["L1", "rule_score"]
    assert now == a_year_later == 50.0  # 30 role + 20 size


def test_an_event_after_as_of_does_not_count_and_one_exactly_at_as_of_does() -> None:
    tables = _tables(
        [{"lead_id": "at"}, {"lead_id": "after"}],
        events=[("at", AS_OF, "demo_request"), ("after", AS_OF + pd.Timedelta(seconds=1), "demo_request")],
    )
    out = _score(tables)
    assert out.loc["at", "rule_score"] == 25.0
    assert out.loc["after", "rule_score"] == 0.0
    assert out.loc["after", "rule_reasons"] == ""


# ------------------------------------------------------------------ MEL rule (five-e-mail sequence)
def _emails(lead: str, sent: list[int], opened: list[int], clicked: list[int]) -> list[tuple]:
    events = [(lead, AS_OF - (40 - step) * DAY, "email_sent", None, step) for step in sent]
    events += [(lead, AS_OF - (39 - step) * DAY, "email_open", None, step) for step in opened]
    events += [(lead, AS_OF - (39 - step) * DAY, "email_click", None, step) for step in clicked]
    return events


def test_mel_email_branch_holds_after_opening_an_early_and_a_late_email() -> None:
    tables = _tables([{"lead_id": "L1"}], events=_emails("L1", [1, 2, 3, 4, 5], opened=[1, 3], clicked=[3]))
    row = _score(tables).loc["L1"]
    assert row["rule_score"] < 60
    assert row["rule_stage"] == "MEL"  # 2 of 5 opened (40%), both halves of the sequence, a click


def test_mel_email_near_misses_stay_mcl() -> None:
    tables = _tables(
        [{"lead_id": "early_only"}, {"lead_id": "late_only"}, {"lead_id": "one_open"}, {"lead_id": "no_click"}],
        events=[
            *_emails("early_only", [1, 2, 3, 4, 5], opened=[1, 2], clicked=[1]),
            *_emails("late_only", [1, 2, 3, 4, 5], opened=[3, 4], clicked=[3]),
            *_emails("one_open", [1, 2], opened=[1], clicked=[1]),
            *_emails("no_click", [1, 2, 3, 4, 5], opened=[1, 3], clicked=[]),
        ],
    )
    out = _score(tables)
    assert out["rule_stage"].to_dict() == {"early_only": "MCL", "late_only": "MCL", "one_open": "MCL", "no_click": "MCL"}


def test_mel_open_rate_below_the_threshold_fails() -> None:
    base = {"email": {"first_steps": [1, 2], "later_steps": [3, 4, 5, 6, 7, 8], "min_click_rate": 0.0}, "visits": None}
    config = parse_rules({"mel": base})
    tables = _tables(
        [{"lead_id": "three_of_eight"}, {"lead_id": "four_of_eight"}],
        events=[*_emails("three_of_eight", list(range(1, 9)), opened=[1, 3, 4], clicked=[]),
                *_emails("four_of_eight", list(range(1, 9)), opened=[1, 3, 4, 5], clicked=[])],
    )
    out = _score(tables, config)
    assert out.loc["three_of_eight", "rule_stage"] == "MCL"  # 37.5% < 40%
    assert out.loc["four_of_eight", "rule_stage"] == "MEL"  # 50%


def test_mel_click_rate_condition_is_configurable() -> None:
    tables = _tables([{"lead_id": "L1"}], events=_emails("L1", [1, 2, 3, 4, 5], opened=[1, 3], clicked=[]))
    strict = load_rules()
    lenient = parse_rules({"mel": {"email": {"min_click_rate": 0.0}, "visits": None}})
    assert _score(tables, strict).loc["L1", "rule_stage"] == "MCL"
    assert _score(tables, lenient).loc["L1", "rule_stage"] == "MEL"


def test_mel_visits_branch_needs_three_separate_days_on_relevant_pages() -> None:
    tables = _tables(
        [{"lead_id": "three_days"}, {"lead_id": "one_day_three_times"}, {"lead_id": "blog_days"}, {"lead_id": "third_after_as_of"}],
        events=[
            ("three_days", AS_OF - 20 * DAY, "page_view", "product"),
            ("three_days", AS_OF - 15 * DAY, "page_view", "pricing"),
            ("three_days", AS_OF - 10 * DAY, "form_submit", "contact"),
            *[("one_day_three_times", AS_OF - 5 * DAY + k * pd.Timedelta(minutes=5), "page_view", "pricing") for k in range(3)],
            *[("blog_days", AS_OF - k * DAY, "page_view", "blog") for k in (1, 2, 3)],
            ("third_after_as_of", AS_OF - 3 * DAY, "page_view", "product"),
            ("third_after_as_of", AS_OF - 2 * DAY, "page_view", "product"),
            ("third_after_as_of", AS_OF + 1 * DAY, "page_view", "product"),
        ],
    )
    out = _score(tables)
    assert out.loc["three_days", "rule_stage"] == "MEL"
    assert out.loc["one_day_three_times", "rule_stage"] == "MCL"
    assert out.loc["blog_days", "rule_stage"] == "MCL"
    assert out.loc["third_after_as_of", "rule_stage"] == "MCL"


def test_score_thresholds_outrank_the_mel_rule() -> None:
    tables = _tables(
        [{"lead_id": "L1", "account_id": "A1", "job_title": "VP Engineering"}],
        [{"account_id": "A1", "employees": 5000.0}],
        [("L1", AS_OF - k * DAY, "page_view", "pricing") for k in (1, 2, 3)],
    )
    row = _score(tables).loc["L1"]
    assert row["rule_score"] >= 70 and row["rule_stage"] == "SQL"


# ------------------------------------------------------------------ caps, repeat modes, windows, groups
def _event_rule(repeat: str, **extra) -> dict:
    return {"points": 5, "event": {"event_type": "page_view", "page_type": "product", **extra.pop("event", {})},
            "repeat": repeat, **extra}


def _visits_on_two_days() -> Tables:
    first_day = AS_OF.normalize() - 3 * DAY
    return _tables(
        [{"lead_id": "L1"}],
        events=[("L1", first_day + pd.Timedelta(hours=h), "page_view", "product") for h in (9, 10, 11)]
        + [("L1", first_day + DAY + pd.Timedelta(hours=9), "page_view", "product")],
    )


@pytest.mark.parametrize(("repeat", "expected"), [("once", 5.0), ("per_occurrence", 20.0), ("per_day", 10.0)])
def test_repeat_modes_count_once_every_event_or_every_day(repeat: str, expected: float) -> None:
    config = _rules(decay={"half_life_days": None}, behaviour={"product": _event_rule(repeat)})
    assert _score(_visits_on_two_days(), config).loc["L1", "rule_score"] == expected


def test_cap_limits_a_rule_total() -> None:
    config = _rules(decay={"half_life_days": None}, behaviour={"product": _event_rule("per_occurrence", cap=12)})
    row = _score(_visits_on_two_days(), config).loc["L1"]
    assert row["rule_score"] == 12.0
    assert row["rule_reasons"] == "Product ×4 +12"


def test_cap_applies_after_decay() -> None:
    tables = _tables([{"lead_id": "L1"}], events=[("L1", AS_OF - 30 * DAY, "page_view", "product")] * 4)
    config = _rules(behaviour={"product": _event_rule("per_occurrence", cap=12)})
    assert _score(tables, config).loc["L1", "rule_score"] == 10.0  # 4 × 5 × 0.5 = 10 < cap 12


def test_min_count_and_within_days_gate_a_rule() -> None:
    config = _rules(
        decay={"half_life_days": None},
        behaviour={"pricing_3x_in_week": {"points": 15, "event": {"event_type": "page_view", "page_type": "pricing",
                                                                   "within_days": 7, "min_count": 3}}},
    )
    tables = _tables(
        [{"lead_id": "three_in_week"}, {"lead_id": "two_in_week"}],
        events=[*[("three_in_week", AS_OF - k * DAY, "page_view", "pricing") for k in (0, 3, 7)],
                *[("two_in_week", AS_OF - k * DAY, "page_view", "pricing") for k in (1, 2, 8)]],
    )
    out = _score(tables, config)
    assert out.loc["three_in_week", "rule_score"] == 15.0
    assert out.loc["two_in_week", "rule_score"] == 0.0


def test_a_group_keeps_only_its_best_scoring_rule() -> None:
    config = _rules(fit={
        "it_staff": {"points": 10, "group": "role", "when": {"department_in": ["it"]}},
        "it_manager": {"points": 30, "group": "role", "when": {"department_in": ["it"], "seniority_in": ["manager"]}},
        "any_title": {"points": 1, "when": {"job_title": {"is_missing": False}}},
    })
    tables = _tables([{"lead_id": "manager", "job_title": "IT Manager"}, {"lead_id": "engineer", "job_title": "Network Engineer"}])
    out = _score(tables, config)
    assert out.loc["manager", "rule_score"] == 31.0
    assert out.loc["engineer", "rule_score"] == 11.0


def test_unsubscribe_without_decay_keeps_its_full_penalty() -> None:
    tables = _tables([{"lead_id": "L1"}], events=[("L1", AS_OF - 300 * DAY, "unsubscribe")])
    row = _score(tables).loc["L1"]
    assert row["rule_score"] == -20.0 and row["rule_reasons"] == "Unsubscribed -20"


# ------------------------------------------------------------------ condition semantics
def test_between_includes_low_and_excludes_high_and_missing_never_matches() -> None:
    config = _rules(fit={"mid": {"points": 20, "when": {"employees": {"between": [200, 1000]}}}})
    sizes = {"at_low": 200.0, "below": 199.0, "at_high": 1000.0, "unknown": np.nan}
    tables = _tables(
        [{"lead_id": name, "account_id": name} for name in sizes],
        [{"account_id": name, "employees": size} for name, size in sizes.items()],
    )
    assert _score(tables, config)["rule_score"].to_dict() == {"at_low": 20.0, "below": 0.0, "at_high": 0.0, "unknown": 0.0}


def test_text_conditions_ignore_case_and_spaces() -> None:
    config = _rules(fit={
        "icp": {"points": 10, "when": {"industry": {"in": ["Software"]}}},
        "security_word": {"points": 3, "when": {"title_contains_any": ["SECURITY"]}},
    })
    tables = _tables(
        [{"lead_id": "L1", "account_id": "A1", "job_title": "head of cyber-security"}, {"lead_id": "L2", "account_id": "A2"}],
        [{"account_id": "A1", "industry": " software "}, {"account_id": "A2", "industry": "Retail"}],
    )
    assert _score(tables, config)["rule_score"].to_dict() == {"L1": 13.0, "L2": 0.0}


def test_not_any_of_is_missing_and_bool_conditions() -> None:
    config = _rules(fit={
        "no_industry": {"points": 1, "when": {"industry": {"is_missing": True}}},
        "public_or_cdo": {"points": 10, "when": {"any_of": [{"is_public": {"equals": True}}, {"has_cdo": {"equals": True}}]}},
        "not_free_mail": {"points": 100, "when": {"not": {"free_mail": True}}},
    })
    tables = _tables(
        [{"lead_id": "public", "account_id": "A1", "email_domain": "gmail.com"},
         {"lead_id": "cdo", "account_id": "A2", "email_domain": "acme.com"},
         {"lead_id": "neither", "account_id": "A3", "email_domain": "hotmail.co.uk"}],
        [{"account_id": "A1", "industry": "retail", "is_public": True, "has_cdo": False},
         {"account_id": "A2", "industry": None, "is_public": None, "has_cdo": True},
         {"account_id": "A3", "industry": "retail", "is_public": False, "has_cdo": None}],
    )
    tables.accounts["is_public"] = tables.accounts["is_public"].astype("boolean")
    tables.accounts["has_cdo"] = tables.accounts["has_cdo"].astype("boolean")
    assert _score(tables, config)["rule_score"].to_dict() == {"public": 10.0, "cdo": 111.0, "neither": 0.0}


# ------------------------------------------------------------------ spine, unknown leads, behaviour tests
def test_unknown_leads_and_leads_not_yet_captured_get_no_score() -> None:
    tables = _tables([{"lead_id": "L1"}, {"lead_id": "late", "captured_at": AS_OF + DAY}])
    out = score_rules(tables, _spine(["L1", "ghost", "late"]), load_rules())
    assert out["rule_score"].isna().tolist() == [False, True, True]
    assert out["rule_stage"].isna().tolist() == [False, True, True]
    assert out.loc[0, "rule_stage"] == "MCL"


def test_output_keeps_spine_order_and_scores_each_row_at_its_own_as_of() -> None:
    tables = _tables([{"lead_id": "L1"}, {"lead_id": "L2"}], events=[("L1", AS_OF - 10 * DAY, "demo_request")])
    spine = pd.DataFrame({"lead_id": ["L2", "L1", "L1"], "as_of": [AS_OF, AS_OF, AS_OF - 20 * DAY]})
    out = score_rules(tables, spine, load_rules())
    assert list(out.columns) == ["lead_id", "as_of", "rule_score", "rule_grade", "rule_stage", "rule_reasons"]
    assert out["lead_id"].tolist() == ["L2", "L1", "L1"]
    assert out["as_of"].tolist() == spine["as_of"].tolist()
    assert out["rule_score"].tolist()[0] == 0.0 and out["rule_score"].tolist()[2] == 0.0
    assert out["rule_score"].tolist()[1] == pytest.approx(25 * 0.5 ** (10 / 30), abs=0.05)


def test_reasons_list_the_largest_points_first_with_repeat_counts() -> None:
    tables = _tables(
        [{"lead_id": "L1", "email_domain": "gmail.com"}],
        events=[("L1", AS_OF - k * DAY, "page_view", "product") for k in (0, 1, 2)] + [("L1", AS_OF, "demo_request")],
    )
    reasons = _score(tables).loc["L1", "rule_reasons"]
    assert reasons.split("; ")[0] == "Demo request +25"
    assert "Free-mail address -10" in reasons
    assert any(part.startswith("Product page visit ×3 +") for part in reasons.split("; "))


def _random_export(seed: int, n_leads: int = 40) -> Tables:
    rng = np.random.default_rng(seed)
    titles = ["CIO", "IT Manager", "Marketing Intern", "VP Sales", "Analyst", None]
    leads = [{"lead_id": f"L{i}", "account_id": f"A{i % 7}", "job_title": titles[i % len(titles)],
              "email_domain": ["acme.com", "gmail.com"][i % 2]} for i in range(n_leads)]
    accounts = [{"account_id": f"A{k}", "employees": float(rng.integers(10, 5000))} for k in range(7)]
    kinds = [("page_view", "product"), ("page_view", "pricing"), ("email_open", None), ("demo_request", None),
             ("content_download", None), ("form_submit", "contact")]
    events = []
    for _ in range(300):
        kind = kinds[rng.integers(len(kinds))]
        step = float(rng.integers(1, 6)) if kind[0] == "email_open" else None
        events.append((f"L{rng.integers(n_leads)}", AS_OF - float(rng.uniform(0, 120)) * DAY, kind[0], kind[1], step))
    return _tables(leads, accounts, events)


def test_renaming_leads_does_not_change_their_scores() -> None:
    tables = _random_export(seed=3)
    before = _score(tables)
    renamed = {f"L{i}": f"renamed-{i}" for i in range(40)}
    tables.leads["lead_id"] = tables.leads["lead_id"].map(renamed)
    tables.events["lead_id"] = tables.events["lead_id"].map(renamed)
    after = _score(tables).rename(index={v: k for k, v in renamed.items()})
    pd.testing.assert_frame_equal(before, after.loc[before.index])


def test_another_pricing_page_visit_never_lowers_the_score() -> None:
    tables = _random_export(seed=5)
    before = _score(tables)["rule_score"]
    extra = pd.DataFrame({"lead_id": tables.leads["lead_id"], "occurred_at": AS_OF - 3 * DAY,
                          "event_type": "page_view", "page_type": "pricing"})
    more = make_tables({**{"leads": tables.leads, "accounts": tables.accounts},
                        "events": pd.concat([tables.events, extra.astype({"lead_id": "str", "event_type": "str", "page_type": "str"})],
                                            ignore_index=True)}, data_end=AS_OF)
    after = _score(more)["rule_score"]
    assert (after >= before).all()
    assert (after > before).any()


def test_an_export_without_events_or_accounts_still_scores_fit() -> None:
    tables = _tables([{"lead_id": "L1", "job_title": "Chief Information Security Officer"}])
    row = _score(tables).loc["L1"]
    assert row["rule_score"] == 20.0 and row["rule_stage"] == "MCL"


def test_an_event_without_a_time_never_counts() -> None:
    tables = _tables([{"lead_id": "L1"}], events=[("L1", AS_OF, "page_view", "home"), ("L1", AS_OF - DAY, "demo_request")])
    tables.events.loc[0, "occurred_at"] = pd.NaT
    row = _score(tables).loc["L1"]
    assert row["rule_reasons"] == "Demo request +24.4"


def test_an_empty_export_gives_null_rows_not_an_error() -> None:
    tables = make_tables({"leads": _tables([{"lead_id": "L1"}]).leads.iloc[:0]}, data_end=AS_OF)
    out = score_rules(tables, _spine(["L1"]), load_rules())
    assert len(out) == 1 and out["rule_score"].isna().all()
    assert score_rules(tables, _spine([]), load_rules()).empty
