"""The feature catalogue: every model input, what it means, and how to say it to a marketer.

One declaration drives the builder's column order, ``leadscore features --list``, the model's feature
spec and the words of the scorer's reasons. ``group`` says which part of the lead's picture a feature
belongs to (fit, persona, engagement …); ``story`` joins features that tell one story (all pricing-page
counts are "pricing_interest") so reasons can add their contributions up instead of repeating
themselves; ``template`` phrases one value for a person.

Every window is in the feature's name and ends at the row's ``as_of`` inclusive: ``n_pricing_views_30d``
counts pricing-page views with ``as_of - 30 days < occurred_at <= as_of``.
"""

from __future__ import annotations

import hashlib
import json
import math
import numbers
import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Literal

FeatureKind = Literal["numeric", "categorical", "flag"]
GROUPS = ("fit", "persona", "technographic", "acquisition", "engagement", "email", "funnel", "account", "export")
ENGAGEMENT_WINDOWS_DAYS = (7, 30, 90)
# Technology categories turned into has_<category> flags (the contract's examples; matching is on the
# lower-cased category text, so "CRM" and "crm" are one category).
TECHNOLOGY_CATEGORIES = ("crm", "erp", "billing", "cloud", "analytics", "security", "marketing_automation")


@dataclass(frozen=True)
class FeatureSpec:
    """One feature.

    Attributes
    ----------
    name
        Column name; windows and units are in it (``n_`` counts, ``days_since_`` ages, ``_30d`` windows).
    description
        One line saying exactly what is counted, for ``leadscore features --list`` and the model card.
    group
        One of :data:`GROUPS`; serving phrases reasons per group.
    kind
        ``numeric`` (float), ``categorical`` (text) or ``flag`` (1.0 / 0.0, NaN when unknown).
    story
        Features that tell one story share it (raw and banded company size are "company_size").
    template
        ``str.format`` text with ``{value}`` for the lead's value, e.g. "Company size {value:,.0f}
        employees". Flags are phrased with ``{value}`` given as "yes" / "no" by :func:`phrase`.
    missing
        Words for a missing value; default "<the template's subject>: not given" ("Industry: not
        given"). Features whose values share one source say the same ("Job title: not given" for
        seniority, department and job title), so reasons can say it once.
    zero
        Words for a value that reads as zero; by default a count reads "No …" ("No pricing-page visits
        in the last 30 days") and "0 days ago" reads "today" ("Captured today").
    below_zero
        Template for a negative value, given as its size ("1.5 fewer activities this week …").
    words
        Category code -> the whole phrase ("c_level" -> "Seniority: C-level"); other codes go through
        ``template`` with underscores read as spaces.
    calendar
        The feature reads the calendar (month, weekday of capture): it says when a lead came, not who
        it is or what it did, so it is never offered as a reason unless the model's spec states a cause
        (``calendar_cause``, written by the leakage audit).
    """

    name: str
    description: str
    group: str
    kind: FeatureKind
    story: str
    template: str
    missing: str = ""
    zero: str = ""
    below_zero: str = ""
    words: tuple[tuple[str, str], ...] = ()
    calendar: bool = False


def _spec(name: str, group: str, kind: FeatureKind, story: str, description: str, template: str,
          **wording: object) -> FeatureSpec:
    return FeatureSpec(name=name, description=description, group=group, kind=kind, story=story, template=template,
                       **wording)  # type: ignore[arg-type]


def _value_words(template: str, words: dict[str, str]) -> tuple[tuple[str, str], ...]:
    """Whole phrases for category codes whose value reads better in other words ("vp" -> "VP")."""
    return tuple((code, template.format(value=text)) for code, text in words.items())


# What a missing value means, for features that share a source: said once, the same way.
NO_JOB_TITLE = "Job title: not given"
NO_COMPANY = "Company: not given"
NO_ACTIVITY_HISTORY = "Activity history: not given"
NO_STAGE_HISTORY = "Stage history: not given"
NO_TECHNOLOGIES = "Technologies in use: not given"
NOT_GIVEN = "not given"


