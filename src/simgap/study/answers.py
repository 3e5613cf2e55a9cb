"""Reading a questionnaire form: each answer checked against its item, free text cleaned and
bounded. Kept apart from `service.Study` (which stores the result) so the rules are one page."""

from __future__ import annotations

from collections.abc import Mapping

from simgap.models import ItemKind, Questionnaire
from simgap.study.chat import strip_controls


def read_answers(
    q: Questionnaire, form: Mapping[str, str], *, text_limit: int
) -> tuple[dict[str, int | str | None], list[str], dict[str, str]]:
    """(answers by field, the free texts given, {field: problem}). Control characters are
    dropped from every value (PostgreSQL cannot store NUL); the limit message says what is
    accepted ("to 2000 characters or fewer"), since exactly the limit is."""
    answers: dict[str, int | str | None] = {}
    errors: dict[str, str] = {}
    free: list[str] = []
    for item in q.items:
        raw = strip_controls(form.get(item.field) or "").strip()
        if item.kind == ItemKind.TEXT:
            if len(raw) > text_limit:
                errors[item.field] = (
                    f"Please keep this to {text_limit} characters or fewer (it has {len(raw)})."
                )
            answers[item.field] = raw or None
            if raw:
                free.append(raw)
            continue
        if not raw:
            errors[item.field] = "Please answer this question."
            continue
        try:
            answers[item.field] = item.validate_answer(raw)
        except ValueError:
            errors[item.field] = "Please pick one of the options."
    return answers, free, errors
