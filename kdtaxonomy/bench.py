"""Reproduction benchmark results (torch-free): result files, aggregation over seeds, paired statistics.

``kdtax bench`` (:mod:`kdtaxonomy.commands.bench`) writes one JSON file per run to
``<results>/<id>/<config>/seed-<s>.json``; this module reads them back and aggregates them per configuration.
The student alone of each run is the matched baseline (the same pipeline without distillation terms, same
seed), so the primary statistic is the paired difference distilled − alone over seeds, with its Student-t
95% CI and the paired t-test's p (Welch's test is kept in the summaries for continuity).
Reproduced numbers are kept apart from the catalog's reported results: they are never written into entries.
"""

from __future__ import annotations

import json
import math
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kdtaxonomy.stats import Paired as Paired  # re-exported: agg.paired.ci95
from kdtaxonomy.stats import Welch as Welch  # re-exported: agg.welch.p
from kdtaxonomy.stats import paired as paired_t_test
from kdtaxonomy.stats import welch

RESULT_FORMAT = "kdtax-bench/2"
"""Value of the ``format`` (and ``protocol``) key of every results file: budgets in optimizer steps, cosine
decay, model selection on a stratified validation split, the test set read once, a matched student alone
(the same pipeline with ``knowledge=[]``, paired by seed) and a fixed thread count (BENCHMARKS.md)."""

ACCURACY_FIELDS = ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy")
METRIC_SUFFIXES = ("_accuracy", "_eer", "_min_dcf", "_bleu", "_chrf")
"""Result fields kept per seed in :attr:`Aggregate.metrics` (verification runs add EER and minDCF, sequence
runs BLEU and chrF)."""

PAIRED_NOTE = (
    f"Protocol {RESULT_FORMAT}: the student alone is the matched baseline (the same pipeline without its "
    "distillation terms, same seed), so Δ = distilled − alone is paired by seed; Δ is the mean paired "
    "difference in points with its Student-t 95% CI, p the two-sided paired t-test, wins the seeds with Δ > 0."
)
"""One sentence for every renderer of reproduced results: what the baseline and the statistics are."""


def default_results_dir() -> Path:
    """``$KDTAX_RESULTS`` if set, else ``results/`` next to the package (the repository's)."""
    env = os.environ.get("KDTAX_RESULTS")
    if env:
        return Path(env)
    return Path(__file__).resolve().parent.parent / "results"


def result_path(results_dir: Path, entry_id: str, config: str, seed: int) -> Path:
    return results_dir / entry_id / config / f"seed-{seed}.json"


# -- statistics ---------------------------------------------------------------------------------------------
def mean(values: list[float]) -> float | None:
    return sum(values) / len(values) if values else None


def stdev(values: list[float]) -> float | None:
    """Sample standard deviation (ddof=1); None for fewer than two values."""
    if len(values) < 2:
        return None
    m = sum(values) / len(values)
    return math.sqrt(sum((v - m) ** 2 for v in values) / (len(values) - 1))


def welch_t_test(a: list[float], b: list[float]) -> Welch | None:
    """Welch's unequal-variance t-test of mean(a) vs mean(b) (:func:`kdtaxonomy.stats.welch`)."""
    return welch(a, b)


