"""The human ceiling: people scored against people, the best a simulator can be expected to do.

Paper: every pair of disjoint human batches (b1 vs b2, b1 vs b3, b2 vs b3) is scored like a
simulator against a batch; the ceiling is the mean ± std over the pairs (USI 92.9 in the
paper). Every component is symmetric in its two sides, so each unordered pair is scored once.

With a single batch there is no disjoint set of people to compare with, so simgap splits the
people of each task at random into two halves (seeded) and scores one half against the other,
repeated `n_splits` times; tasks with a single session cannot be split and are left out. That
ceiling is labelled as a random split in the output.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from itertools import combinations

import numpy as np
from numpy.typing import NDArray

from simgap.metrics.core import Array, Pair, Side, build_pair, build_side
from simgap.metrics.scorer import SIMGAP, Scorer
from simgap.metrics.table import ScoredSession


def _pairs(
    sides: Sequence[Side], *, bins: NDArray[np.int64], levels: Sequence[Array], scorer: Scorer
) -> list[Pair]:
    """Every unordered pair of `sides` (in `combinations` order) under `scorer`'s rules."""
    if scorer.is_default:
        return [
            build_pair(sides[a], sides[b], bins=bins, levels=levels)
            for a, b in combinations(range(len(sides)), 2)
        ]
    from simgap.metrics.paper import build_rule_ceiling_pairs

    return build_rule_ceiling_pairs(sides, bins=bins, levels=levels, scorer=scorer)


def batch_pairs(
    batches: Mapping[str, Sequence[ScoredSession]],
    index: Mapping[str, int],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    scorer: Scorer = SIMGAP,
) -> tuple[list[Pair], list[str]]:
    """One pair per unordered pair of batches, labelled `b1~b2`."""
    names = sorted(batches)
    sides = [build_side(batches[b], index, single_trial=True) for b in names]
    pairs = _pairs(sides, bins=bins, levels=levels, scorer=scorer)
    labels = [f"{a}~{b}" for a, b in combinations(names, 2)]
    return pairs, labels


def random_split(
    sessions: Sequence[ScoredSession], rng: np.random.Generator
) -> tuple[list[ScoredSession], list[ScoredSession]]:
    """Per task, shuffle its sessions and deal them alternately into two halves."""
    by_task: dict[str, list[ScoredSession]] = defaultdict(list)
    for s in sessions:
        by_task[s.task].append(s)
    a: list[ScoredSession] = []
    b: list[ScoredSession] = []
    for task in sorted(by_task):
        group = by_task[task]
        order = rng.permutation(len(group))
        for i, j in enumerate(order):
            (a if i % 2 == 0 else b).append(group[int(j)])
    return a, b


def split_pairs(
    sessions: Sequence[ScoredSession],
    index: Mapping[str, int],
    *,
    bins: NDArray[np.int64],
    levels: Sequence[Array],
    n_splits: int,
    rng: np.random.Generator,
    scorer: Scorer = SIMGAP,
) -> tuple[list[Pair], list[str]]:
    """`n_splits` random half-vs-half pairs of one batch, labelled `split1`, `split2`, ..."""
    pairs: list[Pair] = []
    labels: list[str] = []
    for i in range(n_splits):
        a, b = random_split(sessions, rng)
        halves = [build_side(a, index, single_trial=True), build_side(b, index, single_trial=True)]
        pairs += _pairs(halves, bins=bins, levels=levels, scorer=scorer)
        labels.append(f"split{i + 1}")
    return pairs, labels
