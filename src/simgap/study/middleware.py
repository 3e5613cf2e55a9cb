"""ASGI middleware of the study app: a request-body limit and security headers on every
response, applied before any route runs (so no route can forget them)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


class GuardMiddleware:
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
