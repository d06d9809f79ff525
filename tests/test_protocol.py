"""Protocol kdtax-bench/2 and the five pipeline bugs of the benchmark audit (B1-B5), each with a test that
fails on the code before the fix."""

from __future__ import annotations

import math

import pytest
import torch
from torch import nn

from kdtaxonomy.data import ArrayData, model_input
from kdtaxonomy.losses.dkd import DKD, dkd
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.recipe import Recipe
from kdtaxonomy.runner import Runner, RunOptions
from kdtaxonomy.schema import KnowledgeSpec
from kdtaxonomy.splits import teacher_inputs, validation_split
from kdtaxonomy.train import FitConfig, budget, cosine_factor, fit, loader
from kdtaxonomy.transfer import aggregate_logits, majority_vote

SMALL_DATA = {"train_limit": 240, "test_limit": 96}


def tiny_recipe(**fields: object) -> Recipe:
    data: dict[str, object] = {
        "dataset": {"component": "mnist1d", "params": SMALL_DATA},
        "teacher": {"component": "single", "params": {"model": "cnn1d", "size": "tiny"}},
        "student_model": {"component": "cnn1d", "params": {"size": "tiny"}},
        "training": {"steps": 6, "teacher_steps": 6, "batch_size": 32, "eval_every": 3},
    }
    data.update(fields)
    return Recipe.model_validate(data)


# -- B1: the teacher sees its own view, not the student's degraded input ------------------------------------
def test_b1_teacher_cache_holds_the_teacher_on_its_own_view() -> None:
    recipe = tiny_recipe(
        data_preparation=[{"component": "downsample-upsample", "params": {"factor": 4}}],
        knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 1.0}],
    )
    runner = Runner(recipe, RunOptions(seed=0, cache=False))
    runner.run()
    distiller = runner.distiller
    assert distiller._cache is not None
    data = runner.student_train
    teacher = runner.models["teacher"].eval()
    with torch.no_grad():
        own = teacher(model_input({"x": data.x, **data.views}, distiller.teacher_views[0]))
        degraded = teacher(data.x)
    assert distiller.teacher_views == ["teacher.x"]
    torch.testing.assert_close(distiller._cache[0]["output"], own)
    assert not torch.allclose(own, degraded), "the student's input is degraded: the two must differ"


def test_teacher_inputs_align_rows_by_sample_index() -> None:
    x = torch.arange(10.0).reshape(5, 1, 2)
    teacher = ArrayData.from_tensors(x, torch.zeros(5))
    student = teacher.subset(torch.tensor([3, 1])).with_x(torch.zeros(2, 1, 2))
    data, views = teacher_inputs(student, teacher, ["x"])
    assert views == ["teacher.x"]
    torch.testing.assert_close(data.views["teacher.x"], x[[3, 1]])
    same, unchanged = teacher_inputs(teacher, teacher, ["x"])
    assert unchanged == ["x"] and same is teacher


# -- B2: an assistant's cache key names the teacher it learned from ------------------------------------------
def test_b2_assistant_cache_keys_differ_by_teacher() -> None:
    keys = []
    for size in ("tiny", "small"):
        recipe = tiny_recipe(
            teacher={"component": "assistant-chain",
                     "params": {"model": "cnn1d", "size": size, "assistants": ["cnn1d:tiny"]}},
            knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 1.0}],
            transfer={"component": "sequential"},
        )  # fmt: skip
        runner = Runner(recipe, RunOptions(seed=0, cache=False))
        runner.run()
        keys.append(runner.node_keys["assistant-1"])
    assert keys[0] != keys[1]


# -- B3: DKD's warm-up ramps the loss in ------------------------------------------------------------------
def test_b3_dkd_warmup_factor_is_applied_per_step() -> None:
    torch.manual_seed(0)
    s, t, y = torch.randn(8, 5), torch.randn(8, 5), torch.randint(0, 5, (8,))
    module = DKD(num_classes=5, warmup_epochs=20)
    full = dkd(s, t, y)
    torch.testing.assert_close(module(s, t, targets=y), full)  # no progress known: no warm-up
    module.set_progress(5.0)
    torch.testing.assert_close(module(s, t, targets=y), 0.25 * full)
    module.set_progress(30.0)
    torch.testing.assert_close(module(s, t, targets=y), full)


