"""OpenAPI-driven fuzzing of POST /v1/score (schemathesis): no 500, no stack trace, whatever the body.

Bodies come from the service's own OpenAPI document, both ones that follow its schema (random rows,
random text in every cell) and ones that break it (negative mode). Seeded: the same examples every run.
"""

from __future__ import annotations

import json

import pytest

N_EXAMPLES = 500
SEED = 15


def fuzz(served, n_examples: int) -> int:
    import schemathesis
    from hypothesis import HealthCheck, given, seed, settings
    from hypothesis import strategies as st
    from schemathesis.checks import negative_data_rejection, not_a_server_error
    from schemathesis.generation import GenerationMode

    schema = schemathesis.openapi.from_url(served.url + "/openapi.json")
    operation = schema["/v1/score"]["POST"]
    cases = st.one_of(operation.as_strategy(generation_mode=GenerationMode.POSITIVE),
                      operation.as_strategy(generation_mode=GenerationMode.NEGATIVE))
    headers = {"Authorization": f"Bearer {served.key}"}
    seen = {"n": 0}

    @seed(SEED)
    @settings(max_examples=n_examples, deadline=None, database=None, derandomize=False,
              suppress_health_check=list(HealthCheck))
    @given(case=cases)
    def check(case) -> None:
        response = case.call(base_url=served.url, headers=headers)
        seen["n"] += 1
        assert response.status_code < 500, response.text[:300]
        text = response.text
        # Hypothesis also draws strings found in source code, these markers among them: an answer may
        # quote what the request sent (a 422 names the bad value), never anything else of the kind.
        sent = json.dumps(case.body, default=str)
        for marker in ("Traceback", 'File "', "site-packages"):
            assert marker not in text or marker in sent, text[:300]
        case.validate_response(response, checks=[not_a_server_error, negative_data_rejection], headers=headers)

    check()
    return seen["n"]


def test_fuzzing_a_few_examples_finds_no_server_error(service):
    assert fuzz(service, 40) >= 40


@pytest.mark.slow
def test_fuzzing_500_seeded_examples_finds_no_server_error_and_no_stack_trace(service):
    assert fuzz(service, N_EXAMPLES) >= N_EXAMPLES
