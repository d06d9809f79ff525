"""``kdtax bench``, reproduced results in ``kdtax show``, the claims and the reproduction report."""

from __future__ import annotations

import json
import math
import statistics
from pathlib import Path
from typing import Any

import pytest
import torch
from scipy import special, stats
from typer.testing import CliRunner

from kdtaxonomy import suite
from kdtaxonomy.bench import RESULT_FORMAT, Welch, fmt_delta, load_reproduced, stdev, welch_t_test
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.claims import CLAIMS, render_report
from kdtaxonomy.cli import app

ID, CONFIG = "cho2023-area-rkd", "audio-angle-area"
TINY = [
    "--epochs",
    "1",
    "--teacher-epochs",
    "1",
    "--max-steps",
    "2",
    "--dataset-param",
    "train_limit=192",
    "--dataset-param",
    "test_limit=96",
]


# -- statistics against independent references ------------------------------------------------------------
def test_welch_t_test_matches_hand_computed_reference() -> None:
    a, b = [1.0, 2.0, 3.0, 4.0], [2.0, 4.0, 6.0, 8.0, 10.0]
    # By hand: means 2.5 and 6; variances 5/3 and 10; se^2 = 5/12 + 2 = 29/12
    # t = -3.5 / sqrt(29/12); df = (29/12)^2 / ((5/12)^2/3 + 2^2/4)
    se2 = 29 / 12
    t = -3.5 / math.sqrt(se2)
    df = se2**2 / ((5 / 12) ** 2 / 3 + 1.0)
    result = welch_t_test(a, b)
    assert result is not None
    assert result.t == pytest.approx(t, rel=1e-12)
    assert result.df == pytest.approx(df, rel=1e-12)
    # Two-sided p of Student's t with real df, through the regularized incomplete beta function
    assert result.p == pytest.approx(special.betainc(df / 2, 0.5, df / (df + t * t)), rel=1e-10)
    assert isinstance(result, Welch)
    assert stdev([1.0, 2.0, 3.0, 4.0]) == pytest.approx(statistics.stdev([1.0, 2.0, 3.0, 4.0]))
    assert welch_t_test([1.0], [2.0, 3.0]) is None
    assert welch_t_test([1.0, 1.0], [2.0, 2.0]) is None


def test_welch_p_value_matches_scipy() -> None:
    samples = [([71.2, 70.4, 72.9], [69.0, 69.8, 68.1]), ([1.0, 2.5, 2.0, 7.0], [3.0, 3.1, 2.9])]
    for a, b in samples:
        ours = welch_t_test(a, b)
        ref = stats.ttest_ind(a, b, equal_var=False)
        assert ours is not None
        assert ours.t == pytest.approx(float(ref.statistic), rel=1e-10)
        assert ours.p == pytest.approx(float(ref.pvalue), rel=1e-8)


# -- claims are copied from the catalog --------------------------------------------------------------------
def test_claim_numbers_are_the_catalogs(catalog: Catalog) -> None:
    for claim in CLAIMS:
        for number in claim.numbers:
            entry = catalog.get(number.entry)
            assert any(
                r.value == number.value
                and r.configuration == number.configuration
                and r.dataset_text == number.dataset
                and r.metric == number.metric
                and r.source.table in number.table
                for r in entry.results
            ), (claim.id, number)
        for comparison in claim.comparisons:
            for side in (comparison.better, comparison.worse):
                if side is not None and side.suite:
                    regime, method = suite.regime(side.entry), suite.method(side.configuration)
                    assert (regime.id, method.id) == (side.entry, side.configuration)
                elif side is not None:
                    catalog.get(side.entry).configuration(side.configuration)
            assert (comparison.better is None) == bool(comparison.unavailable)


