"""Participant pages outside the chat: arrival, consent, briefing, questionnaire, the end.

They know the participant only from the signed cookie set by `/start`; none of them takes a
session id, so there is nothing to guess to read someone else's conversation.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, Response

from simgap.models import ItemKind
from simgap.study.assignment import AssignmentState
from simgap.study.config import AccessMode
from simgap.study.pages import scenario_sections
from simgap.study.security import CookieData, new_token
from simgap.study.service import Stage, Where
from simgap.study.web import (
    ERRORS,
    PARTICIPANT_COOKIE,
    PARTICIPANT_MAX_AGE_S,
    STAGE_PATH,
    Web,
    db,
    form_and_csrf,
    redirect,
)


def participant_router(web: Web) -> APIRouter:
    r = APIRouter()
    study, config = web.study, web.config

    # -- entry --------------------------------------------------------------------------------
    @r.get("/", response_class=HTMLResponse)
    async def home(request: Request) -> Response:
        if web.who(request) is not None:
            return redirect("/p")
        open_mode = config.access.mode == AccessMode.OPEN
        return web.render(request, "home.html", {"open_mode": open_mode})

    @r.get("/start")
    async def start(request: Request) -> Response:
        params = {k: v for k, v in request.query_params.items() if len(v) <= 256}
        part = await db(study.enter, params)
        if part is None:
            return web.message(
                request,
                "This link is not valid",
                "Please check that you opened the whole link you were given for this study.",
                status=403,
            )
        resp = redirect("/p")
        old = web.who(request)
        csrf = old.csrf if old is not None and old.subject == part.participant_id else new_token()
        web.set_cookie(
            resp,
            PARTICIPANT_COOKIE,
            web.p_signer.dumps(CookieData(part.participant_id, csrf)),
            max_age=PARTICIPANT_MAX_AGE_S,
        )
        return resp

    @r.get("/p")
    async def p_router(request: Request) -> Response:
        got = await web.locate(request)
        if isinstance(got, Response):
            return got
        return redirect(STAGE_PATH[got[1].stage])

    # -- consent ------------------------------------------------------------------------------
    @r.get("/p/consent", response_class=HTMLResponse)
    async def consent_page(request: Request) -> Response:
        got = await web.page(request, Stage.CONSENT)
        if isinstance(got, Response):
            return got
        c, w = got
        # Blank lines separate paragraphs; single line breaks in the YAML are just wrapping.
        paragraphs = [" ".join(x.split()) for x in config.consent_text.split("\n\n") if x.strip()]
        return web.render(
            request,
            "consent.html",
            {**web.header(c, w), "stage": Stage.CONSENT, "paragraphs": paragraphs},
        )

    @r.post("/p/consent")
    async def consent_post(request: Request) -> Response:
        got = await web.page(request, Stage.CONSENT)
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

    @r.get("/p/declined", response_class=HTMLResponse)
    async def declined(request: Request) -> Response:
        got = await web.page(request, Stage.DECLINED)
        if isinstance(got, Response):
            return got
        return web.message(
            request,
            "Thank you",
            "You chose not to take part. Nothing you did here will be used. You can close this "
            "page (on a crowd platform, please return the study).",
        )

    # -- briefing -----------------------------------------------------------------------------
    @r.get("/p/briefing", response_class=HTMLResponse)
    async def briefing(request: Request) -> Response:
        got = await web.page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            return got
        c, w = got
        assert w.assignment is not None
        study.prepare_chat(w.assignment)
        task = study.tasks[w.assignment.task_id]
        return web.render(
            request,
            "briefing.html",
            {
                **web.header(c, w),
                "stage": Stage.BRIEFING,
                "scenario": scenario_sections(task, config.domain),
                "max_chars": config.max_message_chars,
            },
        )

    @r.post("/p/briefing")
    async def briefing_post(request: Request) -> Response:
        got = await web.page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            return got
        c, w = got
        _, ok = await form_and_csrf(request, c.csrf)
        if not ok or w.assignment is None:
            return redirect("/p/briefing")
        if await study.start_chat(w.assignment):
            return redirect("/p/wait")  # the study is at its cap of chats at once
        return redirect("/p/chat")

    # -- waiting for a chat -------------------------------------------------------------------
    @r.get("/p/wait", response_class=HTMLResponse)
    async def wait_page(request: Request) -> Response:
        """The "you are next" page: the study has its cap of chats at once running; the chat
        starts by itself (the page submits the start form) when this person's turn comes."""
        got = await web.page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            return got
        c, w = got
        assert w.assignment is not None
        pos = study.line_position(w.assignment)
        task = study.tasks[w.assignment.task_id]
        return web.render(
            request,
            "wait.html",
            {
                **web.header(c, w),
                "stage": Stage.BRIEFING,
                "position": pos,
                "active": study.line.cap,
                "scenario": scenario_sections(task, config.domain),
            },
        )

    @r.get("/p/wait/state")
    async def wait_state(request: Request) -> Response:
        got = await web.page(request, Stage.BRIEFING)
        if isinstance(got, Response):
            nxt = got.headers.get("location", "/p") if got.status_code == 303 else "/p"
            return JSONResponse({"position": None, "next": nxt})
        _, w = got
        assert w.assignment is not None
        pos = study.line_position(w.assignment)
        return JSONResponse({"position": pos, "start": pos == 0})

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
            **web.header(c, w),
            "stage": Stage.QUESTIONNAIRE,
            "items": items,
            "values": values,
            "errors": errors,
            "max_text": config.max_text_answer_chars,
        }

    @r.get("/p/questionnaire", response_class=HTMLResponse)
    async def questionnaire_page(request: Request) -> Response:
        got = await web.page(request, Stage.QUESTIONNAIRE)
        if isinstance(got, Response):
            return got
        c, w = got
        return web.render(request, "questionnaire.html", questionnaire_ctx(c, w, {}, {}))

    @r.post("/p/questionnaire")
    async def questionnaire_post(request: Request) -> Response:
        got = await web.page(request, Stage.QUESTIONNAIRE)
        if isinstance(got, Response):
            return got
        c, w = got
        assert w.assignment is not None
        form, ok = await form_and_csrf(request, c.csrf)
        values = {k: v for k, v in form.items() if isinstance(v, str) and k != "csrf"}
        if not ok:
            return web.render(
                request,
                "questionnaire.html",
                questionnaire_ctx(c, w, values, {"_form": ERRORS["csrf"]}),
                status=403,
            )
        errors = await db(
            study.submit_questionnaire, w.assignment, values, started_at=w.assignment.updated_at
        )
        if errors:
            return web.render(
                request, "questionnaire.html", questionnaire_ctx(c, w, values, errors), status=422
            )
        return redirect("/p")

    # -- the end ------------------------------------------------------------------------------
    @r.get("/p/done", response_class=HTMLResponse)
    async def done(request: Request) -> Response:
        got = await web.page(request, Stage.DONE)
        if isinstance(got, Response):
            return got
        c, w = got
        code = await db(study.completion_code, c.subject)
        url = await db(study.completion_url, c.subject)
        more = await db(study.can_do_another, c.subject)
        return web.render(
            request,
            "done.html",
            {**web.header(c, w), "stage": Stage.DONE, "code": code, "url": url, "more": more},
        )

    @r.post("/p/another")
    async def another(request: Request) -> Response:
        c = web.who(request)
        if c is None:
            return web.no_participant(request)
        _, ok = await form_and_csrf(request, c.csrf)
        if ok:
            try:
                await db(study.another, c.subject)
            except KeyError:
                return web.no_participant(request)
        return redirect("/p")

    @r.get("/p/full", response_class=HTMLResponse)
    async def full(request: Request) -> Response:
        got = await web.page(request, Stage.FULL)
        if isinstance(got, Response):
            return got
        return web.message(
            request,
            "No task available right now",
            "All places in this study are taken at the moment. Thank you for your interest; "
            "you can close this page (on a crowd platform, please return the study).",
        )

    @r.get("/p/interrupted", response_class=HTMLResponse)
    async def interrupted(request: Request) -> Response:
        got = await web.page(request, Stage.INTERRUPTED)
        if isinstance(got, Response):
            return got
        c, w = got
        a = w.assignment
        timed_out = a is not None and a.state == AssignmentState.RELEASED
        # A technical failure was ours: the person still gets the completion code.
        code = None if timed_out else await db(study.completion_code, c.subject)
        return web.render(
            request,
            "interrupted.html",
            {**web.header(c, w), "stage": None, "timed_out": timed_out, "code": code},
        )

    return r
