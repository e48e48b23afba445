"""Features from the export's own columns: values per spine row, accounts through the lead, scoring exports that
differ from training (a column missing, untyped, an unseen value), and their words in reasons."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.features.building.builder import build_features
from leadscore.features.building.catalogue import CATALOGUE
from leadscore.features.building.own import own_feature_spec, own_feature_specs
from leadscore.features.reading.own_columns import OwnColumn, describe_own_columns, type_own_columns
from leadscore.features.tables import contract_frame, make_tables
from leadscore.scorers.model.encoding import encode_features
from leadscore.scorers.model.reasons import phrase_reasons

T0 = pd.Timestamp("2025-01-01T00:00:00Z")
DAY = pd.Timedelta(days=1)
AS_OF = T0 + 100 * DAY


def training_leads(n: int = 80) -> pd.DataFrame:
    """``n`` leads captured on day 0 with a category, a number, a yes/no and an account."""
    leads = contract_frame("leads", {
        "lead_id": [f"L{i}" for i in range(n)],
        "captured_at": [T0] * n,
        "account_id": [("A1" if i % 2 else "A2") if i % 5 else None for i in range(n)],
    })
    leads["Lead Source"] = pd.Series(["Reference" if i < n // 2 else "Google" for i in range(n)], dtype="str")
    leads["TotalVisits"] = pd.Series([float(i % 7) if i % 9 else np.nan for i in range(n)], dtype="float64")
    leads["Do Not Email"] = pd.Series([None if i == 3 else bool(i % 2) for i in range(n)], dtype="boolean")
    return leads


def accounts_frame() -> pd.DataFrame:
    accounts = contract_frame("accounts", {"account_id": ["A1", "A2", "A3"]})
    accounts["Seats"] = pd.Series([12.0, 300.0, 5.0], dtype="float64")
    return accounts


def tables_of(leads: pd.DataFrame, accounts: pd.DataFrame | None = None):
    """The export as reading leaves it: own columns described, and the usable ones typed."""
    frames = {"leads": leads.copy()} if accounts is None else {"leads": leads.copy(), "accounts": accounts.copy()}
    own = describe_own_columns(frames, {})
    assert type_own_columns(frames, own, None) == []
    return make_tables(frames, data_end=T0 + 400 * DAY, own_columns=tuple(own))


def spine_of(lead_ids: list[str], as_of: pd.Timestamp = AS_OF) -> pd.DataFrame:
    return pd.DataFrame({"lead_id": lead_ids, "as_of": pd.Series([as_of] * len(lead_ids), dtype="datetime64[ns, UTC]")})


def test_own_features_follow_the_catalogue_with_each_leads_value() -> None:
    tables = tables_of(training_leads(), accounts_frame())
    specs = own_feature_specs(tables)
    assert [s["name"] for s in specs] == ["own_lead_source", "own_totalvisits", "own_do_not_email", "own_account_seats"]
    built = build_features(tables, spine_of(["L1", "L3", "L9", "L52", "L5"]))
    assert list(built.columns) == ["lead_id", "as_of", *(s.name for s in CATALOGUE), *(s["name"] for s in specs)]
    assert built["own_lead_source"].tolist() == ["Reference", "Reference", "Reference", "Google", "Reference"]
    np.testing.assert_array_equal(built["own_totalvisits"].to_numpy(), [1.0, 3.0, np.nan, 3.0, 5.0])
    np.testing.assert_array_equal(built["own_do_not_email"].to_numpy(), [1.0, np.nan, 1.0, 0.0, 1.0])
    # an account column reaches the lead through its account; a lead without an account has none
    np.testing.assert_array_equal(built["own_account_seats"].to_numpy(), [12.0, 12.0, 12.0, 300.0, np.nan])
    assert str(built["own_lead_source"].dtype) == "str" and str(built["own_totalvisits"].dtype) == "float64"


def test_an_own_account_category_is_bounded_over_all_accounts() -> None:
    accounts = contract_frame("accounts", {"account_id": [f"A{i}" for i in range(12)]})
    accounts["Tier"] = pd.Series(["gold"] * 6 + ["silver"] * 4 + ["bronze"] * 2, dtype="str")
    leads = contract_frame("leads", {"lead_id": ["x", "y", "z"], "captured_at": [T0] * 3, "account_id": ["A0", "A7", "A11"]})
    built = build_features(tables_of(leads, accounts), spine_of(["x", "y", "z"]))
    assert built["own_account_tier"].tolist() == ["gold", "other", "other"]  # 6 of 12 kept; fewer than 5 read other


def test_a_scoring_export_without_an_own_column_the_model_uses_gives_missing_values() -> None:
    training = tables_of(training_leads(), accounts_frame())
    specs = own_feature_specs(training)
    scoring_leads = training_leads(10).drop(columns=["Lead Source", "TotalVisits"])
    scoring = tables_of(scoring_leads)  # and no accounts table at all
    built = build_features(scoring, spine_of(["L1", "L2"]), own=specs)
    assert built["own_lead_source"].isna().all() and built["own_totalvisits"].isna().all()
    assert built["own_account_seats"].isna().all()
    assert built["own_do_not_email"].tolist() == [1.0, 0.0]


def test_a_scoring_export_whose_column_was_left_as_text_builds_it_in_the_trained_kind() -> None:
    training = tables_of(training_leads())
    specs = own_feature_specs(training)
    # One lead scored: each of its own columns holds one value, so reading left them as text.
    scoring_leads = contract_frame("leads", {"lead_id": ["new"], "captured_at": [T0]})
    scoring_leads["Lead Source"] = pd.Series(["Reference"], dtype="str")
    scoring_leads["TotalVisits"] = pd.Series(["4"], dtype="str")
    scoring_leads["Do Not Email"] = pd.Series(["No"], dtype="str")
    scoring = tables_of(scoring_leads)
    assert not any(c.used for c in scoring.own_columns)
    built = build_features(scoring, spine_of(["new"]), own=specs)
    assert built["own_totalvisits"].tolist() == [4.0] and built["own_do_not_email"].tolist() == [0.0]
    assert built["own_lead_source"].tolist() == ["other"]  # one lead is no common value


def test_a_scoring_export_whose_count_holds_only_0_and_1_still_gives_the_count() -> None:
    training = tables_of(training_leads())
    specs = own_feature_specs(training)
    scoring_leads = training_leads(40)
    scoring_leads["TotalVisits"] = pd.Series(["0", "1"] * 20, dtype="str")  # new leads: no or one visit
    scoring_leads["Do Not Email"] = pd.Series(["No"] * 40, dtype="str")
    scoring = tables_of(scoring_leads.drop(columns=["Lead Source"]))
    assert next(c for c in scoring.own_columns if c.column == "TotalVisits").kind == "yes_no"  # as this export reads
    built = build_features(scoring, spine_of(["L0", "L1", "L2"]), own=specs)
    assert built["own_totalvisits"].tolist() == [0.0, 1.0, 0.0]


def test_a_category_read_as_yes_no_in_the_scoring_export_keeps_the_models_spelling() -> None:
    leads = training_leads(90)
    leads["Interested"] = pd.Series(["Yes", "No", "Maybe"] * 30, dtype="str")
    specs = [dict(s) for s in own_feature_specs(tables_of(leads))]
    answer = next(s for s in specs if s["name"] == "own_interested")
    assert answer["source"]["kind"] == "category"
    answer["categories"] = ["Maybe", "No", "Yes"]
    scoring_leads = training_leads(60)
    scoring_leads["Interested"] = pd.Series(["Yes", "No"] * 30, dtype="str")  # no "Maybe": read as yes/no
    built = build_features(tables_of(scoring_leads), spine_of(["L0", "L1"]), own=specs)
    assert built["own_interested"].tolist() == ["Yes", "No"]
    assert encode_features(built, [answer])["own_interested"].tolist() == ["Yes", "No"]


def test_a_common_category_value_unseen_in_training_is_missing_for_the_model() -> None:
    training = tables_of(training_leads())
    specs = own_feature_specs(training)
    train_rows = build_features(training, spine_of([f"L{i}" for i in range(80)]), own=specs)
    spec = dict(next(s for s in specs if s["name"] == "own_lead_source"))
    spec["categories"] = sorted(train_rows["own_lead_source"].dropna().unique())
    assert spec["categories"] == ["Google", "Reference"]

    scoring_leads = training_leads(60)
    scoring_leads["Lead Source"] = pd.Series(["Welingak Website"] * 40 + ["Reference"] * 20, dtype="str")
    built = build_features(tables_of(scoring_leads), spine_of(["L0", "L59"]), own=specs)
    assert built["own_lead_source"].tolist() == ["Welingak Website", "other"]
    encoded = encode_features(built, [spec])
    assert encoded["own_lead_source"].isna().tolist() == [True, True]


def test_reasons_phrase_own_features_through_their_spec_template() -> None:
    source = own_feature_spec(OwnColumn("leads", "Lead Source", "category", 2, 0.0, "", "own_lead_source"))
    visits = own_feature_spec(OwnColumn("leads", "TotalVisits", "number", 9, 0.0, "", "own_totalvisits"))
    seen = own_feature_spec(OwnColumn("leads", "Last Visit", "timestamp", 9, 0.0, "", "own_last_visit"))
    dne = own_feature_spec(OwnColumn("leads", "Do Not Email", "yes_no", 2, 0.0, "", "own_do_not_email"))
    spec = [{**source, "categories": ["Google", "Reference"]}, visits, seen, dne]
    features = pd.DataFrame({
        "own_lead_source": pd.Series(["Reference", "Chat", None], dtype="str"),
        "own_totalvisits": [5.0, 1.0, 12.0],
        "own_last_visit": [1.0, 30.0, np.nan],
        "own_do_not_email": [0.0, 1.0, 0.0],
    })
    values = np.array([[0.9, 0.4, -0.3, 0.2], [0.5, -0.6, 0.2, -0.4], [0.7, 0.3, -0.2, 0.0]])
    reasons = phrase_reasons(features, values, spec)
    assert reasons["reasons_positive"].tolist() == [
        "Lead Source: Reference; TotalVisits: 5; Do Not Email: no",
        "Last Visit: 30 days ago",  # "Chat" is a value the model never saw: no reason
        "Lead Source: not given; TotalVisits: 12",
    ]
    assert reasons["reasons_negative"].tolist() == ["Last Visit: 1 day ago",
                                                    "TotalVisits: 1; Do Not Email: yes", "Last Visit: not given"]


def test_every_kind_of_own_column_reads_as_a_person_would_say_it() -> None:
    from leadscore.features.building.catalogue import phrase
    from leadscore.scorers.model.reasons import _feature_words

    columns = {
        "category": OwnColumn("leads", "Lead Source", "category", 2, 0.0, "", "own_lead_source"),
        "number": OwnColumn("leads", "TotalVisits", "number", 9, 0.0, "", "own_totalvisits"),
        "timestamp": OwnColumn("leads", "Last Visit", "timestamp", 9, 0.0, "", "own_last_visit"),
        "yes_no": OwnColumn("leads", "Do Not Email", "yes_no", 2, 0.0, "", "own_do_not_email"),
    }
    words = {kind: _feature_words(own_feature_spec(column), {}) for kind, column in columns.items()}
    said = {
        "category": [phrase(words["category"], "Olark_Chat"), phrase(words["category"], None)],
        "number": [phrase(words["number"], 0.0), phrase(words["number"], 1.0), phrase(words["number"], 1234.5)],
        "timestamp": [phrase(words["timestamp"], 0.2), phrase(words["timestamp"], 1.0), phrase(words["timestamp"], 12.0)],
        "yes_no": [phrase(words["yes_no"], 1.0), phrase(words["yes_no"], np.nan)],
    }
    assert said == {
        "category": ["Lead Source: Olark Chat", "Lead Source: not given"],
        "number": ["TotalVisits: 0", "TotalVisits: 1", "TotalVisits: 1,234.5"],
        "timestamp": ["Last Visit: today", "Last Visit: 1 day ago", "Last Visit: 12 days ago"],
        "yes_no": ["Do Not Email: yes", "Do Not Email: not given"],
    }
