"""Fixtures for the study app: a scripted agent behind the fake OpenAI server, stores on SQLite
and on a throwaway PostgreSQL server, participants driven over HTTP, a live uvicorn server."""

from __future__ import annotations

import re
import threading
import time
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn

from simgap.models import ItemKind, load_questionnaire
from simgap.store import Store
from simgap.study.app import create_app
from simgap.study.config import AccessConfig, CompletionConfig, StudyAgentConfig, StudyConfig
from tests.fakes.openai_server import FakeOpenAIServer, Reply
from tests.fakes.postgres import free_port

ADMIN_PASSWORD = "correct horse battery staple"
RESERVATION = "Z7GOZK"  # airline task 19: the expected action is cancelling this reservation


def agent_responder(req: dict[str, Any]) -> Reply | None:
    """A deterministic stand-in for the agent's model, stateless so many sessions can share it.

    Task 19 (airline) is solved when the agent cancels Z7GOZK: asked to cancel, it calls the real
    τ² tool, then confirms. "slow" in the participant's words makes it think for 2 s.
    """
    msgs = req.get("messages") or []
    last = msgs[-1] if msgs else {}
    text = str(last.get("content") or "")
    latency = 2.0 if "slow" in text.lower() else None
    if last.get("role") == "tool":
        return Reply.text(f"Done: reservation {RESERVATION} is cancelled. Anything else?")
    if "cancel" in text.lower():
        return Reply.tool_call(
            "cancel_reservation", {"reservation_id": RESERVATION}, latency_s=latency
        )
    return Reply.text("Sure. What can I do for you?", latency_s=latency)


@pytest.fixture(scope="session")
def fake_agent() -> Iterator[FakeOpenAIServer]:
    with FakeOpenAIServer(latency_s=0.02, responder=agent_responder) as srv:
        yield srv


def make_config(fake: FakeOpenAIServer, **over: Any) -> StudyConfig:
    data: dict[str, Any] = {
        "name": "t",
        "domain": "airline",
        "tasks": ["19", "0", "1"],
        "people_per_task": 1,
        "batches": ["b1"],
        "agent": StudyAgentConfig(
            model="openai/fake-agent",
            api_base=fake.base_url,
            api_key="sk-test",
            max_retries=1,
            timeout_s=30,
        ),
        "access": AccessConfig(mode="crowd"),
        "completion": CompletionConfig(code="TESTCODE"),
        "reward_workers": 0,  # rewards in a thread: no worker processes to start per test
    }
    data.update(over)
    return StudyConfig(**data)


@pytest.fixture
def sqlite_store(tmp_path: Path) -> Iterator[Store]:
    s = Store(tmp_path / "study.db")
    yield s
    s.close()


# -- PostgreSQL: pg_server and pg_store come from tests/fakes/postgres.py ------------------------
@pytest.fixture(params=["sqlite", "postgres"])
def any_store(request: pytest.FixtureRequest) -> Store:
    if request.param == "sqlite":
        return request.getfixturevalue("sqlite_store")  # type: ignore[no-any-return]
    return request.getfixturevalue("pg_store")  # type: ignore[no-any-return]


# -- participants over HTTP -----------------------------------------------------------------------
CSRF_RE = re.compile(r'name="csrf" value="([^"]+)"')


def csrf_of(html: str) -> str:
    m = CSRF_RE.search(html)
    assert m, "no CSRF field on the page"
    return m.group(1)


def full_answers(**over: str) -> dict[str, str]:
    out: dict[str, str] = {}
    for it in load_questionnaire().items:
        if it.kind == ItemKind.ORDINAL:
            out[it.field] = it.options[-1]
        elif it.kind == ItemKind.LIKERT:
            out[it.field] = str(it.scale_max)
        else:
            out[it.field] = "fine"
    out.update(over)
    return out


class Person:
    """One participant's browser without JavaScript quirks: own cookie jar, same app."""

    def __init__(
        self,
        app: Any,
        *,
        cookies: httpx.Cookies | None = None,
        client: tuple[str, int] = ("127.0.0.1", 123),
    ) -> None:
        self.app = app
        self.http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=client),
            base_url="http://test",
            follow_redirects=True,
            cookies=cookies,
        )
        self.csrf = ""

    async def aclose(self) -> None:
        await self.http.aclose()

    async def get(self, url: str, **kw: Any) -> httpx.Response:
        r = await self.http.get(url, **kw)
        m = CSRF_RE.search(r.text)
        if m:
            self.csrf = m.group(1)
        return r

    async def post(self, url: str, data: dict[str, str] | None = None, **kw: Any) -> httpx.Response:
        body = {"csrf": self.csrf, **(data or {})}
        r = await self.http.post(url, data=body, **kw)
        m = CSRF_RE.search(r.text)
        if m:
            self.csrf = m.group(1)
        return r

    async def arrive(self, query: str) -> httpx.Response:
        return await self.get(f"/start?{query}")

    async def to_chat(self, query: str) -> httpx.Response:
        r = await self.arrive(query)
        assert r.url.path == "/p/consent", r.url
        r = await self.post("/p/consent", {"choice": "agree", "agree": "yes"})
        assert r.url.path == "/p/briefing", r.url
        r = await self.post("/p/briefing")
        assert r.url.path == "/p/chat", r.url
        return r

    async def say(self, text: str, *, msg_id: str | None = None) -> httpx.Response:
        return await self.http.post(
            "/p/chat/send",
            data={"csrf": self.csrf, "text": text, "msg_id": msg_id or uuid.uuid4().hex},
            headers={"X-Requested-With": "fetch"},
        )

    async def reply(self, *, after: int = -1, timeout_s: float = 30.0) -> dict[str, Any]:
        """Long-poll until the agent is no longer thinking."""
        deadline = time.monotonic() + timeout_s
        while True:
            r = await self.http.get(
                f"/p/chat/state?after={after}&wait=10", headers={"X-Requested-With": "fetch"}
            )
            st: dict[str, Any] = r.json()
            if not st.get("thinking") or time.monotonic() > deadline:
                return st
            msgs = st.get("messages") or []
            after = msgs[-1]["idx"] if msgs else after

    async def end(self) -> httpx.Response:
        return await self.post("/p/chat/end")

    async def answer(self, **over: str) -> httpx.Response:
        return await self.post("/p/questionnaire", full_answers(**over))


@pytest.fixture
async def people() -> AsyncIterator[list[Person]]:
    made: list[Person] = []
    yield made
    for p in made:
        await p.aclose()


# -- a live server for the browser ----------------------------------------------------------------
class LiveServer:
    """uvicorn serving the app on 127.0.0.1 in a thread (a real socket for Chromium)."""

    def __init__(self, app: Any, *, port: int | None = None) -> None:
        self.port = port or free_port()
        cfg = uvicorn.Config(
            app, host="127.0.0.1", port=self.port, log_level="warning", access_log=False
        )
        self.server = uvicorn.Server(cfg)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        deadline = time.monotonic() + 30
        while not self.server.started:
            if time.monotonic() > deadline or not self.thread.is_alive():
                raise RuntimeError("study server did not start")
            time.sleep(0.02)
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)


def build_app(config: StudyConfig, store: Store, **kw: Any) -> Any:
    kw.setdefault("admin_password", ADMIN_PASSWORD)
    kw.setdefault("maintenance_every_s", 0)
    return create_app(config, store, **kw)
