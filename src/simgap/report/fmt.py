"""Number formatting and names shared by the HTML and Markdown reports (one place, same words)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from simgap.metrics.gaps import TEMPLATES
from simgap.report.scorefile import ComparisonDoc, Est, PassKDoc, RowDoc, ScoreDoc, SettingsDoc

NA = "n/a"

COMPONENT_TITLES: Mapping[str, str] = {
    "D1": "D1 style",
    "D2": "D2 information",
    "D3": "D3 clarification",
    "D4": "D4 error reaction",
    "Eval": "Eval (ratings)",
    "Cal": "1−ECE (calibration)",
}

FIELD_TITLES: Mapping[str, str] = {
    "task_success": "Task success",
    "efficiency": "Efficiency",
    "question_amount_preference": "Amount of clarifying questions",
    "answer_effort_time": "Effort to answer questions",
    "human_like": "Agent felt human-like",
    "interaction_flow": "Interaction flow",
    "overall_score": "Overall score",
    "reuse": "Would reuse the agent",
}

FEATURE_TITLES: Mapping[str, str] = {
    "politeness_rate": "polite",
    "short_msg_rate": "short turns",
    "formality_rate": "dashes",
    "ack_only_rate": "bare acks",
    "verbosity_cv": "length variation",
    "repeat_rate": "repeats",
    "id_confuse_rate": "talks like agent",
    "info_frontload": "front-loading",
    "id_density": "ids per turn",
    "user_words_per_turn": "words/turn",
    "opening_words": "opening words",
    "uncertainty_rate": "hedges",
    "certainty_rate": "certainty",
    "pushback_q_rate": "pushback",
    "clarify_q_rate": "clarify Qs",
    "info_q_rate": "info Qs",
    "emotion_rate": "emotion",
    "accusation_rate": "blame",
    "pivot_rate": "pivots",
}

REASON_TITLES: Mapping[str, str] = {
    "contradicted_scenario": "contradicted its scenario",
    "leaked_goal": "leaked its goal/instructions",
    "gave_up_early": "gave up early",
    "out_of_task_request": "asked for something outside the task",
    "ended_before_agent_finished": "ended before the agent finished",
    "user_error": "malformed user message",
    "tool_error": "tool error",
    "infra_error": "infrastructure error",
    "agent_error": "agent error",
    "turn_limit": "turn limit",
}

# Okabe & Ito (2008): distinguishable with the common colour-vision deficiencies. People are
# drawn in near-black, simulators cycle through the rest (yellow last: weak on white).
PEOPLE_COLOUR = "#333333"
SIM_COLOURS: Sequence[str] = (
    "#0072B2",
    "#E69F00",
    "#009E73",
    "#CC79A7",
    "#56B4E9",
    "#D55E00",
    "#F0E442",
)


def colours(rows: Sequence[RowDoc]) -> dict[str, str]:
    """One stable colour per candidate row, in leaderboard order."""
    return {r.label: SIM_COLOURS[i % len(SIM_COLOURS)] for i, r in enumerate(rows)}


def num(x: float | None, digits: int = 1) -> str:
    return NA if x is None else f"{x:.{digits}f}"


def pct(x: float | None) -> str:
    """A fraction as a whole percentage."""
    return NA if x is None else f"{100 * x:.0f}%"


def points(x: float | None) -> str:
    """A difference of fractions in percentage points, signed."""
    return NA if x is None else f"{100 * x:+.0f} pt"


def ci(e: Est, digits: int = 1, *, scale: float = 1.0, signed: bool = False) -> str:
    if e.ci_low is None or e.ci_high is None:
        return NA
    f = f"{{:{'+' if signed else ''}.{digits}f}}"
    return f"[{f.format(scale * e.ci_low)}, {f.format(scale * e.ci_high)}]"


def feature_value(feature: str, x: float | None) -> str:
    """A feature's value the way the gap lines write it (percent, or a number)."""
    if x is None:
        return NA
    kind = TEMPLATES[feature][1] if feature in TEMPLATES else "num2"
    if kind == "pct":
        return f"{100 * x:.0f}%"
    return f"{x:.1f}" if kind == "num1" else f"{x:.2f}"


def wrap(label: str, width: int = 14, lines: int = 2) -> list[str]:
    """Split a label into at most `lines` lines of about `width` characters (… when cut)."""
    words = label.split()
    out: list[str] = []
    cur = ""
    for w in words:
        if cur and len(cur) + 1 + len(w) > width:
            out.append(cur)
            cur = w
        else:
            cur = f"{cur} {w}".strip()
    if cur:
        out.append(cur)
    if len(out) > lines:
        out = out[:lines]
        out[-1] = out[-1].rstrip(" -,") + "…"
    return out


