"""The benchmark suite's table: distilled vs. the matched student alone per regime and method (torch-free).

The suite writes one file per run to ``<results>/suite/<regime>/<method>/seed-<s>.json``; runs are paired
by seed (the student alone is the same pipeline and seed without the distillation term), so each row
reports the mean paired difference Δ with its t interval and the paired t-test's p, next to the
method's published CIFAR-100 gain (:mod:`kdtaxonomy.published`). Per regime, a Spearman correlation
compares our ranking of the methods with the published one.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from kdtaxonomy.bench import check_outcome, default_results_dir, mean, stdev
from kdtaxonomy.published import Published, Source, load_published

SUITE_FORMAT = "kdtax-bench/2"
"""Value of the ``format`` (and ``protocol``) key of the suite's results files."""
NULL_CONTROL = "null-kd"
"""Method id of the null control (the KD term at weight 0, equal to the student alone by construction): left
out of the ranking."""
FORMATS = ("md", "csv", "json", "html", "latex")


@dataclass
class Row:
    """One method in one regime, over the seeds that finished."""

    regime: str
    method: str
    configuration: str | None
    n: int
    seeds: list[int]
    teacher_accuracy: float | None
    teacher_std: float | None
    alone_mean: float | None
    alone_std: float | None
    distilled_mean: float | None
    distilled_std: float | None
    gap: float | None
    """Teacher mean − student-alone mean."""
    delta_mean: float | None
    delta_std: float | None
    delta_ci95: tuple[float, float] | None
    p_paired: float | None
    wins: int
    failed: int
    published_method: str | None
    published_delta: float | None
    published_pairs: int
    chosen: str | None = None
    """The hyperparameter variant chosen on validation (e.g. ``scale=10``), as the runs record it."""


@dataclass(frozen=True)
class RegimeSpearman:
    """Rank correlation of our Δ with the published Δ over one regime's methods (None when undefined)."""

    regime: str
    rho: float | None
    p: float | None
    n: int
    methods: list[str]


@dataclass
class BenchmarkTable:
    rows: list[Row]
    spearman: list[RegimeSpearman]
    sources: list[Source]
    notes: list[str]
    problems: list[str] = field(default_factory=list)


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check(data: Any, path: Path) -> str | None:
    """Why ``data`` is not a suite results file (None if it is)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("format") != SUITE_FORMAT:
        return f"format is {data.get('format')!r}, expected {SUITE_FORMAT!r}"
    if data.get("kind", "suite") != "suite":
        return f"kind is {data.get('kind')!r}, expected 'suite'"
    for key, kind in (("regime", str), ("method", str), ("status", str)):
        if not isinstance(data.get(key), kind):
            return f"missing or invalid {key!r}"
    if not isinstance(data.get("seed"), int) or isinstance(data["seed"], bool):
        return "missing or invalid 'seed'"
    where = (path.parent.parent.name, path.parent.name, path.name)
    if (data["regime"], data["method"], f"seed-{data['seed']}.json") != where:
        return "regime/method/seed do not match the file's location"
    for key in ("configuration", "published_method"):
        if data.get(key) is not None and not isinstance(data[key], str):
            return f"non-text {key!r}"
    return check_outcome(data)


def read_suite(results_dir: Path, problems: list[str]) -> list[dict[str, Any]]:
    """Every valid suite results file; unreadable or malformed ones are reported in ``problems``."""
    runs: list[dict[str, Any]] = []
    for path in sorted((results_dir / "suite").glob("*/*/seed-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            problems.append(f"{path}: skipped, unreadable results file: {exc}")
            continue
        reason = _check(data, path)
        if reason is not None:
            problems.append(f"{path}: skipped, {reason}")
            continue
        runs.append(data)
    return runs


def _one(values: set[str | None], what: str, regime: str, method: str, problems: list[str]) -> str | None:
    named = sorted(v for v in values if v is not None)
    if len(named) > 1:
        problems.append(
            f"{regime}/{method}: runs name different {what}s ({', '.join(named)}); showing the first"
        )
    return named[0] if named else None


def _row(
    regime: str, method: str, runs: list[dict[str, Any]], published: Published, problems: list[str]
) -> Row:
    from kdtaxonomy.stats import paired

    ok = [r for r in runs if r["status"] == "ok"]
    teacher = [float(r["teacher_accuracy"]) for r in ok if _number(r.get("teacher_accuracy"))]
    alone = [float(r["student_baseline_accuracy"]) for r in ok]
    distilled = [float(r["student_accuracy"]) for r in ok]
    teacher_mean, alone_mean = mean(teacher), mean(alone)
    test = paired(distilled, alone)
    single = distilled[0] - alone[0] if len(ok) == 1 else None
    label = _one({r.get("published_method") for r in runs}, "published method", regime, method, problems)
    pub = published.get(label)
    return Row(
        regime=regime,
        method=method,
        configuration=_one({r.get("configuration") for r in runs}, "configuration", regime, method, problems),
        n=len(ok),
        seeds=[r["seed"] for r in ok],
        teacher_accuracy=teacher_mean,
        teacher_std=stdev(teacher),
        alone_mean=alone_mean,
        alone_std=stdev(alone),
        distilled_mean=mean(distilled),
        distilled_std=stdev(distilled),
        gap=None if teacher_mean is None or alone_mean is None else teacher_mean - alone_mean,
        delta_mean=test.delta_mean if test else single,
        delta_std=test.delta_std if test else None,
        delta_ci95=test.ci95 if test else None,
        p_paired=test.p if test else None,
        wins=test.wins if test else int(single is not None and single > 0),
        failed=len(runs) - len(ok),
        published_method=label,
        published_delta=pub.delta if pub else None,
        published_pairs=pub.pairs if pub else 0,
        chosen=_one({_variant(r) for r in ok}, "chosen variant", regime, method, problems),
    )


def _variant(run: dict[str, Any]) -> str | None:
    variant = (run.get("hyperparameters") or {}).get("variant")
    if not isinstance(variant, dict):
        return None
    return ",".join(f"{k}={v:g}" for k, v in variant.items() if isinstance(v, int | float))


def _order(regime: str, method: str) -> tuple[int, int, str, str]:
    """The suite's own order of regimes and methods (unknown ones last, alphabetically)."""
    from kdtaxonomy import suite

    regimes = [r.id for r in suite.REGIMES]
    methods = [m.id for m in suite.METHODS]
    return (
        regimes.index(regime) if regime in regimes else len(regimes),
        methods.index(method) if method in methods else len(methods),
        regime,
        method,
    )


