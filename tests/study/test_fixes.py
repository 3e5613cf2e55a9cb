"""Defects found by trying the study app as participants, an administrator and an attacker
would (issue 18), each checked over HTTP: NUL characters on PostgreSQL, the length wording,
scenario sentences, admin logout revoking the session server-side, the login throttle, and
bidi isolation of participant text in the served HTML."""

from __future__ import annotations

import contextlib
import os
import signal
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from simgap.errors import ConfigError
from simgap.store import Store
from simgap.study.app import ADMIN_COOKIE
from simgap.study.config import make_study_config
from simgap.study.throttle import LoginThrottle
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import (
    ADMIN_PASSWORD,
    Person,
    build_app,
    csrf_of,
    free_port,
    make_config,
)
from tests.study.test_restart import _serve as serve_process
from tests.study.test_restart import _wait_up as wait_up


@pytest.mark.postgres
async def test_nul_characters_are_dropped_not_a_server_error_on_postgres(
    fake_agent: FakeOpenAIServer, pg_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), pg_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    r = await p.say("hel\x00lo\x00 there", msg_id="m\x00-1")
    assert r.status_code == 200, r.text
    st: dict[str, Any] = await p.reply()
    assert st["messages"][1]["text"] == "hello there"
    # resending is still recognised as the same message (same cleaned id)
    r = await p.say("hel\x00lo\x00 there", msg_id="m\x00-1")
    assert r.status_code == 200
    await p.end()
    r = await p.answer(comments="fine\x00 thanks\x07")
    assert r.status_code == 200 and r.url.path == "/p/done", r.text
    s = next(iter(pg_store.iter_sessions()))
    users = [t for t in s.turns if t.role.value == "user"]
    assert [t.content for t in users] == ["hello there"]
    assert users[0].meta["client_msg_id"] == "m-1"
    fb = pg_store.get_feedback([s.session_id])
    assert fb[0].answers["comments"] == "fine thanks" and fb[0].free_text == "fine thanks"
    await app.state.study.aclose()


def test_scenario_sentences_stay_in_one_paragraph() -> None:
    from simgap.domains import load_tasks
    from simgap.study.pages import scenario_paragraphs, scenario_sections

    tasks = {t.task_id: t for t in load_tasks("airline", task_ids=["0", "17"])}
    sections = dict(scenario_sections(tasks["0"], "airline"))
    assert sections["How to play it"] == [
        "If Agent tells you that cancellation is not possible, mention that you were told that "
        "you didn't need to get insurance because your previous trip was booked with the same "
        "agency with insurance.",
        "You don't want to cancel if you don't get a refund.",
    ]
    # a list stays a list: one line per item, the sentence before it on its own
    why = dict(scenario_sections(tasks["17"], "airline"))[
        "Why you are contacting an airline's customer service"
    ]
    assert why == [
        "For your upcoming trip from New York to Chicago, you want to:",
        "- add 3 checked bags",
        "- change the passenger to yourself",
        "- upgrade it to economy class.",
        "Mention all three things at once and in this order.",
    ]
    assert scenario_paragraphs("a\n  b\n\n\n1) x\ny\n2. z") == ["a b", "1) x y", "2. z"]


async def test_text_answer_limit_is_worded_as_what_is_accepted(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent, max_text_answer_chars=50), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    await p.say("hello")
    await p.reply()
    await p.end()
    r = await p.answer(comments="c" * 51)
    assert r.status_code == 422
    assert "Please keep this to 50 characters or fewer (it has 51)." in r.text
    assert "under 50" not in r.text
    r = await p.answer(comments="c" * 50)  # exactly the limit is accepted
    assert r.url.path == "/p/done"
    assert sqlite_store.get_feedback()[0].answers["comments"] == "c" * 50
    await app.state.study.aclose()


