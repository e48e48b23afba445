"""The batch scorer: one output row per requested lead, with probabilities, reasons and rule points.

For every requested (lead_id, as_of) row the scorer builds the training builder's features at that
as_of, asks the SQO model for a calibrated probability with exact SHAP reasons in words, the WON model
for the chance of winning given SQO (``p_win = p_sqo × q``, so ``p_win <= p_sqo`` for every lead:
:mod:`leadscore.scorers.model.answer`), and the rules for their points, grade and stage, side by side. A row
that cannot be scored still gets a row, with a ``status`` saying why; the counts in and out always
reconcile.

Output columns (the data contract's scorer output; where it says ``model_name`` / ``model_version``,
those name the SQO model, which gives the score, grade and reasons, and the WON model gets the
``_won`` pair):

``lead_id, as_of, model_name, model_version, model_name_won, model_version_won, p_sqo, p_win, score,
grade, reasons_positive, reasons_negative, reasons, rule_score, rule_grade, rule_stage, rule_reasons,
status``

``status`` says what the row holds. Where the lead stands at its as_of
(:func:`leadscore.features.building.stages.funnel_position`) decides what it is scored for:

- ``ok``: an open lead, with ``p_sqo`` (and its score, grade and reasons) and ``p_win``;
- ``reached SQO``: its first SQO entry is at or before as_of, so there is no SQO left to predict:
  ``p_sqo``, score, grade and reasons stay empty; ``p_win`` is given only when the WON model was
  trained on leads past SQO (its chain says ``covers_past_sqo: true``), else it stays empty too;
- ``closed: won``, ``closed: lost``, ``closed: disqualified``: its latest stage entry closed it, so
  neither probability is given. The rule points are shown, but the rules call it ``closed``, never hot.

- ``no score: the model gave no probability``: an open lead whose model answer was missing (never seen
  from a leadscore model; said rather than shown as ``ok``).

Every other status says why the row was not scored at all (its model and rule columns stay empty):
``unknown lead_id``; ``as_of unreadable`` (text that is no moment, and moments outside the years
1677–2262 such as the 9999-12-31 and 1677-01-01 placeholders CRMs write: one such row never stops the
batch); ``as_of after the data's end``; ``no captured_at``; ``captured after as_of``. An as_of after the
data's end is not scored on purpose: the export says nothing about the days after it was taken, so
features there would read them as silence (no new activity, more days since the last) and the score
would be a guess that looks like a measurement. The row is kept, so the counts still reconcile. (One
``--as-of`` for every lead after the data's end is refused outright: that is a typo, not a batch.)

``score`` and ``grade`` come from ``p_sqo`` by :mod:`leadscore.scorers.model.grading` (shared with the
logged MLflow model): ``round(100 × p_sqo)`` half up, and A–D by the model spec's cut points unless given.

The export is staged once (:func:`leadscore.features.building.staging.stage_tables`: integer codes, rows
grouped by lead), then the requested rows are scored in chunks of ``chunk_size`` rows in request order,
each chunk a range of integer positions into the staged arrays: a lead's features read its colleagues
and the whole table's category counts from the staged export, so they are the same whatever chunk it
lands in. :func:`write_scores` writes each chunk's rows as it finishes, so memory holds the export and
one chunk, never the whole output. :func:`score_rows` is the scoring of staged rows itself, shared with
the HTTP service. The SQO model's answer (probability, score, grade, reasons) and the WON model's
probability are :mod:`leadscore.scorers.model.answer`'s, the one answer the logged model and training
give too.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.builder import build_feature_columns
from leadscore.features.building.catalogue import catalogue_hash, feature_names
from leadscore.features.building.columns import FeatureColumns
from leadscore.features.building.spine import EXCLUSION_REASONS, judge_request
from leadscore.features.building.stages import staged_position
from leadscore.features.building.staging import Staged, stage_tables
from leadscore.features.errors import LeadscoreError
from leadscore.features.progress import Progress
from leadscore.features.tables import Tables
from leadscore.features.timestamps import to_epoch_ns, to_moment
from leadscore.scorers.model.grading import ALL_GRADES, GRADES, check_grade_cuts, whole_scores
from leadscore.scorers.rules import RulesConfig
from leadscore.scorers.rules.engine import GRADE_LABELS, STAGE_LABELS, RuleScores, rule_rows
from leadscore.scorers.status import STATUS_OK, STATUS_REACHED_SQO, split_counts, statuses
from leadscore.serving.loading import ScoringModel, check_chain, check_model_features

logger = logging.getLogger(__name__)

OUTPUT_COLUMNS = (
    "lead_id", "as_of", "model_name", "model_version", "model_name_won", "model_version_won", "p_sqo", "p_win",
    "score", "grade", "reasons_positive", "reasons_negative", "reasons", "rule_score", "rule_grade", "rule_stage",
    "rule_reasons", "status",
)
# make_spine's exclusion reasons as a reader sees them in the status column.
STATUS_TEXT = dict(EXCLUSION_REASONS)
DEFAULT_CHUNK_SIZE = 100_000
# Called per chunk with the chunk's spine, its built features and the SQO model's exact contributions
# (``n × len(spec_features)``): what the score store keeps to explain a later change.
ExplainedHook = Callable[[pd.DataFrame, pd.DataFrame, np.ndarray], None]


@dataclass(frozen=True)
class ScoreCounts:
    """How many rows were asked for, written, scored, and why the others were not.

    Attributes
    ----------
    n_in, n_out, n_ok
        Requested rows, output rows (always equal to ``n_in``) and rows with status ``ok``.
    not_open
        ``reached SQO`` and ``closed: …`` -> number of rows: leads scored for what is left of their
        funnel only (``n_ok + sum(not_open) + sum(not_scored) == n_out``).
    not_scored
        Status text -> number of rows, for every other status (why the row was not scored).
    p_win_past_sqo
        Whether leads at SQO got a ``p_win`` (the WON model was trained on leads past SQO); None without
        a WON model.
    seconds
        Wall time per stage (``features``, ``rules``, ``sqo`` with its SHAP values and reasons, ``won``,
        ``total``), for logs and benchmarks.
    own_columns
        Per export column the models use: the share of scored rows without a value, and the share
        with a value the model never saw in training (drift made visible).
    fill_jumps
        Per export column whose fill rate moved far from training's: (share of training leads with a
        value at capture, share of scored rows with one). A field written after capture is filled for
        the old leads of a snapshot export and blank for the new leads being scored.
    grades
        Grade -> number of rows with status ``ok``, A to D.
    """

    n_in: int
    n_out: int
    n_ok: int
    not_scored: dict[str, int] = field(default_factory=dict)
    not_open: dict[str, int] = field(default_factory=dict)
    p_win_past_sqo: bool | None = None
    seconds: dict[str, float] = field(default_factory=dict)
    own_columns: dict[str, tuple[float, float]] = field(default_factory=dict)
    fill_jumps: dict[str, tuple[float, float]] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)

    @property
    def n_not_scored(self) -> int:
        return sum(self.not_scored.values())

    def summary(self) -> str:
        """ "N leads in, N rows out: X ok, …, Y not scored (reason n, …)", the line the command prints.

        Leads at SQO and closed leads are counted apart, with what they were given.
        """
        both = "p_sqo" if self.p_win_past_sqo is None else "p_sqo and p_win"
        text = f"{self.n_in:,} leads in, {self.n_out:,} rows out: {self.n_ok:,} ok (open leads: {both})"
        n_sqo = self.not_open.get(STATUS_REACHED_SQO, 0)
        if n_sqo:
            given = {True: "p_win only: the WON model covers leads past SQO",
                     False: "no probability: the WON model was trained on open leads only",
                     None: "no probability: no WON model"}[self.p_win_past_sqo]
            text += f", {n_sqo:,} already at SQO ({given})"
        closed = {k.removeprefix("closed: "): n for k, n in self.not_open.items() if k != STATUS_REACHED_SQO and n}
        if closed:
            listed = ", ".join(f"{outcome} {n:,}" for outcome, n in closed.items())
            text += f", {sum(closed.values()):,} closed ({listed}; no probability)"
        if self.not_scored:
            listed = ", ".join(f"{reason} {n:,}" for reason, n in sorted(self.not_scored.items(), key=lambda x: -x[1]))
            text += f", {self.n_not_scored:,} not scored ({listed})"
        return text


# A column's fill rate at scoring this far from training's (share of rows with a value) is named, once
# enough rows were scored to tell.
FILL_JUMP = 0.25
FILL_JUMP_MIN_ROWS = 30


class OwnColumnDrift:
    """Counts, over the scored rows, of missing and unseen values of the export's own columns the models use."""

    def __init__(self, models: list[ScoringModel]) -> None:
        self.specs: dict[str, dict] = {}
        for model in models:
            for feature in model.spec_features:
                if "source" in feature:
                    self.specs.setdefault(feature["name"], feature)
        self.n_rows = 0
        self.missing = dict.fromkeys(self.specs, 0)
        self.unseen = dict.fromkeys(self.specs, 0)

    @property
    def own(self) -> list[dict]:
        """The spec entries the feature builder needs."""
        return list(self.specs.values())

    def add(self, features: FeatureColumns | pd.DataFrame) -> None:
        if isinstance(features, pd.DataFrame):
            self._add_frame(features)
            return
        self.n_rows += features.n
        for name, spec in self.specs.items():
            if name in features.numbers:
                self.missing[name] += int(np.isnan(features.numbers[name]).sum())
                continue
            category = features.categories[name]
            self.missing[name] += int((category.codes < 0).sum())
            if spec["kind"] == "categorical" and spec.get("categories") is not None:
                known = set(spec["categories"])
                unseen = np.array([v not in known for v in category.values] + [False])
                self.unseen[name] += int(unseen[category.codes].sum())

    def _add_frame(self, features: pd.DataFrame) -> None:
        self.n_rows += len(features)
        for name, spec in self.specs.items():
            column = features[name]
            missing = column.isna()
            self.missing[name] += int(missing.sum())
            if spec["kind"] == "categorical" and spec.get("categories") is not None:
                known = set(spec["categories"])
                self.unseen[name] += int((~missing & ~column.astype("str").isin(known)).sum())

    def fill_jumps(self) -> dict[str, tuple[float, float]]:
        """Export header -> (filled in training, filled now) where the two differ by :data:`FILL_JUMP` or more.

        Training's share comes from the model's spec (``filled_share``, written by the audit); models
        trained before it recorded one are not judged.
        """
        if self.n_rows < FILL_JUMP_MIN_ROWS:
            return {}
        out = {}
        for name, spec in self.specs.items():
            trained = spec.get("filled_share")
            now = 1 - self.missing[name] / self.n_rows
            if trained is not None and abs(now - trained) >= FILL_JUMP:
                out[spec["source"]["column"]] = (float(trained), now)
        return out

    def shares(self) -> dict[str, tuple[float, float]]:
        """Export header -> (share missing, share unseen in training)."""
        n = max(self.n_rows, 1)
        return {spec["source"]["column"]: (self.missing[name] / n, self.unseen[name] / n)
                for name, spec in self.specs.items()}


