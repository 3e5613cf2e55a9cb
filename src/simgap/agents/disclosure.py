"""When a value counts as said: the normalisation behind the probe agent's information gate.

The probe agent (`simgap.agents.probe`) may use a value the customer must provide only once the
customer has said it. "Said" is decided on normalised text, the same way for the scenario (to
classify which gold values are the customer's) and for the conversation (to open the gate):

* lower case; `#` and commas dropped ("#W2378156" and "w2378156" are one order number, as are
  "1,000" and "1000": τ²'s own communicate check drops commas too);
* number words up to twenty as digits ("two bags" says 2), and numbers in one canonical form
  ("100.00" and "100" are the same amount);
* a value matches where it stands between non-alphanumeric characters, so "mei" is said by
  "mei_kovacs_8020" (the customer gave the id that holds the name) but "20" is not said by
  "2024", and words of a value may be separated by any run of spaces or punctuation.

Dates, airport codes and city names are matched as written: a scenario that says "May 20"
does not make "2024-05-20" a customer value, so such values are never gated (the gate errs
towards letting the probe act, never towards blocking a customer who said the thing).
"""

from __future__ import annotations

import re
from functools import lru_cache

_NUMBER_WORDS = {
    word: str(i)
    for i, word in enumerate(
        [
            *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
            *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"),
            *("seventeen", "eighteen", "nineteen", "twenty"),
        ]
    )
}
_NUMBER_WORD = re.compile(r"\b(" + "|".join(_NUMBER_WORDS) + r")\b")
_NUMBER = re.compile(r"(?<![a-z0-9_])\d+(?:\.\d+)?(?![a-z0-9_])")
_DIGIT_COMMA = re.compile(r"(?<=\d),(?=\d)")


def _canon_number(m: re.Match[str]) -> str:
    text = m.group(0)
    if "." not in text:
        return text  # integers as written: zip codes keep their leading zeros
    value = float(text)
    return str(int(value)) if value.is_integer() else f"{value:g}"


def normalise(text: str) -> str:
    """Text in the canonical form both sides of a match are compared in."""
    out = _DIGIT_COMMA.sub("", text.lower())
    out = out.replace("#", " ").replace(",", " ")
    out = _NUMBER_WORD.sub(lambda m: _NUMBER_WORDS[m.group(1)], out)
    out = _NUMBER.sub(_canon_number, out)
    return " ".join(out.split())


def value_text(value: object) -> str | None:
    """The canonical text of a gold argument value; None for values never gated (booleans,
    None, empty strings, containers)."""
    if isinstance(value, bool) or value is None:
        return None
    if isinstance(value, float):
        text = str(int(value)) if value.is_integer() else f"{value:g}"
    elif isinstance(value, (int, str)):
        text = str(value)
    else:
        return None
    canon = normalise(text)
    return canon or None


@lru_cache(maxsize=4096)
def _pattern(canon_value: str) -> re.Pattern[str]:
    words = [re.escape(w) for w in re.split(r"[^a-z0-9]+", canon_value) if w]
    body = r"[^a-z0-9]+".join(words)
    return re.compile(r"(?<![a-z0-9])" + body + r"(?![a-z0-9]|\.\d)")


def said(canon_value: str, canon_text: str) -> bool:
    """Whether `canon_value` (from `value_text`) occurs in `canon_text` (from `normalise`)."""
    if not re.search(r"[a-z0-9]", canon_value):
        return False
    return _pattern(canon_value).search(canon_text) is not None


__all__ = ["normalise", "said", "value_text"]
