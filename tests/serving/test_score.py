"""The batch scorer: one row per requested lead with a status, chunk-proof, honest counts, the command."""

from __future__ import annotations

import contextlib
import dataclasses
import io

import numpy as np
import pandas as pd
import pytest

from leadscore.features.building.builder import build_features
from leadscore.features.building.spine import make_spine
from leadscore.features.building.stages import funnel_position
from leadscore.features.errors import LeadscoreError
from leadscore.scorers.rules import load_rules
from leadscore.scorers.status import STATUS_BY_POSITION
from leadscore.serving.loading import ScoringModel
from leadscore.serving.score import (
    OUTPUT_COLUMNS,
    model_vocabulary,
    parse_grade_points,
    score_leads,
)

DAY = pd.Timedelta(days=1)


def _recent(world, days: int = 60) -> pd.Timestamp:
    return world.tables.data_end - days * DAY


def _open_leads(tables, lead_ids, as_of=None) -> list[str]:
    """The leads among ``lead_ids`` still open at ``as_of`` (default: the data's end)."""
    spine = pd.DataFrame({"lead_id": list(lead_ids), "as_of": tables.data_end if as_of is None else as_of})
    return spine.loc[(funnel_position(tables, spine) == "open").to_numpy(), "lead_id"].tolist()


def _expected_status(tables, scores: pd.DataFrame) -> list[str]:
    """The status each scored row must have from where its lead stands at its as_of."""
    position = funnel_position(tables, scores.loc[:, ["lead_id", "as_of"]].reset_index(drop=True))
    return [STATUS_BY_POSITION[p] for p in position]


def test_every_requested_row_gets_one_row_in_request_order_with_a_status(serving_world) -> None:
    leads = serving_world.tables.leads.set_index("lead_id")
    a, b, c = _open_leads(serving_world.tables, leads.index[leads["captured_at"] > _recent(serving_world, 120)])[:3]
    captured_b = leads.loc[b, "captured_at"]
    a_earlier = leads.loc[a, "captured_at"] + 2 * DAY
    request = pd.DataFrame({
        "lead_id": [b, b, a, "no-such-lead", c, a],
        "as_of": [(captured_b - DAY).isoformat(), (captured_b + DAY).isoformat(), "", "2026-01-01", "not a date",
                  a_earlier.isoformat()],
    })
    scores, counts = score_leads(serving_world.tables, serving_world.sqo, serving_world.won, load_rules(None),
                                 leads=request)
    assert list(scores.columns) == list(OUTPUT_COLUMNS)
    assert scores["lead_id"].tolist() == request["lead_id"].tolist()
    assert scores["status"].tolist() == ["captured after as_of", "ok", "ok", "unknown lead_id", "as_of unreadable", "ok"]
    assert scores["as_of"].iloc[1] == captured_b + DAY
    assert scores["as_of"].iloc[2] == serving_world.tables.data_end  # blank as_of: the data's end
    assert scores["as_of"].iloc[5] == a_earlier
    ok = scores["status"] == "ok"
    assert scores.loc[ok, ["p_sqo", "p_win", "score", "grade", "rule_score"]].notna().all().all()
    assert scores.loc[~ok, ["p_sqo", "score", "grade", "rule_score"]].isna().all().all()
    assert (counts.n_in, counts.n_out, counts.n_ok) == (6, 6, 3)
    assert counts.summary() == ("6 leads in, 6 rows out: 3 ok (open leads: p_sqo and p_win), 3 not scored "
                                "(captured after as_of 1, unknown lead_id 1, as_of unreadable 1)")
    assert scores.loc[ok, "model_name"].unique().tolist() == ["leadscore-sqo"]
    assert scores.loc[ok, "model_version_won"].unique().tolist() == ["1"]


def test_crm_placeholder_as_ofs_never_stop_a_batch_and_an_as_of_after_the_data_end_is_not_scored(serving_world) -> None:
    tables = serving_world.tables
    leads = tables.leads["lead_id"].iloc[-200:].tolist()
    as_of = [""] * len(leads)
    as_of[3], as_of[50], as_of[120] = "9999-12-31", "1677-01-01", (tables.data_end + DAY).isoformat()
    scores, counts = score_leads(tables, serving_world.sqo, serving_world.won, load_rules(None),
                                 leads=pd.DataFrame({"lead_id": leads, "as_of": as_of}), chunk_size=64)
    assert scores["lead_id"].tolist() == leads
    expected = _expected_status(tables, scores.assign(as_of=tables.data_end))
    expected[3] = expected[50] = "as_of unreadable"
    expected[120] = "as_of after the data's end"
    assert scores["status"].tolist() == expected
    assert scores.loc[120, "as_of"] == tables.data_end + DAY  # the moment asked for, said back
    assert scores.loc[[3, 50, 120], ["p_sqo", "score", "grade", "rule_score"]].isna().all().all()
    assert (counts.n_in, counts.n_out, counts.n_ok) == (200, 200, expected.count("ok"))
    assert counts.n_ok + sum(counts.not_open.values()) + counts.n_not_scored == 200
    with pytest.raises(LeadscoreError, match="after the data's end"):
        score_leads(tables, serving_world.sqo, None, load_rules(None), as_of=tables.data_end + DAY)


