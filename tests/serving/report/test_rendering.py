"""The page's templates: autoescaped, strict about undefined names, and every section variant renders.

The page is rendered from Jinja2 templates with autoescaping, so names that come from a user's export
(campaigns, channels, lead ids, an MLflow error) can never become markup, and with ``StrictUndefined``,
so a misspelt name in a template fails here instead of printing an empty string on a shared page.
"""

from __future__ import annotations

import jinja2
import jinja2.meta
import numpy as np
import pandas as pd
import pytest

from leadscore.features.tables import make_tables
from leadscore.serving.report.compare import make_matured_spine
from leadscore.serving.report.comparison import Comparison, ModelUnavailable
from leadscore.serving.report.contents import gather_contents
from leadscore.serving.report.kpis import build_funnel_kpis
from leadscore.serving.report.rendering import PAGE_TEMPLATE, render_report, report_environment

END = pd.Timestamp("2025-07-01", tz="UTC")
SCRIPT = "<script>alert(1)</script>"


def make_export(n: int = 300, seed: int = 4, campaign: str = "spring", channel: str = "linkedin"):
    """Leads over 400 days moving down the funnel at random; every third lead has ``campaign`` and ``channel``."""
    rng = np.random.default_rng(seed)
    captured = [END - pd.Timedelta(days=float(d)) for d in rng.uniform(1, 400, n)]
    lead_ids = [f"L{i:04d}" for i in range(n)]
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(lead_ids, dtype="str"),
            "captured_at": pd.Series(captured, dtype="datetime64[ns, UTC]"),
            "channel": pd.Series([channel if i % 3 == 0 else "email" for i in range(n)], dtype="str"),
            "campaign": pd.Series([campaign if i % 3 == 0 else "ebook" for i in range(n)], dtype="str"),
        }
    )
    rows = []
    for lead_id, at in zip(lead_ids, captured, strict=True):
        rows.append((lead_id, "MCL", at))
        t = at
        for stage in ("MEL", "MQL", "SAL", "SQL", "SQO", "WON"):
            if rng.random() < 0.3:
                break
            t = t + pd.Timedelta(days=float(rng.uniform(3, 15)))
            rows.append((lead_id, stage, t))
    history = pd.DataFrame(rows, columns=["lead_id", "stage", "entered_at"]).astype(
        {"lead_id": "str", "stage": "str", "entered_at": "datetime64[ns, UTC]"}
    )
    return make_tables({"leads": leads, "stage_history": history}, data_end=END)


def make_comparison(tables, seed: int = 5, outcome: int | None = None, lead_name: str | None = None) -> Comparison:
    """Matured leads scored by a made-up model and rule points (``outcome`` forces every label)."""
    rng = np.random.default_rng(seed)
    spine, info = make_matured_spine(tables)
    if outcome is not None:
        spine = spine.assign(sqo=outcome)
    p = np.clip(0.3 * spine["sqo"] + rng.uniform(0, 0.5, len(spine)), 0.001, 0.95)
    rule = np.round(rng.uniform(0, 100, len(spine)) / 5) * 5
    frame = spine.assign(
        p_sqo=p, rule_score=rule, grade=np.where(p > 0.5, "A", np.where(p > 0.3, "B", "D")),
        rule_grade=np.where(rule >= 70, "hot", np.where(rule >= 40, "warm", "cold")),
        reasons_positive="3 pricing-page visits", reasons_negative="free-mail address", rule_reasons="Pricing page +10",
    )
    if lead_name is not None:
        # The model's best lead, given no rule points: it heads the "model high, rules low" table.
        best = frame["p_sqo"].idxmax()
        frame.loc[best, "lead_id"] = lead_name
        frame.loc[best, "rule_score"] = 0.0
    info.update(n_not_scored=2, not_scored_reasons={"no features": 2}, model="leadscore-sqo v3")
    return Comparison(frame, info)


def make_scores(n: int = 30, **columns) -> pd.DataFrame:
    rng = np.random.default_rng(6)
    p = rng.beta(1, 5, n)
    scores = pd.DataFrame({"lead_id": [f"N{i}" for i in range(n)], "score": np.round(100 * p), "p_sqo": p,
                           "grade": np.where(p > 0.3, "A", "C")})
    return scores.assign(**columns)


