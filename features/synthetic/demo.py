"""Seed-calibrated demo data: every contract table of a fictional invoicing-software funnel, plus the truth.

``generate_demo(n_leads, seed)`` returns the contract tables (typed as ``leadscore.features.contract`` says) and
one reference snapshot per lead with the generator's true outcome probabilities;
``write_export(frames, truth, out, fmt)`` writes them as a folder of CSV or Parquet files or as one
DuckDB file. Same seed and size give identical tables and byte-identical CSV and Parquet files.

The world
---------
Leads are captured over the 18 months before ``DATA_END`` (2026-06-30T00:00Z, fixed, so a seed alone
fixes the data), with growth, seasonality (quiet August and December) and fewer captures at weekends.
Companies (``leadscore.features.synthetic.world``) carry firmographics and technographics; about 10% of leads
match no company; larger companies send several people (buying committees). Each lead's funnel path is
a daily Markov chain (``leadscore.features.synthetic.funnel``) driven by latent fit, authority and intent with
interactions; its engagement (``leadscore.features.synthetic.events``) is emitted from the same latent traits
and from the stage it is in. Outcomes are therefore learnable from firmographics, persona and
engagement, but noisy, and engagement after a lead advances is richer than before.

Calibration
-----------
The chain's intercepts and channel effects were fitted by simulation so that, on the **matured
cohort** (leads captured at least ``MATURED_DAYS`` = 180 days before ``DATA_END``) at 50,000+ leads,
stage-to-stage conversion (leads that ever reached a stage, or a later one, over those that reached
the previous) is close to the worked example's 46.7% / 42.9% / 83.3% / 48% / 66.7%, MCL->SQO about 5%,
SQO->WON about a third, channel SQO rates LinkedIn > e-mail > Facebook > Google search, SAL->SQL about
5 days and SQL->SQO about 12 days at the median; the nurture e-mails' open and click rates follow the
example's sequence table. ``tests/test_synthetic_funnel.py`` checks all of it.

The truth (``_truth/reference_snapshots.parquet``)
-------------------------------------------------
One row per lead: ``lead_id``, ``as_of`` = ``captured_at`` + ``SNAPSHOT_DAYS`` (7 days), and

- ``p_sqo_true`` = P(the lead's first recorded SQO-or-WON entry falls in (as_of, as_of + 90 days]),
- ``p_won_true`` = P(its first WON entry falls in (as_of, as_of + 180 days]),

given everything the generator knows at ``as_of``: the lead's latent traits (including a buying window
that may open later, and an opportunity's destined outcome) and its hidden state at ``as_of``. The
probabilities are computed exactly, by propagating the lead's state distribution through the same
daily transition probabilities the simulation samples from, and they ignore ``DATA_END`` (they are
what would happen; a label is censored where as_of + horizon is after the data's end). They are the
ceiling for any model scored on these snapshots. ``p_sqo_true`` is NaN for a lead that already has an
SQO or WON entry at ``as_of`` (not a training row for SQO, as the contract says); ``p_won_true`` is NaN
for a lead already WON. A WON whose SQO the CRM never recorded counts at its WON entry, exactly as the
contract's label does. ``state_at_as_of`` names the generator's hidden state (for analysis only).
"""

from __future__ import annotations

import json
import logging
import os
import time
import warnings
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.contract import (
    EVENT_CHANNELS,
    EVENT_TYPES,
    LEAD_CHANNELS,
    PAGE_TYPES,
    PANDAS_DTYPES,
    TABLES,
)
from leadscore.features.errors import LeadscoreError
from leadscore.features.frames_io import PARQUET_TIMESTAMPS, Input, check_output, write_atomic, write_text
from leadscore.features.progress import Progress
from leadscore.features.synthetic.drift import WorldChange, change_conversion, lose_page_views
from leadscore.features.synthetic.events import (
    EventArrays,
    concat_events,
    draw_nurture_emails,
    draw_transition_traces,
    draw_web_touches,
)
from leadscore.features.synthetic.funnel import (
    LOST,
    MCL,
    RECORDED_STAGE,
    SQO_H,
    SQO_L,
    SQO_W,
    STATES,
    WON,
    compute_truth,
    make_chain_params,
    simulate_chain,
)
from leadscore.features.synthetic.world import (
    INDUSTRIES,
    NS_PER_DAY,
    TECHNOLOGIES,
    business_time_after,
    draw_accounts,
    draw_people,
)