def model_vocabulary(*models: ScoringModel | None) -> dict[str, frozenset[str]]:
    """Per categorical feature, the categories the models learnt: common by their training, whatever the batch."""
    out: dict[str, set[str]] = {}
    for model in models:
        if model is None:
            continue
        for feature in model.spec_features:
            if feature.get("kind") == "categorical":
                out.setdefault(feature["name"], set()).update(feature.get("categories") or ())
    return {name: frozenset(values) for name, values in out.items()}


def parse_grade_points(text: str) -> dict[str, float]:
    """``--grades A,B,C`` in score points (0–100) as probability cuts that agree with the printed score.

    A lead with score ``s`` gets grade A when ``s >= A``; since ``score = floor(100 p + 0.5)``, that
    is ``p >= (A - 0.5) / 100``.
    """
    parts = [p.strip() for p in str(text).split(",")]
    try:
        points = [float(p) for p in parts]
    except ValueError:
        points = []
    if len(points) != 3 or not all(0 < p <= 100 for p in points) or not points[0] >= points[1] >= points[2]:
        raise LeadscoreError(f"--grades {text!r}: give three score points for A, B and C, highest first, "
                             "each in 1..100, e.g. --grades 40,20,10.")
    return {g: (p - 0.5) / 100.0 for g, p in zip(GRADES, points, strict=True)}


