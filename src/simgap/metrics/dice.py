"""Sørensen–Dice similarity of two non-negative feature values (arXiv 2603.11245, D1–D4).

For a feature with human value h and simulator value m: `2·min(h, m) / (h + m)`, and 1 when
both are 0 (identical absence). Values are taken in absolute value, as the paper's scorer does;
every USI feature is non-negative anyway. Symmetric in (h, m), in [0, 1], 1 iff h = m.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def dice(h: ArrayLike, m: ArrayLike) -> NDArray[np.float64]:
    """Element-wise Dice similarity; NaN where either input is NaN (unknown stays unknown)."""
    a = np.abs(np.asarray(h, dtype=np.float64))
    b = np.abs(np.asarray(m, dtype=np.float64))
    total = a + b
    with np.errstate(invalid="ignore", divide="ignore"):
        out = np.where(total > 0, 2.0 * np.minimum(a, b) / np.where(total > 0, total, 1.0), 1.0)
    return np.where(np.isnan(a) | np.isnan(b), np.nan, out)


def dice_scalar(h: float, m: float) -> float:
    """The same for two plain numbers (used by the reference implementation and tests)."""
    h, m = abs(h), abs(m)
    if h + m == 0:
        return 1.0
    return 2.0 * min(h, m) / (h + m)
