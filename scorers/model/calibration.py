"""Calibrated probabilities from a model's raw log-odds, as ``calibration.json`` describes the mapping.

``{"method": "none"}`` keeps the model's own probability, ``{"method": "sigmoid", "a": a, "b": b}`` is
Platt scaling on the margin (``p = 1 / (1 + exp(-(a * margin + b)))``), ``{"method": "isotonic",
"x": [...], "y": [...]}`` a piecewise-linear map of the raw probability, and ``{"method": "constant",
"p": p}`` the same probability for every lead (a chain's link with nothing to learn: in an export where
every SQO is a win, P(win | SQO) is 1). A chained WON model's q may carry a second map under
``"past_sqo"``: the one learnt on leads already at SQO, whose chance of winning is another matter than a
new lead's (``LeadscoreModel.calibrate_past_sqo``).
"""

from __future__ import annotations

import numpy as np


def sigmoid(margin: np.ndarray) -> np.ndarray:
    """The probability of a log-odds margin."""
    return 1.0 / (1.0 + np.exp(-np.asarray(margin, dtype=float)))


def apply_calibration(calibration: dict, margin: np.ndarray) -> np.ndarray:
    """Calibrated probabilities for raw margins.

    Examples
    --------
    >>> apply_calibration({"method": "sigmoid", "a": 1.0, "b": 0.0}, np.array([0.0])).tolist()
    [0.5]
    >>> apply_calibration({"method": "isotonic", "x": [0.2, 0.8], "y": [0.1, 0.3]}, np.array([0.0])).round(3).tolist()
    [0.2]
    >>> apply_calibration({"method": "constant", "p": 1.0}, np.array([-3.0, 2.0])).tolist()
    [1.0, 1.0]
    """
    margin = np.asarray(margin, dtype=float)
    p_raw = sigmoid(margin)
    method = calibration["method"]
    if method == "isotonic":
        p = np.interp(p_raw, np.asarray(calibration["x"], float), np.asarray(calibration["y"], float))
    elif method == "sigmoid":
        p = 1.0 / (1.0 + np.exp(-(calibration["a"] * margin + calibration["b"])))
    elif method == "none":
        p = p_raw
    elif method == "constant":
        p = np.full(len(margin), float(calibration["p"]))
    else:
        raise ValueError(f"unknown calibration method {method!r}")
    return np.clip(p, 0.0, 1.0)
