"""Statistics of benchmark results over seeds, computed by scipy (imported lazily, inside the functions).

Importing this module imports neither scipy nor torch: the query commands that read results stay fast.
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class Paired:
    """Paired comparison of two measurements taken on the same seeds (differences ``distilled - alone``)."""

    n: int
    delta_mean: float
    delta_std: float
    """Sample standard deviation of the differences (ddof=1)."""
    ci95: tuple[float, float]
    """Student-t 95% confidence interval of the mean difference."""
    t: float
    p: float
    """Two-sided p-value of the paired t-test."""
    wins: int
    """Seeds where the difference is positive."""


@dataclass(frozen=True)
class Welch:
    """Welch's unequal-variance t-test."""

    t: float
    df: float
    """Welch–Satterthwaite degrees of freedom."""
    p: float


@dataclass(frozen=True)
class Spearman:
    """Spearman rank correlation."""

    rho: float
    p: float
    n: int


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def _variance(values: list[float]) -> float:
    """Sample variance (ddof=1)."""
    m = _mean(values)
    return math.fsum((v - m) ** 2 for v in values) / (len(values) - 1)


def _same_length(a: list[float], b: list[float]) -> None:
    if len(a) != len(b):
        raise ValueError(f"paired samples differ in length: {len(a)} and {len(b)}")


def paired(distilled: list[float], alone: list[float]) -> Paired | None:
    """Paired t-test over seeds (the lists aligned by seed); None for fewer than two pairs.

    When every difference is the same (standard deviation 0), scipy's t-test is undefined (nan): then the
    interval is the single point ``(mean, mean)``, ``t`` is 0 or ±inf, and ``p`` is 1.0 when the
    differences are all 0 and 0.0 otherwise.
    """
    _same_length(distilled, alone)
    n = len(distilled)
    if n < 2:
        return None
    diffs = [float(d) - float(a) for d, a in zip(distilled, alone, strict=True)]
    m = _mean(diffs)
    wins = sum(1 for d in diffs if d > 0)
    if all(d == diffs[0] for d in diffs):
        t = 0.0 if m == 0 else math.copysign(math.inf, m)
        return Paired(n, m, 0.0, (m, m), t, 1.0 if m == 0 else 0.0, wins)
    from scipy import stats

    sd = math.sqrt(_variance(diffs))
    half = float(stats.t.ppf(0.975, n - 1)) * sd / math.sqrt(n)
    result = stats.ttest_rel(distilled, alone)
    return Paired(n, m, sd, (m - half, m + half), float(result.statistic), float(result.pvalue), wins)


def welch(a: list[float], b: list[float]) -> Welch | None:
    """Welch's t-test of mean(a) vs mean(b); None when undefined (a sample of n < 2, or no variance)."""
    if len(a) < 2 or len(b) < 2:
        return None
    va, vb = _variance(a) / len(a), _variance(b) / len(b)
    se2 = va + vb
    if se2 <= 0.0:
        return None
    from scipy import stats

    result = stats.ttest_ind(a, b, equal_var=False)
    df = se2**2 / (va**2 / (len(a) - 1) + vb**2 / (len(b) - 1))
    return Welch(t=float(result.statistic), df=df, p=float(result.pvalue))


def spearman(x: list[float], y: list[float]) -> Spearman | None:
    """Spearman's ρ (ties get average ranks) and its two-sided p; None for n < 3 or a constant input."""
    _same_length(x, y)
    n = len(x)
    if n < 3 or len(set(x)) == 1 or len(set(y)) == 1:
        return None
    from scipy import stats

    result = stats.spearmanr(x, y)
    return Spearman(rho=float(result.statistic), p=float(result.pvalue), n=n)
