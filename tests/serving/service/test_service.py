"""POST /v1/score on a real uvicorn server: the batch scorer's rows, one per lead, refusals with a field path."""

from __future__ import annotations

import json
import logging

import numpy as np
import pandas as pd
import pytest

from leadscore.serving.score import OUTPUT_COLUMNS

DAY = pd.Timedelta(days=1)


def records(frame: pd.DataFrame) -> list[dict]:
    """Rows as JSON values (timestamps as ISO text, missing as null)."""
    return json.loads(frame.to_json(orient="records", date_format="iso", date_unit="ns"))


def one_lead_body(world, position: int = -3, **extra) -> dict:
    tables = world.tables
    lead = tables.leads.iloc[[position]]
    lead_id = lead["lead_id"].iloc[0]
    account = tables.accounts[tables.accounts["account_id"] == lead["account_id"].iloc[0]]
    body = {
        "as_of": tables.data_end.isoformat(),
        "leads": records(lead),
        "accounts": records(account),
        "events": records(tables.events[tables.events["lead_id"] == lead_id]),
        "stage_history": records(tables.stage_history[tables.stage_history["lead_id"] == lead_id]),
    }
    body.update(extra)
    return body


def test_every_lead_sent_gets_one_row_in_request_order_with_a_status_and_the_model_versions(service, serving_world):
    tables = serving_world.tables
    known = tables.leads.iloc[[5, 6]]
    late = {"lead_id": "late", "captured_at": (tables.data_end + DAY).isoformat(), "channel": "email"}
    undated = {"lead_id": "undated", "channel": "email"}
    body = {"as_of": tables.data_end.isoformat(), "leads": [late, *records(known), undated]}
    answer = service.post(body)
    assert answer.status_code == 200, answer.text
    rows = answer.json()["scores"]
    assert [r["lead_id"] for r in rows] == ["late", *known["lead_id"], "undated"]
    assert [r["status"] for r in rows] == ["captured after as_of", "ok", "ok", "no captured_at"]
    assert all(list(r) == list(OUTPUT_COLUMNS) for r in rows)
    assert {(r["model_name"], r["model_version"], r["model_version_won"]) for r in rows} == {("leadscore-sqo", "1", "1")}
    assert answer.json()["models"] == {"sqo": {"name": "leadscore-sqo", "version": "1"},
                                       "won": {"name": "leadscore-won", "version": "1"}}


def test_a_lead_whose_history_closed_it_gets_no_probability_and_says_so(service, serving_world):
    from leadscore.features.building.stages import funnel_position

    tables = serving_world.tables
    spine = pd.DataFrame({"lead_id": tables.leads["lead_id"], "as_of": tables.data_end})
    position = funnel_position(tables, spine).to_numpy()
    for wanted, status in (("disqualified", "closed: disqualified"), ("sqo", "reached SQO")):
        at = int(np.flatnonzero(position == wanted)[0]) - len(tables.leads)
        row = service.post(one_lead_body(serving_world, at)).json()["scores"][0]
        assert row["status"] == status
        assert row["p_sqo"] is None and row["score"] is None and row["reasons"] is None
        # the served WON model's q was calibrated on open opportunities too, so a lead at SQO keeps a p_win
        assert (row["p_win"] is None) == (wanted == "disqualified")
        assert row["rule_score"] is not None and (row["rule_grade"] == "closed") == (wanted == "disqualified")
        # the same lead sent without its stage history is an open lead to the service
        bare = one_lead_body(serving_world, at)
        del bare["stage_history"]
        answer = service.post(bare)
        assert answer.status_code == 200, answer.text
        assert answer.json()["scores"][0]["status"] == "ok"


def test_text_cells_and_json_scalars_mean_the_same(service, serving_world):
    body = one_lead_body(serving_world)
    as_text = json.loads(json.dumps(body), parse_int=str, parse_float=str)
    for table in ("leads", "accounts", "events", "stage_history"):
        for row in as_text[table]:
            for name, value in row.items():
                if isinstance(value, bool):
                    row[name] = "true" if value else "false"
    typed, texts = service.post(body).json(), service.post(as_text).json()
    assert typed == texts and typed["scores"][0]["status"] == "ok"


def test_rows_after_as_of_and_unknown_fields_change_nothing(service, serving_world):
    body = one_lead_body(serving_world)
    lead_id = body["leads"][0]["lead_id"]
    after = (pd.Timestamp(body["as_of"]) + DAY).isoformat()
    noisy = json.loads(json.dumps(body))
    noisy["events"] += [{"lead_id": lead_id, "occurred_at": after, "event_type": "demo_request"}] * 3
    noisy["stage_history"] += [{"lead_id": lead_id, "stage": "WON", "entered_at": after}]
    noisy["leads"][0]["favourite_colour"] = "teal"
    noisy["events"][0]["browser"] = {"nested": ["ignored"]}
    assert service.post(noisy).json() == service.post(body).json()


