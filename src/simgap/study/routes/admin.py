"""Admin pages under `/admin/`: login, progress, sessions, participants' links, export.

Behind a password (a salted scrypt hash) and their own signed cookie; every POST, the login
form's included, needs its CSRF token.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from simgap.models.records import dump_line
from simgap.study.config import AccessMode
from simgap.study.pages import admin_overview, admin_session_detail, admin_session_rows
from simgap.study.security import CookieData, new_token, verify_password
from simgap.study.web import (
    ADMIN_COOKIE,
    ADMIN_MAX_AGE_S,
    DEVICE_COOKIE,
    DEVICE_MAX_AGE_S,
    LOGIN_COOKIE,
    LOGIN_MAX_AGE_S,
    Web,
    db,
    form_and_csrf,
    redirect,
)


def admin_router(web: Web) -> APIRouter:
    r = APIRouter()
    study, config = web.study, web.config

    @r.get("/admin/login", response_class=HTMLResponse)
    async def admin_login_page(request: Request) -> Response:
        if web.admin_hash is None:
            return web.admin_disabled(request)
        csrf = new_token()
        resp = web.render(request, "admin_login.html", {"csrf": csrf, "error": None, "admin": True})
        web.set_cookie(
            resp,
            LOGIN_COOKIE,
            web.l_signer.dumps(CookieData("login", csrf)),
            max_age=LOGIN_MAX_AGE_S,
            path="/admin",
        )
        return resp

    @r.post("/admin/login")
    async def admin_login(request: Request) -> Response:
        if web.admin_hash is None:
            return web.admin_disabled(request)
        lc = web.l_signer.loads(request.cookies.get(LOGIN_COOKIE), max_age_s=LOGIN_MAX_AGE_S)
        form, ok = await form_and_csrf(request, lc.csrf if lc else "")
        if lc is None or not ok:
            return redirect("/admin/login")
        device = web.device(request)
        key = f"device:{device}" if device else f"addr:{web.client_address(request)}"
        wait = web.throttle.admit(key, known=device is not None)
        if wait > 0:
            secs = max(1, math.ceil(wait))
            busy = web.render(
                request,
                "admin_login.html",
                {
                    "csrf": lc.csrf,
                    "error": f"Too many wrong passwords: try again in {secs} seconds.",
                    "admin": True,
                },
                status=429,
            )
            busy.headers["retry-after"] = str(secs)
            return busy
        pw = form.get("password")
        good = (
            isinstance(pw, str)
            and 0 < len(pw) <= 1024
            and await db(verify_password, pw, web.admin_hash)
        )
        if not good:
            web.throttle.failed(key)
            study.assigner.log_event("admin_login_failed", None)
            return web.render(
                request,
                "admin_login.html",
                {"csrf": lc.csrf, "error": "Wrong password.", "admin": True},
                status=401,
            )
        web.throttle.succeeded(key)
        study.assigner.log_event("admin_login", None)
        resp = redirect("/admin")
        sid = await db(web.admin_sessions.create)
        web.set_cookie(
            resp,
            ADMIN_COOKIE,
            web.admin_cookie(sid, new_token()),
            max_age=ADMIN_MAX_AGE_S,
            path="/admin",
        )
        web.set_cookie(
            resp,
            DEVICE_COOKIE,
            web.device_cookie(device or new_token()),
            max_age=DEVICE_MAX_AGE_S,
            path="/admin",
        )
        web.delete_cookie(resp, LOGIN_COOKIE, path="/admin")
        return resp

    @r.post("/admin/logout")
    async def admin_logout(request: Request) -> Response:
        g = await web.admin_gate(request)
        if isinstance(g, Response):
            return g
        _, ok = await form_and_csrf(request, g.csrf)
        resp = redirect("/admin/login" if ok else "/admin")
        if ok:
            # Revoked on the server: a copy of the cookie made before is worthless from now on.
            await db(web.admin_sessions.revoke, g.sid)
            study.assigner.log_event("admin_logout", None)
            web.delete_cookie(resp, ADMIN_COOKIE, path="/admin")
        return resp

    @r.get("/admin", response_class=HTMLResponse)
    async def admin_home(request: Request) -> Response:
        g = await web.admin_gate(request)
        if isinstance(g, Response):
            return g
        cells = await db(study.assigner.progress)
        rows = await db(admin_overview, study)
        return web.render(
            request,
            "admin_progress.html",
            {"csrf": g.csrf, "admin": True, "cells": cells, **rows},
        )

    @r.get("/admin/sessions", response_class=HTMLResponse)
    async def admin_sessions(request: Request) -> Response:
        g = await web.admin_gate(request)
        if isinstance(g, Response):
            return g
        rows = await db(admin_session_rows, study)
        task = request.query_params.get("task")
        batch = request.query_params.get("batch")
        if task:
            rows = [x for x in rows if x["task_id"] == task]
        if batch:
            rows = [x for x in rows if x["batch"] == batch]
        return web.render(
            request,
            "admin_sessions.html",
            {"csrf": g.csrf, "admin": True, "rows": rows, "task": task, "batch": batch},
        )

    @r.get("/admin/sessions/{session_id}", response_class=HTMLResponse)
    async def admin_session(request: Request, session_id: str) -> Response:
        g = await web.admin_gate(request)
        if isinstance(g, Response):
            return g
        ctx = await db(admin_session_detail, study, session_id)
        if ctx is None:
            return web.message(request, "Not found", "No such session in this study.", status=404)
        return web.render(request, "admin_session.html", {"csrf": g.csrf, "admin": True, **ctx})

    @r.get("/admin/export.jsonl")
    async def admin_export(request: Request) -> Response:
        g = await web.admin_gate(request)
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

    @r.get("/admin/participants", response_class=HTMLResponse)
    async def admin_participants(request: Request) -> Response:
        g = await web.admin_gate(request)
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
        return web.render(
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

    @r.post("/admin/tokens")
    async def admin_tokens(request: Request) -> Response:
        g = await web.admin_gate(request)
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

    @r.post("/admin/release")
    async def admin_release(request: Request) -> Response:
        g = await web.admin_gate(request)
        if isinstance(g, Response):
            return g
        _, ok = await form_and_csrf(request, g.csrf)
        if ok:
            await study.maintenance()
        return redirect("/admin")

    return r
