"""The feature builder as it was before the per-lead kernel (DuckDB), kept only to prove the kernel
gives the same rows (tests/features/building/test_kernel_agrees.py). Deleted with that comparison."""

from __future__ import annotations

import logging
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

from leadscore.features.building.catalogue import CATALOGUE, TECHNOLOGY_CATEGORIES
from leadscore.features.contract import EVENT_TYPES, FUNNEL_ORDER, PAGE_TYPES, STAGES
from leadscore.features.errors import LeadscoreError
from leadscore.features.pit import check_spine, join_as_of
from leadscore.features.reading.own_columns import OwnColumn, type_column
from leadscore.features.tables import Tables, has_table, positions
from leadscore.features.timestamps import NS_PER_DAY, UTC_DTYPE, to_epoch_ns


def visible_sql(time_expr: str, as_of_expr: str = "as_of", null_visible: bool = False) -> str:
    if null_visible:
        return f"({time_expr} IS NULL OR {time_expr} <= {as_of_expr})"
    return f"({time_expr} IS NOT NULL AND {time_expr} <= {as_of_expr})"

# ---- persona.py ----




SENIORITIES = ("c_level", "vp", "director", "manager", "individual_contributor", "student_intern",
               "working_professional", "self_employed", "unemployed", "homemaker", "retired")
DEPARTMENTS = ("finance", "it", "marketing", "sales", "executive", "other", "none")
# Answers to "what is your occupation?" that forms put where a job title goes: they say who the lead is,
# but not a rank or a department, so they keep their own values (department "none" unless a function
# word says otherwise) instead of melting into individual_contributor / other.
OCCUPATIONS = ("working_professional", "self_employed", "unemployed", "homemaker", "retired")
# Director level or above: the buying committee's senior members (account features, rules).
SENIOR_LEVELS = ("c_level", "vp", "director")

# Abbreviations rewritten to full words before matching, on whole words of the normalised title.
_ABBREVIATIONS = {
    "sr": "senior", "snr": "senior", "jr": "junior", "mgr": "manager", "mngr": "manager", "mgmt": "management",
    "dir": "director", "dirs": "director", "hd": "head", "exec": "executive", "acct": "account",
    "accts": "accounts", "mktg": "marketing", "mkt": "marketing", "fin": "finance", "eng": "engineering",
    "engr": "engineer", "dev": "developer", "ops": "operations", "admin": "administrator", "sys": "systems",
    "svp": "vp", "evp": "vp", "avp": "vp", "gvp": "vp", "rvp": "vp",
}

# Ordered seniority rules: (seniority, regex on the normalised title). First match wins.
_SENIORITY_RULES: tuple[tuple[str, str], ...] = (
    ("unemployed", r"\b(?:unemployed|jobless|job seeker|jobseeker|looking for (?:a )?(?:job|work)|between jobs|not employed)\b"),
    ("homemaker", r"\b(?:homemaker|housewife|househusband|home maker|stay at home (?:mom|dad|parent)|house wife)\b"),
    ("retired", r"\b(?:retired|retiree|pensioner)\b"),
    ("self_employed", r"\b(?:self ?employed|selfemployed|freelancer|freelance|independent contractor|sole trader)\b"),
    ("working_professional", r"\bworking professional\b|^(?:professional|employed|employee|salaried|working)$"),
    ("student_intern", r"\b(?:intern|interns|internship|student|trainee|apprentice|werkstudent|praktikant)\b"),
    # Assistants to an executive work for, not as, the executive.
    ("individual_contributor", r"\b(?:executive assistant|personal assistant|assistant to|office assistant)\b"),
    ("vp", r"\b(?:vp|vice president|vicepresident|vice pres)\b"),
    ("manager", r"\b(?:product_owner|process_owner|service_owner|data_owner)\b"),
    (
        "c_level",
        r"\b(?:chief|ceo|cfo|cio|cto|coo|cmo|ciso|cdo|cro|cso|cpo|cco|cao|cxo|president|founder|cofounder"
        r"|owner|chairman|chairwoman|chairperson|chair|board member|managing director|managing partner"
        r"|founding partner|geschaftsfuhrer|geschäftsführer|gérant|directeur général|directeur general)\b",
    ),
    ("director", r"\b(?:director|directors|directeur|directora|head|heads|dg)\b"),
    (
        "manager",
        r"\b(?:manager|managers|management|lead|leader|team lead|supervisor|superintendent|controller"
        r"|comptroller|gerente|responsable|foreman|principal manager)\b",
    ),
)

# Ordered department rules: functional words before the executive catch-all.
_DEPARTMENT_RULES: tuple[tuple[str, str], ...] = (
    (
        "finance",
        r"\b(?:cfo|finance|financial|financials|accounting|accountant|accounts payable|accounts receivable"
        r"|ap|ar|controller|comptroller|controlling|treasury|treasurer|fp&a|fpa|fp and a|billing|invoicing"
        r"|tax|audit|auditor|payroll|bookkeeper|bookkeeping|credit|procurement|purchasing|cpa|cao)\b",
    ),
    (
        "marketing",
        r"\b(?:cmo|marketing|marketer|brand|branding|growth|demand gen|demand generation|content|seo|sem"
        r"|communications|comms|pr|public relations|social media|digital marketing|campaign|campaigns"
        r"|events|advertising|media)\b",
    ),
    (
        "sales",
        r"\b(?:cro|sales|salesperson|account executive|ae|account manager|key account|business development"
        r"|bdr|sdr|bd|revenue|commercial|selling|inside sales|partnerships|channel partner|partner manager)\b",
    ),
    (
        "it",
        r"\b(?:it|cio|cto|ciso|cdo|information technology|information systems|information security"
        r"|information officer|chief information|informatics|technology|tech|technical|security|infosec|cyber"
        r"|cybersecurity|engineering|engineer|developer|software|devops|systems|sysadmin|network|networks"
        r"|infrastructure|data|cloud|architect|architecture|helpdesk|help desk|digital|erp|crm|database"
        r"|dba|programmer|platform|applications|informatique|informatik)\b",
    ),
    (
        "executive",
        r"\b(?:ceo|coo|president|founder|cofounder|owner|chairman|chairwoman|chairperson|board member"
        r"|managing director|managing partner|general manager|gm|chief executive|chief operating"
        r"|chief of staff|executive director|geschaftsfuhrer|geschäftsführer|directeur général"
        r"|directeur general|partner|chief|cso|cco|cpo|cxo)\b",
    ),
)

FREE_MAIL_DOMAINS: frozenset[str] = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "ymail.com", "rocketmail.com", "hotmail.com", "outlook.com",
        "live.com", "msn.com", "passport.com", "aol.com", "aim.com", "icloud.com", "me.com", "mac.com",
        "protonmail.com", "protonmail.ch", "proton.me", "pm.me", "tutanota.com", "tuta.io", "fastmail.com",
        "fastmail.fm", "hey.com", "zohomail.com", "mail.com", "email.com", "usa.com", "inbox.com", "gmx.com",
        "gmx.net", "gmx.de", "web.de", "t-online.de", "freenet.de", "orange.fr", "wanadoo.fr", "free.fr",
        "laposte.net", "sfr.fr", "libero.it", "virgilio.it", "tiscali.it", "btinternet.com", "sky.com",
        "virginmedia.com", "ntlworld.com", "comcast.net", "verizon.net", "att.net", "sbcglobal.net",
        "bellsouth.net", "cox.net", "charter.net", "earthlink.net", "optonline.net", "mail.ru", "bk.ru",
        "list.ru", "inbox.ru", "yandex.ru", "yandex.com", "rambler.ru", "qq.com", "163.com", "126.com",
        "sina.com", "sohu.com", "yeah.net", "naver.com", "daum.net", "hanmail.net", "rediffmail.com",
        "walla.co.il", "walla.com", "bezeqint.net", "netvision.net.il", "012.net.il", "uol.com.br",
        "bol.com.br", "terra.com.br", "seznam.cz", "wp.pl", "o2.pl", "interia.pl", "onet.pl", "shaw.ca",
        "rogers.com", "sympatico.ca", "bigpond.com", "optusnet.com.au", "xtra.co.nz",
    }
)
# Country variants of the big providers (yahoo.co.uk, hotmail.fr, outlook.com.au, gmx.at …).
_FREE_MAIL_PATTERN = r"^(?:yahoo|hotmail|outlook|live|msn|aol|gmx|yandex|gmail|googlemail|icloud)\.(?:com?\.)?[a-z]{2,3}$"


def _normalise_titles(titles: pd.Series) -> pd.Series:
    """Lower case, drop dots ("V.P." → "vp", "Dir." → "dir"), split on separators, expand abbreviations."""
    text = titles.astype("str").str.lower()
    text = text.str.replace(".", "", regex=False).str.replace("-", "", regex=False)
    text = text.str.replace(r"[^\w&]+", " ", regex=True).str.strip()
    # One regex per expansion stays vectorised over the distinct titles.
    expansions: dict[str, list[str]] = {}
    for short, full in _ABBREVIATIONS.items():
        expansions.setdefault(full, []).append(short)
    for full, shorts in expansions.items():
        text = text.str.replace(rf"\b(?:{'|'.join(shorts)})\b", full, regex=True)
    # Owning a product or process is a role, not owning the business.
    text = text.str.replace(r"\b(product|process|service|data) owner\b", r"\1_owner", regex=True)
    # "Lead generation" is marketing work, not a team lead.
    return text.str.replace(r"\blead ?gen(?:eration)?\b", "leadgeneration marketing", regex=True)


