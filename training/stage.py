"""One probability, chosen and fitted over rolling-origin folds: the kind, its trees, its calibration, its grades.

A *stage* is one calibrated probability the product serves: P(SQO) for the SQO model, and for the WON
model both links of the chain, P(SQO) and q = P(win | SQO) (``pipeline.py``). For each, LightGBM and a
regularised logistic regression are fitted on every rolling-origin fold of the development part
(``split.py``: fold k learns from the blocks before block k and predicts block k), which gives every
development lead past the first block an out-of-fold prediction from a model that never saw it nor
anything after it. On those predictions, at the moments the model is used (the ``judged`` rows: at
capture by default):

- **LightGBM's number of trees** is the one with the lowest validation log loss summed over the folds;
- **the calibration** (none, sigmoid, isotonic) is chosen by held-out log loss on the out-of-fold margins
  (``calibration.py``) and fitted on them: the map serving applies to a model's margins is learnt from
  margins of models predicting leads they never saw, later than their training, as serving does;
- **the kind that serves** is the one whose calibrated out-of-fold log loss is lower (it ranks and
  calibrates better over the folds), compared lead by lead with a 95% interval: a more complex kind
  (the base rate < logistic regression < LightGBM) serves only when the low end of its gain's interval
  over the simpler one is above ``model.min_improvement``, or the config names a kind;
- **the grade cuts** come from the served kind's calibrated out-of-fold probabilities.

Both kinds are then fitted on all development rows with those settings (the *development models*, judged
on the untouched test window by ``pipeline.py``), and the served kind is refit on every labelled row
(:func:`refit_stage`), its calibration learnt again from the out-of-fold margins plus the test window's.
A stage whose rows hold a single outcome has nothing to learn: when every row is positive (an export
where every SQO is a win) its probability is the constant 1 (:func:`constant_model`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.scorers.model.artifacts import LeadscoreModel
from leadscore.scorers.model.linear import LinearModel, encode_matrix, fit_encoding
from leadscore.scorers.ranking import roc_auc
from leadscore.training.calibration import fit_calibration, row_log_loss, select_calibration
from leadscore.training.config import TrainConfig
from leadscore.training.fit import (
    FittedBooster,
    fit_lightgbm_curve,
    fit_lightgbm_rounds,
    fit_logistic,
    fix_feature_spec,
)
from leadscore.training.split import Folds

log = logging.getLogger(__name__)

KINDS = ("lightgbm", "logistic")
BASE_RATE = "base_rate"
KIND_WORDS = {"lightgbm": "LightGBM", "logistic": "logistic regression", "constant": "the constant 1",
              BASE_RATE: "the base rate"}
# Simplest first: a more complex kind serves only when its calibrated out-of-fold log loss is clearly lower.
SIMPLICITY = (BASE_RATE, "logistic", "lightgbm")
# Fewer judged rows (or one outcome among them) and the choice falls back on every out-of-fold row.
MIN_JUDGED_ROWS = 50
# Fewer out-of-fold rows of leads already at SQO (or one outcome among them) and q is not calibrated for them.
MIN_PAST_ROWS = 30


@dataclass
class KindFit:
    """One kind of model over the folds, and fitted on the development rows.

    Attributes
    ----------
    kind
        ``lightgbm`` or ``logistic``.
    oof_margin
        Out-of-fold raw margin per development row (NaN in the first block and in folds left out).
    calibration, calibration_comparison
        The chosen calibration map (fitted on the judged out-of-fold margins) and each method's held-out
        log loss.
    lead_log_loss
        Held-out calibrated log loss per judged lead (mean over its rows), indexed by ``lead_id``.
    fold_auc
        ROC AUC of the out-of-fold predictions per fold, on the judged rows.
    model
        The kind fitted on every development row of the stage, with ``calibration``.
    """

    kind: str
    oof_margin: np.ndarray
    calibration: dict
    calibration_comparison: pd.DataFrame
    lead_log_loss: pd.Series
    fold_auc: dict[int, float]
    model: LeadscoreModel

    @property
    def log_loss(self) -> float:
        return float(self.lead_log_loss.mean()) if len(self.lead_log_loss) else float("nan")

    def oof_p(self) -> np.ndarray:
        """Calibrated out-of-fold probability per development row (NaN where there is none)."""
        from leadscore.scorers.model.calibration import apply_calibration

        p = np.full(len(self.oof_margin), np.nan)
        have = ~np.isnan(self.oof_margin)
        p[have] = apply_calibration(self.calibration, self.oof_margin[have])
        return p


@dataclass
class Stage:
    """One probability chosen and fitted over the folds (see the module docstring).

    Attributes
    ----------
    name
        What it predicts, in words (``SQO``, ``win given SQO``).
    kinds
        Each kind's :class:`KindFit` (empty for a constant stage).
    kind, reason
        The kind that serves and the sentence saying why.
    population, judged
        Masks over the development rows: the rows this stage learns from, and those it is judged on.
    n_trees
        LightGBM's number of trees chosen over the folds.
    fitted
        The development LightGBM model's facts (for logs and the run).
    notes
        What the stage left out and why (folds without both outcomes, a constant probability).
    """

    name: str
    kinds: dict[str, KindFit]
    kind: str
    reason: str
    population: np.ndarray
    judged: np.ndarray
    label: str
    n_trees: int = 0
    past: np.ndarray | None = None
    fitted: FittedBooster | None = None
    constant: LeadscoreModel | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def served(self) -> KindFit | None:
        return self.kinds.get(self.kind)

    @property
    def model(self) -> LeadscoreModel:
        """The development model of the kind that serves (the constant model for a constant stage)."""
        return self.constant if self.constant is not None else self.kinds[self.kind].model

    def p(self, frame: pd.DataFrame, kind: str | None = None) -> np.ndarray:
        """Calibrated probabilities of the development model of ``kind`` (default: the served one)."""
        if self.constant is not None:
            return self.constant.predict(frame)
        return self.kinds[kind or self.kind].model.predict(frame)

    def oof_p(self, kind: str | None = None) -> np.ndarray:
        """Calibrated out-of-fold probability per development row (the constant 1 for a constant stage)."""
        if self.constant is not None:
            return np.ones(len(self.population))
        return self.kinds[kind or self.kind].oof_p()

    def summary(self) -> str:
        """The choice in words, with the folds' evidence."""
        if not self.kinds:
            return self.reason
        folds = ", ".join(
            f"{KIND_WORDS[k]} log loss {fit.log_loss:.5f}, AUC by fold "
            + "/".join(f"{a:.3f}" for a in fit.fold_auc.values())
            for k, fit in self.kinds.items())
        return f"{self.reason} [{folds}; {self.n_trees} trees]"


