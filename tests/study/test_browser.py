"""The whole participant flow in real headless Chromium (Debian's, driven by Playwright), on
SQLite and on PostgreSQL; then the session, its turns, τ² reward and the answers are checked in
the store. Screenshots of every page go to a temp dir, and to docs/img/ when
SIMGAP_UPDATE_SCREENSHOTS=1."""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import Any

import pytest

from simgap.models import Role, SessionStatus, Termination, UserKind
from simgap.store import Store
from tests.fakes.chromium import chromium_path
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import ADMIN_PASSWORD, LiveServer, build_app, make_config

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
pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.xdist_group("study-browser")]


@pytest.fixture(scope="module")
def browser() -> Any:
    if CHROMIUM is None:
        pytest.skip("Debian's chromium is not installed (scripts/test.sh installs it)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=ARGS)
        yield b
        b.close()


def _shot(page: Any, outdir: Path, name: str, *, full: bool = False) -> None:
    page.screenshot(path=str(outdir / f"study-{name}.png"), full_page=full)


def _flow(browser: Any, store: Store, fake: FakeOpenAIServer, outdir: Path) -> str:
    cfg = make_config(
        fake,
        name="pilot",
        title="Airline customer service study",
        tasks=["19", "0", "1"],
        people_per_task=2,
        batches=["batch1", "batch2"],
        reward_workers=1,  # the τ² reward in a worker process, as `simgap study serve` does
    )
    app = build_app(cfg, store)
    with LiveServer(app) as srv:
        ctx = browser.new_context(viewport={"width": 1280, "height": 800})
        page = ctx.new_page()
        page.set_default_timeout(30_000)
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)

        page.goto(f"{srv.url}/start?PROLIFIC_PID=browser-1&STUDY_ID=pilot")
        page.wait_for_url("**/p/consent")
        _shot(page, outdir, "consent")
        page.get_by_label("I have read the above and agree to take part.").check()
        page.get_by_role("button", name="Continue").click()
        page.wait_for_url("**/p/briefing")
        assert page.get_by_text("olivia_gonzalez_2305").count() >= 1
        _shot(page, outdir, "briefing", full=True)
        page.get_by_role("button", name="Start the chat").click()
        page.wait_for_url("**/p/chat")
        page.get_by_text("Hi! How can I help you today?").wait_for()

        box = page.locator("#text")
        box.fill(XSS)
        page.get_by_role("button", name="Send").click()
        page.locator(".msg.agent .bubble", has_text="What can I do for you?").wait_for()
        # the participant's markup is shown as text, never run
        assert page.locator(".msg.user .bubble").first.inner_text() == XSS
        assert page.evaluate("window.__pwned") is None
        box.fill("I need to cancel my reservation Z7GOZK, I feel unwell.")
        box.press("Enter")
        page.locator(".msg.agent .bubble", has_text="is cancelled").wait_for()
        assert page.locator("#typing").is_hidden()
        assert page.get_by_text("cancel_reservation").count() == 0  # tool traffic stays hidden
        _shot(page, outdir, "chat")

        page.once("dialog", lambda d: d.accept())
        page.get_by_role("button", name="End conversation").click()
        page.wait_for_url("**/p/questionnaire")
        for fs in page.locator("fieldset.q-ordinal").all():
            fs.locator("input[type=radio]").last.check()
        for fs in page.locator("fieldset.q-likert").all():
            fs.locator("input[type=radio]").nth(3).check()
        page.locator("fieldset.q-text textarea").fill("Quick and polite. <b>not bold</b>")
        _shot(page, outdir, "questionnaire", full=True)
        page.get_by_role("button", name="Submit answers").click()
        page.wait_for_url("**/p/done")
        assert page.locator("#completion-code").inner_text() == "TESTCODE"
        _shot(page, outdir, "done")
        assert not errors, errors

        # a phone-sized participant (second person, next task)
        phone = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            is_mobile=True,
            has_touch=True,
        )
        m = phone.new_page()
        m.set_default_timeout(30_000)
        m.goto(f"{srv.url}/start?PROLIFIC_PID=browser-2")
        m.get_by_label("I have read the above and agree to take part.").check()
        m.get_by_role("button", name="Continue").click()
        m.get_by_role("button", name="Start the chat").click()
        m.wait_for_url("**/p/chat")
        m.locator("#text").fill("Hello, I'd like some help with a booking.")
        m.get_by_role("button", name="Send").click()
        m.locator(".msg.agent .bubble", has_text="What can I do for you?").wait_for()
        # on a phone the scenario starts collapsed (one tap opens it): the chat is on screen
        assert m.evaluate("document.getElementById('scenario').open") is False
        width = m.evaluate("document.documentElement.scrollWidth")
        assert width <= 390, f"page scrolls sideways on a phone ({width}px)"
        _shot(m, outdir, "chat-mobile")
        phone.close()

        # the admin
        adm = browser.new_context(viewport={"width": 1280, "height": 800}).new_page()
        adm.goto(f"{srv.url}/admin")
        adm.wait_for_url("**/admin/login")
        adm.get_by_label("Password").fill(ADMIN_PASSWORD)
        adm.get_by_role("button", name="Log in").click()
        adm.wait_for_url("**/admin")
        assert "1 of 6 sessions complete" in adm.inner_text("main")
        _shot(adm, outdir, "admin-progress", full=True)
        adm.goto(f"{srv.url}/admin/sessions")
        adm.get_by_role("link", name="pilot-", exact=False).last.click()
        adm.get_by_text("cancel_reservation").first.wait_for()
        assert adm.evaluate("window.__pwned") is None
        _shot(adm, outdir, "admin-session", full=True)
        ctx.close()
    return "browser-1"