# -- results files ------------------------------------------------------------------------------------------
@dataclass
class Aggregate:
    """One configuration's reproduced results over seeds."""

    entry_id: str
    config: str
    seeds: list[int]
    teacher: list[float]
    alone: list[float]
    distilled: list[float]
    failed: dict[int, str] = field(default_factory=dict)
    extra: dict[str, list[float]] = field(default_factory=dict)
    dataset: dict[str, Any] = field(default_factory=dict)
    commits: list[str] = field(default_factory=list)
    settings: list[dict[str, Any]] = field(default_factory=list)
    wall_seconds: float = 0.0
    baseline: dict[str, Any] = field(default_factory=dict)
    """The matched baseline's description (``baseline`` of the first run that has one)."""
    protocol: str = RESULT_FORMAT
    metrics: dict[str, dict[int, float]] = field(default_factory=dict)
    """Every numeric metric of the runs (``*_accuracy``, ``*_eer``, ``*_min_dcf``) by seed."""
    on: str | None = None
    """Dataset key of runs on another dataset than the configuration's own (``results/<key>/``), else None."""

    @property
    def n(self) -> int:
        return len(self.seeds)

    @property
    def difference(self) -> float | None:
        a, d = mean(self.alone), mean(self.distilled)
        return None if a is None or d is None else d - a

    @property
    def paired(self) -> Paired | None:
        """Paired t-test of distilled vs alone over the seeds (the lists are aligned by seed)."""
        return paired_t_test(self.distilled, self.alone)

    @property
    def welch(self) -> Welch | None:
        return welch_t_test(self.distilled, self.alone)

    def verification(self) -> dict[str, Any] | None:
        """EER (%) and minDCF of teacher, student alone and distilled student (mean, std) and the paired
        EER difference distilled − alone (negative: the distilled student verifies better); None when the
        runs were not scored as verification."""
        if "student_eer" not in self.metrics:
            return None
        out: dict[str, Any] = {}
        for name in ("teacher", "student_baseline", "student"):
            for metric in ("eer", "min_dcf"):
                values = list(self.metrics.get(f"{name}_{metric}", {}).values())
                out[f"{name}_{metric}"] = {"mean": mean(values), "std": stdev(values), "n": len(values)}
        alone, distilled = self.metrics.get("student_baseline_eer", {}), self.metrics["student_eer"]
        seeds = sorted(set(alone) & set(distilled))
        test = paired_t_test([distilled[s] for s in seeds], [alone[s] for s in seeds])
        out["eer_paired"] = (
            None
            if test is None
            else {
                "n": test.n,
                "delta_mean": test.delta_mean,
                "delta_ci95": list(test.ci95),
                "p": test.p,
            }
        )
        return out

    def summary(self) -> dict[str, Any]:
        """Plain data (JSON) of the aggregate."""
        welch = self.welch
        test = self.paired
        return {
            "id": self.entry_id,
            "configuration": self.config,
            "on": self.on,
            "protocol": self.protocol,
            "n": self.n,
            "seeds": self.seeds,
            "failed": {str(k): v for k, v in self.failed.items()},
            "teacher": {"mean": mean(self.teacher), "std": stdev(self.teacher), "n": len(self.teacher)},
            "alone": {"mean": mean(self.alone), "std": stdev(self.alone)},
            "distilled": {"mean": mean(self.distilled), "std": stdev(self.distilled)},
            "difference": self.difference,
            "paired": None
            if test is None
            else {
                "n": test.n,
                "delta_mean": test.delta_mean,
                "delta_ci95": list(test.ci95),
                "p": test.p,
                "wins": test.wins,
            },
            "welch": None if welch is None else {"t": welch.t, "df": welch.df, "p": welch.p},
            "baseline": self.baseline,
            "extra": {k: {"mean": mean(v), "std": stdev(v)} for k, v in self.extra.items()},
            "verification": self.verification(),
            "dataset": self.dataset,
            "commits": self.commits,
            "settings": self.settings,
            "wall_seconds": self.wall_seconds,
        }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)


def _check(data: Any, path: Path) -> str | None:
    """Why ``data`` is not a valid results file (None if it is)."""
    if not isinstance(data, dict):
        return "not a JSON object"
    if data.get("format") != RESULT_FORMAT:
        return f"format is {data.get('format')!r}, expected {RESULT_FORMAT!r}"
    for key, kind in (("id", str), ("configuration", str), ("seed", int), ("status", str)):
        if not isinstance(data.get(key), kind):
            return f"missing or invalid {key!r}"
    if (data["id"], data["configuration"], f"seed-{data['seed']}.json") != (
        path.parent.parent.name,
        path.parent.name,
        path.name,
    ):
        return "id/configuration/seed do not match the file's location"
    return check_outcome(data)


def check_outcome(data: dict[str, Any]) -> str | None:
    """Why a results record's status and accuracies are invalid (None if they are fine)."""
    if data["status"] == "ok":
        for key in ("student_baseline_accuracy", "student_accuracy"):
            if not _number(data.get(key)):
                return f"missing or non-numeric {key!r}"
        if data.get("teacher_accuracy") is not None and not _number(data["teacher_accuracy"]):
            return "non-numeric 'teacher_accuracy'"
    elif data["status"] != "failed":
        return f"unknown status {data['status']!r}"
    return None


def read_results(results_dir: Path, problems: list[str] | None = None) -> list[dict[str, Any]]:
    """Every valid results file under ``results_dir``; malformed ones are reported in ``problems``."""
    found: list[dict[str, Any]] = []
    if not results_dir.is_dir():
        return found
    for path in sorted(results_dir.glob("*/*/seed-*.json")):
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
            if problems is not None:
                problems.append(f"{path}: skipped, unreadable results file: {exc}")
            continue
        reason = _check(data, path)
        if reason is not None:
            if problems is not None:
                problems.append(f"{path}: skipped, malformed results file: {reason}")
            continue
        found.append(data)
    return found