def usable(label: np.ndarray, min_rows: int = 1) -> bool:
    """Both outcomes among at least ``min_rows`` rows."""
    return len(label) >= min_rows and 0 < int(label.sum()) < len(label)


def judged_rows(candidates: np.ndarray, judged: np.ndarray, label: np.ndarray) -> np.ndarray:
    """The rows a choice is made on: the judged ones among ``candidates``, unless too few or one outcome."""
    at = candidates & judged
    return at if usable(label[at], MIN_JUDGED_ROWS) else candidates


def constant_model(rows: pd.DataFrame, features: list[dict], config: TrainConfig, p: float = 1.0) -> LeadscoreModel:
    """A model whose probability is ``p`` for every lead, stored as data like any logistic model.

    Its coefficients are zero (so it has no reasons) and its calibration is ``{"method": "constant"}``.
    """
    spec = fix_feature_spec(rows, features)
    encoding = fit_encoding(rows, spec, config.logistic.min_category_frequency)
    width = encode_matrix(rows.head(1), encoding).shape[1]
    linear = LinearModel(encoding=encoding, coef=np.zeros(width), intercept=0.0, reference=np.zeros(width))
    return LeadscoreModel(spec={"features": spec}, calibration={"method": "constant", "p": float(p)}, linear=linear)


def _fit_kind(kind: str, rows: pd.DataFrame, spec: list[dict], config: TrainConfig, n_trees: int,
              calibration: dict | None = None) -> LeadscoreModel:
    calibration = calibration or {"method": "none"}
    if kind == "lightgbm":
        booster = fit_lightgbm_rounds(rows, spec, config.lightgbm, config.seed, n_trees)
        return LeadscoreModel(spec={"features": spec}, calibration=calibration, booster=booster)
    return LeadscoreModel(spec={"features": spec}, calibration=calibration,
                          linear=fit_logistic(rows, spec, config.logistic))


def _calibrate(margin: np.ndarray, label: np.ndarray, lead_id: pd.Series, config: TrainConfig
               ) -> tuple[dict, pd.DataFrame, pd.Series]:
    """The chosen calibration fitted on ``margin``, each method's held-out log loss, and the chosen one's per lead."""
    calibration, comparison, held_out = select_calibration(margin, label, lead_id, config.calibration, config.seed)
    per_lead = pd.Series(row_log_loss(label, held_out), index=lead_id.to_numpy()).groupby(level=0).mean()
    return calibration, comparison, per_lead


