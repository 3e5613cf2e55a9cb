"""Capacity you can state before the study starts (issue 18): the model loaded at start with its
readiness shown, replies queued with their place in line instead of a bare "typing…", a cap on
chats at once with a "you are next" page, and one retry before a failed reply ends a chat."""

from __future__ import annotations

import asyncio
import time
from typing import Any

import httpx
import pytest

from simgap.models import SessionStatus, Termination
from simgap.store import Store
from simgap.study.assignment import AssignmentState
from simgap.study.capacity import ModelState, ModelWarmup, ReplyQueue, StartLine
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.study.conftest import (
    ADMIN_PASSWORD,
    LiveServer,
    Person,
    agent_responder,
    build_app,
    csrf_of,
    make_config,
)


# -- the pieces -----------------------------------------------------------------------------------
async def test_reply_queue_is_first_come_first_served_with_places() -> None:
    q = ReplyQueue(1)
    for k in "abcd":
        q.join(k)
    assert [q.spot(k).ahead for k in "abcd"] == [0, 1, 2, 3]  # type: ignore[union-attr]
    assert q.spot("zz") is None and (q.in_progress, q.queued) == (1, 3)
    order: list[str] = []

    async def reply(k: str) -> None:
        await q.turn(k)
        order.append(k)
        await asyncio.sleep(0.01)
        q.release(k)

    tasks = {k: asyncio.create_task(reply(k)) for k in "dcb"}  # started in another order
    await asyncio.sleep(0)
    tasks["c"].cancel()  # c's person left: d moves up
    q.release("c")
    assert q.spot("d").ahead == 2  # type: ignore[union-attr]
    await reply("a")
    await asyncio.gather(tasks["b"], tasks["d"])
    assert order == ["a", "b", "d"] and q.in_progress == 0 and q.queued == 0
    assert q.mean_s is not None and q.mean_s >= 0.01
    unlimited = ReplyQueue(None)
    for k in "xyz":
        unlimited.join(k)
    assert unlimited.spot("z").ahead == 0 and unlimited.queued == 0  # type: ignore[union-attr]


def test_start_line_keeps_order_and_drops_who_left() -> None:
    line = StartLine(2, keep_s=0.2)
    assert line.position(1, active=0) == 0  # free places, nobody waiting: start
    assert line.position(2, active=2) == 1  # full: next in line
    assert line.position(3, active=2) == 2
    assert line.position(3, active=1) == 1 and line.position(2, active=1) == 0
    # a newcomer does not jump the line while a place is reserved for the one in front
    assert line.position(4, active=1) == 2
    time.sleep(0.25)
    line.seen(4)  # 4 is still on its page; 2 and 3 stopped asking (closed tabs)
    assert len(line) == 1 and line.position(4, active=1) == 0
    line.leave(4)
    assert len(line) == 0
    assert StartLine(None).position(9, active=10_000) == 0  # no cap


async def test_model_warmup_states() -> None:
    gate = asyncio.Event()

    async def load() -> None:
        await gate.wait()

    w = ModelWarmup(load, expect_s=30)
    assert w.readiness().state == ModelState.LOADING
    w.start()
    await asyncio.sleep(0.05)
    assert w.readiness().state == ModelState.LOADING and w.readiness().since_s > 0
    gate.set()
    await w.wait()
    r = w.readiness()
    assert r.state == ModelState.READY and r.load_s is not None and r.load_s > 0.02

    async def broken() -> None:
        raise RuntimeError("model x at /m.gguf: cannot load the GGUF\nmore")

    bad = ModelWarmup(broken, expect_s=30)
    bad.start()
    await bad.wait()
    assert bad.readiness().state == ModelState.FAILED
    assert bad.error == "model x at /m.gguf: cannot load the GGUF"
    assert ModelWarmup(None, expect_s=0).readiness().state == ModelState.READY


# -- in the app -----------------------------------------------------------------------------------
async def test_a_reply_waiting_for_the_model_to_load_says_so(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent), sqlite_store)
    study = app.state.study
    gate = asyncio.Event()
    study.hub.warmup = ModelWarmup(gate.wait, expect_s=80)  # a model that takes a while
    study.hub.warmup.start()
    p = Person(app)
    people.append(p)
    await p.to_chat("PROLIFIC_PID=w")
    r = await p.say("hello")
    st = r.json()
    assert st["thinking"] is True
    assert st["wait_text"].startswith("The agent is getting ready (its AI model is loading")
    assert "Your message is saved." in st["wait_text"]
    r = await p.http.get("/healthz")
    assert r.status_code == 503 and r.json()["status"] == "loading"
    gate.set()
    st = await p.reply()
    assert st["messages"][-1]["text"] == "Sure. What can I do for you?"
    assert st["wait_text"] is None
    r = await p.http.get("/healthz")
    body = r.json()
    assert r.status_code == 200 and body["status"] == "ok"
    assert body["model"]["state"] == "ready" and body["model"]["load_s"] is not None
    assert body["chats"] == {"active": 1, "cap": None, "waiting_to_start": 0}
    await study.aclose()


