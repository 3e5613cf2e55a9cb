"""Stage: feedback. Simulators answer the post-interaction questionnaire people answer."""

from simgap.feedback.answers import is_parametric, llm_answers, parametric_answers
from simgap.feedback.collect import FeedbackSummary, collect_feedback, resolve_simulator

__all__ = [
    "FeedbackSummary",
    "collect_feedback",
    "is_parametric",
    "llm_answers",
    "parametric_answers",
    "resolve_simulator",
]
