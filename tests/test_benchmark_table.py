"""``kdtax table benchmark``: suite results files -> paired statistics, published ranking, five formats."""

from __future__ import annotations

import csv
import io
import json
import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from kdtaxonomy.benchmark_table import build, load_suite, spearman_by_regime
from kdtaxonomy.cli import app
from kdtaxonomy.published import published_deltas, published_results_path, read_published
from kdtaxonomy.render.benchmark import display_row, render

from .test_stats import t_two_sided_p_numeric

REGIMES = ("full", "limited-3", "noisy-20")
SEEDS = range(10)
# method id -> (published row label, true Δ per regime); ranked as the published Δ: DKD > KD > FitNet
METHODS: dict[str, tuple[str | None, float]] = {
    "dkd": ("DKD", 3.0),
    "kd": ("KD", 2.0),
    "fitnet": ("FitNet", 0.5),
    "null-kd": (None, 0.0),
}
T_975_9 = 2.2621571627409915  # Student t quantile 0.975 with 9 degrees of freedom (printed tables: 2.262)


def noise(seed: int, k: int) -> float:
    return 0.4 * math.sin(1.7 * seed + k)


def write_run(root: Path, regime: str, method: str, at_seed: int, **fields: Any) -> Path:
    """The suite results file of seed ``at_seed``; ``fields`` override its defaults."""
    seed = at_seed
    label = METHODS.get(method, (None, 0.0))[0]
    data: dict[str, Any] = {
        "format": "kdtax-bench/2",
        "protocol": "kdtax-bench/2",
        "kind": "suite",
        "suite": "standard",
        "regime": regime,
        "method": method,
        "seed": seed,
        "status": "ok",
        "configuration": f"entry-{method}#default",
        "published_method": label,
        "teacher_accuracy": 97.0 + 0.1 * seed,
        "student_baseline_accuracy": 80.0 + seed,
        "student_accuracy": 81.0 + seed,
        "hyperparameters": {},
        "provenance": {},
        "wall_seconds": 1.0,
    }
    data.update(fields)
    path = root / "suite" / regime / method / f"seed-{seed}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


def expected(regime_index: int, method: str) -> tuple[list[float], list[float]]:
    """(distilled, alone) accuracies of the fixture, per seed."""
    delta = METHODS[method][1] + regime_index
    alone = [75.0 + 0.5 * s + noise(s, regime_index) for s in SEEDS]
    distilled = [a + delta + noise(s, 7 + len(method)) for a, s in zip(alone, SEEDS, strict=True)]
    return distilled, alone


@pytest.fixture()
def suite(tmp_path: Path) -> Path:
    for i, regime in enumerate(REGIMES):
        for method in METHODS:
            for seed, (d, a) in enumerate(zip(*expected(i, method), strict=True)):
                write_run(tmp_path, regime, method, seed, student_accuracy=d, student_baseline_accuracy=a)
    return tmp_path


def invoke(runner: CliRunner, *args: str) -> Any:
    return runner.invoke(app, ["table", "benchmark", *args])


def test_json_rows_match_an_independent_computation(runner: CliRunner, suite: Path) -> None:
    out = invoke(runner, "--results", str(suite), "--format", "json")
    assert out.exit_code == 0, out.output
    data = json.loads(out.stdout)
    assert set(data) >= {"protocol", "rows", "spearman", "sources", "problems"}
    assert data["protocol"] == "kdtax-bench/2" and data["problems"] == []
    assert len(data["rows"]) == len(REGIMES) * len(METHODS)
    for row in data["rows"]:
        distilled, alone = expected(REGIMES.index(row["regime"]), row["method"])
        d = np.asarray(distilled, dtype=np.float64) - np.asarray(alone, dtype=np.float64)
        m, sd = float(d.mean()), float(d.std(ddof=1))
        half = T_975_9 * sd / math.sqrt(len(d))
        assert row["n"] == 10 and row["seeds"] == list(SEEDS) and row["failed"] == 0
        assert row["configuration"] == f"entry-{row['method']}#default"
        assert row["delta_mean"] == pytest.approx(m, abs=1e-10)
        assert row["delta_ci95"] == pytest.approx([m - half, m + half], abs=1e-9)
        assert row["p_paired"] == pytest.approx(t_two_sided_p_numeric(m / (sd / math.sqrt(10)), 9), abs=1e-9)
        assert row["alone_mean"] == pytest.approx(float(np.mean(alone)))
        assert row["distilled_mean"] == pytest.approx(float(np.mean(distilled)))
        assert row["teacher_accuracy"] == pytest.approx(97.45)
        assert row["gap"] == pytest.approx(97.45 - float(np.mean(alone)))
        assert row["wins"] == int((d > 0).sum())
        for key in ("n", "teacher_accuracy", "alone_mean", "distilled_mean", "delta_mean", "p_paired"):
            assert isinstance(row[key], int | float) and not isinstance(row[key], bool), key
        assert (row["published_delta"] is None) == (row["method"] == "null-kd")