def test_report_without_results_says_not_run(tmp_path: Path) -> None:
    text = render_report(tmp_path / "nothing")
    assert "**not run** — no results for cho2023-area-rkd#audio-angle-area distilled student" in text
    assert "65.28%" in text and "64.37%" in text and "89.19%" in text and "1.14%" in text
    assert "**not run** — no results for hinton2015-distilling#ex2 distilled student" in text
    assert "**not run** — no results for suite limited-3/kd distilled student" in text
    assert ": **same direction**" not in text and ": **opposite direction**" not in text


# -- a tiny bench end to end --------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def benched(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    results = tmp_path_factory.mktemp("results")
    mp = pytest.MonkeyPatch()
    mp.setenv("KDTAX_CACHE_DIR", str(tmp_path_factory.mktemp("bench-cache")))
    try:
        runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
        out = runner.invoke(
            app,
            [
                "bench",
                ID,
                "--config",
                CONFIG,
                "--seeds",
                "2",
                *TINY,
                "--results",
                str(results),
                "--format",
                "json",
            ],
        )
    finally:
        mp.undo()
    assert out.exit_code == 0, out.output
    return results, out.stdout


def test_bench_writes_one_file_per_run_with_provenance(benched: tuple[Path, str]) -> None:
    results, _ = benched
    files = sorted((results / ID / CONFIG).glob("*.json"))
    assert [f.name for f in files] == ["seed-0.json", "seed-1.json"]
    for seed, path in enumerate(files):
        data = json.loads(path.read_text())
        assert data["format"] == RESULT_FORMAT and data["status"] == "ok" and data["seed"] == seed
        for key in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy", "wall_seconds"):
            assert isinstance(data[key], float)
        prov = data["provenance"]
        assert set(prov) >= {"git_commit", "recipe", "recipe_hash", "dataset", "seed", "device", "torch"}
        assert prov["dataset"]["name"] == "mnist1d" and "generator_args" in prov["dataset"]
        assert prov["dataset"]["num_train"] == 192
        assert prov["settings"]["max_steps"] == 2 and prov["seed"] == seed
        assert prov["recipe"]["student_model"]["component"] == "cnn1d"


def test_bench_aggregates_mean_std_and_welch(benched: tuple[Path, str]) -> None:
    results, stdout = benched
    runs = [json.loads(p.read_text()) for p in sorted((results / ID / CONFIG).glob("*.json"))]
    alone = [r["student_baseline_accuracy"] for r in runs]
    distilled = [r["student_accuracy"] for r in runs]
    (summary,) = json.loads(stdout)["aggregates"]
    assert summary["n"] == 2 and summary["seeds"] == [0, 1]
    assert summary["alone"]["mean"] == pytest.approx(statistics.mean(alone))
    assert summary["alone"]["std"] == pytest.approx(statistics.stdev(alone))
    assert summary["distilled"]["std"] == pytest.approx(statistics.stdev(distilled))
    assert summary["difference"] == pytest.approx(statistics.mean(distilled) - statistics.mean(alone))
    welch = welch_t_test(distilled, alone)
    assert (summary["welch"] is None) == (welch is None)
    if welch is not None:
        assert summary["welch"]["p"] == pytest.approx(welch.p)
    diffs = [d - a for d, a in zip(distilled, alone, strict=True)]
    assert summary["protocol"] == RESULT_FORMAT and summary["baseline"]["kind"] == "matched"
    assert summary["paired"]["n"] == 2 and summary["paired"]["delta_mean"] == pytest.approx(
        statistics.mean(diffs)
    )
    assert summary["paired"]["wins"] == sum(d > 0 for d in diffs)
    agg = load_reproduced(results)[(ID, CONFIG)]
    assert agg.distilled == pytest.approx(distilled) and agg.n == 2


