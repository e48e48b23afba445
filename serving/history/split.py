"""Why a lead's score changed since its previous stored score: the change split into data, time and model.

A lead scored at ``t1`` (model setup ``M1``, stored ``p_before``) and now at ``t2`` (``M2``, ``p_after``),
with ``D`` the export at hand and ``D|t1`` the export cut at ``t1`` (:func:`leadscore.features.pit.cut_frames`),
and ``f(data at as_of, model)`` the scorer's probability:

- ``a = f(D|t1 at t1, M1)``: the earlier score recomputed; it equals ``p_before`` unless rows up to
  ``t1`` or static fields were restated since (the stored inputs say which, exactly);
- ``b = f(D|t1 at t2, M1)``: the same data seen later;
- ``c = f(D at t2, M1)``: today's data, the earlier model;
- ``time = b - a``, ``model = p_after - c``, ``data = (c - b) + (a - p_before)``.

The three add up to ``p_after - p_before``. Where the inputs of two steps are equal the step's
probability is taken over, not recomputed, so a lead whose rows (and its account's) did not change has a
``data`` part of exactly 0, and a run that only swapped the model has only ``model`` parts. A model
"setup" is everything that decides the inputs: the SQO model, and the WON model whose categories and
export columns the scorer builds too. Rule points get the same split, the rules configuration in the
model's place.

Each part's probability is shared among the model's stories (the reasons' grouping of features) in
proportion to how much their exact contributions moved over that step (the secant of the calibration
over the step, so the shares add up to the part); the features that moved most are kept with their
values before and after, for sentences (:mod:`leadscore.serving.history.because`).
"""

from __future__ import annotations

import dataclasses
import json
import logging
from dataclasses import dataclass

import numpy as np
import pandas as pd

from leadscore.features.building.builder import build_features
from leadscore.features.pit import cut_frames
from leadscore.features.tables import Tables, positions
from leadscore.scorers.model.contributions import story_members
from leadscore.scorers.rules import RulesConfig, score_rules
from leadscore.serving.history.vectors import decode_value, encode_values, matrix_of, same_rows
from leadscore.serving.loading import ScoringModel
from leadscore.serving.score import OwnColumnDrift, model_vocabulary

logger = logging.getLogger(__name__)

PARTS = ("data", "time", "model")
N_BECAUSE = 3  # features kept per part
MIN_EFFECT = 0.0005  # smaller shares round to 0.000 and explain nothing
# Leads split at a time: their features are built twice (and once more for a model change), so memory
# stays that of a scoring chunk whatever the run's size.
SPLIT_LEADS = 100_000


@dataclass
class Setup:
    """What a run scored with: the models that decide p_sqo and its inputs, and the rules."""

    sqo: ScoringModel
    won: ScoringModel | None
    rules: RulesConfig
    rules_hash: str

    @property
    def key(self) -> tuple:
        won = (self.won.name, self.won.version) if self.won is not None else None
        return (self.sqo.name, self.sqo.version, won)

    def inputs(self) -> tuple[list[dict], dict[str, frozenset[str]]]:
        """The export columns and categories the scorer builds for these models (as ``score_leads`` does)."""
        models = [m for m in (self.sqo, self.won) if m is not None]
        return OwnColumnDrift(models).own, model_vocabulary(*models)

    def features(self, tables: Tables, spine: pd.DataFrame) -> pd.DataFrame:
        own, vocabulary = self.inputs()
        # The builder stages the export once and builds in chunks itself.
        return build_features(tables, spine.reset_index(drop=True), own=own, vocabulary=vocabulary)


@dataclass
class Explained:
    """A model's answer on some feature rows: margin, probability, contributions in spec order."""

    p: np.ndarray
    values: np.ndarray

    @classmethod
    def of(cls, model: ScoringModel, features: pd.DataFrame) -> Explained:
        n = len(features)
        if n == 0:
            return cls(np.zeros(0), np.zeros((0, len(model.spec_features)), dtype=np.float32))
        contributions = model.model.explain(features)
        return cls(model.calibrate(contributions.margin), contributions.values.astype(np.float32))


@dataclass
class Previous:
    """The leads' previous stored scores from one run at one moment (see :func:`split_changes`)."""

    run_id: str
    as_of: pd.Timestamp
    setup: Setup | None  # None: its models can no longer be loaded
    layout: list[dict]
    leads: pd.DataFrame  # lead_id, p_sqo, rule_score, feature_values, contributions
    note: str = ""