def test_chunked_scoring_equals_scoring_in_one_go(serving_world) -> None:
    rules = load_rules(None)
    since = _recent(serving_world, 90)
    whole, _ = score_leads(serving_world.tables, serving_world.sqo, serving_world.won, rules, since=since,
                           chunk_size=10**7)
    chunked, counts = score_leads(serving_world.tables, serving_world.sqo, serving_world.won, rules, since=since,
                                  chunk_size=97)
    assert counts.n_ok > 300
    pd.testing.assert_frame_equal(whole, chunked)


def test_since_scores_exactly_the_leads_captured_at_or_after_it(serving_world) -> None:
    leads = serving_world.tables.leads
    since = leads["captured_at"].sort_values().iloc[-40]
    scores, counts = score_leads(serving_world.tables, serving_world.sqo, None, load_rules(None), since=since)
    expected = leads.loc[leads["captured_at"] >= since, "lead_id"]
    assert sorted(scores["lead_id"]) == sorted(expected) and len(scores) >= 40
    assert counts.n_ok == len(_open_leads(serving_world.tables, expected))
    assert scores["p_win"].isna().all() and scores["model_name_won"].isna().all()
    with pytest.raises(LeadscoreError, match="cannot be combined"):
        score_leads(serving_world.tables, serving_world.sqo, None, load_rules(None), since=since,
                    leads=pd.DataFrame({"lead_id": ["x"]}))


def test_probabilities_are_the_logged_model_s_own_and_the_score_is_its_rounded_percentage(
    serving_world, restore_mlflow_uris,
) -> None:
    import mlflow

    spine, scores, features = serving_world.scored_sample(40)
    # What an MLflow user gets from the pyfunc (its code) equals what the scorer computes from the same files
    # (the WON pyfunc answers every row as an open lead: a lead already at SQO gets q from the scorer).
    open_lead = (funnel_position(serving_world.tables, spine) != "sqo").to_numpy()
    for column, model in (("p_sqo", serving_world.sqo), ("p_win", serving_world.won)):
        pyfunc = mlflow.pyfunc.load_model(f"models:/{model.name}/{model.version}")
        np.testing.assert_allclose(scores[column][open_lead], pyfunc.predict(features)["p"][open_lead], rtol=0,
                                   atol=1e-12)
    assert (scores["score"].to_numpy() == np.floor(100 * scores["p_sqo"].to_numpy() + 0.5)).all()
    cuts = serving_world.sqo.spec["grade_cuts"]
    expected = np.select([scores["p_sqo"] >= cuts["A"], scores["p_sqo"] >= cuts["B"], scores["p_sqo"] >= cuts["C"]],
                         ["A", "B", "C"], "D")
    assert scores["grade"].tolist() == expected.tolist()


def test_grades_given_in_score_points_agree_with_the_printed_score(serving_world) -> None:
    scores, _ = score_leads(serving_world.tables, serving_world.sqo, None, load_rules(None),
                            since=_recent(serving_world, 60), grade_cuts=parse_grade_points("6,3,1"))
    scores = scores[scores["status"] == "ok"]
    score = scores["score"].to_numpy(dtype=float)
    expected = np.select([score >= 6, score >= 3, score >= 1], ["A", "B", "C"], "D")
    assert scores["grade"].tolist() == expected.tolist()
    assert set(expected) >= {"A", "D"}
    for bad in ("1,2,3", "40,20", "a,b,c", "200,10,5"):
        with pytest.raises(LeadscoreError, match="--grades"):
            parse_grade_points(bad)


