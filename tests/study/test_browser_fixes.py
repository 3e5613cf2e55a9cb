"""Issue 18's browser-visible defects in real headless Chromium (Debian's, via Playwright):
direction-override characters in participant text, the agent's own markup, a lost connection,
the phone layout, and the "you are next" page. Screenshots go to a temp dir, and to docs/img/
when SIMGAP_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import ADMIN_PASSWORD, LiveServer, build_app, make_config
from tests.study.test_browser import ARGS, CHROMIUM

pytestmark = [pytest.mark.browser, pytest.mark.slow]

DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE

# Whether the first two characters of `needle`, inside the first element matching `sel` whose
# text contains it, are drawn left to right (the order they were typed in).
IN_ORDER = """([sel, needle]) => {
  for (const el of document.querySelectorAll(sel)) {
    const w = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
    let n;
    while ((n = w.nextNode())) {
      const i = n.textContent.indexOf(needle);
      if (i < 0) continue;
      const r = document.createRange();
      r.setStart(n, i); r.setEnd(n, i + 1); const a = r.getBoundingClientRect();
      r.setStart(n, i + 1); r.setEnd(n, i + 2); const b = r.getBoundingClientRect();
      return a.x < b.x;
    }
  }
  return null;
}"""
DIRECTIONS = """(sel) => Array.from(document.querySelectorAll(sel)).map(
  (el) => getComputedStyle(el).direction)"""


@pytest.fixture(scope="module")
def browser() -> Any:
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def shot(page: Any, outdir: Path, name: str, *, full: bool = False) -> Path:
    path = outdir / f"study-{name}.png"
    page.screenshot(path=str(path), full_page=full)
    if os.environ.get("SIMGAP_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        shutil.copy(path, DOCS_IMG / path.name)
    return path


def to_chat(page: Any, url: str, pid: str) -> None:
    page.goto(f"{url}/start?PROLIFIC_PID={pid}")
    page.get_by_label("I have read the above and agree to take part.").check()
    page.get_by_role("button", name="Continue").click()
    page.get_by_role("button", name="Start the chat").click()
    page.wait_for_url("**/p/chat")


def finish(page: Any, comments: str) -> None:
    page.once("dialog", lambda d: d.accept())
    page.get_by_role("button", name="End conversation").click()
    page.wait_for_url("**/p/questionnaire")
    for fs in page.locator("fieldset.q-ordinal").all():
        fs.locator("input[type=radio]").last.check()
    for fs in page.locator("fieldset.q-likert").all():
        fs.locator("input[type=radio]").nth(3).check()
    page.locator("fieldset.q-text textarea").fill(comments)
    page.get_by_role("button", name="Submit answers").click()
    page.wait_for_url("**/p/done")


def admin_session_page(browser: Any, url: str) -> Any:
    adm = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
    adm.set_default_timeout(30_000)
    adm.goto(f"{url}/admin/login")
    adm.get_by_label("Password").fill(ADMIN_PASSWORD)
    adm.get_by_role("button", name="Log in").click()
    adm.wait_for_url("**/admin")
    adm.goto(f"{url}/admin/sessions")
    adm.get_by_role("link", name="t-", exact=False).last.click()
    adm.wait_for_selector(".transcript")
    return adm


def test_direction_overrides_in_participant_text_are_isolated(
    browser: Any, fake_agent: FakeOpenAIServer, sqlite_store: Store
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    with LiveServer(app) as srv:
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(30_000)
        to_chat(page, srv.url, "bidi-1")
        page.locator("#text").fill(f"order {RLO}#12 please")
        page.get_by_role("button", name="Send").click()
        page.locator(".msg.agent .bubble", has_text="What can I do for you?").wait_for()
        # a bubble takes its direction from its own text (a Hebrew message reads right to left)
        page.locator("#text").fill("שלום, I need help")
        page.get_by_role("button", name="Send").click()
        page.locator(".msg.agent .bubble").nth(2).wait_for()
        assert page.evaluate(DIRECTIONS, ".msg.user .bubble") == ["ltr", "rtl"]
        page.reload()
        assert page.evaluate(DIRECTIONS, ".msg.user .bubble") == ["ltr", "rtl"]
        finish(page, f"fine {RLO}#34 thanks")

        adm = admin_session_page(browser, srv.url)
        # the admin sees what was typed, in typed order, the control itself shown as a tag
        assert adm.evaluate(IN_ORDER, [".turn.user .bubble", "#12"]) is True
        assert adm.evaluate(IN_ORDER, ["td.prewrap", "#34"]) is True
        assert adm.locator(".turn.user .bubble .bidi-ctl").inner_text() == "U+202E"
        assert adm.locator("td.prewrap .bidi-ctl").count() == 1
        # the transcript's own labels ("#1 participant") stay in order
        for meta in adm.locator(".turn .meta").all():
            text = meta.inner_text()
            assert text.startswith("#"), text
        assert adm.evaluate(IN_ORDER, [".turn .meta", "#1"]) is True