@pytest.fixture(scope="module")
def tables():
    return make_export()


@pytest.fixture(scope="module")
def kpis(tables):
    return build_funnel_kpis(tables)


def test_the_environment_escapes_everything_and_refuses_undefined_names() -> None:
    environment = report_environment()
    assert environment.undefined is jinja2.StrictUndefined
    assert environment.from_string("{{ name }}").render(name=SCRIPT) == "&lt;script&gt;alert(1)&lt;/script&gt;"
    autoescape = environment.autoescape
    for name in environment.list_templates():
        assert autoescape(name) if callable(autoescape) else autoescape, name
    with pytest.raises(jinja2.UndefinedError):
        environment.from_string("{{ misspelt }}").render()


def test_every_template_is_reached_from_the_page() -> None:
    environment = report_environment()
    templates = set(environment.list_templates())
    assert templates and all(name.endswith(".j2") for name in templates)
    reached, todo = set(), [PAGE_TEMPLATE]
    while todo:
        name = todo.pop()
        reached.add(name)
        source = environment.loader.get_source(environment, name)[0]
        todo += [t for t in jinja2.meta.find_referenced_templates(environment.parse(source)) if t not in reached]
    assert reached == templates  # so rendering every variant of the page below renders every template


def test_names_from_the_export_appear_escaped_never_as_markup(tmp_path) -> None:
    tables = make_export(campaign=SCRIPT, channel="<b>paid</b>")
    comparison = make_comparison(tables, lead_name="<img src=x onerror=alert(2)>")
    scores = make_scores(reasons_positive=SCRIPT)
    page = render_report(gather_contents(tables, build_funnel_kpis(tables), comparison, scores, capacity=20))
    assert SCRIPT not in page and "<b>paid</b>" not in page and "<img src=x" not in page
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.split('id="kpi-campaign"')[1].split("</table>")[0]
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page.split('id="scores-top-table"')[1]
    assert "&lt;b&gt;paid&lt;/b&gt;" in page.split('id="kpi-channel"')[1].split("</table>")[0]
    assert "&lt;img src=x onerror=alert(2)&gt;" in page.split('id="compare-disagree"')[1]


def test_a_model_loading_error_is_shown_as_text(tables, kpis) -> None:
    note = ModelUnavailable(uri="models:/leadscore-sqo@champion", store="sqlite:///m.db", error=f"registry said {SCRIPT}")
    page = render_report(gather_contents(tables, kpis, model_note=note))
    notice = page.split('id="compare"')[1].split("</section>")[0]
    assert "No SQO model could be loaded from <code>models:/leadscore-sqo@champion</code>" in notice
    assert "<code>sqlite:///m.db</code> (registry said &lt;script&gt;alert(1)&lt;/script&gt;)" in notice
    assert "<code>leadscore train DATA --target sqo</code>" in notice


@pytest.mark.parametrize(
    "variant",
    ["no model", "model not loaded", "no outcomes", "judged", "one outcome only", "no matured lead", "no lead scored",
     "scores without optional columns", "scores with old reasons", "rules all tied", "rules tied at the edge"],
)
def test_every_variant_of_the_page_renders_under_strict_undefined(tables, kpis, variant) -> None:
    comparison, scores, note, without_outcomes = None, None, None, False
    if variant == "model not loaded":
        note = ModelUnavailable(uri="models:/x@champion", store="sqlite:///m.db", error="not found")
    elif variant == "no outcomes":
        without_outcomes = True
    elif variant == "judged":
        comparison, scores = make_comparison(tables), make_scores(status="ok", as_of="2025-06-30T00:00:00Z")
    elif variant == "one outcome only":
        comparison = make_comparison(tables, outcome=0)
    elif variant == "no matured lead":  # what build_comparison returns before scoring anything
        spine, info = make_matured_spine(tables, end=END - pd.Timedelta(days=500))
        comparison = Comparison(spine.assign(p_sqo=pd.Series(dtype="float64")), info)
    elif variant == "no lead scored":
        scores = make_scores(status="no features")
    elif variant == "scores without optional columns":
        scores = make_scores().loc[:, ["lead_id", "score", "grade"]]
    elif variant == "scores with old reasons":
        scores = make_scores(reasons="demo request")
    elif variant == "rules all tied":
        comparison = make_comparison(tables)
        comparison.frame["rule_score"] = 0.0
    elif variant == "rules tied at the edge":
        comparison = make_comparison(tables)
        comparison.frame["rule_score"] = np.where(np.arange(len(comparison.frame)) < 5, 50.0, 0.0)
    contents = gather_contents(tables, kpis, comparison, scores, capacity=15, model_note=note,
                               without_outcomes=without_outcomes)
    page = render_report(contents)
    expected = {
        "no model": "No registered SQO model was found",
        "model not loaded": "No SQO model could be loaded from <code>models:/x@champion</code>",
        "no outcomes": "The export has no stage_history table",
        "judged": "ranking by the model finds <strong>",
        "one outcome only": "Too few matured leads with both outcomes",
        "no matured lead": "by the model (model)",
        "no lead scored": "No lead in the scores file was scored.",
        "scores without optional columns": "30 leads in the scores file, 30 scored.",
        "scores with old reasons": '<th class="txt">reasons</th>',
        "rules all tied": "the rules do not rank them at all",
        "rules tied at the edge": "the rules cannot choose among them, so the model's order does",
    }[variant]
    assert expected in page
    assert page.startswith("<!DOCTYPE html>") and page.count("<section") == page.count("</section>")
    assert ("3. The latest scores" in page) is (scores is not None)