async def test_logout_revokes_the_admin_session_on_the_server(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    cfg = make_config(fake_agent)
    app = build_app(cfg, sqlite_store)
    adm = Person(app)
    people.append(adm)
    await adm.get("/admin/login")
    await adm.post("/admin/login", {"password": ADMIN_PASSWORD})
    stolen = adm.http.cookies.get(ADMIN_COOKIE, path="/admin")
    assert stolen
    thief = Person(app)
    people.append(thief)
    thief.http.cookies.set(ADMIN_COOKIE, stolen, path="/admin")
    r = await thief.http.get("/admin/export.jsonl")
    assert r.status_code == 200  # a copied cookie works while the session lives...

    # ...and a restart does not end it (the session is in the database, not in memory)
    await app.state.study.aclose()
    app = build_app(cfg, sqlite_store)
    adm, thief = Person(app, cookies=adm.http.cookies), Person(app, cookies=thief.http.cookies)
    people += [adm, thief]
    r = await adm.get("/admin")
    assert r.status_code == 200 and r.url.path == "/admin"

    await adm.post("/admin/logout")
    for url in ("/admin/export.jsonl", "/admin/sessions"):
        r = await thief.http.get(url, follow_redirects=False)
        assert r.status_code in (303, 401), (url, r.status_code)
    r = await thief.http.post("/admin/tokens", data={"n": "1"}, follow_redirects=False)
    assert r.status_code == 401
    # a new login is a new session; the revoked one stays revoked
    await adm.get("/admin/login")
    r = await adm.post("/admin/login", {"password": ADMIN_PASSWORD})
    assert r.url.path == "/admin"
    r = await thief.http.get("/admin/export.jsonl")
    assert r.status_code == 401
    await app.state.study.aclose()


class Clock:
    def __init__(self) -> None:
        self.t = 1000.0

    def __call__(self) -> float:
        return self.t


async def login(p: Person, password: str, **headers: str) -> httpx.Response:
    r = await p.get("/admin/login")
    assert r.status_code == 200
    return await p.http.post(
        "/admin/login",
        data={"csrf": csrf_of(r.text), "password": password},
        headers=headers,
        follow_redirects=False,
    )


def throttled_app(fake: FakeOpenAIServer, store: Store, **over: Any) -> tuple[Any, Clock]:
    app = build_app(make_config(fake, **over), store)
    clock = Clock()
    app.state.web.throttle = LoginThrottle(clock=clock)
    return app, clock


async def test_login_backoff_never_locks_out_a_browser_that_logged_in_before(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app, clock = throttled_app(fake_agent, sqlite_store)
    admin, stranger = Person(app), Person(app)  # both from 127.0.0.1 (a proxy, a NAT)
    people += [admin, stranger]
    r = await login(admin, ADMIN_PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/admin"
    await admin.get("/admin")
    await admin.post("/admin/logout")

    codes = [(await login(stranger, "guess")).status_code for _ in range(12)]
    assert codes == [401] * 5 + [429] * 7
    r = await login(stranger, ADMIN_PASSWORD)  # while backing off, not even checked
    assert r.status_code == 429 and r.headers["retry-after"] == "2"
    assert "try again in 2 seconds" in r.text

    # the admin's browser is not delayed by anyone else's guesses
    r = await login(admin, ADMIN_PASSWORD)
    assert r.status_code == 303 and r.headers["location"] == "/admin"

    # the stranger's wait doubles with each further failure, and ends
    clock.t += 2
    assert (await login(stranger, "guess")).status_code == 401
    r = await login(stranger, "guess")
    assert r.status_code == 429 and r.headers["retry-after"] == "4"
    clock.t += 4
    r = await login(stranger, ADMIN_PASSWORD)
    assert r.status_code == 303  # a right password after the wait works
    await app.state.study.aclose()


async def test_a_global_rate_for_unknown_browsers_only(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app, clock = throttled_app(fake_agent, sqlite_store)
    admin = Person(app, client=("10.0.0.1", 1))
    people.append(admin)
    assert (await login(admin, ADMIN_PASSWORD)).status_code == 303
    # many addresses, one guess each: 20 checks at once (the admin's first login took one),
    # then one per 6 s overall
    for i in range(19):
        s = Person(app, client=(f"10.1.0.{i}", 1))
        people.append(s)
        assert (await login(s, "guess")).status_code == 401
    late = Person(app, client=("10.2.0.1", 1))
    people.append(late)
    r = await login(late, ADMIN_PASSWORD)
    assert r.status_code == 429 and r.headers["retry-after"] == "6"
    # the browser that logged in before is not held up
    assert (await login(admin, ADMIN_PASSWORD)).status_code == 303
    clock.t += 6
    assert (await login(late, ADMIN_PASSWORD)).status_code == 303
    await app.state.study.aclose()


async def test_forwarded_for_is_believed_only_from_a_trusted_proxy(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    # no trusted proxy: the header is ignored, every guess counts against the peer
    app, _ = throttled_app(fake_agent, sqlite_store)
    p = Person(app)
    people.append(p)
    codes = [
        (await login(p, "guess", **{"X-Forwarded-For": f"198.51.100.{i}"})).status_code
        for i in range(6)
    ]
    assert codes == [401] * 5 + [429]
    await app.state.study.aclose()

    # behind a trusted proxy: keyed on the address the proxy saw (the right-most untrusted hop)
    app, _ = throttled_app(fake_agent, sqlite_store, name="t2", trusted_proxies=["127.0.0.0/8"])
    p = Person(app)
    people.append(p)
    for _ in range(5):
        r = await login(p, "guess", **{"X-Forwarded-For": "203.0.113.7"})
        assert r.status_code == 401
    assert (await login(p, "guess", **{"X-Forwarded-For": "203.0.113.7"})).status_code == 429
    spoofed = {"X-Forwarded-For": "192.0.2.1, 203.0.113.7, 127.0.0.5"}  # client-made first hop
    assert (await login(p, ADMIN_PASSWORD, **spoofed)).status_code == 429
    assert (await login(p, "guess", **{"X-Forwarded-For": "203.0.113.8"})).status_code == 401
    # a peer that is not a trusted proxy cannot pick its address with the header either
    q = Person(app, client=("192.0.2.50", 1))
    people.append(q)
    for i in range(5):
        r = await login(q, "guess", **{"X-Forwarded-For": f"198.51.100.{i}"})
        assert r.status_code == 401
    r = await login(q, "guess", **{"X-Forwarded-For": "198.51.100.99"})
    assert r.status_code == 429
    await app.state.study.aclose()

    with pytest.raises(ConfigError, match="field trusted_proxies: 'nope' is not an IP"):
        make_study_config({"trusted_proxies": ["nope"]}, where="s.yaml")


def test_served_app_ignores_forwarded_for_without_a_trusted_proxy(
    fake_agent: FakeOpenAIServer, tmp_path: Path
) -> None:
    """`simgap study serve` (real uvicorn): a guesser on 127.0.0.1 cannot pick a new address
    per guess with X-Forwarded-For (uvicorn believed that header from localhost)."""
    cfg = make_config(fake_agent).model_dump(mode="json", exclude_none=True)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    proc = serve_process(config, tmp_path / "study.db", port, tmp_path / "serve.log")
    try:
        wait_up(url, proc, tmp_path / "serve.log")
        codes = []
        with httpx.Client(base_url=url, timeout=30) as c:
            for i in range(7):
                r = c.get("/admin/login")
                r = c.post(
                    "/admin/login",
                    data={"csrf": csrf_of(r.text), "password": "guess"},
                    headers={"X-Forwarded-For": f"198.51.100.{i}"},
                )
                codes.append(r.status_code)
        assert codes == [401] * 5 + [429] * 2
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)


def test_bidi_controls_are_shown_not_obeyed_on_admin_pages() -> None:
    from simgap.study.pages import bidi_visible

    tag = '<span class="bidi-ctl" title="invisible direction control">U+{}</span>'
    assert bidi_visible("a\u202e#1 <b>") == f"a{tag.format('202E')}#1 &lt;b&gt;"
    assert bidi_visible("\u2067x\u2069") == f"{tag.format('2067')}x{tag.format('2069')}"
    assert bidi_visible("plain \u200f mark") == "plain \u200f mark"  # marks reorder nothing
    assert bidi_visible(None) == ""
