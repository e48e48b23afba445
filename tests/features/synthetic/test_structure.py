"""Demo generator, small N: contract shape and types, referential integrity, nurture gating, determinism."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.features.contract import PANDAS_DTYPES, TABLE_NAMES, TABLES
from leadscore.features.errors import LeadscoreError
from leadscore.features.synthetic.demo import DATA_END, SNAPSHOT_DAYS, generate_demo
from leadscore.features.tables import make_tables

N_LEADS = 3_000


@pytest.fixture(scope="module")
def demo() -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    return generate_demo(N_LEADS, seed=11)


def test_every_table_has_exactly_the_contract_columns_and_dtypes(demo) -> None:
    frames, _ = demo
    assert sorted(frames) == sorted(TABLE_NAMES)
    for name, frame in frames.items():
        spec = TABLES[name]
        assert tuple(frame.columns) == spec.column_names, name
        for column in spec.columns:
            assert str(frame[column.name].dtype) == PANDAS_DTYPES[column.kind], (name, column.name)
        assert len(frame) > 0, name


def test_make_tables_accepts_the_frames_and_finds_a_data_end_before_the_nominal_one(demo) -> None:
    frames, _ = demo
    tables = make_tables(frames)
    assert tables.present == frozenset(TABLE_NAMES)
    assert DATA_END - pd.Timedelta(days=2) < tables.data_end <= DATA_END


def test_values_stay_inside_the_contract_vocabularies_and_ranges(demo) -> None:
    frames, _ = demo
    for name, frame in frames.items():
        for column in TABLES[name].columns:
            values = frame[column.name]
            if not column.nullable:
                assert values.notna().all(), (name, column.name)
            if column.allowed is not None:
                assert set(values.dropna().unique()) <= set(column.allowed), (name, column.name)
            if column.non_negative:
                assert (values.dropna() >= 0).all(), (name, column.name)
            if column.unique:
                assert values.is_unique, (name, column.name)
    months = frames["spend"]["month"]
    assert months.str.fullmatch(r"\d{4}-\d{2}").all()


def test_keys_join_and_nothing_happens_before_capture_or_after_the_data_end(demo) -> None:
    frames, _ = demo
    leads = frames["leads"].set_index("lead_id")
    for name, column in (("events", "occurred_at"), ("stage_history", "entered_at"), ("opportunities", "created_at")):
        frame = frames[name]
        assert frame["lead_id"].dropna().isin(leads.index).all(), name
        captured = leads.loc[frame["lead_id"].dropna().to_numpy(), "captured_at"].to_numpy()
        assert (frame[column].dropna().to_numpy() >= captured).all(), name
        assert (frame[column] <= DATA_END).all(), name
    accounts = set(frames["accounts"]["account_id"])
    assert set(frames["leads"]["account_id"].dropna()) == accounts
    assert set(frames["technographics"]["account_id"]) <= accounts
    mcl = frames["stage_history"].query("stage == 'MCL'").set_index("lead_id")["entered_at"]
    assert mcl.index.is_unique and len(mcl) == N_LEADS
    assert (mcl.reindex(leads.index) == leads["captured_at"]).all()


def test_some_leads_have_no_company_and_some_companies_have_a_buying_committee(demo) -> None:
    frames, _ = demo
    leads = frames["leads"]
    no_account = leads["account_id"].isna().mean()
    assert 0.05 < no_account < 0.16
    per_account = leads["account_id"].value_counts()
    assert (per_account >= 2).sum() > 0.05 * len(per_account)
    tech = frames["technographics"].merge(leads[["account_id", "captured_at"]], on="account_id")
    assert tech["first_seen_at"].isna().any()
    assert (tech["first_seen_at"] > tech["captured_at"]).any()


def test_nurture_emails_three_to_five_go_only_to_leads_who_opened_one_or_two_before(demo) -> None:
    frames, _ = demo
    events = frames["events"]
    email = events[events["event_type"].str.startswith("email_")]
    assert email["email_step"].notna().all()
    assert events.loc[~events["event_type"].str.startswith("email_"), "email_step"].isna().all()
    early_open = email[(email["event_type"] == "email_open") & (email["email_step"] <= 2)].groupby("lead_id")["occurred_at"].min()
    late_sent = email[(email["event_type"] == "email_sent") & (email["email_step"] >= 3)]
    assert len(late_sent) > 0
    opened_at = early_open.reindex(late_sent["lead_id"].to_numpy()).to_numpy()
    assert (opened_at < late_sent["occurred_at"].to_numpy()).all()
    # Someone who did not open e-mail 1 or 2 exists and got none of 3-5.
    sent_12 = set(email.loc[(email["event_type"] == "email_sent") & (email["email_step"] <= 2), "lead_id"])
    assert sent_12 - set(early_open.index) - set(late_sent["lead_id"])


def test_no_marketing_email_after_an_unsubscribe_or_without_consent(demo) -> None:
    frames, _ = demo
    events, leads = frames["events"], frames["leads"]
    quit_at = events[events["event_type"] == "unsubscribe"].groupby("lead_id")["occurred_at"].min()
    assert len(quit_at) > 0
    sent = events[events["event_type"] == "email_sent"]
    after = sent["occurred_at"].to_numpy() > quit_at.reindex(sent["lead_id"].to_numpy()).to_numpy()
    assert not after.any()
    no_consent = set(leads.loc[~leads["email_consent"].astype(bool), "lead_id"])
    assert no_consent and not (set(sent["lead_id"]) & no_consent)


def test_opportunities_match_the_sqo_and_closing_stages(demo) -> None:
    frames, _ = demo
    history, opps = frames["stage_history"], frames["opportunities"]
    assert opps["lead_id"].is_unique
    sqo_leads = set(history.loc[history["stage"] == "SQO", "lead_id"])
    assert sqo_leads <= set(opps["lead_id"])
    won = set(history.loc[history["stage"] == "WON", "lead_id"])
    lost = set(history.loc[history["stage"] == "LOST", "lead_id"])
    assert set(opps.loc[opps["outcome"] == "won", "lead_id"]) == won
    assert set(opps.loc[opps["outcome"] == "lost", "lead_id"]) == lost
    assert opps.loc[opps["outcome"] == "open", "closed_at"].isna().all()
    assert (opps["closed_at"].dropna() >= opps.loc[opps["closed_at"].notna(), "created_at"]).all()


def test_truth_has_one_snapshot_per_lead_and_nan_only_where_the_target_was_already_reached(demo) -> None:
    frames, truth = demo
    leads = frames["leads"]
    assert list(truth["lead_id"]) == list(leads["lead_id"])
    assert (truth["as_of"] == leads["captured_at"] + pd.Timedelta(days=SNAPSHOT_DAYS)).all()
    for column in ("p_sqo_true", "p_won_true"):
        values = truth[column].dropna()
        assert ((values >= 0) & (values <= 1)).all()
    history = frames["stage_history"].merge(truth[["lead_id", "as_of"]], on="lead_id")
    before = history[history["entered_at"] <= history["as_of"]]
    reached_sqo = set(before.loc[before["stage"].isin(["SQO", "WON"]), "lead_id"])
    # Leads whose as_of lies beyond the data end may reach SQO unseen; compare where the snapshot is observed.
    observed = truth["as_of"] <= DATA_END
    nan_sqo = set(truth.loc[observed & truth["p_sqo_true"].isna(), "lead_id"])
    assert nan_sqo == reached_sqo
    reached_won = set(before.loc[before["stage"] == "WON", "lead_id"])
    assert set(truth.loc[observed & truth["p_won_true"].isna(), "lead_id"]) == reached_won


def test_same_seed_gives_identical_tables_and_another_seed_does_not(demo) -> None:
    frames, truth = demo
    again, truth_again = generate_demo(N_LEADS, seed=11)
    for name in TABLE_NAMES:
        pd.testing.assert_frame_equal(frames[name], again[name])
    pd.testing.assert_frame_equal(truth, truth_again)
    other, _ = generate_demo(N_LEADS, seed=12)
    assert not frames["events"]["occurred_at"].equals(other["events"]["occurred_at"])


@pytest.mark.parametrize("n_leads, seed", [(0, 1), (-5, 1), (10, -1), (2.5, 1)])
def test_bad_sizes_and_seeds_are_user_errors(n_leads, seed) -> None:
    with pytest.raises(LeadscoreError):
        generate_demo(n_leads, seed)


def test_a_single_lead_still_yields_every_table() -> None:
    frames, truth = generate_demo(1, seed=0)
    assert len(frames["leads"]) == 1 and len(truth) == 1
    for name in TABLE_NAMES:
        assert tuple(frames[name].columns) == TABLES[name].column_names
    assert make_tables(frames).leads["lead_id"].tolist() == truth["lead_id"].tolist()