def _select(mask: np.ndarray, new: np.ndarray, old: np.ndarray) -> np.ndarray:
    return np.where(mask[:, None], new, old) if new.ndim == 2 else np.where(mask, new, old)


def _story_effects(delta: np.ndarray, part: np.ndarray, spec_features: list[dict],
                   moved: np.ndarray) -> tuple[list[str], np.ndarray, np.ndarray]:
    """Each story's share of a part (probability), and the member feature that speaks for it.

    ``delta`` is the step's contribution change (n × features, log-odds); the shares are its story sums
    times the step's secant ``part / sum(delta)``, so they add up to ``part``. The speaker is the member
    whose contribution moved most among those whose value ``moved``; a story none of whose values moved
    (its weight changed beside other features: trees interact) is spoken for by its largest move.
    """
    stories, members = story_members(spec_features)
    total = delta.astype(np.float64).sum(axis=1)
    with np.errstate(divide="ignore", invalid="ignore"):
        secant = np.where(np.abs(total) > 1e-12, part / total, 0.0)
    effects = np.empty((len(delta), len(stories)))
    speaker = np.empty((len(delta), len(stories)), dtype=np.int64)
    for s, idx in enumerate(members):
        block = delta[:, idx].astype(np.float64)
        effects[:, s] = block.sum(axis=1) * secant
        weight = np.abs(block) + np.where(moved[:, idx], 1e6, 0.0)
        speaker[:, s] = np.asarray(idx)[np.argmax(weight, axis=1)]
    return stories, effects, speaker


def _because_items(part_name: str, effects: np.ndarray, speaker: np.ndarray, before: np.ndarray, after: np.ndarray,
                   layout: list[dict]) -> list[list[list]]:
    """Per lead, the part's largest story shares as ``[part, feature, effect, value before, value after]``."""
    out: list[list[list]] = []
    order = np.argsort(-np.abs(effects), axis=1, kind="stable")[:, :N_BECAUSE]
    for i in range(len(effects)):
        items = []
        for s in order[i]:
            effect = float(effects[i, s])
            if abs(effect) < MIN_EFFECT:
                break
            j = int(speaker[i, s])
            items.append([part_name, layout[j]["name"], round(effect, 5),
                          decode_value(layout[j], float(before[i, j])), decode_value(layout[j], float(after[i, j]))])
        out.append(items)
    return out


def _cut(tables: Tables, moment: pd.Timestamp, cache: dict) -> Tables:
    if moment not in cache:
        frames = cut_frames({name: tables.table(name) for name in ("leads", "accounts", "technographics", "events",
                                                                   "stage_history", "opportunities", "spend")}, moment)
        cache[moment] = dataclasses.replace(tables, **frames)
    return cache[moment]


def split_changes(
    tables: Tables,
    current: pd.DataFrame,
    current_values: np.ndarray,
    current_contributions: np.ndarray,
    setup: Setup,
    current_layout: list[dict],
    previous: list[Previous],
) -> pd.DataFrame:
    """The change parts of every re-scored lead, against its previous stored score.

    Parameters
    ----------
    tables
        The export at hand (``D``).
    current
        This run's scored rows: ``lead_id``, ``as_of``, ``p_sqo``, ``rule_score``.
    current_values, current_contributions
        Their stored vectors (:mod:`leadscore.serving.history.vectors`, in ``setup.sqo``'s spec order).
    setup
        This run's models and rules.
    current_layout
        What the positions of the current vectors hold (the run's ``features``).
    previous
        The previous stored scores, grouped by run and moment (:class:`Previous`).

    Returns
    -------
    pandas.DataFrame
        Indexed like ``current`` (only the re-scored leads): ``previous_run_id``, ``change_data``,
        ``change_time``, ``change_model``, ``rule_change_data``, ``rule_change_time``,
        ``rule_change_model``, ``change_because`` (JSON; a note when the change could not be split).
    """
    out: list[pd.DataFrame] = []
    cuts: dict = {}
    previous = [dataclasses.replace(group, leads=group.leads.iloc[start:start + SPLIT_LEADS].reset_index(drop=True))
                for group in previous for start in range(0, max(len(group.leads), 1), SPLIT_LEADS)]
    for group in previous:
        where = positions(group.leads["lead_id"], current["lead_id"])
        found = where >= 0
        if not found.all():
            group = dataclasses.replace(group, leads=group.leads[found].reset_index(drop=True))
            where = where[found]
        if not len(where):
            continue
        frame = _split_group(tables, current.iloc[where].reset_index(drop=True), current_values[where],
                             current_contributions[where], setup, current_layout, group, cuts)
        out.append(frame.set_axis(current.index[where]))
    columns = ["previous_run_id", "change_data", "change_time", "change_model", "rule_change_data",
               "rule_change_time", "rule_change_model", "change_because"]
    return pd.concat(out) if out else pd.DataFrame(columns=columns)