log = logging.getLogger(__name__)

DATA_END = pd.Timestamp("2026-06-30T00:00:00Z")
DATA_START = pd.Timestamp("2025-01-01T00:00:00Z")
MATURED_DAYS = 180
SNAPSHOT_DAYS = 7
HORIZON_SQO_DAYS = 90
HORIZON_WON_DAYS = 180
ACCOUNTS_PER_LEAD = 0.68  # size of the company pool leads are drawn from; unreferenced companies are dropped
TRUTH_FOLDER = "_truth"
TRUTH_FILE = "reference_snapshots.parquet"
DUCKDB_FILE = "leadscore.duckdb"
FORMATS = ("csv", "parquet", "duckdb")
# Cost per lead by channel (the worked example's, with made-up ones for its small channels).
COST_PER_LEAD_USD = {
    "linkedin": 69.0, "email": 45.0, "facebook": 60.0, "google_search": 80.0, "tiktok": 267.0,
    "referral": 0.0, "organic": 0.0, "webinar": 110.0, "event": 180.0,
}
# One random stream per step; a new stream goes last, so the streams before it (and the world) stay the same.
_STREAMS = ("accounts", "people", "chain", "stage_times", "emails", "touches", "traces", "deals", "spend", "change")


def _ids(prefix: str, numbers: np.ndarray, width: int) -> pa.Array:
    text = pc.cast(pa.array(np.asarray(numbers, dtype=np.int64)), pa.string())
    return pc.binary_join_element_wise(prefix, pc.utf8_lpad(text, width, "0"), "")


def _account_ids(numbers: np.ndarray, width: int) -> pa.Array:
    return _ids("A", np.asarray(numbers) + 1, width)


def _str(values: pa.Array | np.ndarray) -> pd.arrays.ArrowStringArray:
    """Contract string column ("str" dtype, nulls as missing) without a Python-object round trip."""
    if isinstance(values, np.ndarray):
        values = pa.array(values, type=pa.string(), from_pandas=True)
    return pd.array(values, dtype=PANDAS_DTYPES["string"])


def _codes(vocabulary: tuple[str, ...], codes: np.ndarray) -> pd.arrays.ArrowStringArray:
    codes = np.asarray(codes)
    return _str(pc.take(pa.array(vocabulary, type=pa.string()), pa.array(codes.astype(np.int32), mask=codes < 0)))


def _ts(ns: np.ndarray) -> pd.DatetimeIndex:
    ns = np.asarray(ns, dtype=np.int64)
    # Whole seconds, as CRM exports have them, so CSV and Parquet hold the same instants.
    return pd.DatetimeIndex((ns - ns % 10**9).astype("datetime64[ns]")).tz_localize("UTC")


def _nullable_ts(ns: np.ndarray) -> pd.DatetimeIndex:
    ns = np.asarray(ns, dtype=np.int64)
    values = np.where(ns < 0, np.datetime64("NaT"), (ns - ns % 10**9).astype("datetime64[ns]"))
    return pd.DatetimeIndex(values.astype("datetime64[ns]")).tz_localize("UTC")


def _frame(table: str, columns: dict) -> pd.DataFrame:
    """A frame with exactly the contract columns of ``table`` in contract order and dtypes."""
    spec = TABLES[table]
    frame = pd.DataFrame({c.name: columns[c.name] for c in spec.columns})
    for c in spec.columns:
        dtype = PANDAS_DTYPES[c.kind]
        if str(frame[c.name].dtype) != dtype:
            frame[c.name] = frame[c.name].astype(dtype)
    return frame