def _published(problems: list[str]) -> Published:
    try:
        return load_published()
    except (OSError, ValueError) as exc:
        problems.append(f"published results unavailable ({exc}); the Published Δ column is empty")
        return Published()


def load_suite(
    results_dir: Path | None = None, problems: list[str] | None = None, published: Published | None = None
) -> list[Row]:
    """One row per (regime, method) of the suite's results, sorted; malformed files go to ``problems``."""
    problems = [] if problems is None else problems
    published = _published(problems) if published is None else published
    groups: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for run in read_suite(results_dir or default_results_dir(), problems):
        groups.setdefault((run["regime"], run["method"]), []).append(run)
    return [
        _row(regime, method, sorted(runs, key=lambda r: int(r["seed"])), published, problems)
        for (regime, method), runs in sorted(groups.items(), key=lambda item: _order(*item[0]))
    ]


def spearman_by_regime(rows: list[Row]) -> list[RegimeSpearman]:
    """Per regime: Spearman ρ of our Δ vs. the published Δ over the methods with both (no null control)."""
    from kdtaxonomy.stats import spearman

    out = []
    for regime in sorted({r.regime for r in rows}, key=lambda name: _order(name, "")):
        both = [
            r
            for r in rows
            if r.regime == regime
            and r.method != NULL_CONTROL
            and r.delta_mean is not None
            and r.published_delta is not None
        ]
        ours = [r.delta_mean for r in both if r.delta_mean is not None]
        theirs = [r.published_delta for r in both if r.published_delta is not None]
        result = spearman(ours, theirs)
        methods = [r.method for r in both]
        out.append(
            RegimeSpearman(
                regime, result.rho if result else None, result.p if result else None, len(both), methods
            )
        )
    return out


def build(results_dir: Path | None = None, regime: str | None = None) -> BenchmarkTable:
    """Rows (of one regime, or all), the Spearman lines, the published sources and every problem met."""
    problems: list[str] = []
    published = _published(problems)
    rows = load_suite(results_dir, problems, published)
    table = BenchmarkTable(rows, spearman_by_regime(rows), published.sources, list(published.notes), problems)
    return table if regime is None else only_regime(table, regime)


def only_regime(table: BenchmarkTable, regime: str) -> BenchmarkTable:
    """The table restricted to one regime."""
    return replace(
        table,
        rows=[r for r in table.rows if r.regime == regime],
        spearman=[s for s in table.spearman if s.regime == regime],
    )
