"""A column whose fill rate at scoring is far from training's is named: a field written after capture
is filled for the old leads of a snapshot export and blank for the new leads being scored."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pandas as pd

from leadscore.commands.score_command import fill_jump_lines
from leadscore.serving.score import FILL_JUMP_MIN_ROWS, OwnColumnDrift


def spec(name: str, column: str, filled: float | None) -> dict:
    entry = {"name": name, "kind": "categorical", "categories": ["High", "Low"],
             "source": {"table": "leads", "column": column, "kind": "category"}}
    if filled is not None:
        entry["filled_share"] = filled
    return entry


def drift_after(batch: pd.DataFrame, *specs: dict) -> OwnColumnDrift:
    drift = OwnColumnDrift([SimpleNamespace(spec_features=list(specs))])
    drift.add(batch)
    return drift


def batch(n: int, filled: dict[str, float]) -> pd.DataFrame:
    rng = np.random.default_rng(0)
    return pd.DataFrame({name: pd.Series(np.where(rng.random(n) < share, "High", None), dtype="str")
                         for name, share in filled.items()})


def test_a_column_filled_for_half_the_training_leads_and_few_scored_ones_is_named() -> None:
    drift = drift_after(batch(400, {"own_quality": 0.05, "own_source": 0.97}),
                        spec("own_quality", "Lead Quality", 0.52), spec("own_source", "Lead Source", 0.99))
    jumps = drift.fill_jumps()
    assert list(jumps) == ["Lead Quality"]
    trained, now = jumps["Lead Quality"]
    assert trained == 0.52 and abs(now - 0.05) < 0.03
    [line] = fill_jump_lines(jumps)
    assert line.startswith("fill rate changed: Lead Quality has a value for ")
    assert "52% of the leads the model trained on" in line and "features.known_at_capture" in line


def test_a_jump_up_is_named_too_and_small_moves_are_not() -> None:
    drift = drift_after(batch(400, {"own_a": 0.9, "own_b": 0.6}), spec("own_a", "A", 0.3), spec("own_b", "B", 0.5))
    assert list(drift.fill_jumps()) == ["A"]


def test_too_few_scored_rows_or_no_training_share_names_nothing() -> None:
    few = drift_after(batch(FILL_JUMP_MIN_ROWS - 1, {"own_quality": 0.0}), spec("own_quality", "Lead Quality", 0.6))
    assert few.fill_jumps() == {}
    older_model = drift_after(batch(400, {"own_quality": 0.0}), spec("own_quality", "Lead Quality", None))
    assert older_model.fill_jumps() == {}