GENERATE_STEPS = 4  # the steps generate_demo reports; the command adds one for writing


def generate_demo(
    n_leads: int, seed: int, progress: Progress | None = None, change: WorldChange | None = None
) -> tuple[dict[str, pd.DataFrame], pd.DataFrame]:
    """Generate a demo export of ``n_leads`` leads from ``seed``.

    Parameters
    ----------
    n_leads
        Number of leads (MCLs). Funnel rates match the worked example from about 50,000 leads; small
        sizes are fine for tests but noisy.
    seed
        Any non-negative integer; the same seed and size always give the same tables.
    progress
        Where to report each step (``leadscore generate`` passes one); default: nowhere.
    change
        A change in the world from one month on (conversion halves, page views lost:
        :mod:`leadscore.features.synthetic.drift`); the same seed without it gives the same world unchanged.

    Returns
    -------
    frames : dict of str to pandas.DataFrame
        Every contract table (leads, accounts, technographics, events, stage_history, opportunities,
        spend) with exactly the contract columns and dtypes, ready for ``leadscore.features.tables.make_tables``.
    truth : pandas.DataFrame
        One reference snapshot per lead: ``lead_id``, ``as_of``, ``p_sqo_true``, ``p_won_true``,
        ``state_at_as_of`` (see the module docstring). ``truth.attrs`` holds the generation settings.

    Examples
    --------
    >>> frames, truth = generate_demo(500, seed=1)
    >>> sorted(frames) == sorted(TABLES)
    True
    >>> len(truth) == len(frames["leads"]) == 500
    True
    """
    if isinstance(n_leads, bool) or not isinstance(n_leads, (int, np.integer)) or n_leads < 1:
        raise LeadscoreError(f"--leads must be a positive whole number of leads, not {n_leads!r}.")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise LeadscoreError(f"--seed must be a non-negative whole number, not {seed!r}.")
    progress = progress or Progress.off()
    started = time.perf_counter()
    progress.step(f"drawing {n_leads:,} leads and their accounts")
    rng = dict(zip(_STREAMS, (np.random.default_rng(s) for s in np.random.SeedSequence(int(seed)).spawn(len(_STREAMS))), strict=True))
    end_ns, start_ns = int(DATA_END.value), int(DATA_START.value)

    pool, first_seen_ns = draw_accounts(max(1, int(ACCOUNTS_PER_LEAD * n_leads)), end_ns, rng["accounts"])
    people = draw_people(int(n_leads), pool, start_ns, end_ns, rng["people"])
    log.debug("world drawn: %d leads, %.1f s", n_leads, time.perf_counter() - started)

    progress.step("simulating the funnel")
    params = make_chain_params(people)
    if change is not None:
        params.p_sqo = change_conversion(params.p_sqo, people.captured_ns, change)
    last_day = (end_ns - people.captured_ns) // NS_PER_DAY
    path = simulate_chain(params, last_day, SNAPSHOT_DAYS, rng["chain"])
    move_ns = business_time_after(people.captured_ns[path.lead] + (path.day.astype(np.int64) - 1) * NS_PER_DAY, rng["stage_times"])
    seen = move_ns <= end_ns
    move_lead, move_ns, move_state = path.lead[seen], move_ns[seen], path.state[seen]
    p_sqo, p_won = compute_truth(params, path.state_at_snapshot, SNAPSHOT_DAYS, HORIZON_SQO_DAYS, HORIZON_WON_DAYS)
    log.debug("funnel simulated and truth computed: %d moves, %.1f s", len(move_lead), time.perf_counter() - started)

    progress.step("drawing events")
    spell_lead = np.concatenate([np.arange(n_leads), move_lead])
    spell_start = np.concatenate([people.captured_ns, move_ns])
    spell_state = np.concatenate([np.full(n_leads, MCL, dtype=np.int8), move_state])
    events = concat_events([
        draw_nurture_emails(people, end_ns, rng["emails"]),
        draw_web_touches(people, spell_lead, spell_start, spell_state, end_ns, rng["touches"]),
        draw_transition_traces(people, move_lead, move_ns, move_state, end_ns, rng["traces"]),
    ])
    if change is not None:
        events = lose_page_views(events, change, rng["change"])
    log.debug("events drawn: %d, %.1f s", len(events), time.perf_counter() - started)

    progress.step("assembling the tables")
    width = max(7, len(str(n_leads)))
    lead_ids = _ids("L", np.arange(1, n_leads + 1), width)
    used = np.unique(people.account[people.account >= 0])
    frames = {
        "leads": _leads_frame(people, lead_ids, width),
        "accounts": _accounts_frame(pool, used, width),
        "technographics": _technographics_frame(pool, first_seen_ns, used, width),
        "events": _events_frame(events, lead_ids),
        "stage_history": _stage_history_frame(people, lead_ids, move_lead, move_ns, move_state),
        "opportunities": _opportunities_frame(people, lead_ids, move_lead, move_ns, move_state, width, rng["deals"]),
        "spend": _spend_frame(people, rng["spend"]),
    }
    truth = pd.DataFrame({
        "lead_id": _str(lead_ids),
        "as_of": _ts(people.captured_ns + SNAPSHOT_DAYS * NS_PER_DAY),
        "p_sqo_true": p_sqo,
        "p_won_true": p_won,
        "state_at_as_of": _codes(STATES, path.state_at_snapshot.astype(np.int64)),
    })
    truth.attrs.update({
        "n_leads": int(n_leads), "seed": int(seed), "data_end": DATA_END.isoformat(),
        "snapshot_days": SNAPSHOT_DAYS, "horizon_sqo_days": HORIZON_SQO_DAYS, "horizon_won_days": HORIZON_WON_DAYS,
        "matured_days": MATURED_DAYS,
    })
    if change is not None:
        truth.attrs["change"] = change.describe()
    log.debug("demo generated: %d leads, %d events in %.1f s", n_leads, len(events), time.perf_counter() - started)
    return frames, truth


