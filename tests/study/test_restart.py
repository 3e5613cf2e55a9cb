"""A server restart mid-conversation loses nothing: the next app (or process) on the same store
rebuilds the conversation from stored turns and carries on, even from a reply in flight."""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from simgap.models import Role, SessionStatus, Termination
from simgap.sessions import driver as driver_mod
from simgap.store import Store
from tests.fakes.openai_server import FakeOpenAIServer
from tests.study.conftest import Person, build_app, csrf_of, free_port, full_answers, make_config


async def test_new_app_on_the_same_store_continues_the_session(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    cfg = make_config(fake_agent)
    app1 = build_app(cfg, sqlite_store)
    p1 = Person(app1)
    people.append(p1)
    await p1.to_chat("PROLIFIC_PID=w")
    await p1.say("hello there")
    st1 = await p1.reply()
    before = next(iter(sqlite_store.iter_sessions()))
    # the server goes away: drivers, locks and the model client are gone
    await app1.state.study.aclose()
    del app1

    app2 = build_app(cfg, sqlite_store)
    p2 = Person(app2, cookies=p1.http.cookies)  # the same browser comes back
    people.append(p2)
    r = await p2.get("/p")
    assert r.url.path == "/p/chat"
    for m in st1["messages"]:
        assert m["text"] in r.text
    r = await p2.say("please cancel it")
    assert r.status_code == 200
    st2 = await p2.reply()
    assert [m["text"] for m in st2["messages"][: len(st1["messages"])]] == [
        m["text"] for m in st1["messages"]
    ]
    await p2.end()
    r = await p2.answer()
    assert r.url.path == "/p/done"
    await app2.state.study.hub.drain()
    s = next(iter(sqlite_store.iter_sessions()))
    assert s.session_id == before.session_id
    assert [t.model_dump() for t in s.turns[: len(before.turns)]] == [
        t.model_dump() for t in before.turns
    ]
    assert s.status == SessionStatus.DONE and s.reward is not None and s.reward.value == 1.0
    assert len(sqlite_store.get_feedback()) == 1
    await app2.state.study.aclose()


async def test_restart_while_the_agent_is_answering(
    fake_agent: FakeOpenAIServer, sqlite_store: Store, people: list[Person]
) -> None:
    cfg = make_config(fake_agent)
    app1 = build_app(cfg, sqlite_store)
    p1 = Person(app1)
    people.append(p1)
    await p1.to_chat("PROLIFIC_PID=w")
    r = await p1.say("slow: hello")  # the agent takes 2 s on this one
    assert r.json()["thinking"] is True
    await app1.state.study.aclose()  # dies before the reply arrives
    s = next(iter(sqlite_store.iter_sessions()))
    assert [t.role for t in s.turns] == [Role.AGENT, Role.USER]  # the message is safe

    app2 = build_app(cfg, sqlite_store)
    p2 = Person(app2, cookies=p1.http.cookies)
    people.append(p2)
    r = await p2.get("/p/chat")
    assert "slow: hello" in r.text and 'data-thinking="1"' in r.text
    st = await p2.reply()
    assert st["messages"][-1]["text"] == "Sure. What can I do for you?"
    s = next(iter(sqlite_store.iter_sessions()))
    assert [t.role for t in s.turns] == [Role.AGENT, Role.USER, Role.AGENT]
    assert s.status == SessionStatus.RUNNING
    await app2.state.study.aclose()


def _serve(config: Path, db: Path, port: int, log: Path) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SIMGAP_ADMIN_PASSWORD": "pw-for-test"}
    return subprocess.Popen(
        [
            sys.executable,
            "-c",
            "from simgap.cli.app import main; main()",
            "study",
            "serve",
            "--config",
            str(config),
            "--db",
            str(db),
            "--port",
            str(port),
        ],
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        env=env,
        start_new_session=True,
    )


def _wait_up(url: str, proc: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"server exited: {log.read_text()[-2000:]}")
        try:
            httpx.get(url + "/", timeout=1)
            return
        except httpx.HTTPError:
            time.sleep(0.2)
    raise AssertionError("server did not come up")


def test_killed_server_process_loses_nothing(fake_agent: FakeOpenAIServer, tmp_path: Path) -> None:
    """`simgap study serve` killed with SIGKILL mid-reply, started again: the chat goes on."""
    cfg = make_config(fake_agent).model_dump(mode="json", exclude_none=True)
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump(cfg), encoding="utf-8")
    db, port = tmp_path / "study.db", free_port()
    url = f"http://127.0.0.1:{port}"
    proc = _serve(config, db, port, tmp_path / "serve1.log")
    try:
        _wait_up(url, proc, tmp_path / "serve1.log")
        with httpx.Client(base_url=url, follow_redirects=True, timeout=30) as c:
            r = c.get("/start?PROLIFIC_PID=w")
            csrf = csrf_of(r.text)
            c.post("/p/consent", data={"csrf": csrf, "choice": "agree", "agree": "yes"})
            r = c.post("/p/briefing", data={"csrf": csrf})
            assert r.url.path == "/p/chat"
            r = c.post(
                "/p/chat/send",
                data={"csrf": csrf, "text": "slow: cancel my trip"},
                headers={"X-Requested-With": "fetch"},
            )
            assert r.json()["thinking"] is True
            cookies = dict(c.cookies)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
    proc = _serve(config, db, port, tmp_path / "serve2.log")
    try:
        _wait_up(url, proc, tmp_path / "serve2.log")
        with httpx.Client(base_url=url, follow_redirects=True, timeout=30, cookies=cookies) as c:
            r = c.get("/p")
            assert r.url.path == "/p/chat" and "slow: cancel my trip" in r.text
            deadline = time.monotonic() + 30
            while True:
                st = c.get(
                    "/p/chat/state?after=1&wait=10", headers={"X-Requested-With": "fetch"}
                ).json()
                if not st["thinking"] or time.monotonic() > deadline:
                    break
            assert "cancelled" in st["messages"][-1]["text"]
            r = c.post("/p/chat/end", data={"csrf": csrf})
            assert r.url.path == "/p/questionnaire"
            r = c.post("/p/questionnaire", data={"csrf": csrf, **full_answers()})
            assert r.url.path == "/p/done"
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)
        proc.wait(timeout=30)
    store = Store(db)
    s = next(iter(store.iter_sessions()))
    assert s.status == SessionStatus.DONE and s.termination == Termination.USER_STOP
    assert s.reward is not None and s.reward.value == 1.0
    assert [t.role for t in s.turns] == [Role.AGENT, Role.USER, Role.AGENT, Role.TOOL, Role.AGENT]
    assert len(store.get_feedback()) == 1


