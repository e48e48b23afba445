"""The same 1,000 leads scored by `leadscore score` and through POST /v1/score give identical rows."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import pandas as pd
import pytest

from leadscore.scorers.status import STATUS_BY_POSITION
from leadscore.serving.score import OUTPUT_COLUMNS

N_LEADS = 1_000
SEED = 23
TABLES_SENT = ("leads", "accounts", "technographics", "events", "stage_history", "opportunities")
# About 40 s (a 1,000-lead export, `leadscore score` on it, two servers): the full run and CI.
pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def export_and_batch(serving_world, tmp_path_factory):
    """A 1,000-lead CSV export and `leadscore score`'s output for all its leads at its data end (the generator's,
    given with --data-end: its latest timestamp is a few minutes earlier)."""
    import mlflow

    from leadscore.cli import main
    from leadscore.features.synthetic.demo import DATA_END, generate_demo, write_export

    folder = tmp_path_factory.mktemp("parity")
    frames, truth = generate_demo(N_LEADS, SEED)
    write_export(frames, truth, folder / "export", fmt="csv")
    previous = mlflow.get_tracking_uri(), mlflow.get_registry_uri()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLFLOW_TRACKING_URI", serving_world.tracking_uri)
        with contextlib.redirect_stdout(io.StringIO()):
            code = main(["score", str(folder / "export"), "--out", str(folder / "scores.parquet"),
                         "--as-of", DATA_END.isoformat(), "--data-end", DATA_END.isoformat()])
    mlflow.set_tracking_uri(previous[0])
    mlflow.set_registry_uri(previous[1])
    assert code == 0
    batch = pd.read_parquet(folder / "scores.parquet")
    assert len(batch) == N_LEADS and batch["status"].isin(list(STATUS_BY_POSITION.values())).mean() > 0.9
    assert (batch["status"] == "ok").mean() > 0.5
    return folder / "export", batch, DATA_END


def cells(path) -> list[dict]:
    """A CSV file's rows as the text of its cells (empty cells as null): what a CRM would send."""
    frame = pd.read_csv(path, dtype=str, keep_default_na=False)
    return [{k: (v if v != "" else None) for k, v in row.items()} for row in frame.to_dict(orient="records")]


def as_answer_frame(rows: list[dict]) -> pd.DataFrame:
    return pd.DataFrame(rows, columns=list(OUTPUT_COLUMNS))


def assert_identical(answer: pd.DataFrame, batch: pd.DataFrame) -> None:
    assert answer["lead_id"].tolist() == batch["lead_id"].astype(str).tolist()
    assert answer["as_of"].tolist() == [t.isoformat() for t in batch["as_of"]]
    for column in ("p_sqo", "p_win", "rule_score"):
        np.testing.assert_array_equal(answer[column].astype(float).to_numpy(), batch[column].to_numpy(dtype=float))
    assert [None if pd.isna(s) else s for s in answer["score"]] == [None if pd.isna(s) else int(s) for s in batch["score"]]
    for column in OUTPUT_COLUMNS:
        if column in ("as_of", "p_sqo", "p_win", "rule_score", "score"):
            continue
        expected = [None if pd.isna(v) else str(v) for v in batch[column]]
        assert [None if pd.isna(v) else v for v in answer[column]] == expected, column


def test_a_thousand_leads_sent_whole_get_the_batch_scorers_rows(export_and_batch, start_service):
    export, batch, as_of = export_and_batch
    body = {"as_of": as_of.isoformat(), **{t: cells(export / f"{t}.csv") for t in TABLES_SENT}}
    assert len(body["leads"]) == N_LEADS
    served = start_service(max_body_bytes=100_000_000, max_leads=N_LEADS)
    answer = served.post(body)
    assert answer.status_code == 200, answer.text[:500]
    assert_identical(as_answer_frame(answer.json()["scores"]), batch)


def test_leads_the_service_export_knows_need_only_their_lead_id(export_and_batch, start_service, serving_world):
    from leadscore.serving.service.context import ExportContext

    export, batch, as_of = export_and_batch
    context = ExportContext(str(export), data_end=as_of.isoformat(), reload_minutes=0)
    context.load()
    served = start_service(context=context)
    ids = batch["lead_id"].astype(str).tolist()
    answer = served.post({"as_of": as_of.isoformat(), "leads": [{"lead_id": i} for i in ids]})
    assert answer.status_code == 200, answer.text[:500]
    assert_identical(as_answer_frame(answer.json()["scores"]), batch)
    # One lead alone, and one with a new event sent by the CRM: the export's history plus the event.
    single = served.post({"as_of": as_of.isoformat(), "leads": [{"lead_id": ids[7]}]}).json()["scores"]
    assert_identical(as_answer_frame(single), batch.iloc[[7]].reset_index(drop=True))
    # A new lead the export does not know, beside a known one: each scored from what there is.
    mixed = served.post({"as_of": as_of.isoformat(), "leads": [
        {"lead_id": "new-lead", "captured_at": (as_of - pd.Timedelta(days=2)).isoformat(), "channel": "email"},
        {"lead_id": ids[3]}]}).json()["scores"]
    assert [r["status"] for r in mixed] == ["ok", "ok"]
    assert_identical(as_answer_frame(mixed[1:]), batch.iloc[[3]].reset_index(drop=True))
    event = {"lead_id": ids[7], "occurred_at": (as_of - pd.Timedelta(hours=2)).isoformat(), "event_type": "demo_request"}
    merged = served.post({"as_of": as_of.isoformat(), "leads": [{"lead_id": ids[7]}], "events": [event]}).json()["scores"]
    from leadscore.features.reading.coerce import coerce_table
    from leadscore.features.reading.validation import load_tables
    from leadscore.features.tables import make_tables
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import score_leads

    tables = load_tables(export, data_end=as_of.isoformat())
    added = coerce_table("events", pd.DataFrame({k: pd.array([v], dtype="str") for k, v in event.items()})).frame
    frames = {name: tables.table(name) for name in TABLES_SENT}
    frames["events"] = pd.concat([tables.events, added], ignore_index=True)
    expected, _ = score_leads(make_tables(frames, data_end=as_of), serving_world.sqo, serving_world.won,
                              load_rules(None), as_of=as_of, leads=pd.DataFrame({"lead_id": [ids[7]]}))
    assert merged[0]["p_sqo"] != single[0]["p_sqo"]
    assert_identical(as_answer_frame(merged), expected)
