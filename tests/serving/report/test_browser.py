"""The report opens in headless Chromium: no console errors, every chart decodes, nothing is fetched.

Chromium is driven through chromedriver's plain HTTP WebDriver API with ``urllib`` (no Selenium
dependency): that API returns browser console entries with their level, runs a script in the page to
check that every image decoded, and reaches the DevTools command for a full-page screenshot. Debian's
``chromium`` and ``chromium-driver`` packages provide both binaries. These tests carry the ``browser``
marker: without the binaries, ``make test`` leaves them out and prints how to install them
(``tests/conftest.py``); ``.ci/run`` installs them and sets ``LEADSCORE_REQUIRE_BROWSER=1``, under which a
missing browser fails the tests, so CI always runs them.
"""

from __future__ import annotations

import base64
import json
import socket
import struct
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from leadscore.features.tables import make_tables
from leadscore.serving.report.compare import make_matured_spine
from leadscore.serving.report.comparison import Comparison
from leadscore.serving.report.contents import gather_contents
from leadscore.serving.report.kpis import build_funnel_kpis
from leadscore.serving.report.rendering import render_report

END = pd.Timestamp("2025-07-01", tz="UTC")
CHROME_FLAGS = (
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync", "--window-size=1280,4000",
)
pytestmark = pytest.mark.browser