class _StageClock:
    """Adds the time since the previous lap to ``seconds[stage]`` (does nothing without a dict)."""

    def __init__(self, seconds: dict[str, float] | None) -> None:
        self.seconds = seconds
        self.last = time.perf_counter()

    def lap(self, stage: str) -> None:
        now = time.perf_counter()
        if self.seconds is not None:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + now - self.last
        self.last = now


@dataclass
class Scorer:
    """What scoring needs besides the rows: the models, the rules, the grade cuts and what the models read."""

    sqo: ScoringModel
    won: ScoringModel | None
    rules: RulesConfig
    cuts: dict[str, float]
    own: list[dict] = field(default_factory=list)
    vocabulary: dict[str, frozenset[str]] = field(default_factory=dict)
    stories: tuple = ()

    @classmethod
    def of(cls, sqo: ScoringModel, won: ScoringModel | None, rules: RulesConfig,
           grade_cuts: dict[str, float] | None = None) -> Scorer:
        """Check the models against this leadscore's features and settle the grade cuts.

        Raises
        ------
        LeadscoreError
            If a model needs a feature this leadscore does not build, or the grade cuts are unusable.
        """
        current_hash = catalogue_hash()
        check_model_features(sqo, feature_names(), current_hash)
        if won is not None:
            check_model_features(won, feature_names(), current_hash)
            check_chain(sqo, won)
        if grade_cuts is None:
            if sqo.grade_cuts is None:
                raise LeadscoreError(f"{sqo.name} v{sqo.version} records no grade cut points: pass --grades A,B,C.")
            cuts = check_grade_cuts(sqo.grade_cuts, f"{sqo.name} v{sqo.version}")
        else:
            cuts = check_grade_cuts(grade_cuts, "grade cuts")
        from leadscore.scorers.model.contributions import story_members

        models = [m for m in (sqo, won) if m is not None]
        return cls(sqo, won, rules, cuts, OwnColumnDrift(models).own, model_vocabulary(sqo, won),
                   story_members(sqo.spec_features))


