"""``kdtax table results``: reported numbers beside reproduced ones, typed for JSON (no torch).

Reported rows are sorted by dataset, split and metric, best first in the metric's direction (higher or
lower is better). Text formats show values as printed (``68.16%``); JSON rows (:attr:`TableData.records`)
carry ``value`` as a number with its ``unit``, the ``metric`` id and its ``direction``.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdtaxonomy.render.table_data import TableData
from kdtaxonomy.schema import Configuration, Entry, ReportedResult

if TYPE_CHECKING:
    from kdtaxonomy.bench import Aggregate
    from kdtaxonomy.lookup import DatasetLookup

COLUMNS = [
    ("id", "Method"),
    ("kind", "Kind"),
    ("dataset", "Dataset"),
    ("metric", "Metric"),
    ("model", "Model / row"),
    ("value", "Value"),
    ("source", "Source"),
]


def best_first(results: Iterable[ReportedResult]) -> list[ReportedResult]:
    """Results grouped by dataset, split and metric (stable), each group best first in its direction."""
    return sorted(
        results,
        key=lambda r: (
            r.dataset_text,
            r.metric_id,
            r.metric,
            r.unit,
            -r.value if r.higher_is_better else r.value,
        ),
    )


def _reported(entry: Entry, result: ReportedResult) -> tuple[dict[str, Any], dict[str, Any]]:
    """(text row, JSON record) of a reported result."""
    ident = f"{entry.id}#{result.configuration}" if result.configuration else entry.id
    source = result.source.text()
    text = f"{result.value_text}{result.unit}"
    row = {
        "id": ident,
        "kind": "reported",
        "dataset": result.dataset_text,
        "metric": result.metric,
        "model": result.method,
        "value": text,
        "source": source,
    }
    record = {
        "id": ident,
        "kind": "reported",
        "dataset": result.dataset,
        "split": result.split,
        "metric": result.metric_id,
        "direction": result.direction,
        "measure": result.metric,
        "model": result.method,
        "value": result.value,
        "unit": result.unit,
        "text": text,
        "source": source,
    }
    return row, record


def _reproduced(entry_id: str, config: str, agg: Aggregate) -> list[tuple[dict[str, Any], dict[str, Any]]]:
    """(text row, JSON record) of a reproduced aggregate: teacher, alone, distilled and the paired Δ."""
    from kdtaxonomy.bench import fmt_delta, fmt_mean_std, fmt_p, mean, stdev

    dataset = str(agg.dataset.get("name", "")) if isinstance(agg.dataset, dict) else str(agg.dataset)
    commit = ",".join(sorted({c[:10] for c in agg.commits})) or "unknown"
    base: dict[str, Any] = {
        "id": f"{entry_id}#{config}" + (f" on {agg.on}" if agg.on else ""),
        "kind": f"reproduced (n={agg.n})",
        "dataset": dataset,
    }
    source = f"kdtax bench, commit {commit}"
    out = []
    for label, values in (
        ("teacher", agg.teacher),
        ("student alone", agg.alone),
        ("distilled student", agg.distilled),
    ):
        text = f"{fmt_mean_std(values)}%"
        row = {**base, "metric": "test accuracy", "model": label, "value": text, "source": source}
        record: dict[str, Any] = {
            **base,
            "split": "test",
            "metric": "accuracy",
            "direction": "higher",
            "measure": "test accuracy (mean over seeds)",
            "model": label,
            "value": mean(values),
            "std": stdev(values),
            "unit": "%",
            "text": text,
            "source": source,
        }
        out.append((row, record))
    test = agg.paired
    delta = fmt_delta(test, agg.difference)
    if test is not None:
        delta += f" (paired p = {fmt_p(test.p)}, wins {test.wins}/{test.n})"
    measure = "test accuracy difference (points), Δ [95% CI]"
    model = "distilled − student alone (matched, paired by seed)"
    row = {**base, "metric": measure, "model": model, "value": delta, "source": source}
    record = {
        **base,
        "split": "test",
        "metric": "accuracy-gain",
        "direction": "higher",
        "measure": measure,
        "model": model,
        "value": agg.difference,
        "ci95": list(test.ci95) if test else None,
        "p": test.p if test else None,
        "unit": "points",
        "text": delta,
        "source": source,
    }
    out.append((row, record))
    for label, name in (
        ("teacher", "teacher"),
        ("student alone", "student_baseline"),
        ("distilled student", "student"),
    ):
        values = list(agg.metrics.get(f"{name}_eer", {}).values())
        if not values:
            continue
        text = f"{fmt_mean_std(values)}%"
        row = {**base, "metric": "test EER", "model": label, "value": text, "source": source}
        record = {
            **base,
            "split": "test (fixed trial list)",
            "metric": "eer",
            "direction": "lower",
            "measure": "verification EER of cosine-scored embeddings (mean over seeds)",
            "model": label,
            "value": mean(values),
            "std": stdev(values),
            "unit": "%",
            "text": text,
            "source": source,
        }
        out.append((row, record))
    return out


def results_table(
    pairs: Iterable[tuple[Entry, Configuration]],
    results_dir: Path | None = None,
    *,
    only: set[str] | None = None,
    lookup: DatasetLookup | None = None,
) -> TableData:
    """Reported numbers with their source table, and reproduced ones beside them: mean ± std over seeds and
    the paired Δ (distilled − matched student alone) with its 95% CI and paired p.

    ``only``: canonical dataset labels; when given, only results measured on one of them are kept (a
    reproduced run's dataset is resolved with ``lookup``).
    """
    from kdtaxonomy.bench import RESULT_FORMAT, load_reproduced_all

    table = TableData(
        "Reported results (with their source) and results reproduced by kdtax bench (protocol "
        f"{RESULT_FORMAT}: the student alone is the matched baseline, the same pipeline without distillation "
        "terms, paired by seed; Δ = distilled − alone with its Student-t 95% CI and the paired t-test's p).",
        list(COLUMNS),
    )
    selected = list(pairs)
    entries = {e.id: e for e, _ in selected}
    names = {(e.id, c.name) for e, c in selected}
    reported = [
        (entry, result)
        for entry in entries.values()
        for result in entry.results
        if (result.configuration is None or (entry.id, result.configuration) in names)
        and (only is None or result.dataset in only)
    ]
    order = {id(r): i for i, r in enumerate(best_first(r for _, r in reported))}
    for entry, result in sorted(reported, key=lambda pair: order[id(pair[1])]):
        row, record = _reported(entry, result)
        table.add(row, record, entry.id)
    for agg in load_reproduced_all(results_dir):
        entry_id, config = agg.entry_id, agg.config
        if (entry_id, config) not in names:
            continue
        if only is not None:
            name = str(agg.dataset.get("name", "")) if isinstance(agg.dataset, dict) else str(agg.dataset)
            if lookup is None or lookup.resolve(name) not in only:
                continue
        for row, record in _reproduced(entry_id, config, agg):
            table.add(row, record, entry_id)
    return table
