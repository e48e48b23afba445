"""The score store's tables, the same in DuckDB and PostgreSQL: what each column holds, and its SQL.

``scoring_runs``: one row per stored ``leadscore score`` run. ``lead_scores``: one row per lead per run,
the scorer's row plus what explains a later change (the SQO model's feature values and exact
contributions, as lists of 32-bit floats in the run's ``features`` order) and, for a lead scored
before, the change since its previous stored score split into ``data``, ``time`` and ``model`` parts
(:mod:`leadscore.serving.history.split`). ``lead_scores_current``: one row per lead, its latest
score, for a sync tool (Hightouch, Census) to read and diff by ``lead_id``.

JSON columns are text holding JSON in both databases, so a row reads back identically from either.
"""

from __future__ import annotations

from dataclasses import dataclass

# name, DuckDB type, PostgreSQL type, what it holds
RUN_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("run_id", "VARCHAR", "TEXT", "12 hex digits of run_key: the run's name in history and changes"),
    ("run_key", "VARCHAR", "TEXT", "SHA-256 of what decides the output: export fingerprint, request, models, rules, grade cuts"),
    ("started_at", "TIMESTAMPTZ", "TIMESTAMPTZ", "when the score command started"),
    ("written_at", "TIMESTAMPTZ", "TIMESTAMPTZ", "when the run was committed to the store"),
    ("as_of", "TIMESTAMPTZ", "TIMESTAMPTZ", "the scoring moment (with per-lead moments: the latest)"),
    ("data_end", "TIMESTAMPTZ", "TIMESTAMPTZ", "when the export was taken"),
    ("export_source", "VARCHAR", "TEXT", "where the export was read from"),
    ("export_fingerprint", "VARCHAR", "TEXT", "SHA-256 of the export's tables as read (mapping applied)"),
    ("request_fingerprint", "VARCHAR", "TEXT", "SHA-256 of the requested (lead_id, as_of) rows"),
    ("model_sqo", "VARCHAR", "TEXT", "registered name of the SQO model"),
    ("model_sqo_version", "VARCHAR", "TEXT", "its version"),
    ("model_won", "VARCHAR", "TEXT", "registered name of the WON model (null: none)"),
    ("model_won_version", "VARCHAR", "TEXT", "its version"),
    ("rules_hash", "VARCHAR", "TEXT", "SHA-256 of the rules configuration"),
    ("rules_config", "VARCHAR", "TEXT", "the rules configuration as JSON (to recompute the rule points' split)"),
    ("grade_cuts", "VARCHAR", "TEXT", "the A/B/C probability cut points as JSON"),
    ("n_leads", "BIGINT", "BIGINT", "rows in the run (one per requested lead)"),
    ("n_ok", "BIGINT", "BIGINT", "rows with status ok"),
    ("counts_by_status", "VARCHAR", "TEXT", "JSON: status -> rows"),
    ("features", "VARCHAR", "TEXT",
     "JSON list, one entry per position of feature_values/contributions: name, kind, and for categories the "
     "values the codes stand for"),
    ("leadscore_version", "VARCHAR", "TEXT", "the leadscore that wrote the run"),
)

