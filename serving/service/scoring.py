"""A request to its answer: read it like an export, merge the service's export if any, run the batch scorer.

The answer is the batch scorer's own output (:func:`leadscore.serving.score.score_leads`) turned into JSON
values one to one: one row per lead sent, in request order, with its status; probabilities as the
scorer computed them (a JSON number holds a float exactly); every row names the model versions used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pandas as pd

from leadscore.features.errors import LeadscoreError
from leadscore.features.tables import make_tables
from leadscore.scorers.rules import RulesConfig
from leadscore.serving.loading import ScoringModel
from leadscore.serving.score import OUTPUT_COLUMNS, ScoreCounts, score_leads
from leadscore.serving.service.request_tables import read_request
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


def json_rows(scores: pd.DataFrame) -> list[dict[str, Any]]:
    """The scorer's output frame as JSON-ready dicts: missing values as None, floats exactly as computed."""
    columns: dict[str, list] = {}
    for name in OUTPUT_COLUMNS:
        values = scores[name]
        if name == "as_of":
            columns[name] = [None if pd.isna(v) else v.isoformat() for v in values]
        elif name == "score":
            columns[name] = [None if pd.isna(v) else int(v) for v in values]
        elif pd.api.types.is_float_dtype(values.dtype):
            array = values.to_numpy(dtype="float64")
            columns[name] = [None if np.isnan(v) else float(v) for v in array]
        else:
            columns[name] = [None if pd.isna(v) else str(v) for v in values]
    return [dict(zip(OUTPUT_COLUMNS, row, strict=True)) for row in zip(*columns.values(), strict=True)]


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
    scores, counts = score_leads(tables, models.sqo, models.won, rules, as_of=as_of, leads=leads,
                                 grade_cuts=grade_cuts, progress=False)
    return {"scores": json_rows(scores), "models": models.versions()}, counts


def warm_up(models: ModelSet, rules: RulesConfig, grade_cuts: dict[str, float] | None = None) -> None:
    """Score one made-up lead with ``models`` before they serve: compiles their trees, proves they answer.

    Raises
    ------
    LeadscoreError
        When the pair cannot score (a feature this leadscore does not build, no grade cut points).
    """
    now = pd.Timestamp.now(tz="UTC")
    request = ScoreRequest.model_validate({
        "as_of": now.isoformat(),
        "leads": [{"lead_id": "warm-up", "captured_at": (now - pd.Timedelta(days=3)).isoformat(), "channel": "email",
                   "job_title": "Head of Marketing", "email_consent": True}],
        "events": [{"lead_id": "warm-up", "occurred_at": (now - pd.Timedelta(days=1)).isoformat(),
                    "event_type": "page_view", "page_type": "pricing"}],
    })
    answer, _ = score_request(request, models, rules, grade_cuts)
    if answer["scores"][0]["status"] != "ok":
        raise LeadscoreError(f"the models could not score a test lead: {answer['scores'][0]['status']}")
