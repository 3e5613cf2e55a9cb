"""Table definitions (SQLAlchemy Core). JSON columns hold nested records; everything a filter
or a join needs is a real column."""

from sqlalchemy import (
    JSON,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NUL_STAND_IN = "\ufffd"  # what a NUL becomes where the backend cannot hold one


class FreeText(TypeDecorator[str]):
    """Text a model or a person wrote (turn content, errors, free-text answers).

    PostgreSQL refuses a NUL character in a text column ("text fields cannot contain NUL"), so a
    model that emitted one would fail its session on PostgreSQL and not on SQLite. On PostgreSQL
    each NUL is stored as U+FFFD (visible, and never confused with the text around it); SQLite
    keeps the text exactly. JSON columns need nothing: their NULs are serialised as `\\u0000`.
    """

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        if value is not None and dialect.name == "postgresql" and "\x00" in value:
            return value.replace("\x00", NUL_STAND_IN)
        return value

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return value


SCHEMA_VERSION = 1

metadata = MetaData()

meta_info = Table(
    "simgap_meta",
    metadata,
    Column("key", String(64), primary_key=True),
    Column("value", Text, nullable=False),
)

sessions = Table(
    "sessions",
    metadata,
    Column("session_id", String(128), primary_key=True),
    Column("task_id", String(128), nullable=False),
    Column("domain", String(64), nullable=False),
    Column("user_kind", String(16), nullable=False),
    Column("user_id", String(256), nullable=False),
    Column("agent_name", String(128), nullable=False),
    Column("agent_model", String(256), nullable=False),
    Column("agent", JSON, nullable=False),
    Column("batch", String(128), nullable=False),
    Column("trial", Integer, nullable=False),
    Column("seed", Integer, nullable=True),
    Column("status", String(16), nullable=False),
    Column("termination", String(32), nullable=True),
    Column("reward_value", Float, nullable=True),
    Column("reward", JSON, nullable=True),
    Column("error", FreeText, nullable=True),
    Column("started_at", DateTime(timezone=True), nullable=True),
    Column("ended_at", DateTime(timezone=True), nullable=True),
    Column("agent_usage", JSON, nullable=False),
    Column("user_usage", JSON, nullable=False),
    Column("n_turns", Integer, nullable=False, default=0),
    Column("meta", JSON, nullable=False),
    Index("ix_sessions_select", "user_kind", "user_id", "domain", "batch", "status"),
    Index("ix_sessions_task", "domain", "task_id"),
)

turns = Table(
    "turns",
    metadata,
    Column(
        "session_id",
        String(128),
        ForeignKey("sessions.session_id", ondelete="CASCADE"),
        primary_key=True,
    ),
    Column("idx", Integer, primary_key=True),
    Column("role", String(8), nullable=False),
    Column("content", FreeText, nullable=True),
    Column("tool_calls", JSON, nullable=False),
    Column("tool_call_id", String(256), nullable=True),
    Column("tool_error", Boolean, nullable=False, default=False),
    Column("requestor", String(8), nullable=True),
    Column("timestamp", DateTime(timezone=True), nullable=False),
    Column("usage", JSON, nullable=True),
    Column("meta", JSON, nullable=False),
)

feedback = Table(
    "feedback",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        String(128),
        ForeignKey("sessions.session_id", ondelete="CASCADE"),
        nullable=False,
    ),
    Column("respondent_kind", String(16), nullable=False),
    Column("respondent_id", String(256), nullable=False),
    Column("questionnaire", String(64), nullable=False),
    Column("questionnaire_version", String(32), nullable=False),
    Column("answers", JSON, nullable=False),
    Column("free_text", FreeText, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("usage", JSON, nullable=True),
    Column("meta", JSON, nullable=False),
    UniqueConstraint("session_id", "respondent_id", "questionnaire", name="uq_feedback_one"),
)

annotations = Table(
    "annotations",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column(
        "session_id",
        String(128),
        ForeignKey("sessions.session_id", ondelete="CASCADE"),
        nullable=False,
    ),
    # -1 marks a session-level annotation, so the unique constraint works on every backend.
    Column("turn_idx", Integer, nullable=False),
    Column("annotator", String(256), nullable=False),
    Column("codebook_version", String(32), nullable=False),
    Column("codes", JSON, nullable=False),
    Column("features", JSON, nullable=False),
    Column("missing", Boolean, nullable=False, default=False),
    Column("error", FreeText, nullable=True),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("usage", JSON, nullable=True),
    Column("meta", JSON, nullable=False),
    UniqueConstraint(
        "session_id", "turn_idx", "annotator", "codebook_version", name="uq_annotation_one"
    ),
    Index("ix_annotations_annotator", "annotator", "codebook_version"),
)
