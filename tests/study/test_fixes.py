"""Defects found by trying the study app as participants, an administrator and an attacker
would (issue 18), each checked over HTTP: NUL characters on PostgreSQL, the length wording,
scenario sentences, admin logout revoking the session server-side, the login throttle, and
bidi isolation of participant text in the served HTML."""

from __future__ import annotations

from typing import Any

import pytest

from simgap.store import Store
from simgap.study.app import ADMIN_COOKIE
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import ADMIN_PASSWORD, Person, build_app, make_config


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