@dataclass
class ScoredRows:
    """The scorer's answer for staged rows: the model and rule columns, one entry per row.

    ``position`` is where each lead stands at its as_of (:data:`~leadscore.features.building.stages.POSITIONS`
    indices); ``p_sqo``, ``score``, ``grade`` and the reasons are given for open leads only, ``p_win``
    for open leads and, when the WON model covers them, leads at SQO.
    """

    p_sqo: np.ndarray
    p_win: np.ndarray
    grade: list[str | None]
    reasons_positive: list[str] | pa.Array
    reasons_negative: list[str] | pa.Array
    reasons: list[str] | pa.Array
    rules: RuleScores
    features: FeatureColumns
    position: np.ndarray

    @property
    def status(self) -> np.ndarray:
        return statuses(self.position, self.p_sqo)


def won_covers_past_sqo(won_model: ScoringModel | None) -> bool:
    """Whether the served WON model gives leads at SQO a ``p_win`` (:func:`~leadscore.scorers.model.answer.covers_past_sqo`)."""
    from leadscore.scorers.model.answer import covers_past_sqo

    return won_model is not None and covers_past_sqo(won_model.model)


def _spread(values: list | pa.Array | np.ndarray, at: np.ndarray, n: int) -> list | pa.Array:
    """``values`` of the rows ``at`` (a boolean mask of ``n``) in place among ``n`` rows, missing elsewhere."""
    if isinstance(values, pa.Array):
        slot = np.full(n, -1, dtype=np.int64)
        slot[at] = np.arange(len(values))
        return values.take(pa.array(slot, mask=slot < 0))
    out: list = [None] * n
    for row, value in zip(np.flatnonzero(at).tolist(), list(values), strict=True):
        out[row] = value
    return out


def _lead_ids(staged: Staged, lead_pos: np.ndarray) -> list[str]:
    """The lead_id texts of staged lead positions."""
    from leadscore.features.building.text import as_arrow

    return [str(v) for v in as_arrow(staged.lead_ids).take(pa.array(lead_pos)).to_pylist()]