def test_spearman_is_one_when_our_ranking_is_the_published_one(suite: Path) -> None:
    rows = load_suite(suite)
    lines = spearman_by_regime(rows)
    assert [s.regime for s in lines] == ["limited-3", "full", "noisy-20"]  # the suite's order, then unknown
    for s in lines:
        assert s.rho == pytest.approx(1.0) and s.n == 3
        assert sorted(s.methods) == ["dkd", "fitnet", "kd"]  # the null control is left out


def test_published_deltas_from_a_small_table() -> None:
    def row(source: str, table: str, pair: str, method: str, value: str) -> dict[str, str]:
        teacher, student = pair.split(">")
        return dict(
            source=source, commit="c0ffee", file="README.md", table=table, dataset="CIFAR-100",
            metric="top-1", teacher=teacher, student=student, method=method, value=value,
        )  # fmt: skip

    rep, mdi = "HobbitLong/RepDistiller", "megvii-research/mdistiller"
    rows = [
        row(rep, "T1", "a>b", "teacher", "80.00"),
        row(rep, "T1", "a>b", "student", "70.00"),
        row(rep, "T1", "a>b", "KD", "72.00"),
        row(rep, "T1", "a>b", "FSP", "71.00"),
        row(rep, "T1", "c>b", "student", "60.00"),
        row(rep, "T1", "c>b", "KD", "63.00"),
        row(rep, "T1", "c>b", "FSP", "0.00"),  # placeholder: left out
        row(rep, "T1", "c>b", "AT", "N/A"),
        row(mdi, "M1", "x>y", "KD", "50.00"),
        row(mdi, "M1", "x>y", "DKD", "51.50"),
        row(mdi, "M1", "z>y", "KD", "40.00"),
        row(mdi, "M1", "z>y", "DKD", "40.50"),
    ]
    published = published_deltas(rows)
    assert {k: (d.delta, d.pairs) for k, d in published.deltas.items()} == {
        "kd": (2.5, 2),
        "fsp": (1.0, 1),
        "dkd": (1.0 + 2.5, 2),
    }
    assert [s.table for s in published.sources] == ["T1", "M1"]


def test_shipped_published_table() -> None:
    path = published_results_path()
    assert path.parts[-3:] == ("catalog", "published", "published_results.tsv")
    rows = read_published(path)
    assert len(rows) == 255
    pairs: dict[tuple[str, str, str], dict[str, float]] = {}
    for r in rows:
        if r["source"] == "HobbitLong/RepDistiller":
            pairs.setdefault((r["table"], r["teacher"], r["student"]), {})[r["method"]] = float(r["value"])
    kd = [v["KD"] - v["student"] for v in pairs.values()]
    published = published_deltas(rows)
    assert published.deltas["kd"].delta == pytest.approx(sum(kd) / len(kd)) and len(kd) == 13
    assert published.deltas["fsp"].pairs == 6  # 7 printed, one of them the 0.00 placeholder
    assert {s.repository for s in published.sources} == {
        "HobbitLong/RepDistiller",
        "megvii-research/mdistiller",
    }


def test_malformed_files_are_reported_and_skipped(tmp_path: Path, runner: CliRunner) -> None:
    for seed in range(3):
        write_run(tmp_path, "full", "kd", seed, student_accuracy=82.0 + seed * 0.5)
    write_run(tmp_path, "full", "kd", 3, format="kdtax-bench/1")
    write_run(tmp_path, "full", "kd", 4, seed=5)
    write_run(tmp_path, "full", "kd", 6, student_accuracy="high")
    write_run(tmp_path, "full", "kd", 7, status="failed", error="diverged")
    (tmp_path / "suite" / "full" / "kd" / "seed-8.json").write_text("{not json", encoding="utf-8")
    (tmp_path / "suite" / "full" / "kd" / "seed-9.json").write_text("[1, 2]", encoding="utf-8")
    table = build(tmp_path)
    (row,) = table.rows
    assert row.n == 3 and row.failed == 1 and row.seeds == [0, 1, 2]
    reasons = "\n".join(table.problems)
    assert len(table.problems) == 5
    for fragment in (
        "expected 'kdtax-bench/2'",
        "location",
        "'student_accuracy'",
        "unreadable",
        "JSON object",
    ):
        assert fragment in reasons
    out = invoke(runner, "--results", str(tmp_path), "--format", "md")
    assert out.exit_code == 0 and "Traceback" not in out.output
    assert out.stderr.count("warning:") == 5
    assert "3 (+1 failed)" in out.stdout