def _squeezed(page: str) -> str:
    return " ".join(page.split())


def test_a_capacity_list_holds_k_leads_when_every_lead_has_the_same_rule_points(tables, kpis) -> None:
    comparison = make_comparison(tables)
    comparison.frame["rule_score"] = 0.0
    n = len(comparison.frame)
    page = _squeezed(render_report(gather_contents(tables, kpis, comparison, capacity=15)))
    assert f"Every one of these {n:,} leads has the same rule points (0)" in page
    assert 'id="disagree-rules-high"' not in page and 'id="disagree-model-high"' not in page
    assert "None: the rules give every lead the same points." in page
    summary = gather_contents(tables, kpis, comparison, capacity=15).comparison.judgement.overlap_by_group
    assert summary["both"]["n_leads"] == 15 and summary["rules only"]["n_leads"] == 0
    assert "a list can be a little longer than the capacity" not in page


def test_rules_high_model_low_never_lists_a_lead_the_points_did_not_put_there(tables, kpis) -> None:
    comparison = make_comparison(tables)
    frame = comparison.frame
    frame["rule_score"] = np.where(np.arange(len(frame)) < 5, 50.0, 0.0)  # five leads with points, capacity 15
    judgement = gather_contents(tables, kpis, comparison, capacity=15).comparison.judgement
    low = next(d for d in judgement.disagreements if d.direction == "rules high, model low").leads
    assert (low["rule_score"] == 50.0).all()
    assert judgement.rules_edge == {"points": 0.0, "n_tied": len(frame) - 5, "n_taken": 10, "n_leads": len(frame)}
    groups = judgement.overlap_by_group
    assert groups["both"]["n_leads"] + groups["rules only"]["n_leads"] == 15
    page = _squeezed(render_report(gather_contents(tables, kpis, comparison, capacity=15)))
    assert f"{len(frame) - 5:,} leads share the rules' last place (0 points) and 10 of them fit in the list" in page


def test_leads_at_sqo_or_closed_are_counted_apart_and_never_among_the_best_scored(tables, kpis) -> None:
    scores = make_scores(status="ok")
    scores.loc[[0, 1], "status"] = "closed: won"
    scores.loc[2, "status"] = "reached SQO"
    scores.loc[[0, 1, 2], ["score", "p_sqo", "grade"]] = [None, None, None]
    scores.loc[3, "status"] = "unknown lead_id"
    contents = gather_contents(tables, kpis, scores=scores)
    assert contents.scores.not_open == {"reached SQO": 1, "closed: won": 2}
    assert contents.scores.not_scored == {"unknown lead_id": 1}
    assert set(contents.scores.top["status"]) == {"ok"}
    page = _squeezed(render_report(contents))
    assert ("30 leads in the scores file, 26 scored; already at SQO or closed, so given no chance of SQO: "
            "reached SQO 1, closed: won 2; not scored: unknown lead_id 1.") in page
