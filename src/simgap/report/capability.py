"""USI against a user-supplied capability score (e.g. Arena Elo): read the CSV, join, correlate.

The question this answers is the paper's "does a stronger model make a more human-like user?".
The CSV has a header with the columns `simulator,score[,label]` (any order, case-insensitive):
`simulator` names a leaderboard row, `score` is a number, `label` an optional display name for
the point. Names are matched to a row's label, then to the simulator ids in the row
(`user_ids`), first exactly, then ignoring case and surrounding spaces; names matched to no row,
and rows with no score, are listed in the report rather than silently dropped.

Pearson r (linear) and Spearman ρ (rank; ties get average ranks) are reported with the number
of matched simulators and a two-sided p (exact permutation p up to 8 simulators, else the t
approximation); with fewer than three, or no spread on a side, they are n/a.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from itertools import permutations
from pathlib import Path

import numpy as np

from simgap.errors import ConfigError
from simgap.report.scorefile import RowDoc

MIN_POINTS = 3
EXACT_MAX_N = 8  # up to 8! = 40,320 orderings: exact permutation p-values


class CapabilityError(ConfigError):
    """The capability CSV is missing or malformed (the message names the line)."""


@dataclass(frozen=True)
class CapabilityEntry:
    simulator: str
    score: float
    label: str | None
    line: int


@dataclass(frozen=True)
class CapabilityPoint:
    row: str  # the leaderboard row's label
    name: str  # what the point is called in the figure
    score: float
    usi: float
    ci_low: float | None
    ci_high: float | None
    synthetic: bool


@dataclass
class CapabilityJoin:
    source: str
    points: list[CapabilityPoint] = field(default_factory=list)
    unmatched_entries: list[str] = field(default_factory=list)  # CSV names with no row
    rows_without_score: list[str] = field(default_factory=list)  # rows with no CSV line
    rows_without_usi: list[str] = field(default_factory=list)  # matched, but USI is n/a
    pearson: float | None = None
    pearson_p: float | None = None
    spearman: float | None = None
    spearman_p: float | None = None

    @property
    def n(self) -> int:
        return len(self.points)


def read_capability(path: str | Path) -> list[CapabilityEntry]:
    """Parse the CSV; CapabilityError names the file and line of the first problem."""
    p = Path(path)
    if not p.exists():
        raise CapabilityError(f"{p}: no such capability file")
    try:
        text = p.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise CapabilityError(f"{p}: cannot read: {e}") from None
    lines = [
        (i, line)
        for i, line in enumerate(text.splitlines(), start=1)
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not lines:
        raise CapabilityError(f"{p}: empty; expected a header 'simulator,score[,label]'")
    rows = list(csv.reader([line for _, line in lines]))
    head_no = lines[0][0]
    header = [h.strip().lower() for h in rows[0]]
    if "simulator" not in header or "score" not in header:
        raise CapabilityError(
            f"{p} line {head_no}: header {','.join(rows[0])!r} lacks the columns "
            "'simulator' and 'score' (expected 'simulator,score[,label]')"
        )
    unknown = [h for h in header if h not in ("simulator", "score", "label")]
    if unknown:
        raise CapabilityError(f"{p} line {head_no}: unknown column {unknown[0]!r}")
    col = {h: i for i, h in enumerate(header)}
    out: list[CapabilityEntry] = []
    seen: dict[str, int] = {}
    for (no, _), cells in zip(lines[1:], rows[1:], strict=True):
        if len(cells) != len(header):
            raise CapabilityError(
                f"{p} line {no}: {len(cells)} field(s), expected {len(header)} ({','.join(header)})"
            )
        name = cells[col["simulator"]].strip()
        if not name:
            raise CapabilityError(f"{p} line {no}: empty simulator name")
        raw = cells[col["score"]].strip()
        try:
            score = float(raw)
        except ValueError:
            raise CapabilityError(f"{p} line {no}: score {raw!r} is not a number") from None
        if not math.isfinite(score):
            raise CapabilityError(f"{p} line {no}: score {raw!r} is not a finite number")
        key = name.casefold()
        if key in seen:
            raise CapabilityError(
                f"{p} line {no}: simulator {name!r} already given on line {seen[key]}"
            )
        seen[key] = no
        label = cells[col["label"]].strip() if "label" in col else ""
        out.append(CapabilityEntry(simulator=name, score=score, label=label or None, line=no))
    if not out:
        raise CapabilityError(f"{p}: no data lines after the header")
    return out


def _ranks(x: Sequence[float]) -> list[float]:
    """1-based ranks; tied values share the mean of their ranks."""
    order = sorted(range(len(x)), key=lambda i: x[i])
    ranks = [0.0] * len(x)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and x[order[j + 1]] == x[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2 + 1
        i = j + 1
    return ranks


def pearson(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Pearson's r; None with fewer than MIN_POINTS points or no spread on a side."""
    if len(x) != len(y) or len(x) < MIN_POINTS:
        return None
    a = np.asarray(x, dtype=np.float64) - np.mean(x)
    b = np.asarray(y, dtype=np.float64) - np.mean(y)
    den = math.sqrt(float(a @ a) * float(b @ b))
    if den == 0:
        return None
    return max(-1.0, min(1.0, float(a @ b) / den))


