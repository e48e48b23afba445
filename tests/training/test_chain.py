"""The chained WON model: p_win = p_sqo x q, never above p_sqo, q chosen and calibrated over the folds.

Training-set-shaped frames with the WON training set's columns (``label`` a win with its SQO inside the
SQO horizon, ``reached_sqo`` the chain's condition, ``at_sqo`` an open opportunity) and a known q.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.model.answer import answer, chained_probability
from leadscore.training.config import config_from_dict
from leadscore.training.pipeline import TrainResult, fit_models
from leadscore.training.registry import apply_gates
from leadscore.training.split import split_by_time

HORIZON_DAYS = 60
CONFIG = config_from_dict({"lightgbm": {"num_threads": 1, "max_trees": 80}, "evaluation": {"n_bootstrap": 30},
                           "split": {"plan": "test_gap"}})
FEATURES = [{"name": f"x{j}", "kind": "numeric", "group": "fit", "story": f"x{j}", "template": f"X{j}: {{value:.1f}}",
             "description": f"x{j}"} for j in range(3)]


def chain_world(q_of_x1: bool = True, every_sqo_wins: bool = False, n_leads: int = 6000, seed: int = 0) -> pd.DataFrame:
    """Leads reach SQO by x0; an SQO wins by x1 (or at random, or always); some snapshots are open opportunities."""
    rng = np.random.default_rng(seed)
    captured = pd.Timestamp("2023-01-01", tz="UTC") + pd.to_timedelta(np.sort(rng.uniform(0, 700, n_leads)), unit="D")
    X = rng.normal(size=(n_leads, 3))
    sqo = rng.random(n_leads) < 1 / (1 + np.exp(-(-1.6 + 1.4 * X[:, 0])))
    q = 1 / (1 + np.exp(-(-0.7 + 1.8 * X[:, 1]))) if q_of_x1 else np.full(n_leads, 0.35)
    won = sqo & ((rng.random(n_leads) < q) | every_sqo_wins)
    at_capture = pd.DataFrame({"lead_id": [f"L{i:05d}" for i in range(n_leads)], "as_of": captured, "offset_days": 0,
                               "captured_at": captured, "label": won.astype("int8"), "reached_sqo": sqo.astype("int8"),
                               "at_sqo": False})
    later = at_capture[sqo & (rng.random(n_leads) < 0.5)].assign(offset_days=30, at_sqo=True)
    later["as_of"] = later["captured_at"] + pd.Timedelta(days=30)
    rows = pd.concat([at_capture, later], ignore_index=True)
    position = rows["lead_id"].str[1:].astype(int).to_numpy()
    for j in range(3):
        rows[f"x{j}"] = X[position, j]
    rows["rule_score"] = np.round(X[position, 0] * 10)
    return rows.sort_values(["as_of", "lead_id"], ignore_index=True)


def fit_won(rows: pd.DataFrame, config=CONFIG):
    split = split_by_time(rows, HORIZON_DAYS, config.split)
    return fit_models(split, FEATURES, "won", HORIZON_DAYS, config, "test", None, labelled=rows, sqo_horizon_days=45)


@pytest.fixture(scope="module")
def trained():
    return fit_won(chain_world())


def test_p_win_is_p_sqo_times_q_and_never_above_p_sqo(trained) -> None:
    model = trained.model
    chain = model.chain
    assert chain["given"] == "sqo" and chain["sqo_horizon_days"] == 45 and chain["covers_past_sqo"] is True
    assert model.stage is not None and model.stage.target == "sqo" and model.stage.spec["horizon_days"] == 45
    test = trained.scored_features
    open_lead = ~test["at_sqo"].to_numpy()
    p_sqo = model.stage.predict(test)
    out = answer(model, test, at_sqo=test["at_sqo"].to_numpy())
    np.testing.assert_allclose(out["p"][open_lead], p_sqo[open_lead] * out["p_given_sqo"][open_lead], rtol=1e-12)
    assert (out["p"][open_lead] <= p_sqo[open_lead] + 1e-15).all()
    # an open opportunity's p_win is q on the map calibrated on open opportunities
    assert "past_sqo" in model.calibration
    np.testing.assert_allclose(out["p"][~open_lead], model.calibrate_past_sqo(model.margin(test))[~open_lead])


def test_q_is_chosen_over_the_folds_and_learns_the_signal_of_winning(trained) -> None:
    q = trained.stages["q"]
    assert trained.serving_kind in ("logistic", "lightgbm") and trained.serving_kind == q.kind
    assert set(q.kinds) == {"lightgbm", "logistic", "base_rate"}
    assert q.kinds[q.kind].log_loss < q.kinds["base_rate"].log_loss
    assert trained.facts["q.at_capture.roc_auc"] > 0.7  # x1 decides a win among SQOs
    assert trained.facts["q.past_sqo.roc_auc"] > 0.7


def test_the_evaluation_is_of_the_product_at_capture_and_calibrated(trained) -> None:
    metrics = trained.metrics
    assert {"model", "rules"} <= set(metrics.index)
    assert metrics.loc["model", "roc_auc"] > metrics.loc["rules", "roc_auc"]  # the rules see x0 only
    assert metrics.loc["model", "ece"] < 0.03
    headline = trained.scored[trained.scored["offset_days"] == 0]
    assert int(metrics.loc["model", "n_rows"]) == len(headline)
    assert apply_gates(metrics, CONFIG.gates).passed
    held = trained.model.held_out
    np.testing.assert_allclose(held["p"].to_numpy(), headline["p_model"].to_numpy(), rtol=1e-12)


def test_the_summary_says_what_p_win_is(trained) -> None:
    text = TrainResult("won", "e", "r", "leadscore-won", 1, "champion", apply_gates(trained.metrics, CONFIG.gates),
                       trained).summary()
    assert "p_win = p_sqo x q, q = P(win within 60 days | SQO within 45 days)" in text
    assert "the SQO link: " in text and "leads already at SQO: p_win is q calibrated on open opportunities" in text


def test_q_without_signal_is_the_base_rate_and_p_win_ranks_like_p_sqo() -> None:
    trained = fit_won(chain_world(q_of_x1=False, seed=1))
    assert trained.serving_kind == "base_rate" and trained.model.calibration["method"] == "constant"
    q = trained.model.calibration["p"]
    assert 0.25 < q < 0.45
    # open opportunities get their own rate
    assert trained.model.chain["covers_past_sqo"] is True
    assert trained.model.calibration["past_sqo"]["method"] == "constant"
    assert trained.model.calibration["past_sqo"]["p"] == pytest.approx(0.35, abs=0.07)
    test = trained.scored_features
    p_sqo = trained.model.stage.predict(test)
    open_lead = ~test["at_sqo"].to_numpy()
    np.testing.assert_allclose(trained.model.predict(test), q)
    np.testing.assert_allclose(chained_probability(trained.model, np.full(len(test), q), p_sqo)[open_lead],
                               q * p_sqo[open_lead])
    assert next(c for c in apply_gates(trained.metrics, CONFIG.gates).checks if c.name == "max_ece").passed


def test_when_every_sqo_is_a_win_q_is_one_and_says_so() -> None:
    trained = fit_won(chain_world(every_sqo_wins=True, seed=2))
    assert trained.model.calibration == {"method": "constant", "p": 1.0}
    assert trained.model.chain["q"] == "constant" and "every one of the" in trained.model.chain["why"]
    test = trained.scored_features
    np.testing.assert_allclose(answer(trained.model, test)["p"], trained.model.stage.predict(test))
    assert any("q is 1" in line for line in trained.chain_lines)
