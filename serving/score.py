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

Large requests run in chunks of about ``chunk_size`` rows so memory stays bounded. Chunks are whole
accounts (the account-context features read the lead's colleagues), keep the whole leads and accounts
tables (rare-category bounds are judged over all of them) and take only their own leads' events and
stage history: a lead's features are the same whatever chunk it lands in.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.builder import build_features
from leadscore.features.building.catalogue import catalogue_hash, feature_names
from leadscore.features.building.profile import LeadIndex
from leadscore.features.building.spine import EXCLUSION_REASONS, judge_request
from leadscore.features.building.stages import funnel_position
from leadscore.features.contract import TABLE_NAMES
from leadscore.features.errors import LeadscoreError
from leadscore.features.progress import Progress
from leadscore.features.tables import Tables, positions
from leadscore.features.timestamps import to_moment
from leadscore.scorers.model.grading import GRADES, check_grade_cuts
from leadscore.scorers.rules import RulesConfig, score_rules
from leadscore.serving.loading import ScoringModel, check_chain, check_model_features

logger = logging.getLogger(__name__)

# The SQO answer's text columns, as the output holds them.
ANSWER_TEXT = ("grade", "reasons_positive", "reasons_negative", "reasons")
OUTPUT_COLUMNS = (
    "lead_id", "as_of", "model_name", "model_version", "model_name_won", "model_version_won", "p_sqo", "p_win",
    "score", "grade", "reasons_positive", "reasons_negative", "reasons", "rule_score", "rule_grade", "rule_stage",
    "rule_reasons", "status",
)
STATUS_OK = "ok"
STATUS_REACHED_SQO = "reached SQO"
# Where a lead stands at as_of (funnel_position) -> its status: only an open lead gets both probabilities.
STATUS_BY_POSITION = {
    "open": STATUS_OK,
    "sqo": STATUS_REACHED_SQO,
    "won": "closed: won",
    "lost": "closed: lost",
    "disqualified": "closed: disqualified",
}
NOT_OPEN_STATUSES = tuple(text for position, text in STATUS_BY_POSITION.items() if position != "open")
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

    def add(self, features: pd.DataFrame) -> None:
        self.n_rows += len(features)
        for name, spec in self.specs.items():
            values = features[name]
            self.missing[name] += int(values.isna().sum())
            if spec["kind"] == "categorical" and spec.get("categories") is not None:
                known = values.notna() & ~values.astype("str").isin(spec["categories"])
                self.unseen[name] += int(known.sum())

    def shares(self) -> dict[str, tuple[float, float]]:
        """Export header -> (share missing, share unseen in training)."""
        n = max(self.n_rows, 1)
        return {spec["source"]["column"]: (self.missing[name] / n, self.unseen[name] / n)
                for name, spec in self.specs.items()}

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


def request_spine(
    tables: Tables,
    as_of: pd.Timestamp | str | None = None,
    leads: pd.DataFrame | None = None,
    since: pd.Timestamp | str | None = None,
) -> tuple[pd.DataFrame, pd.DataFrame, np.ndarray]:
    """The requested rows split into buildable ones and the rest, and where each sits in the request.

    Returns ``(spine, excluded, is_spine)`` where ``is_spine[i]`` says whether request row ``i`` went to
    the spine; spine and excluded rows keep request order, so this mask restores it.
    """
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
    is_spine = (judged["reason"] == "").to_numpy()
    spine = judged.loc[is_spine, ["lead_id", "as_of"]].reset_index(drop=True)
    excluded = judged.loc[~is_spine].reset_index(drop=True)
    return spine, excluded, is_spine


def assign_chunks(tables: Tables, spine: pd.DataFrame, chunk_size: int) -> tuple[np.ndarray, np.ndarray, int]:
    """Chunk of every spine row and of every lead in ``tables.leads`` (-1: not needed), and the count.

    An account's leads all go to one chunk (its colleagues feed the account-context features); a lead
    without an account is a group of its own. Groups fill chunks of about ``chunk_size`` rows in the
    order they first appear in the spine.
    """
    leads = tables.leads
    n_leads = len(leads)
    account_code, _ = pd.factorize(leads["account_id"].astype("str"))
    n_accounts = int(account_code.max()) + 1 if n_leads else 0
    group_of_lead = np.where(account_code >= 0, account_code, n_accounts + np.arange(n_leads))
    lead_pos = positions(spine["lead_id"], leads["lead_id"])
    spine_group = group_of_lead[lead_pos]
    group_code, groups = pd.factorize(spine_group)
    if len(spine) == 0:
        return np.zeros(0, dtype=np.int64), np.full(n_leads, -1, dtype=np.int64), 0
    sizes = np.bincount(group_code)
    starts = np.cumsum(sizes) - sizes
    chunk_of_group = starts // max(1, int(chunk_size))
    _, chunk_of_group = np.unique(chunk_of_group, return_inverse=True)  # consecutive numbers
    chunk_by_group = np.full(n_accounts + n_leads, -1, dtype=np.int64)
    chunk_by_group[np.asarray(groups, dtype=np.int64)] = chunk_of_group
    return chunk_of_group[group_code], chunk_by_group[group_of_lead], int(chunk_of_group.max()) + 1


@dataclass
class _ChunkedTables:
    """The export split for chunk-wise building: per-row chunk numbers of the lead-keyed tables."""

    tables: Tables
    event_chunk: np.ndarray
    stage_chunk: np.ndarray
    present: frozenset[str]

    @classmethod
    def split(cls, tables: Tables, lead_chunk: np.ndarray) -> _ChunkedTables:
        slot = np.append(lead_chunk, -1)  # orphans (lead_id not in leads) map to the trailing -1

        def chunks_of(frame: pd.DataFrame, table: str) -> np.ndarray:
            if frame.empty:
                return np.zeros(0, dtype=np.int32)
            pos = positions(frame["lead_id"], tables.leads["lead_id"])
            n_orphans = int((pos < 0).sum())
            if n_orphans:
                logger.warning("%d %s row(s) name a lead_id not in leads; they are left out of every feature",
                               n_orphans, table)
            return slot[np.where(pos >= 0, pos, len(lead_chunk))].astype(np.int32)

        present = tables.present or frozenset(n for n in TABLE_NAMES if len(tables.table(n)))
        return cls(tables, chunks_of(tables.events, "events"), chunks_of(tables.stage_history, "stage_history"),
                   present)

    def chunk(self, number: int) -> Tables:
        t = self.tables
        return dataclasses.replace(
            t,
            events=t.events.take(np.flatnonzero(self.event_chunk == number)).reset_index(drop=True),
            stage_history=t.stage_history.take(np.flatnonzero(self.stage_chunk == number)).reset_index(drop=True),
            present=self.present,
        )


def spine_chunks(tables: Tables, spine: pd.DataFrame, chunk_size: int = DEFAULT_CHUNK_SIZE
                 ) -> Iterator[tuple[np.ndarray, Tables]]:
    """Each chunk's spine row positions with the export cut down to what they read (see the module docstring).

    The scorer builds its chunks this way, and so does the score store when it recomputes earlier
    leads' features to split a change (:mod:`leadscore.serving.history.split`).
    """
    spine_chunk, lead_chunk, n_chunks = assign_chunks(tables, spine, chunk_size)
    if not n_chunks:
        return
    split = _ChunkedTables.split(tables, lead_chunk)
    for number in range(n_chunks):
        yield np.flatnonzero(spine_chunk == number), split.chunk(number)


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


def score_chunk(
    tables: Tables,
    spine: pd.DataFrame,
    sqo_model: ScoringModel,
    won_model: ScoringModel | None,
    rules_config: RulesConfig,
    cuts: dict[str, float],
    seconds: dict[str, float] | None = None,
    drift: OwnColumnDrift | None = None,
    index: LeadIndex | None = None,
    on_explained: ExplainedHook | None = None,
) -> pd.DataFrame:
    """Output rows (every column but the model names) for spine rows that ``make_spine`` admitted.

    ``seconds``, when given, accumulates the wall time of each stage; ``drift`` the missing and unseen
    values of the export's own columns the models use; ``index`` is what the chunks share about all the
    leads (:class:`~leadscore.features.building.profile.LeadIndex`); ``on_explained`` receives the
    chunk's features and SQO contributions (:data:`ExplainedHook`).
    """
    from leadscore.scorers.model.answer import answer, probability

    clock = _StageClock(seconds)
    drift = drift or OwnColumnDrift([m for m in (sqo_model, won_model) if m is not None])
    features = build_features(tables, spine, own=drift.own, vocabulary=model_vocabulary(sqo_model, won_model), index=index)
    drift.add(features)
    if len(features) != len(spine):
        raise RuntimeError(f"the feature builder returned {len(features)} rows for {len(spine)}")
    position = funnel_position(tables, spine).to_numpy(dtype=object)
    clock.lap("features")
    n = len(spine)
    # Only an open lead gets p_sqo (and its score, grade and reasons); a lead at SQO gets p_win when the
    # WON model covers it; p_win = p_sqo x q (leadscore.scorers.model.answer), never above p_sqo.
    gets_sqo = position == "open"
    at_sqo = position == "sqo"
    gets_win = gets_sqo | (at_sqo & won_covers_past_sqo(won_model))
    p_sqo = np.full(n, np.nan)
    sqo = pd.DataFrame({"score": pd.array([pd.NA] * n, dtype="Int64"),
                        **{c: pd.array([None] * n, dtype="str") for c in ANSWER_TEXT}})
    if gets_sqo.any():
        open_features = features if gets_sqo.all() else features.loc[gets_sqo].reset_index(drop=True)
        explained = None
        if on_explained is not None:
            def explained(values: np.ndarray) -> None:
                on_explained(spine.loc[gets_sqo].reset_index(drop=True), open_features, values)
        answered = answer(sqo_model.model, open_features, cuts, on_contributions=explained)
        p_sqo[gets_sqo] = answered["p"].to_numpy()
        if gets_sqo.all():
            sqo = answered.loc[:, list(sqo.columns)]
        else:
            sqo.loc[gets_sqo, "score"] = answered["score"].to_numpy()
            for column in ANSWER_TEXT:
                values = np.full(n, None, dtype=object)
                values[gets_sqo] = answered[column].to_numpy(dtype=object)
                sqo[column] = pd.array(values, dtype="str")
        del answered, open_features
    clock.lap("sqo")
    p_win = np.full(n, np.nan)
    if won_model is not None and gets_win.any():
        win_features = features if gets_win.all() else features.loc[gets_win].reset_index(drop=True)
        p_win[gets_win] = probability(won_model.model, win_features, p_sqo=p_sqo[gets_win], at_sqo=at_sqo[gets_win])
    # The rules join their own events: free the features first so the two peaks do not add up.
    del features
    clock.lap("won")
    rules = score_rules(tables, spine, rules_config, position=pd.Series(position, dtype="str"))
    clock.lap("rules")
    status = np.array([STATUS_BY_POSITION[p] for p in position], dtype=object)
    status[gets_sqo & np.isnan(p_sqo)] = "no score: the model gave no probability"
    return pd.DataFrame({
        "lead_id": spine["lead_id"].astype("str").array,
        "as_of": spine["as_of"].array,
        "p_sqo": p_sqo,
        "p_win": p_win,
        "score": sqo["score"].array,
        "grade": sqo["grade"].array,
        "reasons_positive": sqo["reasons_positive"].array,
        "reasons_negative": sqo["reasons_negative"].array,
        "reasons": sqo["reasons"].array,
        "rule_score": rules["rule_score"].to_numpy(),
        "rule_grade": rules["rule_grade"].astype("str").array,
        "rule_stage": rules["rule_stage"].astype("str").array,
        "rule_reasons": rules["rule_reasons"].astype("str").array,
        "status": pd.array(status, dtype="str"),
    })


def won_covers_past_sqo(won_model: ScoringModel | None) -> bool:
    """Whether the WON model is calibrated for leads past SQO too (its chain's ``covers_past_sqo``), so a
    lead already at SQO gets a ``p_win``; a model that does not say so was trained on open leads."""
    return won_model is not None and bool((won_model.model.chain or {}).get("covers_past_sqo", False))


def _excluded_rows(excluded: pd.DataFrame) -> pd.DataFrame:
    n = len(excluded)
    missing_text = pd.array([None] * n, dtype="str")
    return pd.DataFrame({
        "lead_id": excluded["lead_id"].astype("str").array,
        "as_of": pd.to_datetime(excluded["as_of"], utc=True).astype("datetime64[ns, UTC]").array,
        "p_sqo": np.full(n, np.nan),
        "p_win": np.full(n, np.nan),
        "score": pd.array([pd.NA] * n, dtype="Int64"),
        "grade": missing_text,
        "reasons_positive": missing_text,
        "reasons_negative": missing_text,
        "reasons": missing_text,
        "rule_score": np.full(n, np.nan),
        "rule_grade": missing_text,
        "rule_stage": missing_text,
        "rule_reasons": missing_text,
        "status": pd.array([STATUS_TEXT.get(r, str(r).replace("_", " ")) for r in excluded["reason"]], dtype="str"),
    })


def _assemble(parts: list[pd.DataFrame], source: np.ndarray) -> pd.DataFrame:
    """Row ``source[i]`` of the stacked ``parts`` as output row ``i``, one column at a time.

    Each column is gathered and then dropped from the parts, so a million rows of reasons are held
    about once, not three times over (stacked, reordered, typed).
    """
    columns = {}
    take = pa.array(source)
    for column in list(parts[0].columns):
        pieces = [part[column] for part in parts]
        if all(piece.dtype == "str" for piece in pieces):
            gathered = pa.chunked_array([pa.array(piece.array) for piece in pieces], type=pa.large_string()).take(take)
            columns[column] = pd.array(gathered, dtype="str")
        else:
            columns[column] = pd.concat(pieces, ignore_index=True).take(source).reset_index(drop=True).array
        del pieces
        for part in parts:
            del part[column]
    return pd.DataFrame(columns)


def _constant_text(value: str | None, n: int) -> pd.api.extensions.ExtensionArray:
    return pd.array(pa.repeat(pa.scalar(value, type=pa.large_string()), n), dtype="str")


def _finish(rows: pd.DataFrame, sqo_model: ScoringModel, won_model: ScoringModel | None) -> pd.DataFrame:
    n = len(rows)
    rows.insert(2, "model_name", _constant_text(sqo_model.name, n))
    rows.insert(3, "model_version", _constant_text(sqo_model.version, n))
    rows.insert(4, "model_name_won", _constant_text(won_model.name if won_model else None, n))
    rows.insert(5, "model_version_won", _constant_text(won_model.version if won_model else None, n))
    numbers = ("as_of", "p_sqo", "p_win", "score", "rule_score")
    out = rows.loc[:, list(OUTPUT_COLUMNS)]
    for column in OUTPUT_COLUMNS:
        if column not in numbers and out[column].dtype != "str":
            out[column] = out[column].astype("str")
    out["as_of"] = pd.to_datetime(out["as_of"], utc=True).astype("datetime64[ns, UTC]")
    out["score"] = out["score"].astype("Int64")
    return out.reset_index(drop=True)


def top_leads(scores: pd.DataFrame, n: int = 10, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """The ``n`` scored rows with the highest ``p_sqo``: the leads sales should call first (open leads only:
    a lead at SQO or closed has status other than ``ok``)."""
    ok = scores[scores["status"] == STATUS_OK]
    top = ok.sort_values("p_sqo", ascending=False, kind="stable").head(n)
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
        Rows per chunk (whole accounts stay together, so a chunk may be larger).
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
    current_hash = catalogue_hash()
    check_model_features(sqo_model, feature_names(), current_hash)
    if won_model is not None:
        check_model_features(won_model, feature_names(), current_hash)
        check_chain(sqo_model, won_model)
    if grade_cuts is None:
        if sqo_model.grade_cuts is None:
            raise LeadscoreError(f"{sqo_model.name} v{sqo_model.version} records no grade cut points: pass --grades A,B,C.")
        cuts = check_grade_cuts(sqo_model.grade_cuts, f"{sqo_model.name} v{sqo_model.version}")
    else:
        cuts = check_grade_cuts(grade_cuts, "grade cuts")

    started = time.perf_counter()
    seconds: dict[str, float] = {}
    spine, excluded, is_spine = request_spine(tables, as_of, leads, since)
    n_in = len(is_spine)
    drift = OwnColumnDrift([m for m in (sqo_model, won_model) if m is not None])
    index = LeadIndex(tables)  # every chunk holds all the leads: what they say is worked out once
    parts: list[pd.DataFrame] = []
    positions_in_spine: list[np.ndarray] = []
    with Progress("score", total=len(spine), unit="leads", enabled=progress) as bar:
        for rows, chunk_tables in spine_chunks(tables, spine, chunk_size):
            chunk_spine = spine.iloc[rows].reset_index(drop=True)
            parts.append(score_chunk(chunk_tables, chunk_spine, sqo_model, won_model, rules_config, cuts,
                                     seconds, drift, index, on_explained))
            positions_in_spine.append(rows)
            bar.advance(len(rows))
            logger.debug("chunk %d: %d rows", len(parts), len(rows))

    order = np.empty(len(spine), dtype=np.int64)
    if positions_in_spine:
        order[np.concatenate(positions_in_spine)] = np.arange(len(spine))
    # request position -> row in [chunk rows..., excluded rows...]
    source = np.empty(n_in, dtype=np.int64)
    source[is_spine] = order
    source[~is_spine] = len(spine) + np.arange(len(excluded))
    parts.append(_excluded_rows(excluded))
    output = _finish(_assemble(parts, source), sqo_model, won_model)

    status = output["status"]
    by_status = {str(k): int(v) for k, v in status.value_counts().items()}
    seconds["total"] = time.perf_counter() - started
    counts = ScoreCounts(n_in=n_in, n_out=len(output), n_ok=by_status.pop(STATUS_OK, 0),
                         not_open={k: by_status.pop(k) for k in NOT_OPEN_STATUSES if k in by_status},
                         not_scored=by_status, seconds={k: round(v, 3) for k, v in seconds.items()},
                         own_columns=drift.shares(), fill_jumps=drift.fill_jumps(),
                         p_win_past_sqo=won_covers_past_sqo(won_model) if won_model is not None else None)
    if counts.n_out != counts.n_in:
        raise RuntimeError(f"scorer lost rows: {counts.n_in} in, {counts.n_out} out")
    logger.debug("%s; seconds per stage: %s", counts.summary(), counts.seconds)
    return output, counts