def _leads_frame(people, lead_ids: pa.Array, width: int) -> pd.DataFrame:
    account = people.account
    return _frame("leads", {
        "lead_id": _str(lead_ids),
        "account_id": _str(pc.if_else(pa.array(account >= 0), _account_ids(np.maximum(account, 0), width), pa.scalar(None, pa.string()))),
        "captured_at": _ts(people.captured_ns),
        "channel": _codes(LEAD_CHANNELS, people.channel),
        "campaign": _str(people.campaign),
        "job_title": _str(people.job_title),
        "country": _str(people.country),
        "email_domain": _str(people.email_domain),
        "email_consent": pd.array(people.email_consent, dtype="boolean"),
    })


def _accounts_frame(pool, used: np.ndarray, width: int) -> pd.DataFrame:
    from leadscore.features.contract import BUSINESS_MODELS, COMPANY_STAGES, DIGITAL_TRANSFORMATION, REGIONS

    return _frame("accounts", {
        "account_id": _str(_account_ids(used, width)),
        "industry": _codes(tuple(i[0] for i in INDUSTRIES), pool.industry[used]),
        "employees": pool.employees[used],
        "annual_revenue_usd": pool.annual_revenue_usd[used],
        "hq_country": _str(pool.hq_country[used]),
        "region": _codes(REGIONS, pool.region[used]),
        "branch_count": pool.branch_count[used],
        "business_model": _codes(BUSINESS_MODELS, pool.business_model[used]),
        "paying_customers": pool.paying_customers[used],
        "is_public": pd.array(pool.is_public[used], dtype="boolean"),
        "company_stage": _codes(COMPANY_STAGES, pool.company_stage[used]),
        "has_cdo": pd.array(pool.has_cdo[used], dtype="boolean"),
        "digital_transformation": _codes(DIGITAL_TRANSFORMATION, pool.digital_transformation[used]),
    })


