"""Rendering of the benchmark suite's table (md, csv, json, html, latex); the data: :mod:`kdtaxonomy.benchmark_table`."""

from __future__ import annotations

import math
from dataclasses import asdict
from typing import Any

from kdtaxonomy.bench import fmt_p
from kdtaxonomy.benchmark_table import FORMATS, SUITE_FORMAT, BenchmarkTable, RegimeSpearman, Row
from kdtaxonomy.published import Source

COLUMNS = [
    ("regime", "Regime"),
    ("method", "Method"),
    ("configuration", "Configuration"),
    ("teacher", "Teacher"),
    ("gap", "Gap"),
    ("alone", "Alone"),
    ("distilled", "Distilled"),
    ("delta", "Δ [95% CI]"),
    ("p", "p (paired)"),
    ("n", "n"),
    ("wins", "wins"),
    ("chosen", "Chosen on val."),
    ("published", "Published Δ (CIFAR-100)"),
]
CSV_KEYS = [
    *("regime", "method", "configuration", "published_method", "n", "failed", "wins"),
    *("teacher_accuracy", "teacher_std", "alone_mean", "alone_std", "distilled_mean", "distilled_std"),
    *("gap", "delta_mean", "delta_std", "delta_ci95_low", "delta_ci95_high", "p_paired"),
    *("published_delta", "published_pairs", "chosen"),
]
CAPTION = (
    "Benchmark suite: test accuracy (%), mean ± std over seeds. Δ = distilled − student alone, paired by "
    "seed (same pipeline and seed without the distillation term), with its Student-t 95% CI and the "
    "two-sided paired t-test p; wins = seeds with a positive Δ; gap = teacher − student alone. Chosen on "
    "val.: the weight scale / temperature picked by validation accuracy on separate seeds. Published Δ: the "
    "method's mean CIFAR-100 gain over the student alone in the reference libraries."
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
        "gap": "-" if row.gap is None else f"{row.gap:+.2f}",
        "alone": _mean_std(row.alone_mean, row.alone_std),
        "distilled": _mean_std(row.distilled_mean, row.distilled_std),
        "delta": delta,
        "p": fmt_p(row.p_paired),
        "n": f"{row.n}" + (f" (+{row.failed} failed)" if row.failed else ""),
        "wins": f"{row.wins}/{row.n}",
        "chosen": row.chosen or "-",
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


MATRIX_CAPTION = (
    "Benchmark suite, methods x regimes: Δ = distilled − student alone (test accuracy points), mean [95% CI] "
    "over paired seeds (n), marked * where the paired p < 0.05; regime headers give the teacher and the "
    "student alone. Published Δ: mean CIFAR-100 gain in the reference libraries."
)


def _differs(a: float | None, b: float | None) -> bool:
    return a is not None and b is not None and abs(a - b) > 0.05


def matrix(table: BenchmarkTable) -> tuple[list[tuple[str, str]], list[dict[str, str]], list[str]]:
    """Columns and cells of the methods x regimes layout (one row per method, one Δ column per regime), and
    the methods marked † whose teacher or student alone is not the regime header's (their own recipe)."""
    regimes: list[str] = []
    for row in table.rows:
        if row.regime not in regimes:
            regimes.append(row.regime)
    heads, firsts = {}, {}
    for regime in regimes:
        first = firsts[regime] = next(r for r in table.rows if r.regime == regime)
        teacher = "-" if first.teacher_accuracy is None else f"{first.teacher_accuracy:.1f}"
        alone = "-" if first.alone_mean is None else f"{first.alone_mean:.1f}"
        heads[regime] = f"{regime} (teacher {teacher}, alone {alone})"
    columns = [("method", "Method"), *((r, heads[r]) for r in regimes), ("published", "Published Δ")]
    cells: dict[str, dict[str, str]] = {}
    own: list[str] = []
    for row in table.rows:
        cell = cells.setdefault(row.method, {"method": row.method, **{r: "-" for r in regimes}})
        text = display_row(row)["delta"]
        star = "*" if row.p_paired is not None and row.p_paired < 0.05 else ""
        first = firsts[row.regime]
        mine = _differs(row.teacher_accuracy, first.teacher_accuracy) or _differs(
            row.alone_mean, first.alone_mean
        )
        if mine and row.method not in own:
            own.append(row.method)
        cell[row.regime] = f"{text}{star}{'†' if mine else ''} (n={row.n})"
        if row.published_delta is not None:
            cell["published"] = f"{row.published_delta:+.2f} ({row.published_method})"
    for cell in cells.values():
        cell.setdefault("published", "-")
    return columns, list(cells.values()), own


def render(table: BenchmarkTable, fmt: str, *, layout: str = "long") -> str:
    """The table in ``md``, ``csv``, ``json``, ``html`` or ``latex``; Spearman lines follow the table.

    ``layout="matrix"`` gives one row per method and one Δ column per regime (md, csv, html, latex).
    """
    from kdtaxonomy.render.formats import to_csv, to_json, to_markdown
    from kdtaxonomy.render.tables import TableData, to_html, to_latex

    if fmt == "json":
        return to_json(to_data(table))
    lines = [spearman_line(s) for s in table.spearman]
    columns, caption = COLUMNS, CAPTION
    cells = [display_row(r) for r in table.rows]
    if layout == "matrix":
        columns, cells, own = matrix(table)
        caption = MATRIX_CAPTION + (
            f" † its own teacher and student alone (its recipe trains them differently): {', '.join(own)}."
            if own
            else ""
        )
    if fmt == "csv":
        if layout == "matrix":
            body = to_csv(cells, [k for k, _ in columns])
        else:
            body = to_csv([_finite(_csv_row(r)) for r in table.rows], CSV_KEYS)
        return body + "".join(f"# {line}\n" for line in [*lines, *map(source_line, table.sources)])
    if fmt == "md":
        extra = [*lines, *table.notes, *(f"Source: {source_line(s)}" for s in table.sources)]
        body = to_markdown(cells, [k for k, _ in columns], [h for _, h in columns])
        return f"{caption}\n\n{body}\n" + "".join(f"- {line}\n" for line in extra)
    main = TableData(caption, columns, cells)
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
