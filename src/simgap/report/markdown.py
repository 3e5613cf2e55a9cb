"""The Markdown summary (`simgap report --format md`): what fits in a PR comment.

Leaderboard table with intervals and the ceiling, success-rate inflation, the top gap lines,
the capability correlation when given, and the scoring notes. No figures, no conversations.
Names are escaped so a label can neither break the table nor inject markup/HTML.
"""

from __future__ import annotations

import re

from simgap.report.capability import CapabilityJoin
from simgap.report.fmt import (
    PASS_K_NOTE,
    REASON_TITLES,
    categories_text,
    ci,
    failure_share,
    noise_text,
    num,
    pass_k_grid,
    pct,
    points,
    pt_ci,
    resampling_text,
    sr_noise_text,
    ties_text,
    verdict_mark,
)
from simgap.report.scorefile import ScoreDoc

# Enough to keep a label from forming emphasis, code, links, HTML or a table cell boundary.
_MD_SPECIAL = re.compile(r"([\\`*_\[\]<>|~])")
TOP_GAPS = 4  # gap lines per simulator in the summary


def md(text: str) -> str:
    """Escape Markdown (and HTML) metacharacters; newlines become spaces."""
    return _MD_SPECIAL.sub(r"\\\1", " ".join(text.split()))


def render_markdown(
    doc: ScoreDoc, *, capability: CapabilityJoin | None = None, title: str | None = None
) -> str:
    ref = doc.reference
    synthetic = doc.synthetic_reference
    people = doc.reference_kind == "people"
    who = "the synthetic reference" if synthetic else "people" if people else "the reference"
    lvl = round(100 * doc.settings.ci_level)
    out: list[str] = []
    out.append(f"# {md(title or f'User-Sim Index: {len(doc.rows)} simulator(s) vs {ref.label}')}")
    out.append("")
    if synthetic:
        out.append(
            f"> **⚠ This reference is NOT human data.** “{md(ref.label)}” is a synthetic "
            "stand-in; the numbers below compare simulators with it, not with people."
        )
        out.append("")
    elif not people:
        out.append(
            f"> **This reference is not people.** “{md(ref.label)}” holds sessions of "
            f"simulator(s) ({md(', '.join(ref.simulators) or '?')}); the numbers below compare "
            "simulators with it, not with people."
        )
        out.append("")
    batches = ", ".join(f"{md(b)} ({n})" for b, n in ref.batches.items()) or "–"
    out.append(
        f"Reference **{md(ref.label)}**: {ref.n_sessions} sessions on {ref.n_tasks} tasks; "
        f"batches {batches}. {lvl}% bootstrap intervals, {md(resampling_text(doc.settings))} "
        f"({doc.settings.n_boot} resamples, seed {doc.settings.seed})."
    )
    out.append("")

    out.append("## Leaderboard")
    out.append("")
    comps = list(doc.components)
    ref_col = "SR people" if people else "SR ref"
    head = [
        "#",
        "simulator",
        "agent",
        "USI",
        f"{lvl}% CI",
        "± sd",
        *comps,
        "SR sim",
        ref_col,
        "ΔSR",
        f"ΔSR {lvl}% CI",
        "user-caused fails",
        "SR excl. user-caused",
        "USI noise floor",
        "not distinguishable from",
    ]
    head = [("1−ECE" if h == "Cal" else h) for h in head]
    out.append("| " + " | ".join(head) + " |")
    out.append("|" + "|".join(["---:"] + [":---"] + ["---:"] * (len(head) - 2)) + "|")
    rows = ([doc.ceiling] if doc.ceiling is not None else []) + list(doc.rows)
    rank = 0
    for r in rows:
        ceiling = r.kind == "ceiling"
        if not ceiling:
            rank += 1
        label = (
            f"*{'people vs people' if people else 'reference vs reference'} (ceiling)*"
            if ceiling
            else md(r.label) + (" (synthetic)" if r.synthetic else "")
        )
        cells = [
            "" if ceiling else str(rank),
            label,
            md(", ".join(r.agents)) or "-",
            f"**{num(r.usi.value)}**",
            ci(r.usi),
            num(r.usi.std),
            *(num(r.components[c].value) if c in r.components else "n/a" for c in comps),
            pct(r.sr_sim.value),
            pct(r.sr_human.value),
            "" if ceiling else points(r.sr_inflation.value),
            "" if ceiling else pt_ci(r.sr_inflation),
            failure_share(r),
            pct(r.failures.sr_excl_user_caused.value) if r.failures else "n/a",
            "" if ceiling else noise_text(r),
            "" if ceiling else md(ties_text(r)),
        ]
        out.append("| " + " | ".join(cells) + " |")
    out.append("")
    counted = [r for r in doc.rows if r.sessions_by_category]
    if counted:
        out.append(
            "Sessions read (completed / model failures, scored 0 as τ² scores them / "
            "infrastructure errors or interrupted, not scored): "
            + "; ".join(f"{md(r.label)} {categories_text(r.sessions_by_category)}" for r in counted)
            + ". Success rates are over the first two."
        )
        out.append("")
    if doc.ceiling is not None and doc.ceiling.usi.value is not None:
        out.append(
            f"**{'Reference' if doc.reference_kind == 'simulator' else 'Human'} ceiling** "
            f"({'people' if people else 'reference'} scored against "
            f"themselves): USI {num(doc.ceiling.usi.value)} {ci(doc.ceiling.usi)}. "
            "The paper reports 92.9 for people and 76.0 for its best simulator."
        )
    else:
        out.append(
            "**Human ceiling**: n/a (needs two reference batches or tasks with 2+ sessions)."
        )
    out.append("")

    grid = pass_k_grid(doc, "people" if people else "reference")
    if grid is not None:
        head_k, lines_k = grid
        out.append("### Reliability: pass^k")
        out.append("")
        out.append(md(PASS_K_NOTE))
        out.append("")
        out.append("| " + " | ".join(md(h) for h in head_k) + " |")
        out.append("|" + "|".join([":---"] + ["---:"] * (len(head_k) - 1)) + "|")
        out += ["| " + " | ".join(md(c) for c in cells) + " |" for cells in lines_k]
        out.append("")

    out.append("## Success-rate inflation")
    out.append("")
    for r in doc.rows:
        if r.sr_inflation.value is None:
            out.append(f"- **{md(r.label)}**: n/a (no τ² rewards on one side)")
            continue
        out.append(
            f"- **{md(r.label)}**: {pct(r.sr_sim.value)} vs {pct(r.sr_human.value)} for "
            f"{who} on the same tasks ({points(r.sr_inflation.value)}, {lvl}% CI "
            f"{ci(r.sr_inflation, 0, scale=100, signed=True)} pt; run-to-run SR range "
            f"{sr_noise_text(r)})"
        )
    out.append("")

    out.append("## Who caused the failures")
    out.append("")
    out.append(
        "Each failed session is attributed to the agent, the user (for a simulator: a "
        "simulator error) or the environment, rules first (an LLM judge's stored label wins); "
        "“SR excl.” is the agent's success rate with user-caused failures left out."
    )
    out.append("")
    for r in doc.rows:
        f = r.failures
        if f is None:
            out.append(f"- **{md(r.label)}**: n/a (score file without failure attribution)")
            continue
        if not f.n_failed:
            out.append(f"- **{md(r.label)}**: no failed session with a τ² reward")
            continue
        reasons = ", ".join(f"{REASON_TITLES.get(k, k)} {v}" for k, v in f.by_reason.items() if v)
        out.append(
            f"- **{md(r.label)}**: {f.n_failed} failed of {f.n_with_outcome}; user-caused "
            f"{f.by_cause.get('user', 0)} ({pct(f.user_caused_share.value)}, {lvl}% CI "
            f"{ci(f.user_caused_share, 0, scale=100)} %), agent {f.by_cause.get('agent', 0)}, "
            f"environment {f.by_cause.get('environment', 0)}; success excluding user-caused "
            f"failures {pct(f.sr_excl_user_caused.value)} (vs {pct(r.sr_sim.value)}). "
            f"Reasons: {md(reasons)}."
        )
    out.append("")

    if any(r.gaps for r in doc.rows):
        out.append("## Largest gaps")
        out.append("")
        for r in doc.rows:
            if not r.gaps:
                continue
            out.append(f"**{md(r.label)}**")
            out.append("")
            out += [f"- {md(g)}" for g in r.gaps[:TOP_GAPS]]
            out.append("")

    if capability is not None:
        out.append("## USI vs capability")
        out.append("")
        pr = "n/a" if capability.pearson is None else f"{capability.pearson:+.2f}"
        sr = "n/a" if capability.spearman is None else f"{capability.spearman:+.2f}"
        out.append(
            f"Against `{md(capability.source)}`: Pearson r = {pr}, Spearman ρ = {sr} "
            f"(n = {capability.n})."
        )
        if capability.unmatched_entries:
            out.append("")
            out.append(
                "Not in the leaderboard: " + ", ".join(md(x) for x in capability.unmatched_entries)
            )
        if capability.rows_without_score:
            out.append("")
            out.append(
                "No capability score: " + ", ".join(md(x) for x in capability.rows_without_score)
            )
        out.append("")

    if doc.comparisons:
        out.append("## Paired permutation tests and noise floor")
        out.append("")
        out.append(
            "A pair is *not distinguishable* when p ≥ α or |ΔUSI| is within the larger "
            "run-to-run USI range (noise floor) of the two simulators."
        )
        out.append("")
        for c in doc.comparisons:
            d = "n/a" if c.diff is None else f"{c.diff:+.1f}"
            p = "n/a" if c.p_value is None else f"{c.p_value:.3f}"
            floor = "n/a" if c.noise_floor is None else f"{c.noise_floor:.1f}"
            psr = "n/a" if c.sr_p_value is None else f"{c.sr_p_value:.3f}"
            out.append(
                f"- {verdict_mark(c)} {md(c.a)} vs {md(c.b)}: ΔUSI {d}, p = {p}, noise floor "
                f"{floor}; ΔSR {points(c.sr_diff)}, p = {psr} ({c.n_tasks} common tasks) — "
                f"{md(c.verdict or 'no verdict in this file')}"
            )
        out.append("")

    notes = list(doc.notes)
    if doc.ceiling is not None:
        notes += [f"ceiling: {n}" for n in doc.ceiling.notes]
    notes += [f"{r.label}: {n}" for r in doc.rows for n in r.notes]
    if notes:
        out.append("## Notes")
        out.append("")
        out += [f"- {md(n)}" for n in notes]
        out.append("")
    out.append(
        "<sub>USI = mean of D1–D4 (behaviour), Eval (ratings) and (1−ECE)·100 (calibration); "
        "definitions in docs/metrics.md. Generated by `simgap report`.</sub>"
    )
    out.append("")
    return "\n".join(out)
