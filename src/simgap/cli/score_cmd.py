"""`simgap score`: the User-Sim Index leaderboard of simulators against people."""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from simgap.cli.common import console, print_whole
from simgap.errors import ConfigError

JSON_NAME = "usi_scores.json"
CSV_NAME = "usi_scores.csv"

SET_HELP = (
    "A set: SOURCE[:KEY=VALUE,...]. SOURCE is a store (SQLite file or database URL), a simgap "
    ".jsonl, a τ²-bench results.json or tau-usi .json. Filters: user_kind=human|simulator, "
    "user=ID[+ID], batch=B[+B], domain=D, task=T[+T], agent=MODEL, label=NAME."
)


def _write_atomic(path: Path, text: str) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            fh.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def _n(x: float | None, fmt: str = "{:.1f}") -> str:
    return "n/a" if x is None else fmt.format(x)


def _pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:.0f}%"


def _signed_pct(x: float | None) -> str:
    return "n/a" if x is None else f"{100 * x:+.0f} pt"


def _pt_ci(e: Any) -> str:
    """A success-rate difference's interval in percentage points."""
    if e.ci_low is None or e.ci_high is None:
        return "n/a"
    return f"[{100 * e.ci_low:+.0f}, {100 * e.ci_high:+.0f}]"


def _failures(r: Any) -> str:
    """User-caused share of the failures, with the count: '3/8 (38%)'."""
    f = r.failures
    if not f or not f.get("n_failed"):
        return "-" if f else "n/a"
    return f"{f['by_cause']['user']}/{f['n_failed']} ({_pct(r.estimates['Fail_user_share'].value)})"


def _ties(r: Any) -> str:
    """'≈ other (p 0.41)' for each simulator this row cannot be told apart from."""
    if not r.not_distinguishable:
        return ""
    return "; ".join(
        f"≈ {t['label']} (p {'n/a' if t['p_value'] is None else format(t['p_value'], '.2f')})"
        for t in r.not_distinguishable
    )


def _noise(r: Any) -> str:
    nf = r.noise_floor
    if nf is None or nf.spread.get("USI") is None:
        return "n/a"
    return f"{nf.spread['USI']:.1f} ({nf.n_repeats}×)"


def _ref_word(lb: Any) -> str:
    """How the legend names the reference: people only when it is people."""
    ref = lb.reference
    return "people" if (ref.get("kind") or "people") == "people" and not ref["synthetic"] else "ref"


