"""kdtaxonomy.stats against hand-computed values and closed forms of Student's t distribution."""

from __future__ import annotations

import math
import subprocess
import sys

import pytest

from kdtaxonomy.stats import paired, spearman, welch


def t_two_sided_p(t: float, df: int) -> float:
    """Closed forms of Student's t for 1, 2 and 3 degrees of freedom (two-sided p)."""
    t = abs(t)
    if df == 1:  # Cauchy
        return 1 - 2 * math.atan(t) / math.pi
    if df == 2:
        return 1 - t / math.sqrt(2 + t * t)
    if df == 3:
        x = t / math.sqrt(3)
        return 1 - 2 / math.pi * (x / (1 + x * x) + math.atan(x))
    raise ValueError(df)


def t_two_sided_p_numeric(t: float, df: float, steps: int = 20000) -> float:
    """1 - 2 * integral_0^|t| of the t density, by Simpson's rule (any real df)."""
    log_c = math.lgamma((df + 1) / 2) - math.lgamma(df / 2) - 0.5 * math.log(df * math.pi)

    def pdf(x: float) -> float:
        return math.exp(log_c - (df + 1) / 2 * math.log1p(x * x / df))

    h = abs(t) / steps
    total = pdf(0.0) + pdf(abs(t))
    total += sum((4 if i % 2 else 2) * pdf(i * h) for i in range(1, steps))
    return 1 - 2 * total * h / 3


def test_paired_matches_hand_computation() -> None:
    alone = [70.0, 71.0, 69.0, 72.0]
    distilled = [a + d for a, d in zip(alone, [1.0, 2.0, 3.0, 4.0], strict=True)]
    result = paired(distilled, alone)
    assert result is not None
    # differences 1, 2, 3, 4: mean 2.5, std sqrt(5/3) = 1.2910, se = std / 2 = 0.6455; t_{0.975, 3} = 3.1824
    assert result.n == 4 and result.wins == 4
    assert result.delta_mean == pytest.approx(2.5, abs=1e-12)
    assert result.delta_std == pytest.approx(math.sqrt(5 / 3), rel=1e-12)
    assert result.delta_std == pytest.approx(1.2910, abs=1e-4)
    se = math.sqrt(5 / 3) / 2
    assert se == pytest.approx(0.6455, abs=1e-4)
    assert result.ci95[0] == pytest.approx(2.5 - 3.182446305284263 * se, rel=1e-9)
    assert result.ci95[1] == pytest.approx(2.5 + 3.182446305284263 * se, rel=1e-9)
    t = 2.5 / se
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.p == pytest.approx(t_two_sided_p(t, 3), rel=1e-10)
    assert result.p == pytest.approx(t_two_sided_p_numeric(t, 3.0), rel=1e-8)


@pytest.mark.parametrize(
    ("distilled", "alone"),
    [([1.0, 3.0], [0.5, 0.0]), ([2.0, 1.0, 0.0], [1.0, 1.5, 1.0]), ([5.0, 4.0, 6.5], [5.5, 4.5, 6.0])],
)
def test_paired_p_matches_closed_forms(distilled: list[float], alone: list[float]) -> None:
    diffs = [d - a for d, a in zip(distilled, alone, strict=True)]
    n = len(diffs)
    m = sum(diffs) / n
    sd = math.sqrt(sum((d - m) ** 2 for d in diffs) / (n - 1))
    result = paired(distilled, alone)
    assert result is not None
    assert result.t == pytest.approx(m / (sd / math.sqrt(n)), rel=1e-12)
    assert result.p == pytest.approx(t_two_sided_p(result.t, n - 1), rel=1e-9)
    assert result.wins == sum(d > 0 for d in diffs)
    assert result.ci95[0] < m < result.ci95[1]


def test_paired_degenerate_cases() -> None:
    assert paired([1.0], [0.0]) is None
    assert paired([], []) is None
    with pytest.raises(ValueError):
        paired([1.0, 2.0], [1.0])
    same = paired([2.0, 3.0, 4.0], [1.0, 2.0, 3.0])  # every difference is 1: no spread
    assert same is not None
    assert (same.delta_mean, same.delta_std, same.ci95, same.p, same.wins) == (1.0, 0.0, (1.0, 1.0), 0.0, 3)
    assert same.t == math.inf
    zero = paired([1.0, 2.0], [1.0, 2.0])
    assert zero is not None and zero.p == 1.0 and zero.t == 0.0 and zero.wins == 0


def test_welch_matches_hand_formula() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    # means 2.5 and 6, variances 5/3 and 10: se^2 = 5/12 + 2; Welch-Satterthwaite df
    va, vb = (5 / 3) / 4, 10 / 5
    t = (2.5 - 6.0) / math.sqrt(va + vb)
    df = (va + vb) ** 2 / (va**2 / 3 + vb**2 / 4)
    result = welch(a, b)
    assert result is not None
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.df == pytest.approx(df, rel=1e-12)
    assert result.p == pytest.approx(t_two_sided_p_numeric(t, df), rel=1e-8)
    assert welch([1.0], [2.0, 3.0]) is None
    assert welch([1.0, 1.0], [2.0, 2.0]) is None


def test_spearman_known_rankings() -> None:
    reversed_ = spearman([1.0, 2.0, 3.0, 4.0, 5.0], [50.0, 40.0, 30.0, 20.0, 10.0])
    assert reversed_ is not None and reversed_.rho == pytest.approx(-1.0) and reversed_.n == 5
    same = spearman([0.1, 0.5, 0.2], [1.0, 9.0, 3.0])
    assert same is not None and same.rho == pytest.approx(1.0)
    # ranks 1..5 vs 2,1,4,3,5: sum d^2 = 4, rho = 1 - 6*4 / (5*24) = 0.8; p from t = rho sqrt(3 / (1 - rho^2))
    result = spearman([1.0, 2.0, 3.0, 4.0, 5.0], [2.0, 1.0, 4.0, 3.0, 5.0])
    assert result is not None
    assert result.rho == pytest.approx(0.8, rel=1e-12)
    assert result.p == pytest.approx(t_two_sided_p(0.8 * math.sqrt(3 / (1 - 0.64)), 3), rel=1e-9)
    assert spearman([1.0, 2.0], [2.0, 1.0]) is None
    assert spearman([1.0, 1.0, 1.0], [1.0, 2.0, 3.0]) is None


def test_importing_stats_does_not_import_scipy() -> None:
    code = (
        "import sys, kdtaxonomy.stats, kdtaxonomy.bench, kdtaxonomy.benchmark_table, kdtaxonomy.published\n"
        "assert 'scipy' not in sys.modules and 'torch' not in sys.modules\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
