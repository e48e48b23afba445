"""The demo generator's world: companies, their technology, and the people who become leads.

Everything here is drawn with vectorised numpy from one seed, so a million leads take seconds. Besides
the observable columns (firmographics, job titles, channels, e-mail domains) each lead carries the
generator's *latent* traits, which later drive its funnel path and its engagement:

``fit``
    How well the company matches the ideal customer profile. A non-linear mix of size (a plateau from
    about 150 employees, a dip for giants), region (US East, Europe, Israel), digital transformation and
    a Chief Digital Officer, business model, branches, paying customers, industry and technographics
    (a subscription billing tool or a CRM helps, a competitor's billing tool hurts), plus an unobserved
    part (pain, budget) that no column shows.
``authority``
    Decision power for this purchase from seniority x department, with interactions: a CEO decides in a
    small company and not in an enterprise; students, interns and competitors are junk.
``intent``
    Buying intent: a lead part, an account part shared by a buying committee (an account "in market"),
    and a channel part. It shows only indirectly, through engagement.
``tau_days``, ``window_start_days``, ``window_days``, ``window_strength``
    The activity profile: interest fades after capture with time constant ``tau_days``; some leads later
    enter a buying window, during which they engage and advance more. The window may start after any
    snapshot, so no model can see it coming; the truth can.

Module constants were calibrated by simulation against ``shared/spec/funnel.md`` (see
``leadscore.features.synthetic.demo``); they describe one fictional invoicing-software market, nothing else.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leadscore.features.contract import LEAD_CHANNELS, REGIONS
from leadscore.features.timestamps import NS_PER_DAY

NS_PER_SECOND = 10**9

# --- channels ------------------------------------------------------------------------------------------
# Share of MCLs per acquisition channel, led by LinkedIn as in the worked example.
CHANNEL_SHARES = {
    "linkedin": 0.425, "email": 0.265, "facebook": 0.168, "google_search": 0.100, "tiktok": 0.020,
    "referral": 0.010, "organic": 0.007, "webinar": 0.003, "event": 0.002, "other": 0.000,
}
# How strongly each channel's audience leans to ICP accounts (account choice weight exp(gamma * fit)).
CHANNEL_ICP_LEAN = {
    "linkedin": 0.6, "email": 0.35, "facebook": -0.1, "google_search": -0.1, "tiktok": -0.4,
    "referral": 0.9, "organic": 0.2, "webinar": 0.4, "event": 0.4, "other": 0.0,
}
# Latent intent offset by channel (search and referrals arrive with a need, TikTok rarely).
CHANNEL_INTENT = {
    "linkedin": 0.10, "email": 0.0, "facebook": 0.0, "google_search": 0.0, "tiktok": -0.6,
    "referral": 0.5, "organic": 0.2, "webinar": 0.3, "event": 0.2, "other": 0.0,
}
# Unobserved deal quality by channel (budget and need that sales discovers), used by sales stages.
CHANNEL_QUALITY = {
    "linkedin": 0.25, "email": 0.15, "facebook": 0.3, "google_search": -0.9, "tiktok": -0.8,
    "referral": 0.6, "organic": 0.1, "webinar": 0.2, "event": 0.1, "other": 0.0,
}
# Share of each channel's leads that cannot be matched to a company.
CHANNEL_NO_ACCOUNT = {
    "linkedin": 0.05, "email": 0.06, "facebook": 0.12, "google_search": 0.22, "tiktok": 0.40,
    "referral": 0.03, "organic": 0.12, "webinar": 0.08, "event": 0.06, "other": 0.10,
}
CHANNEL_FREE_MAIL = {
    "linkedin": 0.07, "email": 0.08, "facebook": 0.22, "google_search": 0.28, "tiktok": 0.55,
    "referral": 0.05, "organic": 0.15, "webinar": 0.10, "event": 0.08, "other": 0.15,
}
CAMPAIGNS = {
    "linkedin": ("li_cfo_invoicing_pain", "li_finance_leaders_ebook", "li_retarget_pricing", "li_it_integration"),
    "email": ("em_nurture_invoicing", "em_newsletter", "em_webinar_invite"),
    "facebook": ("fb_ebook_invoicing", "fb_lookalike_smb", "fb_retarget"),
    "google_search": ("gs_brand", "gs_invoicing_software", "gs_competitor_terms"),
    "tiktok": ("tt_awareness",),
    "referral": (),
    "organic": (),
    "webinar": ("wb_automating_ar",),
    "event": ("ev_saas_finance_summit",),
    "other": (),
}

# --- companies -----------------------------------------------------------------------------------------
REGION_SHARES = {
    "us_east": 0.33, "us_west": 0.14, "europe": 0.24, "israel": 0.06, "apac": 0.11, "latam": 0.07, "other": 0.05,
}
REGION_FIT = {"us_east": 0.6, "us_west": 0.0, "europe": 0.35, "israel": 0.45, "apac": -0.3, "latam": -0.4, "other": -0.5}
REGION_COUNTRIES = {
    "us_east": (("US",), (1.0,)),
    "us_west": (("US",), (1.0,)),
    "europe": (("GB", "DE", "FR", "NL", "ES", "IE", "SE", "IT", "PL"), (0.26, 0.2, 0.14, 0.1, 0.08, 0.07, 0.06, 0.05, 0.04)),
    "israel": (("IL",), (1.0,)),
    "apac": (("AU", "SG", "IN", "JP"), (0.35, 0.2, 0.3, 0.15)),
    "latam": (("BR", "MX", "AR", "CO"), (0.45, 0.3, 0.15, 0.1)),
    "other": (("CA", "ZA", "AE", "TR", "NG"), (0.5, 0.15, 0.15, 0.12, 0.08)),
}
COUNTRY_TLD = {"US": "com", "GB": "co.uk", "DE": "de", "FR": "fr", "NL": "nl", "IL": "co.il", "AU": "com.au", "IN": "in"}
# (industry, share, P(b2b), P(b2c), P(b2b2c), fit)
INDUSTRIES = (
    ("software", 0.22, 0.75, 0.05, 0.20, 0.30),
    ("fintech", 0.08, 0.50, 0.15, 0.35, 0.25),
    ("ecommerce", 0.09, 0.15, 0.60, 0.25, 0.10),
    ("professional_services", 0.10, 0.85, 0.05, 0.10, 0.05),
    ("healthcare", 0.08, 0.40, 0.30, 0.30, -0.10),
    ("manufacturing", 0.10, 0.80, 0.05, 0.15, 0.00),
    ("retail", 0.07, 0.10, 0.75, 0.15, -0.05),
    ("education", 0.06, 0.30, 0.50, 0.20, -0.35),
    ("media", 0.06, 0.35, 0.40, 0.25, 0.00),
    ("logistics", 0.06, 0.80, 0.05, 0.15, 0.05),
    ("telecom", 0.04, 0.40, 0.40, 0.20, 0.00),
    ("government", 0.04, 0.90, 0.05, 0.05, -0.50),
)
MODEL_FIT = np.array([0.3, -0.25, 0.2])  # b2b, b2c, b2b2c
DT_FIT = np.array([-0.3, 0.25, 0.3])  # none, in_progress, done
NAME_HEADS = (
    "blue", "north", "apex", "nova", "terra", "quant", "bright", "pioneer", "silver", "lumen", "cedar", "harbor",
    "summit", "vertex", "delta", "orbit", "river", "stone", "maple", "iron", "cobalt", "echo", "atlas", "zen",
)
NAME_TAILS = (
    "soft", "labs", "systems", "works", "cloud", "logic", "hub", "data", "pay", "ware", "ly", "stack", "grid",
    "point", "base", "flow", "line", "bridge",
)
# (technology, category, base share, size slope, fit contribution)
TECHNOLOGIES = (
    ("salesforce", "crm", 0.22, 0.6, 0.25), ("hubspot", "crm", 0.22, 0.0, 0.25),
    ("pipedrive", "crm", 0.07, -0.3, 0.0), ("zoho_crm", "crm", 0.06, -0.2, 0.0),
    ("dynamics_365", "crm", 0.05, 0.5, 0.1),
    ("netsuite", "erp", 0.11, 0.3, 0.2), ("sap", "erp", 0.05, 0.9, 0.0), ("oracle_erp", "erp", 0.04, 0.8, 0.0),
    ("quickbooks", "erp", 0.18, -0.6, 0.0), ("xero", "erp", 0.09, -0.4, 0.0), ("odoo", "erp", 0.04, -0.1, 0.0),
    ("stripe", "billing", 0.28, 0.0, 0.3), ("chargebee", "billing", 0.07, 0.1, 0.3),
    ("zuora", "billing", 0.04, 0.7, 0.3), ("recurly", "billing", 0.04, 0.0, 0.3),
    ("paddle", "billing", 0.03, -0.2, 0.2), ("invoxa", "billing", 0.03, 0.0, -0.8),
    ("aws", "cloud", 0.45, 0.3, 0.05), ("azure", "cloud", 0.28, 0.4, 0.05), ("gcp", "cloud", 0.18, 0.2, 0.05),
    ("google_analytics", "analytics", 0.55, 0.0, 0.0), ("snowflake", "analytics", 0.09, 0.7, 0.1),
    ("tableau", "analytics", 0.09, 0.5, 0.0), ("looker", "analytics", 0.06, 0.3, 0.0),
    ("mixpanel", "analytics", 0.07, 0.0, 0.0),
    ("okta", "security", 0.11, 0.7, 0.05), ("crowdstrike", "security", 0.07, 0.8, 0.0),
    ("cloudflare", "security", 0.18, 0.1, 0.0), ("zscaler", "security", 0.04, 0.9, 0.0),
    ("marketo", "marketing_automation", 0.06, 0.6, 0.05), ("pardot", "marketing_automation", 0.05, 0.5, 0.05),
    ("mailchimp", "marketing_automation", 0.18, -0.5, 0.0),
    ("hubspot_marketing", "marketing_automation", 0.14, 0.0, 0.05),
    ("zendesk", "support", 0.14, 0.2, 0.0), ("intercom", "support", 0.09, -0.1, 0.0),
)

# --- people --------------------------------------------------------------------------------------------
# (persona, authority, junk kind, base share, extra share weight on LinkedIn, on social/consumer channels,
#  title variants: the first is the most common spelling)
PERSONAS = (
    ("cfo", 1.3, 0, 0.045, 1.6, 0.5, ("CFO", "Chief Financial Officer", "cfo", "Chief Finance Officer", "Group CFO", "CFO / Co-founder")),
    ("vp_finance", 1.2, 0, 0.05, 1.5, 0.5, ("VP Finance", "VP, Finance", "Vice President of Finance", "SVP Finance", "vp finance")),
    ("dir_finance", 1.0, 0, 0.075, 1.4, 0.6, ("Finance Director", "Director of Finance", "Head of Finance", "Dir. Finance", "Financial Controller", "Controller", "Head of Billing")),
    ("mgr_finance", 0.6, 0, 0.09, 1.2, 0.7, ("Finance Manager", "Accounting Manager", "Billing Manager", "AR Manager", "FP&A Manager", "Revenue Operations Manager")),
    ("ic_finance", 0.1, 0, 0.10, 0.9, 1.0, ("Sr. Accountant", "Senior Accountant", "Accountant", "AP Specialist", "Accounts Receivable Clerk", "Billing Specialist", "Financial Analyst")),
    ("cio", 0.9, 0, 0.025, 1.4, 0.5, ("CIO", "Chief Information Officer", "CTO", "Chief Technology Officer", "Chief Digital Officer")),
    ("vp_it", 0.8, 0, 0.025, 1.3, 0.5, ("VP IT", "VP of IT", "VP Engineering", "Vice President, Information Technology")),
    ("dir_it", 0.7, 0, 0.04, 1.3, 0.6, ("Dir. of IT", "IT Director", "Director of IT", "Head of IT", "Director, Information Systems")),
    ("mgr_it", 0.35, 0, 0.05, 1.1, 0.8, ("IT Manager", "IT Security Manager", "Systems Manager", "ERP Manager", "Infrastructure Manager")),
    ("ic_it", -0.1, 0, 0.06, 0.9, 1.0, ("Software Engineer", "Systems Administrator", "Security Analyst", "Developer", "DevOps Engineer", "IT Support")),
    ("ceo", 0.9, 0, 0.05, 1.2, 0.8, ("CEO", "Founder", "Co-Founder & CEO", "Owner", "President", "Managing Director", "COO")),
    ("mkt_lead", 0.0, 0, 0.04, 1.1, 0.8, ("Head of Marketing", "head of marketing", "CMO", "VP Marketing", "Marketing Director")),
    ("mkt_ic", -0.3, 0, 0.06, 0.8, 1.3, ("Marketing Manager", "Content Marketing Manager", "Marketing Specialist", "Growth Marketer")),
    ("sales", -0.4, 0, 0.05, 0.9, 1.0, ("Sales Manager", "Account Executive", "VP Sales", "Business Development Rep", "SDR")),
    ("ops", 0.3, 0, 0.045, 1.0, 0.9, ("Operations Manager", "Head of Operations", "Procurement Manager", "Office Manager")),
    ("other", -0.5, 0, 0.07, 0.8, 1.2, ("HR Manager", "Recruiter", "Consultant", "Analyst", "Project Manager", "Customer Success Manager")),
    ("intern", -2.2, 1, 0.03, 0.4, 3.0, ("Marketing Intern", "Finance Intern", "Intern", "Summer Intern")),
    ("student", -2.5, 1, 0.04, 0.3, 4.0, ("Student", "student", "MBA Student", "Accounting Student", "Graduate Student")),
    ("unknown", -0.4, 0, 0.05, 0.8, 1.2, ()),
)
SOCIAL_CHANNELS = ("facebook", "tiktok")
FREE_MAIL = ("gmail.com", "yahoo.com", "outlook.com", "hotmail.com", "icloud.com", "proton.me", "aol.com", "gmx.de")
FREE_MAIL_SHARES = (0.55, 0.1, 0.12, 0.08, 0.06, 0.03, 0.02, 0.04)
COMPETITOR_DOMAINS = ("invoxa.com", "billwise.io", "quickledger.co", "payslate.com")
JUNK_NONE, JUNK_STUDENT, JUNK_COMPETITOR = 0, 1, 2


@dataclass
class Accounts:
    """Companies as parallel numpy arrays (index = account number)."""

    employees: np.ndarray
    annual_revenue_usd: np.ndarray
    region: np.ndarray  # index into REGIONS
    hq_country: np.ndarray  # object array of ISO codes
    industry: np.ndarray  # index into INDUSTRIES
    business_model: np.ndarray  # 0 b2b, 1 b2c, 2 b2b2c
    paying_customers: np.ndarray
    is_public: np.ndarray
    company_stage: np.ndarray  # 0 startup, 1 scaleup, 2 enterprise
    has_cdo: np.ndarray
    digital_transformation: np.ndarray  # 0 none, 1 in_progress, 2 done
    branch_count: np.ndarray
    domain: np.ndarray  # object array
    tech: np.ndarray  # bool (n_accounts, len(TECHNOLOGIES))
    fit_observable: np.ndarray
    fit: np.ndarray  # observable + unobserved need
    in_market: np.ndarray

    def __len__(self) -> int:
        return len(self.employees)


@dataclass
class People:
    """Leads as parallel numpy arrays, in capture order, with their latent traits."""

    captured_ns: np.ndarray
    channel: np.ndarray  # index into LEAD_CHANNELS
    campaign: np.ndarray  # object array, None where no campaign
    account: np.ndarray  # account number or -1
    persona: np.ndarray  # index into PERSONAS
    job_title: np.ndarray  # object array, None where missing
    country: np.ndarray  # object array
    email_domain: np.ndarray  # object array
    email_consent: np.ndarray
    junk: np.ndarray  # JUNK_NONE / JUNK_STUDENT / JUNK_COMPETITOR
    free_mail: np.ndarray
    fit: np.ndarray
    authority: np.ndarray
    intent: np.ndarray
    responsiveness: np.ndarray
    quality: np.ndarray
    deal_usd: np.ndarray
    tau_days: np.ndarray
    window_start_days: np.ndarray
    window_days: np.ndarray
    window_strength: np.ndarray

    def __len__(self) -> int:
        return len(self.captured_ns)


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 1.0 / (1.0 + np.exp(-x))


def _pick(rng: np.random.Generator, shares: dict[str, float] | tuple, n: int) -> np.ndarray:
    p = np.asarray(list(shares.values()) if isinstance(shares, dict) else shares, dtype=float)
    return rng.choice(len(p), size=n, p=p / p.sum())


def draw_accounts(n_accounts: int, data_end_ns: int, rng: np.random.Generator) -> tuple[Accounts, np.ndarray]:
    """Draw ``n_accounts`` companies; returns them and each technology's first-seen time (ns, -1 = null)."""
    n = n_accounts
    log_emp = rng.normal(np.log(220), 1.45, n)
    employees = np.clip(np.round(np.exp(log_emp)), 2, 250_000)
    log_emp = np.log(employees)
    revenue = np.round(employees * np.exp(rng.normal(np.log(180_000), 0.55, n)), -3)
    region = _pick(rng, REGION_SHARES, n)
    hq_country = np.empty(n, dtype=object)
    for r, name in enumerate(REGIONS):
        mask = region == r
        countries, shares = REGION_COUNTRIES[name]
        hq_country[mask] = np.asarray(countries, dtype=object)[_pick(rng, shares, int(mask.sum()))]
    industry = _pick(rng, tuple(i[1] for i in INDUSTRIES), n)
    model_p = np.array([i[2:5] for i in INDUSTRIES])[industry]
    business_model = (rng.random(n)[:, None] > np.cumsum(model_p, axis=1)).sum(axis=1).clip(0, 2)
    customers_median = np.where(business_model == 1, 40.0, np.where(business_model == 2, 8.0, 1.2)) * employees
    paying_customers = np.round(np.exp(rng.normal(np.log(customers_median), 0.9)))
    size_z = (log_emp - np.log(200)) / 1.5
    is_public = rng.random(n) < _sigmoid(-3.2 + 1.6 * (log_emp - np.log(1000)))
    stage_score = log_emp + rng.normal(0, 0.6, n)
    company_stage = np.where(stage_score < np.log(90), 0, np.where(stage_score < np.log(1500), 1, 2))
    has_cdo = rng.random(n) < _sigmoid(-1.9 + 0.7 * size_z)
    dt_score = rng.normal(0, 1, n) + 1.1 * has_cdo + 0.3 * size_z
    digital_transformation = np.where(dt_score < -0.1, 0, np.where(dt_score < 1.0, 1, 2))
    branch_count = 1 + rng.poisson(np.exp(0.55 * (log_emp - np.log(60))).clip(0, 40))
    names = np.char.add(
        np.char.add(np.asarray(NAME_HEADS)[rng.integers(0, len(NAME_HEADS), n)], np.asarray(NAME_TAILS)[rng.integers(0, len(NAME_TAILS), n)]),
        np.char.mod("%x", np.arange(n) * 7 + 11),
    )
    tld = np.asarray([COUNTRY_TLD.get(c, "com") for c in hq_country], dtype=object)
    domain = np.char.add(np.char.add(names.astype(str), "."), tld.astype(str)).astype(object)

    base = np.array([t[2] for t in TECHNOLOGIES])
    slope = np.array([t[3] for t in TECHNOLOGIES])
    logit = np.log(base / (1 - base))[None, :] + slope[None, :] * size_z[:, None] + 0.25 * (digital_transformation[:, None] - 1)
    tech = rng.random((n, len(TECHNOLOGIES))) < _sigmoid(logit)
    age_days = np.exp(rng.normal(np.log(420), 0.8, tech.shape))
    first_seen_ns = data_end_ns - (age_days * NS_PER_DAY).astype(np.int64)
    first_seen_ns = first_seen_ns - first_seen_ns % NS_PER_DAY
    first_seen_ns[rng.random(tech.shape) < 0.15] = -1

    tech_fit = tech.astype(float) @ np.array([t[4] for t in TECHNOLOGIES])
    tech_names = [t[0] for t in TECHNOLOGIES]
    billing = tech[:, [tech_names.index(t) for t in ("stripe", "chargebee", "zuora", "recurly", "paddle")]].any(axis=1)
    quickbooks = tech[:, tech_names.index("quickbooks")]
    size_fit = 1.25 * _sigmoid(2.2 * (log_emp - np.log(130))) - 0.35 * _sigmoid(2.0 * (log_emp - np.log(8000))) - 0.65
    region_fit = np.array([REGION_FIT[r] for r in REGIONS])[region]
    icp_core = (size_fit > 0.2) & np.isin(region, [REGIONS.index("us_east"), REGIONS.index("europe"), REGIONS.index("israel")])
    fit_observable = (
        size_fit
        + region_fit
        + DT_FIT[digital_transformation]
        + 0.25 * has_cdo
        + 0.2 * (has_cdo & (digital_transformation == 1))
        + MODEL_FIT[business_model]
        + 0.25 * (paying_customers > 1000)
        + 0.12 * np.minimum(np.log1p(branch_count), 3.0)
        + np.array([i[5] for i in INDUSTRIES])[industry]
        + np.minimum(tech_fit, 0.7)
        + 0.25 * (quickbooks & (employees > 150)) - 0.1 * (quickbooks & (employees <= 150))
        + 0.3 * icp_core
        + 0.15 * billing * icp_core
    )
    fit = fit_observable + rng.normal(0, 0.45, n)
    in_market = rng.random(n) < 0.12
    accounts = Accounts(
        employees=employees, annual_revenue_usd=revenue, region=region, hq_country=hq_country,
        industry=industry, business_model=business_model, paying_customers=paying_customers,
        is_public=is_public, company_stage=company_stage, has_cdo=has_cdo,
        digital_transformation=digital_transformation, branch_count=branch_count.astype(float),
        domain=domain, tech=tech, fit_observable=fit_observable, fit=fit, in_market=in_market,
    )
    return accounts, first_seen_ns


