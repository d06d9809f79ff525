"""Benchmark scripts (run as ``python benchmarks/NAME.py``); results and commands are in BENCHMARKS.md."""
