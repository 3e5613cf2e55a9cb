"""Measure how far simgap's default scoring departs from paper mode, rule by rule.

On one SYNTHETIC data set in the authors' layout (tests/metrics/paper_golden/generate.py),
scores the four simulators and the ceiling under simgap's rules, under the paper's rules
(`simgap score --paper`), and under simgap's rules with one paper rule switched on at a time.
Prints two Markdown tables: each component in both modes, and the size of each departure
(the largest change it causes in each component, over the rows). docs/metrics.md quotes them.

    .venv/bin/python scripts/paper_vs_default.py --seed 1
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.metrics.paper_check import generator, load_dataset  # noqa: E402

from simgap.metrics import ScoreSettings, score_sets  # noqa: E402
from simgap.metrics.board import Leaderboard  # noqa: E402
from simgap.metrics.scorer import PAPER, RULES, SIMGAP, Scorer  # noqa: E402

QUANTITIES = ("D1", "D2", "D3", "D4", "Eval", "ECE", "USI", "USI sd")


def _values(lb: Leaderboard) -> dict[str, dict[str, float | None]]:
    rows = ([lb.ceiling] if lb.ceiling is not None else []) + lb.rows
    out: dict[str, dict[str, float | None]] = {}
    for r in rows:
        name = "ceiling" if r.kind == "ceiling" else r.label
        out[name] = {q: r.estimates[q].value for q in QUANTITIES if q != "USI sd"}
        out[name]["USI sd"] = r.estimates["USI"].std
        out[name]["ECE"] = None if out[name]["ECE"] is None else 100 * out[name]["ECE"]  # type: ignore[operator]
    return out


def _fmt(x: float | None) -> str:
    return "n/a" if x is None else f"{x:.2f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seed", type=int, default=1)
    args = ap.parse_args()
    gen = generator()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        gen.write_dataset(root, args.seed)
        ref, cands = load_dataset(root)

        def run(scorer: Scorer) -> dict[str, dict[str, float | None]]:
            st = ScoreSettings(n_boot=0, n_permutations=0, repeats=0, n_examples=0, scorer=scorer)
            return _values(score_sets(ref, cands, st))

        default, paper = run(SIMGAP), run(PAPER)
        print(f"## Paper mode vs default mode, generated data set seed {args.seed} (SYNTHETIC)\n")
        print("ECE ×100. Each cell: default → paper (difference).\n")
        print("| row | " + " | ".join(QUANTITIES) + " |")
        print("|---|" + "---:|" * len(QUANTITIES))
        for name in default:
            cells = []
            for q in QUANTITIES:
                a, b = default[name][q], paper[name][q]
                d = "" if a is None or b is None else f" ({b - a:+.2f})"
                cells.append(f"{_fmt(a)} → {_fmt(b)}{d}")
            print(f"| {name} | " + " | ".join(cells) + " |")

        print("\n## Each departure alone: simgap's rules with one paper rule switched on\n")
        print("Largest |change| over the rows (ceiling and four simulators); ECE ×100.\n")
        print("| rule (paper value) | " + " | ".join(QUANTITIES) + " |")
        print("|---|" + "---:|" * len(QUANTITIES))
        for rule in RULES:
            one = run(SIMGAP.with_rule(rule, getattr(PAPER, rule)))
            cells = []
            for q in QUANTITIES:
                diffs = [
                    abs(one[n][q] - default[n][q])  # type: ignore[operator]
                    for n in default
                    if one[n][q] is not None and default[n][q] is not None
                ]
                na = sum((one[n][q] is None) != (default[n][q] is None) for n in default)
                cell = f"{max(diffs):.2f}" if diffs else "–"
                cells.append(cell + (f" ({na} n/a)" if na else ""))
            print(f"| {rule} ({getattr(PAPER, rule)}) | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
