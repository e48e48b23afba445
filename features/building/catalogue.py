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
import re
from dataclasses import dataclass
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
    """

    name: str
    description: str
    group: str
    kind: FeatureKind
    story: str
    template: str


def _spec(name: str, group: str, kind: FeatureKind, story: str, description: str, template: str) -> FeatureSpec:
    return FeatureSpec(name=name, description=description, group=group, kind=kind, story=story, template=template)


def _engagement() -> list[FeatureSpec]:
    specs: list[FeatureSpec] = []
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_activities_{w}d", "engagement", "numeric", "activity_level",
            f"Lead-initiated events (everything but email_sent and unsubscribe) in the last {w} days.",
            f"{{value:.0f}} activities in the last {w} days",
        ))
    specs.append(_spec(
        "n_activities_to_date", "engagement", "numeric", "activity_level",
        "Lead-initiated events (everything but email_sent and unsubscribe) up to as_of.",
        "{value:.0f} activities in total",
    ))
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_page_views_{w}d", "engagement", "numeric", "web_visits",
            f"Web page views of any page type in the last {w} days.",
            f"{{value:.0f}} page views in the last {w} days",
        ))
    for w in ENGAGEMENT_WINDOWS_DAYS:
        specs.append(_spec(
            f"n_pricing_views_{w}d", "engagement", "numeric", "pricing_interest",
            f"Pricing-page views in the last {w} days.",
            f"{{value:.0f}} pricing-page visits in the last {w} days",
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
                f"{{value:.0f}} {words} in the last {w} days",
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
                f"{{value:.0f}} {words} in the last {w} days",
            ))
    specs += [
        _spec(
            "days_since_last_activity", "engagement", "numeric", "recency",
            "Days from the last lead-initiated event to as_of (missing: no activity yet).",
            "No activity for {value:.0f} days",
        ),
        _spec(
            "days_since_last_high_intent", "engagement", "numeric", "high_intent_recency",
            "Days from the last high-intent event (pricing or contact page, form submit, demo request, "
            "trial start, meeting booked) to as_of (missing: none yet).",
            "Last high-intent action {value:.0f} days ago",
        ),
        _spec(
            "n_active_days_30d", "engagement", "numeric", "engagement_frequency",
            "Distinct 24-hour periods (counted back from as_of) with a lead-initiated event in the last 30 days.",
            "Active on {value:.0f} different days in the last 30 days",
        ),
        _spec(
            "n_active_days_90d", "engagement", "numeric", "engagement_frequency",
            "Distinct 24-hour periods (counted back from as_of) with a lead-initiated event in the last 90 days.",
            "Active on {value:.0f} different days in the last 90 days",
        ),
        _spec(
            "activity_trend_7d", "engagement", "numeric", "momentum",
            "Activities in the last 7 days minus the weekly average of the 30 days before them "
            "(positive: speeding up).",
            "{value:+.1f} activities this week against the weekly average of the month before",
        ),
    ]
    return specs


def _catalogue() -> tuple[FeatureSpec, ...]:
    fit = [
        _spec("employees", "fit", "numeric", "company_size", "Employees of the lead's account.",
              "Company size {value:,.0f} employees"),
        _spec("employees_band", "fit", "categorical", "company_size",
              "Employees banded: <50, 50-199, 200-999, 1,000-4,999, 5,000+.", "Company size band {value}"),
        _spec("annual_revenue_usd", "fit", "numeric", "company_revenue", "Annual revenue of the account in USD.",
              "Annual revenue ${value:,.0f}"),
        _spec("industry", "fit", "categorical", "industry",
              "Industry of the account (rare industries, under 0.5% of accounts, are 'other').", "Industry: {value}"),
        _spec("region", "fit", "categorical", "geography",
              "HQ region of the account (rare values are 'other').", "Headquarters region: {value}"),
        _spec("country", "fit", "categorical", "geography",
              "Lead's country; countries with under 1% of the leads captured by as_of are 'other'.",
              "Country: {value}"),
        _spec("branch_count", "fit", "numeric", "branches", "Number of branches or offices of the account.",
              "{value:.0f} branches"),
        _spec("business_model", "fit", "categorical", "business_model", "Account business model: b2b, b2c, b2b2c.",
              "Business model: {value}"),
        _spec("paying_customers", "fit", "numeric", "customer_base", "Paying customers of the account.",
              "{value:,.0f} paying customers"),
        _spec("is_public", "fit", "flag", "ownership", "The account is a publicly listed company.",
              "Publicly listed: {value}"),
        _spec("company_stage", "fit", "categorical", "company_stage", "Growth stage: startup, scaleup, enterprise.",
              "Company stage: {value}"),
        _spec("has_cdo", "fit", "flag", "digital_maturity", "The account has a dedicated Chief Digital Officer.",
              "Has a Chief Digital Officer: {value}"),
        _spec("digital_transformation", "fit", "categorical", "digital_maturity",
              "Digital-transformation status: none, in_progress, done.", "Digital transformation: {value}"),
    ]
    persona = [
        _spec("seniority", "persona", "categorical", "seniority",
              "Seniority parsed from the job title: c_level, vp, director, manager, individual_contributor, "
              "student_intern, or an occupation answer (working_professional, self_employed, unemployed, homemaker, "
              "retired).", "Seniority: {value}"),
        _spec("department", "persona", "categorical", "department",
              "Department parsed from the job title: finance, it, marketing, sales, executive, other (none for an "
              "occupation answer).", "Department: {value}"),
        _spec("job_title", "persona", "categorical", "job_title",
              "The job title as typed (trimmed, lower case); titles held by under 1% of the leads captured by as_of "
              "are 'other'.", "Job title: {value}"),
        _spec("is_free_mail", "persona", "flag", "work_identity",
              "The lead signed up with a free consumer e-mail domain (gmail.com, yahoo.* …).",
              "Free e-mail address: {value}"),
        _spec("has_email_consent", "persona", "flag", "email_consent", "The lead may receive marketing e-mail.",
              "Marketing e-mail consent: {value}"),
    ]
    technographic = [
        _spec("n_technologies", "technographic", "numeric", "tech_stack",
              "Distinct technologies known at the account by as_of (unknown first-seen dates count).",
              "{value:.0f} known technologies in use"),
        _spec("n_technologies_new_90d", "technographic", "numeric", "tech_adoption",
              "Technologies first seen at the account in the last 90 days.",
              "{value:.0f} technologies adopted in the last 90 days"),
    ] + [
        _spec(f"has_{c}", "technographic", "flag", f"tech_{c}",
              f"The account uses a technology of category {c} by as_of.",
              f"Uses {c.replace('_', ' ').upper() if len(c) <= 3 else c.replace('_', ' ')} software: {{value}}")
        for c in TECHNOLOGY_CATEGORIES
    ]
    acquisition = [
        _spec("channel", "acquisition", "categorical", "channel", "Acquisition channel of the lead.",
              "Came in through {value}"),
        _spec("campaign", "acquisition", "categorical", "campaign",
              "Campaign of the lead; campaigns with under 1% of the leads captured by as_of are 'other'.",
              "Campaign: {value}"),
        _spec("capture_weekday", "acquisition", "categorical", "capture_timing", "UTC weekday of capture.",
              "Captured on a {value}"),
        _spec("capture_month", "acquisition", "categorical", "capture_timing", "UTC month of capture.",
              "Captured in {value}"),
        _spec("lead_age_days", "acquisition", "numeric", "lead_age", "Days from capture to as_of.",
              "Lead captured {value:.0f} days ago"),
    ]
    email = [
        _spec("n_emails_sent_to_date", "email", "numeric", "email_reach", "Nurture e-mails sent up to as_of.",
              "{value:.0f} nurture e-mails received"),
        _spec("max_email_step_sent", "email", "numeric", "email_progress",
              "Furthest nurture-sequence step sent up to as_of.", "Reached nurture e-mail {value:.0f}"),
        _spec("email_open_rate", "email", "numeric", "email_engagement",
              "Share of the nurture steps sent so far that were opened (or clicked); missing if none sent.",
              "Opened {value:.0%} of nurture e-mails"),
        _spec("email_click_rate", "email", "numeric", "email_engagement",
              "Share of the nurture steps sent so far that were clicked; missing if none sent.",
              "Clicked {value:.0%} of nurture e-mails"),
        _spec("n_email_opens_30d", "email", "numeric", "email_engagement", "E-mail opens in the last 30 days.",
              "{value:.0f} e-mail opens in the last 30 days"),
        _spec("n_email_clicks_30d", "email", "numeric", "email_engagement", "E-mail clicks in the last 30 days.",
              "{value:.0f} e-mail clicks in the last 30 days"),
        _spec("days_since_last_email_open", "email", "numeric", "email_recency",
              "Days from the last e-mail open or click to as_of (missing: none yet).",
              "Last opened an e-mail {value:.0f} days ago"),
        _spec("is_unsubscribed", "email", "flag", "unsubscribed", "The lead unsubscribed by as_of.",
              "Unsubscribed from e-mail: {value}"),
    ]
    funnel = [
        _spec("current_stage", "funnel", "categorical", "funnel_stage",
              "Funnel stage at as_of (the latest entry; MCL from capture when none is recorded).",
              "Current stage: {value}"),
        _spec("days_in_current_stage", "funnel", "numeric", "stage_age", "Days since entering the current stage.",
              "{value:.0f} days in the current stage"),
        _spec("highest_stage", "funnel", "categorical", "funnel_stage",
              "Furthest forward stage reached by as_of (MCL … WON).", "Furthest stage reached: {value}"),
        _spec("n_recycles", "funnel", "numeric", "recycles", "Times the lead was recycled back to marketing by as_of.",
              "Recycled {value:.0f} times"),
    ]
    account = [
        _spec("n_account_leads", "account", "numeric", "buying_committee",
              "Other leads of the same account captured by as_of.",
              "{value:.0f} colleagues from the same company among the leads"),
        _spec("n_account_senior_leads", "account", "numeric", "buying_committee",
              "Other leads of the account captured by as_of at director level or above.",
              "{value:.0f} senior colleagues from the same company among the leads"),
        _spec("n_account_active_leads_30d", "account", "numeric", "account_engagement",
              "Other leads of the account with an activity in the last 30 days.",
              "{value:.0f} colleagues active in the last 30 days"),
        _spec("n_account_activities_30d", "account", "numeric", "account_engagement",
              "Activities of the account's other leads in the last 30 days.",
              "{value:.0f} activities by colleagues in the last 30 days"),
        _spec("n_account_activities_90d", "account", "numeric", "account_engagement",
              "Activities of the account's other leads in the last 90 days.",
              "{value:.0f} activities by colleagues in the last 90 days"),
        _spec("n_account_high_intent_90d", "account", "numeric", "account_intent",
              "High-intent events of the account's other leads in the last 90 days.",
              "{value:.0f} high-intent actions by colleagues in the last 90 days"),
        _spec("account_had_sqo", "account", "flag", "account_history",
              "Another lead of the account reached SQO or WON, or the account had an opportunity, by as_of.",
              "Company already had a sales opportunity: {value}"),
        _spec("account_had_won", "account", "flag", "account_history",
              "Another lead of the account reached WON, or one of its deals closed won, by as_of.",
              "Company is already a customer: {value}"),
        _spec("account_had_lost_deal", "account", "flag", "account_history",
              "One of the account's deals (not this lead's) closed lost by as_of.",
              "Company lost a deal before: {value}"),
        _spec("n_account_open_opportunities", "account", "numeric", "account_pipeline",
              "The account's deals (not this lead's) created by as_of and not closed by as_of.",
              "{value:.0f} open deals with the company"),
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
    """The lead's value in words through ``spec.template``.

    Flags read as "yes" / "no"; a missing value reads as "unknown"; a value the template cannot
    format (text where a number was expected) is shown as it is rather than failing a report.
    """
    missing = value is None or value is pd_na() or (isinstance(value, float) and math.isnan(value))
    if missing:
        return f"{spec.description.rstrip('.')}: unknown"
    if spec.kind == "flag":
        return spec.template.format(value="yes" if float(value) >= 0.5 else "no")
    if isinstance(value, str):
        value = value.replace("_", " ")  # category codes read as words: "individual contributor"
    try:
        return agree_number(spec.template.format(value=value))
    except (ValueError, TypeError):
        return re.sub(r"\{value[^}]*\}", "{value}", spec.template).format(value=value)


# "1" as a whole number, then up to two words, then the first plural noun.
_ONE_THEN_PLURAL = re.compile(r"(?<![\d.,+-])1 ((?:[\w-]*[^\Ws] ){0,2}?)([\w-]+?)(ies|ches|shes|xes|s)\b")
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
