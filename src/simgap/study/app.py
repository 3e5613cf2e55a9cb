"""The web layer: FastAPI routes and Jinja2 pages over `service.Study`. No build step.

Participant pages live under `/p/` and know the participant only from a signed cookie set by
`/start`; none of them takes a session id, so there is nothing to guess to read someone else's
conversation. Admin pages live under `/admin/` behind a password and their own signed cookie.
Every POST needs the CSRF token of its cookie. Participants' words are only ever put into
pages by autoescaping Jinja2 templates or by the chat script's `textContent`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import time
from collections import defaultdict, deque
from collections.abc import AsyncIterator, Callable, Iterator
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

from fastapi import FastAPI, Request
from fastapi.responses import (
    HTMLResponse,
    JSONResponse,
    RedirectResponse,
    Response,
    StreamingResponse,
)
from fastapi.staticfiles import StaticFiles
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from simgap.llm.base import LLMClient
from simgap.models import ItemKind, SessionStatus, Termination
from simgap.models.records import dump_line
from simgap.store import Store
from simgap.study.assignment import Assignment, AssignmentState
from simgap.study.chat import ChatError, ChatOver, ChatState, visible_messages
from simgap.study.config import AccessMode, StudyConfig
from simgap.study.security import (
    CookieData,
    CookieSigner,
    check_password_hash,
    hash_password,
    new_token,
    tokens_equal,
    verify_password,
)
from simgap.study.service import Stage, Study, Where

log = logging.getLogger("simgap.study")

HERE = Path(__file__).parent
PARTICIPANT_COOKIE = "simgap_p"
ADMIN_COOKIE = "simgap_admin"
LOGIN_COOKIE = "simgap_login"
PARTICIPANT_MAX_AGE_S = 30 * 24 * 3600
ADMIN_MAX_AGE_S = 12 * 3600
MAX_BODY_BYTES = 64 * 1024
LONG_POLL_MAX_S = 25.0
LOGIN_FAILURES_ALLOWED = 10  # per client address per 10 minutes
ADMIN_PASSWORD_ENV = "SIMGAP_ADMIN_PASSWORD"

STAGE_PATH = {
    Stage.CONSENT: "/p/consent",
    Stage.DECLINED: "/p/declined",
    Stage.BRIEFING: "/p/briefing",
    Stage.CHAT: "/p/chat",
    Stage.QUESTIONNAIRE: "/p/questionnaire",
    Stage.DONE: "/p/done",
    Stage.FULL: "/p/full",
    Stage.INTERRUPTED: "/p/interrupted",
}
STEPS = [
    (Stage.CONSENT, "Consent"),
    (Stage.BRIEFING, "Scenario"),
    (Stage.CHAT, "Chat"),
    (Stage.QUESTIONNAIRE, "Questions"),
    (Stage.DONE, "Done"),
]
# Fixed messages for ?e= codes after a no-JavaScript redirect (never echo request text back).
ERRORS = {
    "empty": "Please type a message first.",
    "long": "That message is too long.",
    "wait": "Please wait for the agent's reply before sending another message.",
    "ended": "This conversation has ended.",
    "csrf": "Your page was out of date; please try again.",
}
T = TypeVar("T")


class _Guard:
    """Pure ASGI middleware: body size limit and security headers on every response.

    The body limit stops a participant (or anyone) from posting megabytes into a form; the
    headers keep pages out of frames, stop content sniffing, forbid inline scripts (the CSP is
    a second line behind escaping) and keep participant tokens out of Referer headers.
    """

    CSP = (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "connect-src 'self'; frame-ancestors 'none'; base-uri 'none'; form-action 'self'"
    )

    def __init__(self, app: ASGIApp, *, max_body: int, secure: bool) -> None:
        self.app = app
        self.max_body = max_body
        self.secure = secure

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        length = headers.get(b"content-length")
        if length is not None and (not length.isdigit() or int(length) > self.max_body):
            await _plain(send, 413, b"request too large")
            return
        seen = 0

        async def limited_receive() -> Message:
            nonlocal seen
            msg = await receive()
            if msg["type"] == "http.request":
                seen += len(msg.get("body", b""))
                if seen > self.max_body:
                    raise _TooLarge
            return msg

        async def send_with_headers(msg: Message) -> None:
            if msg["type"] == "http.response.start":
                extra = [
                    (b"x-content-type-options", b"nosniff"),
                    (b"x-frame-options", b"DENY"),
                    (b"referrer-policy", b"no-referrer"),
                    (b"content-security-policy", self.CSP.encode()),
                    (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
                ]
                path = scope.get("path", "")
                if not path.startswith("/static/"):
                    extra.append((b"cache-control", b"no-store"))
                if self.secure:
                    extra.append((b"strict-transport-security", b"max-age=31536000"))
                msg = {**msg, "headers": [*msg.get("headers", []), *extra]}
            await send(msg)

        try:
            await self.app(scope, limited_receive, send_with_headers)
        except _TooLarge:
            await _plain(send, 413, b"request too large")


class _TooLarge(Exception):
    pass


async def _plain(send: Send, status: int, body: bytes) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8")],
        }
    )
    await send({"type": "http.response.body", "body": body})


def resolve_admin_hash(config: StudyConfig, admin_password: str | None = None) -> str | None:
    """The admin password hash: an explicit password, else `SIMGAP_ADMIN_PASSWORD`, else the
    config's hash; None means the admin pages are switched off."""
    pw = admin_password if admin_password is not None else os.environ.get(ADMIN_PASSWORD_ENV)
    if pw:
        return hash_password(pw)
    if config.admin_password_hash:
        check_password_hash(config.admin_password_hash)
        return config.admin_password_hash
    return None


