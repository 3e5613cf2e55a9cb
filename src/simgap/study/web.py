"""What every route of the study app shares: page rendering, cookies, and the guards.

The guards live here, in one place, so the three routers (`routes/participant.py`,
`routes/chat.py`, `routes/admin.py`) cannot each grow their own idea of who a request comes from:
- `locate` / `page`: the participant of a signed cookie and where they belong (redirecting
  them when they asked for another page);
- `form_and_csrf`: every POST's form and whether its CSRF token matches the cookie's;
- `admin_gate`: the admin cookie, or the response to send instead.

Participants' words are only ever put into pages by autoescaping Jinja2 templates (or by the chat
script's `textContent`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from jinja2 import Environment, FileSystemLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData

from simgap.study.admin_sessions import AdminSessions
from simgap.study.config import StudyConfig
from simgap.study.pages import bidi_visible, fmt_dt
from simgap.study.security import CookieData, CookieSigner, tokens_equal
from simgap.study.service import Stage, Study, Where
from simgap.study.throttle import LoginThrottle, client_address, parse_proxies

HERE = Path(__file__).parent
PARTICIPANT_COOKIE = "simgap_p"
ADMIN_COOKIE = "simgap_admin"
LOGIN_COOKIE = "simgap_login"
DEVICE_COOKIE = "simgap_admin_device"  # "this browser logged in before" (see throttle.py)
PARTICIPANT_MAX_AGE_S = 30 * 24 * 3600
ADMIN_MAX_AGE_S = 12 * 3600
LOGIN_MAX_AGE_S = 3600
DEVICE_MAX_AGE_S = 90 * 24 * 3600
MAX_BODY_BYTES = 64 * 1024
ADMIN_PASSWORD_ENV = "SIMGAP_ADMIN_PASSWORD"
ADMIN_SUBJECT = "admin:"  # the admin cookie's subject: this prefix, then the session id

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


def redirect(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def wants_json(request: Request) -> bool:
    return request.headers.get("x-requested-with") == "fetch" or "application/json" in (
        request.headers.get("accept") or ""
    )


async def db(fn: Callable[..., T], *args: Any, **kwargs: Any) -> T:
    """Run a blocking store call off the event loop."""
    return await run_in_threadpool(fn, *args, **kwargs)


async def form_and_csrf(request: Request, expected: str) -> tuple[FormData, bool]:
    """The POST's form, and whether it carries `expected` as its CSRF token (hidden field or
    `X-CSRF-Token` header)."""
    form = await request.form(max_files=0, max_fields=64)
    sent = request.headers.get("x-csrf-token") or form.get("csrf")
    return form, tokens_equal(sent if isinstance(sent, str) else None, expected)


@dataclass(frozen=True)
class AdminLogin:
    """A live admin session: its server-side id and the CSRF token of its cookie."""

    sid: str
    csrf: str


class Web:
    """The study, its templates and cookie signers, and the guards every router uses."""

    def __init__(self, study: Study, admin_hash: str | None) -> None:
        self.study = study
        self.config: StudyConfig = study.config
        self.admin_hash = admin_hash
        name = self.config.name
        self.p_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{name}-participant")
        self.a_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{name}-admin")
        self.l_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{name}-login")
        self.d_signer = CookieSigner(study.secret_key, salt=f"simgap-study-{name}-device")
        self.proxies = parse_proxies(self.config.trusted_proxies)
        self.throttle = LoginThrottle()
        self.env = Environment(
            loader=FileSystemLoader(str(HERE / "templates")),
            autoescape=select_autoescape(default=True, default_for_string=True),
            trim_blocks=True,
            lstrip_blocks=True,
        )
        self.env.filters["dt"] = fmt_dt
        self.env.filters["bidi_visible"] = bidi_visible
        self.admin_sessions = AdminSessions(
            study.store, name, max_age=timedelta(seconds=ADMIN_MAX_AGE_S)
        )

    # -- pages --------------------------------------------------------------------------------
    def render(
        self, request: Request, name: str, ctx: dict[str, Any] | None = None, *, status: int = 200
    ) -> HTMLResponse:
        base = {
            "request": request,
            "title": self.config.title,
            "study": self.config.name,
            "steps": STEPS,
            "stage": None,
            "csrf": "",
        }
        html = self.env.get_template(name).render({**base, **(ctx or {})})
        return HTMLResponse(html, status_code=status)

    def message(
        self,
        request: Request,
        heading: str,
        text: str,
        *,
        status: int = 200,
        stage: Stage | None = None,
    ) -> HTMLResponse:
        return self.render(
            request,
            "message.html",
            {"heading": heading, "text": text, "stage": stage},
            status=status,
        )

    # -- cookies ------------------------------------------------------------------------------
    def set_cookie(
        self, resp: Response, name: str, value: str, *, max_age: int, path: str = "/"
    ) -> None:
        resp.set_cookie(
            name,
            value,
            max_age=max_age,
            path=path,
            httponly=True,
            secure=self.config.cookie_secure,
            samesite="lax" if name == PARTICIPANT_COOKIE else "strict",
        )

    def delete_cookie(self, resp: Response, name: str, *, path: str = "/") -> None:
        """Delete a cookie with the flags it was set with (a deleting header without `Secure`
        is refused by browsers for a Secure cookie, and leaks the cookie's name over HTTP)."""
        resp.delete_cookie(
            name,
            path=path,
            httponly=True,
            secure=self.config.cookie_secure,
            samesite="lax" if name == PARTICIPANT_COOKIE else "strict",
        )

    # -- participants -------------------------------------------------------------------------
    def who(self, request: Request) -> CookieData | None:
        return self.p_signer.loads(
            request.cookies.get(PARTICIPANT_COOKIE), max_age_s=PARTICIPANT_MAX_AGE_S
        )

    def no_participant(self, request: Request) -> HTMLResponse:
        return self.message(
            request,
            "Please use your study link",
            "We could not recognise you. Open the link you were given for this study "
            "(your progress is kept).",
            status=401,
        )

    async def locate(self, request: Request) -> tuple[CookieData, Where] | Response:
        """The participant and where they are, or the response to send instead."""
        c = self.who(request)
        if c is None:
            return self.no_participant(request)
        try:
            w = await db(self.study.where, c.subject)
        except KeyError:
            return self.no_participant(request)
        await db(self.study.touch, w.assignment)
        return c, w

    async def page(self, request: Request, stage: Stage) -> tuple[CookieData, Where] | Response:
        """Like `locate`, but redirects when the participant belongs on another page."""
        got = await self.locate(request)
        if isinstance(got, Response):
            return got
        if got[1].stage != stage:
            return redirect(STAGE_PATH[got[1].stage])
        return got

    def header(self, c: CookieData, w: Where) -> dict[str, Any]:
        return {
            "csrf": c.csrf,
            "tasks_done": w.tasks_done,
            "tasks_allowed": self.config.tasks_per_participant,
        }

    # -- admin --------------------------------------------------------------------------------
    def admin_cookie(self, sid: str, csrf: str) -> str:
        """The admin cookie's value for server-side session `sid` (see `admin_sessions.py`)."""
        return self.a_signer.dumps(CookieData(ADMIN_SUBJECT + sid, csrf))

    async def admin_who(self, request: Request) -> AdminLogin | None:
        """The admin session of the request's cookie, if it is signed and still live on the
        server (not logged out, not expired)."""
        c = self.a_signer.loads(request.cookies.get(ADMIN_COOKIE), max_age_s=ADMIN_MAX_AGE_S)
        if c is None or not c.subject.startswith(ADMIN_SUBJECT):
            return None
        sid = c.subject.removeprefix(ADMIN_SUBJECT)
        if not sid or not await db(self.admin_sessions.is_live, sid):
            return None
        return AdminLogin(sid=sid, csrf=c.csrf)

    def client_address(self, request: Request) -> str:
        """Where the request comes from: the socket peer, or what a trusted proxy says."""
        peer = request.client.host if request.client else None
        return client_address(peer, request.headers.get("x-forwarded-for"), self.proxies)

    def device(self, request: Request) -> str | None:
        """The id of this browser's "logged in here before" cookie, if it has a valid one."""
        c = self.d_signer.loads(request.cookies.get(DEVICE_COOKIE), max_age_s=DEVICE_MAX_AGE_S)
        return c.csrf if c is not None and c.subject == "device" else None

    def device_cookie(self, device_id: str) -> str:
        return self.d_signer.dumps(CookieData("device", device_id))

    def admin_disabled(self, request: Request) -> HTMLResponse:
        return self.message(
            request,
            "Admin pages are switched off",
            f"Set the {ADMIN_PASSWORD_ENV} environment variable (or admin_password_hash in the "
            "study config) and restart the server.",
            status=403,
        )

    async def admin_gate(self, request: Request) -> AdminLogin | Response:
        """The admin's session, or the response to send instead (login page, 401, or off)."""
        if self.admin_hash is None:
            return self.admin_disabled(request)
        c = await self.admin_who(request)
        if c is None:
            if request.method == "GET" and not request.url.path.endswith(".jsonl"):
                return redirect("/admin/login")
            return JSONResponse({"error": "admin login required"}, status_code=401)
        return c