def score_rows(scorer: Scorer, staged: Staged, lead_pos: np.ndarray, as_of_ns: np.ndarray, date_order: str | None = None,
               seconds: dict[str, float] | None = None, on_explained: ExplainedHook | None = None,
               position: np.ndarray | None = None) -> ScoredRows:
    """Features, the SQO answer (p_sqo, grade, exact reasons), p_win and rule points for rows of a staged export.

    Every row's lead must be in ``staged`` and captured by its as_of (:func:`judge_request` says which
    are); the batch scorer calls this per chunk, the HTTP service for the leads of one request. Only an
    open lead gets p_sqo; a lead at SQO gets p_win when the WON model covers it; p_win = p_sqo × q
    (:mod:`leadscore.scorers.model.answer`), never above p_sqo. ``seconds``, when given, accumulates
    the wall time of each stage; ``on_explained`` receives the open rows' features and SQO contributions
    (:data:`ExplainedHook`); ``position`` is where each row's lead stands (worked out when not given).
    """
    from leadscore.scorers.model.answer import answer_rows, probability

    clock = _StageClock(seconds)
    n = len(lead_pos)
    features = build_feature_columns(staged, lead_pos, as_of_ns, scorer.own, scorer.vocabulary, date_order)
    if position is None:
        position = staged_position(staged, lead_pos, as_of_ns)
    clock.lap("features")
    gets_sqo = position == 0
    at_sqo = position == 1
    gets_win = gets_sqo | (at_sqo & won_covers_past_sqo(scorer.won))
    every = bool(gets_sqo.all())
    p_sqo = np.full(n, np.nan)
    grade: list = [None] * n
    up = down = both = [None] * n
    if gets_sqo.any():
        open_features = features if every else features.take(np.flatnonzero(gets_sqo))
        explained = None
        if on_explained is not None:
            def explained(values: np.ndarray) -> None:
                at = np.flatnonzero(gets_sqo)
                spine = pd.DataFrame({"lead_id": _lead_ids(staged, lead_pos[at]),
                                      "as_of": pd.to_datetime(as_of_ns[at], utc=True)})
                on_explained(spine, open_features.frame(spine["lead_id"], spine["as_of"]), values)
        answered = answer_rows(scorer.sqo.model, open_features, scorer.cuts, on_contributions=explained,
                               stories=scorer.stories or None)
        p_sqo[gets_sqo] = answered.p
        if every:
            grade, up, down, both = (answered.grade.tolist(), answered.reasons_positive, answered.reasons_negative,
                                     answered.reasons)
        else:
            grade = _spread(answered.grade.tolist(), gets_sqo, n)
            up, down, both = (_spread(answered.reasons_positive, gets_sqo, n),
                              _spread(answered.reasons_negative, gets_sqo, n), _spread(answered.reasons, gets_sqo, n))
        del answered
    clock.lap("sqo")
    p_win = np.full(n, np.nan)
    if scorer.won is not None and gets_win.any():
        win_features = features if gets_win.all() else features.take(np.flatnonzero(gets_win))
        p_win[gets_win] = probability(scorer.won.model, win_features, p_sqo=p_sqo[gets_win], at_sqo=at_sqo[gets_win])
    clock.lap("won")
    rules = rule_rows(staged, lead_pos, as_of_ns, scorer.rules, position)
    clock.lap("rules")
    return ScoredRows(p_sqo, p_win, grade, up, down, both, rules, features, position)


_TEXT = pa.large_string()
SCHEMA = pa.schema([
    ("lead_id", _TEXT), ("as_of", pa.timestamp("ns", tz="UTC")), ("model_name", _TEXT), ("model_version", _TEXT),
    ("model_name_won", _TEXT), ("model_version_won", _TEXT), ("p_sqo", pa.float64()), ("p_win", pa.float64()),
    ("score", pa.int64()), ("grade", _TEXT), ("reasons_positive", _TEXT), ("reasons_negative", _TEXT),
    ("reasons", _TEXT), ("rule_score", pa.float64()), ("rule_grade", _TEXT), ("rule_stage", _TEXT),
    ("rule_reasons", _TEXT), ("status", _TEXT),
])
"""The output's columns and types (:data:`OUTPUT_COLUMNS`), as every chunk of rows carries them."""
NO_TIME = np.iinfo(np.int64).max  # an unreadable as_of, written as missing


@dataclass
class OutputRows:
    """Output rows column by column (:data:`OUTPUT_COLUMNS`): text as lists (None for missing), numbers as
    arrays (NaN for missing), ``score`` with ``has_score``, ``as_of`` in epoch ns (:data:`NO_TIME` for missing),
    the model names once for every row."""

    columns: dict[str, object]
    n: int

    def table(self) -> pa.Table:
        """The rows as Arrow (:data:`SCHEMA`): what the batch scorer writes."""
        c = self.columns
        arrays = []
        for field_ in SCHEMA:
            name = field_.name
            value = c[name]
            if name == "as_of":
                arrays.append(pa.array(value, type=field_.type, mask=value == NO_TIME))
            elif name == "score":
                arrays.append(pa.array(value, type=field_.type, mask=~c["has_score"]))
            elif name.startswith("model_"):
                arrays.append(pa.repeat(pa.scalar(value, type=_TEXT), self.n))
            elif field_.type == _TEXT:
                arrays.append(value.cast(_TEXT) if isinstance(value, pa.Array) else pa.array(value, type=_TEXT))
            else:
                arrays.append(pa.array(value, type=field_.type))
        return pa.table(arrays, schema=SCHEMA)


