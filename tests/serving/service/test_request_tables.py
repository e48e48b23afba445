"""Reading a request: own columns a model reads are kept, other unknown fields dropped; as_of defaults to now."""

from __future__ import annotations

import pandas as pd
import pytest

from leadscore.serving.service.request_tables import RequestRefused, read_request
from leadscore.serving.service.schema import ScoreRequest

OWN_SPEC = [{"name": "own_lead_source", "kind": "categorical",
             "source": {"table": "leads", "column": "Lead Source", "kind": "category"}}]


def test_an_own_column_a_model_reads_is_kept_and_other_unknown_fields_are_dropped():
    request = ScoreRequest.model_validate({"leads": [
        {"lead_id": "a", "captured_at": "2026-01-05", "Lead Source": "Webinar", "Shoe Size": 44}]})
    read = read_request(request, OWN_SPEC)
    leads = read.frames["leads"]
    assert leads["Lead Source"].tolist() == ["Webinar"] and "Shoe Size" not in leads.columns
    assert "Lead Source" not in read_request(request, []).frames["leads"].columns


def test_as_of_defaults_to_now_in_utc_and_a_given_one_is_read_as_utc():
    request = ScoreRequest.model_validate({"leads": [{"lead_id": "a"}]})
    before = pd.Timestamp.now(tz="UTC")
    read = read_request(request, [])
    assert before <= read.as_of <= pd.Timestamp.now(tz="UTC")
    given = read_request(ScoreRequest.model_validate({"as_of": "2026-03-01 12:00:00+02:00", "leads": [{"lead_id": "a"}]}),
                         [])
    assert given.as_of == pd.Timestamp("2026-03-01 10:00:00", tz="UTC")


def test_every_broken_field_is_named_once_per_row():
    request = ScoreRequest.model_validate({"leads": [
        {"lead_id": "a", "captured_at": "soon"}, {"lead_id": "b", "captured_at": "later", "email_consent": "maybe"}]})
    with pytest.raises(RequestRefused) as refused:
        read_request(request, [])
    assert [loc for loc, _ in refused.value.problems] == ["leads[0].captured_at", "leads[1].captured_at",
                                                          "leads[1].email_consent"]


def test_ready_and_score_answer_503_until_models_are_loaded(start_service):
    served = start_service(loaded=False)
    ready = served.get("/ready")
    assert ready.status_code == 503 and ready.json()["ready"] is False
    assert served.post({"leads": [{"lead_id": "a"}]}).status_code == 503
    assert served.get("/health").status_code == 200
