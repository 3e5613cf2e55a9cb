"""The self-contained HTML report: one file, Plotly embedded once, readable offline.

Why one file: a report gets mailed, attached to a PR or opened from a laptop with no network;
so plotly.js is inlined once in the page head, no CDN, no web fonts (system font stack), and
every figure is a `Plotly.newPlot` call on data inlined as escaped JSON. All text goes through
Jinja2's autoescaping (conversation text comes from people); Plotly strings are escaped in
`figures`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import plotly.graph_objects as go
from jinja2 import Environment, PackageLoader
from markupsafe import Markup

from simgap import __version__
from simgap.report import figures as F
from simgap.report.capability import CapabilityJoin
from simgap.report.fmt import (
    COMPONENT_TITLES,
    FEATURE_TITLES,
    FIELD_TITLES,
    PASS_K_NOTE,
    PEOPLE_COLOUR,
    REASON_TITLES,
    categories_text,
    ci,
    colours,
    failure_share,
    feature_value,
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
from simgap.report.scorefile import Distribution, Example, ExampleSide, FieldInfo, ScoreDoc

PLOTLY_CONFIG: Mapping[str, Any] = {
    "displaylogo": False,
    "responsive": True,
    "modeBarButtonsToRemove": ["select2d", "lasso2d", "autoScale2d"],
    "toImageButtonOptions": {"format": "png", "scale": 2},
}

# Section ids, in page order; the tests and the nav bar use the same list.
SECTIONS: Sequence[tuple[str, str]] = (
    ("leaderboard", "Leaderboard"),
    ("dimensions", "Dimensions"),
    ("sr-inflation", "Success inflation"),
    ("failures", "Failures"),
    ("ratings", "Ratings"),
    ("capability", "Capability"),
    ("gaps", "Largest gaps"),
    ("examples", "Examples"),
    ("methods", "Methods"),
)


@dataclass
class Names:
    """What the reference is called everywhere: "people" only when it is people, never for a
    synthetic stand-in or a simulator's sessions (a τ² results file used as the reference)."""

    kind: str  # "people" | "synthetic" | "simulator"

    @property
    def synthetic(self) -> bool:
        return self.kind == "synthetic"

    @property
    def people(self) -> bool:
        return self.kind == "people"

    def _pick(self, people: str, synthetic: str, simulator: str) -> str:
        return {"people": people, "synthetic": synthetic}.get(self.kind, simulator)

    @property
    def ref(self) -> str:
        return self._pick("people", "synthetic reference", "simulator reference")

    @property
    def ref_the(self) -> str:
        return self._pick("people", "the synthetic reference", "the simulator reference")

    @property
    def ref_itself(self) -> str:
        return "people" if self.people else "itself"

    @property
    def ref_pos(self) -> str:
        return self._pick("people's", "the synthetic reference's", "the simulator reference's")

    @property
    def sr_head(self) -> str:
        return "SR people" if self.people else "SR ref"

    @property
    def ref_title(self) -> str:
        return self._pick("People", "Synthetic reference", "Simulator reference")

    @property
    def ceiling(self) -> str:
        return "people vs people" if self.people else "reference vs reference"


@dataclass
class Rendered:
    """The HTML text and what it holds (for the CLI's summary and the tests)."""

    html: str
    figure_ids: list[str] = field(default_factory=list)
    sections: list[str] = field(default_factory=list)


