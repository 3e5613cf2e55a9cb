"""Stage: feedback. Simulators answer the post-interaction questionnaire people answer."""

from simgap.feedback.collect import FeedbackSummary, collect_feedback, parametric_answers

__all__ = ["FeedbackSummary", "collect_feedback", "parametric_answers"]