def draw_capture_times(n_leads: int, start_ns: int, data_end_ns: int, rng: np.random.Generator) -> np.ndarray:
    """Capture times (ns, sorted) over the window, with growth, seasonality and a weekday pattern."""
    n_days = (data_end_ns - start_ns) // NS_PER_DAY
    days = start_ns + np.arange(n_days, dtype=np.int64) * NS_PER_DAY
    stamps = days.astype("datetime64[ns]")
    month = stamps.astype("datetime64[M]").astype(int) % 12
    weekday = (stamps.astype("datetime64[D]").astype(int) + 3) % 7  # 0 = Monday
    season = np.array([1.05, 1.05, 1.1, 1.0, 1.0, 0.95, 0.85, 0.75, 1.05, 1.1, 1.0, 0.75])[month]
    week = np.array([1.05, 1.1, 1.1, 1.05, 0.9, 0.35, 0.3])[weekday]
    trend = 1.0 + 0.35 * np.arange(n_days) / n_days
    weight = season * week * trend
    day = rng.choice(n_days, size=n_leads, p=weight / weight.sum())
    hour = np.where(rng.random(n_leads) < 0.75, rng.normal(14.5, 3.2, n_leads), rng.uniform(0, 24, n_leads)) % 24
    captured = days[day] + (hour * 3600).astype(np.int64) * NS_PER_SECOND
    return np.sort(captured)