def _technographics_frame(pool, first_seen_ns: np.ndarray, used: np.ndarray, width: int) -> pd.DataFrame:
    rows, tech = np.nonzero(pool.tech[used])
    account = used[rows]
    return _frame("technographics", {
        "account_id": _str(_account_ids(account, width)),
        "technology": _codes(tuple(t[0] for t in TECHNOLOGIES), tech),
        "category": _codes(tuple(t[1] for t in TECHNOLOGIES), tech),
        "first_seen_at": _nullable_ts(first_seen_ns[account, tech]),
    })


def _events_frame(events: EventArrays, lead_ids: pa.Array) -> pd.DataFrame:
    # One int64 key (second, lead, type) sorts 20 million events several times faster than lexsort.
    seconds = events.time_ns // 10**9
    key = (seconds - seconds.min(initial=0)) * (len(lead_ids) + 1) + events.lead
    order = np.argsort(key * 16 + events.event_type, kind="stable")
    del key, seconds
    step = events.email_step[order].astype(np.float64)
    step[step == 0] = np.nan
    return _frame("events", {
        "lead_id": _str(pc.take(lead_ids, pa.array(events.lead[order]))),
        "occurred_at": _ts(events.time_ns[order]),
        "event_type": _codes(EVENT_TYPES, events.event_type[order]),
        "page_type": _codes(PAGE_TYPES, events.page_type[order]),
        "email_step": step,
        "channel": _codes(EVENT_CHANNELS, events.channel[order]),
    })


def _stage_history_frame(people, lead_ids, move_lead, move_ns, move_state) -> pd.DataFrame:
    recorded_names = tuple(s for s in RECORDED_STAGE if s is not None)
    code_of_state = np.array([recorded_names.index(s) if s is not None else -1 for s in RECORDED_STAGE])
    codes = code_of_state[move_state]
    keep = codes >= 0
    n = len(people)
    lead = np.concatenate([np.arange(n), move_lead[keep]])
    at = np.concatenate([people.captured_ns, move_ns[keep]])
    code = np.concatenate([np.full(n, recorded_names.index("MCL")), codes[keep]])
    order = np.lexsort((at, lead))
    return _frame("stage_history", {
        "lead_id": _str(pc.take(lead_ids, pa.array(lead[order]))),
        "stage": _codes(recorded_names, code[order]),
        "entered_at": _ts(at[order]),
    })


def _opportunities_frame(people, lead_ids, move_lead, move_ns, move_state, width: int, rng: np.random.Generator) -> pd.DataFrame:
    opened = np.isin(move_state, (SQO_W, SQO_L, SQO_H))
    lead, created = move_lead[opened], move_ns[opened]
    order = np.lexsort((lead, created))
    lead, created = lead[order], created[order]
    closed_ns = np.full(len(people), -1, dtype=np.int64)
    outcome_of = np.full(len(people), 2, dtype=np.int64)  # won, lost, open
    closes = np.isin(move_state, (WON, LOST))
    closed_ns[move_lead[closes]] = move_ns[closes]
    outcome_of[move_lead[closes]] = np.where(move_state[closes] == WON, 0, 1)
    amount = np.round(people.deal_usd[lead] * np.exp(rng.normal(0, 0.15, len(lead))), -2)
    account = people.account[lead]
    return _frame("opportunities", {
        "opportunity_id": _str(_ids("O", np.arange(1, len(lead) + 1), width)),
        "lead_id": _str(pc.take(lead_ids, pa.array(lead))),
        "account_id": _str(pc.if_else(pa.array(account >= 0), _account_ids(np.maximum(account, 0), width), pa.scalar(None, pa.string()))),
        "created_at": _ts(created),
        "closed_at": _nullable_ts(closed_ns[lead]),
        "outcome": _codes(("won", "lost", "open"), outcome_of[lead]),
        "amount_usd": amount,
    })