def _engagement() -> list[FeatureSpec]:
    history = {"missing": NO_ACTIVITY_HISTORY}
    specs: list[FeatureSpec] = []
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_activities_{w}d", "engagement", "numeric", "activity_level",
            f"Lead-initiated events (everything but email_sent and unsubscribe) in the last {w} days.",
            f"{{value:.0f}} activities in the last {w} days", zero=f"No activity in the last {w} days", **history,
        ))
    specs.append(_spec(
        "n_activities_to_date", "engagement", "numeric", "activity_level",
        "Lead-initiated events (everything but email_sent and unsubscribe) up to as_of.",
        "{value:.0f} activities in total", zero="No activity yet", **history,
    ))
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_page_views_{w}d", "engagement", "numeric", "web_visits",
            f"Web page views of any page type in the last {w} days.",
            f"{{value:.0f}} page views in the last {w} days", **history,
        ))
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_pricing_views_{w}d", "engagement", "numeric", "pricing_interest",
            f"Pricing-page views in the last {w} days.",
            f"{{value:.0f}} pricing-page visits in the last {w} days", **history,
        ))
    per_page = (
        ("product", (30, 90), "product_interest", "product-page visits"),
        ("contact", (30, 90), "contact_interest", "contact-page visits"),
        ("docs", (90,), "technical_evaluation", "documentation visits"),
        ("careers", (90,), "job_seeker", "careers-page visits"),
    )
    for page, windows, story, words in per_page:
        for w in windows:
            specs.append(_spec(
                f"n_{page}_views_{w}d", "engagement", "numeric", story,
                f"Views of {page} pages in the last {w} days.",
                f"{{value:.0f}} {words} in the last {w} days", **history,
            ))
    per_type = (
        ("form_submits", "form_submit", (30, 90), "form_submissions", "forms submitted"),
        ("content_downloads", "content_download", (30, 90), "content_interest", "content downloads"),
        ("webinar_registers", "webinar_register", (90,), "webinars", "webinar registrations"),
        ("webinar_attends", "webinar_attend", (90,), "webinars", "webinars attended"),
        ("demo_requests", "demo_request", (30, 90), "demo_interest", "demo requests"),
        ("trial_starts", "trial_start", (90,), "trial", "trials started"),
        ("meetings_booked", "meeting_booked", (90,), "meetings", "meetings booked"),
        ("ad_clicks", "ad_click", (30,), "ad_response", "ad clicks"),
    )
    for name, event_type, windows, story, words in per_type:
        for w in windows:
            specs.append(_spec(
                f"n_{name}_{w}d", "engagement", "numeric", story,
                f"{event_type} events in the last {w} days.",
                f"{{value:.0f}} {words} in the last {w} days", **history,
            ))
    specs += [
        _spec(
            "days_since_last_activity", "engagement", "numeric", "recency",
            "Days from the last lead-initiated event to as_of (missing: no activity yet).",
            "Last active {value:.0f} days ago", missing="No activity yet", zero="Active today",
        ),
        _spec(
            "days_since_last_high_intent", "engagement", "numeric", "high_intent_recency",
            "Days from the last high-intent event (pricing or contact page, form submit, demo request, "
            "trial start, meeting booked) to as_of (missing: none yet).",
            "Last high-intent action {value:.0f} days ago", missing="No high-intent action yet",
            zero="High-intent action today",
        ),
        _spec(
            "n_active_days_30d", "engagement", "numeric", "engagement_frequency",
            "Distinct 24-hour periods (counted back from as_of) with a lead-initiated event in the last 30 days.",
            "Active on {value:.0f} different days in the last 30 days", zero="Not active in the last 30 days",
            **history,
        ),
        _spec(
            "n_active_days_90d", "engagement", "numeric", "engagement_frequency",
            "Distinct 24-hour periods (counted back from as_of) with a lead-initiated event in the last 90 days.",
            "Active on {value:.0f} different days in the last 90 days", zero="Not active in the last 90 days",
            **history,
        ),
        _spec(
            "activity_trend_7d", "engagement", "numeric", "momentum",
            "Activities in the last 7 days minus the weekly average of the 30 days before them "
            "(positive: speeding up).",
            "{value:.1f} more activities this week than the weekly average of the month before",
            below_zero="{value:.1f} fewer activities this week than the weekly average of the month before",
            zero="As active this week as in the month before", **history,
        ),
    ]
    return specs


