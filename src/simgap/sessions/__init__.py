"""Running conversations: the per-session driver and the resumable sweep engine."""

from simgap.sessions.driver import Actor, SessionDriver, TurnError, transcript
from simgap.sessions.plan import SessionPlan, plan_sessions, seed_for, session_id_for
from simgap.sessions.runner import (
    ProgressSink,
    RunOptions,
    SessionOutcome,
    SweepAborted,
    SweepRunner,
    SweepSummary,
    run_sweep,
    summarise_sessions,
)
from simgap.sessions.simulate import simulate

__all__ = [
    "Actor",
    "ProgressSink",
    "RunOptions",
    "SessionDriver",
    "SessionOutcome",
    "SessionPlan",
    "SweepAborted",
    "SweepRunner",
    "SweepSummary",
    "TurnError",
    "plan_sessions",
    "run_sweep",
    "seed_for",
    "session_id_for",
    "simulate",
    "summarise_sessions",
    "transcript",
]
