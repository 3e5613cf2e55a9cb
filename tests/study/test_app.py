"""The participant flow and its safeguards over HTTP (no browser): CSRF, length limits,
escaping, isolation between participants, admin access."""

from __future__ import annotations

import json
from typing import Any

import pytest

from simgap.models import Role, SessionStatus, Termination, UserKind
from simgap.store import Store
from simgap.study.app import ADMIN_COOKIE, PARTICIPANT_COOKIE
from simgap.study.assignment import AssignmentState
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import (
    ADMIN_PASSWORD,
    Person,
    build_app,
    csrf_of,
    make_config,
)

XSS = "<script>alert('pwned')</script><img src=x onerror=alert(1)>"


async def admin_login(app: Any, password: str = ADMIN_PASSWORD) -> Person:
    adm = Person(app)
    r = await adm.get("/admin/login")
    assert r.status_code == 200
    r = await adm.post("/admin/login", {"password": password})
    return adm


async def test_whole_flow_is_stored_like_simgap_run(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    r = await p.to_chat("PROLIFIC_PID=worker-1&STUDY_ID=s1")
    assert "Hi! How can I help you today?" in r.text
    assert "olivia_gonzalez_2305" in r.text  # task 19's scenario is shown next to the chat
    r = await p.say("Please cancel my reservation")
    assert r.status_code == 200 and r.json()["thinking"] is True
    st = await p.reply()
    assert st["messages"][-1]["text"].startswith("Done: reservation Z7GOZK is cancelled")
    # only text bubbles: the tool call and its result stay hidden
    assert [m["role"] for m in st["messages"]] == ["agent", "user", "agent"]
    assert "cancel_reservation" not in json.dumps(st)
    r = await p.end()
    assert r.url.path == "/p/questionnaire"
    r = await p.answer()
    assert r.url.path == "/p/done" and "TESTCODE" in r.text
    await app.state.study.hub.drain()  # the reward is computed after the participant moved on

    sessions = list(sqlite_store.iter_sessions())
    assert len(sessions) == 1
    s = sessions[0]
    assert s.user_kind == UserKind.HUMAN and s.batch == "b1" and s.task_id == "19"
    assert s.status == SessionStatus.DONE and s.termination == Termination.USER_STOP
    assert s.reward is not None and s.reward.value == 1.0
    assert [t.role for t in s.turns] == [Role.AGENT, Role.USER, Role.AGENT, Role.TOOL, Role.AGENT]
    assert s.turns[2].tool_calls[0].name == "cancel_reservation"
    assert s.meta["study"] == "t" and s.agent.model == "openai/fake-agent"
    assert "api_key" not in json.dumps(s.agent.model_dump())
    fb = sqlite_store.get_feedback([s.session_id])
    assert len(fb) == 1 and fb[0].respondent_kind == UserKind.HUMAN
    assert fb[0].respondent_id == s.user_id and fb[0].answers["overall_score"] == 5
    # the crowd id is kept with the participant, never in the session record
    assert "worker-1" not in s.model_dump_json() and "worker-1" not in fb[0].model_dump_json()
    # coming back later lands on the done page again
    r = await p.get("/p")
    assert r.url.path == "/p/done"
    await app.state.study.aclose()


async def test_post_without_csrf_changes_nothing(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.arrive("PROLIFIC_PID=w")
    r = await p.http.post("/p/consent", data={"choice": "agree", "agree": "yes"})
    assert r.url.path == "/p/consent"  # bounced back, not consented
    r = await p.http.post("/p/consent", data={"choice": "agree", "agree": "yes", "csrf": "forged"})
    assert r.url.path == "/p/consent"
    await p.post("/p/consent", {"choice": "agree", "agree": "yes"})
    await p.post("/p/briefing")
    r = await p.http.post(
        "/p/chat/send", data={"text": "hello"}, headers={"X-Requested-With": "fetch"}
    )
    assert r.status_code == 403
    r = await p.http.post(
        "/p/chat/send",
        data={"text": "hello", "csrf": "x"},
        headers={"X-Requested-With": "fetch", "X-CSRF-Token": "nope"},
    )
    assert r.status_code == 403
    r = await p.http.post("/p/chat/end", data={})
    s = next(iter(sqlite_store.iter_sessions()))
    assert s.status == SessionStatus.RUNNING and len(s.turns) == 1
    # the CSRF token also travels as a header (what the chat script does)
    r = await p.http.post(
        "/p/chat/send",
        data={"text": "hello"},
        headers={"X-Requested-With": "fetch", "X-CSRF-Token": p.csrf},
    )
    assert r.status_code == 200
    await p.reply()
    await app.state.study.aclose()


async def test_length_limits(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent, max_message_chars=100), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    r = await p.say("x" * 101)
    assert r.status_code == 400 and r.json()["code"] == "long"
    r = await p.say("   ")
    assert r.status_code == 400 and r.json()["code"] == "empty"
    # without JavaScript the error comes back as a fixed message on the chat page
    r = await p.post("/p/chat/send", {"text": "y" * 500})
    assert r.url.path == "/p/chat" and "That message is too long." in r.text
    # a body over 64 KiB is refused before anything reads it
    r = await p.http.post("/p/chat/send", data={"csrf": p.csrf, "text": "z" * 70_000})
    assert r.status_code == 413
    s = next(iter(sqlite_store.iter_sessions()))
    assert len(s.turns) == 1  # only the greeting
    r = await p.say("ok " * 33)
    assert r.status_code == 200
    await p.reply()
    await p.end()
    r = await p.answer(comments="c" * 2001)
    assert r.status_code == 422 and "2000 characters or fewer (it has 2001)" in r.text
    r = await p.post("/p/questionnaire", {"comments": "only this"})
    assert r.status_code == 422 and "Please answer this question." in r.text
    assert sqlite_store.get_feedback() == []
    r = await p.answer(overall_score="9")
    assert r.status_code == 422
    r = await p.answer()
    assert r.url.path == "/p/done"
    await app.state.study.aclose()


async def test_participant_text_is_escaped_everywhere(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    assert (await p.say(XSS)).status_code == 200
    await p.reply()
    r = await p.get("/p/chat")
    assert XSS not in r.text and "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt;" in r.text
    assert "<img src=x" not in r.text
    assert "script-src 'self'" in r.headers["content-security-policy"]
    await p.end()
    await p.answer(comments=XSS)
    adm = await admin_login(app)
    people.append(adm)
    sid = next(iter(sqlite_store.iter_sessions())).session_id
    for url in (f"/admin/sessions/{sid}", "/admin/sessions"):
        r = await adm.get(url)
        assert r.status_code == 200
        assert XSS not in r.text and "<img src=x" not in r.text
    r = await adm.get(f"/admin/sessions/{sid}")
    assert r.text.count("&lt;script&gt;") >= 2  # chat turn and free-text answer
    await app.state.study.aclose()


async def test_control_tokens_typed_by_a_person_do_not_end_the_chat(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    r = await p.say("hello ###STOP### ###TRANSFER###")
    assert r.status_code == 200
    st = await p.reply()
    assert not st["ended"] and st["messages"][1]["text"] == "hello"
    r = await p.say("###STOP###")
    assert r.status_code == 400
    # a double submit (same message id) is stored once
    r1 = await p.say("again", msg_id="m-1")
    await p.reply()
    r2 = await p.say("again", msg_id="m-1")
    assert r1.status_code == r2.status_code == 200
    s = next(iter(sqlite_store.iter_sessions()))
    assert sum(1 for t in s.turns if t.content == "again") == 1
    await app.state.study.aclose()


async def test_participants_cannot_read_each_other(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    a, b = Person(app), Person(app)
    people += [a, b]
    await a.to_chat("PROLIFIC_PID=alice")
    await a.say("secret of alice: cancel 123")
    await a.reply()
    await b.to_chat("PROLIFIC_PID=bob")
    st = await b.reply()
    assert "alice" not in json.dumps(st)
    r = await b.get("/p/chat")
    assert "secret of alice" not in r.text
    sid_a = next(
        s.session_id
        for s in sqlite_store.iter_sessions()
        if s.turns[-1].role != Role.USER and len(s.turns) > 1
    )
    # no participant route takes a session id; admin routes refuse a participant's cookie
    for url in (f"/admin/sessions/{sid_a}", "/admin/export.jsonl", "/admin/sessions"):
        r = await b.http.get(url, follow_redirects=False)
        assert r.status_code in (303, 401)
        assert "secret of alice" not in r.text
    # a cookie cannot be forged or swapped for another kind of cookie
    b_cookie = b.http.cookies.get(PARTICIPANT_COOKIE)
    assert b_cookie
    forged = Person(app)
    people.append(forged)
    forged.http.cookies.set(PARTICIPANT_COOKIE, b_cookie[:-3] + "AAA")
    r = await forged.http.get("/p/chat/state", headers={"X-Requested-With": "fetch"})
    assert r.status_code == 401
    forged.http.cookies.set(ADMIN_COOKIE, b_cookie, path="/admin")
    r = await forged.http.get(f"/admin/sessions/{sid_a}", follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    # the crowd id is the key to a participant: re-entering with bob's id is bob, not alice
    await b.say("bob here, hello")
    await b.reply()
    owner = {
        s.user_id: " ".join(t.content or "" for t in s.turns) for s in sqlite_store.iter_sessions()
    }
    a_pid = next(pid for pid, text in owner.items() if "secret of alice" in text)
    b_pid = next(pid for pid, text in owner.items() if "bob here" in text)
    assert a_pid != b_pid
    for ext, pid, own, other in (
        ("bob", b_pid, "bob here, hello", "secret of alice"),
        ("alice", a_pid, "secret of alice", "bob here"),
    ):
        again = Person(app)  # a fresh browser: no cookie, only the crowd id in the link
        people.append(again)
        r = await again.arrive(f"PROLIFIC_PID={ext}")
        assert r.url.path == "/p/chat"
        assert own in r.text and other not in r.text
        cookie = again.http.cookies.get(PARTICIPANT_COOKIE)
        who = app.state.web.p_signer.loads(cookie, max_age_s=60)
        assert who is not None and who.subject == pid
    await app.state.study.aclose()


async def test_admin_is_refused_without_the_password(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    anon = Person(app)
    people.append(anon)
    for url in ("/admin", "/admin/sessions", "/admin/participants"):
        r = await anon.http.get(url, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/admin/login"
    r = await anon.http.get("/admin/export.jsonl", follow_redirects=False)
    assert r.status_code == 401
    r = await anon.http.post("/admin/release", data={}, follow_redirects=False)
    assert r.status_code == 401
    wrong = await admin_login(app, "guess")
    people.append(wrong)
    r = await wrong.http.get("/admin", follow_redirects=False)
    assert r.status_code == 303
    # a login post without the login page's CSRF token is ignored
    r = await anon.http.post(
        "/admin/login", data={"password": ADMIN_PASSWORD}, follow_redirects=False
    )
    assert r.status_code == 303 and ADMIN_COOKIE not in anon.http.cookies
    good = await admin_login(app)
    people.append(good)
    r = await good.get("/admin")
    assert r.status_code == 200 and "Progress" in r.text and "By task and batch" in r.text
    r = await good.http.get("/admin/export.jsonl")
    assert r.status_code == 200
    # logging out ends it
    await good.post("/admin/logout")
    r = await good.http.get("/admin", follow_redirects=False)
    assert r.status_code == 303
    await app.state.study.aclose()

    # no password configured at all: the admin pages are off
    app2 = build_app(make_config(fake_agent, name="t2"), sqlite_store, admin_password="")
    off = Person(app2)
    people.append(off)
    r = await off.http.get("/admin/login")
    assert r.status_code == 403 and "switched off" in r.text
    r = await off.http.post("/admin/login", data={"password": ""})
    assert r.status_code == 403
    await app2.state.study.aclose()


async def test_admin_pages_and_export(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    await p.say("cancel please")
    await p.reply()
    await p.end()
    await p.answer()
    await app.state.study.hub.drain()
    adm = await admin_login(app)
    people.append(adm)
    r = await adm.get("/admin")
    assert "1 of 3 sessions complete" in r.text and "100%" in r.text
    sid = next(iter(sqlite_store.iter_sessions())).session_id
    r = await adm.get(f"/admin/sessions/{sid}")
    assert "cancel_reservation" in r.text and "hidden from participant" in r.text
    assert "Absolutely yes" in r.text  # an answer
    r = await adm.get("/admin/sessions/nope")
    assert r.status_code == 404
    r = await adm.http.get("/admin/export.jsonl")
    lines = [json.loads(x) for x in r.text.splitlines()]
    assert [x["record"] for x in lines] == ["session", "feedback"]
    assert lines[0]["reward"]["value"] == 1.0 and len(lines[0]["turns"]) == 5
    await app.state.study.aclose()


async def test_token_access_and_consent_decline(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent, access={"mode": "token"}), sqlite_store)
    study = app.state.study
    tokens = study.create_tokens(2)
    x = Person(app)
    people.append(x)
    r = await x.arrive("token=not-a-token")
    assert r.status_code == 403
    r = await x.arrive("PROLIFIC_PID=someone")
    assert r.status_code == 403
    r = await x.arrive(f"token={tokens[0]}")
    assert r.url.path == "/p/consent"
    r = await x.post("/p/consent", {"choice": "decline"})
    assert r.url.path == "/p/declined"
    assert study.assigner.all() == []  # no place taken
    y = Person(app)
    people.append(y)
    r = await y.arrive(f"token={tokens[1]}")
    r = await y.post("/p/consent", {"choice": "agree"})  # box not ticked
    assert r.url.path == "/p/consent"
    r = await y.post("/p/consent", {"choice": "agree", "agree": "yes"})
    assert r.url.path == "/p/briefing"
    adm = await admin_login(app)
    people.append(adm)
    r = await adm.get("/admin/participants")
    assert tokens[0] in r.text
    r = await adm.post("/admin/tokens", {"n": "3"})
    assert len(study.tokens()) == 5
    await study.aclose()


async def test_study_full_and_another_task(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    cfg = make_config(fake_agent, tasks=["19", "0"], tasks_per_participant=2)
    app = build_app(cfg, sqlite_store)
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    await p.say("hello")
    await p.reply()
    await p.end()
    r = await p.answer()
    assert r.url.path == "/p/done" and "Do another task" in r.text
    r = await p.post("/p/another")
    assert r.url.path == "/p/briefing"
    r = await p.post("/p/briefing")
    await p.say("hello")
    await p.reply()
    await p.end()
    r = await p.answer()
    assert r.url.path == "/p/done" and "Do another task" not in r.text
    tasks = sorted(s.task_id for s in sqlite_store.iter_sessions())
    assert tasks == ["0", "19"]
    q = Person(app)
    people.append(q)
    await q.arrive("PROLIFIC_PID=late")
    r = await q.post("/p/consent", {"choice": "agree", "agree": "yes"})
    assert r.url.path == "/p/full"
    await app.state.study.aclose()


async def test_abandoned_chat_is_released_and_the_person_told(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    from datetime import timedelta

    from sqlalchemy import update

    from simgap.models import utcnow
    from simgap.study import tables as st

    app = build_app(make_config(fake_agent, tasks=["19", "0"]), sqlite_store)
    study = app.state.study
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    await p.say("hello")
    await p.reply()
    with sqlite_store.engine.begin() as conn:
        conn.execute(update(st.assignments).values(last_seen_at=utcnow() - timedelta(hours=1)))
    released = await study.maintenance()
    assert len(released) == 1
    s = sqlite_store.get_session(released[0].session_id)
    assert s is not None and s.termination == Termination.ABANDONED
    assert not study.hub.is_live(s.session_id)
    r = await p.get("/p/chat")
    assert r.url.path == "/p/interrupted" and "timed out" in r.text
    r = await p.post("/p/another")
    assert r.url.path == "/p/briefing"
    cur = study.assigner.current(s.user_id)
    assert cur is not None and cur.task_id != s.task_id and cur.state == AssignmentState.ASSIGNED
    await study.aclose()


@pytest.mark.parametrize("path", ["/p/chat", "/p/questionnaire", "/p/chat/state"])
async def test_pages_without_a_cookie_ask_for_the_link(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person], path: str
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    p = Person(app)
    people.append(p)
    r = await p.http.get(path)
    assert r.status_code == 401
    r = await p.http.get("/")
    assert r.status_code == 200 and "personal link" in r.text
    r = await p.http.get("/nowhere")
    assert r.status_code == 404
    assert csrf_of((await p.http.get("/admin/login")).text)
    await app.state.study.aclose()


async def test_model_failure_ends_the_chat_and_frees_the_place(
    sqlite_store: Store, people: list[Person]
) -> None:
    from tests.fakes.openai_server import Reply

    with FakeOpenAIServer(responder=lambda req: Reply.error(400, "bad request")) as broken:
        app = build_app(make_config(broken, tasks=["19", "0"]), sqlite_store)
        study = app.state.study
        p = Person(app)
        people.append(p)
        await p.to_chat("PROLIFIC_PID=w")
        await p.say("hello")
        st = await p.reply()
        assert st["ended"] is True
        s = next(iter(sqlite_store.iter_sessions()))
        assert s.status == SessionStatus.FAILED and s.termination == Termination.INFRA_ERROR
        assert s.error and "fake-agent" in s.error and "\n" not in s.error
        r = await p.get("/p")
        assert r.url.path == "/p/interrupted" and "technical problem" in r.text
        assert "TESTCODE" in r.text  # our failure: the person is still paid
        a = study.assigner.by_session(s.session_id)
        assert a is not None and a.state == AssignmentState.FAILED and a.slot is None
        r = await p.post("/p/another")
        assert r.url.path == "/p/briefing"
        await study.aclose()
