"""Defects found by trying the study app as participants, an administrator and an attacker
would (issue 18), each checked over HTTP: NUL characters on PostgreSQL, the length wording,
scenario sentences, admin logout revoking the session server-side, the login throttle, and
bidi isolation of participant text in the served HTML."""

from __future__ import annotations

from typing import Any

import pytest

from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import Person, build_app, make_config


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