def test_b3_distiller_reports_progress_to_dkd() -> None:
    torch.manual_seed(0)
    data = ArrayData.from_tensors(torch.randn(64, 1, 8), torch.randint(0, 3, (64,)))
    student = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(8, 3))
    spec = KnowledgeSpec(component="dkd", location="output", params={"warmup_epochs": 4})
    distiller = Distiller(student, [teacher], knowledge=[spec])
    seen: list[float] = []
    distiller.fit(data, steps=6, batch_size=16)  # 4 batches per epoch
    module = distiller.loss_modules[0]
    assert isinstance(module, DKD)
    seen.append(float(module.progress or 0.0))
    assert seen == [6 / 4]
    assert module.warmup_factor(seen[0]) == pytest.approx(6 / 16)


# -- B4: the student alone is the same pipeline minus the distillation terms ------------------------------
@pytest.mark.parametrize("augment", [True, False])
def test_b4_null_kd_equals_the_student_alone_with_augmentation_and_construction(augment: bool) -> None:
    recipe = tiny_recipe(
        data_preparation=[{"component": "augment"}] if augment else [],
        knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 0.0}],
        student={"component": "low-precision", "params": {"weight_bits": 4, "activation_bits": 8}},
    )
    runner = Runner(recipe, RunOptions(seed=3, cache=False))
    result = runner.run()
    assert result["student_accuracy"] == result["student_baseline_accuracy"]
    assert result["student_val_accuracy"] == result["student_baseline_val_accuracy"]
    assert result["baseline"]["construction"] == "low-precision"
    assert result["curves"]["student alone"] == result["curves"]["distilled student"]
    alone = runner.baseline_distiller.student.state_dict()
    distilled = runner.distiller.student.state_dict()
    assert alone.keys() == distilled.keys()
    for key, value in alone.items():  # BatchNorm running statistics included
        assert torch.equal(value, distilled[key]), key


def test_b4_a_real_kd_term_changes_the_student() -> None:
    recipe = tiny_recipe(knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 5.0}])
    result = Runner(recipe, RunOptions(seed=3, cache=False)).run()
    curves = result["curves"]
    assert curves["student alone"] != curves["distilled student"] or (
        result["student_accuracy"] != result["student_baseline_accuracy"]
    )


# -- B5: hard-label voting breaks ties by the mean teacher probability ------------------------------------
def test_b5_vote_ties_go_to_the_higher_mean_probability() -> None:
    a = torch.log(torch.tensor([[0.05, 0.55, 0.10, 0.30]]))  # votes class 1, barely
    b = torch.log(torch.tensor([[0.01, 0.02, 0.02, 0.95]]))  # votes class 3, surely
    stacked = torch.stack([a, b])
    assert majority_vote(stacked).tolist() == [3]  # argmax of the vote count alone would pick class 1
    one_hot = aggregate_logits([a, b], temperature=4.0, vote=True).argmax(dim=1)
    assert one_hot.tolist() == [3]
    c = torch.log(torch.tensor([[0.10, 0.60, 0.10, 0.20]]))
    assert majority_vote(torch.stack([a, b, c])).tolist() == [1]  # a real majority wins


# -- the protocol: steps, cosine decay, validation selection ----------------------------------------------
def test_budget_is_in_steps_and_capped() -> None:
    assert budget(FitConfig(steps=7), 3) == (7, 3)
    assert budget(FitConfig(epochs=2), 3) == (6, 2)
    assert budget(FitConfig(steps=7, max_steps=4), 3) == (4, 2)
    assert cosine_factor(0, 10) == 1.0
    assert cosine_factor(5, 10) == pytest.approx(0.5)
    assert cosine_factor(10, 10) == pytest.approx(0.0)