def paired_gain(kinds: dict[str, KindFit], better: str, worse: str) -> tuple[float, float, float]:
    """How much lower ``better``'s calibrated log loss is than ``worse``'s, paired by lead: mean and 95% interval."""
    gain = (kinds[worse].lead_log_loss - kinds[better].lead_log_loss).dropna()
    mean = float(gain.mean()) if len(gain) else float("nan")
    margin = 1.96 * float(gain.std(ddof=1)) / len(gain) ** 0.5 if len(gain) > 1 else float("inf")
    return mean, mean - margin, mean + margin


def tree_gain(kinds: dict[str, KindFit]) -> tuple[float, float, float]:
    """LightGBM's gain in calibrated log loss over the logistic regression, paired by lead: mean and 95% interval."""
    return paired_gain(kinds, "lightgbm", "logistic")


def choose_kind(kinds: dict[str, KindFit], config: TrainConfig) -> tuple[str, str]:
    """The kind that serves and the sentence saying why (see the module docstring).

    The simplest kind serves unless a more complex one is clearly better: its calibrated out-of-fold log
    loss lower lead by lead, the low end of the paired 95% interval of its gain above
    ``model.min_improvement``. A gain that may be noise never buys the trees: on the flat exports a
    LightGBM chosen on a mean gain of +0.0006 (interval [-0.010, +0.011]) ranked worse on the test window
    than the logistic regression left out. The sentence gives the paired interval against the runner-up,
    and says "clearly" when it lies wholly on one side.
    """
    losses = ", ".join(f"{KIND_WORDS[k]} {fit.log_loss:.5f}" for k, fit in kinds.items())
    where = f"calibrated out-of-fold log loss over the folds ({losses}"
    if config.model.kind != "auto":
        return config.model.kind, f"{KIND_WORDS[config.model.kind]}, as the training config names it ({where}))"
    simplest_first = [k for k in SIMPLICITY if k in kinds]
    chosen = simplest_first[0]
    for richer in simplest_first[1:]:
        if paired_gain(kinds, richer, chosen)[1] > config.model.min_improvement:
            chosen = richer
    best = min(simplest_first, key=lambda k: kinds[k].log_loss)
    if best != chosen:
        gain, low, high = paired_gain(kinds, best, chosen)
        return chosen, (f"{KIND_WORDS[chosen]}, the simpler kind: {KIND_WORDS[best]}'s gain in {where}) is "
                        f"{gain:+.5f}, and the low end of its 95% interval [{low:+.5f}, {high:+.5f}] is not above "
                        f"model.min_improvement {config.model.min_improvement:g}")
    runner_up = min((k for k in simplest_first if k != chosen), key=lambda k: kinds[k].log_loss)
    gain, low, high = paired_gain(kinds, chosen, runner_up)
    clearly = "clearly " if low > 0 else ""
    return chosen, (f"{KIND_WORDS[chosen]}, {clearly}the better {where}; its gain over {KIND_WORDS[runner_up]} "
                    f"{gain:+.5f}, 95% interval [{low:+.5f}, {high:+.5f}])")


