"""Who gets which probability: only open leads get p_sqo, a lead at SQO at most p_win, a closed lead none.

Scored on generated worlds at one as_of, as operations would run it ("score every lead at the data's
end", or at a moment months back): a lead that already reached SQO has no SQO left to predict, and a lead
won, lost or disqualified is no lead any more. Each still gets exactly one row with a status saying so,
the rules never call a closed lead hot, and the reasons of the open ones are things a person can act on.
"""

from __future__ import annotations

import copy
import dataclasses
import re

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.stages import funnel_position
from leadscore.features.synthetic.demo import DATA_END, generate_demo
from leadscore.features.tables import make_tables
from leadscore.scorers.model.reasons import MIN_EFFECT
from leadscore.scorers.rules import load_rules
from leadscore.scorers.status import STATUS_BY_POSITION
from leadscore.serving.loading import ScoringModel
from leadscore.serving.score import model_vocabulary, score_leads

DAY = pd.Timedelta(days=1)
CLOSED = ("won", "lost", "disqualified")


@pytest.fixture(scope="module")
def other_world():
    """A second generated world the models never saw (another seed and size)."""
    frames, _ = generate_demo(2500, 23)
    return make_tables(frames, data_end=DATA_END)


def _worlds(serving_world, other_world) -> list[tuple[str, object, pd.Timestamp]]:
    end = serving_world.tables.data_end
    return [("serving world at its end", serving_world.tables, end),
            ("serving world 120 days back", serving_world.tables, end - 120 * DAY),
            ("another world at its end", other_world, other_world.data_end)]


def _won_covering(won: ScoringModel, past_sqo: bool) -> ScoringModel:
    """``won`` with its chain saying whether q was calibrated on open opportunities too."""
    inner = copy.copy(won.model)
    inner.spec = {**inner.spec, "chain": {**inner.spec["chain"], "covers_past_sqo": past_sqo}}
    return dataclasses.replace(won, model=inner)


def _with_position(tables, scores: pd.DataFrame) -> pd.DataFrame:
    scored = scores[scores["status"].isin(list(STATUS_BY_POSITION.values()))].reset_index(drop=True)
    return scored.assign(position=funnel_position(tables, scored.loc[:, ["lead_id", "as_of"]]).to_numpy())


def test_at_one_as_of_only_open_leads_get_p_sqo_and_closed_leads_get_no_probability(serving_world, other_world) -> None:
    rules = load_rules(None)
    open_only = _won_covering(serving_world.won, past_sqo=False)
    for label, tables, as_of in _worlds(serving_world, other_world):
        scores, counts = score_leads(tables, serving_world.sqo, open_only, rules, as_of=as_of, progress=False)
        assert len(scores) == len(tables.leads) == counts.n_out, label
        scored = _with_position(tables, scores)
        position = scored["position"]
        assert scored["status"].tolist() == [STATUS_BY_POSITION[p] for p in position], label
        at_sqo, closed, is_open = position.eq("sqo"), position.isin(CLOSED), position.eq("open")
        assert at_sqo.sum() >= 5 and closed.sum() > 20 and is_open.sum() > 20, (label, position.value_counts())
        # open: both probabilities; at SQO: no p_sqo (this WON model says nothing of leads past SQO); closed: none
        assert scored.loc[is_open, ["p_sqo", "p_win", "score", "grade"]].notna().all().all(), label
        assert scored.loc[~is_open, ["p_sqo", "p_win", "score", "grade"]].isna().all().all(), label
        assert (scored.loc[~is_open, "reasons"].fillna("") == "").all(), label
        # still one row each, counted apart in the reconciliation line
        assert counts.n_ok == int(is_open.sum())
        assert counts.not_open == {STATUS_BY_POSITION[p]: int(n) for p, n in position[~is_open].value_counts().items()}
        assert counts.n_ok + sum(counts.not_open.values()) + counts.n_not_scored == counts.n_in
        assert f"{int(at_sqo.sum()):,} already at SQO (no probability: the WON model was trained on open leads only)" \
            in counts.summary(), label


def test_the_rules_never_call_a_closed_lead_hot_but_still_show_its_points(serving_world, other_world) -> None:
    rules = load_rules(None)
    n_hot_if_open = 0
    for label, tables, as_of in _worlds(serving_world, other_world):
        scores, _ = score_leads(tables, serving_world.sqo, None, rules, as_of=as_of, progress=False)
        scored = _with_position(tables, scores)
        closed = scored[scored["position"].isin(CLOSED)]
        assert (closed["rule_grade"] == "closed").all(), label
        assert (closed["rule_stage"] == closed["position"].str.upper()).all(), label
        assert closed["rule_score"].notna().all(), label
        n_hot_if_open += int((closed["rule_score"] >= rules.grades.hot).sum())
        still = scored[~scored["position"].isin(CLOSED)]
        assert not still["rule_grade"].eq("closed").any() and still["rule_stage"].isin(["MCL", "MEL", "MQL", "SQL"]).all()
    assert n_hot_if_open > 0  # points that would have read "hot": the grade is what changed


