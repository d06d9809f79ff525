"""Verification metrics against references written here: every threshold scanned by plain loops, the ROC
convex hull EER as the minimum of max(P_fa, P_miss) over mixtures of two operating points, hand-computed
cases, and (when scikit-learn is installed) sklearn.metrics.roc_curve."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest

from kdtaxonomy.verification import (
    cosine_scores,
    equal_error_rate,
    min_dcf,
    trial_list,
    verification_report,
)


def scan(scores: list[float], target: list[bool]) -> list[tuple[float, float, float]]:
    """(threshold, P_fa, P_miss) of accepting score >= t, for t = +inf and every score, by counting."""
    n_t, n_n = sum(target), len(target) - sum(target)
    points = []
    for t in [math.inf, *sorted(set(scores), reverse=True)]:
        fa = sum(1 for s, g in zip(scores, target, strict=True) if s >= t and not g)
        miss = sum(1 for s, g in zip(scores, target, strict=True) if s < t and g)
        points.append((t, fa / n_n, miss / n_t))
    return points


def hull_eer(points: list[tuple[float, float]]) -> float:
    """min over pairs of operating points and mixtures l*p + (1-l)*q of max(P_fa, P_miss)."""
    best = min(max(p) for p in points)
    for (ax, ay), (bx, by) in itertools.combinations(points, 2):
        # the two coordinates of the mixture are linear in l; they are equal at l*
        denom = (ax - ay) - (bx - by)
        if denom != 0:
            lam = (by - bx) / denom
            if 0 <= lam <= 1:
                best = min(best, max(lam * ax + (1 - lam) * bx, lam * ay + (1 - lam) * by))
    return best


def brute_dcf(scores: list[float], target: list[bool], p: float, cm: float, cf: float) -> float:
    costs = [cm * miss * p + cf * fa * (1 - p) for _, fa, miss in scan(scores, target)]
    return min(costs) / min(cm * p, cf * (1 - p))


def random_case(
    seed: int, n_t: int = 12, n_n: int = 15, ties: bool = False
) -> tuple[list[float], list[bool]]:
    rng = np.random.default_rng(seed)
    scores = np.concatenate([rng.normal(1.0, 1.0, n_t), rng.normal(0.0, 1.0, n_n)])
    if ties:
        scores = np.round(scores * 2) / 2
    return scores.tolist(), [True] * n_t + [False] * n_n


def test_known_three_plus_three_case() -> None:
    # sorted: 0.9 T, 0.7 N, 0.6 T, 0.4 T, 0.3 N, 0.1 N; operating points (P_fa, P_miss):
    # (0,1) (0,2/3) (1/3,2/3) (1/3,1/3) (1/3,0) (2/3,0) (1,0); hull (0,2/3)-(1/3,0) meets the diagonal at
    # 3x + 1.5x = 1, x = 2/9 (the empirical curve only touches it at (1/3, 1/3), threshold 0.6)
    scores = [0.9, 0.6, 0.4, 0.7, 0.3, 0.1]
    target = [True, True, True, False, False, False]
    eer, threshold = equal_error_rate(scores, target)
    assert eer == pytest.approx(2 / 9) and threshold == 0.6
    # p_target 0.5: C_norm = P_miss + P_fa, best 1/3 at t = 0.4; p_target 0.01: P_miss + 99 P_fa, 2/3 at 0.9
    assert min_dcf(scores, target, p_target=0.5) == pytest.approx((1 / 3, 0.4))
    assert min_dcf(scores, target, p_target=0.01) == pytest.approx((2 / 3, 0.9))


def test_perfect_separation_and_identical_distributions() -> None:
    eer, threshold = equal_error_rate([0.8, 0.9, 0.7, 0.1, 0.2], [True, True, True, False, False])
    assert eer == 0.0 and threshold == 0.7
    assert min_dcf([0.8, 0.9, 0.7, 0.1, 0.2], [True, True, True, False, False])[0] == 0.0
    same = [0.1, 0.5, 0.9, 0.3]
    assert equal_error_rate(same + same, [True] * 4 + [False] * 4)[0] == pytest.approx(0.5)
    assert min_dcf(same + same, [True] * 4 + [False] * 4)[0] == pytest.approx(1.0)
    rng = np.random.default_rng(1)
    draws = rng.normal(size=4000)
    eer, _ = equal_error_rate(draws, np.arange(4000) < 2000)
    assert abs(eer - 0.5) < 0.03
    # every target below every non-target: the empirical curve runs through (1, 1), but the hull joins the
    # trivial points (0, 1) and (1, 0) (accept none, accept all), so the ROCCH EER is at most 0.5
    assert equal_error_rate([0.1, 0.2, 0.8, 0.9], [True, True, False, False])[0] == pytest.approx(0.5)


@pytest.mark.parametrize("seed", range(6))
@pytest.mark.parametrize("ties", [False, True])
def test_against_every_threshold(seed: int, ties: bool) -> None:
    scores, target = random_case(seed, ties=ties)
    points = scan(scores, target)
    eer, threshold = equal_error_rate(scores, target)
    assert eer == pytest.approx(hull_eer([(fa, miss) for _, fa, miss in points]), abs=1e-12)
    assert eer <= min(max(fa, miss) for _, fa, miss in points) + 1e-12
    gaps = {t: abs(fa - miss) for t, fa, miss in points}
    assert gaps[threshold] == pytest.approx(min(gaps.values()))
    for p, cm, cf in ((0.01, 1.0, 1.0), (0.05, 1.0, 1.0), (0.5, 1.0, 1.0), (0.3, 10.0, 1.0), (0.9, 1, 3)):
        dcf, t = min_dcf(scores, target, p, cm, cf)
        assert dcf == pytest.approx(brute_dcf(scores, target, p, cm, cf), abs=1e-12)
        assert 0.0 <= dcf <= 1.0 + 1e-12
        fa, miss = next((fa, miss) for u, fa, miss in points if u == t)
        assert dcf == pytest.approx((cm * miss * p + cf * fa * (1 - p)) / min(cm * p, cf * (1 - p)))


@pytest.mark.parametrize("transform", [np.exp, lambda s: 3 * s - 7, np.arctan, lambda s: s**3])
def test_monotone_transforms_leave_the_metrics_unchanged(transform: object) -> None:
    scores, target = random_case(7, 30, 40, ties=True)
    s = np.array(scores)
    moved = transform(s)  # type: ignore[operator]
    assert equal_error_rate(moved, target)[0] == pytest.approx(equal_error_rate(s, target)[0], abs=1e-12)
    for p in (0.01, 0.2):
        assert min_dcf(moved, target, p)[0] == pytest.approx(min_dcf(s, target, p)[0], abs=1e-12)
    eer_t = equal_error_rate(s, target)[1]
    assert equal_error_rate(moved, target)[1] == pytest.approx(float(transform(np.array(eer_t))))  # type: ignore[operator]


def test_against_sklearn_roc_curve() -> None:
    metrics = pytest.importorskip("sklearn.metrics", reason="scikit-learn is not installed")
    for seed in range(4):
        scores, target = random_case(seed + 10, 200, 300)
        fpr, tpr, _ = metrics.roc_curve(target, scores, drop_intermediate=False)
        points = list(zip(fpr.tolist(), (1 - tpr).tolist(), strict=True))
        eer = equal_error_rate(scores, target)[0]
        assert eer == pytest.approx(hull_eer(points), abs=1e-12)
        # the usual recipe (linear interpolation of sklearn's ROC at fnr = fpr) lies on or above the hull,
        # within a few steps of it
        k = int(np.flatnonzero(1 - tpr <= fpr)[0])
        a, b = (fpr[k - 1], 1 - tpr[k - 1]), (fpr[k], 1 - tpr[k])
        lam = (a[1] - a[0]) / ((a[1] - a[0]) - (b[1] - b[0]))
        linear = a[0] + lam * (b[0] - a[0])
        assert linear - 4 / 200 <= eer <= linear + 1e-12


def test_trial_list_properties() -> None:
    labels = np.repeat(np.arange(6), [5, 7, 3, 9, 4, 2])
    rng = np.random.default_rng(0)
    labels = labels[rng.permutation(len(labels))]
    trials = trial_list(labels, 101, seed=3)
    assert len(trials) == 101 and int(trials.is_target.sum()) == 50
    assert (trials.left != trials.right).all()
    assert ((labels[trials.left] == labels[trials.right]) == trials.is_target).all()
    pairs = {frozenset(p) for p in zip(trials.left.tolist(), trials.right.tolist(), strict=True)}
    assert len(pairs) == 101
    again = trial_list(labels, 101, seed=3)
    assert (again.left == trials.left).all() and (again.right == trials.right).all()
    other = trial_list(labels, 101, seed=4)
    assert not ((other.left == trials.left).all() and (other.right == trials.right).all())
    # every target pair (10+21+3+36+6+1 = 77) can be drawn: asking for all of them returns each once
    every = trial_list(labels, 154, seed=0)
    targets = {
        frozenset(p)
        for p, g in zip(
            zip(every.left.tolist(), every.right.tolist(), strict=True), every.is_target, strict=True
        )
        if g
    }
    expected = {frozenset((i, j)) for i, j in itertools.combinations(range(30), 2) if labels[i] == labels[j]}
    assert targets == expected
    with pytest.raises(ValueError, match="77 target pairs"):
        trial_list(labels, 156, seed=0)
    with pytest.raises(ValueError, match="target pairs"):
        trial_list(np.arange(5), 4, seed=0)


def test_trial_draws_are_uniform_over_pairs() -> None:
    labels = np.array([0, 0, 0, 1, 1, 2])  # 4 target pairs, 11 non-target pairs
    counts: dict[frozenset[int], int] = {}
    for seed in range(2000):
        t = trial_list(labels, 2, seed)
        for i, j in zip(t.left.tolist(), t.right.tolist(), strict=True):
            counts[frozenset((i, j))] = counts.get(frozenset((i, j)), 0) + 1
    assert len(counts) == 15
    target = [c for p, c in counts.items() if len({int(labels[i]) for i in p}) == 1]
    non = [c for p, c in counts.items() if len({int(labels[i]) for i in p}) == 2]
    assert min(target) > 2000 / 4 * 0.8 and min(non) > 2000 / 11 * 0.75


def test_cosine_scores_and_report() -> None:
    e = np.array([[1.0, 0.0], [2.0, 0.0], [0.0, 3.0], [-1.0, 0.0], [0.0, 0.0]])
    trials = trial_list(np.array([0, 0, 1, 1, 2]), 4, seed=0)
    scores = cosine_scores(e, trials)
    for k in range(4):
        a, b = e[trials.left[k]], e[trials.right[k]]
        na, nb = np.linalg.norm(a), np.linalg.norm(b)
        assert scores[k] == pytest.approx(0.0 if na * nb == 0 else a @ b / (na * nb))
    clustered = np.repeat(np.eye(3), 4, axis=0) + 0.01 * np.random.default_rng(0).normal(size=(12, 3))
    report = verification_report(clustered, trial_list(np.repeat(np.arange(3), 4), 30, seed=1))
    assert report == {"eer": 0.0, "min_dcf": 0.0}