def _unsplit(current: pd.DataFrame, group: Previous, note: str) -> pd.DataFrame:
    n = len(current)
    return pd.DataFrame({
        "previous_run_id": [group.run_id] * n, **{f"change_{p}": np.full(n, np.nan) for p in PARTS},
        **{f"rule_change_{p}": np.full(n, np.nan) for p in PARTS}, "change_because": [json.dumps({"note": note})] * n,
    })


def _split_group(tables: Tables, current: pd.DataFrame, x2: np.ndarray, c2: np.ndarray, setup: Setup,
                 layout2: list[dict], group: Previous, cuts: dict) -> pd.DataFrame:
    if group.setup is None:
        return _unsplit(current, group, group.note)
    cut = _cut(tables, group.as_of, cuts)
    known = positions(current["lead_id"], cut.leads["lead_id"]) >= 0
    if not known.all():
        # captured_at restated to after the earlier moment: the lead was not there then, as far as D says
        parts = [_unsplit(current[~known], group, "the lead's capture time was restated after its previous score")]
        kept = _split_group(tables, current[known].reset_index(drop=True), x2[known], c2[known], setup, layout2,
                            dataclasses.replace(group, leads=group.leads[known].reset_index(drop=True)), cuts)
        return pd.concat([kept.set_axis(np.flatnonzero(known)), parts[0].set_axis(np.flatnonzero(~known))]).sort_index()

    s1 = group.setup
    layout1 = [dict(e, values=list(e["values"])) if "values" in e else dict(e) for e in group.layout]
    width1 = len(layout1)
    n = len(current)
    p_before = group.leads["p_sqo"].to_numpy(dtype=float)
    p_after = current["p_sqo"].to_numpy(dtype=float)
    x1 = matrix_of(group.leads["feature_values"], width1)
    c1 = matrix_of(group.leads["contributions"], width1)
    t1 = np.full(n, group.as_of.value, dtype="int64")
    t2 = current["as_of"].to_numpy(dtype="datetime64[ns]").astype("int64")
    moved = t2 != t1

    spine_a = pd.DataFrame({"lead_id": current["lead_id"].to_numpy(), "as_of": [group.as_of] * n})
    spine_b = pd.DataFrame({"lead_id": current["lead_id"].to_numpy(), "as_of": current["as_of"].to_numpy()})
    both = pd.concat([spine_a, spine_b[moved]], ignore_index=True)
    built = s1.features(cut, both)
    xa_frame = built.iloc[:n].reset_index(drop=True)
    b_rows = np.arange(n)
    b_rows[moved] = n + np.arange(int(moved.sum()))
    xb_frame = built.iloc[b_rows].reset_index(drop=True)
    xa = encode_values(xa_frame, layout1)
    xb = encode_values(xb_frame, layout1)

    # a: the earlier score, recomputed only where the stored inputs were restated
    restated = ~same_rows(xa, x1)
    p_a, c_a = p_before.copy(), c1.copy()
    if restated.any():
        answer = Explained.of(s1.sqo, xa_frame[restated])
        p_a[restated], c_a[restated] = answer.p, answer.values

    same_setup = s1.key == setup.key
    if same_setup:
        p_c, c_c = p_after.copy(), c2
        eq_bc = same_rows(encode_values(xb_frame, layout2, grow=False), x2)
        xc1 = xb.copy()
        xc1[~eq_bc] = np.nan  # c's values in layout1, filled below where they differ from b's
    else:
        xc_frame = s1.features(tables, spine_b)
        xc1 = encode_values(xc_frame, layout1)
        eq_bc = same_rows(xb, xc1)
        answer = Explained.of(s1.sqo, xc_frame)
        p_c, c_c = answer.p, answer.values
    eq_ab = same_rows(xa, xb)

    # b: the same data seen later; taken over from a or c where its inputs equal theirs
    p_b, c_b = np.empty(n), np.empty_like(c_a)
    p_b[eq_ab], c_b[eq_ab] = p_a[eq_ab], c_a[eq_ab]
    p_b[eq_bc], c_b[eq_bc] = p_c[eq_bc], c_c[eq_bc]
    p_c = np.where(eq_ab & eq_bc, p_a, p_c)
    rest = ~(eq_ab | eq_bc)
    if rest.any():
        answer = Explained.of(s1.sqo, xb_frame[rest])
        p_b[rest], c_b[rest] = answer.p, answer.values
    if same_setup and (~eq_bc).any():
        xc1[~eq_bc] = encode_values(_decoded_frame(x2[~eq_bc], layout2), layout1)

    time = p_b - p_a
    data = (p_c - p_b) + (p_a - p_before)
    model = p_after - p_c

    rules = _rule_parts(tables, cut, current, group, s1, setup, spine_a, spine_b)

    spec1 = s1.sqo.spec_features
    because: list[list[list]] = [[] for _ in range(n)]
    steps = (("time", c_b - c_a, time, xa, xb), ("data", c_c - c_b, p_c - p_b, xb, xc1),
             ("data", c_a - c1, p_a - p_before, x1, xa))
    for part_name, delta, part, before, after in steps:
        if not np.any(part):
            continue
        moved = ~((before == after) | (np.isnan(before) & np.isnan(after)))
        _, effects, speaker = _story_effects(np.nan_to_num(delta), part, spec1, moved)
        for i, items in enumerate(_because_items(part_name, effects, speaker, before, after, layout1)):
            because[i].extend(items)
    for i in np.flatnonzero(model != 0):
        because[i].append(["model", None, round(float(model[i]), 6), f"{s1.sqo.name} v{s1.sqo.version}",
                           f"{setup.sqo.name} v{setup.sqo.version}"])
    return pd.DataFrame({
        "previous_run_id": [group.run_id] * n,
        "change_data": data, "change_time": time, "change_model": model,
        **rules,
        "change_because": [json.dumps(_merged(items), separators=(",", ":")) for items in because],
    })


