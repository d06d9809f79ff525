"""How many catalog configurations' paired Δ has a 95% CI above or below 0 (the `kdtax bench --all` results).

    python benchmarks/ci_count.py [results] [--min-seeds 5]

Reads ``results/<id>/<config>/seed-<s>.json`` (not the suite's), keeps successful classification runs (a test
accuracy for the distilled student and for the matched student alone), and prints the configurations whose
interval excludes 0, with Δ, the interval and the paired p.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from kdtaxonomy.bench import aggregate, read_results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("results", nargs="?", type=Path, default=Path("results"))
    parser.add_argument("--min-seeds", type=int, default=5)
    args = parser.parse_args()
    counted, above, below = 0, [], []
    for (entry, config), agg in sorted(aggregate(read_results(args.results)).items()):
        stats = agg.paired if agg.n >= args.min_seeds else None
        if stats is None:
            continue
        counted += 1
        low, high = stats.ci95
        line = f"  {entry}#{config}: {stats.delta_mean:+.2f} [{low:+.2f}, {high:+.2f}], p = {stats.p:.3g}"
        if low > 0:
            above.append(line)
        elif high < 0:
            below.append(line)
    print(f"{counted} configurations with >= {args.min_seeds} seeds: {len(above)} with a CI above 0, "
          f"{len(below)} below")  # fmt: skip
    print("above 0:", *above, sep="\n")
    print("below 0:", *below, sep="\n")


if __name__ == "__main__":
    main()
