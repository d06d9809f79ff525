"""Driven by the catalog: every configuration compiles into a recipe and trains a few steps end to end."""

from __future__ import annotations

import math
from dataclasses import replace

import pytest
import torch

from kdtaxonomy.catalog import Catalog, load_catalog
from kdtaxonomy.recipe import resolve, task_runner
from kdtaxonomy.registry import load_components
from kdtaxonomy.runner import Runner, RunOptions

from .conftest import CATALOG

CONFIGS = [(e.id, c.name) for e, c in load_catalog(CATALOG, use_cache=False).configurations()]
TINY = RunOptions(
    seed=0,
    epochs=1,
    teacher_epochs=1,
    max_steps=2,
    batch_size=32,
    cache=False,
    dataset_params={"train_limit": 192, "test_limit": 96},
)
TINY_TASK = {"train": 24, "valid": 10, "test": 10}


@pytest.mark.parametrize(("entry_id", "config"), CONFIGS, ids=[f"{e}#{c}" for e, c in CONFIGS])
def test_configuration_trains_a_few_steps(catalog: Catalog, entry_id: str, config: str) -> None:
    recipe = resolve(catalog.get(entry_id).configuration(config), entry_id)
    task = task_runner(recipe) is not None  # the sequence benchmark: a small generated task
    runner = Runner(recipe, replace(TINY, dataset_params=TINY_TASK) if task else TINY)
    result = runner.run()
    for key in ("student_baseline_accuracy", "student_accuracy"):
        assert 0.0 <= result[key] <= 100.0 and math.isfinite(result[key]), key
    if result["teacher_accuracy"] is not None:
        assert 0.0 <= result["teacher_accuracy"] <= 100.0
    if task:  # its pairing and training are checked in test_sequence_catalog.py
        assert result["curves"]["student"]["selected_step"] >= 0
        return
    after = runner.distiller.student.state_dict()
    changed = [
        k
        for k, v in runner.student_initial.items()
        if k in after and v.is_floating_point() and not torch.equal(v, after[k].to(v.device))
    ]
    assert changed, "no student parameter changed"


def test_every_registered_component_is_used_or_listed_as_extra(catalog: Catalog) -> None:
    """Every component is reachable from some catalogued configuration, or is a documented extra."""
    extras = {
        ("model", "mlp"),
        ("model", "lstm"),
        ("model", "cnn2d"),
        ("model", "resnet2d"),
        ("dataset", "image-folder"),
        ("dataset", "cifar"),
        ("dataset", "wav-folder"),
        ("dataset", "fsdd"),
        ("dataset", "av-digits"),
        ("prep", "class-partition"),
        ("prep", "spectral-view"),
        ("transfer", "permuted"),
        # Kim & Rush prune their students after distillation; their configurations run on the sequence
        # benchmark, whose students train from scratch
        ("student", "pruned"),
    }
    # the named CIFAR architectures of the KD benchmark tables, for --teacher-model / --student-model
    extras |= {("model", c.key) for c in load_components().list("model") if not c.params.sized}
    used: set[tuple[str, str]] = set()
    for entry, config in catalog.configurations():
        recipe = resolve(config, entry.id)
        used.add(("dataset", recipe.dataset.component))
        used.update(("prep", p.component) for p in recipe.data_preparation)
        used.add(("teacher", recipe.teacher.component))
        used.add(("model", str(recipe.teacher.params.get("model", "cnn1d"))))
        for arch in recipe.teacher.params.get("assistants", []) or []:
            used.add(("model", str(arch).split(":")[0]))
        used.update(("loss", k.component) for k in recipe.knowledge)
        used.add(("transfer", recipe.transfer.component))
        used.add(("model", recipe.student_model.component))
        used.add(("student", recipe.student.component))
    registered = {(c.kind, c.key) for c in load_components()}
    unused = sorted(registered - used - extras)
    assert not unused, f"registered but used by no configuration and not listed as extra: {unused}"