def _merged(items: list[list]) -> list[list]:
    """One item per part and feature (a restated and a new-data share of one feature added up), largest first."""
    merged: dict[tuple, list] = {}
    for item in items:
        key = (item[0], item[1])
        if key in merged:
            merged[key][2] = round(merged[key][2] + item[2], 6)
            merged[key][4] = item[4]
        else:
            merged[key] = list(item)
    ordered = sorted(merged.values(), key=lambda item: -abs(item[2]))
    kept: dict[str, int] = {}
    out = []
    for item in ordered:  # the largest few per part
        kept[item[0]] = kept.get(item[0], 0) + 1
        if kept[item[0]] <= N_BECAUSE:
            out.append(item)
    return out


def _decoded_frame(values: np.ndarray, layout: list[dict]) -> pd.DataFrame:
    """Stored vectors back as a feature frame (categories as text) for re-encoding in another layout."""
    columns = {}
    for j, entry in enumerate(layout):
        if entry["kind"] == "categorical":
            columns[entry["name"]] = pd.Series([decode_value(entry, v) for v in values[:, j]], dtype="object")
        else:
            columns[entry["name"]] = values[:, j].astype(np.float64)
    return pd.DataFrame(columns)


def _rule_parts(tables: Tables, cut: Tables, current: pd.DataFrame, group: Previous, s1: Setup, setup: Setup,
                spine_a: pd.DataFrame, spine_b: pd.DataFrame) -> dict[str, np.ndarray]:
    """The rule points' change split the same way, the rules configuration in the model's place."""
    before = group.leads["rule_score"].to_numpy(dtype=float)
    after = current["rule_score"].to_numpy(dtype=float)
    r_a = _points(cut, spine_a, s1.rules)
    r_b = _points(cut, spine_b, s1.rules)
    r_c = after if s1.rules_hash == setup.rules_hash else _points(tables, spine_b, s1.rules)
    return {"rule_change_data": (r_c - r_b) + (r_a - before), "rule_change_time": r_b - r_a,
            "rule_change_model": after - r_c}


def _points(tables: Tables, spine: pd.DataFrame, rules: RulesConfig) -> np.ndarray:
    return score_rules(tables, spine.reset_index(drop=True), rules)["rule_score"].to_numpy(dtype=float)