def leaderboard_table(lb: Any) -> Table:
    """The Rich leaderboard: ceiling row first, then candidates by USI."""
    ref = lb.reference
    kind = ref.get("kind") or ("synthetic" if ref["synthetic"] else "people")
    synth = (
        " [bold yellow](SYNTHETIC reference)[/]"
        if ref["synthetic"]
        else " [bold yellow](reference of simulators, not people)[/]"
        if kind == "simulator"
        else ""
    )
    t = Table(
        title=f"User-Sim Index vs {ref['label']} ({ref['n_sessions']} sessions, "
        f"{ref['n_tasks']} tasks, batches: {', '.join(ref['batches']) or '-'}){synth}",
        title_justify="left",
    )
    columns: tuple[tuple[str, dict[str, Any]], ...] = (
        ("#", {"justify": "right"}),
        ("simulator", {"no_wrap": True}),
        ("agent", {"no_wrap": True}),
        ("USI", {"justify": "right"}),
        ("± sd", {"justify": "right"}),
        (f"{int(100 * lb.settings.ci_level)}% CI", {"justify": "right", "no_wrap": True}),
        ("D1", {"justify": "right"}),
        ("D2", {"justify": "right"}),
        ("D3", {"justify": "right"}),
        ("D4", {"justify": "right"}),
        ("Eval", {"justify": "right"}),
        ("1−ECE", {"justify": "right"}),
        ("SR sim", {"justify": "right"}),
        ("SR hum" if kind == "people" else "SR ref", {"justify": "right"}),
        ("ΔSR", {"justify": "right"}),
        ("ΔSR CI", {"justify": "right", "no_wrap": True}),
        ("fails by user", {"justify": "right", "no_wrap": True}),
        ("SR excl.", {"justify": "right"}),
        ("USI noise", {"justify": "right", "no_wrap": True}),
        ("not distinguishable from", {}),
        ("sess/tasks", {"justify": "right", "no_wrap": True}),
        ("excl. tasks", {"justify": "right", "no_wrap": True}),
    )
    for col, kw in columns:
        t.add_column(col, **kw)
    rows = ([lb.ceiling] if lb.ceiling is not None else []) + lb.rows
    rank = 0
    for r in rows:
        e = r.estimates
        usi = e["USI"]
        ci = (
            f"[{usi.ci_low:.1f}, {usi.ci_high:.1f}]"
            if usi.ci_low is not None and usi.ci_high is not None
            else "n/a"
        )
        std = f"{usi.std:.1f}" if usi.std is not None else "n/a"
        is_ceiling = r.kind == "ceiling"
        if not is_ceiling:
            rank += 1
        cal = e["Cal"].value
        ex = r.excluded
        excl = (
            "-"
            if is_ceiling
            else f"{ex.get('candidate_only_tasks', 0)} cand / "
            f"{ex.get('reference_only_tasks', 0)} ref"
        )
        label = r.label + (" [yellow](synthetic)[/]" if r.synthetic and not is_ceiling else "")
        t.add_row(
            "" if is_ceiling else str(rank),
            f"[italic]{label}[/]" if is_ceiling else label,
            ", ".join(r.agents) or "-",
            f"[bold]{_n(usi.value)}[/]",
            std,
            ci,
            *(_n(e[c].value) for c in ("D1", "D2", "D3", "D4", "Eval")),
            _n(cal),
            _pct(e["SR_sim"].value),
            _pct(e["SR_ref"].value),
            _signed_pct(e["SR_inflation"].value),
            "" if is_ceiling else _pt_ci(e["SR_inflation"]),
            _failures(r),
            _pct(e["SR_excl_user"].value),
            "" if is_ceiling else _noise(r),
            "" if is_ceiling else _ties(r),
            f"{r.n_sessions}/{r.n_tasks}",
            excl,
            style="dim" if is_ceiling else None,
            end_section=is_ceiling,
        )
    return t


def category_line(cats: dict[str, int]) -> str:
    """`12 completed, 1 model failure (scored 0), 2 infrastructure errors pending retry, 0
    interrupted; SR denominator 13` from a `sessions_by_category` count."""
    done, fail = cats.get("completed", 0), cats.get("model_failure", 0)
    infra, running = cats.get("infra_error", 0), cats.get("running", 0)
    return (
        f"{done} completed, {fail} model failures (scored as τ²: 0), {infra} infrastructure "
        f"errors pending retry, {running} interrupted; SR denominator {done + fail}"
    )


def _pk(e: dict[str, Any] | None, signed: bool = False) -> str:
    if e is None or e.get("value") is None:
        return "n/a"
    v = 100 * e["value"]
    return f"{v:+.0f} pt" if signed else f"{v:.0f}%"