def test_a_lead_with_invalid_or_missing_data_still_gets_a_scored_row(serving_world) -> None:
    tables = serving_world.tables
    odd = tables.leads["lead_id"].iloc[-5]

    def score_with(channel: str | None) -> pd.DataFrame:
        leads = tables.leads.copy()
        at = leads.index[leads["lead_id"] == odd]
        leads.loc[at, "account_id"] = "no-such-account"
        leads.loc[at, "channel"] = channel
        leads.loc[at, "job_title"] = None
        changed = dataclasses.replace(tables, leads=leads, events=tables.events[tables.events["lead_id"] != odd])
        scores, counts = score_leads(changed, serving_world.sqo, serving_world.won, load_rules(None),
                                     leads=pd.DataFrame({"lead_id": [odd]}))
        assert counts.n_ok == 1
        return scores

    unseen, missing = score_with("carrier_pigeon"), score_with(None)
    assert np.isfinite(unseen["p_sqo"].iloc[0]) and unseen["reasons"].notna().all()
    # a category the model never saw is scored as unknown, exactly like a missing one
    assert unseen["p_sqo"].iloc[0] == missing["p_sqo"].iloc[0]


def test_a_model_needing_a_feature_the_builder_lacks_is_refused_with_one_sentence(serving_world) -> None:
    import copy

    inner = copy.copy(serving_world.sqo.model)
    inner.spec = {**inner.spec, "catalogue_hash": "0123456789abcdef",
                  "features": [*inner.spec["features"], {"name": "n_telepathy_signals_7d", "kind": "numeric", "story": "x"}]}
    model = ScoringModel(uri="models:/leadscore-sqo/9", name="leadscore-sqo", version="9", model=inner)
    with pytest.raises(LeadscoreError, match=r"needs feature\(s\) n_telepathy_signals_7d .*leadscore train"):
        score_leads(serving_world.tables, model, None, load_rules(None))


def _run(argv: list[str]) -> tuple[int, str]:
    from leadscore.cli import main

    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        code = main(argv)
    return code, out.getvalue()


def test_the_score_command_writes_every_lead_and_prints_the_reconciliation(
    serving_world, tmp_path, monkeypatch, restore_mlflow_uris,
) -> None:
    from leadscore.features.frames_io import read_frame
    from leadscore.features.synthetic.demo import write_export

    write_export(serving_world.frames, serving_world.truth, tmp_path / "export", "parquet")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    since = _recent(serving_world, 30)
    out = tmp_path / "scores" / "new.parquet"
    code, printed = _run(["score", str(tmp_path / "export"), "--out", str(out), "--since", since.isoformat(),
                          "--grades", "5,2,1"])
    assert code == 0
    scores = read_frame(out)
    n_new = int((serving_world.tables.leads["captured_at"] >= since).sum())
    assert len(scores) == n_new > 0 and scores["status"].tolist() == _expected_status(serving_world.tables, scores)
    n_ok = int((scores["status"] == "ok").sum())
    assert printed.splitlines()[0].startswith(f"{n_new:,} leads in, {n_new:,} rows out: {n_ok:,} ok (open leads: ")
    assert f"written: {out}" in printed and "leadscore-sqo v1" in printed
    # every ok lead has a grade, D included: the grade line adds up to the ok rows
    [grades] = [line for line in printed.splitlines() if line.startswith("grades: ")]
    by_grade = scores.loc[scores["status"] == "ok", "grade"].value_counts()
    assert grades == "grades: " + ", ".join(f"{g} {int(by_grade.get(g, 0)):,}" for g in "ABCD")
    assert by_grade.get("D", 0) > 0
    assert list(scores.columns) == list(OUTPUT_COLUMNS)
    assert not [p.name for p in out.parent.iterdir() if p.name != out.name]  # no temporary left behind


