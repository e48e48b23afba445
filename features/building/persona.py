"""Persona from free text: seniority and department from a job title, and free-mail e-mail domains.

Job titles are typed by the lead ("Sr. Dir. of FP&A", "vp it", "CFO / Co-founder"), so the parser
normalises case, dots and separators, then applies ordered keyword rules. The order is the rule: the
first matching seniority wins (an intern to the CFO is an intern; a vice president is not a president),
and a functional word (finance, IT, marketing, sales) beats the executive department, so a CFO is in
finance and a CEO is an executive. Titles repeat heavily, so each distinct title is parsed once and the
result mapped back, which keeps a million leads to about a second.
"""

from __future__ import annotations

import threading
from collections import OrderedDict

import numpy as np
import pandas as pd

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
