"""The study app's defences that no page shows: CSRF on the admin's own POSTs, the flags of
every cookie the app sets or deletes, and the agent's (model's) own markup shown as text."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from simgap.models import utcnow
from simgap.store import Store
from simgap.study import tables as st
from simgap.study.app import ADMIN_COOKIE, LOGIN_COOKIE, PARTICIPANT_COOKIE
from simgap.study.assignment import AssignmentState
from simgap.study.web import DEVICE_COOKIE
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.study.conftest import ADMIN_PASSWORD, Person, build_app, csrf_of, make_config

MARKUP = "<script>window.__pwned = 1</script><img src=x onerror=window.__pwned=2> <b>bold</b>"


async def logged_in_admin(app: Any) -> Person:
    adm = Person(app)
    await adm.get("/admin/login")
    r = await adm.post("/admin/login", {"password": ADMIN_PASSWORD})
    assert r.url.path == "/admin" and r.status_code == 200
    return adm


async def test_admin_posts_with_a_valid_cookie_but_no_csrf_token_change_nothing(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent, access={"mode": "token"}), sqlite_store)
    study = app.state.study
    adm = await logged_in_admin(app)
    people.append(adm)
    # a participant holding a place, inactive for an hour: "release" would free it
    tok = study.create_tokens(1)[0]
    p = Person(app)
    people.append(p)
    await p.arrive(f"token={tok}")
    await p.post("/p/consent", {"choice": "agree", "agree": "yes"})
    with sqlite_store.engine.begin() as conn:
        conn.execute(update(st.assignments).values(last_seen_at=utcnow() - timedelta(hours=1)))

    for forged in ({}, {"csrf": "forged"}, {"csrf": ""}):
        r = await adm.http.post("/admin/tokens", data={"n": "5", **forged})
        assert r.status_code == 200
        r = await adm.http.post("/admin/release", data=forged)
        assert r.status_code == 200
        r = await adm.http.post("/admin/logout", data=forged, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin"
    # the token travels as a header too; a wrong one there is refused as well
    r = await adm.http.post("/admin/tokens", data={"n": "5"}, headers={"X-CSRF-Token": "nope"})
    assert len(study.tokens()) == 1
    assert [a.state for a in study.assigner.all()] == [AssignmentState.ASSIGNED]
    r = await adm.http.get("/admin", follow_redirects=False)
    assert r.status_code == 200  # still logged in

    # with the token, each of them works
    await adm.post("/admin/tokens", {"n": "5"})
    assert len(study.tokens()) == 6
    await adm.post("/admin/release")
    assert [a.state for a in study.assigner.all()] == [AssignmentState.RELEASED]
    await adm.post("/admin/logout")
    r = await adm.http.get("/admin", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    await study.aclose()


def set_cookies(r: httpx.Response) -> dict[str, dict[str, str]]:
    """Set-Cookie headers of one response: name -> {attribute (lower case): value}."""
    out: dict[str, dict[str, str]] = {}
    for raw in r.headers.get_list("set-cookie"):
        c: SimpleCookie = SimpleCookie()
        c.load(raw)
        for name, morsel in c.items():
            attrs = {k: str(v) for k, v in morsel.items() if v}
            attrs["value"] = morsel.value
            # SimpleCookie parses flags without values as True; keep which ones were present
            for flag in ("httponly", "secure"):
                attrs[flag] = "yes" if flag in raw.lower().replace(" ", "").split(";") else ""
            out[name] = attrs
    return out


@pytest.mark.parametrize("secure", [False, True])
async def test_cookie_flags(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, secure: bool
) -> None:
    app = build_app(make_config(fake_agent, cookie_secure=secure), sqlite_store)
    want_secure = "yes" if secure else ""
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=app), base_url="https://test"
    ) as http:
        r = await http.get("/start?PROLIFIC_PID=w")
        p = set_cookies(r)[PARTICIPANT_COOKIE]
        assert (p["httponly"], p["secure"], p["samesite"].lower()) == ("yes", want_secure, "lax")
        assert (p["path"], p["max-age"]) == ("/", str(30 * 24 * 3600))

        r = await http.get("/admin/login")
        login = set_cookies(r)[LOGIN_COOKIE]
        assert (login["httponly"], login["secure"], login["samesite"].lower()) == (
            "yes",
            want_secure,
            "strict",
        )
        assert (login["path"], login["max-age"]) == ("/admin", "3600")

        r = await http.post(
            "/admin/login", data={"csrf": csrf_of(r.text), "password": ADMIN_PASSWORD}
        )
        got = set_cookies(r)
        adm = got[ADMIN_COOKIE]
        assert (adm["httponly"], adm["secure"], adm["samesite"].lower()) == (
            "yes",
            want_secure,
            "strict",
        )
        assert (adm["path"], adm["max-age"]) == ("/admin", str(12 * 3600))
        dev = got[DEVICE_COOKIE]  # "this browser logged in before" (login throttle)
        assert (dev["httponly"], dev["secure"], dev["samesite"].lower()) == (
            "yes",
            want_secure,
            "strict",
        )
        assert (dev["path"], dev["max-age"]) == ("/admin", str(90 * 24 * 3600))
        # the login cookie is deleted with the same flags it was set with
        gone = got[LOGIN_COOKIE]
        assert gone["max-age"] == "0" and gone["path"] == "/admin"
        assert (gone["httponly"], gone["secure"], gone["samesite"].lower()) == (
            "yes",
            want_secure,
            "strict",
        )

        r = await http.get("/admin")
        r = await http.post("/admin/logout", data={"csrf": csrf_of(r.text)})
        gone = set_cookies(r)[ADMIN_COOKIE]
        assert gone["max-age"] == "0" and gone["path"] == "/admin"
        assert (gone["httponly"], gone["secure"], gone["samesite"].lower()) == (
            "yes",
            want_secure,
            "strict",
        )
    await app.state.study.aclose()


def markup_agent(req: dict[str, Any]) -> Reply:
    return Reply.text(MARKUP)


async def test_the_agents_own_markup_is_shown_as_text(
    sqlite_store: Store, people: list[Person]
) -> None:
    with FakeOpenAIServer(responder=markup_agent) as fake:
        app = build_app(make_config(fake), sqlite_store)
        p = Person(app)
        people.append(p)
        await p.to_chat("PROLIFIC_PID=w")
        await p.say("hello")
        st_json = await p.reply()
        assert st_json["messages"][-1] == {"idx": 2, "role": "agent", "text": MARKUP}
        r = await p.get("/p/chat")
        assert "<script>window.__pwned" not in r.text and "<img src=x" not in r.text
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in r.text
        assert "&lt;b&gt;bold&lt;/b&gt;" in r.text
        await p.end()
        await p.answer()
        await app.state.study.hub.drain()
        adm = await logged_in_admin(app)
        people.append(adm)
        sid = next(iter(sqlite_store.iter_sessions())).session_id
        r = await adm.get(f"/admin/sessions/{sid}")
        assert r.status_code == 200
        assert "<script>window.__pwned" not in r.text and "<img src=x" not in r.text
        assert "&lt;script&gt;window.__pwned = 1&lt;/script&gt;" in r.text
        await app.state.study.aclose()