def test_keys_are_required_and_health_and_ready_are_public(service):
    body = {"leads": [{"lead_id": "x", "captured_at": "2026-01-01"}]}
    import requests

    assert requests.post(service.url + "/v1/score", json=body, timeout=30).status_code == 401
    assert service.post(body, headers={"Authorization": "Bearer wrong-key-0123456789"}).status_code == 401
    assert service.post(b"{broken", headers={"Authorization": "Basic eA=="}).status_code == 401  # before the body
    by_header = requests.post(service.url + "/v1/score", json=body, headers={"X-API-Key": service.key}, timeout=30)
    assert by_header.status_code == 200
    assert service.get("/health").json() == {"status": "ok"}
    ready = service.get("/ready")
    assert ready.status_code == 200 and ready.json()["models"]["sqo"]["version"] == "1"
    document = service.get("/openapi.json").json()
    assert "/v1/score" in document["paths"] and "LeadsRow" in document["components"]["schemas"]


@pytest.mark.parametrize(("body", "loc"), [
    ({"leads": [{"lead_id": "a", "captured_at": "yesterday-ish"}]}, "leads[0].captured_at"),
    ({"leads": [{"lead_id": "a", "captured_at": "2026-01-01", "channel": "carrier pigeon"}]}, "leads[0].channel"),
    ({"leads": [{"lead_id": "a"}, {"lead_id": "a"}]}, "leads[1].lead_id"),
    ({"leads": [{"lead_id": "a"}], "events": [{"lead_id": "a", "occurred_at": "2026-01-01"}]}, "events[0].event_type"),
    ({"leads": [{"lead_id": "a", "job_title": {"nested": 1}}]}, "leads[0].job_title"),
    ({"leads": [{"lead_id": "a"}], "accounts": [{"account_id": "c", "employees": "-3"}]}, "accounts[0].employees"),
    ({"leads": [{"lead_id": "a"}], "accounts": [{"account_id": "c", "is_public": "perhaps"}]}, "accounts[0].is_public"),
    ({"leads": [{"lead_id": "a"}], "as_of": "someday"}, "as_of"),
    ({"leads": [{"lead_id": "a"}], "extra": []}, "extra"),
    ({"leads": []}, "leads"),
    ({}, "leads"),
    ([1, 2], "body"),
    (b'{"leads": [', "body"),
])
def test_a_body_that_breaks_the_contract_gets_422_with_the_field_path_and_no_internals(service, body, loc):
    answer = service.post(body)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert loc in [p["loc"] for p in problems], problems
    assert all(set(p) == {"loc", "msg"} and p["msg"] for p in problems)
    assert "Traceback" not in answer.text and ".py" not in answer.text


def test_bodies_over_the_limits_get_413(start_service):
    served = start_service(max_body_bytes=5_000, max_leads=3)
    many = {"leads": [{"lead_id": f"L{i}", "captured_at": "2026-01-01"} for i in range(4)]}
    assert served.post(many).status_code == 413
    big = {"leads": [{"lead_id": "a", "captured_at": "2026-01-01", "campaign": "x" * 6_000}]}
    assert served.post(big).status_code == 413

    def chunks():  # no Content-Length: counted as it arrives
        yield b'{"leads": [{"lead_id": "a", "campaign": "'
        for _ in range(10):
            yield b"y" * 1_000
        yield b'"}]}'

    chunked = served.post(chunks())
    assert chunked.status_code == 413 and "bytes" in chunked.json()["detail"]
    assert served.post({"leads": many["leads"][:3]}).status_code == 200


def test_no_personal_field_or_lead_id_reaches_the_log(service, serving_world, caplog):
    body = one_lead_body(serving_world, position=-7)
    body["leads"][0]["job_title"] = "Chief Secret Officer"
    body["leads"][0]["email_domain"] = "very-private.example"
    with caplog.at_level(logging.DEBUG):
        assert service.post(body).status_code == 200
        assert service.post({"leads": [{"lead_id": "secret-lead", "captured_at": "not a date"}]}).status_code == 422
    text = caplog.text
    assert "scored 1 lead(s)" in text and "refused a request" in text
    for personal in ("Chief Secret Officer", "very-private.example", body["leads"][0]["lead_id"], "secret-lead"):
        assert personal not in text


def test_probabilities_are_the_batch_scorers_floats_never_rounded(service, serving_world):
    from leadscore.features.tables import make_tables
    from leadscore.scorers.rules import load_rules
    from leadscore.serving.score import score_leads

    body = one_lead_body(serving_world, position=-11)
    rows = service.post(body).json()["scores"]
    tables = serving_world.tables
    lead_id = rows[0]["lead_id"]
    account_id = tables.leads.loc[tables.leads["lead_id"] == lead_id, "account_id"].iloc[0]
    same = make_tables({
        "leads": tables.leads[tables.leads["lead_id"] == lead_id],
        "accounts": tables.accounts[tables.accounts["account_id"] == account_id],
        "events": tables.events[tables.events["lead_id"] == lead_id],
        "stage_history": tables.stage_history[tables.stage_history["lead_id"] == lead_id],
    }, data_end=tables.data_end)
    expected, _ = score_leads(same, serving_world.sqo, serving_world.won, load_rules(None))
    assert (rows[0]["p_sqo"], rows[0]["p_win"]) == (expected["p_sqo"].iloc[0], expected["p_win"].iloc[0])
    assert len(repr(rows[0]["p_sqo"])) > 12  # every digit of the float, not a rounded figure
