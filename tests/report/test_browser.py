"""The HTML report in real headless Chromium (Debian's, driven by Playwright), opened from a
file:// URL with every other request aborted: every figure must draw, every section be there,
the synthetic banner show, and text from people must never run as script.

A full-page screenshot goes to the test's temp dir, and to docs/img/report-example.png when
SIMGAP_UPDATE_SCREENSHOTS=1 or when that file does not exist yet.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from simgap.report import join_capability, parse_score, read_capability, render_html
from tests.fakes.chromium import chromium_path

CHROMIUM = chromium_path()  # on PATH, as scripts/test.sh finds it
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-quic",
]
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
XSS = "Hi <script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2>"

# one browser for the module, on one xdist worker (tests/plugins/schedule.py)
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("report-browser")]


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


class Opened:
    def __init__(self, page: Any, blocked: list[str], errors: list[str]) -> None:
        self.page = page
        self.blocked = blocked
        self.errors = errors


def _open(browser: Any, path: Path, n_figures: int, width: int = 1280) -> tuple[Any, Opened]:
    """Open `path` offline: anything but file:// is aborted and recorded."""
    ctx = browser.new_context(viewport={"width": width, "height": 900})
    blocked: list[str] = []
    errors: list[str] = []

    def route(r: Any) -> None:
        if r.request.url.startswith("file://"):
            r.continue_()
        else:
            blocked.append(r.request.url)
            r.abort()

    ctx.route("**/*", route)
    page = ctx.new_page()
    page.set_default_timeout(30_000)
    page.on("pageerror", lambda e: errors.append(str(e)))
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.goto(path.resolve().as_uri())
    page.wait_for_function(
        f"document.querySelectorAll('.js-plotly-plot .main-svg').length >= {n_figures}"
    )
    return ctx, Opened(page, blocked, errors)


def test_report_renders_offline_with_every_figure(
    browser: Any, doc: dict[str, Any], elo_csv: Path, tmp_path: Path
) -> None:
    sd = parse_score(doc)
    join = join_capability(sd.rows, read_capability(elo_csv), source="elo.csv")
    rendered = render_html(sd, capability=join)
    path = tmp_path / "report.html"
    path.write_text(rendered.html, encoding="utf-8")
    n = len(rendered.figure_ids)
    assert n == 6
    ctx, o = _open(browser, path, n)
    page = o.page
    try:
        # every figure is a drawn Plotly plot with an SVG and some marks in it
        assert page.locator(".js-plotly-plot").count() == n
        for fid in rendered.figure_ids:
            fig = page.locator(f"#{fid}.js-plotly-plot")
            assert fig.count() == 1, fid
            assert fig.locator(".main-svg").count() >= 1, fid
            box = fig.bounding_box()
            assert box is not None and box["width"] > 500 and box["height"] > 150, (fid, box)
        assert page.locator("#fig-leaderboard .bars .point").count() == 3
        assert page.locator("#fig-dimensions .hm, #fig-dimensions image").count() >= 1
        assert page.locator("#fig-ratings .bars .point").count() >= 8 * 4
        assert page.locator("#fig-capability .scatterlayer .point").count() == 3
        # the ceiling line and its label
        assert page.get_by_text("reference vs reference ceiling").count() >= 1
        # every section, in order, and the synthetic banner
        ids = page.eval_on_selector_all(
            "main > section, main > footer", "els => els.map(e => e.id)"
        )
        assert ids == rendered.sections
        banner = page.locator("#synthetic-banner")
        assert banner.is_visible() and "NOT human data" in banner.inner_text()
        assert page.locator("table.leaderboard tbody tr").count() == 4  # ceiling + 3
        assert page.locator("#examples article.example").count() == 9
        assert page.locator("#gaps li").count() == 12
        # readable at laptop width: nothing wider than the window
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
        assert o.blocked == [], o.blocked  # nothing tried the network
        assert o.errors == [], o.errors
        shot = tmp_path / "report-example.png"
        page.screenshot(path=str(shot), full_page=True)
        assert shot.stat().st_size > 50_000
        target = DOCS_IMG / "report-example.png"
        if os.environ.get("SIMGAP_UPDATE_SCREENSHOTS") == "1" or not target.exists():
            DOCS_IMG.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(shot, target)
    finally:
        ctx.close()


def test_people_text_is_shown_not_run(browser: Any, doc: dict[str, Any], tmp_path: Path) -> None:
    ex = doc["details"]["examples"]["synthetic-gpt-polite"][0]
    ex["reference"]["turns"][1]["text"] = XSS
    doc["rows"][0]["gaps"][0] = XSS
    doc["reference"]["synthetic"] = False  # and a people reference: no banner
    doc["reference"]["synthetic_sessions"] = 0
    rendered = render_html(parse_score(json.loads(json.dumps(doc))))
    path = tmp_path / "hostile.html"
    path.write_text(rendered.html, encoding="utf-8")
    ctx, o = _open(browser, path, len(rendered.figure_ids), width=1024)
    page = o.page
    try:
        assert page.evaluate("window.__pwned") is None
        assert page.locator("#examples .turn", has_text="<script>window.__pwned").count() == 1
        assert page.locator("#gaps li", has_text="onerror=window.__pwned=2").count() == 1
        assert page.locator("#synthetic-banner").count() == 0
        assert page.locator("#examples img, #examples script, #gaps img, #gaps script").count() == 0
        assert o.blocked == [] and o.errors == [], (o.blocked, o.errors)
        assert page.evaluate("document.documentElement.scrollWidth <= window.innerWidth + 1")
    finally:
        ctx.close()
