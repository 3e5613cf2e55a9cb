"""The probe agent's words: questions, confirmations, reports, refusals, in plain varied English.

Every phrase is a template chosen by a deterministic index (the session seed and how many times
the probe has said that kind of thing), so a conversation is reproducible and a customer asked
twice for the same detail hears it asked in different words.

Wording rules (so the customer hears each move as what it is):
* questions name the detail with its usual noun ("user ID", "reservation number", "zip code")
  and never carry a value the customer has not said;
* confirmations describe the change and ask for a plain yes or no, with no apology or refusal
  words ("sorry", "can't", "error") that would read as trouble;
* refusals say that the policy does not allow the request, as the domain policies ask.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from typing import Any

# What each thing is called when the probe asks for it.
LABELS: dict[str, str] = {
    "user_id": "user ID",
    "reservation_id": "reservation number",
    "order_id": "order number",
    "email": "email address",
    "zip": "zip code",
    "name": "first and last name",
    "cabin": "cabin class (basic economy, economy or business)",
    "origin": "departure city or airport",
    "destination": "destination city or airport",
    "flight_type": "trip type (one way or round trip)",
    "date": "travel date",
    "flight_number": "flight number",
    "payment_id": "payment method",
    "payment_method_id": "payment method",
    "payment": "payment method and amount",
    "total_baggages": "total number of checked bags",
    "nonfree_baggages": "number of paid checked bags",
    "amount": "amount",
    "reason": "reason for cancelling (no longer needed, or ordered by mistake)",
    "address": "full new address (street, apartment or suite, city, state, country, zip code)",
    "insurance": "choice about travel insurance",
    "item_ids": "items in question",
    "new_item_ids": "new items you would like",
    "product_id": "product ID",
}

ASK = (
    "Could you tell me your {label}?",
    "What is your {label}, please?",
    "May I have your {label}?",
    "To continue I will need your {label}. What is it?",
    "Please give me your {label}.",
)
ASK_AGAIN = (
    "I still need your {label} to go on. Could you give it to me?",
    "Before I can go further, what is your {label}?",
    "Could you share your {label}, please?",
)
CONFIRM = (
    "Here is the change: {desc}. Shall I go ahead (yes/no)?",
    "I am ready to {desc}. Do you want me to proceed? Please answer yes or no.",
    "This is what I will do: {desc}. Is that okay with you (yes/no)?",
)
CONFIRM_AGAIN = (
    "Just a yes or a no, please: shall I {desc}?",
    "Do you want me to {desc}? Please answer yes or no.",
)
DONE = ("Done: {past}.", "All set: {past}.", "That went through: {past}.")
NOT_DONE = "That change did not go through ({error})."
DECLINED = ("Understood, I will leave that as it is.", "Okay, I will not make that change.")
INFO = ("Here is the information for you: {info}.", "For your information: {info}.")
ANYTHING_ELSE = (
    "Is there anything else I can help you with?",
    "Can I help you with anything else today?",
    "Is there something else you need?",
)
REFUSE = (
    "I am sorry, but I can't do that: our policy does not allow it.",
    "Unfortunately that is not something I am allowed to do under our policy.",
    "I am afraid our policy does not permit that request, so I can't help with it.",
)
GOODBYE = ("You're welcome. Have a great day!", "Glad I could help. Goodbye!")
TRANSFER = "YOU ARE BEING TRANSFERRED TO A HUMAN AGENT. PLEASE HOLD ON."


def pick(options: Sequence[str], k: int) -> str:
    return options[k % len(options)]


def label(thing: str) -> str:
    """The words for a thing: `passenger 2 name` -> "passenger 2's first and last name"."""
    m = re.match(r"passenger (\d+) (\w+)$", thing)
    if m:
        what = {"name": "first and last name", "dob": "date of birth"}.get(m.group(2), m.group(2))
        return f"passenger {m.group(1)}'s {what}"
    return LABELS.get(thing, thing.replace("_", " "))


_YES = re.compile(
    r"\b(?:yes|yeah|yep|yup|sure|ok|okay|alright|all right|confirm(?:ed)?|go ahead|proceed|"
    r"please do|do it|sounds good|that works|correct|that's right|absolutely|of course|"
    r"fine|perfect|affirmative|y)\b"
)
_NO_START = re.compile(r"^\W*(?:no|nope|nah|don't|do not|never|wait|stop|hold on)\b")
_NO = re.compile(
    r"\b(?:no|nope|don't|do not|not now|not yet|never mind|cancel that|hold off|wait|"
    r"changed my mind)\b"
)
_CLOSING = re.compile(
    r"\b(?:no|nope|nothing|that's all|that is all|that's it|that is it|all good|bye|goodbye|"
    r"thanks?|thank you|that will be all|i'm good|i am good|done)\b"
)

_MORE = re.compile(r"\b(?:also|want|need|would like|could you|can you|another)\b|\?")


def yes_no(text: str) -> bool | None:
    """True for a yes, False for a no, None when the answer is neither."""
    t = text.lower().replace("’", "'")
    if _NO_START.search(t):
        return False
    if _YES.search(t) and not _NO.search(t):
        return True
    if _NO.search(t):
        return False
    return None


def closing(text: str) -> bool:
    """Whether a reply to "anything else?" ends the request ("no, that's all, thanks")."""
    t = text.lower().replace("’", "'")
    if _MORE.search(t):
        return False
    return _CLOSING.search(t) is not None and yes_no(t) is not True


def _fmt(value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_fmt(v) for v in value)
    if isinstance(value, dict):
        return " ".join(_fmt(v) for v in value.values() if v not in (None, ""))
    return str(value)


def _names(items: Sequence[Any], names: Mapping[str, str]) -> str:
    return ", ".join(names.get(str(i), f"item {i}") for i in items)


def describe(tool: str, args: Mapping[str, Any], names: Mapping[str, str]) -> tuple[str, str]:
    """(what the change is, in the infinitive; what was done, in the past) for a write action.

    `names` maps item/product ids to readable names found in earlier tool results.
    """
    a = dict(args)
    rid, oid = a.get("reservation_id"), a.get("order_id")
    if tool == "cancel_reservation":
        return f"cancel reservation {rid}", f"reservation {rid} is cancelled"
    if tool == "update_reservation_flights":
        fl = ", ".join(f"{f.get('flight_number')} on {f.get('date')}" for f in a["flights"])
        what = f"change reservation {rid} to flights {fl} in {a.get('cabin')}"
        pay = f", paying any difference with {a.get('payment_id')}"
        return what + pay, f"reservation {rid} now has flights {fl} in {a.get('cabin')}"
    if tool == "update_reservation_baggages":
        bags = f"{a.get('total_baggages')} checked bags ({a.get('nonfree_baggages')} paid)"
        return (
            f"set reservation {rid} to {bags}, charging {a.get('payment_id')}",
            f"reservation {rid} now has {bags}",
        )
    if tool == "update_reservation_passengers":
        who = "; ".join(_fmt(p) for p in a.get("passengers", []))
        return f"update the passengers of reservation {rid} to {who}", (
            f"the passengers of reservation {rid} are now {who}"
        )
    if tool == "book_reservation":
        fl = ", ".join(f"{f.get('flight_number')} on {f.get('date')}" for f in a["flights"])
        who = "; ".join(_fmt(p) for p in a.get("passengers", []))
        pay = "; ".join(_fmt(p) for p in a.get("payment_methods", []))
        ins = "with" if a.get("insurance") == "yes" else "without"
        what = (
            f"book a {str(a.get('flight_type', '')).replace('_', ' ')} trip from "
            f"{a.get('origin')} to {a.get('destination')} on flights {fl} in {a.get('cabin')} "
            f"for {who}, {a.get('total_baggages')} checked bags "
            f"({a.get('nonfree_baggages')} paid), {ins} insurance, paid with {pay}"
        )
        return what, f"your new trip from {a.get('origin')} to {a.get('destination')} is booked"
    if tool == "send_certificate":
        return (
            f"send a certificate of {a.get('amount')} dollars to user {a.get('user_id')}",
            f"a certificate of {a.get('amount')} dollars is on its way",
        )
    if tool == "cancel_pending_order":
        return (
            f"cancel order {oid} (reason: {a.get('reason')})",
            f"order {oid} is cancelled",
        )
    if tool in ("exchange_delivered_order_items", "modify_pending_order_items"):
        verb = "exchange" if tool.startswith("exchange") else "change"
        old = _names(a.get("item_ids", []), names)
        new = _names(a.get("new_item_ids", []), names)
        return (
            f"{verb} {old} in order {oid} for {new}, settling the price difference with "
            f"{a.get('payment_method_id')}",
            f"order {oid}: {old} will be replaced by {new}",
        )
    if tool == "return_delivered_order_items":
        items = _names(a.get("item_ids", []), names)
        return (
            f"return {items} from order {oid}, refunding {a.get('payment_method_id')}",
            f"the return of {items} from order {oid} is registered",
        )
    if tool in ("modify_pending_order_address", "modify_user_address"):
        addr = ", ".join(
            str(a[k])
            for k in ("address1", "address2", "city", "state", "zip", "country")
            if a.get(k)
        )
        whose = f"order {oid}" if oid else "your account"
        return f"change the address of {whose} to {addr}", f"the address of {whose} is {addr}"
    if tool == "modify_pending_order_payment":
        method = a.get("payment_method_id")
        return f"pay order {oid} with {method}", f"order {oid} is now paid with {method}"
    words = tool.replace("_", " ")
    shown = ", ".join(f"{k.replace('_', ' ')} {_fmt(v)}" for k, v in a.items())
    return f"{words} ({shown})", f"{words} is complete"


def item_names(tool_results: Sequence[str]) -> dict[str, str]:
    """Readable names of item and product ids found in tool results (τ² retail JSON)."""
    out: dict[str, str] = {}

    def visit(x: Any) -> None:
        if isinstance(x, dict):
            name = x.get("name")
            opts = x.get("options")
            if isinstance(name, str):
                desc = name
                if isinstance(opts, dict) and opts:
                    desc += " (" + ", ".join(f"{v}" for v in opts.values()) + ")"
                for key in ("item_id", "product_id"):
                    if isinstance(x.get(key), str):
                        out.setdefault(x[key], desc)
            variants = x.get("variants")
            if isinstance(variants, dict) and isinstance(name, str):
                for vid, v in variants.items():
                    if isinstance(v, dict) and isinstance(v.get("options"), dict):
                        vals = ", ".join(str(o) for o in v["options"].values())
                        out.setdefault(str(vid), f"{name} ({vals})")
            for v in x.values():
                visit(v)
        elif isinstance(x, list):
            for v in x:
                visit(v)

    for text in tool_results:
        try:
            visit(json.loads(text))
        except (ValueError, TypeError):
            continue
    return out


__all__ = ["closing", "describe", "item_names", "label", "pick", "yes_no"]