async def test_queued_replies_say_how_many_are_ahead(
    sqlite_store: Store, people: list[Person]
) -> None:
    def slow(req: dict[str, Any]) -> Reply:
        return Reply.text("Sure. What can I do for you?", latency_s=1.5)

    with FakeOpenAIServer(responder=slow) as fake:
        cfg = make_config(fake, tasks=["19", "0", "1"], people_per_task=1)
        cfg.agent.max_concurrency = 1  # the model answers one reply at a time
        app = build_app(cfg, sqlite_store)
        ps = [Person(app) for _ in range(3)]
        people.extend(ps)
        for i, p in enumerate(ps):
            await p.to_chat(f"PROLIFIC_PID=q{i}")
        states = [(await p.say("hello")).json() for p in ps]
        texts = [s["wait_text"] for s in states]
        assert texts[0] is None  # being written: "typing…"
        assert texts[1] == "The agent answers one person at a time: 1 reply is ahead of yours."
        assert texts[2].startswith("The agent answers one person at a time: 2 replies are")
        r = await ps[2].http.get("/healthz")
        assert r.json()["replies"] == {"writing": 1, "queued": 2, "slots": 1, "mean_s": None}
        # the long-poll wakes when the place changes (not only when the reply is there)
        t0 = time.monotonic()
        r = await ps[2].http.get(
            "/p/chat/state?after=2&wait=20", headers={"X-Requested-With": "fetch"}
        )
        st = r.json()
        assert st["thinking"] is True and time.monotonic() - t0 < 10
        assert st["wait_text"].startswith("The agent answers one person at a time: 1 reply is")
        assert "(about " in st["wait_text"]  # one reply was timed: an estimate
        done = [await p.reply() for p in ps]
        assert all(d["messages"][-1]["text"] == "Sure. What can I do for you?" for d in done)
        await app.state.study.aclose()