def output_rows(lead_id: list[str], as_of_ns: np.ndarray, reason: np.ndarray, scored: ScoredRows | None,
                scorer: Scorer) -> OutputRows:
    """The output rows of requested rows: scored where ``reason`` is "", a status saying why not elsewhere.

    ``scored`` holds the scored rows in order (None when there are none).
    """
    n = len(reason)
    ok = reason == ""
    every = bool(ok.all())
    at = [] if every else np.flatnonzero(ok).tolist()

    def numbers(values: np.ndarray | None) -> np.ndarray:
        if every and values is not None:
            return np.asarray(values, dtype=np.float64)
        out = np.full(n, np.nan)
        if values is not None:
            out[ok] = values
        return out

    def texts(values: list | pa.Array | None) -> list | pa.Array:
        if every and values is not None:
            return values
        if isinstance(values, pa.Array):
            slot = np.full(n, -1, dtype=np.int64)
            slot[ok] = np.arange(len(values))
            return values.take(pa.array(slot, mask=slot < 0))
        out: list = [None] * n
        if values is not None:
            for row, value in zip(at, values, strict=True):
                out[row] = value
        return out

    p_sqo = numbers(scored.p_sqo if scored is not None else None)
    rules = scored.rules if scored is not None else None
    status = texts(scored.status.tolist() if scored is not None else None)
    if not every:
        for row in np.flatnonzero(~ok).tolist():
            status[row] = STATUS_TEXT.get(reason[row], reason[row].replace("_", " "))
    won = scorer.won
    return OutputRows({
        "lead_id": lead_id,
        "as_of": as_of_ns,
        "model_name": scorer.sqo.name, "model_version": scorer.sqo.version,
        "model_name_won": won.name if won else None, "model_version_won": won.version if won else None,
        "p_sqo": p_sqo,
        "p_win": numbers(scored.p_win if scored is not None else None),
        "score": whole_scores(p_sqo), "has_score": ~np.isnan(p_sqo),
        "grade": texts(scored.grade if scored is not None else None),
        "reasons_positive": texts(scored.reasons_positive if scored is not None else None),
        "reasons_negative": texts(scored.reasons_negative if scored is not None else None),
        "reasons": texts(scored.reasons if scored is not None else None),
        "rule_score": numbers(rules.score if rules is not None else None),
        "rule_grade": texts(rules.text(rules.grade, GRADE_LABELS) if rules is not None else None),
        "rule_stage": texts(rules.text(rules.stage, STAGE_LABELS) if rules is not None else None),
        "rule_reasons": texts(rules.reasons if rules is not None else None),
        "status": status,
    }, n)


def output_frame(rows: pa.Table) -> pd.DataFrame:
    """Output rows as the scorer's frame: text as ``str``, ``as_of`` UTC, ``score`` as nullable ``Int64``."""
    frame = rows.to_pandas(types_mapper={pa.int64(): pd.Int64Dtype()}.get)
    for name in OUTPUT_COLUMNS:
        if SCHEMA.field(name).type == _TEXT and frame[name].dtype != "str":
            frame[name] = frame[name].astype("str")
    frame["as_of"] = frame["as_of"].astype("datetime64[ns, UTC]")
    return frame


