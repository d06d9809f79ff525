"""CLI latency and large-catalog benchmark (issue 2, requirement 8).

Measures, in one run and interleaved so machine noise hits both alike:
  * median wall time of ``kdtax list --knowledge=mutual-information`` against
    ``python -c "import typer, rich, pydantic, yaml"`` (target: ratio <= 1.8), and that torch is not imported;
  * a generated catalog of N entries (default 10,000): cold load with full validation, warm load from the
    cache, a filter, and ``kdtax validate``.

Usage: python benchmarks/cli_latency.py [--runs 15] [--entries 10000]
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

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from benchmarks.generated_catalog import write_generated_catalog  # noqa: E402

BIN = Path(sys.executable).parent


def timed(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    subprocess.run(command, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env)
    return time.perf_counter() - start


def latency(runs: int, env: dict[str, str]) -> None:
    base = [sys.executable, "-c", "import typer, rich, pydantic, yaml"]
    query = [str(BIN / "kdtax"), "list", "--knowledge=mutual-information"]
    timed(query, env)  # warm the catalog cache and the OS file cache
    base_times, query_times = [], []
    for _ in range(runs):
        base_times.append(timed(base, env))
        query_times.append(timed(query, env))
    b, q = statistics.median(base_times), statistics.median(query_times)
    probe = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys; from kdtaxonomy.cli import main; sys.argv=['kdtax','list','--knowledge=MI'];\n"
            "import contextlib, io\nwith contextlib.redirect_stdout(io.StringIO()):\n    try: main()\n    except SystemExit: pass\n"
            "print('torch' in sys.modules)",
        ],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    print(f"import typer, rich, pydantic, yaml  median {b * 1000:7.1f} ms  ({runs} runs)")
    print(f"kdtax list --knowledge=mutual-information  median {q * 1000:7.1f} ms")
    print(f"ratio {q / b:.2f} (target <= 1.8); torch imported on that path: {probe.stdout.strip()}")


def big_catalog(n: int, env: dict[str, str]) -> None:
    sys.path.insert(0, str(ROOT))
    from kdtaxonomy.catalog import load_catalog

    tmp = Path(tempfile.mkdtemp(prefix="kdtax-big-"))
    try:
        write_generated_catalog(n, tmp)
        os.environ["KDTAX_CACHE_DIR"] = env["KDTAX_CACHE_DIR"]
        start = time.perf_counter()
        catalog = load_catalog(tmp, use_cache=True)
        cold = time.perf_counter() - start
        probe = (
            "import time; t = time.perf_counter()\n"
            "from kdtaxonomy.catalog import load_catalog\n"
            f"c = load_catalog({str(tmp)!r}); t1 = time.perf_counter()\n"
            "hits = c.filter(knowledge='mutual-information', year='2015-2023'); t2 = time.perf_counter()\n"
            "print(t1 - t, t2 - t1, len(hits))"
        )
        probes = []
        for _ in range(5):
            out = subprocess.run(
                [sys.executable, "-c", probe], capture_output=True, text=True, env=env, check=True
            )
            probes.append(tuple(float(v) for v in out.stdout.split()))
        warm, filt, hits = sorted(probes, key=lambda p: p[0] + p[1])[len(probes) // 2]
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "kdtax"), "--catalog", str(tmp), "list", "--knowledge=MI", "--format", "json"],
            check=True,
            stdout=subprocess.DEVNULL,
            env=env,
        )
        cli = time.perf_counter() - start
        start = time.perf_counter()
        subprocess.run(
            [str(BIN / "kdtax"), "validate", str(tmp)], check=True, stdout=subprocess.DEVNULL, env=env
        )
        validate = time.perf_counter() - start
        print(f"{n} entries ({sum(len(e.configurations) for e in catalog)} configurations):")
        print(f"  cold load + validation   {cold:7.2f} s")
        print(
            f"  warm load (cache, new process, imports included) {warm:6.3f} s   filter {filt * 1000:6.1f} ms ({hits:.0f} hits)"
        )
        print(f"  warm load + filter       {warm + filt:7.3f} s   (median of 5 new processes; target < 1 s)")
        print(f"  kdtax list (process)     {cli:7.3f} s")
        print(f"  kdtax validate           {validate:7.2f} s")
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--entries", type=int, default=10_000)
    args = parser.parse_args()
    cache = tempfile.mkdtemp(prefix="kdtax-cache-")
    env = {**os.environ, "KDTAX_CACHE_DIR": cache}
    try:
        latency(args.runs, env)
        big_catalog(args.entries, env)
    finally:
        shutil.rmtree(cache, ignore_errors=True)


if __name__ == "__main__":
    main()
