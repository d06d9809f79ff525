"""The standard suite (`kdtax bench --suite standard`) on budgets shrunk to a few steps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdtaxonomy import suite as S
from kdtaxonomy.cli import app
from kdtaxonomy.commands.suite import choose, run_suite
from kdtaxonomy.recipe import Recipe

TINY = S.Regime("limited-3", "3%", {"component": "cnn1d", "params": {"size": "tiny"}}, 0.03, 8, 4096, "tiny")


@pytest.fixture()
def tiny_suite(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(S, "REGIMES", (TINY, S.Regime("full", "all", TINY.student, None, 6, 256, "tiny")))
    monkeypatch.setattr(S, "TEACHER_STEPS", 6)
    monkeypatch.setattr(S, "EVAL_EVERY", 4)
    monkeypatch.setattr(S, "GRID_SEEDS", (1000,))


def test_every_suite_recipe_validates() -> None:
    for m in S.METHODS:
        assert m.grid and S.DEFAULT in m.grid, m.id
        for r in S.REGIMES:
            for variant in m.grid:
                recipe = Recipe.model_validate(S.recipe_data(m, r, variant=variant))
                scale = dict(variant)["scale"]
                assert [k.weight for k in recipe.knowledge] == [t.weight * scale for t in m.terms]
                assert recipe.teacher.component == "single"
    assert len([m for m in S.METHODS if m.id != "null-kd"]) >= 12


def test_dkd_warmup_keeps_mdistillers_fraction_of_the_budget() -> None:
    data = S.recipe_data(S.method("dkd"), S.regime("limited-3"))
    assert data["knowledge"][0]["params"]["warmup_epochs"] == pytest.approx(600 * 20 / 240)


def test_choose_takes_the_best_validation_mean_and_breaks_ties_to_the_default() -> None:
    low, high = (("scale", 0.1),), (("scale", 10.0),)
    assert choose({low: [80.0, 82.0], S.DEFAULT: [79.0, 80.0], high: [70.0, 71.0]}) == low
    assert choose({low: [80.0], S.DEFAULT: [80.0]}) == S.DEFAULT


def test_suite_runs_grid_then_paired_seeds_and_the_table_reads_them(tiny_suite: None, tmp_path: Path) -> None:
    code = run_suite(seeds=2, methods=["null-kd", "kd"], results_dir=tmp_path)
    assert code == 0
    grid = json.loads((tmp_path / "suite" / "limited-3" / "kd" / "grid.json").read_text())
    assert grid["grid"] == [S.variant_key(v) for v in S.method("kd").grid]
    assert grid["chosen"] in grid["grid"] and set(grid["mean_val_accuracy"]) == set(grid["grid"])
    assert not (tmp_path / "suite" / "limited-3" / "null-kd" / "grid.json").exists()
    for regime in ("limited-3", "full"):
        for seed in (0, 1):
            null = json.loads((tmp_path / "suite" / regime / "null-kd" / f"seed-{seed}.json").read_text())
            kd = json.loads((tmp_path / "suite" / regime / "kd" / f"seed-{seed}.json").read_text())
            assert null["protocol"] == kd["protocol"] == "kdtax-bench/2"
            assert null["student_accuracy"] == null["student_baseline_accuracy"]
            assert kd["student_baseline_accuracy"] == null["student_baseline_accuracy"]  # one shared baseline
            assert kd["hyperparameters"]["variant"] == dict(
                {S.variant_key(v): v for v in S.method("kd").grid}[
                    json.loads((tmp_path / "suite" / regime / "kd" / "grid.json").read_text())["chosen"]
                ]
            )
            assert kd["baseline"]["kind"] == "matched"
            assert kd["provenance"]["torch_threads"] == 1
    result = CliRunner().invoke(app, ["table", "benchmark", "--results", str(tmp_path), "--format", "json"])
    assert result.exit_code == 0, result.output
    rows = {(r["regime"], r["method"]): r for r in json.loads(result.output)["rows"]}
    assert rows[("full", "null-kd")]["delta_mean"] == 0.0 and rows[("full", "null-kd")]["n"] == 2


def test_skip_done_trains_nothing_twice(
    tiny_suite: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    def again(skip_done: bool) -> int:
        return run_suite(
            seeds=1, methods=["null-kd", "kd"], regimes=["full"], results_dir=tmp_path, skip_done=skip_done
        )

    assert again(False) == 0
    grid_runs = sorted((tmp_path / "suite" / "full" / "kd" / "grid").glob("*.json"))
    assert len(grid_runs) == len(S.method("kd").grid)
    stamps = [p.stat().st_mtime_ns for p in grid_runs]
    capsys.readouterr()
    assert again(True) == 0
    captured = capsys.readouterr()
    assert "(0 trained now)" in captured.out and "done full/kd" not in captured.err
    assert [p.stat().st_mtime_ns for p in grid_runs] == stamps


def test_unknown_method_or_regime_is_one_line(runner: CliRunner) -> None:
    result = runner.invoke(app, ["bench", "--suite", "standard", "--method", "nope"])
    assert result.exit_code == 1
    assert "unknown suite method 'nope'" in result.output
    result = runner.invoke(app, ["bench", "--suite", "other"])
    assert result.exit_code == 1 and "known suite is 'standard'" in result.output


def test_stage_lengths_follow_each_regimes_budget_and_agree_between_term_and_transfer() -> None:
    for r in S.REGIMES:
        rows = round(S.TRAIN_ROWS * (r.fraction or 1.0))
        per_epoch = -(-rows // r.batch_size)
        for method_id in ("ab", "fsp", "ft", "sskd"):
            data = S.recipe_data(S.method(method_id), r)
            hint = data["transfer"]["params"]["hint_epochs"]
            assert isinstance(hint, int) and hint >= 1
            share = S.HEAD if method_id == "sskd" else S.HINT
            assert hint == max(1, round(share.fraction * r.steps / per_epoch)), (method_id, r.id)
            stage = {"until_epochs", "paraphraser_epochs", "head_epochs"}
            lengths = [v for k in data["knowledge"] for name, v in k["params"].items() if name in stage]
            assert lengths and all(v == hint for v in lengths), (method_id, r.id)
        pad = S.recipe_data(S.method("pad-l2"), r)["knowledge"]
        assert (
            pad[0]["params"]["until_epochs"]
            == pad[1]["params"]["from_epochs"]
            == pytest.approx(0.75 * r.steps / per_epoch, abs=1e-3)
        )


def test_dot_trains_with_its_optimizer_and_the_others_with_the_default() -> None:
    r = S.regime("full")
    dot = Recipe.model_validate(S.recipe_data(S.method("dot"), r)).training
    assert (dot.optimizer, dot.lr, dot.momentum_delta, dot.weight_decay) == ("dot", 0.05, 0.075, 0.0005)
    assert Recipe.model_validate(S.recipe_data(S.method("kd"), r)).training.optimizer == "adam"
    assert S.recipe_data(S.method("kd"), r)["transfer"] == {"component": "permuted"}


def test_every_published_label_has_a_published_delta() -> None:
    from kdtaxonomy.published import load_published

    published = load_published()
    for m in S.METHODS:
        if m.published is not None:
            assert published.get(m.published) is not None, m.id