def pt_ci(e: Est) -> str:
    """A success-rate difference's interval in signed percentage points."""
    return ci(e, 0, scale=100, signed=True)


def failure_share(r: RowDoc) -> str:
    """'3/8 (38%)': user-caused failures of all failures; 'n/a' for files without them."""
    f = r.failures
    if f is None:
        return NA
    if not f.n_failed:
        return "0 failed"
    return f"{f.by_cause.get('user', 0)}/{f.n_failed} ({pct(f.user_caused_share.value)})"


def noise_text(r: RowDoc) -> str:
    """The USI noise floor (range over repeats) with the number of repeats."""
    nf = r.noise_floor
    if nf is None or nf.spread("USI") is None:
        return NA
    return f"{num(nf.spread('USI'))} ({nf.n_repeats} runs)"


def sr_noise_text(r: RowDoc) -> str:
    """The simulator's run-to-run success-rate range in points ('n/a' without repeats)."""
    nf = r.noise_floor
    x = None if nf is None else nf.spread("SR_sim")
    return NA if nf is None or x is None else f"{100 * x:.0f} pt ({nf.n_repeats} runs)"


def resampling_text(s: SettingsDoc) -> str:
    """How the intervals were resampled, in words."""
    if s.resampling == "tasks":
        return "resampling tasks (each with all its sessions: sessions are nested in tasks)"
    return f"resampling {s.resampling}"


def verdict_mark(c: ComparisonDoc) -> str:
    """✔ distinguishable, ≈ not distinguishable, · no verdict."""
    if c.distinguishable is None:
        return "·"
    return "✔" if c.distinguishable else "≈"


def ties_text(r: RowDoc) -> str:
    """'≈ B (p = 0.41)' per simulator the row is not distinguishable from; '' when none."""
    return "; ".join(
        f"≈ {t.label} (p = {'n/a' if t.p_value is None else f'{t.p_value:.2f}'})"
        for t in r.not_distinguishable
    )


PASS_K_NOTE = (
    "pass^k (τ-bench): the chance that all k tries of a task succeed, C(c, k)/C(n, k) for c "
    "successes in n tries, averaged over tasks with at least k tries; a simulator's tries are "
    "its runs, the reference's its sessions on the task. Δ: simulator − reference on the tasks "
    "both tried k times, with a task-clustered interval (pt)."
)


def _pk_infl(p: PassKDoc) -> str:
    if p.inflation is None or p.inflation.value is None:
        return NA
    return f"{points(p.inflation.value)} {ci(p.inflation, 0, scale=100, signed=True)}"


def pass_k_grid(doc: ScoreDoc, ref_name: str) -> tuple[list[str], list[list[str]]] | None:
    """The pass^k table both reports show: a header and one line per simulator (the
    reference's own pass^k over all its tasks first); None when no row has pass^k."""
    rows = [r for r in doc.rows if r.pass_k]
    ref_pk = {p.k: p for p in doc.reference.pass_k}
    if not rows and not ref_pk:
        return None
    k_max = max([p.k for r in rows for p in r.pass_k] + list(ref_pk))
    head = ["simulator"]
    for k in range(1, k_max + 1):
        head += [f"pass^{k}", f"{ref_name} pass^{k}", f"Δ pass^{k}"]
    lines: list[list[str]] = []
    if ref_pk:
        cells = [f"{ref_name} (all its tasks)"]
        for k in range(1, k_max + 1):
            p = ref_pk.get(k)
            cells += ["", pct(p.sim.value) if p is not None else NA, ""]
        lines.append(cells)
    for r in rows:
        by_k = {p.k: p for p in r.pass_k}
        cells = [r.label]
        for k in range(1, k_max + 1):
            q = by_k.get(k)
            if q is None:
                cells += [NA, NA, NA]
                continue
            ref_v = None if q.reference is None else q.reference.value
            cells += [pct(q.sim.value), pct(ref_v), _pk_infl(q)]
        lines.append(cells)
    return head, lines


def categories_text(cats: Mapping[str, int]) -> str:
    """`completed / model failures / infrastructure errors or interrupted` (docs/protocol.md,
    "Categories"), or n/a for score files written before sessions were counted by category."""
    if not cats:
        return "n/a"
    return (
        f"{cats.get('completed', 0)} / {cats.get('model_failure', 0)} / "
        f"{cats.get('infra_error', 0) + cats.get('running', 0)}"
    )
