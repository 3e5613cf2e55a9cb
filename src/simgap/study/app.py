"""The web layer: `create_app` assembles the FastAPI app over `service.Study`. No build step.

The routes live in `routes/` by area (participant pages, the chat, the admin pages), all over
one `web.Web`, which holds the templates, the cookies and the guards every route shares.
Participant pages live under `/p/` and know the participant only from a signed cookie set by
`/start`; admin pages live under `/admin/` behind a password and their own signed cookie. Every
POST needs the CSRF token of its cookie. `middleware.GuardMiddleware` limits request bodies and
adds the security headers to every response.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import AsyncIterator
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles

from simgap.llm.base import LLMClient
from simgap.store import Store
from simgap.study.config import StudyConfig
from simgap.study.middleware import GuardMiddleware
from simgap.study.pages import capacity_summary, study_ready
from simgap.study.routes.admin import admin_router
from simgap.study.routes.chat import chat_router
from simgap.study.routes.participant import participant_router
from simgap.study.security import check_password_hash, hash_password
from simgap.study.service import Study
from simgap.study.web import (
    ADMIN_COOKIE,
    ADMIN_PASSWORD_ENV,
    HERE,
    LOGIN_COOKIE,
    MAX_BODY_BYTES,
    PARTICIPANT_COOKIE,
    Web,
)

__all__ = [
    "ADMIN_COOKIE",
    "ADMIN_PASSWORD_ENV",
    "LOGIN_COOKIE",
    "PARTICIPANT_COOKIE",
    "create_app",
    "resolve_admin_hash",
]

log = logging.getLogger("simgap.study")


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
    web = Web(study, resolve_admin_hash(config, admin_password))

    @contextlib.asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async def loop() -> None:
            while True:
                await asyncio.sleep(maintenance_every_s)
                try:
                    await study.maintenance()
                except Exception:
                    log.exception("study maintenance failed")

        study.hub.warmup.start()  # load the embedded model now, not on the first reply
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
    app.state.web = web
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="static")
    app.include_router(participant_router(web))
    app.include_router(chat_router(web))
    app.include_router(admin_router(web))

    @app.get("/healthz")
    async def healthz() -> Response:
        """For load balancers and the operator: 200 once the agent's model is ready (503 while
        it loads or after it failed to), with how busy the study is. No participant data."""
        return JSONResponse(capacity_summary(study), status_code=200 if study_ready(study) else 503)

    @app.get("/favicon.ico", include_in_schema=False)
    async def favicon() -> Response:
        return RedirectResponse("/static/favicon.svg", status_code=301)

    @app.exception_handler(404)
    async def not_found(request: Request, exc: Exception) -> Response:
        return web.message(
            request, "Page not found", "There is nothing at this address.", status=404
        )

    app.add_middleware(GuardMiddleware, max_body=MAX_BODY_BYTES, secure=config.cookie_secure)
    return app