def _catalogue() -> tuple[FeatureSpec, ...]:
    company = {"missing": NO_COMPANY}
    fit = [
        _spec("employees", "fit", "numeric", "company_size", "Employees of the lead's account.",
              "Company size {value:,.0f} employees", missing="Company size: not given",
              zero="Company size: no employees on record"),
        _spec("employees_band", "fit", "categorical", "company_size",
              "Employees banded: <50, 50-199, 200-999, 1,000-4,999, 5,000+.", "Company size {value} employees",
              missing="Company size: not given",
              words=_value_words("Company size {value} employees", {"<50": "under 50"})),
        _spec("annual_revenue_usd", "fit", "numeric", "company_revenue", "Annual revenue of the account in USD.",
              "Annual revenue ${value:,.0f}", missing="Annual revenue: not given"),
        _spec("industry", "fit", "categorical", "industry",
              "Industry of the account (rare industries, under 0.5% of accounts, are 'other').", "Industry: {value}"),
        _spec("region", "fit", "categorical", "geography",
              "HQ region of the account (rare values are 'other').", "Headquarters region: {value}",
              words=_value_words("Headquarters region: {value}", {
                  "us_east": "US East", "us_west": "US West", "europe": "Europe", "israel": "Israel",
                  "apac": "Asia-Pacific", "latam": "Latin America"})),
        _spec("country", "fit", "categorical", "geography",
              "Lead's country; countries with under 1% of the leads captured by as_of are 'other'.",
              "Country: {value}"),
        _spec("branch_count", "fit", "numeric", "branches", "Number of branches or offices of the account.",
              "{value:.0f} branches", missing="Number of branches: not given"),
        _spec("business_model", "fit", "categorical", "business_model", "Account business model: b2b, b2c, b2b2c.",
              "Business model: {value}",
              words=_value_words("Business model: {value}", {"b2b": "B2B", "b2c": "B2C", "b2b2c": "B2B2C"})),
        _spec("paying_customers", "fit", "numeric", "customer_base", "Paying customers of the account.",
              "{value:,.0f} paying customers", missing="Number of paying customers: not given"),
        _spec("is_public", "fit", "flag", "ownership", "The account is a publicly listed company.",
              "Publicly listed: {value}"),
        _spec("company_stage", "fit", "categorical", "company_stage", "Growth stage: startup, scaleup, enterprise.",
              "Company stage: {value}"),
        _spec("has_cdo", "fit", "flag", "digital_maturity", "The account has a dedicated Chief Digital Officer.",
              "Has a Chief Digital Officer: {value}"),
        _spec("digital_transformation", "fit", "categorical", "digital_maturity",
              "Digital-transformation status: none, in_progress, done.", "Digital transformation: {value}",
              words=_value_words("Digital transformation: {value}", {"none": "not started"})),
    ]
    # Answers to "what is your occupation?" (persona.OCCUPATIONS) are no seniority: say what they are.
    occupations = {"working_professional": "Occupation: working professional",
                   "self_employed": "Occupation: self-employed", "unemployed": "Occupation: unemployed",
                   "homemaker": "Occupation: homemaker", "retired": "Occupation: retired"}
    persona = [
        _spec("seniority", "persona", "categorical", "seniority",
              "Seniority parsed from the job title: c_level, vp, director, manager, individual_contributor, "
              "student_intern, or an occupation answer (working_professional, self_employed, unemployed, homemaker, "
              "retired).", "Seniority: {value}", missing=NO_JOB_TITLE,
              words=_value_words("Seniority: {value}", {"c_level": "C-level", "vp": "VP",
                                                         "student_intern": "student or intern"})
              + tuple(occupations.items())),
        _spec("department", "persona", "categorical", "department",
              "Department parsed from the job title: finance, it, marketing, sales, executive, other (none for an "
              "occupation answer).", "Department: {value}", missing=NO_JOB_TITLE,
              words=(("it", "Department: IT"), ("none", "Department: not given"))),
        _spec("job_title", "persona", "categorical", "job_title",
              "The job title as typed (trimmed, lower case); titles held by under 1% of the leads captured by as_of "
              "are 'other'.", "Job title: {value}", missing=NO_JOB_TITLE,
              words=(("other", "Job title: a less common one"),)),
        _spec("is_free_mail", "persona", "flag", "work_identity",
              "The lead signed up with a free consumer e-mail domain (gmail.com, yahoo.* …).",
              "Free e-mail address: {value}", missing="E-mail address: not given"),
        _spec("has_email_consent", "persona", "flag", "email_consent", "The lead may receive marketing e-mail.",
              "Marketing e-mail consent: {value}"),
    ]
    technographic = [
        _spec("n_technologies", "technographic", "numeric", "tech_stack",
              "Distinct technologies known at the account by as_of (unknown first-seen dates count).",
              "{value:.0f} known technologies in use", missing=NO_TECHNOLOGIES),
        _spec("n_technologies_new_90d", "technographic", "numeric", "tech_adoption",
              "Technologies first seen at the account in the last 90 days.",
              "{value:.0f} technologies adopted in the last 90 days", missing=NO_TECHNOLOGIES),
    ] + [
        _spec(f"has_{c}", "technographic", "flag", f"tech_{c}",
              f"The account uses a technology of category {c} by as_of.",
              f"Uses {c.replace('_', ' ').upper() if len(c) <= 3 else c.replace('_', ' ')} software: {{value}}",
              missing=NO_TECHNOLOGIES)
        for c in TECHNOLOGY_CATEGORIES
    ]
    acquisition = [
        _spec("channel", "acquisition", "categorical", "channel", "Acquisition channel of the lead.",
              "Came in through {value}", missing="Channel: not given",
              words=_value_words("Came in through {value}", {
                  "linkedin": "LinkedIn", "email": "e-mail", "facebook": "Facebook", "google_search": "Google search",
                  "tiktok": "TikTok", "referral": "a referral", "organic": "organic search", "webinar": "a webinar",
                  "event": "an event", "other": "another channel"})),
        _spec("campaign", "acquisition", "categorical", "campaign",
              "Campaign of the lead; campaigns with under 1% of the leads captured by as_of are 'other'.",
              "Campaign: {value}", words=(("other", "Campaign: a smaller one"),)),
        _spec("capture_weekday", "acquisition", "categorical", "capture_timing", "UTC weekday of capture.",
              "Captured on a {value}", missing="Capture time: not given", calendar=True),
        _spec("capture_month", "acquisition", "categorical", "capture_timing", "UTC month of capture.",
              "Captured in {value}", missing="Capture time: not given", calendar=True),
        _spec("lead_age_days", "acquisition", "numeric", "lead_age", "Days from capture to as_of.",
              "Captured {value:.0f} days ago", missing="Capture time: not given"),
    ]
    email = [
        _spec("n_emails_sent_to_date", "email", "numeric", "email_reach", "Nurture e-mails sent up to as_of.",
              "{value:.0f} nurture e-mails received", missing=NO_ACTIVITY_HISTORY),
        _spec("max_email_step_sent", "email", "numeric", "email_progress",
              "Furthest nurture-sequence step sent up to as_of.", "Reached nurture e-mail {value:.0f}",
              missing="No nurture e-mails sent yet", zero="No nurture e-mails sent yet"),
        _spec("email_open_rate", "email", "numeric", "email_engagement",
              "Share of the nurture steps sent so far that were opened (or clicked); missing if none sent.",
              "Opened {value:.0%} of nurture e-mails", missing="No nurture e-mails sent yet",
              zero="Opened none of the nurture e-mails"),
        _spec("email_click_rate", "email", "numeric", "email_engagement",
              "Share of the nurture steps sent so far that were clicked; missing if none sent.",
              "Clicked {value:.0%} of nurture e-mails", missing="No nurture e-mails sent yet",
              zero="Clicked none of the nurture e-mails"),
        _spec("n_email_opens_30d", "email", "numeric", "email_engagement", "E-mail opens in the last 30 days.",
              "{value:.0f} e-mail opens in the last 30 days", missing=NO_ACTIVITY_HISTORY),
        _spec("n_email_clicks_30d", "email", "numeric", "email_engagement", "E-mail clicks in the last 30 days.",
              "{value:.0f} e-mail clicks in the last 30 days", missing=NO_ACTIVITY_HISTORY),
        _spec("days_since_last_email_open", "email", "numeric", "email_recency",
              "Days from the last e-mail open or click to as_of (missing: none yet).",
              "Last opened an e-mail {value:.0f} days ago", missing="Never opened an e-mail",
              zero="Opened an e-mail today"),
        _spec("is_unsubscribed", "email", "flag", "unsubscribed", "The lead unsubscribed by as_of.",
              "Unsubscribed from e-mail: {value}", missing=NO_ACTIVITY_HISTORY),
    ]
    stages = {"missing": NO_STAGE_HISTORY}
    funnel = [
        _spec("current_stage", "funnel", "categorical", "funnel_stage",
              "Funnel stage at as_of (the latest entry; MCL from capture when none is recorded).",
              "Current stage: {value}", words=(("RECYCLED", "Current stage: recycled to marketing"),), **stages),
        _spec("days_in_current_stage", "funnel", "numeric", "stage_age", "Days since entering the current stage.",
              "{value:.0f} days in the current stage", zero="Entered the current stage today", **stages),
        _spec("highest_stage", "funnel", "categorical", "funnel_stage",
              "Furthest forward stage reached by as_of (MCL … WON).", "Furthest stage reached: {value}", **stages),
        _spec("n_recycles", "funnel", "numeric", "recycles", "Times the lead was recycled back to marketing by as_of.",
              "Recycled {value:.0f} times", zero="Never recycled to marketing", **stages),
    ]
    account = [
        _spec("n_account_leads", "account", "numeric", "buying_committee",
              "Other leads of the same account captured by as_of.",
              "{value:.0f} colleagues from the same company among the leads", **company),
        _spec("n_account_senior_leads", "account", "numeric", "buying_committee",
              "Other leads of the account captured by as_of at director level or above.",
              "{value:.0f} senior colleagues from the same company among the leads", **company),
        _spec("n_account_active_leads_30d", "account", "numeric", "account_engagement",
              "Other leads of the account with an activity in the last 30 days.",
              "{value:.0f} colleagues active in the last 30 days", **company),
        _spec("n_account_activities_30d", "account", "numeric", "account_engagement",
              "Activities of the account's other leads in the last 30 days.",
              "{value:.0f} activities by colleagues in the last 30 days", **company),
        _spec("n_account_activities_90d", "account", "numeric", "account_engagement",
              "Activities of the account's other leads in the last 90 days.",
              "{value:.0f} activities by colleagues in the last 90 days", **company),
        _spec("n_account_high_intent_90d", "account", "numeric", "account_intent",
              "High-intent events of the account's other leads in the last 90 days.",
              "{value:.0f} high-intent actions by colleagues in the last 90 days", **company),
        _spec("account_had_sqo", "account", "flag", "account_history",
              "Another lead of the account reached SQO or WON, or the account had an opportunity, by as_of.",
              "Company already had a sales opportunity: {value}", **company),
        _spec("account_had_won", "account", "flag", "account_history",
              "Another lead of the account reached WON, or one of its deals closed won, by as_of.",
              "Company is already a customer: {value}", **company),
        _spec("account_had_lost_deal", "account", "flag", "account_history",
              "One of the account's deals (not this lead's) closed lost by as_of.",
              "Company lost a deal before: {value}", **company),
        _spec("n_account_open_opportunities", "account", "numeric", "account_pipeline",
              "The account's deals (not this lead's) created by as_of and not closed by as_of.",
              "{value:.0f} open deals with the company", **company),
    ]
    return tuple(fit + persona + technographic + acquisition + _engagement() + email + funnel + account)


