"""A request read the plain way (typed values, no pandas) is answered exactly as through the export reader.

Hypothesis writes request bodies with the forms a CRM sends: ids as numbers or padded text, times with Z,
offsets, no zone, fractions or a date alone, numbers as JSON or text, yes/no words, categories in any case,
null tokens, and values the plain reader must leave to the export reader (slashed dates, unknown
categories, negative counts, stray lead ids). Whichever way a body goes, the answer is the export
reader's: identical rows, or the same refusal.
"""

from __future__ import annotations

import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from leadscore.scorers.rules import load_rules
from leadscore.serving.service.request_rows import parse_timestamp, read_plain_request
from leadscore.serving.service.request_tables import RequestRefused
from leadscore.serving.service.schema import ScoreRequest
from leadscore.serving.service.scoring import ModelSet, _score_read, json_rows, score_request, scorer_for

AS_OF = pd.Timestamp("2025-03-01T12:00:00Z")
RULES = load_rules(None)


def moment(days: float) -> pd.Timestamp:
    return AS_OF - pd.Timedelta(days=days)


def written(stamp: pd.Timestamp, form: int) -> str:
    """One moment as CRMs write it; forms 0-5 are plain, 6 is not (a slashed date)."""
    forms = [
        stamp.strftime("%Y-%m-%dT%H:%M:%SZ"),
        stamp.tz_convert("Europe/Berlin").isoformat(),
        stamp.strftime("%Y-%m-%d %H:%M:%S"),
        stamp.strftime("%Y-%m-%dT%H:%M:%S.%f") + "+0000",
        stamp.strftime("%Y-%m-%d"),
        stamp.tz_convert("America/New_York").strftime("%Y-%m-%dT%H:%M%z"),
        stamp.strftime("%m/%d/%Y %H:%M"),
    ]
    return forms[form]


days_ago = st.floats(0, 120, allow_nan=False)


@st.composite
def bodies(draw: st.DrawFn) -> dict:
    messy = draw(st.booleans())  # half the bodies may hold values only the export reader reads (or refuses)
    forms = st.integers(0, 6 if messy else 5)

    def pick(plain: list, odd: list) -> object:
        return draw(st.sampled_from(plain + odd if messy else plain))

    n_leads = draw(st.integers(1, 3))
    ids = [draw(st.sampled_from([f"L{i}", str(100 + i), 100 + i, f" L{i} "])) for i in range(n_leads)]
    text_ids = [str(i).strip() for i in ids]
    if len(set(text_ids)) < n_leads:
        ids = [f"L{i}" for i in range(n_leads)]
        text_ids = list(ids)
    account = draw(st.sampled_from(["A1", 7, None]))
    leads = [{
        "lead_id": lead,
        "account_id": account,
        "captured_at": written(moment(draw(st.floats(30, 150))), draw(forms)),
        "channel": pick(["linkedin", "LinkedIn", " email ", "Google Search", "tiktok", None], ["carrier pigeon"]),
        "job_title": draw(st.sampled_from(["VP Finance", "cto", None, "Student"])),
        "email_domain": draw(st.sampled_from(["acme.com", "gmail.com", None])),
        "email_consent": pick([True, False, "yes", "N", 1, "1.0", None, "null"], ["maybe"]),
        "campaign": draw(st.sampled_from(["spring", None, "NA"])),
        "country": draw(st.sampled_from(["US", "de", None])),
    } for lead in ids]
    body: dict = {"as_of": written(AS_OF, draw(st.integers(0, 3))), "leads": leads}
    if account is not None and draw(st.booleans()):
        body["accounts"] = [{
            "account_id": account,
            "employees": pick([250, 250.0, "1200", " 80 ", "1e3", None, "n/a"], [-5, "1,200"]),
            "annual_revenue_usd": draw(st.sampled_from([1.5e7, "2500000.5", None])),
            "industry": "software", "region": pick(["us_east", "Europe", "mars"], []),
            "business_model": draw(st.sampled_from(["b2b", "B2C", None])), "is_public": draw(st.sampled_from([False, "true"])),
        }]
    n_events = draw(st.integers(0, 20))
    stray = messy and draw(st.booleans())
    body["events"] = [{
        "lead_id": draw(st.sampled_from([*ids, "ghost"] if stray else ids)),
        "occurred_at": written(moment(draw(days_ago)), draw(forms)),
        "event_type": pick(["page_view", "Page View", "email_open", "email_sent", "demo_request", "form_submit",
                            "email_click"], ["webinar"]),
        "page_type": draw(st.sampled_from(["pricing", "Product", None, "docs"])),
        "email_step": draw(st.sampled_from([1, 2.0, "3", None])),
    } for _ in range(n_events)]
    if draw(st.booleans()):
        body["stage_history"] = [{"lead_id": ids[0], "stage": draw(st.sampled_from(["MQL", "sql", "SQO"])),
                                  "entered_at": written(moment(draw(days_ago)), draw(st.integers(0, 5)))}]
    return body


def answer_both_ways(world, body: dict) -> tuple[object, object, bool]:
    models = ModelSet(world.sqo, world.won)
    request = ScoreRequest.model_validate(body)
    plain = read_plain_request(request, models.spec_features) is not None

    def run(how):
        try:
            return how()
        except RequestRefused as exc:
            return ("refused", exc.problems)

    served = run(lambda: score_request(request, models, RULES)[0]["scores"])
    read = run(lambda: json_rows(_score_read(request, models, scorer_for(models, RULES, None), None, None)))
    return served, read, plain


@settings(max_examples=40, deadline=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow,
                                                                                   HealthCheck.function_scoped_fixture])
@given(body=bodies())
def test_a_request_read_the_plain_way_is_answered_as_the_export_reader_answers(serving_world, body) -> None:
    served, read, plain = answer_both_ways(serving_world, body)
    assert served == read
    PLAIN.append(plain)


PLAIN: list[bool] = []


def test_the_random_bodies_go_both_ways(serving_world) -> None:
    assert PLAIN and 0.2 < sum(PLAIN) / len(PLAIN) < 0.9, PLAIN  # neither way is left untested


def test_a_crms_plain_request_is_read_without_the_export_reader(serving_world) -> None:
    body = {"as_of": "2025-03-01T12:00:00Z",
            "leads": [{"lead_id": 17, "captured_at": "2025-01-02 09:30:00", "channel": "LinkedIn", "email_consent": "yes",
                       "account_id": "A1"}],
            "accounts": [{"account_id": "A1", "employees": "250", "region": "Europe"}],
            "events": [{"lead_id": "17", "occurred_at": "2025-02-27T10:00:00.5+01:00", "event_type": "page_view",
                        "page_type": "Pricing"}]}
    served, read, plain = answer_both_ways(serving_world, body)
    assert plain and served == read and served[0]["status"] == "ok"
    for unusual in ({"occurred_at": "02/27/2025 10:00"}, {"event_type": "webinar"}, {"lead_id": "18"}):
        changed = {**body, "events": [{**body["events"][0], **unusual}]}
        served, read, plain = answer_both_ways(serving_world, changed)
        assert not plain and served == read, unusual


@pytest.mark.parametrize("text", ["2025-01-02T03:04:05Z", "2025-01-02 03:04:05.123456789", "2025-01-02",
                                  "2025-01-02T03:04+05:30", "1999-12-31T23:59:59-0800", "2024-02-29T00:00:00.5Z"])
def test_plain_timestamps_are_the_instants_pandas_reads(text: str) -> None:
    stamp = pd.Timestamp(text)
    assert parse_timestamp(text) == (stamp.tz_localize("UTC") if stamp.tzinfo is None else stamp).value