def fit_stage(
    name: str,
    development: pd.DataFrame,
    folds: Folds,
    features: list[dict],
    config: TrainConfig,
    label: str = "label",
    population: np.ndarray | None = None,
    judged: np.ndarray | None = None,
    base_rate: bool = False,
    past: np.ndarray | None = None,
) -> Stage:
    """Choose and fit one probability over the rolling-origin folds (see the module docstring).

    Parameters
    ----------
    name
        What it predicts, in words.
    development
        The development rows (``Split.development``) with their ``fold``.
    folds
        The split's folds.
    features
        Spec entries of the features the models may use.
    label
        The column holding this stage's outcome.
    population
        Mask of the rows the stage learns from (default: all); every development row of a validation block
        still gets an out-of-fold prediction.
    judged
        Mask of the rows where the probability is used (the scoring moments): the choices are made there.
    base_rate
        Add the base rate (no features) as a third candidate: for a probability learnt from few leads
        (q learns from the leads that reach SQO), it serves when neither model beats it out of fold.
    past
        For q: mask of the rows of leads already at SQO. Their chance of winning is calibrated apart, on
        their own out-of-fold margins (``calibration["past_sqo"]``), when there are enough of them.

    Raises
    ------
    LeadscoreError
        When the stage's rows hold no positive at all.
    """
    n = len(development)
    population = np.ones(n, dtype=bool) if population is None else np.asarray(population, dtype=bool)
    judged = np.ones(n, dtype=bool) if judged is None else np.asarray(judged, dtype=bool)
    rows = development.assign(label=development[label].to_numpy()) if label != "label" else development
    y = rows["label"].to_numpy()
    learn = rows[population]
    if int(y[population].sum()) == 0:
        raise LeadscoreError(f"training set: no positive among the {int(population.sum()):,} rows for {name}; "
                             "both outcomes are needed to train a model.")
    if int(y[population].sum()) == int(population.sum()):
        reason = (f"the constant 1: every one of the {int(population.sum()):,} rows for {name} is positive, so there "
                  "is nothing to learn")
        return Stage(name, {}, "constant", reason, population, judged, label,
                     constant=constant_model(learn, features, config), notes=[reason])

    notes = []
    oof = {kind: np.full(n, np.nan) for kind in KINDS + ((BASE_RATE,) if base_rate else ())}
    boosters, curves, weights = {}, [], []
    for k in folds.numbers:
        train_mask = folds.training(rows, k) & population
        valid_mask = folds.validation(rows, k)
        block = valid_mask & population
        if not usable(y[train_mask]) or not usable(y[judged_rows(block, judged, y)]):
            notes.append(f"fold {k} left out of the choice for {name}: its training rows or its block lack an outcome")
            continue
        train = rows[train_mask]
        spec = fix_feature_spec(train, features)
        # the number of trees is a regularisation choice: every snapshot of the block tells on it
        booster, losses = fit_lightgbm_curve(train, rows[block], spec, config.lightgbm, config.seed)
        boosters[k] = (booster, spec, valid_mask)
        curves.append(losses * block.sum())
        weights.append(int(block.sum()))
        linear = LeadscoreModel(spec={"features": spec}, calibration={"method": "none"},
                                linear=fit_logistic(train, spec, config.logistic))
        oof["logistic"][valid_mask] = linear.margin(rows[valid_mask])
        if base_rate:
            rate = float(np.clip(y[train_mask].mean(), 1e-6, 1 - 1e-6))
            oof[BASE_RATE][valid_mask] = np.log(rate / (1 - rate))
    spec = fix_feature_spec(learn, features)
    if not curves:
        kind = config.model.kind if config.model.kind != "auto" else "logistic"
        reason = (f"{KIND_WORDS[kind]} without calibration: no rolling-origin fold holds both outcomes for {name}, "
                  "so nothing could be chosen out of fold")
        model = _fit_kind(kind, learn, spec, config, config.lightgbm.max_trees // 2)
        notes.append(reason)
        empty = pd.Series(dtype=float)
        fit = KindFit(kind, np.full(n, np.nan), {"method": "none"}, pd.DataFrame(columns=["method", "cv_log_loss", "chosen"]),
                      empty, {}, model)
        return Stage(name, {kind: fit}, kind, reason, population, judged, label, notes=notes)
    length = min(len(c) for c in curves)
    pooled = np.sum([c[:length] for c in curves], axis=0)
    n_trees = int(np.argmin(pooled)) + 1
    for booster, fold_spec, valid_mask in boosters.values():
        oof["lightgbm"][valid_mask] = np.asarray(
            booster.predict(_encoded(rows[valid_mask], fold_spec), raw_score=True, num_iteration=n_trees), dtype=float)

    kinds = {}
    for kind in oof:
        have = ~np.isnan(oof[kind]) & population
        on = judged_rows(have, judged, y)
        calibration, comparison, per_lead = _calibrate(oof[kind][on], y[on], rows.loc[on, "lead_id"], config)
        fold_auc = {k: roc_auc(y[on & folds.validation(rows, k)], oof[kind][on & folds.validation(rows, k)])
                    for k in boosters}
        past_calibration = None
        if past is not None and usable(y[have & past], MIN_PAST_ROWS):
            past_rows = have & past
            past_calibration = (
                {"method": "constant", "p": float(y[past_rows].mean())} if kind == BASE_RATE
                else select_calibration(oof[kind][past_rows], y[past_rows], rows.loc[past_rows, "lead_id"],
                                        config.calibration, config.seed)[0])
        if kind == BASE_RATE:
            from leadscore.scorers.model.calibration import apply_calibration

            judged_learn = judged_rows(population, judged, y)
            rate = float(np.clip(y[judged_learn].mean(), 1e-6, 1 - 1e-6))
            p = float(apply_calibration(calibration, np.array([np.log(rate / (1 - rate))]))[0])
            model = constant_model(learn, features, config, p)
        else:
            model = _fit_kind(kind, learn, spec, config, n_trees, calibration)
        if past_calibration is not None:
            model.calibration = {**model.calibration, "past_sqo": past_calibration}
        kinds[kind] = KindFit(kind, oof[kind], calibration, comparison, per_lead, fold_auc, model)
    kind, reason = choose_kind(kinds, config)
    booster = kinds["lightgbm"].model.booster
    fitted = FittedBooster(booster=booster, n_trees=booster.num_trees(), best_iteration=n_trees,
                           params=dict(getattr(booster, "params", None) or {}),
                           validation_log_loss=float(pooled[n_trees - 1] / sum(weights)))
    log.debug("%s: %s", name, reason)
    return Stage(name, kinds, kind, reason, population, judged, label, n_trees, past, fitted, notes=notes)


def _encoded(frame: pd.DataFrame, spec: list[dict]) -> pd.DataFrame:
    from leadscore.scorers.model.encoding import encode_features

    return encode_features(frame, spec)


def refit_stage(stage: Stage, development: pd.DataFrame, labelled: pd.DataFrame, population: np.ndarray,
                test: pd.DataFrame, test_population: np.ndarray, test_judged: np.ndarray, features: list[dict],
                config: TrainConfig, test_past_sqo: np.ndarray | None = None) -> tuple[LeadscoreModel, pd.DataFrame]:
    """The served kind refit on every labelled row of the stage (``labelled[population]``), recalibrated.

    Its calibration (the method chosen over the folds) is fitted again on the out-of-fold margins of the
    development rows plus the development model's margins on the test window, which it never saw: every
    margin the map learns from is a model's prediction for leads after its training data, as in serving.

    Returns
    -------
    model, pool
        The refit model and the rows its calibration learnt from (``lead_id``, ``margin``, ``label``,
        ``p``: their calibrated probability), at the moments the model is used where there are enough.
    """
    rows = labelled[np.asarray(population, dtype=bool)].reset_index(drop=True)
    if stage.constant is not None:
        return constant_model(rows.assign(label=rows[stage.label].to_numpy()), features, config), pd.DataFrame()
    fit = stage.served
    test_past_sqo = np.zeros(len(test), dtype=bool) if test_past_sqo is None else test_past_sqo
    y = development[stage.label].to_numpy()
    have = ~np.isnan(fit.oof_margin) & stage.population
    on = judged_rows(have, stage.judged, y)
    test_y = test[stage.label].to_numpy()
    test_on = judged_rows(np.asarray(test_population, dtype=bool), np.asarray(test_judged, dtype=bool), test_y)
    pool = pd.DataFrame({
        "lead_id": np.concatenate([development.loc[on, "lead_id"].to_numpy(), test.loc[test_on, "lead_id"].to_numpy()]),
        "margin": np.concatenate([fit.oof_margin[on], fit.model.margin(test[test_on])]),
        "label": np.concatenate([y[on], test_y[test_on]]),
    })
    learn = rows.assign(label=rows[stage.label].to_numpy())
    past = fit.model.calibration.get("past_sqo")
    if past is not None:  # the map for leads already at SQO, learnt again with the test window's too
        past_on = ~np.isnan(fit.oof_margin) & stage.population & np.asarray(stage.past, dtype=bool)
        test_past = np.asarray(test_population, dtype=bool) & np.asarray(test_past_sqo, dtype=bool)
        margin = np.concatenate([fit.oof_margin[past_on], fit.model.margin(test[test_past])])
        label = np.concatenate([y[past_on], test_y[test_past]])
        past = ({"method": "constant", "p": float(label.mean())} if stage.kind == BASE_RATE
                else fit_calibration(past["method"], margin, label))
    if stage.kind == BASE_RATE:
        # no features: the rate where the probability is used, out of fold and on the test window
        rate = float(pool["label"].mean())
        pool["p"] = rate
        model = constant_model(learn, features, config, rate)
    else:
        calibration = fit_calibration(fit.calibration["method"], pool["margin"].to_numpy(), pool["label"].to_numpy())
        from leadscore.scorers.model.calibration import apply_calibration

        pool["p"] = apply_calibration(calibration, pool["margin"].to_numpy())
        model = _fit_kind(stage.kind, learn, fix_feature_spec(learn, features), config, stage.n_trees, calibration)
    if past is not None:
        model.calibration = {**model.calibration, "past_sqo": past}
    log.debug("refit %s (%s) on %d labelled snapshots", stage.name, stage.kind, len(rows))
    return model, pool