def _first_match(text: pd.Series, rules: tuple[tuple[str, str], ...], default: str | None) -> np.ndarray:
    conditions = [text.str.contains(pattern, regex=True).to_numpy(dtype=bool, na_value=False) for _, pattern in rules]
    labels = [label for label, _ in rules]
    return np.select(conditions, labels, default=default if default is not None else "")


def parse_job_titles(titles: pd.Series) -> pd.DataFrame:
    """Seniority and department for each job title, by ordered keyword rules.

    Parameters
    ----------
    titles
        Free-text job titles as typed by leads; nulls and blank strings allowed.

    Returns
    -------
    pandas.DataFrame
        Index-aligned with ``titles``; ``seniority`` in :data:`SENIORITIES` and ``department`` in
        :data:`DEPARTMENTS`, both ``str``. Both are null for an empty title (or one without any letter or
        digit); otherwise a title without a seniority word is ``individual_contributor`` and one without
        a functional word is in department ``other``. Occupation answers (:data:`OCCUPATIONS`) keep their
        own seniority, and department ``none`` when no function word is there.

    Examples
    --------
    >>> import pandas as pd
    >>> parse_job_titles(pd.Series(["Sr. Dir. of FP&A", "vp it", "CFO", None])).to_dict("list")
    {'seniority': ['director', 'vp', 'c_level', nan], 'department': ['finance', 'it', 'finance', nan]}
    >>> parse_job_titles(pd.Series(["Working Professional", "Unemployed", "Housewife"])).to_dict("list")
    {'seniority': ['working_professional', 'unemployed', 'homemaker'], 'department': ['none', 'none', 'none']}
    """
    codes, uniques = pd.factorize(titles, use_na_sentinel=True)
    if len(uniques) <= _REMEMBER_BELOW:
        seniority, department = _remembered(list(uniques))
    else:
        seniority, department = _parse_distinct(pd.Series(uniques, dtype="str"))
    # Append a null slot so factorize's -1 (missing title) maps to null.
    seniority = np.append(seniority, np.nan)
    department = np.append(department, np.nan)
    return pd.DataFrame(
        {
            "seniority": pd.array(seniority[codes], dtype="str"),
            "department": pd.array(department[codes], dtype="str"),
        },
        index=titles.index,
    )


# A title's seniority and department depend on that title alone, so a few titles at a time (the HTTP
# service scores one lead per request, and reads its title twice: features and rules) are looked up in
# what this process has already parsed; parsing even one title costs some 40 pandas string operations.
_REMEMBER_BELOW = 256
_REMEMBERED_MAX = 20_000
_REMEMBERED: OrderedDict[str, tuple[object, object]] = OrderedDict()
_REMEMBERING = threading.Lock()


def _remembered(titles: list[str]) -> tuple[np.ndarray, np.ndarray]:
    with _REMEMBERING:
        new = [t for t in dict.fromkeys(titles) if t not in _REMEMBERED]
    if new:
        seniority, department = _parse_distinct(pd.Series(new, dtype="str"))
        with _REMEMBERING:
            for title, s, d in zip(new, seniority, department, strict=True):
                _REMEMBERED[title] = (s, d)
            while len(_REMEMBERED) > _REMEMBERED_MAX:
                _REMEMBERED.popitem(last=False)
    with _REMEMBERING:
        parsed = [_REMEMBERED.get(t) for t in titles]
    if any(p is None for p in parsed):  # pushed out meanwhile by another thread: parse these here
        return _parse_distinct(pd.Series(titles, dtype="str"))
    return (np.array([p[0] for p in parsed], dtype=object), np.array([p[1] for p in parsed], dtype=object))


def _parse_distinct(distinct: pd.Series) -> tuple[np.ndarray, np.ndarray]:
    """Seniority and department (object arrays, NaN for an empty title) of distinct titles."""
    text = _normalise_titles(distinct)
    # A title without any letter or digit (e.g. "-") carries nothing to parse.
    empty = ~text.str.contains(r"\w", regex=True).to_numpy(dtype=bool, na_value=False)
    seniority = _first_match(text, _SENIORITY_RULES, "individual_contributor").astype(object)
    department = _first_match(text, _DEPARTMENT_RULES, "other").astype(object)
    department[np.isin(seniority, OCCUPATIONS) & (department == "other")] = "none"
    seniority[empty] = np.nan
    department[empty] = np.nan
    return seniority, department


def is_free_mail(domains: pd.Series) -> pd.Series:
    """Whether each e-mail domain belongs to a free consumer mail provider.

    A free-mail address says the lead did not use a work identity, a weak-fit signal; the domain itself
    is never a feature (it would identify the company). Accepts bare domains or whole addresses, any case.

    Returns
    -------
    pandas.Series
        Nullable ``boolean``, index-aligned; ``<NA>`` where the domain is missing or blank.
    """
    codes, uniques = pd.factorize(domains, use_na_sentinel=True)
    distinct = pd.Series(uniques, dtype="str").str.strip().str.lower()
    distinct = distinct.str.replace(r"^.*@", "", regex=True).str.rstrip(".")
    flags = distinct.isin(FREE_MAIL_DOMAINS) | distinct.str.match(_FREE_MAIL_PATTERN).fillna(False)
    values = flags.to_numpy(dtype=object)
    values[(distinct.str.len() == 0).to_numpy()] = pd.NA
    values = np.append(values, pd.NA)
    return pd.Series(pd.array(values[codes], dtype="boolean"), index=domains.index, name="is_free_mail")

# ---- staging.py ----






logger = logging.getLogger(__name__)

PAGE_VIEW_CODE = 100  # page views are coded 100 + the PAGE_TYPES index, 100 + len(PAGE_TYPES) if unknown


_DATABASE: list[duckdb.DuckDBPyConnection] = []  # the process's one in-memory database, opened on first use
_OPENING = threading.Lock()


def connect_duckdb() -> duckdb.DuckDBPyConnection:
    """A private DuckDB connection (2 threads, the machine's budget), never a shared one.

    It is a cursor of the process's one in-memory database: opening a database costs tens of
    milliseconds, more than building a single lead's features, while a cursor costs microseconds. A
    cursor is a connection of its own: its temporary tables and registered frames are private to it
    and go when it is closed, so concurrent builds (the HTTP service's threads) never see each other's.
    """
    import duckdb

    with _OPENING:
        if not _DATABASE:
            database = duckdb.connect(database=":memory:")
            database.execute("SET threads = 2")
            database.execute("SET preserve_insertion_order = false")
            _DATABASE.append(database)
    return _DATABASE[0].cursor()


def event_code(event_type: str, page_type: str | None = None) -> int:
    """The integer code an event gets in DuckDB: its EVENT_TYPES index, page views split by page type."""
    if event_type == "page_view":
        return PAGE_VIEW_CODE + (PAGE_TYPES.index(page_type) if page_type is not None else len(PAGE_TYPES))
    return EVENT_TYPES.index(event_type)


def event_codes(event_types: tuple[str, ...] | list[str], page_types: tuple[str, ...] | None = None) -> str:
    """SQL list of the codes for these event types (page views: only ``page_types`` when given)."""
    codes = []
    for event_type in event_types:
        if event_type == "page_view":
            pages = page_types if page_types is not None else (*PAGE_TYPES, None)
            codes += [event_code("page_view", page) for page in pages]
        else:
            codes.append(event_code(event_type))
    return "(" + ", ".join(str(c) for c in sorted(codes)) + ")"


def encode_events(event_type: pd.Series, page_type: pd.Series) -> np.ndarray:
    """:func:`event_code` for a whole column (int16, -1 for an event type outside the contract).

    Done in Arrow: a SQL ``CASE`` over twenty million strings costs ten times more.
    """
    def lookup(values: pd.Series, vocabulary: tuple[str, ...], missing: int) -> np.ndarray:
        found = pc.index_in(pa.array(values.astype("str").array), value_set=pa.array(vocabulary))
        return found.fill_null(missing).to_numpy(zero_copy_only=False).astype(np.int16)

    kind = lookup(event_type, EVENT_TYPES, -1)
    page = lookup(page_type, PAGE_TYPES, len(PAGE_TYPES))
    return np.where(kind == EVENT_TYPES.index("page_view"), PAGE_VIEW_CODE + page, kind).astype(np.int16)


def _case(column: str, values: tuple[str, ...]) -> str:
    return f"CASE {column} " + " ".join(f"WHEN '{v}' THEN {i}" for i, v in enumerate(values)) + " END"


