"""Participant ids and one-person links, usable without loading the app (the CLI makes links
straight into the store)."""

from __future__ import annotations

import secrets
from typing import Any

from sqlalchemy import insert

from simgap.models import utcnow
from simgap.store import Store
from simgap.study import tables as st
from simgap.study.security import new_token

_ALPHABET = "abcdefghijkmnpqrstuvwxyz23456789"  # no 0/o, 1/l: ids get read aloud and retyped


def new_participant_id() -> str:
    """`p` + 10 random characters: pseudonymous, never derived from a crowd id or a token."""
    return "p" + "".join(secrets.choice(_ALPHABET) for _ in range(10))


def create_token_participants(store: Store, study: str, n: int) -> list[str]:
    """Make `n` participants that get in with a token link; returns the tokens."""
    store.ensure_tables(st.metadata)
    rows: list[dict[str, Any]] = [
        {
            "study": study,
            "participant_id": new_participant_id(),
            "source": "token",
            "external_id": new_token(12),
            "created_at": utcnow(),
            "meta": {},
        }
        for _ in range(n)
    ]
    if rows:
        with store.engine.begin() as conn:
            conn.execute(insert(st.participants), rows)
    return [str(r["external_id"]) for r in rows]