def _check_store(store: Store) -> None:
    done = [s for s in store.iter_sessions() if s.status == SessionStatus.DONE]
    assert len(done) == 1
    s = done[0]
    assert s.user_kind == UserKind.HUMAN and s.task_id == "19" and s.batch == "batch1"
    assert s.termination == Termination.USER_STOP
    assert s.reward is not None and s.reward.value == 1.0 and s.reward.breakdown.get("DB") == 1.0
    roles = [t.role for t in s.turns]
    assert roles.count(Role.TOOL) == 1 and roles.count(Role.USER) == 2
    assert any(tc.name == "cancel_reservation" for t in s.turns for tc in t.tool_calls)
    assert s.turns[1].content == XSS  # stored verbatim, escaped only when shown
    fb = store.get_feedback([s.session_id])
    assert len(fb) == 1
    answers = fb[0].answers
    assert answers["task_success"] == "Fully - Exceeded expectations"
    assert answers["overall_score"] == 4
    assert fb[0].free_text == "Quick and polite. <b>not bold</b>"
    running = [x for x in store.iter_sessions() if x.status == SessionStatus.RUNNING]
    assert len(running) == 1 and running[0].task_id == "0"  # the phone participant


def _keep(outdir: Path) -> None:
    shots = sorted(outdir.glob("study-*.png"))
    assert len(shots) == 8 and all(p.stat().st_size > 5_000 for p in shots)
    if os.environ.get("SIMGAP_UPDATE_SCREENSHOTS") == "1":
        DOCS_IMG.mkdir(parents=True, exist_ok=True)
        for p in shots:
            shutil.copy(p, DOCS_IMG / p.name)


def test_participant_flow_in_chromium_sqlite(
    browser: Any, fake_agent: FakeOpenAIServer, sqlite_store: Store, tmp_path: Path
) -> None:
    _flow(browser, sqlite_store, fake_agent, tmp_path)
    _check_store(sqlite_store)
    _keep(tmp_path)


@pytest.mark.postgres
def test_participant_flow_in_chromium_postgres(
    browser: Any, fake_agent: FakeOpenAIServer, pg_store: Store, tmp_path: Path
) -> None:
    assert pg_store.url.startswith("postgresql")
    _flow(browser, pg_store, fake_agent, tmp_path)
    _check_store(pg_store)
