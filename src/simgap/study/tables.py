"""The study app's own tables, next to the session store's (same database, `study_` prefix).

Sessions, turns and feedback stay in the store's tables, exactly as `simgap run` writes them, so
`simgap score` reads people and simulators the same way. These tables only hold what the study
needs on top: who the participants are, which (task, batch) slot each one holds, and an audit
trail of what happened when.

Three unique constraints make assignment safe without locks, on SQLite and PostgreSQL alike:
`(study, task_id, batch, slot)` means a cell can never hold more than its target (slots are
numbered 0..target-1; a released assignment gives its slot back by setting it to NULL);
`(study, participant_id, task_id)` means nobody ever gets the same task twice; and
`(study, active_for)` means nobody holds two assignments at once.
"""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    Column,
    DateTime,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)

metadata = MetaData()

settings = Table(
    "study_settings",
    metadata,
    Column("study", String(128), primary_key=True),
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

participants = Table(
    "study_participants",
    metadata,
    Column("study", String(128), primary_key=True),
    Column("participant_id", String(64), primary_key=True),
    # How they came in: "token" (a link made by the admin), "crowd" (a crowd-platform id in
    # the URL) or "open" (anyone with the link, demo). external_id is the token or crowd id.
    Column("source", String(16), nullable=False),
    Column("external_id", String(128), nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("entered_at", DateTime(timezone=True), nullable=True),
    Column("consented_at", DateTime(timezone=True), nullable=True),
    Column("declined_at", DateTime(timezone=True), nullable=True),
    Column("completion_code", String(64), nullable=True),
    Column("meta", JSON, nullable=False),
    UniqueConstraint("study", "external_id", name="uq_study_participant_external"),
)

assignments = Table(
    "study_assignments",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study", String(128), nullable=False),
    Column("participant_id", String(64), nullable=False),
    Column("task_id", String(128), nullable=False),
    Column("batch", String(128), nullable=False),
    Column("slot", Integer, nullable=True),  # NULL once released or failed
    # The participant id while the assignment is in progress, NULL after: unique per study, so
    # one person never holds two assignments at once (NULLs never collide, on any backend).
    Column("active_for", String(64), nullable=True),
    Column("session_id", String(128), nullable=False, unique=True),
    # assigned -> chatting -> questionnaire -> complete; or released (abandoned) / failed
    Column("state", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("updated_at", DateTime(timezone=True), nullable=False),
    Column("last_seen_at", DateTime(timezone=True), nullable=False),
    Column("meta", JSON, nullable=False),
    UniqueConstraint("study", "participant_id", "task_id", name="uq_study_no_repeat"),
    UniqueConstraint("study", "task_id", "batch", "slot", name="uq_study_cell_slot"),
    UniqueConstraint("study", "active_for", name="uq_study_one_active"),
    Index("ix_study_assignments_state", "study", "state", "last_seen_at"),
)

events = Table(
    "study_events",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("study", String(128), nullable=False),
    Column("participant_id", String(64), nullable=True),
    Column("session_id", String(128), nullable=True),
    Column("kind", String(32), nullable=False),
    Column("at", DateTime(timezone=True), nullable=False),
    Column("data", JSON, nullable=False),
    Index("ix_study_events_participant", "study", "participant_id"),
)

# Admin logins, so that logging out (or a stolen cookie's owner noticing) ends a session on the
# server too: the admin cookie names a row here by a random id, stored only as its SHA-256.
admin_sessions = Table(
    "study_admin_sessions",
    metadata,
    Column("study", String(128), primary_key=True),
    Column("sid_hash", String(64), primary_key=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=False),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
)
