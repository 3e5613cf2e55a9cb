"""The deterministic rule-based annotator: codebook codes from lexicons, no model.

It is what runs offline and in tests, and the baseline the hand-labelled agreement set
(`agreement.py`) measures. Each rule below implements the meaning written next to the value in
the codebook YAML; where a rule is a simplification, the comment says how.
"""

from __future__ import annotations

import re

from simgap.annotate import lexicons as lx
from simgap.annotate.base import Annotator, session_annotation
from simgap.annotate.codebook import Codebook, load_codebook
from simgap.annotate.context import TurnContext, user_turn_contexts
from simgap.annotate.style import shouting_words, style_features
from simgap.models import Annotation, CodeValue, Session

RULES_ANNOTATOR = "rules"

_WH_START = re.compile(r"(?:^|[.!?]\s+)(?:what|when|where|why|how|which|who)\b")
_DIGIT = re.compile(r"\d")
_LOWER_I = re.compile(r"(?:^|\s)i(?:\s|'|$)")  # "i" as a pronoun written in lowercase
# A concrete detail: a token with a digit (ids, dates, amounts, zip codes), an e-mail address,
# or a stated name. Stricter than the paper's id_density pattern, which also counts any word of
# six or more letters.
_DETAIL = re.compile(r"[\w#.@/-]*\d[\w#.@/-]*|\S+@\S+\.\w+|\bmy name is\b")
_CONTENT_WORD = re.compile(r"[a-z0-9]{3,}")
_STOPWORDS = (
    "the and for you can your with that this have are was but not please thanks would "
    "like just want need from what about"
)
_STOP = frozenset(_STOPWORDS.split())

LONG_DETAIL_WORDS = 25  # an answer longer than this, with details, volunteers extra
FRONT_LOAD_WORDS = 30  # a first turn this long is front-loading even without ids
REPEAT_OVERLAP = 0.6  # content-word Jaccard with an earlier turn that counts as repeating


def _content_words(text: str) -> set[str]:
    return {w for w in _CONTENT_WORD.findall(text.lower()) if w not in _STOP}


def _repeats_earlier(ctx: TurnContext) -> bool:
    if lx.REPEAT_MARKERS.search(ctx.text.lower()):
        return True
    mine = _content_words(ctx.text)
    if len(mine) < 3:
        return False
    for prev in ctx.earlier_user_texts:
        other = _content_words(prev)
        if other and len(mine & other) / len(mine | other) >= REPEAT_OVERLAP:
            return True
    return False


def informal(text: str) -> bool:
    """Chat shorthand, informal spelling, common typos, or a lowercase pronoun 'i'."""
    if _LOWER_I.search(text):
        return True
    return any(lx.INFORMAL.fullmatch(w) for w in lx.WORD.findall(text.lower()))


def register(text: str) -> str:
    """terse: ≤3 words. formal: formal phrasing or a long, capitalised, punctuated turn, with
    no contractions or informality. casual: everything else."""
    words = text.split()
    if len(words) <= 3:
        return "terse"
    lower = text.lower()
    if informal(text) or lx.CONTRACTION.search(lower):
        return "casual"
    well_formed = text[0].isupper() and text.rstrip()[-1] in ".?!"
    if lx.FORMAL.search(lower) or (well_formed and len(words) >= 8):
        return "formal"
    return "casual"


def emotional_tone(text: str) -> str:
    """angry > frustrated > positive > neutral, by lexicon (and shouting in capitals)."""
    lower = text.lower()
    if lx.ANGER.search(lower) or shouting_words(text) >= 2:
        return "angry"
    if lx.EMOTION.search(lower) or lx.FRUSTRATION.search(lower) or lx.NEGATIVE.search(lower):
        return "frustrated"
    if lx.POSITIVE.search(lower):
        return "positive"
    return "neutral"


def length_bucket(text: str) -> str:
    n = len(text.split())
    return "short" if n <= 3 else ("medium" if n <= 20 else "long")


def disclosure(ctx: TurnContext) -> str:
    """withholds > front_loads (first turn) > answers_asked / volunteers_extra > none."""
    text, lower = ctx.text, ctx.text.lower()
    n = len(text.split())
    n_details = len(_DETAIL.findall(lower))
    details = n_details > 0
    if lx.WITHHOLD.search(lower):
        return "withholds"
    if ctx.position == 0:
        if n_details >= 2 or (details and n >= 15) or n >= FRONT_LOAD_WORDS:
            return "front_loads"
        return "volunteers_extra" if details else "none"
    if ctx.agent_asked and clarification(text) != "requests_explanation":
        if details and n > LONG_DETAIL_WORDS:
            return "volunteers_extra"
        if details or n <= LONG_DETAIL_WORDS:
            return "answers_asked"
    if details:
        return "volunteers_extra"
    return "none"


def clarification(text: str) -> str:
    """requests_explanation > asks_confirmation > asks_question (a '?' or a wh-question, or
    an information request) > none."""
    lower = text.lower()
    if lx.CLARIFY_Q.search(lower):
        return "requests_explanation"
    if lx.CONFIRM_Q.search(lower):
        return "asks_confirmation"
    if "?" in text or _WH_START.search(lower):
        return "asks_question"
    return "none"


def error_reaction(ctx: TurnContext) -> str:
    """Only after an agent error/refusal (see `context`): escalates > gives_up > pushes_back >
    repeats_request > pivots > none."""
    if not ctx.after_error:
        return "not_applicable"
    lower = ctx.text.lower()
    if lx.ESCALATE.search(lower):
        return "escalates"
    if lx.GIVE_UP.search(lower):
        return "gives_up"
    if lx.PUSHBACK_Q.search(lower) or lx.ACCUSATION.search(lower) or lx.ANGER.search(lower):
        return "pushes_back"
    if _repeats_earlier(ctx):
        return "repeats_request"
    if lx.PIVOT.search(lower):
        return "pivots"
    return "none"


def rule_codes(ctx: TurnContext) -> dict[str, CodeValue]:
    """All codebook codes of one user turn."""
    text, lower = ctx.text, ctx.text.lower()
    return {
        "register": register(text),
        "politeness": bool(lx.POLITE.search(lower)),
        "emotional_tone": emotional_tone(text),
        "informality": informal(text),
        "length_bucket": length_bucket(text),
        "disclosure": disclosure(ctx),
        "vague": bool(lx.VAGUE.search(lower)),
        "self_correction": bool(lx.SELF_CORRECT.search(lower)),
        "clarification": clarification(text),
        "error_reaction": error_reaction(ctx),
    }


class RuleAnnotator(Annotator):
    """Deterministic, model-free annotator (name "rules")."""

    name = RULES_ANNOTATOR

    def __init__(self, codebook: Codebook | None = None) -> None:
        self.codebook = codebook or load_codebook()

    def annotate_sync(self, session: Session) -> list[Annotation]:
        """Same as `annotate`, without an event loop (it never waits on anything)."""
        turns: list[Annotation] = []
        for ctx in user_turn_contexts(session):
            codes = self.codebook.validate_codes(rule_codes(ctx))
            turns.append(
                Annotation(
                    session_id=session.session_id,
                    turn_idx=ctx.turn.idx,
                    annotator=self.name,
                    codebook_version=self.codebook.version,
                    codes=codes,
                    features=style_features(ctx.text),
                    meta={"after_error": ctx.after_error, "error_reason": ctx.error_reason},
                )
            )
        row = session_annotation(session, annotator=self.name, codebook=self.codebook, turns=turns)
        return [*turns, row]

    async def annotate(self, session: Session) -> list[Annotation]:
        return self.annotate_sync(session)