def test_formats_render_and_escape(tmp_path: Path, runner: CliRunner) -> None:
    evil = "<img src=x onerror=alert(1)>"
    for method in (evil, "a_b&c", "kd"):
        for seed in range(3):
            write_run(
                tmp_path, "full", method, seed, configuration="<b>cfg</b>", student_accuracy=81.0 + seed
            )
    args = ["--results", str(tmp_path), "--format"]
    html = invoke(runner, *args, "html").stdout
    assert "<img" not in html and "&lt;img src=x onerror=alert(1)&gt;" in html
    assert "<b>cfg" not in html and "Spearman" in html
    latex = invoke(runner, *args, "latex").stdout
    assert r"a\_b\&c" in latex and r"\begin{tabular}" in latex and r"$\Delta$ [95\% CI]" in latex
    md = invoke(runner, *args, "md").stdout
    assert "| Regime | Method | Configuration | Teacher | Gap | Alone | Distilled | Δ [95% CI] |" in md
    assert "Spearman ρ (full" in md.split("|")[-1]  # below the table
    text = invoke(runner, *args, "csv").stdout
    body = [line for line in text.splitlines() if not line.startswith("#")]
    parsed = list(csv.DictReader(io.StringIO("\n".join(body))))
    assert len(parsed) == 3 and {"delta_mean", "delta_ci95_low", "p_paired"} <= set(parsed[0])
    assert float(parsed[0]["delta_mean"]) == pytest.approx(1.0)
    assert any(line.startswith("# Spearman") for line in text.splitlines())
    target = tmp_path / "out" / "table.md"
    assert invoke(runner, *args, "md", "--output", str(target)).exit_code == 0
    assert target.read_text(encoding="utf-8") == md


def test_regime_filter_and_errors(suite: Path, tmp_path: Path, runner: CliRunner) -> None:
    out = invoke(runner, "--results", str(suite), "--regime", "limited-3", "--format", "json")
    data = json.loads(out.stdout)
    assert {r["regime"] for r in data["rows"]} == {"limited-3"}
    assert [s["regime"] for s in data["spearman"]] == ["limited-3"]
    bad = invoke(runner, "--results", str(suite), "--regime", "nope")
    assert bad.exit_code == 1
    assert bad.stderr.strip().count("\n") == 0
    assert "--regime" in bad.stderr and "full, limited-3, noisy-20" in bad.stderr
    empty = invoke(runner, "--results", str(tmp_path / "nothing"))
    assert empty.exit_code == 1 and "no benchmark-suite results" in empty.stderr


def test_single_seed_and_all_failed_rows(tmp_path: Path) -> None:
    write_run(tmp_path, "full", "kd", 0, student_accuracy=82.0, student_baseline_accuracy=80.0)
    write_run(tmp_path, "full", "fitnet", 0, status="failed", error="nan loss")
    rows = {r.method: r for r in load_suite(tmp_path)}
    assert rows["kd"].delta_mean == pytest.approx(2.0) and rows["kd"].delta_ci95 is None
    assert rows["kd"].p_paired is None and rows["kd"].wins == 1
    assert rows["fitnet"].n == 0 and rows["fitnet"].failed == 1 and rows["fitnet"].delta_mean is None
    text = render(build(tmp_path), "json")
    assert json.loads(text)["rows"][0]["delta_ci95"] is None


def test_table_benchmark_does_not_import_torch(suite: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kdtaxonomy.cli import app\n"
        "for fmt in ('json', 'md', 'html', 'latex', 'csv'):\n"
        f"    r = CliRunner().invoke(app, ['table', 'benchmark', '--results', {str(suite)!r}, '--format', fmt])\n"
        "    assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_matrix_layout_has_one_row_per_method_and_a_column_per_regime(suite: Path, runner: CliRunner) -> None:
    table = build(suite)
    md = invoke(runner, "--results", str(suite), "--format", "md", "--matrix").stdout
    header = next(line for line in md.splitlines() if line.startswith("| Method"))
    assert header.count("(teacher ") == len(REGIMES)
    body = [line for line in md.splitlines() if line.startswith("| ") and not line.startswith("| Method")]
    assert len(body) == len({r.method for r in table.rows})
    for row in table.rows:  # every cell is the long table's Δ [CI] of that method and regime
        cells = next(line for line in body if line.startswith(f"| {row.method} |")).split(" | ")
        position = [r for r in dict.fromkeys(r.regime for r in table.rows)].index(row.regime) + 1
        assert cells[position].startswith(display_row(row)["delta"])
    html = invoke(runner, "--results", str(suite), "--format", "html", "--matrix").stdout
    assert "<table" in html and "Published Δ" in html


def test_matrix_marks_a_method_with_its_own_teacher_and_student_alone(
    tmp_path: Path, runner: CliRunner
) -> None:
    regime = REGIMES[0]
    for method, offset in (("null-kd", 0.0), ("kd", 0.0), ("dot", -9.0)):
        for seed in SEEDS:
            write_run(tmp_path, regime, method, seed, student_baseline_accuracy=80.0 + seed + offset,
                      student_accuracy=81.0 + seed + offset)  # fmt: skip
    md = invoke(runner, "--results", str(tmp_path), "--format", "md", "--matrix").stdout
    rows = {line.split(" | ")[0].strip("| "): line for line in md.splitlines() if line.startswith("| ")}
    assert "†" in rows["dot"] and "†" not in rows["kd"] and "†" not in rows["null-kd"]
    assert "own teacher and student alone" in md and md.count(": dot.") == 1