def test_show_prints_reproduced_results(benched: tuple[Path, str], runner: CliRunner) -> None:
    results, _ = benched
    out = runner.invoke(app, ["show", ID, "--config", CONFIG, "--results", str(results)])
    assert out.exit_code == 0, out.output
    assert "Reproduced (kdtax bench)" in out.stdout
    assert "mnist1d" in out.stdout and "192" in out.stdout
    data = json.loads(runner.invoke(app, ["show", ID, "--format", "json", "--results", str(results)]).stdout)
    assert data["reproduced"][0]["configuration"] == CONFIG and data["reproduced"][0]["n"] == 2
    assert data["reproduced"][0]["dataset"]["num_train"] == 192
    assert all(r.get("role") != "reproduced" for r in data["results"])  # kept apart from reported results
    other = runner.invoke(app, ["show", "hinton2015-distilling", "--results", str(results)])
    assert "Reproduced" not in other.stdout
    plain = json.loads(
        runner.invoke(app, ["show", ID, "--format", "json", "--results", str(results / "x")]).stdout
    )
    assert "reproduced" not in plain


def test_report_with_results_states_the_comparison(benched: tuple[Path, str], runner: CliRunner) -> None:
    results, _ = benched
    output = results.parent / "REPRODUCTION.md"
    out = runner.invoke(app, ["reproduction-report", "--results", str(results), "-o", str(output)])
    assert out.exit_code == 0, out.output
    text = output.read_text()
    agg = load_reproduced(results)[(ID, CONFIG)]
    line = next(x for x in text.splitlines() if "same student trained alone" in x and ID in x)
    test = agg.paired
    assert test is not None
    expected = "no clear difference (CI covers 0)"
    if test.ci95[0] > 0:
        expected = "same direction"
    elif test.ci95[1] < 0:
        expected = "opposite direction"
    assert f"**{expected}**" in line
    assert f"cho2023-area-rkd#{CONFIG} distilled student" in line and "(n=2 paired seeds: 0, 1)" in line
    assert f"Δ = {fmt_delta(test)} points" in line and "paired p = " in line
    # audio-angle was not benched: that comparison is "not run"; the no-assistant run is not in the catalog
    assert "no results for cho2023-area-rkd#audio-angle distilled student" in text
    assert "**not runnable**" in text


def test_malformed_result_files_are_flagged_not_fatal(
    benched: tuple[Path, str], tmp_path: Path, runner: CliRunner
) -> None:
    results, _ = benched
    copy = tmp_path / "results"
    target = copy / ID / CONFIG
    target.mkdir(parents=True)
    for path in (results / ID / CONFIG).glob("*.json"):
        (target / path.name).write_bytes(path.read_bytes())
    (target / "seed-2.json").write_text("{not json")
    bad = json.loads((target / "seed-0.json").read_text())
    bad["seed"], bad["student_accuracy"] = 3, "high"
    (target / "seed-3.json").write_text(json.dumps(bad))
    failed = {**bad, "seed": 4, "status": "failed", "error": "TrainingError: loss is NaN"}
    (target / "seed-4.json").write_text(json.dumps(failed))
    problems: list[str] = []
    agg = load_reproduced(copy, problems)[(ID, CONFIG)]
    assert agg.seeds == [0, 1] and agg.failed == {4: "TrainingError: loss is NaN"}
    assert len(problems) == 2
    assert any("seed-2.json: skipped, unreadable" in p for p in problems)
    assert any(
        "seed-3.json: skipped, malformed results file: missing or non-numeric 'student_accuracy'" in p
        for p in problems
    )
    out = runner.invoke(app, ["show", ID, "--config", CONFIG, "--results", str(copy)])
    assert out.exit_code == 0 and "(+1" in out.stdout
    assert "seed-2.json: skipped" in out.stderr


def test_skip_done_keeps_earlier_runs(benched: tuple[Path, str], tmp_path: Path, runner: CliRunner) -> None:
    results, _ = benched
    before = {p.name: p.read_bytes() for p in (results / ID / CONFIG).glob("*.json")}
    args = ["bench", f"{ID}#{CONFIG}", "--seeds", "2", *TINY, "--results", str(results), "--skip-done"]
    out = runner.invoke(app, [*args, "--format", "json"])
    assert out.exit_code == 0, out.output
    assert {p.name: p.read_bytes() for p in (results / ID / CONFIG).glob("*.json")} == before
    assert json.loads(out.stdout)["aggregates"][0]["n"] == 2


