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
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

from kdtaxonomy.bench import default_results_dir, fmt_p, mean, stdev
from kdtaxonomy.published import Published, Source, load_published

SUITE_FORMAT = "kdtax-bench/2"
"""Value of the ``format`` (and ``protocol``) key of the suite's results files."""
NULL_CONTROL = "null-kd"
"""Method id of the null control (distillation with an uninformative teacher): left out of the ranking."""
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
    if data["status"] == "ok":
        for key in ("student_baseline_accuracy", "student_accuracy"):
            if not _number(data.get(key)):
                return f"missing or non-numeric {key!r}"
        if data.get("teacher_accuracy") is not None and not _number(data["teacher_accuracy"]):
            return "non-numeric 'teacher_accuracy'"
    elif data["status"] != "failed":
        return f"unknown status {data['status']!r}"
    return None


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
        for (regime, method), runs in sorted(groups.items())
    ]


def spearman_by_regime(rows: list[Row]) -> list[RegimeSpearman]:
    """Per regime: Spearman ρ of our Δ vs. the published Δ over the methods with both (no null control)."""
    from kdtaxonomy.stats import spearman

    out = []
    for regime in sorted({r.regime for r in rows}):
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


# -- rendering ----------------------------------------------------------------------------------------------
COLUMNS = [
    ("regime", "Regime"),
    ("method", "Method"),
    ("configuration", "Configuration"),
    ("teacher", "Teacher"),
    ("alone", "Alone"),
    ("distilled", "Distilled"),
    ("delta", "Δ [95% CI]"),
    ("p", "p (paired)"),
    ("n", "n"),
    ("wins", "wins"),
    ("published", "Published Δ (CIFAR-100)"),
]
CSV_KEYS = [
    *("regime", "method", "configuration", "published_method", "n", "failed", "wins"),
    *("teacher_accuracy", "teacher_std", "alone_mean", "alone_std", "distilled_mean", "distilled_std"),
    *("gap", "delta_mean", "delta_std", "delta_ci95_low", "delta_ci95_high", "p_paired"),
    *("published_delta", "published_pairs"),
]
CAPTION = (
    "Benchmark suite: test accuracy (%), mean ± std over seeds. Δ = distilled − student alone, paired by "
    "seed (same pipeline and seed without the distillation term), with its Student-t 95% CI and the "
    "two-sided paired t-test p; wins = seeds with a positive Δ. Published Δ: the method's mean CIFAR-100 gain "
    "over the student alone in the reference libraries."
)


def _finite(value: Any) -> Any:
    """JSON-safe data: tuples as lists, non-finite floats as None."""
    if isinstance(value, float):
        return value if math.isfinite(value) else None
    if isinstance(value, list | tuple):
        return [_finite(v) for v in value]
    if isinstance(value, dict):
        return {k: _finite(v) for k, v in value.items()}
    return value


def _mean_std(m: float | None, s: float | None) -> str:
    if m is None:
        return "-"
    return f"{m:.2f}" + (f" ± {s:.2f}" if s is not None else "")


def display_row(row: Row) -> dict[str, str]:
    """Cells of one row for md, html and latex."""
    delta = "-" if row.delta_mean is None else f"{row.delta_mean:+.2f}"
    if row.delta_ci95 is not None:
        delta += f" [{row.delta_ci95[0]:+.2f}, {row.delta_ci95[1]:+.2f}]"
    published = "-"
    if row.published_delta is not None:
        published = f"{row.published_delta:+.2f} ({row.published_method}, {row.published_pairs} pairs)"
    return {
        "regime": row.regime,
        "method": row.method,
        "configuration": row.configuration or "-",
        "teacher": _mean_std(row.teacher_accuracy, row.teacher_std),
        "alone": _mean_std(row.alone_mean, row.alone_std),
        "distilled": _mean_std(row.distilled_mean, row.distilled_std),
        "delta": delta,
        "p": fmt_p(row.p_paired),
        "n": f"{row.n}" + (f" (+{row.failed} failed)" if row.failed else ""),
        "wins": f"{row.wins}/{row.n}",
        "published": published,
    }


def spearman_line(s: RegimeSpearman) -> str:
    what = f"Spearman ρ ({s.regime}, our Δ vs published Δ, n={s.n})"
    if s.rho is None:
        return f"{what}: undefined (needs 3 or more methods with both, not all tied)"
    return f"{what}: {s.rho:+.3f}, p = {fmt_p(s.p)}; methods: {', '.join(s.methods)}"


def source_line(s: Source) -> str:
    return f"{s.repository}@{s.commit[:7]} {s.file}: {s.table}"


def to_data(table: BenchmarkTable) -> dict[str, Any]:
    """The JSON object of the table."""
    data: dict[str, Any] = _finite(
        {
            "protocol": SUITE_FORMAT,
            "rows": [asdict(r) for r in table.rows],
            "spearman": [asdict(s) for s in table.spearman],
            "sources": [asdict(s) for s in table.sources],
            "notes": table.notes,
            "problems": table.problems,
        }
    )
    return data


def _csv_row(row: Row) -> dict[str, Any]:
    data = asdict(row)
    low, high = row.delta_ci95 or (None, None)
    data.update(delta_ci95_low=low, delta_ci95_high=high)
    return data


def render(table: BenchmarkTable, fmt: str) -> str:
    """The table in ``md``, ``csv``, ``json``, ``html`` or ``latex``; Spearman lines follow the table."""
    from kdtaxonomy.render.formats import to_csv, to_json, to_markdown
    from kdtaxonomy.render.tables import TableData, to_html, to_latex

    if fmt == "json":
        return to_json(to_data(table))
    lines = [spearman_line(s) for s in table.spearman]
    if fmt == "csv":
        body = to_csv([_finite(_csv_row(r)) for r in table.rows], CSV_KEYS)
        return body + "".join(f"# {line}\n" for line in [*lines, *map(source_line, table.sources)])
    cells = [display_row(r) for r in table.rows]
    if fmt == "md":
        extra = [*lines, *table.notes, *(f"Source: {source_line(s)}" for s in table.sources)]
        body = to_markdown(cells, [k for k, _ in COLUMNS], [h for _, h in COLUMNS])
        return f"{CAPTION}\n\n{body}\n" + "".join(f"- {line}\n" for line in extra)
    main = TableData(CAPTION, COLUMNS, cells)
    ranks = TableData(
        "Spearman rank correlation of our Δ with the published Δ, per regime (null control left out).",
        [("regime", "Regime"), ("rho", "ρ"), ("p", "p"), ("n", "n"), ("methods", "Methods")],
        [
            {
                "regime": s.regime,
                "rho": "-" if s.rho is None else f"{s.rho:+.3f}",
                "p": fmt_p(s.p),
                "n": str(s.n),
                "methods": ", ".join(s.methods),
            }
            for s in table.spearman
        ],
    )
    sources = TableData(
        "Sources of the published Δ. " + " ".join(table.notes),
        [("repository", "Repository"), ("commit", "Commit"), ("file", "File"), ("table", "Table")],
        [asdict(s) for s in table.sources],
    )
    if fmt == "html":
        return to_html([main, ranks, sources], "kdtaxonomy: benchmark suite")
    if fmt == "latex":
        text = "\n".join(to_latex(t) for t in (main, ranks, sources))
        for char, macro in (
            ("±", r"$\pm$"),
            ("Δ", r"$\Delta$"),
            ("ρ", r"$\rho$"),
            ("−", "--"),
            ("→", r"$\to$"),
        ):
            text = text.replace(char, macro)
        return text
    raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