def _spend_frame(people, rng: np.random.Generator) -> pd.DataFrame:
    months = people.captured_ns.astype("datetime64[ns]").astype("datetime64[M]")
    all_months = np.arange(np.datetime64(DATA_START.tz_localize(None), "M"), np.datetime64(DATA_END.tz_localize(None), "M"))
    channels = [c for c in LEAD_CHANNELS if c in COST_PER_LEAD_USD]
    rows = []
    for channel in channels:
        code = LEAD_CHANNELS.index(channel)
        mine = months[people.channel == code]
        counts = np.array([(mine == m).sum() for m in all_months]) if len(mine) else np.zeros(len(all_months))
        noise = np.exp(rng.normal(0, 0.08, len(all_months)))
        amount = np.round(counts * COST_PER_LEAD_USD[channel] * noise)
        rows.append(pd.DataFrame({"channel": channel, "month": all_months.astype(str), "amount_usd": amount}))
    spend = pd.concat(rows, ignore_index=True)
    return _frame("spend", {name: spend[name].to_numpy() for name in spend.columns})


# --- writing -------------------------------------------------------------------------------------------

def _arrow_table(frame: pd.DataFrame, for_csv: bool) -> pa.Table:
    with warnings.catch_warnings():
        # pyarrow reads tz-aware columns through Series.values, which pandas 3.1 flags as deprecated.
        warnings.simplefilter("ignore", FutureWarning)
        warnings.filterwarnings("ignore", message=".*Series.values.*")
        table = pa.Table.from_pandas(frame, preserve_index=False)
    if not for_csv:
        return table
    columns = []
    for name in table.column_names:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            # Whole seconds with an explicit UTC marker: what CRM exports look like.
            column = pc.strftime(pc.cast(column, pa.timestamp("s", tz="UTC")), format="%Y-%m-%dT%H:%M:%SZ")
        elif pa.types.is_floating(column.type):
            values = column.to_numpy(zero_copy_only=False)
            finite = values[~np.isnan(values)]
            if len(finite) == 0 or np.all(finite == np.round(finite)):
                column = pc.cast(column, pa.int64())
        columns.append(column)
    return pa.table(columns, names=table.column_names)


def _write_file(frame: pd.DataFrame, target: Path) -> None:
    import pyarrow.csv as pa_csv
    import pyarrow.parquet as pq

    def write(tmp: str) -> None:
        if target.suffix == ".csv":
            pa_csv.write_csv(_arrow_table(frame, True), tmp, pa_csv.WriteOptions(quoting_style="needed", quoting_header="none"))
        else:
            pq.write_table(_arrow_table(frame, False), tmp, **PARQUET_TIMESTAMPS)

    write_atomic(target, write)


def _write_duckdb(frames: dict[str, pd.DataFrame], target: Path) -> None:
    import duckdb

    def write(tmp: str) -> None:
        Path(tmp).unlink()  # duckdb creates the file itself
        try:
            con = duckdb.connect(tmp)
            try:
                for name, frame in frames.items():
                    con.register("_frame", _arrow_table(frame, False))
                    con.execute(f'CREATE TABLE "{name}" AS SELECT * FROM _frame')
                    con.unregister("_frame")
            finally:
                con.close()
        finally:
            Path(f"{tmp}.wal").unlink(missing_ok=True)

    write_atomic(target, write)


def duckdb_path(out: str | os.PathLike) -> Path:
    """Where ``--format duckdb --out OUT`` writes: OUT itself if it ends in .duckdb or .db, else OUT/leadscore.duckdb."""
    out = Path(out)
    return out if out.suffix.lower() in (".duckdb", ".db") else out / DUCKDB_FILE


