"""The request and the answer of ``POST /v1/score`` as pydantic models: what FastAPI validates and documents.

Row models are made from the data contract (``leadscore.features.contract``), so the OpenAPI document lists
every contract column of every table. A value may be any JSON scalar or the text a CSV cell would hold
(``"543"``, ``"true"``, ``"2025-01-06 18:50:49+00:00"``); it is read later with the export reader's
coercion, so a request and an export mean the same by the same text. Fields a row's table does not know
are accepted and ignored, unless a model reads them as one of the export's own columns.
Unknown top-level keys are refused.
"""

from __future__ import annotations

import math
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, create_model

from leadscore.features.contract import TABLES, Column

# What a cell may hold: a JSON scalar (or null).
Scalar = str | int | float | bool | None
# Whole numbers a JSON number (a double) holds exactly; an id past them has already lost digits.
EXACT_INTEGER = 2**53
REQUEST_TABLES = ("leads", "accounts", "technographics", "events", "stage_history", "opportunities")
KIND_WORDS = {
    "id": "an identifier (text or a whole number)",
    "string": "text",
    "category": "one of the contract's values",
    "timestamp": "a timestamp, ISO-8601 (naive read as UTC)",
    "number": "a number (or its text)",
    "bool": "true/false, yes/no or 1/0",
    "month": "a month, YYYY-MM",
}


def identifier(value: Any) -> Any:
    """An id as sent: text or a whole number (a CRM's numeric record id). ``true``, ``1.5``, ``NaN`` or a
    number too large to be exact name no record, so they are refused rather than read as "true" or "1.5"."""
    if isinstance(value, bool):
        raise ValueError("an identifier is text or a whole number, not true/false")
    if isinstance(value, float):
        if not math.isfinite(value) or not value.is_integer() or abs(value) >= EXACT_INTEGER:
            raise ValueError("an identifier is text or a whole number (up to 2**53 when sent as a JSON number; "
                             "send larger ones as text)")
        return int(value)
    if isinstance(value, int) and abs(value) >= EXACT_INTEGER:
        return str(value)
    return value


def plausible(column: Column) -> Any:
    """A check that a number sent for ``column`` (as a JSON number or as its text) is within the contract's
    plausible range: past it the value is a typo or a unit mix-up, refused rather than scored as true."""
    def check(value: Any) -> Any:
        if isinstance(value, bool) or value is None:
            return value
        try:
            number = float(value.strip()) if isinstance(value, str) else float(value)
        except (ValueError, OverflowError):
            return value  # not a number: the export reader's coercion names it
        if number > column.plausible_max:
            raise ValueError(f"is above {column.plausible_max:,.0f}, more than any real one ({column.plausible_why})")
        return value
    return check


def _cell_type(column: Column, required: bool) -> Any:
    """The pydantic type of one contract column's cell."""
    kind = (str | int | float | bool) if required else Scalar
    if column.kind == "id":
        return Annotated[kind, BeforeValidator(identifier)]
    if column.kind == "number" and column.plausible_max is not None:
        return Annotated[kind, AfterValidator(plausible(column))]
    return kind


class _Row(BaseModel):
    # Unknown fields stay: they may be the export's own columns a model reads (checked then); others are ignored.
    model_config = ConfigDict(extra="allow")


def _row_model(table: str) -> type[BaseModel]:
    fields: dict[str, Any] = {}
    for column in TABLES[table].columns:
        words = KIND_WORDS[column.kind]
        if column.allowed:
            words += f": {', '.join(column.allowed)}" + (" (others kept)" if column.open_vocabulary else "")
        # A lead known to the service's export needs only its lead_id; elsewhere the contract's required
        # non-null columns are required.
        required = column.required and not column.nullable and (table != "leads" or column.name == "lead_id")
        if column.plausible_max is not None:
            words += f", at most {column.plausible_max:,.0f}"
        if required:
            fields[column.name] = (_cell_type(column, True), Field(description=words))
        else:
            fields[column.name] = (_cell_type(column, False), Field(default=None, description=words))
    name = "".join(part.title() for part in table.split("_")) + "Row"
    return create_model(name, __base__=_Row, __doc__=f"One row of the contract's {table} table.", **fields)


ROW_MODELS = {table: _row_model(table) for table in REQUEST_TABLES}
LeadsRow = ROW_MODELS["leads"]
AccountsRow = ROW_MODELS["accounts"]
TechnographicsRow = ROW_MODELS["technographics"]
EventsRow = ROW_MODELS["events"]
StageHistoryRow = ROW_MODELS["stage_history"]
OpportunitiesRow = ROW_MODELS["opportunities"]


class ScoreRequest(BaseModel):
    """Leads to score now (or at ``as_of``), with whatever history the caller has for them.

    A table left out is unknown (its features are missing, as for an export without it); an empty list
    says "none" (no events yet: the activity counts are zero).
    """

    model_config = ConfigDict(extra="forbid")

    as_of: str | None = Field(default=None, description="the scoring moment, ISO-8601 (default: now, UTC); "
                                                         "rows dated after it are ignored")
    leads: list[LeadsRow] = Field(min_length=1, description="the leads to score, one answer each")
    accounts: list[AccountsRow] | None = None
    technographics: list[TechnographicsRow] | None = None
    events: list[EventsRow] | None = None
    stage_history: list[StageHistoryRow] | None = None
    opportunities: list[OpportunitiesRow] | None = None

    def rows(self, table: str) -> list[dict[str, Scalar]]:
        """The rows of ``table`` as plain dicts (contract fields and extra fields alike)."""
        return [row.model_dump() for row in getattr(self, table)]


class ScoreRow(BaseModel):
    """One lead's answer: the batch scorer's columns (``leadscore score``) and its status."""

    lead_id: str
    as_of: str | None
    model_name: str | None
    model_version: str | None
    model_name_won: str | None
    model_version_won: str | None
    p_sqo: float | None = Field(description="calibrated probability of reaching SQO, never rounded")
    p_win: float | None
    score: int | None = Field(description="round(100 × p_sqo)")
    grade: str | None
    reasons_positive: str | None
    reasons_negative: str | None
    reasons: str | None
    rule_score: float | None
    rule_grade: str | None
    rule_stage: str | None
    rule_reasons: str | None
    status: str = Field(description="ok (an open lead: p_sqo and p_win); reached SQO (no p_sqo; p_win only when the "
                                    "WON model covers leads past SQO); closed: won, closed: lost, closed: disqualified "
                                    "(no probability); or why the lead could not be scored")


class ModelVersions(BaseModel):
    """The registered models that answered."""

    sqo: dict[str, str]
    won: dict[str, str] | None


class ScoreAnswer(BaseModel):
    """Exactly one row per lead sent, in request order."""

    scores: list[ScoreRow]
    models: ModelVersions


class Problem(BaseModel):
    """One thing wrong with a request: where (``leads[2].captured_at``) and what, in one sentence."""

    loc: str
    msg: str


class ProblemAnswer(BaseModel):
    """A refused request."""

    detail: list[Problem] | str