def load_into_duckdb(con: duckdb.DuckDBPyConnection, tables: Tables, senior: np.ndarray) -> dict[str, int]:
    """Integer-keyed copies of the export in DuckDB; returns the orphan rows (lead_id not in leads).

    Leads get their position as key and accounts a dense code, so every later join is on integers:
    string ids are hashed once here (events: one join of their lead_id against leads), not in every
    aggregation. Tables created: ``leads(lead, account, captured, senior)``, ``events(lead, t, code,
    step)``, ``stages(lead, t, code)``, ``techs(account, technology, category, t)`` and ``opps(lead,
    account, named_account, lead_account, lead_captured, created, closed, outcome)``; times are epoch
    nanoseconds.
    """
    leads = tables.leads.reset_index(drop=True)
    con.register("leads_in", pd.DataFrame({
        "lead": np.arange(len(leads), dtype=np.int64),
        "lead_id": leads["lead_id"].astype("str"),
        "account_id": leads["account_id"].astype("str"),
        "captured": to_epoch_ns(leads["captured_at"]),
        "senior": senior,
    }))
    con.execute("CREATE TEMP TABLE lead_keys AS SELECT lead_id, min(lead) AS lead FROM leads_in GROUP BY lead_id")
    con.execute(
        "CREATE TEMP TABLE account_keys AS SELECT account_id, (row_number() OVER (ORDER BY account_id)) - 1 AS account "
        "FROM (SELECT DISTINCT account_id FROM leads_in WHERE account_id IS NOT NULL)"
    )
    con.execute(
        "CREATE TEMP TABLE leads AS SELECT l.lead, a.account, l.captured, l.senior "
        "FROM leads_in l LEFT JOIN account_keys a ON a.account_id = l.account_id"
    )
    # Rows without a time can never be visible (pit rule); dropping them here lets the big tables travel
    # as plain int64, which DuckDB scans several times faster than nullable integers.
    events = tables.events
    event_t = to_epoch_ns(events["occurred_at"])
    dated = event_t.notna().to_numpy()
    events_in = pd.DataFrame({
        "lead_id": events["lead_id"].astype("str").reset_index(drop=True),
        "t": event_t.to_numpy(dtype="int64", na_value=0),
        "code": encode_events(events["event_type"], events["page_type"]),
        "step": pd.to_numeric(events["email_step"], errors="coerce").to_numpy(dtype="float64", na_value=np.nan),
    })
    con.register("events_in", events_in if dated.all() else events_in[dated].reset_index(drop=True))
    con.execute(
        "CREATE TEMP TABLE events AS SELECT k.lead, e.t, e.code, e.step "
        "FROM events_in e LEFT JOIN lead_keys k ON k.lead_id = e.lead_id"
    )
    stages = tables.stage_history
    stage_t = to_epoch_ns(stages["entered_at"])
    stage_dated = stage_t.notna().to_numpy()
    stages_in = pd.DataFrame({
        "lead_id": stages["lead_id"].astype("str").reset_index(drop=True),
        "stage": stages["stage"].astype("str").reset_index(drop=True),
        "t": stage_t.to_numpy(dtype="int64", na_value=0),
    })
    con.register("stages_in", stages_in[stage_dated].reset_index(drop=True))
    con.execute(
        f"CREATE TEMP TABLE stages AS SELECT k.lead, h.t, {_case('h.stage', STAGES)} AS code "
        "FROM stages_in h LEFT JOIN lead_keys k ON k.lead_id = h.lead_id"
    )
    # Orphans keep a null lead: no join on lead can ever reach them.
    counts = {}
    for name, table in (("events", "events"), ("stage_history", "stages")):
        counts[name] = int(con.execute(f"SELECT count(*) FROM {table} WHERE lead IS NULL").fetchall()[0][0])
    n_unknown_type = int(con.execute("SELECT count(*) FROM events WHERE code < 0").fetchall()[0][0])
    if n_unknown_type:
        logger.warning("%d events have an event_type outside the contract; they are left out", n_unknown_type)
    n_undated = int((~dated).sum() + (~stage_dated).sum())
    if n_undated:
        logger.warning("%d events or stage entries have no timestamp; they are never visible", n_undated)
    techs = tables.technographics
    con.register("techs_in", pd.DataFrame({
        "account_id": techs["account_id"].astype("str"),
        "technology": techs["technology"].astype("str"),
        "category": techs["category"].astype("str"),
        "t": to_epoch_ns(techs["first_seen_at"]),
    }).reset_index(drop=True))
    con.execute(
        "CREATE TEMP TABLE techs AS SELECT a.account, lower(trim(t.technology)) AS technology, "
        "replace(lower(trim(t.category)), ' ', '_') AS category, t.t "
        "FROM techs_in t JOIN account_keys a ON a.account_id = t.account_id"
    )
    opps = tables.opportunities
    con.register("opps_in", pd.DataFrame({
        "lead_id": opps["lead_id"].astype("str"),
        "account_id": opps["account_id"].astype("str"),
        "created": to_epoch_ns(opps["created_at"]),
        "closed": to_epoch_ns(opps["closed_at"]),
        "outcome": opps["outcome"].astype("str"),
    }).reset_index(drop=True))
    # A deal without an account belongs to its lead's account (once that lead is known: see build_account).
    con.execute(
        "CREATE TEMP TABLE opps AS SELECT k.lead, a.account, o.account_id IS NOT NULL AS named_account, "
        "l.account AS lead_account, l.captured AS lead_captured, "
        "o.created, o.closed, o.outcome "
        "FROM opps_in o LEFT JOIN lead_keys k ON k.lead_id = o.lead_id LEFT JOIN leads l ON l.lead = k.lead "
        "LEFT JOIN account_keys a ON a.account_id = o.account_id"
    )
    for name in ("leads_in", "events_in", "stages_in", "techs_in", "opps_in"):
        con.unregister(name)
    return counts


def set_spine(con: duckdb.DuckDBPyConnection, lead_pos: np.ndarray, as_of_ns: np.ndarray) -> None:
    """(Re)create ``spine(row, lead, as_of, account)`` for one chunk of rows, numbered from 0."""
    con.register("spine_in", pd.DataFrame({
        "row": np.arange(len(lead_pos), dtype=np.int64), "lead": lead_pos.astype(np.int64), "as_of": as_of_ns,
    }))
    con.execute("DROP TABLE IF EXISTS spine")
    con.execute("CREATE TEMP TABLE spine AS SELECT s.row, s.lead, s.as_of, l.account FROM spine_in s JOIN leads l USING (lead)")
    con.unregister("spine_in")

# ---- profile.py ----





LEAD_CATEGORY_MIN_SHARE = 0.01
LEAD_CATEGORY_MIN_LEADS = 30
ACCOUNT_CATEGORY_MIN_SHARE = 0.005
ACCOUNT_CATEGORY_MIN_ACCOUNTS = 5
OTHER = "other"
EMPLOYEE_BANDS = ((50, "<50"), (200, "50-199"), (1_000, "200-999"), (5_000, "1,000-4,999"))
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December")


def strings_from_codes(vocabulary: list[str] | tuple[str, ...], codes: np.ndarray) -> pd.Series:
    """A ``str`` Series of ``vocabulary[code]`` (null where code < 0), decoded by Arrow, not Python."""
    indices = pa.array(np.where(codes < 0, 0, codes).astype(np.int32), mask=codes < 0)
    dictionary = pa.array(list(vocabulary) or [""], type=pa.string())
    return pd.Series(pa.DictionaryArray.from_arrays(indices, dictionary).cast(pa.string()), dtype="str")