def business_time_after(start_ns: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A time in (start, start + 1 day], at a working hour where the day allows, whole seconds."""
    hour = np.where(rng.random(len(start_ns)) < 0.85, rng.normal(15.0, 2.5, len(start_ns)), rng.uniform(0, 24, len(start_ns))) % 24
    t = start_ns - start_ns % NS_PER_DAY + (hour * 3600).astype(np.int64) * NS_PER_SECOND
    return np.where(t <= start_ns, t + NS_PER_DAY, t)


def draw_people(
    n_leads: int,
    accounts: Accounts,
    start_ns: int,
    data_end_ns: int,
    rng: np.random.Generator,
) -> People:
    """Draw the leads: capture time, channel, company, persona, contact details and latent traits."""
    n = n_leads
    captured = draw_capture_times(n, start_ns, data_end_ns, rng)
    channel = _pick(rng, CHANNEL_SHARES, n)
    channel_names = np.asarray(LEAD_CHANNELS)
    per_channel = {name: np.array([d[name] for name in LEAD_CHANNELS]) for name, d in (
        ("lean", CHANNEL_ICP_LEAN), ("intent", CHANNEL_INTENT), ("quality", CHANNEL_QUALITY),
        ("no_account", CHANNEL_NO_ACCOUNT), ("free_mail", CHANNEL_FREE_MAIL),
    )}

    # Company: ICP-leaning channels pick ICP accounts more; bigger companies bring more people, so some
    # accounts have a buying committee of several leads.
    account = np.full(n, -1, dtype=np.int64)
    has_account = rng.random(n) >= per_channel["no_account"][channel]
    size_weight = np.power(accounts.employees, 0.3)
    for c in range(len(LEAD_CHANNELS)):
        members = np.flatnonzero(has_account & (channel == c))
        if len(members):
            w = size_weight * np.exp(per_channel["lean"][c] * accounts.fit_observable)
            account[members] = rng.choice(len(accounts), size=len(members), p=w / w.sum())
    acc = np.where(account >= 0, account, 0)
    matched = account >= 0

    # Persona by channel: LinkedIn brings finance and IT leaders, consumer social brings students.
    share = np.array([p[3] for p in PERSONAS])
    linkedin_w = np.array([p[4] for p in PERSONAS])
    social_w = np.array([p[5] for p in PERSONAS])
    persona = np.empty(n, dtype=np.int64)
    for c, name in enumerate(channel_names):
        members = np.flatnonzero(channel == c)
        w = share * (linkedin_w if name == "linkedin" else social_w if name in SOCIAL_CHANNELS else np.sqrt(social_w) if name == "google_search" else 1.0)
        persona[members] = rng.choice(len(PERSONAS), size=len(members), p=w / w.sum())
    job_title = np.full(n, None, dtype=object)
    variant_u = rng.random(n)
    case_u = rng.random(n)
    for k, p in enumerate(PERSONAS):
        members = np.flatnonzero(persona == k)
        variants = p[6]
        if not variants or not len(members):
            continue
        w = 1.0 / np.arange(1, len(variants) + 1) ** 0.8
        v = np.searchsorted(np.cumsum(w / w.sum()), variant_u[members], side="right").clip(0, len(variants) - 1)
        titles = np.asarray(variants, dtype=object)[v]
        lower = case_u[members] < 0.07
        upper = (case_u[members] >= 0.07) & (case_u[members] < 0.09)
        titles[lower] = [t.lower() for t in titles[lower]]
        titles[upper] = [t.upper() for t in titles[upper]]
        job_title[members] = titles
    authority = np.array([p[1] for p in PERSONAS])[persona]
    is_ceo = persona == [p[0] for p in PERSONAS].index("ceo")
    employees = np.where(matched, accounts.employees[acc], 30.0)
    # A CEO signs in a small company, not in an enterprise; the finance leader matters more as size grows.
    authority = authority + is_ceo * (0.5 - 0.35 * (np.log(employees) - np.log(100))).clip(-0.9, 0.5)
    finance_lead = np.isin(persona, [0, 1, 2])
    authority = authority + finance_lead * 0.15 * (np.log(employees) > np.log(150))
    junk = np.where(np.array([p[2] for p in PERSONAS])[persona] == 1, JUNK_STUDENT, JUNK_NONE)

    # Contact details.
    free_mail = rng.random(n) < np.where(junk == JUNK_STUDENT, 0.75, per_channel["free_mail"][channel])
    free_mail |= ~matched & (rng.random(n) < 0.55)
    competitor = rng.random(n) < 0.01
    junk = np.where(competitor, JUNK_COMPETITOR, junk)
    email_domain = np.where(matched, accounts.domain[acc], None)
    unknown_company = ~matched & ~free_mail
    n_unknown = int(unknown_company.sum())
    email_domain[unknown_company] = np.char.add(
        np.asarray(NAME_HEADS)[rng.integers(0, len(NAME_HEADS), n_unknown)],
        np.char.add(np.char.mod("%d", rng.integers(10, 9999, n_unknown)), ".com"),
    ).astype(object)
    email_domain[free_mail] = np.asarray(FREE_MAIL, dtype=object)[_pick(rng, FREE_MAIL_SHARES, int(free_mail.sum()))]
    email_domain[competitor] = np.asarray(COMPETITOR_DOMAINS, dtype=object)[rng.integers(0, len(COMPETITOR_DOMAINS), int(competitor.sum()))]
    email_domain[rng.random(n) < 0.02] = None
    email_consent = rng.random(n) < np.where(channel_names[channel] == "email", 0.97, 0.84)

    region_of_lead = np.where(matched, accounts.region[acc], _pick(rng, REGION_SHARES, n))
    country = np.where(matched, accounts.hq_country[acc], None).astype(object)
    moved = ~matched | (rng.random(n) < 0.12)
    for r, name in enumerate(REGIONS):
        members = np.flatnonzero(moved & (region_of_lead == r))
        countries, shares = REGION_COUNTRIES[name]
        country[members] = np.asarray(countries, dtype=object)[_pick(rng, shares, len(members))]
    country[rng.random(n) < 0.03] = None

    campaign = np.full(n, None, dtype=object)
    quarter = captured.astype("datetime64[ns]").astype("datetime64[M]").astype(int) // 3
    for c, name in enumerate(channel_names):
        options = CAMPAIGNS[name]
        members = np.flatnonzero(channel == c)
        if options and len(members):
            pick = (rng.integers(0, len(options), len(members)) + quarter[members]) % len(options)
            campaign[members] = np.asarray(options, dtype=object)[pick]

    # Latent traits.
    fit = np.where(matched, accounts.fit[acc], rng.normal(-0.6, 0.6, n)) - 0.4 * free_mail
    in_market = matched & accounts.in_market[acc]
    intent = 0.85 * rng.normal(0, 1, n) + 0.9 * in_market + per_channel["intent"][channel]
    responsiveness = 0.6 * intent + rng.normal(0, 0.8, n)
    quality = per_channel["quality"][channel] + rng.normal(0, 0.3, n)
    deal_usd = np.exp(np.log(14_000) + 0.5 * (np.log(employees) - np.log(250)) + rng.normal(0, 0.55, n))
    tau_days = 12.0 * np.exp(rng.normal(0, 0.35, n))
    has_window = rng.random(n) < 0.33 + 0.35 * in_market
    window_start = 8.0 + 230.0 * rng.beta(1.2, 2.0, n)
    window_days = np.minimum(12.0 + rng.exponential(28.0, n), 355.0 - window_start)
    window_strength = np.where(has_window, 0.3 * np.exp(rng.normal(0, 0.3, n) + 0.3 * intent), 0.0)
    return People(
        captured_ns=captured, channel=channel, campaign=campaign, account=account, persona=persona,
        job_title=job_title, country=country, email_domain=email_domain, email_consent=email_consent,
        junk=junk, free_mail=free_mail, fit=fit, authority=authority, intent=intent,
        responsiveness=responsiveness, quality=quality, deal_usd=deal_usd, tau_days=tau_days,
        window_start_days=window_start, window_days=window_days, window_strength=window_strength,
    )
