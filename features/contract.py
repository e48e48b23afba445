"""The data contract as data: every table, column, type and allowed value a user's export may hold.

One declaration drives reading, type coercion, validation, the demo generator and the empty frames
that stand in for optional tables a user did not bring, so the contract is written down exactly once.
The prose version is ``shared/spec/data-contract.md``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ColumnKind = Literal["id", "string", "category", "timestamp", "number", "bool", "month"]

LEAD_CHANNELS = (
    "linkedin", "email", "facebook", "google_search", "tiktok", "referral", "organic", "webinar", "event", "other",
)
STAGES = ("MCL", "MEL", "MQL", "SAL", "SQL", "SQO", "WON", "LOST", "RECYCLED", "DISQUALIFIED")
# Forward funnel order; LOST, RECYCLED and DISQUALIFIED are exits or loops, not ranks.
FUNNEL_ORDER = ("MCL", "MEL", "MQL", "SAL", "SQL", "SQO", "WON")
EVENT_TYPES = (
    "email_sent", "email_open", "email_click", "page_view", "form_submit", "content_download",
    "webinar_register", "webinar_attend", "demo_request", "trial_start", "ad_click", "meeting_booked",
    "unsubscribe",
)
PAGE_TYPES = ("home", "product", "pricing", "contact", "blog", "docs", "careers", "other")
EVENT_CHANNELS = ("paid", "organic", "email", "direct", "social")
REGIONS = ("us_east", "us_west", "europe", "israel", "apac", "latam", "other")
BUSINESS_MODELS = ("b2b", "b2c", "b2b2c")
COMPANY_STAGES = ("startup", "scaleup", "enterprise")
DIGITAL_TRANSFORMATION = ("none", "in_progress", "done")
OPPORTUNITY_OUTCOMES = ("won", "lost", "open")
# Written by exports for "no value"; read as null in timestamp, number, boolean and month columns
# only (compared in lower case). In text columns they stay as typed: "NA" is Namibia's country code.
NULL_TOKENS = frozenset({"null", "none", "nan", "-nan", "+nan", "nat", "n/a", "na", "#n/a"})


@dataclass(frozen=True)
class Column:
    """One contract column.

    ``required`` columns must be present in the export; a missing optional column is a warning and is
    filled with nulls so that later steps see one shape. ``allowed`` closes a category's vocabulary;
    ``open_vocabulary`` marks lists given as examples ("e.g.") whose unknown values only warn.
    ``plausible_max`` is the largest value a number column can truly hold (``plausible_why`` says why):
    past it the value is a typo or a unit mix-up, named by the export's validation and refused by the
    service, never scored as if it were true.
    """

    name: str
    kind: ColumnKind
    required: bool = False
    nullable: bool = True
    allowed: tuple[str, ...] | None = None
    open_vocabulary: bool = False
    non_negative: bool = False
    unique: bool = False
    plausible_max: float | None = None
    plausible_why: str = ""


@dataclass(frozen=True)
class Table:
    """One contract table: its columns and whether an export must include it."""

    name: str
    columns: tuple[Column, ...]
    required: bool = False
    required_for_training: bool = False

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    def column(self, name: str) -> Column:
        for c in self.columns:
            if c.name == name:
                return c
        raise KeyError(f"{self.name} has no contract column {name!r}")


TABLES: dict[str, Table] = {
    t.name: t
    for t in (
        Table(
            "leads",
            (
                Column("lead_id", "id", required=True, nullable=False, unique=True),
                Column("account_id", "id"),
                Column("captured_at", "timestamp", required=True, nullable=False),
                Column("channel", "category", allowed=LEAD_CHANNELS),
                Column("campaign", "string"),
                Column("job_title", "string"),
                Column("country", "string"),
                Column("email_domain", "string"),
                Column("email_consent", "bool"),
            ),
            required=True,
        ),
        Table(
            "accounts",
            (
                Column("account_id", "id", required=True, nullable=False, unique=True),
                Column("industry", "string"),
                Column("employees", "number", non_negative=True, plausible_max=10_000_000,
                       plausible_why="the largest employers have about 2 million people"),
                Column("annual_revenue_usd", "number", non_negative=True, plausible_max=2e12,
                       plausible_why="the largest companies take in under a trillion dollars a year"),
                Column("hq_country", "string"),
                Column("region", "category", allowed=REGIONS, open_vocabulary=True),
                Column("branch_count", "number", non_negative=True, plausible_max=1_000_000,
                       plausible_why="the largest chains have under 100,000 sites"),
                Column("business_model", "category", allowed=BUSINESS_MODELS),
                Column("paying_customers", "number", non_negative=True, plausible_max=10_000_000_000,
                       plausible_why="more than there are people"),
                Column("is_public", "bool"),
                Column("company_stage", "category", allowed=COMPANY_STAGES),
                Column("has_cdo", "bool"),
                Column("digital_transformation", "category", allowed=DIGITAL_TRANSFORMATION),
            ),
        ),
        Table(
            "technographics",
            (
                Column("account_id", "id", required=True, nullable=False),
                Column("technology", "string", required=True, nullable=False),
                Column("category", "string"),
                Column("first_seen_at", "timestamp"),
            ),
        ),
        Table(
            "events",
            (
                Column("lead_id", "id", required=True, nullable=False),
                Column("occurred_at", "timestamp", required=True, nullable=False),
                Column("event_type", "category", required=True, nullable=False, allowed=EVENT_TYPES),
                Column("page_type", "category", allowed=PAGE_TYPES),
                Column("email_step", "number", non_negative=True, plausible_max=1_000,
                       plausible_why="a nurture sequence of a thousand e-mails is a typo"),
                Column("channel", "category", allowed=EVENT_CHANNELS),
            ),
        ),
        Table(
            "stage_history",
            (
                Column("lead_id", "id", required=True, nullable=False),
                Column("stage", "category", required=True, nullable=False, allowed=STAGES),
                # Empty: reached at an unknown time after capture (a flat export's "Converted" flag).
                Column("entered_at", "timestamp", required=True),
            ),
            required_for_training=True,
        ),
        Table(
            "opportunities",
            (
                Column("opportunity_id", "id", required=True, nullable=False, unique=True),
                Column("lead_id", "id"),
                Column("account_id", "id"),
                Column("created_at", "timestamp", required=True, nullable=False),
                Column("closed_at", "timestamp"),
                Column("outcome", "category", allowed=OPPORTUNITY_OUTCOMES),
                Column("amount_usd", "number", non_negative=True, plausible_max=100_000_000_000,
                       plausible_why="no B2B deal is worth a hundred billion dollars"),
            ),
        ),
        Table(
            "spend",
            (
                Column("channel", "category", required=True, nullable=False, allowed=LEAD_CHANNELS),
                Column("month", "month", required=True, nullable=False),
                Column("amount_usd", "number", required=True, non_negative=True, plausible_max=100_000_000_000,
                       plausible_why="no channel costs a hundred billion dollars a month"),
            ),
        ),
    )
}

TABLE_NAMES: tuple[str, ...] = tuple(TABLES)

# Pandas dtypes each column kind is coerced to. Numbers are float64 (NaN for missing) so that every
# numeric feature flows into LightGBM without nullable-integer surprises; months stay "YYYY-MM" text.
PANDAS_DTYPES: dict[str, str] = {
    "id": "str",
    "string": "str",
    "category": "str",
    "timestamp": "datetime64[ns, UTC]",
    "number": "float64",
    "bool": "boolean",
    "month": "str",
}
