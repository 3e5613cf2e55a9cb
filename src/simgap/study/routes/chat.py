"""The live chat: the page, the long-poll for the agent's reply, sending, ending.

The agent answers in the background (`ChatHub`), so a POST returns as soon as the person's
message is stored; the page then long-polls `/p/chat/state` until the reply is there. Without
JavaScript the same forms post normally and the page refreshes while the agent is working.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from simgap.study.assignment import Assignment
from simgap.study.chat import ChatError, ChatOver, ChatState, LiveSession, clean_msg_id
from simgap.study.pages import scenario_sections
from simgap.study.security import CookieData, new_token
from simgap.study.service import Stage, Where
from simgap.study.web import ERRORS, Web, db, form_and_csrf, redirect, wants_json

LONG_POLL_MAX_S = 25.0


def state_json(stt: ChatState) -> dict[str, Any]:
    """What the chat script gets: the visible messages and whether the agent is working."""
    return {
        "messages": [{"idx": m.idx, "role": m.role, "text": m.text} for m in stt.messages],
        "thinking": stt.thinking,
        "ended": stt.ended,
        "next": "/p" if stt.ended else None,
        "user_turns": stt.user_turns,
        "wait_text": stt.wait_text,
    }


def _chat_error(js: bool, code: str, status: int) -> Response:
    if js:
        return JSONResponse({"error": ERRORS[code], "code": code}, status_code=status)
    return redirect(f"/p/chat?e={code}")


def chat_router(web: Web) -> APIRouter:
    r = APIRouter()
    study, config = web.study, web.config

    async def chat_live(
        request: Request,
    ) -> tuple[CookieData, Where, Assignment, LiveSession] | Response:
        """The participant's live chat, or the response to send instead (their chat ended:
        JSON callers get `{"ended": true, "next": ...}`, pages a redirect)."""
        got = await web.page(request, Stage.CHAT)
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

    @r.get("/p/chat", response_class=HTMLResponse)
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
        return web.render(
            request,
            "chat.html",
            {
                **web.header(c, w),
                "stage": Stage.CHAT,
                "messages": stt.messages,
                "thinking": stt.thinking,
                "wait_text": stt.wait_text,
                "scenario": scenario_sections(task, config.domain),
                "max_chars": config.max_message_chars,
                "msg_id": new_token(9),
                "error": err,
                "user_turns": stt.user_turns,
                "max_user_turns": config.max_user_turns,
                "last_idx": stt.messages[-1].idx if stt.messages else -1,
            },
        )

    @r.get("/p/chat/state")
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

    @r.post("/p/chat/send")
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
        msg_id_s = clean_msg_id(msg_id if isinstance(msg_id, str) else None)
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

    @r.post("/p/chat/end")
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

    return r
