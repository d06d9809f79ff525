"""Static-site benchmark (issue 4): build time and the index page's responsiveness in headless Chromium.

Measures
  * ``build_site`` on the shipped catalog (median of R in-process builds, catalog already loaded) and a whole
    ``kdtax site build`` process (warm catalog cache; target < 2 s);
  * ``build_site`` on a generated catalog of N entries (default 10,000; target < 60 s) and the size of its pages;
  * for both sites, in Chromium: time to interactive of index.html (navigation start -> the filter script has
    run, i.e. DOMContentLoaded end) and the time to apply the knowledge = mutual-information filter
    (click -> rows hidden, counts updated, next frame painted).

Usage: python benchmarks/site_build.py [--runs 5] [--entries 10000] [--chromium /usr/bin/chromium]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.browser import CHROMIUM, FLAGS  # noqa: E402
from benchmarks.generated_catalog import write_generated_catalog  # noqa: E402

FILTER_JS = """
() => new Promise(resolve => {
  const box = document.querySelector("input[value='knowledge:mutual-information']");
  const t0 = performance.now();
  box.click();
  const handled = performance.now();
  requestAnimationFrame(() => requestAnimationFrame(() => resolve([handled - t0, performance.now() - t0,
    document.body.getAttribute("data-filtered")])));
})
"""


def size_mb(folder: Path) -> float:
    return sum(p.stat().st_size for p in folder.rglob("*") if p.is_file()) / 1e6


def in_browser(index: Path, chromium: str, runs: int) -> dict[str, Any]:
    from playwright.sync_api import sync_playwright

    ready, handled, painted = [], [], []
    shown = ""
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=chromium, args=FLAGS)
        for _ in range(runs):
            page = browser.new_page(viewport={"width": 1400, "height": 1000})
            page.goto(index.as_uri(), timeout=300_000)
            page.wait_for_selector("body[data-ready='1']", timeout=300_000)
            nav = page.evaluate("() => performance.getEntriesByType('navigation')[0].toJSON()")
            ready.append(nav["domContentLoadedEventEnd"] / 1000)
            h, p, shown = page.evaluate(FILTER_JS)
            handled.append(h / 1000)
            painted.append(p / 1000)
            page.close()
        browser.close()
    med = statistics.median
    return {"ready": med(ready), "handled": med(handled), "painted": med(painted), "shown": shown}


def report_browser(label: str, result: dict[str, Any]) -> None:
    print(
        f"  {label}: time to interactive {result['ready']:.2f} s; knowledge=MI filter "
        f"{result['handled'] * 1000:.0f} ms handled, {result['painted'] * 1000:.0f} ms to the next painted frame "
        f"({result['shown']} rows shown)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--entries", type=int, default=10_000)
    parser.add_argument("--chromium", default=str(CHROMIUM))
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="kdtax-cache-")
    os.environ["KDTAX_CACHE_DIR"] = cache
    env = {**os.environ}
    tmp = Path(tempfile.mkdtemp(prefix="kdtax-site-"))
    browser = Path(args.chromium).is_file()
    try:
        from kdtaxonomy.catalog import load_catalog
        from kdtaxonomy.render.site import build_site

        catalog = load_catalog()
        times = []
        for _ in range(args.runs):
            start = time.perf_counter()
            report = build_site(catalog, tmp / "shipped")
            times.append(time.perf_counter() - start)
        processes = []
        kdtax = str(Path(sys.executable).parent / "kdtax")
        for _ in range(args.runs):
            start = time.perf_counter()
            subprocess.run(
                [kdtax, "site", "build", "-o", str(tmp / "cli")],
                check=True,
                stdout=subprocess.DEVNULL,
                env=env,
            )
            processes.append(time.perf_counter() - start)
        print(f"shipped catalog: {len(catalog)} entries, {len(catalog.index.rows)} configurations, {len(report.pages)} pages, "
              f"{size_mb(report.out_dir):.1f} MB")  # fmt: skip
        print(f"  build_site median {statistics.median(times):.3f} s; kdtax site build process median "
              f"{statistics.median(processes):.3f} s (target < 2 s; {args.runs} runs)")  # fmt: skip
        if browser:
            report_browser("Chromium", in_browser(report.index, args.chromium, args.runs))

        big = write_generated_catalog(args.entries, tmp / "big-catalog")
        start = time.perf_counter()
        big_catalog = load_catalog(big)
        load = time.perf_counter() - start
        start = time.perf_counter()
        big_report = build_site(big_catalog, tmp / "big-site", reproduced={})
        build = time.perf_counter() - start
        index_mb = big_report.index.stat().st_size / 1e6
        print(f"generated catalog: {len(big_catalog)} entries, {len(big_catalog.index.rows)} configurations "
              f"(cold load with validation {load:.1f} s, not part of the build)")  # fmt: skip
        print(f"  build_site {build:.1f} s (target < 60 s): {len(big_report.pages)} pages, "
              f"{size_mb(big_report.out_dir):.0f} MB, index.html {index_mb:.1f} MB")  # fmt: skip
        if browser:
            report_browser("Chromium", in_browser(big_report.index, args.chromium, max(1, args.runs // 2)))
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
