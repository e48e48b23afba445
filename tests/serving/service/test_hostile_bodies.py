"""Bodies a careless or hostile client sends: each gets 422 with the path of the field at fault, or 415 when it is not
JSON at all, never a 500, a bare string or a score of nonsense. A whole-number id (a CRM's record id) still scores.
"""

from __future__ import annotations

import json

import pytest
import requests

LEAD = '{"lead_id": "x", "captured_at": "2026-01-01"}'


@pytest.mark.parametrize("body, loc, words", [
    # half an emoji, as a JavaScript client sends after cutting a string
    (b'{"leads": [{"lead_id": "x", "captured_at": "2026-01-01", "job_title": "CEO \\ud83d"}]}',
     "leads[0].job_title", "lone UTF-16 surrogate"),
    (b'{"leads": [{"lead_id": "x", "\\udc80": 1}]}', "leads[0]", "a field name holds half of a character"),
    # bytes that are not UTF-8 (Latin-1 from a legacy system)
    (b'{"leads": [{"lead_id": "x", "captured_at": "2026-01-01", "country": "Espa\xf1a"}]}',
     "leads[0].country", "is not UTF-8 text"),
    (b'{"leads": [{"lead_id": "x\xff\xfe{', "body", "is not UTF-8 text (byte 26 is not)"),
    (b'{"leads": [{"lead_id": NaN, "captured_at": "2026-01-01"}]}', "leads[0].lead_id", "not a finite number"),
    (b'{"leads": [{"lead_id": Infinity}]}', "leads[0].lead_id", "not a finite number"),
    (b'{"leads": [{"lead_id": -Infinity}]}', "leads[0].lead_id", "not a finite number"),
    (b'{"leads": [{"lead_id": 1e400}]}', "leads[0].lead_id", "not a finite number"),
    (b'{"leads": [{"lead_id": true}]}', "leads[0].lead_id", "not true/false"),
    (b'{"leads": [{"lead_id": 1.5}]}', "leads[0].lead_id", "text or a whole number"),
    (b'{"leads": [{"lead_id": 12345678901234567.0}]}', "leads[0].lead_id", "text or a whole number"),
    (b'{"leads": [{"lead_id": "x", "account_id": false}]}', "leads[0].account_id", "not true/false"),
    (b'{"leads": [' + LEAD.encode() + b'], "events": [{"lead_id": "x", "occurred_at": "2026-01-02", '
     b'"event_type": "email_open", "email_step": NaN}]}', "events[0].email_step", "not a finite number"),
    (b'{"leads": [' + LEAD.encode() + b'], "accounts": [{"account_id": "A", "employees": 1.2e22}]}',
     "accounts[0].employees", "is above 10,000,000"),
    (b'{"leads": [' + LEAD.encode() + b'], "accounts": [{"account_id": "A", "employees": "3e9"}]}',
     "accounts[0].employees", "is above 10,000,000"),
    (b'{"leads": [' + LEAD.encode() + b'], "accounts": [{"account_id": "A", "annual_revenue_usd": 5e15}]}',
     "accounts[0].annual_revenue_usd", "is above 2,000,000,000,000"),
])
def test_a_body_no_schema_can_read_faithfully_gets_422_naming_the_field(service, body, loc, words):
    answer = service.post(body)
    assert answer.status_code == 422, answer.text
    problems = answer.json()["detail"]
    assert isinstance(problems, list) and all(set(p) == {"loc", "msg"} for p in problems)
    assert [p["loc"] for p in problems] == [loc], problems
    assert words in problems[0]["msg"]
    assert "Traceback" not in answer.text and ".py" not in answer.text


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded", "multipart/form-data",
                                          "application/json; charset=latin-1", None])
def test_a_body_not_sent_as_json_gets_415(service, content_type):
    headers = {"Authorization": f"Bearer {service.key}"}
    if content_type is not None:
        headers["Content-Type"] = content_type
    answer = requests.post(service.url + "/v1/score", data=json.dumps({"leads": [json.loads(LEAD)]}).encode(),
                           headers=headers, timeout=60)
    assert answer.status_code == 415, answer.text
    assert answer.json() == {"detail": [{"loc": "headers.content-type", "msg": "send the body as JSON with "
                                                                              "`Content-Type: application/json` (UTF-8)"}]}


@pytest.mark.parametrize("content_type", ["application/json", "application/json; charset=UTF-8",
                                          "application/vnd.crm+json"])
def test_json_content_types_and_whole_number_ids_are_scored(service, content_type):
    body = {"as_of": "2026-01-10", "leads": [{"lead_id": 12345, "captured_at": "2026-01-01", "channel": "email"},
                                             {"lead_id": 678.0, "captured_at": "2026-01-01", "channel": "email"}],
            "accounts": [{"account_id": 77, "employees": 9_000_000}]}
    answer = service.post(json.dumps(body).encode(), headers={"Content-Type": content_type})
    assert answer.status_code == 200, answer.text
    assert [(r["lead_id"], r["status"]) for r in answer.json()["scores"]] == [("12345", "ok"), ("678", "ok")]
