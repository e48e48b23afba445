"""A request to its answer: read, staged and scored by the batch scorer's own functions, answered as JSON.

The answer is the batch scorer's output rows (:func:`leadscore.serving.score.output_rows`, from
:func:`leadscore.serving.score.score_rows`) turned into JSON values one to one: one row per lead sent, in
request order, with its status; probabilities as the scorer computed them (a JSON number holds a float
exactly); every row names the model versions used.

A plain request (:mod:`leadscore.serving.service.request_rows`: the common case) is read into typed values
and staged for the feature kernel directly, without pandas; any other goes through the export reader
(:mod:`leadscore.serving.service.request_tables`), merged with the service's export when it has one
(:mod:`leadscore.serving.service.context`), then the same staging and scoring.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from leadscore.features.building.spine import exclusion_reasons
from leadscore.features.building.staging import stage_records
from leadscore.features.errors import LeadscoreError
from leadscore.scorers.rules import RulesConfig
from leadscore.scorers.status import split_counts
from leadscore.serving.loading import ScoringModel
from leadscore.serving.score import (
    NO_TIME,
    OUTPUT_COLUMNS,
    OutputRows,
    ScoreCounts,
    Scorer,
    output_rows,
    score_rows,
)
from leadscore.serving.service.request_rows import read_plain_request
from leadscore.serving.service.schema import ScoreRequest

if TYPE_CHECKING:
    from leadscore.features.reading.mapping import MappingFile
    from leadscore.serving.service.context import ExportContext


@dataclass(frozen=True)
class ModelSet:
    """The models a request is scored with: always one pair, swapped whole when the registry moves."""

    sqo: ScoringModel
    won: ScoringModel | None

    @property
    def spec_features(self) -> list[dict]:
        return [*self.sqo.spec_features, *(self.won.spec_features if self.won is not None else [])]

    def versions(self) -> dict[str, dict[str, str] | None]:
        """``{"sqo": {"name", "version"}, "won": ... or None}``, for answers, /ready and logs."""
        def named(model: ScoringModel | None) -> dict[str, str] | None:
            return None if model is None else {"name": model.name, "version": model.version}

        return {"sqo": named(self.sqo), "won": named(self.won)}


def iso_utc(ns: int) -> str:
    """An epoch-nanosecond moment as ISO-8601 in UTC, as pandas writes it (fractions only when there are any).

    Examples
    --------
    >>> iso_utc(1_700_000_000_123_456_000), iso_utc(0)
    ('2023-11-14T22:13:20.123456+00:00', '1970-01-01T00:00:00+00:00')
    """
    seconds, nanos = divmod(ns, 1_000_000_000)
    text = datetime.fromtimestamp(seconds, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S")
    if nanos:
        text += f".{nanos // 1000:06d}" if nanos % 1000 == 0 else f".{nanos:09d}"
    return text + "+00:00"


def json_rows(rows: OutputRows) -> list[dict[str, Any]]:
    """The scorer's output rows as JSON-ready dicts: missing values as None, floats exactly as computed."""
    c = rows.columns
    n = rows.n

    def floats(values: np.ndarray) -> list:
        return [None if v != v else v for v in values.tolist()]

    c = {name: value.to_pylist() if isinstance(value, pa.Array) else value for name, value in c.items()}

    columns = {
        "lead_id": c["lead_id"],
        "as_of": [None if v == NO_TIME else iso_utc(v) for v in c["as_of"].tolist()],
        **{name: [c[name]] * n for name in ("model_name", "model_version", "model_name_won", "model_version_won")},
        "p_sqo": floats(c["p_sqo"]), "p_win": floats(c["p_win"]),
        "score": [v if has else None for v, has in zip(c["score"].tolist(), c["has_score"].tolist(), strict=True)],
        **{name: c[name] for name in ("grade", "reasons_positive", "reasons_negative", "reasons")},
        "rule_score": floats(c["rule_score"]),
        **{name: c[name] for name in ("rule_grade", "rule_stage", "rule_reasons", "status")},
    }
    return [dict(zip(OUTPUT_COLUMNS, row, strict=True)) for row in zip(*(columns[k] for k in OUTPUT_COLUMNS), strict=True)]


_SCORERS: dict[tuple, tuple[ModelSet, RulesConfig, Scorer]] = {}