def test_fit_runs_the_step_budget_with_cosine_decay_and_restores_the_best_validation_state() -> None:
    torch.manual_seed(0)
    data = ArrayData.from_tensors(torch.randn(30, 4), torch.randint(0, 2, (30,)))
    model = nn.Linear(4, 2)
    lrs: list[float] = []
    snapshots: dict[int, dict[str, torch.Tensor]] = {}
    steps = {"n": 0}
    scores = iter([50.0, 90.0, 70.0, 60.0])

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        steps["n"] += 1
        return nn.functional.cross_entropy(model(batch["x"]), batch["y"])

    def validate() -> float:
        snapshots[steps["n"]] = {k: v.clone() for k, v in model.state_dict().items()}
        return next(scores)

    optimizer_lrs = []

    def on_step(step: int, per_epoch: int) -> None:
        lrs.append(cosine_factor(step, 8))
        optimizer_lrs.append(per_epoch)

    cfg = FitConfig(steps=8, batch_size=8, lr=0.1, eval_every=2)
    result = fit(model, loss, lambda e: loader(data, 8, shuffle=True, seed=0, epoch=e), cfg,
                 validate=validate, on_step=on_step)  # fmt: skip
    assert result.steps == 8 and steps["n"] == 8
    assert [s for s, _ in result.curve] == [2, 4, 6, 8]
    assert result.best_step == 4 and result.best_value == 90.0
    for key, value in model.state_dict().items():
        torch.testing.assert_close(value, snapshots[4][key])
    assert optimizer_lrs[0] == 4  # 30 rows, batch 8


def test_cosine_schedule_reaches_the_optimizer() -> None:
    model = nn.Linear(2, 2)
    data = ArrayData.from_tensors(torch.randn(8, 2), torch.randint(0, 2, (8,)))
    seen: list[float] = []
    optimizer_holder: list[torch.optim.Optimizer] = []
    original = torch.optim.Adam

    class Spy(original):  # type: ignore[misc, valid-type]
        def step(self, *args: object, **kwargs: object) -> object:
            seen.append(self.param_groups[0]["lr"])
            optimizer_holder.append(self)
            return super().step(*args, **kwargs)

    torch.optim.Adam = Spy  # type: ignore[misc]
    try:
        fit(model, lambda b, e: nn.functional.cross_entropy(model(b["x"]), b["y"]),
            lambda e: loader(data, 4, shuffle=False, seed=0, epoch=e), FitConfig(steps=4, lr=1.0))  # fmt: skip
    finally:
        torch.optim.Adam = original  # type: ignore[misc]
    assert seen == pytest.approx(
        [1.0, (1 + math.cos(math.pi / 4)) / 2, 0.5, (1 + math.cos(3 * math.pi / 4)) / 2]
    )


def test_validation_split_is_stratified_disjoint_and_seeded() -> None:
    y = torch.arange(100) % 4
    data = ArrayData.from_tensors(torch.randn(100, 1, 3), y)
    fit_rows, held = validation_split(data, 0.2, seed=1)
    assert held is not None
    assert len(held) == 20 and len(fit_rows) == 80
    assert set(held.index.tolist()).isdisjoint(fit_rows.index.tolist())
    assert torch.bincount(held.y).tolist() == [5, 5, 5, 5]
    again = validation_split(data, 0.2, seed=1)[1]
    assert again is not None and torch.equal(again.index, held.index)
    other = validation_split(data, 0.2, seed=2)[1]
    assert other is not None and not torch.equal(other.index, held.index)


def test_runner_selects_on_validation_and_never_trains_on_it() -> None:
    recipe = tiny_recipe(knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 1.0}])
    runner = Runner(recipe, RunOptions(seed=0, cache=False))
    result = runner.run()
    assert result["dataset"]["num_val"] > 0
    assert result["dataset"]["num_fit"] + result["dataset"]["num_val"] == 240
    assert {s for s, _ in result["curves"]["distilled student"][0]["curve"]} == {3, 6}
    assert "student_val_accuracy" in result and "teacher_val_accuracy" in result


def test_same_command_gives_the_same_numbers() -> None:
    recipe = tiny_recipe(knowledge=[{"component": "soft-label-kd", "location": "output", "weight": 1.0}])
    first = Runner(recipe, RunOptions(seed=1, cache=False)).run()
    second = Runner(recipe, RunOptions(seed=1, cache=False)).run()
    for key in ("teacher_accuracy", "student_baseline_accuracy", "student_accuracy", "curves"):
        assert first[key] == second[key], key
