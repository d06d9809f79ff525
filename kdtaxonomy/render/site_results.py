"""Results of the site: charts of reported numbers per dataset and metric, and of reproduced runs.

Reported results are the papers' numbers with their source table; reproduced results are ``kdtax bench``
aggregates (mean ± std over seeds, and the paired Δ against the matched student alone with its 95% CI and
paired p). The two are never mixed in one chart.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from kdtaxonomy.render.figures import Bar, bar_chart_svg, legend_html

if TYPE_CHECKING:
    from kdtaxonomy.bench import Aggregate
    from kdtaxonomy.catalog import Catalog


def _anchor(text: str) -> str:
    """A fragment id made of the text's letters and digits joined by hyphens."""
    return "-".join("".join(c if c.isalnum() else " " for c in text.lower()).split())


MAX_BARS = 80
"""Bars drawn per reported chart; a larger group says how many more there are (all are in the tables)."""


def reported_charts(catalog: Catalog, max_bars: int = MAX_BARS) -> list[dict[str, Any]]:
    """One chart per (dataset, metric, unit) of the reported results, bars labelled ``id: method``.

    Groups of more than ``max_bars`` results draw the first ``max_bars`` in catalog order and say how many
    were left out (``kdtax table results`` lists them all).
    """
    groups: dict[tuple[str, str, str], list[Bar]] = {}
    for entry in catalog:
        for result in entry.results:
            setting = "; ".join(x for x in (result.student, result.setting) if x)
            label = f"{entry.id}: {result.method}" + (f" ({setting})" if setting else "")
            bar = Bar(label, float(result.value), note=f"[{result.source.text(entry.id)}]")
            groups.setdefault((result.dataset_text, result.metric, result.unit), []).append(bar)
    charts: list[dict[str, Any]] = []
    for (dataset, metric, unit), bars in sorted(groups.items(), key=lambda kv: (-len(kv[1]), kv[0])):
        title = f"{dataset} — {metric}" + (f" ({unit})" if unit and unit != "%" else "")
        shown_unit = "%" if unit == "%" else ""
        charts.append(
            {
                "title": title,
                "anchor": _anchor(f"reported {dataset} {metric} {unit}") + f"-{len(charts) + 1}",
                "n": len(bars),
                "omitted": max(len(bars) - max_bars, 0),
                "svg": bar_chart_svg(title, bars[:max_bars], unit=shown_unit),
            }
        )
    return charts


def reproduced_context(aggs: Sequence[Aggregate], title: str) -> dict[str, Any] | None:
    """Table rows and one chart per dataset of reproduced aggregates (None when there are none)."""
    if not aggs:
        return None
    from kdtaxonomy.bench import (
        PAIRED_NOTE,
        TABLE_HEADER,
        fmt_dataset,
        fmt_verification,
        mean,
        stdev,
        table_row,
    )

    rows = []
    by_dataset: dict[str, list[Bar]] = {}
    for agg in sorted(aggs, key=lambda a: (a.entry_id, a.config, a.on or "")):
        entry_id, config = agg.entry_id, agg.config
        cells = table_row(agg)
        commits = ", ".join(sorted({c[:10] for c in agg.commits})) or "unknown"
        rows.append(
            {
                "id": entry_id,
                "config": config,
                "on": agg.on,
                "cells": cells[1:],
                "dataset": fmt_dataset(agg.dataset),
                "commits": commits,
            }
        )
        bars = by_dataset.setdefault(fmt_dataset(agg.dataset), [])
        for label, kind, values in (
            ("teacher", "teacher", agg.teacher),
            ("student alone", "baseline", agg.alone),
            ("distilled", "distilled", agg.distilled),
        ):
            m = mean(values)
            if m is not None:
                bars.append(
                    Bar(
                        f"{entry_id}#{config}{' on ' + agg.on if agg.on else ''} · {label}",
                        round(m, 2),
                        stdev(values),
                        kind,
                    )
                )
    charts = [
        bar_chart_svg(f"{title} — {dataset}, test accuracy (mean ± std over seeds)", bars, "%", 100.0)
        for dataset, bars in sorted(by_dataset.items())
    ]
    return {
        "header": list(TABLE_HEADER[1:]),
        "note": PAIRED_NOTE,
        "verification": [line for agg in aggs if (line := fmt_verification(agg))],
        "rows": rows,
        "charts": charts,
        "legend": legend_html(["teacher", "baseline", "distilled"]),
    }
