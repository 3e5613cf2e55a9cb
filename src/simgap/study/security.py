"""Passwords, signed cookies and CSRF tokens for the study app.

Why each piece exists:
- the admin password is only ever held as a salted scrypt hash (from `SIMGAP_ADMIN_PASSWORD`
  at start-up, or a hash in the config), compared in constant time, so neither the config, the
  logs nor a memory dump of a request handler shows it;
- participants and admins are identified by cookies signed with itsdangerous (HMAC-SHA256): a
  participant cannot become another one by editing a cookie, and the server keeps no login
  state, so a restart logs nobody out;
- every cookie carries a random CSRF token that must come back with each POST (hidden form
  field or `X-CSRF-Token` header): a page on another site cannot post chat messages, answers
  or admin actions in someone's name.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadSignature, URLSafeTimedSerializer

from simgap.errors import ConfigError

# scrypt cost: ~16 MiB and ~50 ms per check; slows down guessing without slowing the app.
_SCRYPT_N, _SCRYPT_R, _SCRYPT_P = 2**14, 8, 1
_MAXMEM = 64 * 1024 * 1024


def hash_password(password: str, *, salt: bytes | None = None) -> str:
    """`scrypt$n$r$p$salt$hash` (base64): safe to store in a config file."""
    if not password:
        raise ConfigError("the admin password must not be empty")
    salt = salt or secrets.token_bytes(16)
    digest = hashlib.scrypt(
        password.encode("utf-8"), salt=salt, n=_SCRYPT_N, r=_SCRYPT_R, p=_SCRYPT_P, maxmem=_MAXMEM
    )
    b64 = base64.urlsafe_b64encode
    return f"scrypt${_SCRYPT_N}${_SCRYPT_R}${_SCRYPT_P}${b64(salt).decode()}${b64(digest).decode()}"


def check_password_hash(stored: str) -> None:
    """Raise ConfigError unless `stored` looks like something `hash_password` wrote."""
    parts = stored.split("$")
    if len(parts) != 6 or parts[0] != "scrypt":
        raise ConfigError(
            "field admin_password_hash: not a simgap password hash "
            "(make one with `simgap study hash-password`)"
        )
    try:
        int(parts[1]), int(parts[2]), int(parts[3])
        base64.urlsafe_b64decode(parts[4])
        base64.urlsafe_b64decode(parts[5])
    except ValueError:
        raise ConfigError("field admin_password_hash: malformed scrypt hash") from None


def verify_password(password: str, stored: str) -> bool:
    """Constant-time check of a password against a stored hash; False for any malformed input."""
    try:
        _, n, r, p, salt_b64, digest_b64 = stored.split("$")
        salt = base64.urlsafe_b64decode(salt_b64)
        want = base64.urlsafe_b64decode(digest_b64)
        got = hashlib.scrypt(
            password.encode("utf-8"), salt=salt, n=int(n), r=int(r), p=int(p), maxmem=_MAXMEM
        )
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got, want)


def new_token(nbytes: int = 18) -> str:
    """An unguessable URL-safe token (participant links, CSRF tokens, secrets)."""
    return secrets.token_urlsafe(nbytes)


def tokens_equal(a: str | None, b: str | None) -> bool:
    if not a or not b:
        return False
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))


@dataclass(frozen=True)
class CookieData:
    """What a signed cookie says: who (participant id, or "admin") and the CSRF token."""

    subject: str
    csrf: str


class CookieSigner:
    """Signs and checks the app's cookies. `max_age_s` bounds how long a cookie is honoured."""

    def __init__(self, secret: str, *, salt: str) -> None:
        self._s = URLSafeTimedSerializer(secret, salt=salt)

    def dumps(self, data: CookieData) -> str:
        return str(self._s.dumps({"sub": data.subject, "csrf": data.csrf}))

    def loads(self, value: str | None, *, max_age_s: int) -> CookieData | None:
        if not value or len(value) > 4096:
            return None
        try:
            raw: Any = self._s.loads(value, max_age=max_age_s)
        except BadSignature:  # includes SignatureExpired
            return None
        if not isinstance(raw, dict):
            return None
        sub, csrf = raw.get("sub"), raw.get("csrf")
        if not isinstance(sub, str) or not isinstance(csrf, str) or not sub or not csrf:
            return None
        return CookieData(subject=sub, csrf=csrf)