CATALOGUE: tuple[FeatureSpec, ...] = _catalogue()


def feature_names() -> list[str]:
    """Feature column names in catalogue order (the builder's and the model's column order)."""
    return [spec.name for spec in CATALOGUE]


def feature_spec(name: str) -> FeatureSpec:
    """The catalogue entry named ``name``; ``KeyError`` if there is none."""
    for spec in CATALOGUE:
        if spec.name == name:
            return spec
    raise KeyError(f"no feature named {name!r} in the catalogue")


def catalogue_hash() -> str:
    """A short digest of what the features mean (names, kinds, groups, descriptions, in order).

    A model records it at training; serving compares it to refuse features built by a different
    definition. Stories and templates are wording, not meaning, and do not change it.
    """
    payload = [[s.name, s.kind, s.group, s.description] for s in CATALOGUE]
    return hashlib.sha256(json.dumps(payload, ensure_ascii=True).encode()).hexdigest()[:16]


def phrase(spec: FeatureSpec, value: object) -> str:
    """The lead's value in words, as a person would say it (see :class:`FeatureSpec` for the wording fields).

    Flags read as "yes" / "no"; a missing value as :func:`phrase_missing` says; a category through
    ``words`` or the template (underscores read as spaces); a number through the template, with
    ``zero`` and ``below_zero`` where they apply and "1 visits" read "1 visit". A value the template
    cannot format (text where a number was expected) is shown as it is rather than failing a report.
    """
    if value is None or value is pd_na() or (isinstance(value, float) and math.isnan(value)):
        return phrase_missing(spec)
    if spec.kind == "flag":
        return spec.template.format(value="yes" if float(value) >= 0.5 else "no")
    wording = _wording(spec)
    if isinstance(value, str):
        if value in wording.words:
            return wording.words[value]
        value = value.replace("_", " ")  # category codes read as words: "individual contributor"
    try:
        return phrase_number(spec, float(value)) if isinstance(value, numbers.Real) else spec.template.format(value=value)
    except (ValueError, TypeError):
        return re.sub(r"\{value[^}]*\}", "{value}", spec.template).format(value=value)


