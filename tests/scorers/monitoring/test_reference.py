"""The training reference: bins, counts per snapshot age, the age a scored lead is compared at, JSON round trip."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from leadscore.scorers.monitoring.reference import (
    MAX_CATEGORIES,
    MISSING,
    OTHER,
    TrainingReference,
    build_reference,
    mixture_mean,
)

SPEC = [{"name": "views", "kind": "numeric"}, {"name": "channel", "kind": "categorical"},
        {"name": "free_mail", "kind": "flag"}]


def _frame(n: int = 3000, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    offsets = rng.choice([0, 7, 30], n)
    views = rng.poisson(0.3 + offsets / 5.0).astype(float)
    views[rng.random(n) < 0.05] = np.nan
    channel = pd.Series(rng.choice(["linkedin", "email", "facebook"], n, p=[0.5, 0.3, 0.2]), dtype="object")
    channel[rng.random(n) < 0.1] = None
    return pd.DataFrame({"offset_days": offsets, "views": views, "channel": channel,
                         "free_mail": (rng.random(n) < 0.2).astype(float)})


def test_counts_hold_every_training_row_once_per_age_with_missing_in_the_last_bin() -> None:
    frame = _frame()
    reference = build_reference(frame, SPEC, np.random.default_rng(1).random(len(frame)))
    assert reference.offsets_days == [0, 7, 30]
    per_age = frame["offset_days"].value_counts().sort_index().to_numpy()
    for sketch in [*reference.features.values(), reference.score]:
        np.testing.assert_array_equal(sketch.counts.sum(axis=1), per_age)
    views = reference.features["views"]
    assert views.counts[:, -1].sum() == frame["views"].isna().sum()
    assert views.bin_labels()[-1] == MISSING
    channel = reference.features["channel"]
    assert channel.bin_labels() == ["linkedin", "email", "facebook", OTHER, MISSING]
    assert channel.counts[:, -1].sum() == frame["channel"].isna().sum()


def test_a_count_mostly_zero_gets_a_bin_of_its_own_for_zero() -> None:
    frame = _frame()
    views = build_reference(frame, SPEC, np.zeros(len(frame))).features["views"]
    assert views.edges[0] == 0.0
    assert views.bin_labels()[0] == "<= 0"


def test_a_category_never_seen_in_training_falls_in_the_other_bin() -> None:
    channel = build_reference(_frame(), SPEC, np.zeros(3000)).features["channel"]
    bins = channel.bin_of(pd.Series(["email", "tiktok", None], dtype="object"))
    assert bins.tolist() == [1, 3, 4]


def test_only_the_most_frequent_categories_get_a_bin() -> None:
    frame = _frame().assign(channel=[f"c{i % (MAX_CATEGORIES + 10)}" for i in range(3000)])
    channel = build_reference(frame, SPEC, np.zeros(3000)).features["channel"]
    assert len(channel.categories) == MAX_CATEGORIES and channel.n_bins == MAX_CATEGORIES + 2


def test_a_scored_lead_is_compared_at_the_training_age_it_was_scored_at_up_to_a_day_later() -> None:
    reference = build_reference(_frame(), SPEC, np.zeros(3000))
    slots = reference.offset_slot(np.array([0.0, 0.99, 1.0, 7.5, 3.0, 30.2, np.nan]))
    assert slots.tolist() == [0, 0, -1, 1, -1, 2, -1]


def test_the_mean_mixes_the_ages_as_the_window_holds_them() -> None:
    frame = _frame()
    views = build_reference(frame, SPEC, np.zeros(3000)).features["views"]
    at_30 = frame.loc[frame["offset_days"] == 30, "views"].mean()
    assert abs(mixture_mean(views, np.array([0.0, 0.0, 1.0])) - at_30) < 1e-9
    at_0 = frame.loc[frame["offset_days"] == 0, "views"].mean()
    assert abs(mixture_mean(views, np.array([1.0, 0.0, 1.0])) - (at_0 + at_30) / 2) < 1e-9


def test_the_reference_reads_back_from_json_unchanged() -> None:
    reference = build_reference(_frame(), SPEC, np.random.default_rng(2).random(3000), origin="training")
    again = TrainingReference.from_json(json.loads(json.dumps(reference.to_json())))
    assert again.offsets_days == reference.offsets_days and again.origin == reference.origin
    for name, sketch in reference.features.items():
        other = again.features[name]
        assert (other.kind, other.edges, other.categories) == (sketch.kind, sketch.edges, sketch.categories)
        np.testing.assert_array_equal(other.counts, sketch.counts)
        np.testing.assert_allclose(other.sums, sketch.sums)
    np.testing.assert_array_equal(again.score.counts, reference.score.counts)


def test_a_value_training_never_held_counts_as_the_builders_other_where_the_feature_has_one() -> None:
    frame = _frame().assign(channel=lambda f: f["channel"].where(f.index % 10 != 0, "other"))
    channel = build_reference(frame, SPEC, np.zeros(3000)).features["channel"]
    bins = channel.bin_of(pd.Series(["PL", "other", "email"], dtype="object"))
    assert channel.bin_labels()[bins[0]] == "other" and bins[0] == bins[1]


def test_a_chained_won_models_reference_sketches_the_p_win_the_scorer_stores_not_q(serving_world) -> None:
    # The monitor compares stored p_win with this sketch: q alone (P(win | SQO)) would read as drift every run.
    from leadscore.features.building.spine import make_spine
    from leadscore.scorers.monitoring.reference import reference_from_export
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import score_leads

    tables, won = serving_world.tables, serving_world.won
    assert won.model.chain
    spine, _ = make_spine(tables, leads=pd.DataFrame({"lead_id": tables.leads["lead_id"].iloc[::15]}))
    scores, _ = score_leads(tables, serving_world.sqo, won, load_rules(None), leads=spine, progress=False)
    scored = scores[scores["p_win"].notna()].reset_index(drop=True)
    snapshots = scored[["lead_id", "as_of"]].assign(as_of=lambda f: pd.to_datetime(f["as_of"], utc=True), offset_days=0)
    reference = reference_from_export(tables, won.model, snapshots)
    sketched = mixture_mean(reference.score, np.array([1.0]))
    # (the reference keeps the WON model's own categories, the scorer both models': a hair apart)
    assert abs(sketched - scored["p_win"].mean()) < 0.01 * scored["p_win"].mean()
    # what the reference held before: q, several times every p_win
    from leadscore.features.building.builder import build_features
    from leadscore.serving.score import model_vocabulary

    features = build_features(tables, snapshots[["lead_id", "as_of"]], vocabulary=model_vocabulary(serving_world.sqo, won))
    assert won.model.predict(features).mean() > 2 * sketched
