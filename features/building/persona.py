"""Persona from free text: seniority and department from a job title, and free-mail e-mail domains.

Job titles are typed by the lead ("Sr. Dir. of FP&A", "vp it", "CFO / Co-founder"), so the parser
normalises case, dots and separators, then applies ordered keyword rules. The order is the rule: the
first matching seniority wins (an intern to the CFO is an intern; a vice president is not a president),
and a functional word (finance, IT, marketing, sales) beats the executive department, so a CFO is in
finance and a CEO is an executive. Titles repeat heavily, so each distinct title is parsed once (and
remembered by the process) and the result mapped back, which keeps a million leads to about a second.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict

import numpy as np
import pandas as pd
import pyarrow as pa

from leadscore.features.building.text import Text, respelled, text_codes

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


_EXPANSIONS: dict[str, str] = dict(_ABBREVIATIONS)  # no expansion is itself an abbreviation: one pass
_ABBREVIATION = re.compile(rf"\b(?:{'|'.join(map(re.escape, _ABBREVIATIONS))})\b")
_SEPARATORS = re.compile(r"[^\w&]+")
_OWNER_ROLE = re.compile(r"\b(product|process|service|data) owner\b")
_LEAD_GENERATION = re.compile(r"\blead ?gen(?:eration)?\b")
_WORD = re.compile(r"\w")
_SENIORITY = tuple((label, re.compile(pattern)) for label, pattern in _SENIORITY_RULES)
_DEPARTMENT = tuple((label, re.compile(pattern)) for label, pattern in _DEPARTMENT_RULES)


def _normalise_title(lowered: str) -> str:
    """A lower-cased title without dots, separated into words, abbreviations written out."""
    text = lowered.replace(".", "").replace("-", "")
    text = _SEPARATORS.sub(" ", text).strip(" ")
    text = _ABBREVIATION.sub(lambda m: _EXPANSIONS[m.group(0)], text)
    # Owning a product or process is a role, not owning the business.
    text = _OWNER_ROLE.sub(r"\1_owner", text)
    # "Lead generation" is marketing work, not a team lead.
    return _LEAD_GENERATION.sub("leadgeneration marketing", text)


def _parse_title(lowered: str) -> tuple[str | None, str | None]:
    """Seniority and department of one lower-cased title (None, None for one without a letter or digit)."""
    text = _normalise_title(lowered)
    if not _WORD.search(text):
        return None, None
    seniority = next((label for label, rule in _SENIORITY if rule.search(text)), "individual_contributor")
    department = next((label for label, rule in _DEPARTMENT if rule.search(text)), "other")
    if seniority in OCCUPATIONS and department == "other":
        department = "none"
    return seniority, department


def parse_distinct_titles(titles: list[str]) -> list[tuple[str | None, str | None]]:
    """Seniority and department of each distinct title, looked up in what this process already parsed.

    A title's persona depends on that title alone; the HTTP service reads one or two titles per request,
    so a title seen before costs a dictionary lookup.
    """
    with _REMEMBERING:
        known = [_REMEMBERED.get(t) for t in titles]
    new = [t for t, k in zip(titles, known, strict=True) if k is None]
    if not new:
        return known  # type: ignore[return-value]
    parsed = dict(zip(new, map(_parse_title, respelled("lower", new)), strict=True))
    with _REMEMBERING:
        for title, persona in parsed.items():
            _REMEMBERED[title] = persona
        while len(_REMEMBERED) > _REMEMBERED_MAX:
            _REMEMBERED.popitem(last=False)
    return [k if k is not None else parsed[t] for t, k in zip(titles, known, strict=True)]


_REMEMBERED_MAX = 20_000
_REMEMBERED: OrderedDict[str, tuple[str | None, str | None]] = OrderedDict()
_REMEMBERING = threading.Lock()


def persona_codes(titles: Text) -> tuple[np.ndarray, np.ndarray]:
    """:data:`SENIORITIES` and :data:`DEPARTMENTS` positions per title (-1 where empty or missing)."""
    codes, distinct = text_codes(titles)
    parsed = parse_distinct_titles(distinct)
    seniority = np.array([SENIORITIES.index(s) if s is not None else -1 for s, _ in parsed] + [-1], dtype=np.int64)
    department = np.array([DEPARTMENTS.index(d) if d is not None else -1 for _, d in parsed] + [-1], dtype=np.int64)
    return seniority[codes], department[codes]


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
    seniority, department = persona_codes(pa.array(titles.astype("str").array))
    return pd.DataFrame(
        {
            "seniority": pd.array(np.array([*SENIORITIES, None], dtype=object)[seniority], dtype="str"),
            "department": pd.array(np.array([*DEPARTMENTS, None], dtype=object)[department], dtype="str"),
        },
        index=titles.index,
    )


def free_mail_flags(domains: Text) -> np.ndarray:
    """:func:`is_free_mail` as float64 per domain: 1.0, 0.0, NaN where missing or blank."""
    codes, distinct = text_codes(domains)
    flags = []
    for text in respelled("trim_lower", distinct):
        domain = _BEFORE_AT.sub("", text).rstrip(".")
        flags.append(np.nan if domain == "" else
                     float(domain in FREE_MAIL_DOMAINS or _FREE_MAIL.match(domain) is not None))
    return np.append(np.array(flags, dtype=np.float64), np.nan)[codes]


_BEFORE_AT = re.compile(r"^.*@")
_FREE_MAIL = re.compile(_FREE_MAIL_PATTERN)


def is_free_mail(domains: pd.Series) -> pd.Series:
    """Whether each e-mail domain belongs to a free consumer mail provider.

    A free-mail address says the lead did not use a work identity, a weak-fit signal; the domain itself
    is never a feature (it would identify the company). Accepts bare domains or whole addresses, any case.

    Returns
    -------
    pandas.Series
        Nullable ``boolean``, index-aligned; ``<NA>`` where the domain is missing or blank.
    """
    flags = free_mail_flags(pa.array(domains.astype("str").array))
    return pd.Series(pd.array(flags, dtype="Float64").astype("boolean"), index=domains.index, name="is_free_mail")