def test_parallel_jobs_give_the_serial_results_at_the_same_thread_count_and_identical_recipes_share_a_run(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner(env={"COLUMNS": "120", "NO_COLOR": "1", "TERM": "dumb"})
    ids = [
        "jung2020-asc-audio-tagging#codecat",
        "jung2020-asc-audio-tagging#before-code",
        "hinton2015-distilling#ex1",
    ]

    def bench(jobs: int) -> dict[tuple[str, str, int], dict[str, Any]]:
        results = tmp_path / f"results-{jobs}"
        monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path / f"cache-{jobs}"))  # each trains its own teachers
        args = ["bench", *ids, "--seeds", "2", *TINY, "--results", str(results), "--jobs", str(jobs)]
        out = runner.invoke(app, [*args, "--format", "json"])
        assert out.exit_code == 0, out.output
        for seed in range(2):  # one line per finished run while the bench goes on
            assert (
                f"done jung2020-asc-audio-tagging#before-code seed {seed}: teacher " in out.output
                and "(same run as jung2020-asc-audio-tagging#codecat)" in out.output
            )
        runs = {}
        for path in results.rglob("seed-*.json"):
            data = json.loads(path.read_text())
            runs[(data["id"], data["configuration"], data["seed"])] = data
        return runs

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the workers of --jobs 2 on 2 cores get 1 thread; CPU numerics depend on it
    try:
        serial = bench(1)
    finally:
        torch.set_num_threads(threads)
    parallel = bench(2)
    assert set(serial) == set(parallel) and len(serial) == 6
    keys = ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy")
    for run, data in serial.items():
        assert [data[k] for k in keys] == [parallel[run][k] for k in keys], run  # same numbers in workers
    for seed in range(2):
        copy = parallel[("jung2020-asc-audio-tagging", "before-code", seed)]
        source = parallel[("jung2020-asc-audio-tagging", "codecat", seed)]
        assert copy["same_run_as"] == "jung2020-asc-audio-tagging#codecat" and copy["wall_seconds"] == 0.0
        assert [copy[k] for k in keys] == [source[k] for k in keys]
        assert copy["provenance"]["recipe_hash"] == source["provenance"]["recipe_hash"]


def test_skip_done_reruns_when_the_recipe_changed(benched: tuple[Path, str], tmp_path: Path) -> None:
    from kdtaxonomy.commands.bench import _done

    results, _ = benched
    path = results / ID / CONFIG / "seed-0.json"
    data = json.loads(path.read_text())
    settings, digest = data["provenance"]["settings"], data["provenance"]["recipe_hash"]
    assert _done(path, settings, digest) is not None
    assert _done(path, settings, "0" * len(digest)) is None
    assert _done(path, {**settings, "epochs": 99}, digest) is None


def test_a_configuration_sharing_a_kept_run_is_written_without_training(
    runner: CliRunner, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    results = tmp_path / "results"
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path / "cache"))
    args = ["bench", "--seeds", "1", *TINY, "--results", str(results), "--skip-done"]
    first = runner.invoke(app, [*args, "jung2020-asc-audio-tagging#codecat"])
    assert first.exit_code == 0, first.output
    # an interrupted bench ran codecat but not its identical twin: --skip-done shares the kept run
    both = runner.invoke(
        app, [*args, "jung2020-asc-audio-tagging#codecat", "jung2020-asc-audio-tagging#before-code"]
    )
    assert both.exit_code == 0, both.output
    copy = json.loads((results / "jung2020-asc-audio-tagging" / "before-code" / "seed-0.json").read_text())
    source = json.loads((results / "jung2020-asc-audio-tagging" / "codecat" / "seed-0.json").read_text())
    assert copy["same_run_as"] == "jung2020-asc-audio-tagging#codecat"
    assert copy["student_accuracy"] == source["student_accuracy"]
    assert "(same run as jung2020-asc-audio-tagging#codecat)" in both.output
