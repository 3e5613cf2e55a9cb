"""Annotator agreement: Cohen's κ of an annotator against hand labels (or another annotator).

The shipped reference is `data/handlabelled_turns.yaml`: hand-written example turns (not real
people; labelled synthetic) with gold codes. `rule_agreement()` is the number docs/metrics.md
reports for the rule annotator.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from importlib import resources
from typing import Any

import yaml

from simgap.annotate.context import user_turn_contexts
from simgap.annotate.rules import rule_codes
from simgap.models import CodeValue, Role, Session, Turn, UserKind

HANDLABELLED_FILE = "handlabelled_turns.yaml"
_T0 = datetime(2026, 1, 1, tzinfo=UTC)


def cohen_kappa(a: Sequence[Hashable], b: Sequence[Hashable]) -> float:
    """κ = (p_o − p_e) / (1 − p_e) for two label sequences of equal length.

    When both raters use a single identical label throughout (p_e = 1), agreement is perfect
    and κ is defined as 1.0; with no items it is NaN.
    """
    if len(a) != len(b):
        raise ValueError(f"label sequences differ in length: {len(a)} vs {len(b)}")
    n = len(a)
    if n == 0:
        return float("nan")
    po = sum(1 for x, y in zip(a, b, strict=True) if x == y) / n
    ca, cb = Counter(a), Counter(b)
    pe = sum(ca[k] * cb.get(k, 0) for k in ca) / (n * n)
    if pe >= 1.0:
        return 1.0 if po >= 1.0 else 0.0
    return (po - pe) / (1.0 - pe)


@dataclass(frozen=True)
class Agreement:
    code: str
    n: int
    kappa: float
    accuracy: float
    confusions: dict[str, int]  # "gold -> predicted": count, for the disagreements


@dataclass(frozen=True)
class LabelledTurn:
    id: str
    session: Session  # the example as a tiny session; the labelled turn is its last user turn
    labels: dict[str, CodeValue]


def example_session(ex: dict[str, Any]) -> Session:
    """Build the little conversation an example describes (see the YAML header)."""
    turns: list[Turn] = []

    def add(role: Role, content: str | None, **kw: Any) -> None:
        turns.append(
            Turn(
                idx=len(turns),
                role=role,
                content=content,
                timestamp=_T0 + timedelta(seconds=len(turns)),
                **kw,
            )
        )

    add(Role.AGENT, "Hi! How can I help you today?")
    for text in ex.get("earlier", []):
        add(Role.USER, text)
        add(Role.AGENT, "Okay.")
    if ex.get("tool_error"):
        from simgap.models import ToolCall

        call = ToolCall(id="c1", name="do_action", arguments={})
        add(Role.AGENT, None, tool_calls=[call])
        add(
            Role.TOOL,
            "Error: payment declined",
            tool_call_id="c1",
            tool_error=True,
            requestor=Role.AGENT,
        )
    agent = ex.get("agent")
    if agent and not (turns[-1].role == Role.AGENT and turns[-1].content == agent):
        if len(turns) == 1 and agent == turns[0].content:
            pass
        else:
            add(Role.AGENT, agent)
    add(Role.USER, str(ex["text"]))
    return Session(
        session_id=f"handlabelled-{ex['id']}",
        task_id="example",
        domain="example",
        user_kind=UserKind.HUMAN,
        user_id="hand-written-example",
        batch="handlabelled-synthetic",
        turns=turns,
        meta={"synthetic": True},
    )


@cache
def load_handlabelled(filename: str = HANDLABELLED_FILE) -> tuple[LabelledTurn, ...]:
    """The shipped hand-labelled example turns (hand-written, synthetic)."""
    path = resources.files("simgap.annotate").joinpath(f"data/{filename}")
    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    return tuple(
        LabelledTurn(id=str(ex["id"]), session=example_session(ex), labels=dict(ex["labels"]))
        for ex in data["examples"]
    )


def agreement(
    gold: Sequence[dict[str, CodeValue]], predicted: Sequence[dict[str, CodeValue]]
) -> dict[str, Agreement]:
    """κ and raw accuracy per code over the items labelled on both sides."""
    codes = sorted({k for g in gold for k in g})
    out: dict[str, Agreement] = {}
    for code in codes:
        pairs = [
            (str(g[code]), str(p[code]))
            for g, p in zip(gold, predicted, strict=True)
            if code in g and code in p
        ]
        a = [x for x, _ in pairs]
        b = [y for _, y in pairs]
        conf = Counter(f"{x} -> {y}" for x, y in pairs if x != y)
        out[code] = Agreement(
            code=code,
            n=len(pairs),
            kappa=cohen_kappa(a, b),
            accuracy=sum(1 for x, y in pairs if x == y) / len(pairs) if pairs else float("nan"),
            confusions=dict(conf.most_common()),
        )
    return out


def rule_agreement(examples: Sequence[LabelledTurn] | None = None) -> dict[str, Agreement]:
    """Cohen's κ of the rule annotator against the hand labels, per code."""
    items = list(examples) if examples is not None else list(load_handlabelled())
    gold: list[dict[str, CodeValue]] = []
    pred: list[dict[str, CodeValue]] = []
    for it in items:
        ctx = user_turn_contexts(it.session)[-1]
        gold.append(it.labels)
        pred.append(rule_codes(ctx))
    return agreement(gold, pred)