@dataclass
class ScoreRun:
    """One batch: the request judged, the export staged once, rows scored chunk by chunk in request order."""

    scorer: Scorer
    staged: Staged
    tables: Tables
    judged: pd.DataFrame
    lead_pos: np.ndarray
    as_of_ns: np.ndarray
    reason: np.ndarray
    seconds: dict[str, float] = field(default_factory=dict)
    drift: OwnColumnDrift | None = None
    statuses: dict[str, int] = field(default_factory=dict)
    grades: dict[str, int] = field(default_factory=dict)
    started: float = field(default_factory=time.perf_counter)
    on_explained: ExplainedHook | None = None

    @classmethod
    def prepare(cls, tables: Tables, scorer: Scorer, as_of: pd.Timestamp | str | None = None,
                leads: pd.DataFrame | None = None, since: pd.Timestamp | str | None = None) -> ScoreRun:
        """Judge the request (every row gets a status) and stage the export once."""
        started = time.perf_counter()
        if since is not None:
            if leads is not None:
                raise LeadscoreError("--since and --leads cannot be combined: filter the leads file instead.")
            moment = to_moment(since, "--since", tables.data_end, tables.date_order)
            captured = tables.leads["captured_at"]
            leads = pd.DataFrame({"lead_id": tables.leads.loc[(captured >= moment).fillna(False).to_numpy(), "lead_id"]})
            logger.info("%s leads captured since %s", f"{len(leads):,}", f"{moment:%Y-%m-%d %H:%M} UTC")
            if leads.empty:
                logger.warning("no lead was captured since %s (the data ends %s); give an earlier --since, or one "
                               "relative to the data's end such as --since 14d", f"{moment:%Y-%m-%d %H:%M} UTC",
                               f"{tables.data_end:%Y-%m-%d %H:%M} UTC")
        judged = judge_request(tables, as_of, leads)
        staged = stage_tables(tables)
        for table, n in staged.orphans.items():
            if n:
                logger.warning("%d %s row(s) name a lead_id not in leads; they are left out of every feature", n, table)
        lead_pos = staged.positions(pa.array(judged["lead_id"].array))
        as_of_ns = to_epoch_ns(judged["as_of"]).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)
        drift = OwnColumnDrift([m for m in (scorer.sqo, scorer.won) if m is not None])
        run = cls(scorer, staged, tables, judged, lead_pos, as_of_ns, judged["reason"].to_numpy(dtype=object),
                  drift=drift, started=started)
        run.seconds["stage"] = time.perf_counter() - started
        return run

    @property
    def n_rows(self) -> int:
        return len(self.judged)

    def output_chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE, progress: bool | None = None) -> Iterator[OutputRows]:
        """Output rows of ``chunk_size`` requested rows at a time, in request order.

        ``chunk_size`` is also what bounds memory: a chunk's features, contributions and rows are all
        there is besides the staged export.
        """
        chunk_size = max(1, int(chunk_size))
        n_ok = int((self.reason == "").sum())
        with Progress("score", total=n_ok, unit="leads", enabled=progress) as bar:
            for start in range(0, self.n_rows, chunk_size):
                stop = min(start + chunk_size, self.n_rows)
                reason = self.reason[start:stop]
                ok = reason == ""
                scored = None
                if ok.any():
                    scored = score_rows(self.scorer, self.staged, self.lead_pos[start:stop][ok],
                                        self.as_of_ns[start:stop][ok], self.tables.date_order, self.seconds,
                                        self.on_explained)
                    self.drift.add(scored.features)
                    scored.features = None  # type: ignore[assignment]  # a chunk's features go once scored
                clock = _StageClock(self.seconds)
                rows = output_rows(self.judged["lead_id"].iloc[start:stop].tolist(), self.as_of_ns[start:stop],
                                   reason, scored, self.scorer)
                self._count(rows)
                clock.lap("output")
                bar.advance(int(ok.sum()))
                yield rows

    def chunks(self, chunk_size: int = DEFAULT_CHUNK_SIZE, progress: bool | None = None) -> Iterator[pa.Table]:
        """:meth:`output_chunks` as Arrow tables (:data:`SCHEMA`), what the batch scorer writes."""
        for rows in self.output_chunks(chunk_size, progress):
            clock = _StageClock(self.seconds)
            table = rows.table()
            clock.lap("output")
            yield table

    def rows(self) -> OutputRows:
        """Every output row at once (a request of the HTTP service: a few rows)."""
        parts = list(self.output_chunks(max(self.n_rows, 1), progress=False))
        if len(parts) == 1:
            return parts[0]
        raise RuntimeError("no rows to score")

    def _count(self, rows: OutputRows) -> None:
        status = np.array(rows.columns["status"], dtype=object)
        values, first, counts = np.unique(status.astype(str), return_index=True, return_counts=True)
        for k in np.argsort(first, kind="stable"):  # in order of first appearance, as a reader meets them
            self.statuses[str(values[k])] = self.statuses.get(str(values[k]), 0) + int(counts[k])
        grade = np.array(rows.columns["grade"], dtype=object)[status == STATUS_OK].astype(str)
        for value, count in zip(*np.unique(grade, return_counts=True), strict=True):
            self.grades[str(value)] = self.grades.get(str(value), 0) + int(count)

    def counts(self) -> ScoreCounts:
        """The reconciliation of what was asked for and what was written (after every chunk)."""
        n_out = sum(self.statuses.values())
        n_ok, not_open, not_scored = split_counts(self.statuses)
        won = self.scorer.won
        seconds = dict(self.seconds, total=time.perf_counter() - self.started)
        counts = ScoreCounts(n_in=self.n_rows, n_out=n_out, n_ok=n_ok, not_open=not_open,
                             not_scored=not_scored, seconds={k: round(v, 3) for k, v in seconds.items()},
                             own_columns=self.drift.shares(), fill_jumps=self.drift.fill_jumps(),
                             p_win_past_sqo=won_covers_past_sqo(won) if won is not None else None,
                             grades={g: self.grades.get(g, 0) for g in ALL_GRADES})
        if counts.n_out != counts.n_in:
            raise RuntimeError(f"scorer lost rows: {counts.n_in} in, {counts.n_out} out")
        logger.debug("%s; seconds per stage: %s", counts.summary(), counts.seconds)
        return counts


