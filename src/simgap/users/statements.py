"""The rest of the scenario, for answering an agent's question: what a template customer can
say beyond its known details, in its own voice and in the scenario's words only.

τ²'s `known_info` holds the customer's identifiers (`scenario.py` hands those out), but the
choices a task turns on are stated elsewhere: the cabin class, the number of bags, the
passenger to add, the reservation the customer "suddenly finds in their email" are sentences
of `reason_for_call` and `task_instructions`. A person asked "which cabin class?" answers from
the whole brief; so does the parametric customer, through this module:

* `scenario_statements(task)`: every sentence of the reason (after the opening) and of the
  instructions that a customer could say to the agent, turned into the first person
  (`scenario.first_person`). Directions about how to play the part ("Be polite", "Do not
  reveal it", "Mention that …") are left out. Two kinds of sentence are reshaped, with the
  scenario's own words:

  - an answer rule, "If the agent asks for X, say that Y" (or "When asked for X, provide Y"),
    becomes the answer Y to questions about X (its `cue`);
  - a condition on what the agent says, "If the agent says Z, you want W", becomes the
    customer's own contingency, "If Z, I want W" (a bare imperative W gets "I": "ask to
    upgrade" -> "I ask to upgrade").

* `parse_request(agent_text)`: the content words of the agent's request and the options it
  offers ("cabin class (basic economy, economy or business)");
* `best_statement(...)`: the statement that answers it: one that names an offered option
  (longest option first), else one that shares the most content words with the request and
  holds a value (an id, a number, a date, a name), or an answer rule whose cue shares a word;
* `bare_value(...)`: what a terse customer says instead: the option, or the values of the
  statement's clause that answers the request.

Nothing here invents a value: every word of a statement is the scenario's (plus the first
person's "I"/"my"). How often and in what manner a statement is given (withheld first, bare,
vague, decorated) is the behaviour profile's, in `behavior.py`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from simgap.models import Task
from simgap.users.scenario import first_person, sentences

# Words that say what kind of thing is asked for but name no particular thing.
_STOP = frozenset(
    """a an the and or of for to in on at by with from as is are was were be been it its this
    that these those what which who whom whose how when where why your you me my mine i we our
    us please could would can may might will shall should do does did have has had need needs
    tell give provide share send know confirm verify spell let still go on before further
    continue more also just like want wanted any some one number first last full new total
    there here then so if not no yes ok okay again about choice preference""".split()  # noqa: SIM905
)
_SYNONYMS = {
    "baggage": "bag",
    "baggages": "bag",
    "luggage": "bag",
    "bags": "bag",
    "dob": "birth",
    "birthday": "birth",
    "cabin": "class",
    "booking": "reservation",
    "confirmation": "reservation",
    "postcode": "zip",
    "zipcode": "zip",
    "e-mail": "email",
    "mail": "email",
    "passengers": "passenger",
    "flights": "flight",
    "items": "item",
    "orders": "order",
    "reservations": "reservation",
}
_WORD = re.compile(r"[a-z0-9]+(?:-[a-z0-9]+)*")


def content_words(text: str) -> frozenset[str]:
    """Lower-case content words with light normalisation (plural `s`, a few synonyms)."""
    out: set[str] = set()
    for raw in _WORD.findall(text.lower()):
        w = _SYNONYMS.get(raw, raw)
        if w in _STOP or w.isdigit() or len(w) < 2:
            continue
        if len(w) > 3 and w.endswith("s") and not w.endswith("ss"):
            w = _SYNONYMS.get(w[:-1], w[:-1])
        out.add(w)
    return frozenset(out)


# -- values: what makes a sentence an answer ---------------------------------------------------
_MONTH = (
    r"(?:January|February|March|April|May|June|July|August|September|October|November|December)"
)
_VALUE = re.compile(
    r"[\w.+-]+@[\w-]+\.[\w.]+\w"  # e-mail
    r"|\b\d{4}-\d{2}-\d{2}\b"  # ISO date
    r"|\b" + _MONTH + r"\s+\d{1,2}(?:st|nd|rd|th)?\b"  # May 26, May 22nd
    r"|\$?\b\d[\d,]*(?:\.\d+)?\b%?"  # 2, $500, 1,000, 10%
    r"|#?\b(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{5,}\b"  # ids: GV1N64, sophia_silva_7557, #W2378156
    r"|\b(?:two|three|four|five|six|seven|eight|nine|ten)\b"  # number words ("one" is idiom)
    r"|\b[A-Z][A-Za-z]*(?:\s+[A-Z][A-Za-z]*)*"  # names, cities, codes (not a sentence's 1st)
)
_NOT_VALUES = frozenset(
    {"I", "I'm", "I've", "I'd", "I'll", "My", "If", "When", "Only", "ID", "DOB"}
)


_ISO_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$|^" + _MONTH + r"\s")
_CODE = re.compile(r"^[A-Z]{3}$")  # an airport code: ORD, SFO
_ID = re.compile(r"^#?(?=[A-Za-z0-9_]*\d)[A-Za-z0-9_]{5,}$")
_NUMERIC = re.compile(
    r"^\$?\d[\d,]*(?:\.\d+)?%?$|^(?:two|three|four|five|six|seven|eight|nine|ten)$"
)


def value_kind(value: str) -> str:
    """`date`, `email`, `id`, `code` (airport), `number` or `name` (capitalised words: names,
    cities)."""
    if _ISO_DATE.search(value):
        return "date"
    if "@" in value:
        return "email"
    if _ID.match(value):
        return "id"
    if _CODE.match(value):
        return "code"
    if _NUMERIC.match(value):
        return "number"
    return "name"


def values_in(text: str) -> list[str]:
    """The value-like pieces of a text, in order: ids, numbers, dates, names, e-mails."""
    out = []
    for m in _VALUE.finditer(text):
        v = m.group(0).strip()
        before = text[: m.start()].rstrip()
        words = v.split()
        if v[:1].isupper() and (not before or before.endswith((".", "!", "?", ":"))):
            words = words[1:]  # a sentence's first word is capitalised, not a name
        words = [w for w in words if w not in _NOT_VALUES]
        if words:
            out.append(" ".join(words))
    return out


# -- which sentences a customer can say ------------------------------------------------------
# Directions for playing the part: never said to the agent.
_DIRECTION = re.compile(
    r"^(?:(?:then|also|finally|lastly|but|and|first),?\s+)?(?:be|do not|don't|never|try|"
    r"make sure|insist|complain|mention|say|tell|provide|answer|respond|reply|act|avoid|"
    r"remember|keep|ask|repeat|refuse|pretend|stay|wait|end|start|begin|note|consider|"
    r"follow|use the|only go|when the agent finally)\b",
    re.IGNORECASE,
)
_ROLE_PLAY = re.compile(
    r"\b(?:reveal|meant to test|make up|made up|pretend|role|simulat\w*|lenient|"
    r"every (?:one of )?your (?:replies|messages)|each of your replies)\b",
    re.IGNORECASE,
)
_CONDITION = re.compile(
    r"^(?P<lead>(?:if and only if|only if|if|when|whenever|in case|once)\b)\s*"
    r"(?P<cond>[^,]*?),\s*(?:then\s+)?(?P<main>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_AGENT_SAYS = re.compile(
    r"\b(?:the\s+)?(?:service\s+)?agent\s+(?:says|tells you|mentions|confirms|finds|"
    r"informs you|replies)\s+(?:that\s+)?",
    re.IGNORECASE,
)
_ASKED = re.compile(
    r"^(?:(?:the\s+)?(?:service\s+)?agent\s+asks?|you\s+are\s+asked|asked|they\s+ask)"
    r"(?:\s+you)?(?:\s+(?:for|about))?\s*(?P<cue>.*)$",
    re.IGNORECASE | re.DOTALL,
)
_SAY = re.compile(
    r"^(?:say|tell\s+(?:them|the\s+agent|him|her)|answer|respond|reply|provide|give|state)"
    r"(?:\s+(?:that|with))?\s+(?P<answer>.+)$",
    re.IGNORECASE | re.DOTALL,
)
_CUT = re.compile(r"\s*\(|,\s*then\b|,\s*and then\b", re.IGNORECASE)
_ASK_AGENT = re.compile(
    r"\b(?:ask|tell|request) (?:the (?:service )?agent|them|him|her) (?:to |that )?", re.I
)
_IMPERATIVE_MAIN = re.compile(
    r"^(?:ask|request|cancel|change|book|return|exchange|modify|upgrade|downgrade|drop|add|"
    r"remove|keep|switch|move|use|pay|try)\b",
    re.IGNORECASE,
)


@dataclass(frozen=True)
class Statement:
    """One sentence a customer can say about its task, with what it answers to."""

    sentence: str  # first person, as the customer says it
    words: frozenset[str]  # content words (`content_words`)
    values: tuple[str, ...]  # value-like pieces (`values_in`)
    cue: frozenset[str] = field(default_factory=frozenset)  # an answer rule's question words
    rule: bool = False  # an answer rule: the scenario's prescribed answer to a question


def _sentence_end(text: str) -> str:
    text = text.strip()
    text = text[0].upper() + text[1:] if text else text
    return text if text.endswith((".", "!", "?")) else text + "."


def _statement(sentence: str, *, cue: str = "", rule: bool = False) -> Statement:
    spoken = _sentence_end(first_person(sentence))
    return Statement(
        sentence=spoken,
        words=content_words(spoken),
        values=tuple(values_in(spoken)),
        cue=content_words(cue),
        rule=rule,
    )


def _from_sentence(raw: str) -> Statement | None:
    """The statement a scenario sentence gives the customer, or None for a direction."""
    s = " ".join(raw.split())
    if not _DIRECTION.match(s):  # "…, ask the agent to upgrade me" -> "…, upgrade me"
        s = _ASK_AGENT.sub("", s)
    if not re.search(r"[A-Za-z]", s) or _ROLE_PLAY.search(s):
        return None
    cond = _CONDITION.match(s)
    if cond is not None:
        asked = _ASKED.match(cond["cond"].strip())
        main = cond["main"].strip()
        said = _SAY.match(main)
        if said is not None:  # "If asked for X, say Y": Y answers questions about X
            if asked is None:
                return None  # "If the agent says Z, mention Y": a reaction to play, not a fact
            answer = _CUT.split(said["answer"], maxsplit=1)[0].strip()
            return _statement(answer, cue=asked["cue"], rule=True)
        if asked is not None and not asked["cue"].strip():  # "If the agent asks, you want W"
            return _statement(main, rule=False)
        if _DIRECTION.match(main) and not re.match(r"ask\s+(?:to|for)\b", main, re.I):
            return None
        if _IMPERATIVE_MAIN.match(main):
            main = "you " + main[0].lower() + main[1:]
        condition = _AGENT_SAYS.sub("", cond["cond"]).strip()
        lead = cond["lead"][0].upper() + cond["lead"][1:].lower()
        return _statement(f"{lead} {condition}, {main}" if condition else main)
    if _DIRECTION.match(s):
        return None
    return _statement(s)


def scenario_statements(task: Task) -> tuple[Statement, ...]:
    """Everything beyond the opening and the known details a customer could say, in order:
    the rest of the reason for the call, then the instructions."""
    raw = [*sentences(task.reason_for_call)[1:], *sentences(task.task_instructions)]
    out: list[Statement] = []
    for sentence in raw:
        st = _from_sentence(sentence)
        if st is not None and st.sentence not in {o.sentence for o in out}:
            out.append(st)
    return tuple(out)


# -- reading the agent's request ---------------------------------------------------------------
@dataclass(frozen=True)
class Request:
    """What an agent's message asks for: content words, and the options it offers."""

    words: frozenset[str]
    options: tuple[str, ...] = ()
    kind: str | None = None  # the kind of value asked for (`value_kind`), when the words say
    numbers: tuple[str, ...] = ()  # numbers in the request ("passenger 2")
    someone_else: bool = False  # about another person ("passenger 2's name"), not the customer

    @property
    def key(self) -> tuple[frozenset[str], tuple[str, ...], tuple[str, ...]]:
        """What is asked for: two requests with one key ask for the same thing."""
        return (self.words, self.numbers, self.options)


