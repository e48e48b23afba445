"""A world that changes from one month on: conversion halves, page views are lost, everything else stays."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest

from leadscore.cli import main
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import cut_frames
from leadscore.features.synthetic.demo import generate_demo
from leadscore.features.synthetic.drift import WorldChange

N_LEADS = 12_000
CHANGE = WorldChange("2026-01")


@pytest.fixture(scope="module")
def worlds():
    return generate_demo(N_LEADS, seed=21), generate_demo(N_LEADS, seed=21, change=CHANGE)


def _captured_after(frames: dict, moment: pd.Timestamp) -> np.ndarray:
    return (frames["leads"]["captured_at"] >= moment).to_numpy()


def test_the_changed_world_holds_the_same_leads_and_companies(worlds) -> None:
    (control, _), (changed, truth) = worlds
    pd.testing.assert_frame_equal(control["leads"], changed["leads"])
    pd.testing.assert_frame_equal(control["accounts"], changed["accounts"])
    assert truth.attrs["change"]["from_month"] == "2026-01"


def test_leads_captured_after_the_change_reach_sqo_about_half_as_often(worlds) -> None:
    (control, control_truth), (changed, changed_truth) = worlds
    after = _captured_after(control, CHANGE.start)
    ratio_after = changed_truth.loc[after, "p_sqo_true"].mean() / control_truth.loc[after, "p_sqo_true"].mean()
    ratio_before = changed_truth.loc[~after, "p_sqo_true"].mean() / control_truth.loc[~after, "p_sqo_true"].mean()
    assert 0.4 < ratio_after < 0.6
    assert ratio_before == pytest.approx(1.0, abs=1e-12)  # the change is in the parameters of later leads only


def _per_month(events: pd.DataFrame, event_type: str) -> pd.Series:
    chosen = events[events["event_type"] == event_type]
    return chosen.groupby(chosen["occurred_at"].dt.strftime("%Y-%m")).size()


def test_most_page_views_are_lost_from_the_change_on_and_no_other_event(worlds) -> None:
    (control, _), (changed, _) = worlds
    views = _per_month(changed["events"], "page_view") / _per_month(control["events"], "page_view")
    assert views.loc["2026-02":"2026-06"].between(0.15, 0.27).all()
    assert views.loc["2025-03":"2025-12"].between(0.9, 1.1).all()
    sent = _per_month(changed["events"], "email_sent") / _per_month(control["events"], "email_sent")
    assert sent.loc["2026-02":"2026-06"].between(0.9, 1.1).all()


def test_a_month_that_is_not_a_month_is_refused_in_words() -> None:
    with pytest.raises(LeadscoreError, match="YYYY-MM"):
        WorldChange("2026-3")


def test_the_export_taken_at_a_moment_holds_nothing_after_it(worlds) -> None:
    (control, _), _ = worlds
    moment = pd.Timestamp("2025-10-31T00:00:00Z")
    cut = cut_frames(control, moment)
    assert cut["leads"]["captured_at"].max() <= moment and cut["events"]["occurred_at"].max() <= moment
    assert cut["stage_history"]["entered_at"].max() <= moment
    deals = cut["opportunities"]
    assert (deals["created_at"] <= moment).all() and (deals["closed_at"].isna() | (deals["closed_at"] <= moment)).all()
    assert (deals.loc[deals["closed_at"].isna(), "outcome"] == "open").all()


def test_generate_writes_the_change_beside_the_truth(tmp_path, capsys) -> None:
    assert main(["generate", "--leads", "300", "--out", str(tmp_path / "w"), "--drift-from", "2026-03"]) == 0
    assert "Changed world: leads captured from March 2026 on" in capsys.readouterr().out
    meta = json.loads((tmp_path / "w" / "_truth" / "generator.json").read_text())
    assert meta["change"]["from_month"] == "2026-03" and meta["change"]["page_view_loss"] == 0.8
    assert main(["generate", "--leads", "300", "--out", str(tmp_path / "x"), "--drift-from", "March"]) == 2
    assert "--drift-from must be a month as YYYY-MM" in capsys.readouterr().err
