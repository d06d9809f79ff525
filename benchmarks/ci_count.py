"""How many catalog configurations' paired Δ has a 95% CI above or below 0 (the `kdtax bench --all` results).

    python benchmarks/ci_count.py [results] [--min-seeds 5]

Reads ``results/<id>/<config>/seed-<s>.json`` (not the suite's), keeps successful classification runs (a test
accuracy for the distilled student and for the matched student alone), and prints the configurations whose
interval excludes 0, with Δ, the interval and the paired p.
"""

from __future__ import annotations

import argparse
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

from kdtaxonomy.stats import paired


def groups(results: Path) -> dict[str, list[dict[str, Any]]]:
    out: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for path in sorted(results.glob("*/*/seed-*.json")):
        if path.parts[-3] == "suite":
            continue
        record = json.loads(path.read_text(encoding="utf-8"))
        if record.get("status") != "ok" or record.get("student_baseline_accuracy") is None:
            continue
        if record.get("student_accuracy") is None:
            continue
        out[f"{path.parts[-3]}#{path.parts[-2]}"].append(record)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("results"))
    parser.add_argument("--min-seeds", type=int, default=5)
    args = parser.parse_args()
    counted, above, below = 0, [], []
    for key, runs in sorted(groups(args.results).items()):
        if len(runs) < args.min_seeds:
            continue
        stats = paired([r["student_accuracy"] for r in runs], [r["student_baseline_accuracy"] for r in runs])
        if stats is None:
            continue
        counted += 1
        line = f"  {key}: {stats.delta_mean:+.2f} [{stats.ci95[0]:+.2f}, {stats.ci95[1]:+.2f}], p = {stats.p:.3g}"
        if stats.ci95[0] > 0:
            above.append(line)
        elif stats.ci95[1] < 0:
            below.append(line)
    print(f"{counted} configurations with >= {args.min_seeds} seeds: {len(above)} with a CI above 0, "
          f"{len(below)} below")  # fmt: skip
    print("above 0:", *above, sep="\n")
    print("below 0:", *below, sep="\n")


if __name__ == "__main__":
    main()
