"""Write the golden files: the authors' reference scorer's numbers on the generated data sets.

Not part of the test suite and not importable by it: it needs a checkout of the authors'
repository (sunnweiwei/OdysSim, Apache-2.0), which simgap does not include. It calls that
checkout's public scoring function, `agents.tau_usi.usi_metric.compute_all_with_variance`
(the function their `usi_metric score` command calls), on the data sets `generate.py` writes,
for three task-difficulty maps:

* `self`: pooled over the four simulators scored (the paper's self-pool, ≥ 10 runs a task);
* `frozen`: the authors' frozen map of the paper's 165 tasks (their default);
* `edges`: the generated map with values on the bin edges (`data/difficulty_edges.json`).

Run it outside this repository (the reference is run there, never here). The golden files
committed next to this script were made with (OdysSim at commit df47a212, numpy 2.4.6):

    git clone https://github.com/sunnweiwei/OdysSim /tmp/odyssim-src
    git -C /tmp/odyssim-src checkout df47a212bdd64c5840b5845a6d2dd6494f304f96
    cd /tmp && python /path/to/simgap/tests/metrics/paper_golden/run_reference.py \
        --odyssim /tmp/odyssim-src --seeds 1 2 3 --out /path/to/simgap/tests/metrics/paper_golden

(only `agents/tau_usi/{__init__,usi_metric,utils}.py` and `tau_usi_difficulty.json` of that
checkout are needed; they import nothing but numpy).
"""

from __future__ import annotations

import argparse
import importlib
import json
import subprocess
import sys
import tempfile
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

from generate import MODELS, MODELS_3RUN, write_dataset  # noqa: E402

VARIANTS = ("self", "frozen", "edges")


def _commit(repo: Path) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(repo), "rev-parse", "HEAD"], capture_output=True, text=True
        )
    except OSError:
        return None
    return out.stdout.strip() or None


def run_seed(um: Any, seed: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix=f"usi-golden-{seed}-") as tmp:
        root = Path(tmp)
        info = write_dataset(root, seed)
        data = root / "data"
        batches = um.load_batches_from_unified(data / "tau_bench_tasks_unified.json")
        conv = root / "converted"
        conv.mkdir()
        files = []
        for m in MODELS:
            src = (
                root
                / "results"
                / (f"{m}_task_results.json" if m in MODELS_3RUN else f"eval_results_{m}.json")
            )
            # As their `score` command does: runs -> eval_results_<label>.json, label = model.
            flat = um.task_results_to_eval_results(json.loads(src.read_text()))
            out = conv / f"eval_results_{m}.json"
            out.write_text(json.dumps(flat))
            files.append(out)
        cases: dict[str, Any] = {}
        for variant in VARIANTS:
            difficulty = {
                "self": None,
                "frozen": um.load_difficulty(),
                "edges": um.load_difficulty(data / "difficulty_edges.json"),
            }[variant]
            results = um.compute_all_with_variance(
                batches, files, data / "survey_data", difficulty=difficulty
            )
            cases[variant] = {
                r["name"]: {k: v for k, v in r.items() if k != "name"} for r in results
            }
        return {"dataset": info, "cases": cases}


def main() -> None:
    ap = argparse.ArgumentParser(description="write golden files from the reference scorer")
    ap.add_argument("--odyssim", type=Path, required=True, help="checkout of sunnweiwei/OdysSim")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    ap.add_argument("--out", type=Path, default=HERE)
    args = ap.parse_args()
    sys.path.insert(0, str(args.odyssim.resolve()))
    um = importlib.import_module("agents.tau_usi.usi_metric")
    import numpy as np

    for seed in args.seeds:
        doc = {
            "what": "the authors' reference scorer on synthetic data (generate.py); SYNTHETIC",
            "reference": {
                "repository": "sunnweiwei/OdysSim",
                "commit": _commit(args.odyssim),
                "function": "agents.tau_usi.usi_metric.compute_all_with_variance",
                "numpy": np.__version__,
            },
            "command": (
                "python tests/metrics/paper_golden/run_reference.py --odyssim <checkout> "
                f"--seeds {seed}"
            ),
            **run_seed(um, seed),
        }
        path = args.out / f"golden_seed{seed}.json"
        path.write_text(json.dumps(doc, indent=1, sort_keys=True) + "\n")
        print(f"wrote {path}")


if __name__ == "__main__":
    main()