def spearman(x: Sequence[float], y: Sequence[float]) -> float | None:
    """Spearman's ρ: Pearson's r of the (average-tie) ranks."""
    if len(x) != len(y) or len(x) < MIN_POINTS:
        return None
    return pearson(_ranks(x), _ranks(y))


def p_value(x: Sequence[float], y: Sequence[float], r: float | None) -> float | None:
    """Two-sided p of a correlation `r` of x and y under "no association".

    With few simulators (n ≤ EXACT_MAX_N, the usual case) the exact permutation p: the share
    of all n! orderings of y whose |r| is at least the observed one — the t approximation
    would claim p = 0 for three points in a line. Larger n: the t distribution with n − 2
    degrees of freedom (as scipy.stats.pearsonr). Pass ranks to test a Spearman ρ.
    """
    n = len(x)
    if r is None or n < MIN_POINTS:
        return None
    if n <= EXACT_MAX_N:
        xs = np.asarray(x, dtype=np.float64)
        ys = np.asarray(y, dtype=np.float64)
        perms = ys[np.array(list(permutations(range(n))))]
        dx = xs - xs.mean()
        dy = perms - ys.mean()
        den = math.sqrt(float(dx @ dx) * float(ys.var() * n))
        rs = (dy @ dx) / den
        return float(np.mean(np.abs(rs) >= abs(r) - 1e-9))
    if abs(r) >= 1.0:
        return 0.0
    from scipy import stats

    t = r * math.sqrt((n - 2) / (1.0 - r * r))
    return float(2.0 * stats.t.sf(abs(t), n - 2))


def _match(entry: CapabilityEntry, rows: Sequence[RowDoc]) -> RowDoc | None:
    name = entry.simulator
    for exact in (True, False):
        for r in rows:
            names = [r.label, *r.user_ids]
            if exact and name in names:
                return r
            if not exact and name.strip().casefold() in {n.strip().casefold() for n in names}:
                return r
    return None


def join_capability(
    rows: Sequence[RowDoc], entries: Sequence[CapabilityEntry], *, source: str = ""
) -> CapabilityJoin:
    """Pair each candidate row with its capability score and correlate USI with it."""
    out = CapabilityJoin(source=source)
    taken: set[str] = set()
    for e in entries:
        row = _match(e, rows)
        if row is None or row.label in taken:
            out.unmatched_entries.append(e.simulator)
            continue
        taken.add(row.label)
        if row.usi.value is None:
            out.rows_without_usi.append(row.label)
            continue
        out.points.append(
            CapabilityPoint(
                row=row.label,
                name=e.label or row.label,
                score=e.score,
                usi=row.usi.value,
                ci_low=row.usi.ci_low,
                ci_high=row.usi.ci_high,
                synthetic=row.synthetic,
            )
        )
    out.rows_without_score = [r.label for r in rows if r.label not in taken]
    xs = [p.score for p in out.points]
    ys = [p.usi for p in out.points]
    out.pearson = pearson(xs, ys)
    out.spearman = spearman(xs, ys)
    out.pearson_p = p_value(xs, ys, out.pearson)
    out.spearman_p = p_value(_ranks(xs), _ranks(ys), out.spearman)
    return out
