"""Verification (detection) metrics: trial lists, cosine scoring, the equal error rate and the minimum DCF.

A *trial* compares two test items; it is a *target* trial when both have the same label (same speaker, same
person) and a *non-target* trial otherwise. A system accepts a trial when its score is at least a threshold
``t``: ``P_miss(t)`` is the fraction of target trials rejected (false rejection), ``P_fa(t)`` the fraction of
non-target trials accepted (false acceptance). Thresholds range over ``+inf`` (reject all: ``P_miss = 1``,
``P_fa = 0``), every distinct score, and so down to accepting all; tied scores cannot be separated by a
threshold, so each distinct score is one operating point.

- EER, in the ROC convex hull (ROCCH) interpretation of Brümmer and de Villiers, "The BOSARIS Toolkit:
  Theory, Algorithms and Code for Surviving the New DCF" (arXiv:1304.2865, 2013; the toolkit's
  ``rocch2eer``): the operating points ``(P_fa, P_miss)`` are replaced by their lower convex hull, the
  points reachable by randomising between two thresholds, and the EER is where that piecewise-linear hull
  crosses ``P_fa = P_miss``. It equals the minimum of ``max(P_fa, P_miss)`` over all mixtures of two
  operating points, is at most the best empirical ``max(P_fa, P_miss)``, and is well defined when the
  empirical curve steps over the diagonal (few trials). The hull holds the trivial points ``(0, 1)`` and
  ``(1, 0)``, so the EER is at most 0.5 (reached by scores no better than chance).
- minDCF, as in the NIST Speaker Recognition Evaluation plans (SRE 2016 plan, Section 3, Eqs. 2-4, the
  definition Kaldi's ``sid/compute_min_dcf.py`` implements): ``C_det(t) = c_miss P_miss(t) p_target +
  c_fa P_fa(t) (1 - p_target)``, normalised by the cost of the best system without input, ``C_default =
  min(c_miss p_target, c_fa (1 - p_target))``, minimised over thresholds (both extremes included, so the
  value is at most 1).

Both depend on the scores only through their order, so any strictly increasing transform leaves them
unchanged. numpy only; torch is not imported here.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

Floats = npt.NDArray[np.float64]
Ints = npt.NDArray[np.int64]
Bools = npt.NDArray[np.bool_]


@dataclass(frozen=True)
class Trials:
    """A trial list: rows ``left[k]``, ``right[k]`` of the test split compared, and whether they share a label."""

    left: Ints
    right: Ints
    is_target: Bools

    def __len__(self) -> int:
        return int(self.left.shape[0])


def _within_class_pairs(members: Ints, picks: Ints) -> tuple[Ints, Ints]:
    """Pairs ``(members[a], members[b])``, ``a < b``, numbered row by row (0: (0,1), 1: (0,2), ...)."""
    n = len(members)
    starts = np.arange(n) * n - np.arange(n) * (np.arange(n) + 1) // 2  # first number of row a
    a = np.searchsorted(starts, picks, side="right") - 1
    b = a + 1 + (picks - starts[a])
    return members[a], members[b]


def trial_list(labels: Any, n_trials: int, seed: int) -> Trials:
    """``n_trials // 2`` target and ``n_trials - n_trials // 2`` non-target trials over ``labels``.

    Each kind is drawn uniformly without replacement from the unordered pairs ``{i, j}``, ``i != j``, of that
    kind (no self-pairs, no repeated pair), with ``numpy.random.default_rng(seed)``, then shuffled together;
    the same labels and seed give the same list. A ``ValueError`` when the labels hold fewer pairs of a kind
    than asked for.
    """
    y = np.asarray(labels).reshape(-1)
    if n_trials < 2:
        raise ValueError(f"a trial list needs at least 2 trials (one of each kind), got {n_trials}")
    n_target, n_non = n_trials // 2, n_trials - n_trials // 2
    order = np.argsort(y, kind="stable").astype(np.int64)
    classes, starts, counts = np.unique(y[order], return_index=True, return_counts=True)
    within = counts * (counts - 1) // 2
    total = len(y) * (len(y) - 1) // 2
    have = {"target": int(within.sum()), "non-target": int(total - within.sum())}
    for kind, want in (("target", n_target), ("non-target", n_non)):
        if have[kind] < want:
            raise ValueError(
                f"{len(y)} items in {len(classes)} classes hold {have[kind]} {kind} pairs; "
                f"{want} were asked for ({n_trials} trials, half of each kind)"
            )
    rng = np.random.default_rng(seed)
    # targets: a number in [0, sum of within-class pairs) -> its class, then the pair within the class
    picks = rng.choice(have["target"], size=n_target, replace=False).astype(np.int64)
    offsets = np.concatenate([[0], np.cumsum(within)])
    cls = np.searchsorted(offsets, picks, side="right") - 1
    left_t, right_t = np.empty(n_target, np.int64), np.empty(n_target, np.int64)
    for c in np.unique(cls):
        rows = cls == c
        members = order[starts[c] : starts[c] + counts[c]]
        left_t[rows], right_t[rows] = _within_class_pairs(members, picks[rows] - offsets[c])
    # non-targets: sorted position p pairs with every position after the end of its class
    ends = np.repeat(starts + counts, counts)
    partners = len(y) - ends
    cum = np.cumsum(partners)
    picks = rng.choice(have["non-target"], size=n_non, replace=False).astype(np.int64)
    p = np.searchsorted(cum, picks, side="right")
    q = ends[p] + (picks - (cum[p] - partners[p]))
    left = np.concatenate([left_t, order[p]])
    right = np.concatenate([right_t, order[q]])
    is_target = np.concatenate([np.ones(n_target, np.bool_), np.zeros(n_non, np.bool_)])
    shuffle = rng.permutation(n_trials)
    return Trials(left[shuffle], right[shuffle], is_target[shuffle])


def cosine_scores(embeddings: Any, trials: Trials) -> Floats:
    """Cosine similarity ``<e_i, e_j> / (|e_i| |e_j|)`` of every trial's two embeddings (rows of
    ``embeddings``, flattened per row; a zero vector scores 0)."""
    e = np.asarray(embeddings, dtype=np.float64).reshape(len(embeddings), -1)
    norms = np.linalg.norm(e, axis=1, keepdims=True)
    unit = e / np.where(norms > 0, norms, 1.0)
    scores: Floats = np.einsum("kd,kd->k", unit[trials.left], unit[trials.right])
    return scores


def operating_points(scores: Any, is_target: Any) -> tuple[Floats, Floats, Floats]:
    """``(P_fa, P_miss, thresholds)`` of accepting ``score >= t`` for ``t = +inf`` and every distinct score in
    decreasing order (``P_fa`` non-decreasing, ``P_miss`` non-increasing)."""
    s = np.asarray(scores, dtype=np.float64).reshape(-1)
    tgt = np.asarray(is_target, dtype=np.bool_).reshape(-1)
    if s.shape != tgt.shape:
        raise ValueError(f"{s.size} scores but {tgt.size} target flags")
    if not np.isfinite(s).all():
        raise ValueError("scores must be finite")
    n_t, n_n = int(tgt.sum()), int((~tgt).sum())
    if n_t == 0 or n_n == 0:
        raise ValueError(f"need target and non-target trials, got {n_t} target and {n_n} non-target")
    order = np.argsort(-s, kind="stable")
    s, tgt = s[order], tgt[order]
    last = np.flatnonzero(np.append(s[1:] != s[:-1], True))  # the last trial of each group of equal scores
    hits, false_alarms = np.cumsum(tgt)[last], np.cumsum(~tgt)[last]
    p_fa = np.concatenate([[0.0], false_alarms / n_n])
    p_miss = np.concatenate([[1.0], 1.0 - hits / n_t])
    thresholds = np.concatenate([[np.inf], s[last]])
    return p_fa, p_miss, thresholds


def _cross(o: Floats, a: Floats, b: Floats) -> float:
    return float((a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0]))


def rocch(p_fa: Floats, p_miss: Floats) -> tuple[Floats, Floats]:
    """Vertices of the lower convex hull of the points ``(p_fa, p_miss)`` (Andrew's monotone chain), by
    increasing ``p_fa``: the ROC convex hull from ``(0, min P_miss at P_fa = 0)`` to ``(1, 0)``."""
    points = sorted(set(zip(p_fa.tolist(), p_miss.tolist(), strict=True)))
    hull: list[Floats] = []
    for x, y in points:
        if hull and hull[-1][0] == x:
            continue  # same P_fa: the first (lowest P_miss, sorted) is kept
        point = np.array([x, y])
        while len(hull) >= 2 and _cross(hull[-2], hull[-1], point) <= 0:
            hull.pop()
        hull.append(point)
    stacked = np.array(hull)
    return stacked[:, 0], stacked[:, 1]


def equal_error_rate(scores: Any, is_target: Any) -> tuple[float, float]:
    """The ROCCH equal error rate and a threshold near it (see the module docstring).

    The EER is where the ROC convex hull, linear between its vertices, meets ``P_fa = P_miss``. The
    threshold returned is that of the empirical operating point (accept ``score >= t``) with the smallest
    ``|P_fa - P_miss|`` (the higher threshold on ties): the hull point itself is in general reached only by
    randomising between two thresholds.
    """
    p_fa, p_miss, thresholds = operating_points(scores, is_target)
    x, y = rocch(p_fa, p_miss)
    gap = y - x  # strictly decreasing along the hull, from >= 0 at P_fa = 0 to -1 at P_fa = 1
    k = int(np.flatnonzero(gap >= 0)[-1])
    if gap[k] == 0:
        eer = float(x[k])
    else:
        frac = gap[k] / (gap[k] - gap[k + 1])
        eer = float(x[k] + frac * (x[k + 1] - x[k]))
    best = int(np.argmin(np.abs(p_fa - p_miss)))
    return eer, float(thresholds[best])


def min_dcf(
    scores: Any, is_target: Any, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> tuple[float, float]:
    """The minimum normalised detection cost (NIST SRE) and the threshold reaching it (``score >= t``
    accepted; ``inf`` when rejecting every trial is best): ``min_t [c_miss P_miss(t) p_target + c_fa P_fa(t)
    (1 - p_target)] / min(c_miss p_target, c_fa (1 - p_target))``."""
    if not 0.0 < p_target < 1.0 or c_miss <= 0 or c_fa <= 0:
        raise ValueError(f"need 0 < p_target < 1 and positive costs, got {p_target}, {c_miss}, {c_fa}")
    p_fa, p_miss, thresholds = operating_points(scores, is_target)
    cost = c_miss * p_miss * p_target + c_fa * p_fa * (1.0 - p_target)
    best = int(np.argmin(cost))
    default = min(c_miss * p_target, c_fa * (1.0 - p_target))
    return float(cost[best] / default), float(thresholds[best])


def verification_report(
    embeddings: Any, trials: Trials, p_target: float = 0.01, c_miss: float = 1.0, c_fa: float = 1.0
) -> dict[str, float]:
    """``eer`` (a fraction) and ``min_dcf`` of cosine-scored ``trials`` over ``embeddings``."""
    scores = cosine_scores(embeddings, trials)
    eer, _ = equal_error_rate(scores, trials.is_target)
    dcf, _ = min_dcf(scores, trials.is_target, p_target, c_miss, c_fa)
    return {"eer": eer, "min_dcf": dcf}