def rank_leads(rows: pd.DataFrame, by: str = "p_sqo") -> pd.DataFrame:
    """``rows`` best first by ``by`` (read as numbers; missing last), lead id breaking ties: one order for the
    demo's call list and the report's best leads."""
    key = pd.to_numeric(rows[by], errors="coerce")
    return rows.assign(_key=key).sort_values(["_key", "lead_id"], ascending=[False, True], kind="stable",
                                             na_position="last").drop(columns="_key")


def top_leads(scores: pd.DataFrame, n: int = 10, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``n`` scored rows with the highest ``p_sqo``: the leads sales should call first (open leads only:
    a lead at SQO or closed has status other than ``ok``)."""
    top = rank_leads(scores[scores["status"] == STATUS_OK]).head(n)
    return top.loc[:, list(columns)] if columns is not None else top


def score_leads(
    tables: Tables,
    sqo_model: ScoringModel,
    won_model: ScoringModel | None,
    rules_config: RulesConfig,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
    since: pd.Timestamp | str | None = None,
    grade_cuts: dict[str, float] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
    on_explained: ExplainedHook | None = None,
) -> tuple[pd.DataFrame, ScoreCounts]:
    """Score leads: one output row per requested row, always (see the module docstring for columns).

    Parameters
    ----------
    tables
        The export.
    sqo_model, won_model
        Loaded models (:func:`leadscore.serving.loading.load_scoring_model`); without a WON model ``p_win`` is empty.
    rules_config
        Rules for the side-by-side points (:func:`leadscore.scorers.rules.load_rules`).
    as_of
        Scoring moment for every row (default: the data's end).
    leads
        Optional request with ``lead_id`` and an optional per-row ``as_of`` (backtests).
    since
        Only the leads captured at or after this moment (the new MCLs); not with ``leads``.
    grade_cuts
        ``{A, B, C}`` probability cut points (default: the SQO model spec's, derived in training);
        :func:`parse_grade_points` turns ``--grades`` score points into these.
    chunk_size
        Requested rows scored at a time.
    progress
        Report progress (:class:`leadscore.features.progress.Progress`: a bar on a terminal, log lines
        otherwise); ``False`` for none. Default: report.
    on_explained
        Receives each chunk's spine, features and SQO contributions (:data:`ExplainedHook`; the score
        store keeps them).

    Returns
    -------
    scores, counts
        The output frame in request order and the reconciliation counts.

    Raises
    ------
    LeadscoreError
        If a model needs a feature this leadscore does not build, the grade cuts are unusable, or the
        request is malformed.
    """
    run = ScoreRun.prepare(tables, Scorer.of(sqo_model, won_model, rules_config, grade_cuts), as_of, leads, since)
    run.on_explained = on_explained
    rows = pa.concat_tables(list(run.chunks(chunk_size, progress))) if run.n_rows else SCHEMA.empty_table()
    return output_frame(rows), run.counts()


def write_scores(
    tables: Tables,
    sqo_model: ScoringModel,
    won_model: ScoringModel | None,
    rules_config: RulesConfig,
    out: str | Path,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
    since: pd.Timestamp | str | None = None,
    grade_cuts: dict[str, float] | None = None,
    chunk_size: int = DEFAULT_CHUNK_SIZE,
    progress: bool | None = None,
    on_explained: ExplainedHook | None = None,
    keep: bool = False,
) -> tuple[Path, ScoreCounts, pd.DataFrame | None]:
    """:func:`score_leads` written to ``out`` (CSV or Parquet) chunk by chunk as each finishes, atomically.

    Memory holds the export and one chunk of rows (plus, with ``keep``, every written row, returned for
    the score store); the file appears whole or not at all.
    """
    from leadscore.features.frames_io import write_frames

    run = ScoreRun.prepare(tables, Scorer.of(sqo_model, won_model, rules_config, grade_cuts), as_of, leads, since)
    run.on_explained = on_explained
    kept: list[pd.DataFrame] = []

    def frames() -> Iterator[pd.DataFrame]:
        for rows in run.chunks(chunk_size, progress):
            frame = output_frame(rows)
            if keep:
                kept.append(frame)
            yield frame

    empty = output_frame(SCHEMA.empty_table())
    chunks = frames()
    try:
        path = write_frames(chunks, out, empty=empty)
    finally:
        chunks.close()  # a failed write ends the progress report before the error is told
    scores = (pd.concat(kept, ignore_index=True) if kept else empty) if keep else None
    return path, run.counts(), scores