def capture_ranks(captured_ns: np.ndarray, known: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Sorted known capture times, and each lead's count of leads captured at or before it.

    A lead is captured by ``as_of`` exactly when its rank is at most
    ``searchsorted(times, as_of, side="right")``, ties included.
    """
    times = np.sort(captured_ns[known])
    return times, sorted_searchsorted(times, captured_ns, side="right")


def sorted_searchsorted(a: np.ndarray, v: np.ndarray, side: str = "left") -> np.ndarray:
    """``np.searchsorted(a, v)`` for large unsorted ``v``: sorting the queries first walks ``a`` once.

    Binary searches in random order miss the cache on every probe; a million of them cost seconds,
    sorted they cost a fraction of that.
    """
    if len(v) < 10_000:
        return np.searchsorted(a, v, side=side)
    order = np.argsort(v, kind="stable")
    out = np.empty(len(v), dtype=np.int64)
    out[order] = np.searchsorted(a, v[order], side=side)
    return out


def bound_lead_category(values: pd.Series, ranks: tuple[np.ndarray, np.ndarray], known: np.ndarray,
                        lead_pos: np.ndarray, as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """Each row's lead value, or "other" when fewer than max(30, 1%) of the leads captured by as_of share it.

    Parameters
    ----------
    values
        The column over all leads (missing allowed: stays missing).
    ranks, known
        :func:`capture_ranks` of all leads, and whether each lead's capture time is known.
    lead_pos, as_of_ns
        Per spine row: the lead's position and the row's as_of.
    vocabulary
        Values kept whatever their count here: the categories a model learnt (its spec), so scoring a
        handful of leads (one lead posted to the service) keeps "linkedin" instead of calling every
        value rare. Empty when building training rows, where the count alone decides.

    Counting is by sorted (value, capture rank) keys and binary search, so each row's own as_of costs
    log(n) rather than a scan.
    """
    return bound_indexed_category(index_lead_category(values, ranks, known), ranks, lead_pos, as_of_ns, vocabulary)


def index_lead_category(values: pd.Series, ranks: tuple[np.ndarray, np.ndarray],
                        known: np.ndarray) -> tuple[np.ndarray, pd.Index, np.ndarray]:
    """The whole-table half of :func:`bound_lead_category`: value codes, distinct values, sorted (value, rank) keys."""
    times, rank = ranks
    codes, uniques = pd.factorize(values.reset_index(drop=True))
    scale = np.int64(len(times) + 1)
    usable = known & (codes >= 0)
    keys = np.sort(codes[usable].astype(np.int64) * scale + rank[usable])
    return codes, uniques, keys


def bound_indexed_category(index: tuple[np.ndarray, pd.Index, np.ndarray], ranks: tuple[np.ndarray, np.ndarray],
                           lead_pos: np.ndarray, as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """The per-row half of :func:`bound_lead_category`, on an :func:`index_lead_category` of all leads."""
    times, _ = ranks
    codes, uniques, keys = index
    scale = np.int64(len(times) + 1)
    row_code = codes[lead_pos].astype(np.int64)
    seen = sorted_searchsorted(times, as_of_ns, side="right")  # leads captured at or before as_of
    upper = sorted_searchsorted(keys, row_code * scale + seen, side="right")
    lower = sorted_searchsorted(keys, row_code * scale, side="left")
    common = (upper - lower) >= np.maximum(LEAD_CATEGORY_MIN_LEADS, LEAD_CATEGORY_MIN_SHARE * seen)
    if vocabulary:
        in_vocabulary = np.append(np.isin(np.asarray(uniques, dtype=object).astype(str), list(vocabulary)), False)
        common |= in_vocabulary[np.where(row_code >= 0, row_code, len(uniques))]
    other = len(uniques)
    out_codes = np.where(row_code < 0, -1, np.where(common, row_code, other))
    return strings_from_codes([*map(str, uniques), OTHER], out_codes)


def bound_account_category(values: pd.Series, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
    """Account values kept when at least max(5, 0.5%) of accounts share them (or ``vocabulary`` holds them), else "other"."""
    counts = values.value_counts(dropna=True)
    threshold = max(ACCOUNT_CATEGORY_MIN_ACCOUNTS, ACCOUNT_CATEGORY_MIN_SHARE * len(values))
    keep = counts.index[(counts >= threshold) | counts.index.isin(list(vocabulary))]
    return values.where(values.isna() | values.isin(keep), OTHER)


class LeadIndex:
    """What every chunk of one build reads about all the leads and accounts, worked out once per build.

    The builder works in chunks to bound a long spine's memory, and the scorer builds chunk by chunk
    over the same leads, but capture ranks, account positions, parsed job titles, a bounded category's
    value index and a typed export column belong to the whole table: worked out again for every chunk
    they cost seconds per chunk on a million leads. Whole-table values are made on first use and kept
    (:meth:`kept`), so a chunk pays only for its own rows.
    """

    def __init__(self, tables: Tables) -> None:
        self._source = (tables.leads, tables.accounts)
        self.leads = tables.leads.reset_index(drop=True)
        self.accounts = tables.accounts.reset_index(drop=True)
        captured = to_epoch_ns(self.leads["captured_at"])
        self.captured_known = captured.notna().to_numpy()
        self.captured_ns = captured.to_numpy(dtype="int64", na_value=0)
        self.ranks = capture_ranks(self.captured_ns, self.captured_known)
        self._kept: dict[object, object] = {}

    def kept(self, key: object, make: Callable[[], object]) -> object:
        """``make()`` the first time ``key`` is asked for, the same value afterwards."""
        if key not in self._kept:
            self._kept[key] = make()
        return self._kept[key]

    @property
    def account_pos(self) -> np.ndarray:
        """Each lead's position in the accounts table, -1 without one."""
        return self.kept("account_pos", lambda: positions(self.leads["account_id"], self.accounts["account_id"])
                         if len(self.accounts) else np.full(len(self.leads), -1, dtype=np.int64))

    def serves(self, tables: Tables) -> bool:
        """Whether ``tables`` hold the very leads and accounts this index was made of (scoring chunks share them)."""
        return tables.leads is self._source[0] and tables.accounts is self._source[1]

    def account_category(self, column: str, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
        """:func:`bound_account_category` of an accounts column, kept."""
        return self.kept(("account category", column, vocabulary),
                         lambda: bound_account_category(self.accounts[column].astype("str"), vocabulary))

    def lead_category(self, key: object, make_values: Callable[[], pd.Series], lead_pos: np.ndarray,
                      as_of_ns: np.ndarray, vocabulary: frozenset[str] = frozenset()) -> pd.Series:
        """:func:`bound_lead_category` of the lead column ``make_values()``, its whole-table index kept under ``key``."""
        index = self.kept(("lead category", key),
                          lambda: index_lead_category(make_values(), self.ranks, self.captured_known))
        return bound_indexed_category(index, self.ranks, lead_pos, as_of_ns, vocabulary)


def _flag(values: pd.Series) -> np.ndarray:
    return pd.Series(values).astype("boolean").astype("Float64").to_numpy(dtype="float64", na_value=np.nan)


def normalize_title(titles: pd.Series) -> pd.Series:
    """Job titles as one spelling: trimmed, inner blanks collapsed, lower case; blank is missing.

    Each distinct title is respelled once (a million leads hold far fewer titles; the regex per row cost
    seconds per scoring chunk).

    Examples
    --------
    >>> normalize_title(pd.Series(["  Head of  Sales", None, "CTO", " "])).tolist()
    ['head of sales', nan, 'cto', nan]
    """
    codes, uniques = pd.factorize(titles.astype("str"))
    spelled = pd.Series(uniques, dtype="str").str.strip().str.lower().str.replace(r"\s+", " ", regex=True)
    spelled = spelled.mask(spelled == "")
    spelled = np.append(spelled.to_numpy(dtype=object, na_value=None), None)  # code -1 (missing) takes the None
    return pd.Series(pd.array(spelled[codes], dtype="str"), index=titles.index)


def band_employees(employees: np.ndarray) -> pd.Series:
    """Employee counts in the bands marketing uses (the rules' 200 and 1,000 cut points among them)."""
    uppers = np.array([upper for upper, _ in EMPLOYEE_BANDS], dtype="float64")
    labels = [label for _, label in EMPLOYEE_BANDS] + ["5,000+"]
    codes = np.searchsorted(uppers, employees, side="right")
    return strings_from_codes(labels, np.where(np.isnan(employees), -1, codes))


def build_profile_features(index: LeadIndex, spine: pd.DataFrame, lead_pos: np.ndarray, persona: pd.DataFrame,
                           vocabulary: dict[str, frozenset[str]] | None = None) -> pd.DataFrame:
    """Fit, persona and acquisition features of each spine row's lead (index 0..n-1).

    ``index`` is the build's :class:`LeadIndex`; ``vocabulary`` holds, per categorical feature, values
    kept whatever their count (a model's categories).
    """
    vocabulary = vocabulary or {}
    leads, accounts = index.leads, index.accounts
    n = len(spine)
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    captured_ns = index.captured_ns

    account_pos = index.account_pos[lead_pos]
    has_account = account_pos >= 0
    take_at = account_pos.clip(0)
    no_account = pd.Series(~has_account)

    def account_column(name: str, values: pd.Series | None = None) -> pd.Series:
        column = accounts[name] if values is None else values
        if len(column) == 0:
            return pd.Series(np.full(n, np.nan), dtype="str" if column.dtype == "str" else "float64")
        taken = column.take(take_at).reset_index(drop=True)
        return taken.mask(no_account) if not has_account.all() else taken

    def account_number(name: str) -> np.ndarray:
        return pd.to_numeric(account_column(name)).to_numpy(dtype="float64", na_value=np.nan)

    def lead_column(name: str) -> pd.Series:
        return leads[name].take(lead_pos).reset_index(drop=True)

    employees = account_number("employees")
    capture_ns = captured_ns[lead_pos]
    weekday = (capture_ns // NS_PER_DAY + 3) % 7  # 1970-01-01 was a Thursday; Monday is 0
    month = capture_ns.astype("datetime64[ns]").astype("datetime64[M]").astype(np.int64) % 12
    out = {
        "employees": employees,
        "employees_band": band_employees(employees),
        "annual_revenue_usd": account_number("annual_revenue_usd"),
        "industry": account_column("industry", index.account_category("industry", vocabulary.get("industry", frozenset()))),
        "region": account_column("region", index.account_category("region", vocabulary.get("region", frozenset()))),
        "country": index.lead_category("country", lambda: leads["country"].astype("str").str.upper(), lead_pos, as_of_ns,
                                       vocabulary.get("country", frozenset())),
        "branch_count": account_number("branch_count"),
        "business_model": account_column("business_model"),
        "paying_customers": account_number("paying_customers"),
        "is_public": _flag(account_column("is_public")),
        "company_stage": account_column("company_stage"),
        "has_cdo": _flag(account_column("has_cdo")),
        "digital_transformation": account_column("digital_transformation"),
        "seniority": persona["seniority"].take(lead_pos).reset_index(drop=True),
        "department": persona["department"].take(lead_pos).reset_index(drop=True),
        # The title itself, so no signal is erased by the parser ("Working Professional" is its own value).
        "job_title": index.lead_category("job_title", lambda: normalize_title(leads["job_title"]), lead_pos, as_of_ns,
                                         vocabulary.get("job_title", frozenset())),
        "is_free_mail": _flag(index.kept("is_free_mail", lambda: is_free_mail(leads["email_domain"]))
                              .take(lead_pos).reset_index(drop=True)),
        "has_email_consent": _flag(lead_column("email_consent")),
        "channel": lead_column("channel"),
        "campaign": index.lead_category("campaign", lambda: leads["campaign"].astype("str"), lead_pos, as_of_ns,
                                        vocabulary.get("campaign", frozenset())),
        "capture_weekday": strings_from_codes(WEEKDAYS, weekday),
        "capture_month": strings_from_codes(MONTHS, month),
        "lead_age_days": (as_of_ns - captured_ns[lead_pos]) / NS_PER_DAY,
    }
    return pd.DataFrame(out)

# ---- engagement.py ----






WINDOWS = (7, 30, 37, 90)  # 37 = the trend's last 7 days plus the 30 before
ACTIVITY = event_codes([t for t in EVENT_TYPES if t not in ("email_sent", "unsubscribe")])
HIGH_INTENT = (
    "(" + event_codes(["page_view"], ("pricing", "contact"))[1:-1] + ", "
    + event_codes(["form_submit", "demo_request", "trial_start", "meeting_booked"])[1:-1] + ")"
)
EMAIL = event_codes(["email_sent", "email_open", "email_click"])
OPENED = event_codes(["email_open", "email_click"])  # a click implies an open
# Columns other families need but the catalogue does not list (the account context subtracts them).
OWN_HIGH_INTENT_90D = "_own_high_intent_90d"
OUTPUT_COLUMNS = frozenset(
    [spec.name for spec in CATALOGUE if spec.group in ("engagement", "email")] + [OWN_HIGH_INTENT_90D]
)


def _codes_of(sql_list: str) -> list[int]:
    return [int(c) for c in sql_list.strip("()").split(",")]


def engagement_sums() -> list[tuple[str, str, str]]:
    """(output column, partial-count column, SQL code list) for every per-row sum of partial counts."""
    sums: list[tuple[str, str, str]] = []
    for w in (7, 30, 90):
        sums.append((f"n_activities_{w}d", f"c{w}", ACTIVITY))
    sums.append(("n_activities_to_date", "c_all", ACTIVITY))
    for w in (7, 30, 90):
        sums.append((f"n_page_views_{w}d", f"c{w}", event_codes(["page_view"])))
        sums.append((f"n_pricing_views_{w}d", f"c{w}", event_codes(["page_view"], ("pricing",))))
    for page, windows in (("product", (30, 90)), ("contact", (30, 90)), ("docs", (90,)), ("careers", (90,))):
        for w in windows:
            sums.append((f"n_{page}_views_{w}d", f"c{w}", event_codes(["page_view"], (page,))))
    per_type = (
        ("form_submits", "form_submit", (30, 90)), ("content_downloads", "content_download", (30, 90)),
        ("webinar_registers", "webinar_register", (90,)), ("webinar_attends", "webinar_attend", (90,)),
        ("demo_requests", "demo_request", (30, 90)), ("trial_starts", "trial_start", (90,)),
        ("meetings_booked", "meeting_booked", (90,)), ("ad_clicks", "ad_click", (30,)),
    )
    for name, event_type, windows in per_type:
        for w in windows:
            sums.append((f"n_{name}_{w}d", f"c{w}", event_codes([event_type])))
    sums += [
        (OWN_HIGH_INTENT_90D, "c90", HIGH_INTENT),
        ("_n_activities_37d", "c37", ACTIVITY),
        ("n_emails_sent_to_date", "c_all", event_codes(["email_sent"])),
        ("_n_opens", "c_all", event_codes(["email_open"])),
        ("_n_clicks", "c_all", event_codes(["email_click"])),
        ("n_email_opens_30d", "c30", event_codes(["email_open"])),
        ("n_email_clicks_30d", "c30", event_codes(["email_click"])),
        ("_n_unsubscribes", "c_all", event_codes(["unsubscribe"])),
    ]
    return sums


# Smallest or largest of a partial column over some codes; missing where no such event is visible.
ENGAGEMENT_EXTREMES = (
    ("_age_last_activity", "min_age", ACTIVITY, "min"),
    ("_age_last_high_intent", "min_age", HIGH_INTENT, "min"),
    ("_age_last_open", "min_age", OPENED, "min"),
    ("max_email_step_sent", "max_step", event_codes(["email_sent"]), "max"),
)


# Bit masks OR-ed over codes: 24-hour periods back from as_of with activity (bits 0-63 and 64-89),
# and nurture steps 0-63 seen (sent, opened, clicked).
ENGAGEMENT_MASKS = (
    ("_days_lo", "days_lo", ACTIVITY),
    ("_days_hi", "days_hi", ACTIVITY),
    ("_steps_sent_mask", "steps", EMAIL),
    ("_steps_opened_mask", "steps", OPENED),
    ("_steps_clicked_mask", "steps", event_codes(["email_click"])),
)
PARTIAL_STATS = ("c7", "c30", "c37", "c90", "c_all", "min_age", "max_step", "days_lo", "days_hi", "steps")


def partials_query() -> str:
    """Per (row, event code): window counts, extremes and bit masks of the visible events."""
    # Shift amounts are UBIGINT: an INTEGER amount would widen the mask to HUGEINT (and numpy to float).
    day = f"CAST(age // {NS_PER_DAY} AS UBIGINT)"
    windows = ", ".join(f"count(*) FILTER (WHERE age < {w * NS_PER_DAY}) AS c{w}" for w in WINDOWS)
    return f"""
        SELECT row, code, {windows}, count(*) AS c_all, min(age) AS min_age, max(step) AS max_step,
               bit_or(CASE WHEN age < {64 * NS_PER_DAY} THEN CAST(1 AS UBIGINT) << {day}
                      ELSE CAST(0 AS UBIGINT) END) AS days_lo,
               bit_or(CASE WHEN age >= {64 * NS_PER_DAY} AND age < {90 * NS_PER_DAY}
                      THEN CAST(1 AS UBIGINT) << ({day} - CAST(64 AS UBIGINT)) ELSE CAST(0 AS UBIGINT) END) AS days_hi,
               bit_or(CASE WHEN step >= 0 AND step < 64 THEN CAST(1 AS UBIGINT) << CAST(step AS UBIGINT)
                      ELSE CAST(0 AS UBIGINT) END) AS steps
        FROM (
            SELECT s.row, s.as_of - e.t AS age, e.code, e.step FROM spine s
            JOIN events e ON e.lead = s.lead AND {visible_sql('e.t', 's.as_of')}
        ) GROUP BY row, code
    """


def pivot_partials(partials: dict[str, np.ndarray], n_rows: int) -> dict[str, np.ndarray]:
    """Per-row aggregates from the per-(row, code) partials, in numpy.

    Each partial column is spread into a dense (row x code) matrix once, as (row, code) pairs are
    unique; a feature is then a sum (a matrix-vector product), a min / max, or an OR of bit masks over
    a few of its columns.
    """
    rows = np.asarray(partials["row"], dtype=np.int64)
    codes = np.asarray(partials["code"], dtype=np.int64)
    vocabulary = np.unique(codes)
    width = len(vocabulary)
    column_of = {int(c): i for i, c in enumerate(vocabulary)}
    flat = rows * width + np.searchsorted(vocabulary, codes)

    def columns(code_list: str) -> list[int]:
        return [column_of[c] for c in _codes_of(code_list) if c in column_of]

    def spread(stat: str, dtype: str, fill: float) -> np.ndarray:
        values = np.ma.asarray(partials[stat])
        matrix = np.zeros(n_rows * width, dtype=dtype) if fill == 0 else np.full(n_rows * width, fill, dtype=dtype)
        matrix[flat] = np.ma.filled(values.astype(dtype), fill)
        return matrix.reshape(n_rows, width)

    out: dict[str, np.ndarray] = {}
    for stat in PARTIAL_STATS:
        if stat in ("days_lo", "days_hi", "steps"):
            if np.ma.asarray(partials[stat]).dtype != np.uint64:  # a float would silently drop high bits
                raise TypeError(f"bit mask {stat} arrived as {partials[stat].dtype}, not uint64")
            matrix = spread(stat, "uint64", 0)
            for name, source, code_list in ENGAGEMENT_MASKS:
                if source == stat:
                    cols = columns(code_list)
                    out[name] = (np.bitwise_or.reduce(matrix[:, cols], axis=1) if cols
                                 else np.zeros(n_rows, dtype=np.uint64))
            continue
        if stat in ("min_age", "max_step"):
            lowest = stat == "min_age"
            matrix = spread(stat, "float64", np.inf if lowest else -np.inf)
            for name, source, code_list, _how in ENGAGEMENT_EXTREMES:
                if source == stat:
                    cols = columns(code_list)
                    best = (matrix[:, cols].min(axis=1) if lowest else matrix[:, cols].max(axis=1)) if cols \
                        else np.full(n_rows, np.inf)
                    out[name] = np.where(np.isinf(best), np.nan, best)
            continue
        matrix = spread(stat, "float64", 0)
        for name, source, code_list in engagement_sums():
            if source == stat:
                indicator = np.zeros(width)
                indicator[columns(code_list)] = 1.0
                out[name] = matrix @ indicator
    return out


def _popcount(masks: np.ndarray) -> np.ndarray:
    return np.bitwise_count(masks).astype("float64")


def build_engagement_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Engagement and e-mail features per spine row (index 0..n-1), plus ``_own_*`` helper columns.

    Counts are 0 for a lead without visible events; recency and rates are NaN when there is nothing to
    measure. Without an events table every value is NaN (unknown, not "did nothing").
    """
    agg = pivot_partials(con.execute(partials_query()).fetchnumpy(), n_rows)
    last_30_days = np.uint64((1 << 30) - 1)
    agg["n_active_days_30d"] = _popcount(agg["_days_lo"] & last_30_days)
    agg["n_active_days_90d"] = _popcount(agg["_days_lo"]) + _popcount(agg["_days_hi"])
    agg["_steps_sent"] = _popcount(agg["_steps_sent_mask"] | agg["_steps_opened_mask"])
    agg["_steps_opened"] = _popcount(agg["_steps_opened_mask"])
    agg["_steps_clicked"] = _popcount(agg["_steps_clicked_mask"])
    return derive_engagement(agg, has_table(tables, "events"))


def derive_engagement(agg: dict[str, np.ndarray], has_events: bool) -> pd.DataFrame:
    """Recency in days, momentum and e-mail rates from the raw per-row aggregates."""
    out = {name: values for name, values in agg.items() if not name.startswith("_") or name.startswith("_own")}
    out = {name: values for name, values in out.items() if name in OUTPUT_COLUMNS}
    for target, source in (("days_since_last_activity", "_age_last_activity"),
                           ("days_since_last_high_intent", "_age_last_high_intent"),
                           ("days_since_last_email_open", "_age_last_open")):
        out[target] = agg[source] / NS_PER_DAY
    prior_30d = agg["_n_activities_37d"] - agg["n_activities_7d"]
    out["activity_trend_7d"] = agg["n_activities_7d"] - prior_30d * 7 / 30
    sent = agg["n_emails_sent_to_date"]
    with np.errstate(divide="ignore", invalid="ignore"):
        by_step_open = agg["_steps_opened"] / agg["_steps_sent"]
        by_step_click = agg["_steps_clicked"] / agg["_steps_sent"]
        by_count_open = np.minimum(1.0, agg["_n_opens"] / sent)
        by_count_click = np.minimum(1.0, agg["_n_clicks"] / sent)
    # Rates over the nurture steps sent so far; exports without step numbers fall back to event counts.
    has_steps = agg["_steps_sent"] > 0
    out["email_open_rate"] = np.where(has_steps, by_step_open, np.where(sent > 0, by_count_open, np.nan))
    out["email_click_rate"] = np.where(has_steps, by_step_click, np.where(sent > 0, by_count_click, np.nan))
    out["is_unsubscribed"] = (agg["_n_unsubscribes"] > 0).astype("float64")
    frame = pd.DataFrame(out)
    if not has_events:
        frame.loc[:, :] = np.nan
    return frame

# ---- stages.py ----






# Helper columns the account context subtracts (the lead's own SQO / WON by as_of).
OWN_REACHED_SQO = "_own_reached_sqo"
OWN_REACHED_WON = "_own_reached_won"


def build_funnel_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int,
                          lead_age_days: pd.Series) -> pd.DataFrame:
    """Funnel-state features per spine row (index 0..n-1), plus ``_own_reached_*`` helper columns.

    Without a stage_history table the state is unknown (NaN), not "MCL".
    """
    ranks = " ".join(f"WHEN {STAGES.index(stage)} THEN {rank}" for rank, stage in enumerate(FUNNEL_ORDER))
    query = f"""
        WITH visible AS (
            SELECT s.row, s.as_of, h.t, h.code, CASE h.code {ranks} END AS rank
            FROM spine s JOIN stages h ON h.lead = s.lead AND {visible_sql('h.t', 's.as_of')}
        )
        SELECT row,
               arg_max(code, CAST(t AS HUGEINT) * 16 + coalesce(code, 15)) AS current_code,
               any_value(as_of) - max(t) AS age_current,
               max(rank) AS highest_rank,
               count(*) FILTER (WHERE code = {STAGES.index('RECYCLED')}) AS n_recycles,
               count(*) FILTER (WHERE code IN ({STAGES.index('SQO')}, {STAGES.index('WON')})) > 0 AS reached_sqo,
               count(*) FILTER (WHERE code = {STAGES.index('WON')}) > 0 AS reached_won
        FROM visible GROUP BY row
    """
    raw = con.execute(query).df()
    rows = raw["row"].to_numpy(dtype=np.int64)
    stage_names = np.asarray(STAGES + ("MCL",), dtype=object)  # unknown stage text reads as MCL
    funnel_names = np.asarray(FUNNEL_ORDER, dtype=object)

    current = np.full(n_rows, "MCL", dtype=object)
    current[rows] = stage_names[raw["current_code"].to_numpy(dtype="float64", na_value=len(STAGES)).astype(int)]
    days_in = lead_age_days.to_numpy(dtype="float64").copy()
    days_in[rows] = raw["age_current"].to_numpy(dtype="float64") / NS_PER_DAY
    highest = np.zeros(n_rows, dtype=np.int64)
    highest[rows] = raw["highest_rank"].to_numpy(dtype="float64", na_value=0).astype(np.int64)
    recycles = np.zeros(n_rows)
    recycles[rows] = raw["n_recycles"].to_numpy(dtype="float64")
    own_sqo = np.zeros(n_rows)
    own_sqo[rows] = raw["reached_sqo"].to_numpy(dtype="float64")
    own_won = np.zeros(n_rows)
    own_won[rows] = raw["reached_won"].to_numpy(dtype="float64")
    frame = pd.DataFrame({
        "current_stage": current,
        "days_in_current_stage": days_in,
        "highest_stage": funnel_names[highest],
        "n_recycles": recycles,
        OWN_REACHED_SQO: own_sqo,
        OWN_REACHED_WON: own_won,
    })
    if not has_table(tables, "stage_history"):
        frame["current_stage"] = np.nan
        frame["highest_stage"] = np.nan
        frame[["days_in_current_stage", "n_recycles", OWN_REACHED_SQO, OWN_REACHED_WON]] = np.nan
    return frame


# Where a lead stands at as_of, for deciding what it may be scored for (one definition for training,
# the scorer, the rules and the report): ``closed`` positions get no probability, ``sqo`` no p_sqo.
POSITIONS = ("open", "sqo", "won", "lost", "disqualified")
CLOSED_STAGES = ("WON", "LOST", "DISQUALIFIED")


def funnel_position(tables: Tables, spine: pd.DataFrame) -> pd.Series:
    """Per spine row (aligned with ``spine``), where the lead stands at its as_of (see :data:`POSITIONS`).

    A lead whose latest visible stage entry is WON, LOST or DISQUALIFIED is closed (``won``, ``lost``,
    ``disqualified``); otherwise a lead whose first SQO or WON entry is at or before as_of is ``sqo`` (an
    open opportunity, recycled or not); every other lead is ``open``. Only timed entries at or before
    as_of count (:func:`leadscore.features.pit.join_as_of`): a stage reached at an unknown time (a
    Converted flag) is never visible, so such a lead is open. Entries at the same instant are ordered by
    the contract's stage order, as the funnel features order them. Without a stage_history table every
    lead is ``open``.
    """
    position = np.full(len(spine), "open", dtype=object)
    if has_table(tables, "stage_history") and len(spine):
        history = tables.stage_history[["lead_id", "stage", "entered_at"]]
        seen = join_as_of(spine.reset_index(drop=True)[["lead_id", "as_of"]], history, "entered_at")
        if len(seen):
            code = seen["stage"].astype("str").map({s: i for i, s in enumerate(STAGES)}).to_numpy(dtype="int64")
            seen = seen.assign(_t=pd.to_datetime(seen["entered_at"], utc=True), _code=code)
            latest = seen.sort_values(["row", "_t", "_code"], kind="stable").groupby("row", sort=False).tail(1)
            rows = latest["row"].to_numpy(dtype="int64")
            stage = latest["stage"].astype("str").to_numpy()
            reached = seen.loc[seen["stage"].astype("str").isin(("SQO", "WON")), "row"].unique()
            position[np.asarray(reached, dtype="int64")] = "sqo"
            closed = np.isin(stage, CLOSED_STAGES)
            position[rows[closed]] = np.char.lower(stage[closed].astype(str)).astype(object)
    return pd.Series(position, index=spine.index, name="position", dtype="str")

# ---- account.py ----








def _per_row(con: duckdb.DuckDBPyConnection, query: str, n_rows: int, columns: list[str], fill: float) -> pd.DataFrame:
    raw = con.execute(query).df()
    rows = raw["row"].to_numpy(dtype=np.int64)
    out = {}
    for name in columns:
        values = np.full(n_rows, fill, dtype="float64")
        values[rows] = raw[name].to_numpy(dtype="float64", na_value=np.nan)
        out[name] = values
    return pd.DataFrame(out)


def _without_account(con: duckdb.DuckDBPyConnection, n_rows: int) -> np.ndarray:
    missing = np.zeros(n_rows, dtype=bool)
    rows = con.execute("SELECT row FROM spine WHERE account IS NULL").df()["row"].to_numpy(dtype=np.int64)
    missing[rows] = True
    return missing


def build_technographic_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int) -> pd.DataFrame:
    """Technology counts and category flags per spine row (index 0..n-1).

    NaN for a lead without an account or an export without technographics; 0 for an account with no
    technology known by as_of.
    """
    flags = ", ".join(f"max(CASE WHEN category = '{c}' THEN 1 ELSE 0 END) AS has_{c}" for c in TECHNOLOGY_CATEGORIES)
    query = f"""
        WITH pairs AS (SELECT DISTINCT account, as_of FROM spine WHERE account IS NOT NULL),
        known AS (
            SELECT p.account, p.as_of, t.technology, t.category, t.t
            FROM pairs p JOIN techs t ON t.account = p.account AND {visible_sql('t.t', 'p.as_of', null_visible=True)}
        ),
        per_tech AS (
            -- the first sighting decides "new"; an undated row means known all along
            SELECT account, as_of, technology, min(coalesce(t, -9223372036854775807)) AS first_seen
            FROM known GROUP BY ALL
        ),
        per_pair AS (
            SELECT account, as_of, count(*) AS n_technologies,
                   count(*) FILTER (WHERE first_seen > as_of - {90 * NS_PER_DAY}) AS n_technologies_new_90d
            FROM per_tech GROUP BY ALL
        ),
        per_category AS (SELECT account, as_of, {flags} FROM known GROUP BY ALL)
        SELECT s.row, c.n_technologies, c.n_technologies_new_90d, {', '.join(f'f.has_{c}' for c in TECHNOLOGY_CATEGORIES)}
        FROM spine s JOIN per_pair c ON c.account = s.account AND c.as_of = s.as_of
        JOIN per_category f ON f.account = s.account AND f.as_of = s.as_of
    """
    columns = ["n_technologies", "n_technologies_new_90d"] + [f"has_{c}" for c in TECHNOLOGY_CATEGORIES]
    frame = _per_row(con, query, n_rows, columns, fill=0.0)
    if not has_table(tables, "technographics"):
        frame.loc[:, :] = np.nan
    else:
        frame.loc[_without_account(con, n_rows), :] = np.nan
    return frame


def build_account_features(con: duckdb.DuckDBPyConnection, tables: Tables, n_rows: int, own: pd.DataFrame,
                           own_senior: np.ndarray) -> pd.DataFrame:
    """Buying-committee features per spine row (index 0..n-1), excluding the row's own lead.

    ``own`` holds the row's own engagement and funnel columns (same windows, same visibility), which
    are subtracted from the account totals. NaN for a lead without an account.
    """
    query = f"""
        WITH pairs AS (SELECT DISTINCT account, as_of FROM spine WHERE account IS NOT NULL),
        members AS (
            SELECT p.account, p.as_of, l.lead, l.senior
            FROM pairs p JOIN leads l ON l.account = p.account AND {visible_sql('l.captured', 'p.as_of')}
        ),
        member_counts AS (
            SELECT account, as_of, count(*) AS n_leads, count(*) FILTER (WHERE senior) AS n_senior
            FROM members GROUP BY ALL
        ),
        member_events AS (
            SELECT m.account, m.as_of, m.lead,
                   count(*) FILTER (WHERE e.t > m.as_of - {30 * NS_PER_DAY}) AS a30,
                   count(*) AS a90,
                   count(*) FILTER (WHERE e.code IN {HIGH_INTENT}) AS h90
            FROM members m JOIN events e ON e.lead = m.lead AND {visible_sql('e.t', 'm.as_of')}
                 AND e.t > m.as_of - {90 * NS_PER_DAY} AND e.code IN {ACTIVITY}
            GROUP BY ALL
        ),
        event_counts AS (
            SELECT account, as_of, sum(a30) AS a30, sum(a90) AS a90, sum(h90) AS h90,
                   count(*) FILTER (WHERE a30 > 0) AS active30
            FROM member_events GROUP BY ALL
        ),
        stage_counts AS (
            SELECT m.account, m.as_of,
                   count(DISTINCT m.lead) AS sqo_leads,
                   count(DISTINCT m.lead) FILTER (WHERE h.code = {STAGES.index('WON')}) AS won_leads
            FROM members m JOIN stages h ON h.lead = m.lead AND {visible_sql('h.t', 'm.as_of')}
                 AND h.code IN ({STAGES.index('SQO')}, {STAGES.index('WON')})
            GROUP BY ALL
        )
        SELECT s.row, m.n_leads, m.n_senior,
               coalesce(ev.a30, 0) AS a30, coalesce(ev.a90, 0) AS a90, coalesce(ev.h90, 0) AS h90,
               coalesce(ev.active30, 0) AS active30,
               coalesce(st.sqo_leads, 0) AS sqo_leads, coalesce(st.won_leads, 0) AS won_leads
        FROM spine s
        JOIN member_counts m ON m.account = s.account AND m.as_of = s.as_of
        LEFT JOIN event_counts ev ON ev.account = s.account AND ev.as_of = s.as_of
        LEFT JOIN stage_counts st ON st.account = s.account AND st.as_of = s.as_of
    """
    columns = ["n_leads", "n_senior", "a30", "a90", "h90", "active30", "sqo_leads", "won_leads"]
    totals = _per_row(con, query, n_rows, columns, fill=0.0)

    # A deal's account is its own, else its lead's account once that lead is captured: before that the
    # export (cut at as_of) would not know the lead, so neither would the row.
    deals = f"""
        WITH matched AS (
            SELECT s.row, s.as_of, s.lead AS own_lead, d.lead, d.created, d.closed, d.outcome
            FROM spine s JOIN opps d ON d.account = s.account
            UNION ALL
            SELECT s.row, s.as_of, s.lead AS own_lead, d.lead, d.created, d.closed, d.outcome
            FROM spine s JOIN opps d ON NOT d.named_account AND d.lead_account = s.account
                 AND {visible_sql('d.lead_captured', 's.as_of')}
        )
        SELECT row,
               count(*) AS n_deals,
               count(*) FILTER (WHERE {visible_sql('closed', 'as_of')} AND outcome = 'won') AS n_won,
               count(*) FILTER (WHERE {visible_sql('closed', 'as_of')} AND outcome = 'lost') AS n_lost,
               count(*) FILTER (WHERE NOT {visible_sql('closed', 'as_of')}) AS n_open
        FROM matched
        WHERE {visible_sql('created', 'as_of')} AND (lead IS NULL OR lead <> own_lead)
        GROUP BY row
    """
    deal_counts = _per_row(con, deals, n_rows, ["n_deals", "n_won", "n_lost", "n_open"], fill=0.0)

    def own_value(name: str) -> np.ndarray:
        return np.nan_to_num(own[name].to_numpy(dtype="float64"), nan=0.0)

    own_a30 = own_value("n_activities_30d")
    other_sqo = totals["sqo_leads"].to_numpy() - own_value(OWN_REACHED_SQO)
    other_won = totals["won_leads"].to_numpy() - own_value(OWN_REACHED_WON)
    frame = pd.DataFrame({
        "n_account_leads": totals["n_leads"].to_numpy() - 1,
        "n_account_senior_leads": totals["n_senior"].to_numpy() - own_senior.astype("float64"),
        "n_account_active_leads_30d": totals["active30"].to_numpy() - (own_a30 > 0),
        "n_account_activities_30d": totals["a30"].to_numpy() - own_a30,
        "n_account_activities_90d": totals["a90"].to_numpy() - own_value("n_activities_90d"),
        "n_account_high_intent_90d": totals["h90"].to_numpy() - own_value(OWN_HIGH_INTENT_90D),
        "account_had_sqo": ((other_sqo > 0) | (deal_counts["n_deals"].to_numpy() > 0)).astype("float64"),
        "account_had_won": ((other_won > 0) | (deal_counts["n_won"].to_numpy() > 0)).astype("float64"),
        "account_had_lost_deal": (deal_counts["n_lost"].to_numpy() > 0).astype("float64"),
        "n_account_open_opportunities": deal_counts["n_open"].to_numpy(),
    })
    if not has_table(tables, "events"):
        frame[[c for c in frame.columns if "activ" in c or "intent" in c]] = np.nan
    if not has_table(tables, "events"):
        frame[[c for c in frame.columns if "activ" in c or "intent" in c]] = np.nan
    frame.loc[_without_account(con, n_rows), :] = np.nan
    return frame

# ---- own.py ----




GROUP = "export"
FEATURE_KINDS = {"number": "numeric", "category": "categorical", "yes_no": "flag", "timestamp": "numeric"}
DTYPES = {"number": "float64", "yes_no": "boolean", "timestamp": UTC_DTYPE, "category": "str"}


def own_feature_spec(column: OwnColumn) -> dict:
    """The model spec entry of one usable own column (name, kind, words, where its values come from)."""
    header = column.column
    templates = {
        "number": f"{header}: {{value:,.6g}}",
        "category": f"{header}: {{value}}",
        "yes_no": f"{header}: {{value}}",
        "timestamp": f"{header}: {{value:,.0f}} days before",
    }
    described = {
        "number": "a number", "category": "a category (rare values grouped as 'other')", "yes_no": "yes / no",
        "timestamp": "days from this date to as_of (missing when the date is after as_of)",
    }
    return {
        "name": column.feature,
        "kind": FEATURE_KINDS[column.kind],
        "group": GROUP,
        "story": column.feature,
        "description": f"The export's own column {header!r} of {column.table}: {described[column.kind]}.",
        "template": templates[column.kind],
        "source": {"table": column.table, "column": header, "kind": column.kind},
    }


def own_feature_specs(tables: Tables) -> list[dict]:
    """Spec entries of every usable own column of ``tables`` (``Tables.own_columns``)."""
    return [own_feature_spec(c) for c in tables.own_columns if c.used]


def vocabulary(spec: dict) -> frozenset[str]:
    """A model's categories of one feature: kept whatever their count in the export being scored."""
    return frozenset(spec.get("categories") or ())


def _column(frame: pd.DataFrame, header: str) -> pd.Series | None:
    if header in frame.columns:
        return frame[header]
    folded = [c for c in frame.columns if str(c).strip().casefold() == header.strip().casefold()]
    return frame[folded[0]] if len(folded) == 1 else None


def typed_own_column(values: pd.Series | None, kind: str, n: int, date_order: str | None,
           categories: list[str] | None = None) -> pd.Series:
    """The column in the model's kind (reading typed it; an export that reads otherwise is converted here).

    Reading infers each export's kinds afresh, so a scoring export may have typed a column otherwise than
    the training export did: a count whose values are all 0 or 1 (a batch of new leads) reads as yes/no.
    Such a yes/no column is turned back into what the model knows, 1 / 0 for a number, and for a category
    the model's own spelling of yes and no (its ``categories``), not the text "True" / "False".
    """
    if values is None:
        return pd.Series(pd.array([None] * n, dtype=DTYPES[kind]))
    if str(values.dtype) == DTYPES[kind]:
        return values.reset_index(drop=True)
    if pd.api.types.is_bool_dtype(values.dtype) and kind in ("number", "category"):
        flags = values.astype("boolean").reset_index(drop=True)
        if kind == "number":
            return flags.astype("Float64").astype("float64")
        words = pd.Series(categories or [], dtype="str")
        read = type_column(words, "yes_no")
        spelled = {flag: next((w for w, r in zip(words, read, strict=True) if pd.notna(r) and bool(r) == flag),
                              str(flag)) for flag in (True, False)}
        return pd.Series(flags.map(spelled, na_action="ignore"), dtype="str")
    return type_column(values, kind, date_order).astype(DTYPES[kind]).reset_index(drop=True)


def build_own_features(index: LeadIndex, date_order: str | None, lead_pos: np.ndarray, as_of_ns: np.ndarray,
                       specs: list[dict]) -> pd.DataFrame:
    """Own-column features per spine row (index 0..n-1), one column per spec entry.

    ``index`` is the build's :class:`~leadscore.features.building.profile.LeadIndex`: a column is typed,
    and a category's values indexed, once per build, not once per chunk.
    """
    leads, accounts = index.leads, index.accounts
    n = len(lead_pos)
    row_account = index.account_pos[lead_pos] if len(leads) else np.zeros(0, dtype=np.int64)
    out: dict[str, object] = {}
    for spec in specs:
        source = spec["source"]
        kind = source["kind"]
        frame = leads if source["table"] == "leads" else accounts
        key = (source["table"], source["column"], kind, tuple(spec.get("categories") or ()))

        def typed(frame: pd.DataFrame = frame, spec: dict = spec, kind: str = kind) -> pd.Series:
            return typed_own_column(_column(frame, spec["source"]["column"]), kind, len(frame), date_order,
                                    spec.get("categories"))

        if source["table"] == "leads":
            at, missing = lead_pos, np.zeros(n, dtype=bool)
        else:
            at, missing = row_account.clip(0), row_account < 0
        if kind == "category":
            if source["table"] == "leads":
                column = index.lead_category(key, typed, lead_pos, as_of_ns, vocabulary(spec))
            else:
                bounded = index.kept(("account category", key, vocabulary(spec)),
                                     lambda typed=typed, spec=spec: bound_account_category(typed(), vocabulary(spec)))
                column = bounded.take(at).reset_index(drop=True) if len(bounded) else pd.Series([None] * n, dtype="str")
            out[spec["name"]] = column.mask(pd.Series(missing)) if missing.any() else column
            continue
        values = index.kept(("typed", key), typed)
        if len(values) == 0:
            out[spec["name"]] = np.full(n, np.nan)
            continue
        if kind == "timestamp":
            stamps = index.kept(("epoch", key), lambda values=values: to_epoch_ns(values))
            moment = stamps.to_numpy(dtype="int64", na_value=0)[at]
            visible = stamps.notna().to_numpy()[at] & (moment <= as_of_ns)  # a date after as_of is not known yet
            number = np.where(visible, (as_of_ns - moment) / NS_PER_DAY, np.nan)
        elif kind == "yes_no":
            number = values.astype("Float64").to_numpy(dtype="float64", na_value=np.nan)[at]
        else:
            number = values.to_numpy(dtype="float64", na_value=np.nan)[at]
        out[spec["name"]] = np.where(missing, np.nan, number)
    return pd.DataFrame(out, index=pd.RangeIndex(n))

# ---- builder.py ----





logger = logging.getLogger(__name__)


def output_columns(own: list[dict]) -> list[tuple[str, str]]:
    """``(name, kind)`` of every feature column the builder writes: the catalogue's, then the own ones."""
    return [(s.name, s.kind) for s in CATALOGUE] + [(s["name"], s["kind"]) for s in own]


def empty_features(own: list[dict] | None = None) -> pd.DataFrame:
    """The builder's output for an empty spine: the right columns and dtypes, no rows."""
    columns = {"lead_id": pd.Series(dtype="str"), "as_of": pd.Series(dtype="datetime64[ns, UTC]")}
    for name, kind in output_columns(own or []):
        columns[name] = pd.Series(dtype="str" if kind == "categorical" else "float64")
    return pd.DataFrame(columns)


class _Clock:
    """Logs how long each feature family took (``-v`` shows where a slow build spends its time)."""

    def __init__(self, n_rows: int) -> None:
        self.n_rows = n_rows
        self.start = time.perf_counter()

    def lap(self, family: str, result: pd.DataFrame) -> pd.DataFrame:
        now = time.perf_counter()
        logger.info("%s features for %d rows: %.2f s", family, self.n_rows, now - self.start)
        self.start = now
        return result


def build_features(tables: Tables, spine: pd.DataFrame, own: list[dict] | None = None,
                   chunk_rows: int = 1_000_000, vocabulary: dict[str, frozenset[str]] | None = None,
                   index: LeadIndex | None = None) -> pd.DataFrame:
    """Every catalogue feature and the export's own features for each spine row, as of the row's ``as_of``.

    Parameters
    ----------
    tables
        The export; optional tables may be empty (their features are then missing, not zero).
    spine
        ``lead_id`` and ``as_of`` rows, normally from :func:`make_spine` (every lead known and captured
        by its as_of). Rows may repeat a lead at several as_of (training snapshots).
    own
        Spec entries of the export's own columns to build (:mod:`leadscore.features.building.own`); a
        model passes its own list. Default: every usable own column of ``tables``.
    chunk_rows
        Spine rows aggregated at a time; the export is loaded once, the per-row work runs per chunk.
    vocabulary
        Per categorical feature, values kept whatever their count in this export: the categories of the
        model that will score the rows (its training leads judged what is common). Empty for training.
    index
        A :class:`~leadscore.features.building.profile.LeadIndex` of these very leads and accounts, kept
        by a caller that builds several spines over them (the scorer's chunks); made here otherwise.

    Returns
    -------
    pandas.DataFrame
        One row per spine row, in spine order: ``lead_id``, ``as_of``, the catalogue's features in
        catalogue order, then the own features; numeric and flag columns float64 (NaN where unknown, e.g. firmographics of a
        lead without an account), categorical columns ``str`` with NaN for missing.

    Raises
    ------
    LeadscoreError
        If a spine row names an unknown lead or one captured after its as_of (use :func:`make_spine`).
    """
    spine = check_spine(spine)
    if spine["as_of"].isna().any():
        raise LeadscoreError(f"{int(spine['as_of'].isna().sum())} spine row(s) have no as_of; build the spine with make_spine.")
    own = own_feature_specs(tables) if own is None else list(own)
    if spine.empty:
        return empty_features(own)
    leads = tables.leads
    lead_pos = positions(spine["lead_id"], leads["lead_id"])
    if (lead_pos < 0).any():
        raise LeadscoreError(f"{int((lead_pos < 0).sum())} spine row(s) name a lead_id not in leads; build the spine with make_spine.")
    captured = to_epoch_ns(leads["captured_at"]).to_numpy(dtype="int64", na_value=np.iinfo(np.int64).max)[lead_pos]
    as_of_ns = to_epoch_ns(spine["as_of"]).to_numpy(dtype="int64")
    if (captured > as_of_ns).any():
        raise LeadscoreError(
            f"{int((captured > as_of_ns).sum())} spine row(s) have as_of before the lead's capture (or no captured_at); "
            "build the spine with make_spine."
        )

    if index is None or not index.serves(tables):
        index = LeadIndex(tables)  # what every chunk reads about all the leads, worked out once
    persona = index.kept("persona", lambda: parse_job_titles(index.leads["job_title"]))
    senior = index.kept("senior", lambda: persona["seniority"].isin(SENIOR_LEVELS).to_numpy())
    output = _Output(spine, output_columns(own))
    con = connect_duckdb()
    try:
        orphans = load_into_duckdb(con, tables, senior)
        for table, n in orphans.items():
            if n:
                logger.warning("%d %s row(s) name a lead_id not in leads; they are left out of every feature", n, table)
        # Chunks bound the intermediate memory of long spines (training snapshots) to one chunk's worth.
        for start in range(0, len(spine), chunk_rows):
            stop = min(start + chunk_rows, len(spine))
            part_spine = spine.iloc[start:stop].reset_index(drop=True)
            n = stop - start
            set_spine(con, lead_pos[start:stop], as_of_ns[start:stop])
            clock = _Clock(n)
            profile = clock.lap("profile", build_profile_features(index, part_spine, lead_pos[start:stop], persona,
                                                                  vocabulary))
            technographic = clock.lap("technographic", build_technographic_features(con, tables, n))
            engagement = clock.lap("engagement", build_engagement_features(con, tables, n))
            funnel = clock.lap("funnel", build_funnel_features(con, tables, n, lead_age_days=profile["lead_age_days"]))
            lead_own = pd.concat([engagement, funnel], axis=1)
            account = clock.lap("account", build_account_features(con, tables, n, own=lead_own,
                                                                  own_senior=senior[lead_pos[start:stop]]))
            export = clock.lap("export", build_own_features(index, tables.date_order, lead_pos[start:stop],
                                                            as_of_ns[start:stop], own))
            output.fill(start, [profile, technographic, engagement, funnel, account, export])
    finally:
        con.close()
    return output.frame()


class _Output:
    """The builder's result, filled chunk by chunk into final arrays (no second copy of a large frame)."""

    def __init__(self, spine: pd.DataFrame, columns: list[tuple[str, str]]) -> None:
        self.spine = spine
        self.columns = columns
        n = len(spine)
        self.numbers = {name: np.empty(n) for name, kind in columns if kind != "categorical"}
        self.texts: dict[str, list[pa.Array]] = {name: [] for name, kind in columns if kind == "categorical"}

    def fill(self, start: int, parts: list[pd.DataFrame]) -> None:
        available = {name: part[name] for part in parts for name in part.columns}
        for name, target in self.numbers.items():
            values = pd.to_numeric(available[name]).to_numpy(dtype="float64", na_value=np.nan)
            target[start:start + len(values)] = values
        for name, pieces in self.texts.items():
            text = available[name]
            text = text if text.dtype == "str" else text.astype("str")
            pieces.append(pa.array(text.array).cast(pa.large_string()))

    def frame(self) -> pd.DataFrame:
        columns: dict[str, object] = {
            "lead_id": self.spine["lead_id"].astype("str").reset_index(drop=True),
            "as_of": self.spine["as_of"].reset_index(drop=True),
        }
        for name, kind in self.columns:
            if kind == "categorical":
                chunked = pa.chunked_array(self.texts[name], type=pa.large_string())
                columns[name] = pd.Series(pd.arrays.ArrowStringArray(chunked), dtype="str")
            else:
                columns[name] = self.numbers[name]
        # copy=False keeps one block per column: consolidating would copy the whole frame once more.
        return pd.DataFrame(columns, copy=False)