def scorer_for(models: ModelSet, rules: RulesConfig, grade_cuts: dict[str, float] | None) -> Scorer:
    """The models' :class:`~leadscore.serving.score.Scorer`, checked and settled once per model pair and rules."""
    key = (id(models), id(rules), tuple(sorted((grade_cuts or {}).items())))
    found = _SCORERS.get(key)
    if found is None or found[0] is not models or found[1] is not rules:
        if len(_SCORERS) > 16:
            _SCORERS.clear()
        found = (models, rules, Scorer.of(models.sqo, models.won, rules, grade_cuts))
        _SCORERS[key] = found
    return found[2]


def _counts(rows: OutputRows) -> ScoreCounts:
    by_status: dict[str, int] = {}
    for value in rows.columns["status"]:
        by_status[str(value)] = by_status.get(str(value), 0) + 1
    n_ok, not_open, not_scored = split_counts(by_status)
    n = sum(by_status.values())
    return ScoreCounts(n_in=n, n_out=n, n_ok=n_ok, not_open=not_open, not_scored=not_scored)


def score_request(
    request: ScoreRequest,
    models: ModelSet,
    rules: RulesConfig,
    grade_cuts: dict[str, float] | None = None,
    mapping: MappingFile | None = None,
    context: ExportContext | None = None,
) -> tuple[dict[str, Any], ScoreCounts]:
    """The answer to one request (``{"scores": [...], "models": {...}}``) and the scorer's counts.

    Raises
    ------
    RequestRefused
        When the request breaks the contract (see :mod:`leadscore.serving.service.request_tables`).
    """
    scorer = scorer_for(models, rules, grade_cuts)
    plain = read_plain_request(request, models.spec_features, mapping) if context is None else None
    if plain is not None:
        staged = stage_records(plain.tables)
        n = len(plain.lead_ids)
        lead_pos = np.arange(n, dtype=np.int64)
        as_of_ns = np.full(n, plain.as_of_ns, dtype=np.int64)
        reason = exclusion_reasons(lead_pos, staged.captured, as_of_ns, plain.as_of_ns, np.zeros(n, dtype=bool))
        ok = reason == ""
        scored = score_rows(scorer, staged, lead_pos[ok], as_of_ns[ok]) if ok.any() else None
        rows = output_rows(plain.lead_ids, as_of_ns, reason, scored, scorer)
    else:
        rows = _score_read(request, models, scorer, mapping, context)
    return {"scores": json_rows(rows), "models": models.versions()}, _counts(rows)


def _score_read(request: ScoreRequest, models: ModelSet, scorer: Scorer, mapping: MappingFile | None,
                context: ExportContext | None) -> OutputRows:
    """A request the plain reader declined: read like an export (refusals with field paths), then scored."""
    import pandas as pd

    from leadscore.features.tables import make_tables
    from leadscore.serving.score import ScoreRun
    from leadscore.serving.service.request_tables import read_request

    read = read_request(request, models.spec_features, mapping)
    if context is not None:
        # Leads the export knows are scored where the export ends (see ExportContext.requested_leads).
        leads = context.requested_leads(read, as_of_given=request.as_of is not None)
        known_ends = leads["data_end"].dropna()
        tables = context.merge(read, data_end=max(read.as_of, known_ends.max()) if len(known_ends) else read.as_of)
        as_of = None
    else:
        tables = make_tables(read.frames, data_end=read.as_of, source="<request>",
                             date_order=mapping.date_order if mapping else None)
        leads, as_of = pd.DataFrame({"lead_id": read.lead_ids}), read.as_of
    run = ScoreRun.prepare(tables, scorer, as_of=as_of, leads=leads)
    return run.rows()


def warm_up(models: ModelSet, rules: RulesConfig, grade_cuts: dict[str, float] | None = None) -> None:
    """Score one made-up lead with ``models`` before they serve: compiles their trees, proves they answer.

    Raises
    ------
    LeadscoreError
        When the pair cannot score (a feature this leadscore does not build, no grade cut points).
    """
    now = datetime.now(tz=UTC)
    from datetime import timedelta

    request = ScoreRequest.model_validate({
        "as_of": now.isoformat(),
        "leads": [{"lead_id": "warm-up", "captured_at": (now - timedelta(days=3)).isoformat(), "channel": "email",
                   "job_title": "Head of Marketing", "email_consent": True}],
        "events": [{"lead_id": "warm-up", "occurred_at": (now - timedelta(days=1)).isoformat(),
                    "event_type": "page_view", "page_type": "pricing"}],
    })
    answer, _ = score_request(request, models, rules, grade_cuts)
    if answer["scores"][0]["status"] != "ok":
        raise LeadscoreError(f"the models could not score a test lead: {answer['scores'][0]['status']}")