def aggregate(runs: list[dict[str, Any]]) -> dict[tuple[str, str], Aggregate]:
    """Group run records by (id, configuration) and collect their accuracies."""
    out: dict[tuple[str, str], Aggregate] = {}
    for run in sorted(runs, key=lambda r: (r["id"], r["configuration"], r["seed"])):
        key = (run["id"], run["configuration"])
        agg = out.setdefault(key, Aggregate(key[0], key[1], [], [], [], []))
        if run["status"] != "ok":
            agg.failed[run["seed"]] = str(run.get("error") or "failed")
            continue
        alone: Any = run.get("student_baseline_accuracy")
        distilled: Any = run.get("student_accuracy")
        if not (_number(alone) and _number(distilled)):  # keeps seeds, alone and distilled aligned
            agg.failed[run["seed"]] = "no student alone and distilled accuracies"
            continue
        agg.seeds.append(run["seed"])
        if _number(run.get("teacher_accuracy")):
            agg.teacher.append(float(run["teacher_accuracy"]))
        agg.alone.append(float(alone))
        agg.distilled.append(float(distilled))
        if not agg.baseline and isinstance(run.get("baseline"), dict):
            agg.baseline = run["baseline"]
        if agg.n == 1 and isinstance(run.get("protocol"), str):  # the first run's protocol
            agg.protocol = run["protocol"]
        for name, value in run.items():
            if name.endswith(METRIC_SUFFIXES) and _number(value):
                agg.metrics.setdefault(name, {})[run["seed"]] = float(value)
            if name.endswith("_accuracy") and name not in ACCURACY_FIELDS and _number(value):
                agg.extra.setdefault(name, []).append(float(value))
        prov = run.get("provenance") or {}
        if not agg.dataset and isinstance(prov.get("dataset"), dict):
            agg.dataset = prov["dataset"]
        commit = prov.get("git_commit")
        if isinstance(commit, str) and commit not in agg.commits:
            agg.commits.append(commit)
        settings = prov.get("settings")
        if isinstance(settings, dict) and settings not in agg.settings:
            agg.settings.append(settings)
        if _number(run.get("wall_seconds")):
            agg.wall_seconds += float(run["wall_seconds"])
    return out


def load_reproduced(
    results_dir: Path | None = None, problems: list[str] | None = None
) -> dict[tuple[str, str], Aggregate]:
    """Reproduced results per (id, configuration), from the results files (malformed ones flagged, skipped)."""
    return aggregate(read_results(results_dir or default_results_dir(), problems))


def dataset_result_dirs(results_dir: Path | None = None) -> dict[str, Path]:
    """The ``results/<dataset>/`` folders (a dataset registry key each): runs of configurations on another
    dataset than their own, e.g. ``kdtax bench ID --dataset fsdd`` (``results/fsdd/<id>/<config>/``)."""
    from kdtaxonomy.specs import load_specs

    base = results_dir or default_results_dir()
    keys = load_specs().get("dataset", {})
    if not base.is_dir():
        return {}
    return {p.name: p for p in sorted(base.iterdir()) if p.is_dir() and p.name in keys}


def load_reproduced_on(
    results_dir: Path | None = None, problems: list[str] | None = None
) -> dict[tuple[str, str, str], Aggregate]:
    """Reproduced results on other datasets per (dataset key, id, configuration): ``results/<key>/``."""
    out: dict[tuple[str, str, str], Aggregate] = {}
    for key, folder in dataset_result_dirs(results_dir).items():
        for (entry_id, config), agg in aggregate(read_results(folder, problems)).items():
            agg.on = key
            out[(key, entry_id, config)] = agg
    return out


def load_reproduced_all(
    results_dir: Path | None = None, problems: list[str] | None = None
) -> list[Aggregate]:
    """Every reproduced aggregate: the embedded benchmark's (``results/<id>/<config>/``) and those on other
    datasets (``results/<dataset>/<id>/<config>/``), sorted by id, configuration, dataset."""
    found = [
        *load_reproduced(results_dir, problems).values(),
        *load_reproduced_on(results_dir, problems).values(),
    ]
    return sorted(found, key=lambda a: (a.entry_id, a.config, a.on or ""))