_KIND_HINTS = (
    ("date", re.compile(r"\b(?:date|birth|dob|when)\b")),
    ("code", re.compile(r"\b(?:airport|city|destination|origin|departure)\b")),
    ("email", re.compile(r"\be-?mail\b")),
    ("number", re.compile(r"\b(?:how many|number of|amount|bags?|baggages?|count)\b")),
    ("id", re.compile(r"\b(?:id|number|code|reservation|order|account|confirmation)\b")),
    ("name", re.compile(r"\bname\b")),
)


_SOMEONE_ELSE = re.compile(
    r"\bpassenger (?:[2-9]|\d\d)\b|\b(?:second|third|other|another|additional|extra) "
    r"(?:passenger|traveler|traveller|person)\b|\bcompanion\b"
)
_ASK_VERB = re.compile(
    r"\b(?:provide|give|share|tell|send|need|know|confirm|verify|spell|what|which|may i have|"
    r"can i have|could i have|look up)\b"
)
_PARENS = re.compile(r"\(([^()]*)\)")


def parse_request(agent_text: str) -> Request:
    """The request in an agent message: the last sentence that asks for something (or the last
    sentence), its content words and the options listed in its parentheses."""
    parts = [p for p in re.split(r"(?<=[.?!])\s+", agent_text.strip()) if p]
    asking = [p for p in parts if _ASK_VERB.search(p.lower())]
    asking = [p for p in asking if content_words(_PARENS.sub(" ", p))] or asking
    text = asking[-1] if asking else (parts[-1] if parts else "")
    options: list[str] = []
    for group in _PARENS.findall(text):
        if re.fullmatch(r"\s*(?:yes/no|y/n)\s*", group.lower()):
            continue
        for piece in re.split(r",\s*|\s+or\s+", group):
            opt = piece.strip().lower()
            if opt and opt not in options:
                options.append(opt)
    plain = _PARENS.sub(" ", text)
    kind = next((k for k, pat in _KIND_HINTS if pat.search(plain.lower())), None)
    numbers = tuple(re.findall(r"\d+", plain))
    other = _SOMEONE_ELSE.search(plain.lower()) is not None
    return Request(content_words(plain), tuple(options), kind, numbers, other)


