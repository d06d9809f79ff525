"""The benchmark suite on the site: ``benchmark.html`` and the "Benchmark suite" table of method pages.

Both read the suite's results files (``<results>/suite/<regime>/<method>/seed-<s>.json``) through
:func:`kdtaxonomy.benchmark_table.build`, and every cell is :func:`kdtaxonomy.render.benchmark.display_row`'s,
so the site shows the numbers of ``kdtax table benchmark``. Regimes and methods are labelled from
:mod:`kdtaxonomy.suite`; a regime or method it does not know is shown by its id. No chart is drawn: the
site's bar chart (:func:`kdtaxonomy.render.figures.bar_chart_svg`) draws bars from zero upwards only, and
a Δ can be negative.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from kdtaxonomy import suite
from kdtaxonomy.benchmark_table import SUITE_FORMAT, BenchmarkTable, Row
from kdtaxonomy.render.benchmark import CAPTION, COLUMNS, display_row, source_line, spearman_line

PAGE = "benchmark.html"
"""The suite's page, at the site's root."""

CELLS = ("teacher", "gap", "alone", "distilled", "delta", "p", "n", "wins", "chosen", "published")
"""Columns of a regime's table after the method (keys of :func:`display_row`)."""

CONFIG_CELLS = ("delta", "p", "n")
"""Columns of a method page's table after the regime."""
CONFIG_HEADER = [header for key, header in COLUMNS if key in CONFIG_CELLS]


def regime_anchors(regimes: Iterable[str]) -> dict[str, str]:
    """A distinct fragment id per regime: ``regime-`` then its letters and digits joined by hyphens."""
    anchors: dict[str, str] = {}
    for regime in dict.fromkeys(regimes):
        base = "regime-" + "-".join("".join(c if c.isalnum() else " " for c in regime.lower()).split())
        anchor, k = base, 1
        while anchor in anchors.values():
            k += 1
            anchor = f"{base}-{k}"
        anchors[regime] = anchor
    return anchors


def _config_href(configuration: str | None, known: set[tuple[str, str]]) -> str | None:
    """``methods/<id>.html#config-<name>`` when ``configuration`` (``id#name``) is in the catalog."""
    entry_id, sep, name = (configuration or "").partition("#")
    return f"methods/{entry_id}.html#config-{name}" if sep and (entry_id, name) in known else None


def _method_label(method: str) -> str:
    return next((m.label for m in suite.METHODS if m.id == method), method)


def _method_row(row: Row, known: set[tuple[str, str]]) -> dict[str, Any]:
    cells = display_row(row)
    return {
        "id": row.method,
        "label": _method_label(row.method),
        "configuration": row.configuration or "",
        "href": _config_href(row.configuration, known),
        "cells": [cells[key] for key in CELLS],
    }


def page_context(table: BenchmarkTable, known: set[tuple[str, str]]) -> dict[str, Any]:
    """Context of ``site_benchmark.html.j2``: one section per regime in the suite's order (none without
    results), the published sources and notes, the cited defaults and the number of problems met."""
    regimes = {r.id: r for r in suite.REGIMES}
    anchors = regime_anchors(r.regime for r in table.rows)
    sections = []
    for regime, anchor in anchors.items():
        info = regimes.get(regime)
        sections.append(
            {
                "id": regime,
                "anchor": anchor,
                "label": info.label if info else regime,
                "description": info.description if info else "",
                "rows": [_method_row(r, known) for r in table.rows if r.regime == regime],
                "spearman": [spearman_line(s) for s in table.spearman if s.regime == regime],
            }
        )
    present = {r.method for r in table.rows}
    return {
        "protocol": SUITE_FORMAT,
        "caption": CAPTION,
        "header": [header for key, header in COLUMNS if key in CELLS],
        "regimes": sections,
        "sources": [source_line(s) for s in table.sources],
        "notes": list(table.notes),
        "defaults": [(m.label, m.source) for m in suite.METHODS if m.id in present],
        "grid_seeds": ", ".join(str(s) for s in suite.GRID_SEEDS),
        "problems": len(table.problems),
    }


def configuration_rows(table: BenchmarkTable) -> dict[str, dict[str, Any]]:
    """Per configuration named by suite rows (``id#name``): its suite methods and one row per regime."""
    anchors = regime_anchors(r.regime for r in table.rows)
    regimes = {r.id: r.label for r in suite.REGIMES}
    out: dict[str, dict[str, Any]] = {}
    for row in table.rows:
        if row.configuration is None:
            continue
        found = out.setdefault(row.configuration, {"methods": [], "rows": []})
        label = _method_label(row.method)
        if label not in found["methods"]:
            found["methods"].append(label)
        cells = display_row(row)
        found["rows"].append(
            {
                "regime": regimes.get(row.regime, row.regime),
                "method": label,
                "href": f"{PAGE}#{anchors[row.regime]}",
                "cells": [cells[key] for key in CONFIG_CELLS],
            }
        )
    return out