# -- formatting ---------------------------------------------------------------------------------------------
def fmt_mean_std(values: list[float]) -> str:
    m, s = mean(values), stdev(values)
    if m is None:
        return "-"
    return f"{m:.2f}" + (f" ± {s:.2f}" if s is not None else "")


def fmt_p(p: float | None) -> str:
    if p is None:
        return "-"
    return f"{p:.3f}" if p >= 0.001 else f"{p:.1e}"


def fmt_dataset(dataset: dict[str, Any]) -> str:
    """Short form: the dataset's name and train/test sizes (the full generation arguments are in the files)."""
    if not dataset:
        return "-"
    sizes = [f"{k}={dataset[k]}" for k in ("num_train", "num_test") if k in dataset]
    return f"{dataset.get('name', '?')}" + (f" ({', '.join(sizes)})" if sizes else "")


def fmt_delta(test: Paired | None, single: float | None = None) -> str:
    """``+1.23 [+0.40, +2.06]``: the mean paired difference and its 95% CI (``single`` alone for one seed)."""
    if test is None:
        return "-" if single is None else f"{single:+.2f}"
    low, high = test.ci95
    return f"{test.delta_mean:+.2f} [{low:+.2f}, {high:+.2f}]"


def _paired_metric(agg: Aggregate, metric: str) -> str:
    """``teacher …, alone …, distilled …; Δ … [CI], p = …`` of a per-seed metric (``bleu``, ``chrf``)."""
    values = {
        name: agg.metrics.get(f"{name}_{metric}", {}) for name in ("teacher", "student_baseline", "student")
    }
    seeds = sorted(set(values["student"]) & set(values["student_baseline"]))
    test = paired_t_test(
        [values["student"][s] for s in seeds], [values["student_baseline"][s] for s in seeds]
    )
    cells = [fmt_mean_std(list(values[name].values())) for name in values]
    return (
        f"teacher {cells[0]}, alone {cells[1]}, distilled {cells[2]}; Δ {fmt_delta(test)}, "
        f"p = {fmt_p(None if test is None else test.p)}"
    )


def fmt_verification(agg: Aggregate) -> str | None:
    """The line of a configuration's second metrics: ``EER (%): teacher …, alone …, distilled …; Δ EER …`` of
    a verification aggregate, BLEU and chrF of a sequence aggregate (paired by seed); None otherwise."""
    if "student_bleu" in agg.metrics:
        where = f"{agg.config}{' on ' + agg.on if agg.on else ''}"
        return f"{where}: BLEU {_paired_metric(agg, 'bleu')}. chrF {_paired_metric(agg, 'chrf')}"
    data = agg.verification()
    if data is None:
        return None

    def cell(name: str) -> str:
        return fmt_mean_std(list(agg.metrics.get(f"{name}_eer", {}).values()))

    test = data["eer_paired"]
    delta = (
        "-"
        if test is None
        else f"{test['delta_mean']:+.2f} [{test['delta_ci95'][0]:+.2f}, {test['delta_ci95'][1]:+.2f}], "
        f"p = {fmt_p(test['p'])}"
    )
    return (
        f"{agg.config}{' on ' + agg.on if agg.on else ''}: EER % (lower is better) teacher "
        f"{cell('teacher')}, alone {cell('student_baseline')}, distilled {cell('student')}; "
        f"Δ EER distilled − alone {delta}"
    )


def table_row(agg: Aggregate) -> list[str]:
    """Cells: configuration, teacher, alone, distilled, seeds, Δ [95% CI], paired p, wins."""
    test = agg.paired
    failed = f" (+{len(agg.failed)} failed)" if agg.failed else ""
    wins = test.wins if test else sum(1 for d, a in zip(agg.distilled, agg.alone, strict=True) if d > a)
    return [
        agg.config + (f" on {agg.on}" if agg.on else ""),
        fmt_mean_std(agg.teacher),
        fmt_mean_std(agg.alone),
        fmt_mean_std(agg.distilled),
        f"{agg.n}{failed}",
        fmt_delta(test, agg.difference),
        fmt_p(None if test is None else test.p),
        f"{wins}/{agg.n}" if agg.n else "-",
    ]


TABLE_HEADER = (
    "Configuration",
    "Teacher",
    "Student alone",
    "Distilled",
    "Seeds",
    "Δ [95% CI]",
    "p (paired)",
    "Wins",
)