def phrase_number(spec: FeatureSpec, value: float) -> str:
    """A number in words: ``zero`` when it reads as zero, ``below_zero`` for a negative one, else the template."""
    wording = _wording(spec)
    if wording.zero and _reads_as_zero(wording.number_format, value):
        return wording.zero
    if value < 0 and spec.below_zero:
        return agree_number(spec.below_zero.format(value=-value))
    text = spec.template.format(value=value)
    return agree_number(text) if "1 " in text else text  # only a text holding "1 " can need a singular noun


def description_subject(spec: FeatureSpec) -> str:
    """What a feature is, from its description without the asides: "Lead-initiated events in the last 7 days"."""
    return re.sub(r"\s*\(.*?\)", "", spec.description.split(";")[0]).rstrip(".")


def phrase_missing(spec: FeatureSpec) -> str:
    """Words for a missing value: ``spec.missing``, else "<the template's subject>: not given".

    The subject is the template's text up to its colon ("Lead Source: {value}" gives "Lead Source: not
    given"); a template without one falls back to the description.
    """
    if spec.missing:
        return spec.missing
    subject = spec.template.split("{", 1)[0].strip()
    if subject.endswith(":") and len(subject) > 1:
        return f"{subject} {NOT_GIVEN}"
    described = re.sub(r"\s*\(.*?\)", "", spec.description).rstrip(".")
    return f"{described}: {NOT_GIVEN}"


