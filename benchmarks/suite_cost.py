"""Cost of the standard suite from its results files: median wall time of one run per method and regime.

``python benchmarks/suite_cost.py [RESULTS]`` (default ``results/``) prints a Markdown table: the median
``wall_seconds`` of the evaluation runs of each method in each regime (1 thread per run), and per regime the
total run-seconds of evaluation and grid runs (a run that trained the seed's teacher and student alone
includes their time; cached models cost nothing).
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path

from kdtaxonomy import suite


def main(results: Path) -> str:
    root = results / "suite"
    regimes = [r.id for r in suite.REGIMES if (root / r.id).is_dir()]
    methods = [m.id for m in suite.METHODS]
    medians: dict[tuple[str, str], float] = {}
    totals = dict.fromkeys(regimes, 0.0)
    counts = dict.fromkeys(regimes, 0)
    for regime in regimes:
        for method in methods:
            folder = root / regime / method
            runs = [json.loads(p.read_text()) for p in sorted(folder.glob("seed-*.json"))]
            grid = [json.loads(p.read_text()) for p in sorted((folder / "grid").glob("*.json"))]
            walls = [float(r["wall_seconds"]) for r in runs if r.get("status") == "ok"]
            if walls:
                medians[(regime, method)] = statistics.median(walls)
            every = walls + [float(g["wall_seconds"]) for g in grid if "wall_seconds" in g]
            totals[regime] += sum(every)
            counts[regime] += len(every)
    lines = ["| method | " + " | ".join(regimes) + " |", "|---" * (len(regimes) + 1) + "|"]
    for method in methods:
        cells = [f"{medians[(r, method)]:.1f}" if (r, method) in medians else "-" for r in regimes]
        lines.append(f"| {method} | " + " | ".join(cells) + " |")
    lines.append(
        "| total run-seconds (grid + eval) | " + " | ".join(f"{totals[r]:.0f}" for r in regimes) + " |"
    )
    lines.append("| runs (grid + eval) | " + " | ".join(str(counts[r]) for r in regimes) + " |")
    return "\n".join(lines)


if __name__ == "__main__":
    print(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results")))
