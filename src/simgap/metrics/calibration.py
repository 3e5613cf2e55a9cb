"""Outcome calibration: task difficulty, its bins, and the difficulty-binned ECE.

Follows the paper (arXiv 2603.11245, outcome calibration; binning as in the authors' released
scorer): a task's difficulty is its success rate pooled over the simulators' runs; tasks fall
in five bins with edges 0.2 / 0.4 / 0.6 / 0.8 (a value equal to an edge goes to the upper bin);
ECE = Σ_bins (n_bin / N) · |simulator success rate − human success rate| over the tasks both
sides ran. The USI uses (1 − ECE) · 100.

The paper froze its difficulty map over its 31 baseline simulators; simgap computes it from the
data at hand (the candidates being scored) unless a frozen map is given (`load_difficulty`).
"""

from __future__ import annotations

import json
from collections import defaultdict
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from simgap.errors import SimgapError

BIN_EDGES: tuple[float, ...] = (0.2, 0.4, 0.6, 0.8)
N_BINS = len(BIN_EDGES) + 1
PAPER_MIN_SAMPLES = 10  # the paper pooled ≥10 runs per task (31 simulators × up to 3 runs)


class DifficultyError(SimgapError):
    """A difficulty map file that cannot be used (one line naming file and key)."""


def bin_index(difficulty: float) -> int:
    """0..4: the first bin whose upper edge is above the value."""
    for i, edge in enumerate(BIN_EDGES):
        if difficulty < edge:
            return i
    return N_BINS - 1


def bin_indices(values: NDArray[np.float64]) -> NDArray[np.int64]:
    """Vectorised `bin_index`; NaN (unknown difficulty) -> -1."""
    idx = np.searchsorted(np.asarray(BIN_EDGES), values, side="right").astype(np.int64)
    return np.where(np.isnan(values), -1, idx)


def pooled_difficulty(
    outcomes: Iterable[tuple[str, float]], *, min_samples: int = 1
) -> dict[str, float]:
    """task -> mean success over all (task, success) pairs; tasks with fewer than
    `min_samples` outcomes get no difficulty (and are left out of ECE)."""
    sums: dict[str, float] = defaultdict(float)
    counts: dict[str, int] = defaultdict(int)
    for task, success in outcomes:
        sums[task] += success
        counts[task] += 1
    return {t: sums[t] / counts[t] for t in sums if counts[t] >= min_samples}


def ece(
    sim: Mapping[str, float], human: Mapping[str, float], difficulty: Mapping[str, float]
) -> float | None:
    """ECE of one simulator run against one human batch (task -> 0/1 success each).

    The plain definition, kept for reference and tests; scoring uses the vectorised form.
    None when no task is on both sides with a known difficulty.
    """
    tasks = [t for t in sim if t in human and t in difficulty]
    if not tasks:
        return None
    bins: dict[int, list[str]] = defaultdict(list)
    for t in tasks:
        bins[bin_index(difficulty[t])].append(t)
    total = 0.0
    for members in bins.values():
        s = sum(sim[t] for t in members) / len(members)
        h = sum(human[t] for t in members) / len(members)
        total += len(members) / len(tasks) * abs(s - h)
    return total


def _task_key_variants(key: str) -> list[str]:
    """The paper keys tasks as `airline_12`; simgap as `airline/12`. Accept both."""
    out = [key]
    if "/" not in key and "_" in key:
        dom, _, rest = key.partition("_")
        out.append(f"{dom}/{rest}")
    return out


def load_difficulty(path: str | Path) -> dict[str, float]:
    """A frozen difficulty map: JSON `{task: rate}` or `{"difficulty": {task: rate}, ...}`
    (the paper's scorer's file). Keys `airline_12` are read as `airline/12`."""
    p = Path(path)
    try:
        data: Any = json.loads(p.read_text(encoding="utf-8"))
    except OSError as e:
        raise DifficultyError(f"{p}: cannot open ({e.strerror})") from None
    except json.JSONDecodeError as e:
        raise DifficultyError(f"{p}:{e.lineno}: not valid JSON ({e.msg})") from None
    raw = data.get("difficulty") if isinstance(data, dict) and "difficulty" in data else data
    if not isinstance(raw, dict):
        raise DifficultyError(f"{p}: expected an object mapping task -> success rate")
    out: dict[str, float] = {}
    for k, v in raw.items():
        if isinstance(v, bool) or not isinstance(v, int | float) or not 0.0 <= v <= 1.0:
            raise DifficultyError(f"{p}: task {k!r}: difficulty must be a number in [0, 1]")
        for key in _task_key_variants(str(k)):
            out[key] = float(v)
    return out