async def test_beyond_the_cap_people_wait_for_a_chat_in_arrival_order(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    app = build_app(make_config(fake_agent, max_active_chats=1), sqlite_store)
    study = app.state.study
    a, b, c = Person(app), Person(app), Person(app)
    people += [a, b, c]
    await a.to_chat("PROLIFIC_PID=a")
    for p, pid in ((b, "b"), (c, "c")):
        await p.arrive(f"PROLIFIC_PID={pid}")
        await p.post("/p/consent", {"choice": "agree", "agree": "yes"})
        r = await p.post("/p/briefing")
        assert r.url.path == "/p/wait"
    r = await b.get("/p/wait")
    assert "You are next" in r.text and 'id="start"' not in r.text
    r = await c.get("/p/wait")
    assert "1 person is" in r.text and "ahead of you" in r.text
    assert "olivia" in r.text or "Your scenario" in r.text  # the scenario to read meanwhile
    assert (await b.http.get("/p/wait/state")).json() == {"position": 1, "start": False}
    # nobody is in a dead chat: the waiting people have no session yet
    assert [s.user_id for s in sqlite_store.iter_sessions()] == [
        study.assigner.all(states=[AssignmentState.CHATTING])[0].participant_id
    ]
    r = await b.http.get("/healthz")
    assert r.json()["chats"] == {"active": 1, "cap": 1, "waiting_to_start": 2}
    # pressing start again does not jump the line
    r = await c.post("/p/briefing")
    assert r.url.path == "/p/wait"

    await a.say("hello")
    await a.reply()
    await a.end()
    assert (await b.http.get("/p/wait/state")).json() == {"position": 0, "start": True}
    assert (await c.http.get("/p/wait/state")).json() == {"position": 1, "start": False}
    r = await b.get("/p/wait")
    assert "It is your turn" in r.text and 'id="start"' in r.text  # no-JS: a button
    r = await b.post("/p/briefing")
    assert r.url.path == "/p/chat" and "Hi! How can I help you today?" in r.text
    r = await c.http.get("/p/wait/state")
    assert r.json() == {"position": 1, "start": False}
    # once in a chat, the wait page sends the person on
    r = await b.http.get("/p/wait/state")
    assert r.json() == {"position": None, "next": "/p/chat"}
    await study.aclose()


async def test_a_failed_reply_is_retried_once(sqlite_store: Store, people: list[Person]) -> None:
    with FakeOpenAIServer(responder=agent_responder) as fake:
        fake.script(Reply.hang())  # the first generation never comes back
        cfg = make_config(fake)
        cfg.agent.timeout_s, cfg.agent.max_retries = 1.5, 0
        app = build_app(cfg, sqlite_store)
        p = Person(app)
        people.append(p)
        await p.to_chat("PROLIFIC_PID=w")
        await p.say("hello")
        saw_retry = False
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            r = await p.http.get(
                "/p/chat/state?after=1&wait=1", headers={"X-Requested-With": "fetch"}
            )
            st = r.json()
            saw_retry |= (
                st["wait_text"] == "The agent is taking longer than usual; trying once more…"
            )
            if not st["thinking"]:
                break
        assert saw_retry and not st["ended"]
        assert st["messages"][-1]["text"] == "Sure. What can I do for you?"
        s = next(iter(sqlite_store.iter_sessions()))
        assert s.status == SessionStatus.RUNNING
        await p.end()
        await app.state.study.hub.drain()
        s = next(iter(sqlite_store.iter_sessions()))
        assert s.status == SessionStatus.DONE and s.meta["agent_retries"] == 1
        await app.state.study.aclose()


async def test_a_second_failure_ends_the_chat_and_the_person_is_told_and_paid(
    sqlite_store: Store, people: list[Person]
) -> None:
    with FakeOpenAIServer(responder=agent_responder) as fake:
        fake.script(Reply.hang(), Reply.hang())
        cfg = make_config(fake, tasks=["19", "0"])
        cfg.agent.timeout_s, cfg.agent.max_retries = 1.0, 0
        app = build_app(cfg, sqlite_store)
        p = Person(app)
        people.append(p)
        await p.to_chat("PROLIFIC_PID=w")
        await p.say("hello")
        st = await p.reply(timeout_s=30)
        assert st["ended"] is True
        assert fake.calls == 2  # one retry, not more
        s = next(iter(sqlite_store.iter_sessions()))
        assert s.status == SessionStatus.FAILED and s.termination == Termination.INFRA_ERROR
        assert s.meta["agent_retries"] == 1 and "timeout" in (s.error or "")
        r = await p.get("/p")
        assert r.url.path == "/p/interrupted"
        assert "The agent stopped answering" in r.text and "not your fault" in r.text
        assert "TESTCODE" in r.text and "you will still be paid" in r.text.lower()
        await app.state.study.aclose()


@pytest.mark.slow
def test_embedded_model_is_loaded_when_the_server_starts(
    fake_agent: FakeOpenAIServer, sqlite_store: Store
) -> None:
    """The real embedded model: loaded before anyone arrives, readiness on /healthz and the
    admin page, the default cap of chats at once in force."""
    from simgap.study.config import DEFAULT_LOCAL_CHATS, StudyAgentConfig

    # τ²'s mock domain: its short policy keeps the start-up prompt small on a busy CPU
    cfg = make_config(
        fake_agent,
        domain="mock",
        tasks=["create_task_1", "update_task_1"],
        agent=StudyAgentConfig(model="local", max_tokens=16),
    )
    app = build_app(cfg, sqlite_store)
    study = app.state.study
    assert study.line.cap == DEFAULT_LOCAL_CHATS
    with LiveServer(app) as srv, httpx.Client(base_url=srv.url, timeout=30) as c:
        seen = []
        deadline = time.monotonic() + 300
        while time.monotonic() < deadline:
            r = c.get("/healthz")
            seen.append((r.status_code, r.json()["model"]["state"]))
            if r.status_code == 200:
                break
            time.sleep(0.2)
        assert seen[-1] == (200, "ready"), seen
        assert all(s in ((503, "loading"), (200, "ready")) for s in seen)
        body = r.json()
        assert body["model"]["load_s"] > 0 and body["chats"]["cap"] == DEFAULT_LOCAL_CHATS
        assert body["replies"]["slots"] == 1
        # loaded by the server itself: nobody has chatted, the worker process is up
        assert study.hub.client.worker.pid is not None and list(sqlite_store.iter_sessions()) == []
        r = c.get("/admin/login")
        r = c.post("/admin/login", data={"csrf": csrf_of(r.text), "password": ADMIN_PASSWORD})
        r = c.get("/admin")
        assert "ready" in r.text and "loaded in" in r.text
        assert f"of at most {DEFAULT_LOCAL_CHATS}" in r.text