def test_scores_open_safely_in_a_spreadsheet_and_as_they_are_in_spark(
    serving_world, tmp_path, monkeypatch, restore_mlflow_uris,
) -> None:
    import csv

    import pyarrow as pa
    import pyarrow.parquet as pq

    from leadscore.features.frames_io import read_frame
    from leadscore.features.synthetic.demo import write_export

    tables = serving_world.tables
    chosen = _open_leads(tables, tables.leads["lead_id"].iloc[-400:])[:3]
    renamed = dict(zip(chosen, ['=HYPERLINK("http://evil.example","x")', "+1+2", "@A1"], strict=True))
    frames = {name: frame.assign(lead_id=frame["lead_id"].replace(renamed)) if "lead_id" in frame else frame
              for name, frame in serving_world.frames.items()}
    write_export(frames, serving_world.truth.assign(lead_id=serving_world.truth["lead_id"].replace(renamed)),
                 tmp_path / "export", "parquet")
    request = tmp_path / "request.csv"
    pd.DataFrame({"lead_id": list(renamed.values())}).to_csv(request, index=False)
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    for out in (tmp_path / "scores.csv", tmp_path / "scores.parquet"):
        code, _ = _run(["score", str(tmp_path / "export"), "--out", str(out), "--leads", str(request)])
        assert code == 0

    with (tmp_path / "scores.csv").open(newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    assert [row["lead_id"] for row in rows] == ["'" + lead for lead in renamed.values()]
    assert all(row["status"] == "ok" and row["reasons"].startswith(("up: ", "down: ")) for row in rows)
    assert not [cell for row in rows for column, cell in row.items()
                if column not in ("p_sqo", "p_win", "rule_score") and cell.startswith(("=", "+", "-", "@"))]
    assert read_frame(tmp_path / "scores.csv")["lead_id"].tolist() == list(renamed.values())

    assert pd.read_parquet(tmp_path / "scores.parquet")["lead_id"].tolist() == list(renamed.values())
    assert pq.read_schema(tmp_path / "scores.parquet").field("as_of").type == pa.timestamp("us", tz="UTC")


def test_the_score_command_reports_progress_in_log_lines_when_stderr_is_not_a_terminal(
    serving_world, tmp_path, monkeypatch, restore_mlflow_uris, caplog,
) -> None:
    import logging

    from leadscore.features.synthetic.demo import write_export

    write_export(serving_world.frames, serving_world.truth, tmp_path / "export", "parquet")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    since = _recent(serving_world, 30)
    n_new = int((serving_world.tables.leads["captured_at"] >= since).sum())
    with caplog.at_level(logging.INFO, logger="leadscore.progress"):
        code, printed = _run(["score", str(tmp_path / "export"), "--out", str(tmp_path / "s.csv"),
                              "--since", since.isoformat()])
    assert code == 0
    progress = [r.getMessage() for r in caplog.records if r.name == "leadscore.progress"]
    assert any(m.startswith(f"score: [########################] 100% {n_new:,}/{n_new:,} leads, ") for m in progress)
    assert progress[-1].startswith("score: done in ")
    assert "leads, " not in printed  # stdout keeps the results


def test_a_full_disk_while_writing_scores_is_one_sentence_exit_2_and_leaves_nothing_behind(
    serving_world, tmp_path, monkeypatch, restore_mlflow_uris, capsys,
) -> None:
    import errno
    import os

    from leadscore.features.synthetic.demo import write_export

    write_export(serving_world.frames, serving_world.truth, tmp_path / "export", "parquet")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    (tmp_path / "out").mkdir()

    def full_disk(self, path_or_buf=None, *args, **kwargs):
        path_or_buf.write("lead_id,")  # a part of the file got written before the disk filled up
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))  # as a write to a handle says it: no file name

    monkeypatch.setattr(pd.DataFrame, "to_csv", full_disk)
    code, printed = _run(["score", str(tmp_path / "export"), "--out", str(tmp_path / "out" / "scores.csv"),
                          "--since", _recent(serving_world, 30).isoformat()])
    err = capsys.readouterr().err.splitlines()
    assert code == 2 and printed == ""
    assert err[-1].startswith(f"leadscore score: the disk is full while writing {tmp_path / 'out'}/.scores.csv.")
    assert err[-1].endswith("; free some space, then run the command again.")
    assert "Traceback" not in "\n".join(err)
    assert list((tmp_path / "out").iterdir()) == []  # neither the output nor its temporary file


def test_the_score_command_without_a_model_says_to_train_first(tmp_path, monkeypatch, capsys,
                                                               restore_mlflow_uris) -> None:
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{tmp_path / 'empty.db'}")
    (tmp_path / "export").mkdir()
    code, _ = _run(["score", str(tmp_path / "export"), "--out", str(tmp_path / "scores.csv")])
    assert code == 2
    message = capsys.readouterr().err.strip().splitlines()[-1]
    assert "no model at models:/leadscore-sqo@champion" in message and "leadscore train" in message
    assert not (tmp_path / "scores.csv").exists()


