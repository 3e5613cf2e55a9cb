"""Plain typed records shared by every stage: tasks, sessions, turns, feedback, annotations."""

from simgap.models.annotation import Annotation, CodeValue
from simgap.models.failure import (
    FAILURE_PREFIX,
    FAILURE_VERSION,
    REASON_CAUSE,
    FailureCause,
    FailureLabel,
    FailureReason,
)
from simgap.models.feedback import (
    Answer,
    Feedback,
    ItemKind,
    QuestionItem,
    Questionnaire,
    load_questionnaire,
)
from simgap.models.records import RecordError, load_jsonl, read_jsonl, write_jsonl
from simgap.models.session import (
    MODEL_FAILURE_TERMINATIONS,
    REWARDED_TERMINATIONS,
    AgentSpec,
    Reward,
    Session,
    SessionCategory,
    SessionStatus,
    Termination,
    UserKind,
)
from simgap.models.task import Task
from simgap.models.turn import Role, ToolCall, Turn, Usage, utcnow

__all__ = [
    "FAILURE_PREFIX",
    "FAILURE_VERSION",
    "MODEL_FAILURE_TERMINATIONS",
    "REASON_CAUSE",
    "REWARDED_TERMINATIONS",
    "AgentSpec",
    "Annotation",
    "Answer",
    "CodeValue",
    "FailureCause",
    "FailureLabel",
    "FailureReason",
    "Feedback",
    "ItemKind",
    "QuestionItem",
    "Questionnaire",
    "RecordError",
    "Reward",
    "Role",
    "Session",
    "SessionCategory",
    "SessionStatus",
    "Task",
    "Termination",
    "ToolCall",
    "Turn",
    "Usage",
    "UserKind",
    "load_jsonl",
    "load_questionnaire",
    "read_jsonl",
    "utcnow",
    "write_jsonl",
]