def _env() -> Environment:
    env = Environment(
        loader=PackageLoader("simgap.report", "templates"),
        autoescape=True,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    return env


def _div(fig: go.Figure, div_id: str) -> Markup:
    text: str = fig.to_html(
        full_html=False,
        include_plotlyjs=False,
        div_id=div_id,
        config=dict(PLOTLY_CONFIG),
        default_width="100%",
    )
    return Markup(text)  # Plotly's own output; its JSON escapes < > /


def _plotlyjs() -> Markup:
    from plotly.offline import get_plotlyjs

    return Markup(get_plotlyjs())  # the bundled library, inlined once


# -- view model ------------------------------------------------------------------------------
def _table(doc: ScoreDoc, names: Names, cols: Mapping[str, str]) -> list[dict[str, Any]]:
    rows = ([doc.ceiling] if doc.ceiling is not None else []) + list(doc.rows)
    out: list[dict[str, Any]] = []
    rank = 0
    for r in rows:
        ceiling = r.kind == "ceiling"
        if not ceiling:
            rank += 1
        out.append(
            {
                "rank": "" if ceiling else rank,
                "label": f"{names.ceiling} (ceiling)" if ceiling else r.label,
                "agent": ", ".join(r.agents) or "-",
                "ceiling": ceiling,
                "colour": "" if ceiling else cols.get(r.label, ""),
                "synthetic": r.synthetic and not ceiling,
                "usi": num(r.usi.value),
                "ci": ci(r.usi),
                "ci_extended": r.usi.ci_extended,
                "sd": num(r.usi.std),
                "components": [
                    num(r.components[c].value) if c in r.components else "n/a"
                    for c in doc.components
                ],
                "sr_sim": pct(r.sr_sim.value),
                "sr_ref": pct(r.sr_human.value),
                "sr_inflation": "" if ceiling else points(r.sr_inflation.value),
                "sr_inflation_ci": "" if ceiling else pt_ci(r.sr_inflation),
                "user_fails": failure_share(r),
                "sr_excl": pct(r.failures.sr_excl_user_caused.value) if r.failures else "n/a",
                "noise": "" if ceiling else noise_text(r),
                "ties": "" if ceiling else ties_text(r),
                "size": f"{r.n_sessions} / {r.n_tasks}",
                "categories": categories_text(r.sessions_by_category),
                "excluded": ""
                if ceiling
                else (
                    f"{r.excluded.get('candidate_only_tasks', 0)} / "
                    f"{r.excluded.get('reference_only_tasks', 0)}"
                ),
            }
        )
    return out


def _mean(dist: Distribution, f: FieldInfo) -> float | None:
    counts = dist.counts.get(f.field) or []
    tot = 0.0
    n = 0
    for c, v in zip(counts, f.values, strict=False):
        if v is not None and c:
            tot += c * v
            n += c
    return tot / n if n else None


def _ratings(
    doc: ScoreDoc, names: Names, cols: Mapping[str, str]
) -> tuple[list[FieldInfo], list[tuple[str, Distribution, str]], dict[str, Any]]:
    d = doc.details
    if d is None or d.answers.reference is None or not d.questionnaire.fields:
        return [], [], {}
    fields = list(d.questionnaire.fields)
    sets: list[tuple[str, Distribution, str]] = []
    if d.answers.reference.n_sessions:
        sets.append((names.ref, d.answers.reference, PEOPLE_COLOUR))
    for r in doc.rows:
        dist = d.answers.candidates.get(r.label)
        if dist is not None and dist.n_sessions:
            sets.append((r.label, dist, cols[r.label]))
    summary: list[str] = []
    table: dict[str, Any] = {
        "sets": [{"name": s[0], "n": s[1].n_sessions, "colour": s[2]} for s in sets],
        "fields": [
            {
                "title": FIELD_TITLES.get(f.field, f.field),
                "prompt": f.prompt,
                "means": [num(_mean(s[1], f), 2) for s in sets],
            }
            for f in fields
        ],
        "summary": summary,
    }
    ref_dist = d.answers.reference
    if ref_dist.n_sessions:
        for name, dist, _ in sets[1:]:
            higher = lower = both = 0
            sm: list[float] = []
            hm: list[float] = []
            for f in fields:
                a, b = _mean(dist, f), _mean(ref_dist, f)
                if a is None or b is None:
                    continue
                both += 1
                sm.append(a)
                hm.append(b)
                higher += a > b + 1e-9
                lower += a < b - 1e-9
            if both:
                summary.append(
                    f"{name} answers higher (rosier) than the {names.ref} on {higher} of "
                    f"{both} fields and lower on {lower}; mean answer "
                    f"{sum(sm) / both:.2f} vs {sum(hm) / both:.2f} on a 0–1 scale."
                )
    return fields, sets, table


def _side(s: ExampleSide, *, title: str, feature: str, batch: bool = True) -> dict[str, Any]:
    turns: list[dict[str, str]] = [{"role": t.role, "text": t.text} for t in s.turns]
    if s.turns_omitted:
        at = s.omitted_after or len(turns)
        turns.insert(at, {"role": "omitted", "text": f"… {s.turns_omitted} turns not shown …"})
    outcome = "reward n/a" if s.success is None else ("task solved" if s.success else "task failed")
    return {
        "title": title,
        "meta": [x for x in (f"batch {s.batch}" if s.batch and batch else "", outcome) if x],
        "value": feature_value(feature, s.feature_value),
        "session_id": s.session_id,
        "turns": turns,
        "success": s.success,
    }


def _examples(doc: ScoreDoc, names: Names) -> list[dict[str, Any]]:
    d = doc.details
    if d is None:
        return []
    out: list[dict[str, Any]] = []
    for r in doc.rows:
        exs: Sequence[Example] = d.examples.get(r.label, [])
        items = []
        for e in exs:
            cand_title = r.label + (f" · trial {e.candidate.trial}" if e.candidate.trial else "")
            items.append(
                {
                    "task": e.task,
                    "dimension": e.dimension,
                    "dimension_title": COMPONENT_TITLES.get(e.dimension, e.dimension),
                    "gap": e.gap,
                    "feature": e.feature,
                    "feature_title": FEATURE_TITLES.get(e.feature, e.feature),
                    "reference": _side(e.reference, title=names.ref_title, feature=e.feature),
                    "candidate": _side(
                        e.candidate, title=cand_title, feature=e.feature, batch=False
                    ),
                }
            )
        out.append({"label": r.label, "examples": items})
    return out


def _notes(doc: ScoreDoc, names: Names) -> list[str]:
    out = list(doc.notes)
    if doc.ceiling is not None:
        out += [f"ceiling: {n}" for n in doc.ceiling.notes]
    for r in doc.rows:
        out += [f"{r.label}: {n}" for n in r.notes]
    return out


def _created(doc: ScoreDoc) -> str:
    try:
        return datetime.fromisoformat(doc.created_at).strftime("%Y-%m-%d %H:%M UTC")
    except ValueError:
        return doc.created_at


def render_html(
    doc: ScoreDoc,
    *,
    capability: CapabilityJoin | None = None,
    title: str | None = None,
    source: str = "",
) -> Rendered:
    """The report page as one HTML string (plus the ids of the figures it holds)."""
    names = Names(doc.reference_kind)
    cols = colours(doc.rows)
    figs: dict[str, Markup] = {}

    def add(fid: str, fig: go.Figure) -> None:
        figs[fid] = _div(fig, fid)

    if doc.rows:
        add("fig-leaderboard", F.leaderboard_figure(doc, cols, names.ceiling))
    if doc.rows or doc.ceiling is not None:
        add("fig-dimensions", F.dimensions_figure(doc, names.ceiling))
    if doc.rows and any(r.features for r in doc.rows):
        add("fig-features", F.features_figure(doc, names.ref))
    if any(r.sr_sim.value is not None for r in doc.rows):
        add("fig-sr", F.sr_figure(doc, cols, names.ref))
    fields, sets, ratings_table = _ratings(doc, names, cols)
    if fields and sets:
        add("fig-ratings", F.ratings_figure(fields, sets))
    if capability is not None and capability.points:
        add("fig-capability", F.capability_figure(doc, capability, cols, names.ceiling))

    ref = doc.reference
    n_cand = len(doc.rows)
    sections = [s for s in SECTIONS if s[0] != "capability" or capability is not None]
    ctx: dict[str, Any] = {
        "title": title or f"User-Sim Index report: {n_cand} simulator(s) vs {ref.label}",
        "names": names,
        "synthetic": names.synthetic,
        "ref": ref,
        "batches": ", ".join(f"{b} ({n})" for b, n in ref.batches.items()) or "–",
        "doc": doc,
        "n_candidates": n_cand,
        "created": _created(doc),
        "simgap_version": doc.simgap_version,
        "report_version": __version__,
        "source": source,
        "sections": sections,
        "figs": figs,
        "plotlyjs": _plotlyjs(),
        "table": _table(doc, names, cols),
        "mixed_synthetic": any(r.synthetic for r in doc.rows)
        and not all(r.synthetic for r in doc.rows),
        "component_heads": [
            ("1−ECE" if c == "Cal" else c, COMPONENT_TITLES.get(c, c)) for c in doc.components
        ],
        "ci_level": round(100 * doc.settings.ci_level),
        "ceiling": doc.ceiling,
        "ceiling_ci": ci(doc.ceiling.usi) if doc.ceiling is not None else "n/a",
        "ceiling_usi": num(doc.ceiling.usi.value) if doc.ceiling is not None else "n/a",
        "comparisons": [
            {
                "a": c.a,
                "b": c.b,
                "diff": "n/a" if c.diff is None else f"{c.diff:+.1f}",
                "p": "n/a" if c.p_value is None else f"{c.p_value:.3f}",
                "n_tasks": c.n_tasks,
                "n_permutations": c.n_permutations,
                "floor": "n/a" if c.noise_floor is None else f"{c.noise_floor:.1f}",
                "sr_diff": points(c.sr_diff),
                "sr_p": "n/a" if c.sr_p_value is None else f"{c.sr_p_value:.3f}",
                "mark": verdict_mark(c),
                "distinguishable": c.distinguishable,
                "verdict": c.verdict or "no verdict in this score file",
            }
            for c in doc.comparisons
        ],
        "resampling": resampling_text(doc.settings),
        "failure_rows": _failure_rows(doc),
        "sr_rows": [
            {
                "label": r.label,
                "sr_sim": pct(r.sr_sim.value),
                "sr_ref": pct(r.sr_human.value),
                "inflation": points(r.sr_inflation.value),
                "ci": ci(r.sr_inflation, 0, scale=100, signed=True),
                "noise": sr_noise_text(r),
            }
            for r in doc.rows
        ],
        "ratings": ratings_table,
        "pass_k": pass_k_grid(doc, names.ref),
        "pass_k_note": PASS_K_NOTE,
        "has_details": doc.details is not None,
        "capability": capability,
        "cap_pearson": _r(capability.pearson, capability.pearson_p) if capability else "",
        "cap_spearman": _r(capability.spearman, capability.spearman_p) if capability else "",
        "gaps": [{"label": r.label, "lines": r.gaps} for r in doc.rows],
        "examples": _examples(doc, names),
        "notes": _notes(doc, names),
        "settings": doc.settings,
    }
    text = _env().get_template("report.html.j2").render(**ctx)
    return Rendered(html=text, figure_ids=list(figs), sections=[s[0] for s in sections])


def _failure_rows(doc: ScoreDoc) -> list[dict[str, Any]]:
    """Per simulator: failures by cause, the user-caused share with its interval, success with
    user-caused failures left out, reasons, and the evidence turns."""
    out: list[dict[str, Any]] = []
    for r in doc.rows:
        f = r.failures
        if f is None:
            out.append({"label": r.label, "available": False})
            continue
        out.append(
            {
                "label": r.label,
                "available": True,
                "n_failed": f.n_failed,
                "n": f.n_with_outcome,
                "user": f.by_cause.get("user", 0),
                "agent": f.by_cause.get("agent", 0),
                "env": f.by_cause.get("environment", 0),
                "share": pct(f.user_caused_share.value),
                "share_ci": ci(f.user_caused_share, 0, scale=100),
                "sr": pct(r.sr_sim.value),
                "sr_excl": pct(f.sr_excl_user_caused.value),
                "sr_excl_ci": ci(f.sr_excl_user_caused, 0, scale=100),
                "ref_share": pct(f.reference_user_caused_share.value),
                "reasons": [f"{REASON_TITLES.get(k, k)}: {v}" for k, v in f.by_reason.items() if v],
                "labellers": ", ".join(f"{k} ({v})" for k, v in f.labellers.items()),
                "evidence": [
                    {
                        "session_id": e.session_id,
                        "reason": REASON_TITLES.get(e.reason, e.reason),
                        "turn": "session" if e.evidence_turn is None else e.evidence_turn,
                        "text": e.evidence,
                    }
                    for e in f.evidence
                ],
            }
        )
    return out


def _r(r: float | None, p: float | None) -> str:
    if r is None:
        return "n/a"
    return f"{r:+.2f}" + ("" if p is None else f" (p = {p:.2g})")