def _option_in(text: str, options: tuple[str, ...]) -> str | None:
    """The first offered option the text names (longest options first, so "basic economy"
    is not read as "economy"), as the text writes it."""
    masked = text
    found: list[tuple[int, str]] = []
    for opt in sorted(options, key=len, reverse=True):
        words = [re.escape(w) for w in re.split(r"[\s_-]+", opt) if w]
        if not words:
            continue
        pat = re.compile(r"(?<![A-Za-z0-9])" + r"[\s_-]+".join(words) + r"(?![A-Za-z0-9])", re.I)
        for m in pat.finditer(masked):
            found.append((m.start(), m.group(0)))
        masked = pat.sub(lambda m: "#" * len(m.group(0)), masked)
    return min(found)[1] if found else None


_DISTINCT_KINDS = frozenset({"code", "date", "email", "id"})  # a value of one answers alone


def statement_score(st: Statement, req: Request) -> int:
    """How well a statement answers a request (0: it does not).

    An offered option wins outright (said plainly before said under a condition: "I want
    business" answers "which cabin?" before "if business is full, basic economy"); else an
    answer rule by the words its cue shares with the request; else a statement holding a
    value, by the content words it shares (a name or date asked for another passenger is
    answered by a statement holding one: the customer's own are in its known details).
    """
    if req.options and _option_in(_main_clause(st.sentence), req.options):
        return 95 if _CONDITION.match(st.sentence) else 100
    if req.options and _option_in(st.sentence, req.options):
        return 90
    if st.rule and st.cue:  # the prescribed answer, when its cue covers most of the request
        shared = len(st.cue & req.words)
        return 10 * shared if req.words and 2 * shared > len(req.words) else 0
    if not st.values:
        return 0
    shared = len(st.words & req.words)
    typed = any(value_kind(v) == req.kind for v in st.values)
    distinct = req.kind in _DISTINCT_KINDS or (req.someone_else and req.kind in {"name"})
    if not shared and not (typed and distinct):
        return 0
    return shared + int(typed)


