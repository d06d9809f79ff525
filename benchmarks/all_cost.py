"""Cost of ``kdtax bench --all`` from its results files: run-seconds per configuration and in all.

``python benchmarks/all_cost.py [RESULTS]`` (default ``results/``) prints a Markdown table of the
configurations with results (``results/<id>/<config>/seed-*.json``, the suite excluded): the seeds run, the
sum and the median of the runs' ``wall_seconds`` (1 thread per run; a run that trained its teachers and student
alone includes their time, a cached model costs nothing), then the total and, from the mean cost of a
configuration, an estimate for the catalog's configurations not run yet.
"""

from __future__ import annotations

import json
import statistics
import sys
from pathlib import Path


def main(results: Path, catalog_size: int | None = None) -> str:
    rows = []
    for folder in sorted(p for p in results.glob("*/*") if p.is_dir() and p.parent.name != "suite"):
        walls = [
            float(json.loads(f.read_text()).get("wall_seconds") or 0) for f in folder.glob("seed-*.json")
        ]
        if walls:
            rows.append(
                (f"{folder.parent.name}#{folder.name}", len(walls), sum(walls), statistics.median(walls))
            )
    lines = ["| configuration | seeds | run-seconds | median per run |", "|---|---|---|---|"]
    lines += [f"| {name} | {n} | {total:.0f} | {median:.1f} |" for name, n, total, median in rows]
    total = sum(r[2] for r in rows)
    runs = sum(r[1] for r in rows)
    lines.append(f"| **{len(rows)} configurations** | {runs} | {total:.0f} | |")
    out = "\n".join(lines) + "\n"
    if catalog_size and rows:
        missing = catalog_size - len(rows)
        estimate = total + missing * total / len(rows)
        out += (
            f"\n{missing} of {catalog_size} configurations not run; at the mean cost of those run, the whole "
            f"catalog is about {estimate:.0f} run-seconds ({estimate / 2 / 60:.0f} minutes at 2 jobs on 2 cores).\n"
        )
    return out


if __name__ == "__main__":
    from kdtaxonomy.catalog import load_catalog

    size = sum(1 for _ in load_catalog().configurations())
    sys.stdout.write(main(Path(sys.argv[1]) if len(sys.argv) > 1 else Path("results"), size))