SCORE_COLUMNS: tuple[tuple[str, str, str, str], ...] = (
    ("run_id", "VARCHAR", "TEXT", "the run"),
    ("lead_id", "VARCHAR", "TEXT", "the lead"),
    ("as_of", "TIMESTAMPTZ", "TIMESTAMPTZ", "the moment it was scored at (null when unreadable)"),
    ("p_sqo", "DOUBLE", "DOUBLE PRECISION", "calibrated probability of SQO (null when not scored)"),
    ("p_win", "DOUBLE", "DOUBLE PRECISION", "calibrated probability of winning"),
    ("score", "INTEGER", "INTEGER", "round(100 x p_sqo)"),
    ("grade", "VARCHAR", "TEXT", "A-D"),
    ("reasons_positive", "VARCHAR", "TEXT", "what pushed p_sqo up, in words"),
    ("reasons_negative", "VARCHAR", "TEXT", "what pushed it down"),
    ("rule_score", "DOUBLE", "DOUBLE PRECISION", "marketing's rule points"),
    ("rule_grade", "VARCHAR", "TEXT", "cold / warm / hot"),
    ("rule_stage", "VARCHAR", "TEXT", "MCL / MEL / MQL / SQL by the rules"),
    ("rule_reasons", "VARCHAR", "TEXT", "the rules that fired"),
    ("status", "VARCHAR", "TEXT", "ok, or why the lead was not scored"),
    ("feature_values", "FLOAT[]", "REAL[]", "the SQO model's inputs in the run's features order (categories as codes)"),
    ("contributions", "FLOAT[]", "REAL[]", "exact SHAP contributions to the SQO log-odds, same order"),
    ("previous_run_id", "VARCHAR", "TEXT", "the run of the lead's previous stored score the change parts are against"),
    ("change_data", "DOUBLE", "DOUBLE PRECISION", "part of the p_sqo change from the lead's data (new rows, restated fields)"),
    ("change_time", "DOUBLE", "DOUBLE PRECISION", "part from the same data seen later (recency, decay, age)"),
    ("change_model", "DOUBLE", "DOUBLE PRECISION", "part from another model version on the same inputs"),
    ("rule_change_data", "DOUBLE", "DOUBLE PRECISION", "the rule points' change from data"),
    ("rule_change_time", "DOUBLE", "DOUBLE PRECISION", "from time (decay)"),
    ("rule_change_model", "DOUBLE", "DOUBLE PRECISION", "from another rules configuration"),
    ("change_because", "VARCHAR", "TEXT",
     "JSON list of what moved most, [part, feature, effect on p_sqo, value before, value after]; or a note"),
)

RUN_NAMES = tuple(c[0] for c in RUN_COLUMNS)
SCORE_NAMES = tuple(c[0] for c in SCORE_COLUMNS)
# What a sync tool reads: the scorer's columns, never the explanation vectors.
CURRENT_COLUMNS = ("lead_id", "as_of", "p_sqo", "p_win", "score", "grade", "reasons_positive", "reasons_negative",
                   "rule_score", "rule_grade", "rule_stage", "rule_reasons", "status", "run_id")


@dataclass(frozen=True)
class Dialect:
    """What differs between the two databases: a column type per table column, and the index statement."""

    name: str
    position: int  # 1: DuckDB types, 2: PostgreSQL types

    def create_statements(self) -> list[str]:
        def columns(spec: tuple[tuple[str, str, str, str], ...]) -> str:
            return ",\n  ".join(f"{c[0]} {c[self.position]}" for c in spec)

        picked = ", ".join(f"r.{c}" if c == "run_id" else f"s.{c}" for c in CURRENT_COLUMNS)
        return [
            f"CREATE TABLE IF NOT EXISTS scoring_runs (\n  {columns(RUN_COLUMNS)},\n"
            "  PRIMARY KEY (run_id),\n  UNIQUE (run_key)\n)",
            f"CREATE TABLE IF NOT EXISTS lead_scores (\n  {columns(SCORE_COLUMNS)}\n)",
            # DuckDB finds a lead by scanning its compressed column; an index would slow every write.
            *(["CREATE INDEX IF NOT EXISTS lead_scores_lead ON lead_scores (lead_id)"] if self.name == "postgresql" else []),
            # The latest moment wins; among runs at one moment, the latest run.
            "CREATE OR REPLACE VIEW lead_scores_current AS\n"
            f"SELECT {picked}, r.model_sqo, r.model_sqo_version, r.model_won, r.model_won_version,"
            " r.started_at AS scored_at\n"
            "FROM (SELECT s0.*, ROW_NUMBER() OVER (PARTITION BY s0.lead_id"
            " ORDER BY s0.as_of DESC NULLS LAST, r0.started_at DESC, s0.run_id DESC) AS latest\n"
            "      FROM lead_scores s0 JOIN scoring_runs r0 ON r0.run_id = s0.run_id) s\n"
            "JOIN scoring_runs r ON r.run_id = s.run_id\n"
            "WHERE s.latest = 1",
        ]


DUCKDB = Dialect("duckdb", 1)
POSTGRES = Dialect("postgresql", 2)