def best_statement(
    statements: tuple[Statement, ...], req: Request, given: set[int]
) -> tuple[int, int] | None:
    """(index, score) of the statement that best answers `req`, not-yet-given ones first on
    a tie, then the scenario's order; None when none answers it."""
    scored = [(statement_score(st, req), i) for i, st in enumerate(statements)]
    scored = [(s, i) for s, i in scored if s > 0]
    if not scored:
        return None
    score, i = min(scored, key=lambda x: (-x[0], x[1] in given, x[1]))
    return i, score


def _main_clause(sentence: str) -> str:
    """The part after a leading condition ("If Z, I want W" -> "I want W")."""
    m = _CONDITION.match(sentence)
    return m["main"] if m else sentence


def bare_value(st: Statement, req: Request) -> str | None:
    """What a terse customer says: the option named, else the values of the clause that best
    answers the request; None when the statement holds no value to say bare."""
    if req.options:
        opt = _option_in(_main_clause(st.sentence), req.options) or _option_in(
            st.sentence, req.options
        )
        if opt is not None:
            return opt
    if st.rule:
        return st.sentence.rstrip(".") if len(st.sentence.split()) <= 3 else None
    typed = [v for v in st.values if value_kind(v) == req.kind]
    if typed:
        return " ".join(typed)
    clauses = [c for c in re.split(r",\s*|;\s*|\s+but\s+|\s+and\s+", st.sentence) if c.strip()]
    ranked = sorted(
        ((len(content_words(c) & req.words), -j, c) for j, c in enumerate(clauses)),
        reverse=True,
    )
    for _, _, clause in ranked:
        vals = values_in(clause)
        if vals:
            return " ".join(vals)
    return None


__all__ = [
    "Request",
    "Statement",
    "bare_value",
    "best_statement",
    "content_words",
    "parse_request",
    "scenario_statements",
    "statement_score",
    "value_kind",
    "values_in",
]