def test_a_won_model_trained_past_sqo_gives_leads_at_sqo_their_p_win(serving_world) -> None:
    won = _won_covering(serving_world.won, past_sqo=True)
    scores, counts = score_leads(serving_world.tables, serving_world.sqo, won, load_rules(None), progress=False)
    scored = _with_position(serving_world.tables, scores)
    at_sqo = scored["position"].eq("sqo")
    assert at_sqo.any() and scored.loc[at_sqo, "p_win"].notna().all() and scored.loc[at_sqo, "p_sqo"].isna().all()
    assert scored.loc[scored["position"].isin(CLOSED), "p_win"].isna().all()
    assert "already at SQO (p_win only: the WON model covers leads past SQO)" in counts.summary()


def _reasons_of(scores: pd.DataFrame) -> list[str]:
    return [part for cell in scores["reasons_positive"].fillna("").tolist() + scores["reasons_negative"].fillna("").tolist()
            for part in cell.split("; ") if part]


def test_reasons_never_say_zero_days_unknown_or_a_calendar_feature_without_a_cause(serving_world, other_world) -> None:
    rules = load_rules(None)
    phrases = []
    for _, tables, as_of in _worlds(serving_world, other_world):
        scores, _ = score_leads(tables, serving_world.sqo, None, rules, as_of=as_of, progress=False)
        phrases += _reasons_of(scores[scores["status"] == "ok"])
    assert len(phrases) > 1000
    odd = [p for p in phrases if re.search(r"\b0 (days|times)\b|for 0\b|unknown|not seen|new value|^Captured (in|on) ", p)]
    assert not odd, sorted(set(odd))[:20]
    # The calendar did push these leads: the model weighs the capture month, the reasons leave it out.
    spec = serving_world.sqo.spec_features
    month = [f["name"] for f in spec].index("capture_month")
    end = serving_world.tables.data_end
    spine = pd.DataFrame({"lead_id": serving_world.tables.leads["lead_id"], "as_of": end})
    spine = spine[(funnel_position(serving_world.tables, spine) == "open").to_numpy()].reset_index(drop=True)
    features = build_features(serving_world.tables, spine, vocabulary=model_vocabulary(serving_world.sqo))
    pushes = serving_world.sqo.model.explain(features).values[:, month]
    assert (np.abs(pushes) >= 3 * MIN_EFFECT).mean() > 0.05


def test_a_value_the_model_never_saw_is_no_reason(serving_world) -> None:
    tables = serving_world.tables
    spec = {f["name"]: f for f in serving_world.sqo.spec_features}
    unseen = "homemaker"
    assert unseen not in spec["seniority"]["categories"]
    end = tables.data_end
    recent = tables.leads[tables.leads["captured_at"] > end - 60 * DAY]
    spine = pd.DataFrame({"lead_id": recent["lead_id"].to_numpy(), "as_of": end})
    chosen = spine.loc[(funnel_position(tables, spine) == "open").to_numpy(), "lead_id"].iloc[:60].tolist()
    leads = tables.leads.copy()
    leads.loc[leads["lead_id"].isin(chosen), "job_title"] = "Homemaker"
    changed = dataclasses.replace(tables, leads=leads)
    scores, _ = score_leads(changed, serving_world.sqo, None, load_rules(None),
                            leads=pd.DataFrame({"lead_id": chosen}), progress=False)
    assert (scores["status"] == "ok").all()
    # The model does push on the unseen occupation (it reads as unknown) ...
    features = build_features(changed, pd.DataFrame({"lead_id": chosen, "as_of": end}),
                              vocabulary=model_vocabulary(serving_world.sqo))
    assert (features["seniority"] == unseen).all()
    pushes = serving_world.sqo.model.explain(features).values[:, list(spec).index("seniority")]
    assert (np.abs(pushes) >= MIN_EFFECT).any()
    # ... but a value it never learnt anything about is never offered as a reason.
    assert not [p for p in _reasons_of(scores) if "homemaker" in p.casefold() or "Occupation" in p]


def test_the_score_command_and_the_demo_list_only_open_leads_on_top(serving_world) -> None:
    from leadscore.serving.score import top_leads

    scores, _ = score_leads(serving_world.tables, serving_world.sqo, serving_world.won, load_rules(None),
                            progress=False)
    top = top_leads(scores, 50)
    assert len(top) == 50 and (top["status"] == "ok").all()
    position = funnel_position(serving_world.tables, top.loc[:, ["lead_id", "as_of"]].reset_index(drop=True))
    assert (position == "open").all()


def test_a_scoring_model_without_the_spec_key_is_read_as_trained_on_open_leads(serving_world) -> None:
    from leadscore.serving.score import won_covers_past_sqo

    assert won_covers_past_sqo(_won_covering(serving_world.won, past_sqo=True)) and not won_covers_past_sqo(None)
    assert not won_covers_past_sqo(_won_covering(serving_world.won, past_sqo=False))
    inner = copy.copy(serving_world.won.model)
    inner.spec = {**inner.spec, "chain": {k: v for k, v in inner.spec["chain"].items() if k != "covers_past_sqo"}}
    assert not won_covers_past_sqo(ScoringModel(uri="x", name="leadscore-won", version="2", model=inner))