def check_export_target(out: str | os.PathLike, fmt: str, inputs: Iterable[Input] = ()) -> Path:
    """Refuse, before generating anything, an ``--out`` that :func:`write_export` could not write; returns it.

    A folder for CSV and Parquet (not one that already holds tables in the other format, which a reader
    would find twice), a database file (or a folder for ``leadscore.duckdb``) for DuckDB; either must be
    somewhere the user can write and none of ``inputs`` (:func:`leadscore.features.frames_io.check_output`).
    """
    if fmt not in FORMATS:
        raise LeadscoreError(f"--format must be one of {', '.join(FORMATS)}, not {fmt!r}.")
    out = Path(out)
    if fmt == "duckdb":
        target = duckdb_path(out)
        if target.is_dir():
            raise LeadscoreError(f"{target} is a folder; give --out a folder or a .duckdb file path.")
        check_output(target, None, inputs=inputs)
        return out
    if out.exists() and not out.is_dir():
        raise LeadscoreError(f"{out} is a file; --format {fmt} writes a folder of tables, give --out a folder.")
    check_output(out, folder=True, inputs=inputs)
    other = [p.name for p in sorted(out.glob("*")) if p.stem in TABLES and p.suffix.lower() in (".csv", ".parquet")
             and p.suffix.lower() != f".{fmt}"] if out.exists() else []
    if other:
        raise LeadscoreError(f"{out} already holds {', '.join(other)} in another format; remove them or choose another --out.")
    return out


def write_export(
    frames: dict[str, pd.DataFrame],
    truth: pd.DataFrame,
    out: str | os.PathLike,
    fmt: str = "parquet",
) -> dict[str, Path]:
    """Write the contract tables and, beside them, the truth.

    Parameters
    ----------
    frames, truth
        What :func:`generate_demo` returned.
    out
        For ``csv`` and ``parquet`` a folder that receives one file per table (``leads.csv`` …). For
        ``duckdb`` a ``.duckdb`` / ``.db`` file, or a folder that receives ``leadscore.duckdb``.
    fmt
        ``csv``, ``parquet`` or ``duckdb``.

    Returns
    -------
    dict of str to pathlib.Path
        Each table's file (the database file for DuckDB) and ``_truth``: the truth file, which always
        lies in a ``_truth`` folder next to the tables (readers ignore ``_``-prefixed entries), never
        inside the export's tables.

    Each file is written to a temporary name and renamed into place, so a crash never leaves a
    half-written table. A folder that already holds tables in another format is refused, because a
    reader would find two copies of the same table.
    """
    out = check_export_target(out, fmt)
    written: dict[str, Path] = {}
    if fmt == "duckdb":
        target = duckdb_path(out)
        _write_duckdb(frames, target)
        written.update({name: target for name in frames})
        truth_dir = target.parent / TRUTH_FOLDER
    else:
        for name, frame in frames.items():
            target = out / f"{name}.{fmt}"
            _write_file(frame, target)
            written[name] = target
        truth_dir = out / TRUTH_FOLDER
    truth_path = truth_dir / TRUTH_FILE
    _write_file(truth, truth_path)
    meta = truth_dir / "generator.json"
    write_text(json.dumps({**truth.attrs, "format": fmt, "truth_file": TRUTH_FILE, "truth": TRUTH_DEFINITION}, indent=2, sort_keys=True) + "\n", meta)
    written[TRUTH_FOLDER] = truth_path
    return written


TRUTH_DEFINITION = (
    "One row per lead at as_of = captured_at + 7 days. p_sqo_true: probability that the lead's first "
    "recorded SQO-or-WON entry falls in (as_of, as_of + 90 days]; p_won_true: probability that its first "
    "WON entry falls in (as_of, as_of + 180 days]; both exact under the generator, given the lead's latent "
    "traits and hidden state at as_of, ignoring the data's end. NaN where the lead already holds the target."
)
