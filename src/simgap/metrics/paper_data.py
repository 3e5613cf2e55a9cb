"""The paper's frozen task-difficulty map (third-party data, see `metrics/data/README.md`).

The authors binned tasks for ECE by each task's success rate pooled over their 31 published
baseline simulators, and ship that map frozen with their scorer so every new simulator is scored
on the same yardstick. `simgap score --paper` uses it unless `--difficulty` says otherwise.
It is an unmodified copy of sunnweiwei/OdysSim `agents/tau_usi/tau_usi_difficulty.json`
(Apache-2.0; the licence text ships next to it).
"""

from __future__ import annotations

from functools import cache
from importlib import resources
from types import MappingProxyType
from typing import Any

from simgap.metrics.calibration import load_difficulty

PAPER_MAP_FILE = "tau_usi_difficulty.json"
PAPER_MAP_TASKS = 165


@cache
def _paper_map() -> MappingProxyType[str, float]:
    ref = resources.files("simgap.metrics") / "data" / PAPER_MAP_FILE
    with resources.as_file(ref) as path:
        return MappingProxyType(load_difficulty(path))


def paper_difficulty() -> dict[str, float]:
    """task (`airline/12`, also `airline_12`) -> pooled success over the paper's baselines."""
    return dict(_paper_map())


def paper_map_info() -> dict[str, Any]:
    """Where the map comes from, for the score file."""
    return {
        "file": f"simgap/metrics/data/{PAPER_MAP_FILE}",
        "source": "sunnweiwei/OdysSim agents/tau_usi/tau_usi_difficulty.json "
        "(commit 9043e560b262be09600ff25676e2735effe9c356)",
        "licence": "Apache-2.0",
        "n_tasks": PAPER_MAP_TASKS,
    }
