"""What a template customer can say about its τ² task, in its own voice.

τ²'s user scenario speaks to the simulator ("You want to cancel reservation EHGLP3. Your user
id is emma_kim_9957."). The parametric customer needs it in the first person and cut into
pieces it can hand out one at a time: the opening request (first sentence of
`reason_for_call`), the known details (`known_info`, one per sentence, each with its bare value
and the nouns an agent would ask it by) and context sentences for long turns (the rest of
`reason_for_call`). Nothing is invented: every word about the task comes from the scenario.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from simgap.models import Task

_SENTENCE_SPLIT = re.compile(r"(?<!\bi\.e\.)(?<!\be\.g\.)(?<=[.!])\s+|\n+")  # not after "i.e."
_ID_TOKEN = re.compile(r"\b(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{5,}\b")
_STOP = frozenset(
    ["your", "you", "my", "the", "a", "an", "is", "are", "of", "for", "to", "with", "and", "in"]
)


_SUBJECT_SLOT = (
    r"(^|[.,;:!?]\s*|\b(?:and|but|that|because|if|when|so|as|since|where|while|until|"
    r"unless|which|who|then|or|though|although)\s+)"
)


_NAME_AHEAD = r"\bYou are (?=(?:[A-Z][a-z]+)(?: [A-Z][a-z]+)+(?:[.!]|\s*$))"
_VERB = (
    r"(?:need|want|have|had|can|could|will|would|should|must|do|did|don't|know|think|like|get|"
    r"make|go|may|might|prefer|remember|booked|recently|also|just|only|still|currently|made|"
    r"bought|ordered|paid|received|live|plan|purchased|placed|got|found|find|intend|wish|hope|"
    r"didn't|won't|can't|cannot|wonder|used|travel|fly)"
)


def first_person(text: str) -> str:
    """τ²'s second person ("You want…, your user id") turned into the customer's own voice.

    "you" becomes "I" where it starts a clause (start of a sentence, after a comma or a
    conjunction) and "me" elsewhere ("tell you" -> "tell me").
    """
    out = re.sub(_NAME_AHEAD, "My name is ", text)
    out = re.sub(r"\b[Yy]ou are\b", "I am", out)
    out = re.sub(r"\b[Yy]ou were\b", "I was", out)
    out = re.sub(r"\b[Yy]ou're\b", "I'm", out)
    out = re.sub(r"\b[Yy]ou(?='(?:ve|ll|d)\b)", "I", out)
    out = re.sub(r"\bYours\b", "Mine", out)
    out = re.sub(r"\byours\b", "mine", out)
    out = re.sub(r"\bYour\b", "My", out)
    out = re.sub(r"\byour\b", "my", out)
    out = re.sub(r"\byourself\b", "myself", out)
    out = re.sub(_SUBJECT_SLOT + r"[Yy]ou\b", lambda m: m[1] + "I", out)
    out = re.sub(r"\b[Yy]ou(?= " + _VERB + r"\b)", "I", out)
    return re.sub(r"\b[Yy]ou\b", "me", out)


def _is_name(sentence: str) -> bool:
    """`You are Emma Kim.`: a name (capitalised words), not `You are upset.`"""
    m = re.match(r"\s*You are ([A-Z][a-z]+(?: [A-Z][a-z]+)+)\.?\s*$", sentence)
    return m is not None


def sentences(text: str | None) -> list[str]:
    if not text:
        return []
    return [p.strip() for p in _SENTENCE_SPLIT.split(text.strip()) if p.strip()]


@dataclass(frozen=True)
class Fact:
    """One known detail: the sentence, its bare value and the nouns it answers to."""

    sentence: str  # first person, e.g. "My user id is emma_kim_9957."
    value: str  # e.g. "emma_kim_9957"
    keys: frozenset[str] = field(default_factory=frozenset)  # e.g. {"user", "id"}

    @property
    def ids(self) -> list[str]:
        """Identifier-like tokens (letters and digits) in the value."""
        return _ID_TOKEN.findall(self.value)


def _fact(raw: str) -> Fact:
    sentence = first_person(raw).strip()
    if not sentence.endswith((".", "!", "?")):
        sentence += "."
    if _is_name(raw):
        value = raw.strip().rstrip(".")[len("You are ") :].strip()
        return Fact(sentence, value, frozenset({"name"}))
    m = re.match(r"(?P<subject>.*?)\s+(?:is|are)\s*:?\s+(?P<value>.+?)[.!]?\s*$", raw.strip())
    if not m or not re.match(r"(?:your|the|my)\b", m["subject"].strip().lower()):
        return _loose_fact(sentence)
    value = m["value"].strip().strip("'\"").strip()
    words = re.findall(r"[a-z]+", m["subject"].lower())
    keys = frozenset(w for w in words if w not in _STOP and len(w) > 1)
    return Fact(sentence, value, keys)


_WHO = re.compile(r"\bI am ((?:[A-Z][a-z]+(?: [A-Z][a-z]+)+)|[a-z]+_[a-z]+_\d+)")
_EMAIL = re.compile(r"[\w.+-]+@[\w-]+\.[\w.]+\w")
_ZIP = re.compile(r"\b\d{5}\b")


def _loose_fact(sentence: str) -> Fact:
    """A sentence that is not "Your <thing> is <value>" (τ² retail: "You are Yusuf Rossi in
    zip code 19122."): its value is the name or account id, e-mail and zip code in it, and it
    answers to the nouns of those; a sentence with none of them is handed out whole."""
    parts: list[str] = []
    keys: set[str] = set()
    if who := _WHO.search(sentence):
        parts.append(who[1])
        keys |= {"id", "user"} if "_" in who[1] else {"name"}
    if email := _EMAIL.search(sentence):
        parts.append(email[0])
        keys.add("email")
    if zipcode := _ZIP.search(sentence):
        parts.append(zipcode[0])
        keys |= {"zip", "zipcode", "postcode"}
    if not parts:
        return Fact(sentence, sentence.rstrip("."), frozenset())
    return Fact(sentence, " ".join(parts), frozenset(keys))


@dataclass(frozen=True)
class ScenarioFacts:
    """The scenario, cut up for a template customer."""

    opening: str  # first sentence of the reason for the call
    facts: tuple[Fact, ...]  # known details, in the scenario's order
    context: tuple[str, ...]  # further sentences of the reason (for long turns)


def scenario_facts(task: Task) -> ScenarioFacts:
    """The opening request, the known details and the context sentences of a task."""
    reason = [first_person(s) for s in sentences(task.reason_for_call)]
    opening = reason[0] if reason else "I need help with my booking."
    facts = tuple(_fact(s) for s in sentences(task.known_info))
    return ScenarioFacts(opening=opening, facts=facts, context=tuple(reason[1:]))


def match_facts(facts: tuple[Fact, ...], asked: set[str]) -> list[int]:
    """Indices of the facts an agent's request names (by shared nouns), best match first.

    "reservation" also answers to "confirmation" and "booking"; "id" alone matches any fact
    whose key has "id". An empty list when nothing matches.
    """
    synonyms = {"booking": "reservation", "confirmation": "reservation", "e-mail": "email"}
    want = {synonyms.get(w, w) for w in asked}
    scored = []
    for i, f in enumerate(facts):
        keys = {synonyms.get(k, k) for k in f.keys}
        overlap = len(keys & want)
        if overlap:
            scored.append((-overlap, i))
    return [i for _, i in sorted(scored)]