async def test_reward_missing_after_a_stop_is_computed_on_the_next_start(
    fake_agent: FakeOpenAIServer,
    sqlite_store: Store,
    people: list[Person],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # τ²'s reward now takes milliseconds: hold it back so the app stops before it is written
    release = threading.Event()
    real_evaluate = driver_mod.evaluate

    def slow_evaluate(*a: Any, **k: Any) -> Any:
        release.wait(10)
        return real_evaluate(*a, **k)

    monkeypatch.setattr(driver_mod, "evaluate", slow_evaluate)
    cfg = make_config(fake_agent)
    app1 = build_app(cfg, sqlite_store)
    p1 = Person(app1)
    people.append(p1)
    await p1.to_chat("PROLIFIC_PID=w")
    await p1.say("cancel please")
    await p1.reply()
    r = await p1.end()
    assert r.url.path == "/p/questionnaire"  # the participant does not wait for the reward
    await app1.state.study.aclose(drain_s=0)  # stopped before the reward was written
    s = next(iter(sqlite_store.iter_sessions()))
    assert s.status == SessionStatus.RUNNING and s.reward is None
    monkeypatch.setattr(driver_mod, "evaluate", real_evaluate)
    release.set()

    app2 = build_app(cfg, sqlite_store)
    study2 = app2.state.study
    assert await study2.recover() == 1
    await study2.hub.drain()
    s = next(iter(sqlite_store.iter_sessions()))
    assert s.status == SessionStatus.DONE and s.termination == Termination.USER_STOP
    assert s.reward is not None and s.reward.value == 1.0
    assert await study2.recover() == 0
    p2 = Person(app2, cookies=p1.http.cookies)
    people.append(p2)
    r = await p2.get("/p")
    assert r.url.path == "/p/questionnaire"
    await study2.aclose()