def _default_client(config: StudyConfig) -> LLMClient:
    from simgap.llm.factory import make_client

    return make_client(config.model_config_for_agent(), cache=None)


def create_app(
    config: StudyConfig,
    store: Store,
    *,
    client: LLMClient | None = None,
    admin_password: str | None = None,
    base_dir: Path | None = None,
    maintenance_every_s: float = 60.0,
) -> FastAPI:
    """The study app on `store`. `client` is the agent's model client (default: built from
    `config.agent` with `simgap.llm.factory.make_client`, no response cache: every person's
    conversation must get the model's live answer)."""
    study = Study(config, store, client or _default_client(config), base_dir=base_dir)
    admin_hash = resolve_admin_hash(config, admin_password)
    p_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{config.name}-participant")
    a_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{config.name}-admin")
    l_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{config.name}-login")
    env = Environment(
        loader=FileSystemLoader(str(HERE / "templates")),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    env.filters["dt"] = _fmt_dt
    login_failures: dict[str, deque[float]] = defaultdict(deque)

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(maintenance_every_s)
                try:
                    await study.maintenance()
                except Exception:
                    log.exception("study maintenance failed")

        await study.recover()  # chats ended just before a stop still get their reward
        task = asyncio.create_task(loop()) if maintenance_every_s > 0 else None
        try:
            yield
        finally:
            if task is not None:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
            await study.aclose()

    app = FastAPI(
        title=f"simgap study: {config.name}",
        docs_url=None,
        redoc_url=None,
        openapi_url=None,
        lifespan=lifespan,
    )
    app.state.study = study
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")

    # -- helpers ------------------------------------------------------------------------------
    async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
        """Run a blocking store call off the event loop."""
        return await run_in_threadpool(fn, *args, **kwargs)

    def render(
        request: Request, name: str, ctx: dict[str, Any] | None = None, *, status: int = 200
    ) -> HTMLResponse:
        base = {
            "request": request,
            "title": config.title,
            "study": config.name,
            "steps": STEPS,
            "stage": None,
            "csrf": "",
        }
        html = env.get_template(name).render({**base, **(ctx or {})})
        return HTMLResponse(html, status_code=status)

    def message(
        request: Request, heading: str, text: str, *, status: int = 200, stage: Stage | None = None
    ) -> HTMLResponse:
        return render(
            request,
            "message.html",
            {"heading": heading, "text": text, "stage": stage},
            status=status,
        )

    def set_cookie(resp: Response, name: str, value: str, *, max_age: int, path: str = "/") -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            httponly=True,
            secure=config.cookie_secure,
            samesite="lax" if name == PARTICIPANT_COOKIE else "strict",
        )

    def redirect(url: str) -> RedirectResponse:
        return RedirectResponse(url, status_code=303)

    def who(request: Request) -> CookieData | None:
        return p_signer.loads(
            request.cookies.get(PARTICIPANT_COOKIE), max_age_s=PARTICIPANT_MAX_AGE_S
        )

    def wants_json(request: Request) -> bool:
        return request.headers.get("x-requested-with") == "fetch" or "application/json" in (
            request.headers.get("accept") or ""
        )

    async def form_and_csrf(request: Request, expected: str) -> tuple[FormData, bool]:
        form = await request.form(max_files=0, max_fields=64)
        sent = request.headers.get("x-csrf-token") or form.get("csrf")
        return form, tokens_equal(sent if isinstance(sent, str) else None, expected)

    def no_participant(request: Request) -> HTMLResponse:
        return message(
            request,
            "Please use your study link",
            "We could not recognise you. Open the link you were given for this study "
            "(your progress is kept).",
            status=401,
        )

    async def locate(request: Request) -> tuple[CookieData, Where] | Response:
        """The participant and where they are, or the response to send instead."""
        c = who(request)
        if c is None:
            return no_participant(request)
        try:
            w = await db(study.where, c.subject)
        except KeyError:
            return no_participant(request)
        await db(study.touch, w.assignment)
        return c, w

    async def page(request: Request, stage: Stage) -> tuple[CookieData, Where] | Response:
        """Like `locate`, but redirects when the participant belongs on another page."""
        got = await locate(request)
        if isinstance(got, Response):
            return got
        if got[1].stage != stage:
            return redirect(STAGE_PATH[got[1].stage])
        return got

    def header(c: CookieData, w: Where) -> dict[str, Any]:
        return {
            "csrf": c.csrf,
            "tasks_done": w.tasks_done,
            "tasks_allowed": config.tasks_per_participant,
        }

    # -- entry --------------------------------------------------------------------------------
    @app.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        if who(request) is not None:
            return redirect("/p")
        open_mode = config.access.mode == AccessMode.OPEN
        return render(request, "home.html", {"open_mode": open_mode})

    @app.get("/start")
    async def start(request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if len(v) <= 256}
        part = await db(study.enter, params)
        if part is None:
            return message(
                request,
                "This link is not valid",
                "Please check that you opened the whole link you were given for this study.",
                status=403,
            )
        resp = redirect("/p")
        old = who(request)
        csrf = old.csrf if old is not None and old.subject == part.participant_id else new_token()
        set_cookie(
            resp,
            PARTICIPANT_COOKIE,
            p_signer.dumps(CookieData(part.participant_id, csrf)),
            max_age=PARTICIPANT_MAX_AGE_S,
        )
        return resp

    @app.get("/p")
    async def p_router(request: Request) -> Response:
        got = await locate(request)
        if isinstance(got, Response):
            return got
        return redirect(STAGE_PATH[got[1].stage])

    # -- consent ------------------------------------------------------------------------------
    @app.get("/p/consent", response_class=HTMLResponse)
    async def consent_page(request: Request) -> Response:
        got = await page(request, Stage.CONSENT)
        if isinstance(got, Response):
            return got
        c, w = got
        # Blank lines separate paragraphs; single line breaks in the YAML are just wrapping.
        paragraphs = [" ".join(x.split()) for x in config.consent_text.split("\n\n") if x.strip()]
        return render(
            request,
            "consent.html",
            {**header(c, w), "stage": Stage.CONSENT, "paragraphs": paragraphs},
        )

    @app.post("/p/consent")
    async def consent_post(request: Request) -> Response:
        got = await page(request, Stage.CONSENT)
        if isinstance(got, Response):
            return got
        c, _ = got
        form, ok = await form_and_csrf(request, c.csrf)
        if not ok:
            return redirect("/p/consent")
        choice = form.get("choice")
        if choice == "agree" and form.get("agree") == "yes":
            await db(study.consent, c.subject, agree=True)
        elif choice == "decline":
            await db(study.consent, c.subject, agree=False)
        return redirect("/p")

    @app.get("/p/declined", response_class=HTMLResponse)
    async def declined(request: Request) -> Response:
        got = await page(request, Stage.DECLINED)
        if isinstance(got, Response):
            return got
        return message(
            request,
            "Thank you",
            "You chose not to take part. Nothing you did here will be used. You can close this "
            "page (on a crowd platform, please return the study).",
        )

    # -- briefing -----------------------------------------------------------------------------
    @app.get("/p/briefing", response_class=HTMLResponse)
    async def briefing(request: Request) -> Response:
        got = await page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            return got
        c, w = got
        assert w.assignment is not None
        study.prepare_chat(w.assignment)
        task = study.tasks[w.assignment.task_id]
        return render(
            request,
            "briefing.html",
            {
                **header(c, w),
                "stage": Stage.BRIEFING,
                "scenario": scenario_sections(task, config.domain),
                "max_chars": config.max_message_chars,
            },
        )

    @app.post("/p/briefing")
    async def briefing_post(request: Request) -> Response:
        got = await page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            return got
        c, w = got
        _, ok = await form_and_csrf(request, c.csrf)
        if not ok or w.assignment is None:
            return redirect("/p/briefing")
        await study.start_chat(w.assignment)
        return redirect("/p/chat")

    # -- chat ---------------------------------------------------------------------------------
    def state_json(stt: ChatState) -> dict[str, Any]:
        return {
            "messages": [{"idx": m.idx, "role": m.role, "text": m.text} for m in stt.messages],
            "thinking": stt.thinking,
            "ended": stt.ended,
            "next": "/p" if stt.ended else None,
            "user_turns": stt.user_turns,
        }

    async def chat_live(request: Request) -> tuple[CookieData, Where, Assignment, Any] | Response:
        got = await page(request, Stage.CHAT)
        if isinstance(got, Response):
            if wants_json(request) and isinstance(got, RedirectResponse):
                return JSONResponse({"ended": True, "next": got.headers["location"]})
            return got
        c, w = got
        assert w.assignment is not None
        try:
            live = await study.live(w.assignment)
        except ChatOver:  # it ended between the lookup and now: let /p say where to go
            if wants_json(request):
                return JSONResponse({"ended": True, "next": "/p"})
            return redirect("/p")
        return c, w, w.assignment, live

    @app.get("/p/chat", response_class=HTMLResponse)
    async def chat_page(request: Request) -> Response:
        got = await chat_live(request)
        if isinstance(got, Response):
            return got
        c, w, a, live = got
        stt = study.hub.state(live)
        if stt.ended:
            return redirect("/p")
        err = ERRORS.get(request.query_params.get("e", ""))
        task = study.tasks[a.task_id]
        return render(
            request,
            "chat.html",
            {
                **header(c, w),
                "stage": Stage.CHAT,
                "messages": stt.messages,
                "thinking": stt.thinking,
                "scenario": scenario_sections(task, config.domain),
                "max_chars": config.max_message_chars,
                "msg_id": new_token(9),
                "error": err,
                "user_turns": stt.user_turns,
                "max_user_turns": config.max_user_turns,
                "last_idx": stt.messages[-1].idx if stt.messages else -1,
            },
        )

    @app.get("/p/chat/state")
    async def chat_state(request: Request) -> Response:
        got = await chat_live(request)
        if isinstance(got, Response):
            return got
        _, _, a, live = got
        try:
            after = int(request.query_params.get("after", "-1"))
            wait = min(LONG_POLL_MAX_S, max(0.0, float(request.query_params.get("wait", "0"))))
        except ValueError:
            return JSONResponse({"error": "bad query"}, status_code=400)
        stt = await study.hub.wait(live, after=after, timeout_s=wait)
        await db(study.touch, a)
        return JSONResponse(state_json(stt))

    @app.post("/p/chat/send")
    async def chat_send(request: Request) -> Response:
        got = await chat_live(request)
        js = wants_json(request)
        if isinstance(got, Response):
            return got
        c, _, _, live = got
        form, ok = await form_and_csrf(request, c.csrf)
        if not ok:
            return _chat_error(js, "csrf", 403)
        text = form.get("text")
        msg_id = form.get("msg_id")
        if not isinstance(text, str):
            return _chat_error(js, "empty", 400)
        msg_id_s = msg_id[:64] if isinstance(msg_id, str) and msg_id else None
        if len(text) > config.max_message_chars + 50:  # +50: the count is after stripping
            return _chat_error(js, "long", 413)
        try:
            stt = await study.hub.send(
                live, text, client_msg_id=msg_id_s, max_chars=config.max_message_chars
            )
        except ChatError as e:
            code = (
                "empty"
                if "empty" in str(e)
                else "long"
                if "longer" in str(e)
                else "ended"
                if "ended" in str(e)
                else "wait"
            )
            return _chat_error(js, code, 409 if code in ("wait", "ended") else 400)
        if js:
            return JSONResponse(state_json(stt))
        return redirect("/p/chat")

    def _chat_error(js: bool, code: str, status: int) -> Response:
        if js:
            return JSONResponse({"error": ERRORS[code], "code": code}, status_code=status)
        return redirect(f"/p/chat?e={code}")

    @app.post("/p/chat/end")
    async def chat_end(request: Request) -> Response:
        got = await chat_live(request)
        if isinstance(got, Response):
            return got
        c, _, a, _ = got
        _, ok = await form_and_csrf(request, c.csrf)
        if not ok:
            return _chat_error(wants_json(request), "csrf", 403)
        await study.end_chat(a)
        if wants_json(request):
            return JSONResponse({"ended": True, "next": "/p"})
        return redirect("/p")

    # -- questionnaire ------------------------------------------------------------------------
    def questionnaire_ctx(
        c: CookieData, w: Where, values: dict[str, str], errors: dict[str, str]
    ) -> dict[str, Any]:
        items = []
        for it in study.questionnaire.items:
            if it.kind == ItemKind.LIKERT:
                assert it.scale_min is not None and it.scale_max is not None
                choices = [(str(v), str(v)) for v in range(it.scale_min, it.scale_max + 1)]
            elif it.kind == ItemKind.ORDINAL:
                choices = [(o, o) for o in it.options]
            else:
                choices = []
            items.append({"item": it, "choices": choices, "kind": it.kind.value})
        return {
            **header(c, w),
            "stage": Stage.QUESTIONNAIRE,
            "items": items,
            "values": values,
            "errors": errors,
            "max_text": config.max_text_answer_chars,
        }

    @app.get("/p/questionnaire", response_class=HTMLResponse)
    async def questionnaire_page(request: Request) -> Response:
        got = await page(request, Stage.QUESTIONNAIRE)
        if isinstance(got, Response):
            return got
        c, w = got
        return render(request, "questionnaire.html", questionnaire_ctx(c, w, {}, {}))

    @app.post("/p/questionnaire")
    async def questionnaire_post(request: Request) -> Response:
        got = await page(request, Stage.QUESTIONNAIRE)
        if isinstance(got, Response):
            return got
        c, w = got
        assert w.assignment is not None
        form, ok = await form_and_csrf(request, c.csrf)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        if not ok:
            return render(
                request,
                "questionnaire.html",
                questionnaire_ctx(c, w, values, {"_form": ERRORS["csrf"]}),
                status=403,
            )
        errors = await db(
            study.submit_questionnaire, w.assignment, values, started_at=w.assignment.updated_at
        )
        if errors:
            return render(
                request, "questionnaire.html", questionnaire_ctx(c, w, values, errors), status=422
            )
        return redirect("/p")

    # -- the end ------------------------------------------------------------------------------
    @app.get("/p/done", response_class=HTMLResponse)
    async def done(request: Request) -> Response:
        got = await page(request, Stage.DONE)
        if isinstance(got, Response):
            return got
        c, w = got
        code = await db(study.completion_code, c.subject)
        url = await db(study.completion_url, c.subject)
        more = await db(study.can_do_another, c.subject)
        return render(
            request,
            "done.html",
            {**header(c, w), "stage": Stage.DONE, "code": code, "url": url, "more": more},
        )

    @app.post("/p/another")
    async def another(request: Request) -> Response:
        c = who(request)
        if c is None:
            return no_participant(request)
        _, ok = await form_and_csrf(request, c.csrf)
        if ok:
            try:
                await db(study.another, c.subject)
            except KeyError:
                return no_participant(request)
        return redirect("/p")

    @app.get("/p/full", response_class=HTMLResponse)
    async def full(request: Request) -> Response:
        got = await page(request, Stage.FULL)
        if isinstance(got, Response):
            return got
        return message(
            request,
            "No task available right now",
            "All places in this study are taken at the moment. Thank you for your interest; "
            "you can close this page (on a crowd platform, please return the study).",
        )

    @app.get("/p/interrupted", response_class=HTMLResponse)
    async def interrupted(request: Request) -> Response:
        got = await page(request, Stage.INTERRUPTED)
        if isinstance(got, Response):
            return got
        c, w = got
        a = w.assignment
        timed_out = a is not None and a.state == AssignmentState.RELEASED
        # A technical failure was ours: the person still gets the completion code.
        code = None if timed_out else await db(study.completion_code, c.subject)
        return render(
            request,
            "interrupted.html",
            {**header(c, w), "stage": None, "timed_out": timed_out, "code": code},
        )

    # -- admin --------------------------------------------------------------------------------
    def admin_who(request: Request) -> CookieData | None:
        c = a_signer.loads(request.cookies.get(ADMIN_COOKIE), max_age_s=ADMIN_MAX_AGE_S)
        return c if c is not None and c.subject == "admin" else None

    def admin_disabled(request: Request) -> HTMLResponse:
        return message(
            request,
            "Admin pages are switched off",
            f"Set the {ADMIN_PASSWORD_ENV} environment variable (or admin_password_hash in the "
            "study config) and restart the server.",
            status=403,
        )

    def admin_gate(request: Request) -> CookieData | Response:
        if admin_hash is None:
            return admin_disabled(request)
        c = admin_who(request)
        if c is None:
            if request.method == "GET" and not request.url.path.endswith(".jsonl"):
                return redirect("/admin/login")
            return JSONResponse({"error": "admin login required"}, status_code=401)
        return c

    @app.get("/admin/login", response_class=HTMLResponse)
    async def admin_login_page(request: Request) -> Response:
        if admin_hash is None:
            return admin_disabled(request)
        csrf = new_token()
        resp = render(request, "admin_login.html", {"csrf": csrf, "error": None, "admin": True})
        set_cookie(
            resp,
            LOGIN_COOKIE,
            l_signer.dumps(CookieData("login", csrf)),
            max_age=3600,
            path="/admin",
        )
        return resp

    @app.post("/admin/login")
    async def admin_login(request: Request) -> Response:
        if admin_hash is None:
            return admin_disabled(request)
        lc = l_signer.loads(request.cookies.get(LOGIN_COOKIE), max_age_s=3600)
        form, ok = await form_and_csrf(request, lc.csrf if lc else "")
        if lc is None or not ok:
            return redirect("/admin/login")
        ip = request.client.host if request.client else "?"
        fails = login_failures[ip]
        now = time.monotonic()
        while fails and now - fails[0] > 600:
            fails.popleft()
        if len(fails) >= LOGIN_FAILURES_ALLOWED:
            return message(request, "Too many attempts", "Try again in a few minutes.", status=429)
        pw = form.get("password")
        good = (
            isinstance(pw, str)
            and 0 < len(pw) <= 1024
            and await db(verify_password, pw, admin_hash)
        )
        if not good:
            fails.append(now)
            study.assigner.log_event("admin_login_failed", None)
            return render(
                request,
                "admin_login.html",
                {"csrf": lc.csrf, "error": "Wrong password.", "admin": True},
                status=401,
            )
        fails.clear()
        study.assigner.log_event("admin_login", None)
        resp = redirect("/admin")
        set_cookie(
            resp,
            ADMIN_COOKIE,
            a_signer.dumps(CookieData("admin", new_token())),
            max_age=ADMIN_MAX_AGE_S,
            path="/admin",
        )
        resp.delete_cookie(LOGIN_COOKIE, path="/admin")
        return resp

    @app.post("/admin/logout")
    async def admin_logout(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        _, ok = await form_and_csrf(request, g.csrf)
        resp = redirect("/admin/login" if ok else "/admin")
        if ok:
            resp.delete_cookie(ADMIN_COOKIE, path="/admin")
        return resp

    @app.get("/admin", response_class=HTMLResponse)
    async def admin_home(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        cells = await db(study.assigner.progress)
        rows = await db(admin_overview, study)
        return render(
            request,
            "admin_progress.html",
            {"csrf": g.csrf, "admin": True, "cells": cells, **rows},
        )

    @app.get("/admin/sessions", response_class=HTMLResponse)
    async def admin_sessions(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        rows = await db(admin_session_rows, study)
        task = request.query_params.get("task")
        batch = request.query_params.get("batch")
        if task:
            rows = [r for r in rows if r["task_id"] == task]
        if batch:
            rows = [r for r in rows if r["batch"] == batch]
        return render(
            request,
            "admin_sessions.html",
            {"csrf": g.csrf, "admin": True, "rows": rows, "task": task, "batch": batch},
        )

    @app.get("/admin/sessions/{session_id}", response_class=HTMLResponse)
    async def admin_session(request: Request, session_id: str) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        ctx = await db(admin_session_detail, study, session_id)
        if ctx is None:
            return message(request, "Not found", "No such session in this study.", status=404)
        return render(request, "admin_session.html", {"csrf": g.csrf, "admin": True, **ctx})

    @app.get("/admin/export.jsonl")
    async def admin_export(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g

        def lines() -> Iterator[str]:
            for rec in study.export_records():
                yield dump_line(rec) + "\n"

        study.assigner.log_event("admin_export", None)
        fname = quote(f"{config.name}-study.jsonl")
        return StreamingResponse(
            lines(),
            media_type="application/x-ndjson",
            headers={"content-disposition": f'attachment; filename="{fname}"'},
        )

    @app.get("/admin/participants", response_class=HTMLResponse)
    async def admin_participants(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        toks = await db(study.tokens)
        base = str(config.public_url or request.base_url).rstrip("/")
        links = [
            {
                "url": f"{base}/start?token={quote(tok)}",
                "pid": p.participant_id,
                "entered": p.consented_at is not None or p.declined_at is not None,
            }
            for tok, p in toks
        ]
        return render(
            request,
            "admin_participants.html",
            {
                "csrf": g.csrf,
                "admin": True,
                "links": links,
                "mode": config.access.mode.value,
                "crowd_example": f"{base}/start?{config.access.crowd_param}=WORKER_ID",
                "base": base,
            },
        )

    @app.post("/admin/tokens")
    async def admin_tokens(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        form, ok = await form_and_csrf(request, g.csrf)
        if ok and config.access.mode == AccessMode.TOKEN:
            try:
                n = max(1, min(1000, int(str(form.get("n") or "1"))))
            except ValueError:
                n = 0
            if n:
                await db(study.create_tokens, n)
        return redirect("/admin/participants")

    @app.post("/admin/release")
    async def admin_release(request: Request) -> Response:
        g = admin_gate(request)
        if isinstance(g, Response):
            return g
        _, ok = await form_and_csrf(request, g.csrf)
        if ok:
            await study.maintenance()
        return redirect("/admin")

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return message(request, "Page not found", "There is nothing at this address.", status=404)

    app.add_middleware(_Guard, max_body=MAX_BODY_BYTES, secure=config.cookie_secure)
    return app


# -- page data ---------------------------------------------------------------------------------
def scenario_sections(task: Any, domain: str) -> list[tuple[str, list[str]]]:
    """The τ² user scenario in plain words: headings a participant understands, the scenario's
    own sentences underneath (they are already written to "you")."""
    who = {
        "airline": "an airline's customer service",
        "retail": "an online shop's customer service",
        "telecom": "your phone company's technical support",
    }.get(domain, "customer service")
    out: list[tuple[str, str]] = []
    if task.persona:
        out.append(("Who you are", task.persona))
    if task.reason_for_call:
        out.append((f"Why you are contacting {who}", task.reason_for_call))
    if task.known_info:
        out.append(("What you know (share it when the agent asks)", task.known_info))
    if task.unknown_info:
        out.append(("What you do not know", task.unknown_info))
    if task.task_instructions:
        out.append(("How to play it", task.task_instructions))
    # τ² writes one sentence per line with blank lines between: one short paragraph each.
    return [(h, [ln.strip() for ln in t.splitlines() if ln.strip()]) for h, t in out]


def _fmt_dt(value: datetime | None) -> str:
    return "" if value is None else value.strftime("%Y-%m-%d %H:%M:%S UTC")


def admin_overview(study: Study) -> dict[str, Any]:
    cells = study.assigner.progress()
    target = sum(c.target for c in cells)
    complete = sum(c.complete for c in cells)
    in_progress = sum(c.in_progress for c in cells)
    by_task: dict[str, dict[str, int]] = {}
    for c in cells:
        d = by_task.setdefault(c.task_id, {"target": 0, "complete": 0, "in_progress": 0})
        d["target"] += c.target
        d["complete"] += c.complete
        d["in_progress"] += c.in_progress
    by_batch: dict[str, dict[str, int]] = {}
    for c in cells:
        d = by_batch.setdefault(c.batch, {"target": 0, "complete": 0, "in_progress": 0})
        d["target"] += c.target
        d["complete"] += c.complete
        d["in_progress"] += c.in_progress
    ids = study.session_ids()
    sessions = list(study.store.iter_sessions(_filter_ids(ids), with_turns=False)) if ids else []
    rewards: dict[str, list[float]] = {}
    for s in sessions:
        if s.status == SessionStatus.DONE and s.reward is not None:
            rewards.setdefault(s.task_id, []).append(s.reward.value)
    return {
        "total_target": target,
        "total_complete": complete,
        "total_in_progress": in_progress,
        "by_task": by_task,
        "by_batch": by_batch,
        "success": {k: sum(v) / len(v) for k, v in rewards.items() if v},
        "batches": study.assigner.batches,
        "agent": study.agent_spec.model,
        "domain": study.config.domain,
    }


def _filter_ids(ids: list[str]) -> Any:
    from simgap.store import SessionFilter

    return SessionFilter(session_ids=ids)


def admin_session_rows(study: Study) -> list[dict[str, Any]]:
    assigns = study.assigner.all()
    ids = [a.session_id for a in assigns]
    sessions = (
        {s.session_id: s for s in study.store.iter_sessions(_filter_ids(ids), with_turns=False)}
        if ids
        else {}
    )
    fb = {f.session_id for f in study.store.get_feedback(ids)} if ids else set()
    rows = []
    for a in reversed(assigns):
        s = sessions.get(a.session_id)
        rows.append(
            {
                "session_id": a.session_id,
                "participant_id": a.participant_id,
                "task_id": a.task_id,
                "batch": a.batch,
                "state": a.state.value,
                "status": s.status.value if s else "",
                "termination": s.termination.value if s and s.termination else "",
                "reward": None if s is None or s.reward is None else s.reward.value,
                "feedback": a.session_id in fb,
                "started": s.started_at if s else None,
                "last_seen": a.last_seen_at,
                "has_session": s is not None,
            }
        )
    return rows


def admin_session_detail(study: Study, session_id: str) -> dict[str, Any] | None:
    a = study.assigner.by_session(session_id)
    if a is None:
        return None
    s = study.store.get_session(session_id)
    part = study.participant(a.participant_id)
    fbs = study.store.get_feedback([session_id]) if s is not None else []
    answers = []
    if fbs:
        f = fbs[0]
        for it in study.questionnaire.items:
            answers.append((it.prompt, f.answers.get(it.field)))
    visible = {m.idx for m in visible_messages(s.turns)} if s else set()
    return {
        "a": a,
        "s": s,
        "participant": part,
        "feedback": fbs[0] if fbs else None,
        "answers": answers,
        "visible": visible,
        "abandoned": s is not None and s.termination == Termination.ABANDONED,
    }
