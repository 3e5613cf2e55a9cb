"""Admin sessions kept on the server, so that logging out really ends one.

A signed cookie alone cannot be taken back: a copy made before logout stays valid until it
expires (12 h). So each login makes a random session id, the cookie carries it (signed), and
the database keeps its SHA-256 with an expiry and a revocation time. Logging out revokes the
row; every admin request checks it. In the database, not in memory, so a restart (or a second
process) logs nobody out and honours a logout made elsewhere.
"""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import and_, delete, insert, select, update

from simgap.models import utcnow
from simgap.store import Store
from simgap.study import tables as st
from simgap.study.assignment import aware
from simgap.study.security import new_token


def _digest(sid: str) -> str:
    return hashlib.sha256(sid.encode("utf-8")).hexdigest()


class AdminSessions:
    """The study's admin sessions (see the module docstring)."""

    def __init__(self, store: Store, study: str, *, max_age: timedelta) -> None:
        self.store = store
        self.study = study
        self.max_age = max_age

    def create(self, *, now: datetime | None = None) -> str:
        """A new session; returns its id (goes into the signed cookie, never stored)."""
        now = now or utcnow()
        sid = new_token(24)
        t = st.admin_sessions
        with self.store.engine.begin() as conn:
            # Forget sessions that ended a day ago or more (the table stays small).
            conn.execute(
                delete(t).where(
                    and_(t.c.study == self.study, t.c.expires_at < now - timedelta(days=1))
                )
            )
            conn.execute(
                insert(t).values(
                    study=self.study,
                    sid_hash=_digest(sid),
                    created_at=now,
                    expires_at=now + self.max_age,
                    revoked_at=None,
                )
            )
        return sid

    def is_live(self, sid: str, *, now: datetime | None = None) -> bool:
        """True when `sid` was made by `create`, is not revoked and has not expired."""
        t = st.admin_sessions
        q = select(t.c.expires_at, t.c.revoked_at).where(
            and_(t.c.study == self.study, t.c.sid_hash == _digest(sid))
        )
        with self.store.engine.connect() as conn:
            row = conn.execute(q).first()
        if row is None or row.revoked_at is not None:
            return False
        expires = aware(row.expires_at)
        return expires is not None and expires > (now or utcnow())

    def revoke(self, sid: str) -> None:
        t = st.admin_sessions
        with self.store.engine.begin() as conn:
            conn.execute(
                update(t)
                .where(
                    and_(
                        t.c.study == self.study,
                        t.c.sid_hash == _digest(sid),
                        t.c.revoked_at.is_(None),
                    )
                )
                .values(revoked_at=utcnow())
            )