class HeadlessChromium:
    """One Chromium session behind chromedriver, spoken to over WebDriver's HTTP API."""

    def __init__(self, tmp_path: Path, binaries: dict[str, str]) -> None:
        chromium, driver = binaries["chromium"], binaries["chromedriver"]
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        self.base = f"http://127.0.0.1:{port}"
        self.driver = subprocess.Popen([driver, f"--port={port}"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 20
        while True:
            try:
                self._call("GET", "/status")
                break
            except (urllib.error.URLError, ConnectionError):
                if time.monotonic() > deadline:
                    self.driver.kill()
                    pytest.fail("chromedriver did not start within 20 s")
                time.sleep(0.05)
        profile = tempfile.mkdtemp(prefix="chromium-profile-", dir=tmp_path)
        options = {"binary": chromium, "args": [*CHROME_FLAGS, f"--user-data-dir={profile}"]}
        capabilities = {"browserName": "chrome", "goog:loggingPrefs": {"browser": "ALL"}, "goog:chromeOptions": options}
        self.session = self._call("POST", "/session", {"capabilities": {"alwaysMatch": capabilities}})["sessionId"]

    def _call(self, method: str, path: str, body: dict | None = None):
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=60) as response:
            return json.loads(response.read())["value"]

    def open(self, page: Path) -> None:
        self._call("POST", f"/session/{self.session}/url", {"url": page.resolve().as_uri()})

    def console(self) -> list[dict]:
        return self._call("POST", f"/session/{self.session}/se/log", {"type": "browser"})

    def run(self, script: str):
        return self._call("POST", f"/session/{self.session}/execute/sync", {"script": script, "args": []})

    def screenshot(self, target: Path) -> Path:
        """The whole page, not only the window, as PNG."""
        height = int(self.run("return document.documentElement.scrollHeight"))
        clip = {"x": 0, "y": 0, "width": 1280, "height": height, "scale": 1}
        params = {"format": "png", "captureBeyondViewport": True, "clip": clip}
        shot = self._call("POST", f"/session/{self.session}/goog/cdp/execute", {"cmd": "Page.captureScreenshot", "params": params})
        target.write_bytes(base64.b64decode(shot["data"]))
        return target

    def close(self) -> None:
        try:
            self._call("DELETE", f"/session/{self.session}")
        finally:
            self.driver.terminate()
            self.driver.wait(timeout=20)


@pytest.fixture
def browser(tmp_path, browser_binaries):
    session = HeadlessChromium(tmp_path, browser_binaries)
    yield session
    session.close()


def _page_problems(browser: HeadlessChromium) -> list[str]:
    errors = [f"console {e['level']}: {e['message']}" for e in browser.console() if e["level"] in ("SEVERE", "WARNING")]
    broken = browser.run(
        "return Array.from(document.images).filter(i => !i.complete || i.naturalWidth === 0).map(i => i.alt)"
    )
    fetched = browser.run(
        "return performance.getEntriesByType('resource').map(e => e.name).filter(n => !n.startsWith('data:'))"
    )
    return errors + [f"image did not decode: {alt}" for alt in broken] + [f"fetched: {url}" for url in fetched]


def _png_size(path: Path) -> tuple[int, int]:
    header = path.read_bytes()[:24]
    assert header[:8] == b"\x89PNG\r\n\x1a\n", "screenshot is not a PNG"
    return struct.unpack(">II", header[16:24])


def _report_inputs():
    """A small export, matured leads scored with a made-up model and rule points, and a scores file."""
    rng = np.random.default_rng(11)
    n = 600
    captured = [END - pd.Timedelta(days=float(d)) for d in rng.uniform(1, 400, n)]
    lead_ids = [f"L{i:04d}" for i in range(n)]
    leads = pd.DataFrame(
        {
            "lead_id": pd.Series(lead_ids, dtype="str"),
            "captured_at": pd.Series(captured, dtype="datetime64[ns, UTC]"),
            "channel": pd.Series(rng.choice(["linkedin", "email", "webinar"], n), dtype="str"),
            "campaign": pd.Series(rng.choice(["spring", "summer", "ebook"], n), dtype="str"),
        }
    )
    heat = rng.random(n)
    rows = []
    for lead_id, at, h in zip(lead_ids, captured, heat, strict=True):
        rows.append((lead_id, "MCL", at))
        t = at
        for stage in ("MEL", "MQL", "SAL", "SQL", "SQO", "WON"):
            if rng.random() > 0.35 + 0.6 * h:
                break
            t = t + pd.Timedelta(days=float(rng.uniform(8, 20)))
            rows.append((lead_id, stage, t))
    history = pd.DataFrame(rows, columns=["lead_id", "stage", "entered_at"]).astype(
        {"lead_id": "str", "stage": "str", "entered_at": "datetime64[ns, UTC]"}
    )
    tables = make_tables({"leads": leads, "stage_history": history}, data_end=END)
    spine, info = make_matured_spine(tables)
    h = pd.Series(heat, index=lead_ids).reindex(spine["lead_id"]).to_numpy()
    p = np.clip(0.6 * h**2 + rng.normal(0, 0.05, len(spine)), 0.001, 0.95)
    rule = np.clip(np.round((h * 100 + rng.normal(0, 25, len(spine))) / 5) * 5, 0, 120)
    frame = spine.assign(
        p_sqo=p, rule_score=rule, grade=pd.cut(p, [-1, 0.1, 0.2, 0.35, 2], labels=["D", "C", "B", "A"]).astype(str),
        rule_grade=np.where(rule >= 70, "hot", np.where(rule >= 40, "warm", "cold")),
        reasons_positive="3 pricing-page visits in the last 30 days", rule_reasons="Demo request +25; Pricing page +10",
    )
    info.update(n_not_scored=0, model="leadscore-sqo v1")
    new = pd.DataFrame({"lead_id": [f"N{i}" for i in range(80)], "p_sqo": rng.beta(1, 6, 80)})
    new["score"] = (100 * new["p_sqo"]).round().astype(int)
    new["grade"] = pd.cut(new["p_sqo"], [-1, 0.1, 0.2, 0.35, 2], labels=["D", "C", "B", "A"]).astype(str)
    new = new.assign(status="ok", reasons_positive="demo request 2 days ago", reasons_negative="free-mail address")
    return tables, Comparison(frame, info), new


def test_report_renders_in_headless_chromium_without_console_errors(tmp_path, browser) -> None:
    tables, comparison, scores = _report_inputs()
    page = render_report(gather_contents(tables, build_funnel_kpis(tables), comparison, scores, capacity=25))
    target = tmp_path / "report.html"
    target.write_text(page, encoding="utf-8")
    assert "http://" not in page and "https://" not in page and "<script" not in page  # self-contained
    browser.open(target)
    assert _page_problems(browser) == []
    n_images = browser.run("return document.images.length")
    assert n_images == page.count("<img ") >= 8
    headings = browser.run("return Array.from(document.querySelectorAll('h2')).map(h => h.textContent)")
    assert headings == ["1. Funnel KPIs", "2. Predicted against rules", "3. The latest scores"]
    shot = browser.screenshot(tmp_path / "report.png")
    width, height = _png_size(shot)
    assert width == 1280 and height > 3000
    assert shot.stat().st_size > 100_000  # a page of tables and charts, not a blank canvas


def test_the_browser_check_catches_console_errors_and_broken_images(tmp_path, browser) -> None:
    bad = tmp_path / "bad.html"
    bad.write_text(
        '<!DOCTYPE html><html><body><img alt="broken chart" src="data:image/png;base64,AAAA">'
        '<script>console.error("boom")</script></body></html>',
        encoding="utf-8",
    )
    browser.open(bad)
    problems = _page_problems(browser)
    assert any("boom" in p for p in problems)
    assert "image did not decode: broken chart" in problems
