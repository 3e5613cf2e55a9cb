"""Issue 18's browser-visible defects in real headless Chromium (Debian's, via Playwright):
direction-override characters in participant text, the agent's own markup, a lost connection,
the phone layout, and the "you are next" page. Screenshots go to a temp dir, and to docs/img/
when SIMGAP_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.study.conftest import ADMIN_PASSWORD, LiveServer, build_app, free_port, make_config
from tests.study.test_browser import ARGS, CHROMIUM
from tests.study.test_restart import _serve as serve_process
from tests.study.test_restart import _wait_up as wait_up

# one browser for the module, on one xdist worker (tests/plugins/schedule.py)
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("study-browser-fixes")]

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
    if CHROMIUM is None:
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


MARKUP = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2> <b>bold</b>"


def test_the_agents_markup_is_text_in_the_chat_and_the_admin_view(
    browser: Any, sqlite_store: Store
) -> None:
    with FakeOpenAIServer(responder=lambda req: Reply.text(MARKUP)) as fake:
        app = build_app(make_config(fake), sqlite_store)
        with LiveServer(app) as srv:
            page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
            page.set_default_timeout(30_000)
            to_chat(page, srv.url, "markup-1")
            page.locator("#text").fill("hello")
            page.get_by_role("button", name="Send").click()
            bubble = page.locator(".msg.agent:not(#typing) .bubble").nth(1)
            bubble.wait_for()
            assert bubble.inner_text() == MARKUP  # added by the script
            assert page.evaluate("window.__pwned") is None
            page.reload()
            assert (
                page.locator(".msg.agent:not(#typing) .bubble").nth(1).inner_text() == MARKUP
            )  # served
            assert page.evaluate("window.__pwned") is None and page.locator("img").count() == 0
            finish(page, "fine")
            adm = admin_session_page(browser, srv.url)
            assert adm.locator(".turn.agent .bubble", has_text="window.__pwned").count() == 1
            assert adm.evaluate("window.__pwned") is None and adm.locator("main img").count() == 0


def test_a_lost_connection_is_shown_and_the_chat_carries_on(
    browser: Any, fake_agent: FakeOpenAIServer, tmp_path: Path
) -> None:
    """The real server process killed (SIGKILL) while a reply is awaited, and again while a
    message is being sent: the page says so, keeps trying, and carries on by itself."""
    cfg = make_config(fake_agent).model_dump(mode="json", exclude_none=True)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    db, port = tmp_path / "study.db", free_port()
    url = f"http://127.0.0.1:{port}"
    procs: list[subprocess.Popen[bytes]] = []

    def up(n: int) -> None:
        log = tmp_path / f"serve{n}.log"
        procs.append(serve_process(config, db, port, log))
        wait_up(url, procs[-1], log)

    def kill() -> None:
        os.killpg(procs[-1].pid, signal.SIGKILL)
        procs[-1].wait(timeout=30)

    try:
        up(1)
        page = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        to_chat(page, url, "conn-1")
        conn = page.locator("#conn")
        assert conn.is_hidden()
        page.locator("#text").fill("slow: are you there?")  # the agent takes 2 s
        page.get_by_role("button", name="Send").click()
        page.locator("#typing").wait_for(state="visible")
        kill()
        conn.wait_for(state="visible", timeout=15_000)
        assert conn.inner_text() == "Connection lost. Retrying… (your messages are safe)"
        assert page.locator("#typing").is_visible()
        shot(page, tmp_path, "chat-connection-lost")
        up(2)
        page.locator(".msg.agent .bubble", has_text="What can I do for you?").wait_for()
        conn.wait_for(state="hidden")
        assert page.locator("#typing").is_hidden()

        kill()  # down again; now the person sends a message
        page.locator("#text").fill("I need to cancel my reservation Z7GOZK")
        page.get_by_role("button", name="Send").click()
        conn.wait_for(state="visible", timeout=15_000)
        assert page.locator("#send").is_disabled()
        up(3)
        page.locator(".msg.agent .bubble", has_text="is cancelled").wait_for()
        conn.wait_for(state="hidden")
        assert page.locator("#text").input_value() == ""
        assert not errors, errors
    finally:
        for p in procs:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGTERM)
            p.wait(timeout=30)
    store = Store(db)
    s = next(iter(store.iter_sessions()))
    users = [t.content for t in s.turns if t.role.value == "user"]
    assert users == ["slow: are you there?", "I need to cancel my reservation Z7GOZK"]
    store.close()


def test_phone_layout_keeps_the_message_box_on_screen(
    browser: Any, fake_agent: FakeOpenAIServer, sqlite_store: Store, tmp_path: Path
) -> None:
    cfg = make_config(fake_agent, people_per_task=2, batches=["b1", "b2"])
    app = build_app(cfg, sqlite_store)
    with LiveServer(app) as srv:
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        m = phone.new_page()
        m.set_default_timeout(30_000)
        to_chat(m, srv.url, "phone-1")

        def on_screen(sel: str) -> bool:
            b = m.locator(sel).bounding_box()
            return b is not None and b["y"] >= 0 and b["y"] + b["height"] <= 844

        assert m.evaluate("document.getElementById('scenario').open") is False
        assert on_screen("#text") and on_screen("#send")
        for text in (
            "Hello, I'd like some help with a booking.",
            "It is about a flight.",
            "Could you look it up?",
            "Thanks, one more thing.",
        ):
            m.locator("#text").fill(text)
            m.get_by_role("button", name="Send").click()
            m.locator(".msg.user .bubble", has_text=text).wait_for()
            m.locator("#typing").wait_for(state="hidden")
        assert on_screen("#text") and on_screen("#send")  # the messages scroll, not the page
        assert on_screen(".msg.agent:not(#typing) >> nth=-1")  # the latest reply is in view
        width = m.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        shot(m, tmp_path, "chat-mobile-long")
        m.locator("#scenario summary").click()  # the scenario is one tap away
        assert m.locator("#scenario .scenario-body").is_visible()
        assert m.get_by_text("olivia_gonzalez_2305").first.is_visible()
        phone.close()

        # on a wide screen the scenario stays open beside the chat
        desk = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        to_chat(desk, srv.url, "desk-1")
        assert desk.evaluate("document.getElementById('scenario').open") is True
        assert desk.locator("#scenario .scenario-body").is_visible()


def test_beyond_the_cap_the_wait_page_starts_the_chat_by_itself(
    browser: Any, fake_agent: FakeOpenAIServer, sqlite_store: Store, tmp_path: Path
) -> None:
    app = build_app(make_config(fake_agent, max_active_chats=1), sqlite_store)
    with LiveServer(app) as srv:
        a = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        b = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        for p in (a, b):
            p.set_default_timeout(30_000)
        to_chat(a, srv.url, "first")
        b.goto(f"{srv.url}/start?PROLIFIC_PID=second")
        b.get_by_label("I have read the above and agree to take part.").check()
        b.get_by_role("button", name="Continue").click()
        b.get_by_role("button", name="Start the chat").click()
        b.wait_for_url("**/p/wait")
        assert b.locator("h1").inner_text() == "You are next"
        shot(b, tmp_path, "wait")
        a.locator("#text").fill("hello")
        a.get_by_role("button", name="Send").click()
        a.locator(".msg.agent .bubble", has_text="What can I do for you?").wait_for()
        a.once("dialog", lambda d: d.accept())
        a.get_by_role("button", name="End conversation").click()
        a.wait_for_url("**/p/questionnaire")
        b.wait_for_url("**/p/chat", timeout=20_000)  # nobody pressed anything on b's page
        b.get_by_text("Hi! How can I help you today?").wait_for()