def test_the_score_command_without_a_won_champion_scores_with_p_win_empty(
    serving_world, tmp_path, monkeypatch, restore_mlflow_uris,
) -> None:
    import mlflow
    from mlflow import MlflowClient

    from leadscore.features.frames_io import read_frame
    from leadscore.features.synthetic.demo import write_export

    write_export(serving_world.frames, serving_world.truth, tmp_path / "export", "parquet")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
    mlflow.set_registry_uri(serving_world.tracking_uri)
    client = MlflowClient(tracking_uri=serving_world.tracking_uri, registry_uri=serving_world.tracking_uri)
    won_version = client.get_model_version_by_alias("leadscore-won", "champion").version
    client.delete_registered_model_alias("leadscore-won", "champion")
    try:
        since = _recent(serving_world, 30).isoformat()
        out = tmp_path / "scores.csv"
        code, printed = _run(["score", str(tmp_path / "export"), "--out", str(out), "--since", since])
        assert code == 0 and "no WON model (p_win empty)" in printed
        scores = read_frame(out)
        ok = scores["status"] == "ok"
        assert ok.any() and scores["p_win"].isna().all() and scores.loc[ok, "p_sqo"].notna().all()
        # A WON model the user names explicitly must exist.
        code, _ = _run(["score", str(tmp_path / "export"), "--out", str(tmp_path / "x.csv"), "--since", since,
                        "--model-won", "models:/leadscore-won@champion-that-is-not-there"])
        assert code == 2 and not (tmp_path / "x.csv").exists()
    finally:
        client.set_registered_model_alias("leadscore-won", "champion", won_version)


def test_a_lone_lead_keeps_the_categories_the_model_learnt(serving_world) -> None:
    """Scoring one lead (as the HTTP service does) judges "common" by the model's training, not the batch."""
    tables = serving_world.tables
    campaign = serving_world.sqo.spec_features[[f["name"] for f in serving_world.sqo.spec_features].index("campaign")]
    known = [c for c in campaign["categories"] if c != "other"]
    lead = tables.leads[tables.leads["campaign"].isin(known)].iloc[[0]]
    alone = dataclasses.replace(tables, leads=lead.reset_index(drop=True))
    spine, _ = make_spine(alone)
    kept = build_features(alone, spine, vocabulary=model_vocabulary(serving_world.sqo))
    plain = build_features(alone, spine)
    assert kept["campaign"].iloc[0] == lead["campaign"].iloc[0]
    assert plain["campaign"].iloc[0] == "other"  # one lead alone is never max(30, 1%) of anything


@pytest.mark.parametrize("days_before_end", [0, 75])
def test_p_win_is_never_above_p_sqo_for_an_open_lead_and_is_q_on_its_own_map_for_an_open_opportunity(serving_world,
                                                                                       days_before_end) -> None:
    tables = serving_world.tables
    as_of = tables.data_end - pd.Timedelta(days=days_before_end)
    leads = tables.leads.loc[tables.leads["captured_at"] <= as_of, ["lead_id"]].iloc[::4]
    scores, _ = score_leads(tables, serving_world.sqo, serving_world.won, load_rules(None), as_of=as_of, leads=leads)
    ok = scores[scores["status"].isin(["ok", "reached SQO"])].reset_index(drop=True)
    position = funnel_position(tables, ok[["lead_id", "as_of"]]).to_numpy()
    assert (ok["status"] == np.where(position == "open", "ok", "reached SQO")).all()
    opened = position == "open"
    assert opened.sum() > 100 and (position == "sqo").any()
    assert (ok.loc[opened, "p_win"] <= ok.loc[opened, "p_sqo"]).all()
    at_sqo = position == "sqo"
    features = build_features(tables, ok.loc[at_sqo, ["lead_id", "as_of"]].reset_index(drop=True),
                              vocabulary=model_vocabulary(serving_world.sqo, serving_world.won))
    won = serving_world.won.model
    np.testing.assert_allclose(ok.loc[at_sqo, "p_win"].to_numpy(), won.calibrate_past_sqo(won.margin(features)),
                               rtol=1e-12)


def test_a_won_model_that_is_no_chain_or_given_another_sqo_horizon_is_refused(serving_world) -> None:
    from leadscore.scorers.model.artifacts import LeadscoreModel

    won = serving_world.won
    unchained = dataclasses.replace(won, model=LeadscoreModel(
        spec={k: v for k, v in won.spec.items() if k != "chain"}, calibration=won.model.calibration, booster=won.booster))
    with pytest.raises(LeadscoreError, match=r"predicts a win on its own .* could exceed p_sqo: retrain it"):
        score_leads(serving_world.tables, serving_world.sqo, unchained, load_rules(None), leads=pd.DataFrame({"lead_id": ["L0000001"]}))
    other = dataclasses.replace(won, model=LeadscoreModel(
        spec={**won.spec, "chain": {**won.spec["chain"], "sqo_horizon_days": 60}}, calibration=won.model.calibration,
        booster=won.booster))
    with pytest.raises(LeadscoreError, match=r"P\(win \| SQO within 60 days\) but leadscore-sqo .* within 90 days"):
        score_leads(serving_world.tables, serving_world.sqo, other, load_rules(None), leads=pd.DataFrame({"lead_id": ["L0000001"]}))