@dataclass(frozen=True)
class _Wording:
    words: dict[str, str]
    number_format: str | None  # the template's format spec for the value, None when it has none
    zero: str  # words for a value that reads as zero ("" when the template's own reading is fine)


_PLACEHOLDER = re.compile(r"\{value(?::([^}]*))?\}")


@lru_cache(maxsize=4096)
def _wording(spec: FeatureSpec) -> _Wording:
    """What :func:`phrase` needs of a spec, worked out once per spec (phrasing runs once per distinct value)."""
    found = _PLACEHOLDER.search(spec.template)
    number_format = found.group(1) if found and found.group(1) else None
    zero = spec.zero
    if not zero and found:
        after = spec.template[found.end():]
        if found.start() == 0 and after.startswith(" "):
            zero = "No" + after  # "{value:.0f} page views in the last 7 days" -> "No page views in the last 7 days"
        elif after.startswith(" days ago"):
            zero = spec.template[:found.start()] + "today" + after[len(" days ago"):]  # "Captured today"
    return _Wording(dict(spec.words), number_format, zero)


def _reads_as_zero(number_format: str | None, value: float) -> bool:
    """Whether the value, formatted as the template formats it, shows as zero ("0", "0.0", "0%", "-0")."""
    if number_format is None:
        return False
    digits = re.sub(r"[^0-9.]", "", format(value, number_format))
    try:
        return float(digits) == 0.0
    except ValueError:
        return False


# "1" as a whole number, then up to two words, then the first plural noun ("careers-page" is no noun
# of its own: a word joined by a hyphen runs on).
_ONE_THEN_PLURAL = re.compile(r"(?<![\d.,+-])1 ((?:[\w-]*[^\Ws] ){0,2}?)([\w-]+?)(ies|ches|shes|xes|s)(?=\s|$|[.,;])")
_SINGULAR_ENDINGS = {"ies": "y", "ches": "ch", "shes": "sh", "xes": "x", "s": ""}


def agree_number(text: str) -> str:
    """Singular noun after a count of one: "1 pricing-page visits" reads "1 pricing-page visit".

    Templates are written in the plural ("{value:.0f} days in the current stage"); this keeps them
    simple while a marketer never reads "1 days".
    """
    return _ONE_THEN_PLURAL.sub(lambda m: f"1 {m.group(1)}{m.group(2)}{_SINGULAR_ENDINGS[m.group(3)]}", text)


def pd_na() -> object:
    """pandas' NA singleton, imported only when phrasing (the catalogue itself needs no pandas)."""
    import pandas as pd

    return pd.NA