def pass_k_table(lb: Any) -> Table | None:
    """pass^k (τ-bench's reliability: all k tries of a task succeed) per simulator, with the
    reference's on the same tasks and the inflation; None when no row has outcomes."""
    rows = [r for r in lb.rows if r.pass_k]
    ref_pk = lb.reference.get("pass_k") or []
    if not rows and not ref_pk:
        return None
    k_max = max([p.k for r in rows for p in r.pass_k] + [p["k"] for p in ref_pk])
    ref_name = "people" if _ref_word(lb) == "people" else "reference"
    t = Table(
        title=f"pass^k (all k tries of a task succeed; τ-bench) vs {ref_name}, "
        f"{int(100 * lb.settings.ci_level)}% task-clustered CI of the inflation",
        title_justify="left",
    )
    t.add_column("simulator", no_wrap=True)
    for k in range(1, k_max + 1):
        t.add_column(f"pass^{k}", justify="right")
        t.add_column(f"{ref_name} ^{k}", justify="right")
        t.add_column(f"Δ^{k} [CI]", justify="right", no_wrap=True)
    if ref_pk:
        cells: list[str] = []
        by_k = {p["k"]: p for p in ref_pk}
        for k in range(1, k_max + 1):
            p = by_k.get(k)
            cells += ["", _pk(p["sim"]) if p else "n/a", ""]
        t.add_row(f"[italic]{ref_name} (all tasks)[/]", *cells, style="dim", end_section=True)
    for r in rows:
        cells = []
        by_k2 = {p.k: p.to_json() for p in r.pass_k}
        for k in range(1, k_max + 1):
            p = by_k2.get(k)
            if p is None:
                cells += ["n/a", "n/a", "n/a"]
                continue
            infl = p["inflation"]
            ci = (
                f" [{100 * infl['ci_low']:+.0f}, {100 * infl['ci_high']:+.0f}]"
                if infl and infl.get("ci_low") is not None and infl.get("ci_high") is not None
                else ""
            )
            cells += [_pk(p["sim"]), _pk(p["reference"]), _pk(infl, signed=True) + ci]
        t.add_row(r.label, *cells)
    return t


