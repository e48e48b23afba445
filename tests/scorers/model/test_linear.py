"""The logistic model as data: its encoding is learnt from training rows and holds no surprise at scoring."""

from __future__ import annotations

import numpy as np
import pandas as pd

from leadscore.scorers.model.linear import LinearModel, encode_matrix, fit_encoding

SPEC = [{"name": "age_days", "kind": "numeric"}, {"name": "channel", "kind": "categorical"}]


def _model(seed: int = 0) -> tuple[LinearModel, pd.DataFrame]:
    rng = np.random.default_rng(seed)
    train = pd.DataFrame({"age_days": rng.uniform(0, 60, 500), "channel": rng.choice(["email", "paid"], 500)})
    encoding = fit_encoding(train, SPEC, min_frequency=5)
    coef = np.array([-3.0, 0.5, -0.5, 0.0, 0.0])  # age (strongly down), email, paid, other, missing
    X = encode_matrix(train, encoding)
    return LinearModel(encoding=encoding, coef=coef, intercept=-1.0, reference=X.mean(axis=0)), train


def test_a_value_beyond_the_training_range_reads_as_the_ranges_end_not_an_extrapolation() -> None:
    model, train = _model()
    oldest = float(train["age_days"].max())
    leads = pd.DataFrame({"age_days": [oldest, 545.0, -30.0, float(train["age_days"].min())],
                          "channel": ["email"] * 4})
    margin = model.margin(model.encode(leads))
    assert margin[1] == margin[0]  # 545 days old reads as the oldest training lead, not p = 1e-38
    assert margin[2] == margin[3]
    assert 1 / (1 + np.exp(-margin[1])) > 1e-4


def test_training_rows_encode_the_same_with_or_without_the_range() -> None:
    model, train = _model(1)
    unbounded = [{k: v for k, v in entry.items() if k not in ("low", "high")} for entry in model.encoding]
    np.testing.assert_array_equal(encode_matrix(train, model.encoding), encode_matrix(train, unbounded))


def test_the_model_round_trips_through_its_json_form_with_its_range() -> None:
    model, train = _model(2)
    again = LinearModel.from_dict(model.to_dict())
    leads = pd.DataFrame({"age_days": [900.0, None], "channel": ["paid", None]})
    np.testing.assert_array_equal(again.margin(again.encode(leads)), model.margin(model.encode(leads)))