def score(
    reference: Annotated[
        str,
        typer.Option(
            "--reference",
            "-r",
            help=f"The reference: people (default user_kind=human), or a τ²-bench results.json "
            f"taken whole (labelled a simulator reference, never people). {SET_HELP}",
        ),
    ],
    candidate: Annotated[
        list[str],
        typer.Option(
            "--candidate",
            "-c",
            help="A simulator set (repeatable). Without label=, a set holding several "
            "simulators gives one row each.",
        ),
    ],
    out_dir: Annotated[
        Path, typer.Option("--out-dir", "-o", help="Where the JSON and CSV go.")
    ] = Path("score"),
    bootstrap: int = typer.Option(1000, "--bootstrap", "-B", help="Bootstrap resamples (0: none)."),
    permutations: int = typer.Option(
        1000, "--permutations", help="Permutations per pairwise test (0: no tests)."
    ),
    seed: int = typer.Option(0, "--seed", help="Seed for resampling, permutations and splits."),
    ci: float = typer.Option(0.95, "--ci", help="Confidence level of the intervals."),
    difficulty: Annotated[
        str | None,
        typer.Option(
            "--difficulty",
            help="Task difficulty for calibration: a frozen JSON map ({task: success rate}), "
            "'pooled' (from the candidates' outcomes) or 'paper' (the authors' frozen map of "
            "the paper's 165 tasks). Default: pooled; with --paper, paper.",
        ),
    ] = None,
    difficulty_min_samples: int | None = typer.Option(
        None,
        "--difficulty-min-samples",
        help="Outcomes a task needs for a pooled difficulty (default 1; with --paper 10).",
    ),
    paper: bool = typer.Option(
        False,
        "--paper",
        help="Score exactly as the authors' reference scorer does (OdysSim usi_metric.py): "
        "its text cleaning, run k vs batch k Eval with seeded random answers for blanks, "
        "per-run feature means, its frozen difficulty map; docs/metrics.md 'Paper mode'.",
    ),
    ceiling_splits: int = typer.Option(
        3, "--ceiling-splits", help="Random half-splits when the reference has one batch."
    ),
    repeats: int | None = typer.Option(
        None,
        "--repeats",
        help="Repeated runs per simulator for the noise floor: its first N trials "
        "(Session.trial; default all; 0: no noise floor). A pair of simulators closer than "
        "their run-to-run USI range is marked 'not distinguishable'.",
    ),
    alpha: float = typer.Option(
        0.05, "--alpha", help="Significance level of the paired permutation verdict."
    ),
    examples: int = typer.Option(
        3,
        "--examples",
        help="Example conversations per simulator (reference vs simulator on the same task) "
        "written to the JSON for `simgap report`; 0 keeps all conversation text out of it.",
    ),
) -> None:
    """Score user simulators against people: USI with CI, its six components, SR inflation,
    pass^k, failure attribution and the run-to-run noise floor (--paper: exactly as the
    authors' reference scorer).

    Prints the leaderboard (with the reference-vs-reference ceiling row) and plain-words gaps, and
    writes usi_scores.json (schema simgap.score/1, see docs/metrics.md) and usi_scores.csv.
    The JSON also carries what `simgap report` draws (answer distributions, a few example
    conversations per simulator; --examples 0 leaves the conversations out).
    The reference defaults to user_kind=human and candidates to user_kind=simulator unless the
    set says otherwise.

    Sets: runs.db:user_kind=human,batch=b1+b2 (people of two batches), runs.db:user=gpt-4o,
    label=GPT-4o (one simulator, named), people.jsonl, results.json (τ²-bench), or a
    database URL such as postgresql://host/db:user_kind=human.

    Examples:

        simgap score -r runs.db:user_kind=human -c runs.db:user_kind=simulator

        simgap score -r people.jsonl -c runs.db:user=gpt-4o,label=GPT-4o -c tau2_results.json

        simgap score --paper -r data/tau_bench_tasks_unified.json -c results/m_task_results.json
    """
    from simgap.metrics import ScoreSettings, load_difficulty, score_sets
    from simgap.metrics.inputs import load_set, parse_set_spec, split_by_user
    from simgap.metrics.paper_data import paper_difficulty
    from simgap.metrics.scorer import PAPER, SIMGAP
    from simgap.models import UserKind

    if not 0.5 <= ci < 1.0:
        raise ConfigError(f"--ci must be in [0.5, 1), got {ci}")
    if not 0.0 < alpha < 1.0:
        raise ConfigError(f"--alpha must be in (0, 1), got {alpha}")
    if repeats is not None and (repeats < 0 or repeats == 1):
        raise ConfigError(f"--repeats must be 0 (off) or at least 2, got {repeats}")
    if (
        bootstrap < 0
        or permutations < 0
        or examples < 0
        or ceiling_splits < 1
        or (difficulty_min_samples is not None and difficulty_min_samples < 1)
    ):
        raise ConfigError(
            "--bootstrap/--permutations/--examples ≥ 0, "
            "--ceiling-splits/--difficulty-min-samples ≥ 1"
        )
    settings = ScoreSettings(
        n_boot=bootstrap,
        seed=seed,
        ci_level=ci,
        n_permutations=permutations,
        ceiling_splits=ceiling_splits,
        min_difficulty_samples=difficulty_min_samples,
        n_examples=examples,
        repeats=repeats,
        alpha=alpha,
        scorer=PAPER if paper else SIMGAP,
    )
    if difficulty == "paper":
        settings.difficulty = paper_difficulty()
        settings.difficulty_source = "paper_map"
    elif difficulty == "pooled":
        settings.scorer = replace(settings.scorer, difficulty="pooled")
    elif difficulty is not None:
        settings.difficulty = load_difficulty(difficulty)
        settings.difficulty_source = f"file:{difficulty}"

    with console.status("loading sessions…"):
        ref_spec = parse_set_spec(reference)
        ref = load_set(ref_spec, default_kind=UserKind.HUMAN)
        # The authors' layout keeps simulators' surveys beside the people's file.
        near_ref = [] if "://" in ref_spec.source else [Path(ref_spec.source).parent]
        cands = [
            part
            for text in candidate
            for part in split_by_user(
                load_set(
                    parse_set_spec(text), default_kind=UserKind.SIMULATOR, survey_dirs=near_ref
                )
            )
        ]
    labels = [c.label for c in cands]
    dup = sorted({x for x in labels if labels.count(x) > 1})
    if dup:
        raise ConfigError(f"two candidate rows are named {dup[0]!r}: give them label=… filters")
    if not ref.sessions:
        raise ConfigError(f"reference {reference!r} selects no sessions")
    if ref.kind == "simulator" and not ref.spec.label:
        # e.g. a τ² results file: a reference, named after its simulator, never "people"
        ref.label = f"reference ({', '.join(ref.user_ids)})"
    for c in cands:
        if not c.sessions:
            raise ConfigError(f"candidate {c.spec.text!r} selects no sessions")

    with console.status(f"scoring {len(cands)} candidate(s), {bootstrap} resamples…"):
        lb = score_sets(ref, cands, settings)
    if paper:
        console.print(
            "[bold]paper mode[/]: the authors' reference scorer's rules (docs/metrics.md, "
            "'Paper mode'); blank simulator answers drawn with numpy default_rng(42)",
            highlight=False,
        )

    # Files first: the results are kept even if printing fails (closed pipe, ...).
    _write_atomic(out_dir / JSON_NAME, json.dumps(lb.to_json(), indent=2, ensure_ascii=False))
    _write_atomic(out_dir / CSV_NAME, lb.to_csv())

    pk = pass_k_table(lb)
    print_whole(leaderboard_table(lb), *([pk] if pk is not None else []))
    console.print(
        "sessions (SR over completed + model failures; infrastructure errors and interrupted "
        "sessions are counted, not scored):",
        highlight=False,
    )
    ref_cats = lb.reference.get("sessions_by_category") or {}
    console.print(f"  reference: {category_line(ref_cats)}", highlight=False, markup=False)
    for r in lb.rows:
        console.print(f"  {r.label}: {category_line(r.categories)}", highlight=False, markup=False)
    for r in lb.rows:
        if r.gaps:
            console.print(f"[bold]{r.label}[/] — largest gaps per dimension:")
            for g in r.gaps:
                console.print(f"  • {g}", highlight=False, soft_wrap=True)
        for n in r.notes:
            console.print(f"  [yellow]note[/] {r.label}: {n}", highlight=False, soft_wrap=True)
    if lb.ceiling is not None:
        for n in lb.ceiling.notes:
            console.print(f"[yellow]note[/] ceiling: {n}", highlight=False, soft_wrap=True)
    for cmp in lb.comparisons:
        p = "n/a" if cmp.p_value is None else f"{cmp.p_value:.3f}"
        d = "n/a" if cmp.diff is None else f"{cmp.diff:+.1f}"
        dsr = _signed_pct(cmp.sr_diff)
        psr = "n/a" if cmp.sr_p_value is None else f"{cmp.sr_p_value:.3f}"
        console.print(
            f"paired permutation test {cmp.a} vs {cmp.b}: ΔUSI {d} on {cmp.n_tasks} common "
            f"tasks, p = {p} ({cmp.n_permutations} permutations); ΔSR {dsr}, p = {psr} — "
            f"{cmp.verdict}",
            highlight=False,
            soft_wrap=True,
        )
    for n in lb.notes:
        console.print(f"[yellow]note[/] {n}", highlight=False, soft_wrap=True)
    console.print(
        f"intervals: {int(100 * ci)}% bootstrap, resampling {settings.to_json()['resampling']} "
        f"({bootstrap} resamples). D1 style, D2 information, D3 clarification, D4 error "
        f"reaction; ΔSR: success-rate inflation SR(sim) − SR({_ref_word(lb)}) on the same "
        "tasks; fails by "
        "user: failed sessions the user (simulator) caused / all failed (rules, or a stored LLM "
        "judge label); SR excl.: success with those left out; USI noise: run-to-run USI range "
        "over the simulator's repeated runs",
        highlight=False,
        soft_wrap=True,
    )

    console.print(f"wrote {out_dir / JSON_NAME} and {out_dir / CSV_NAME}")


def register(app: typer.Typer) -> None:
    """Add `simgap score`."""
    app.command("score")(score)
