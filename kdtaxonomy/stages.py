"""The pieces a run is built from: architectures sized for the data, label-only training, a distiller's fit
with a run's settings, online augmentation of the preparation steps, and ensemble accuracy."""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from kdtaxonomy.chance import Chance
from kdtaxonomy.data import ArrayData, DataBundle, model_input
from kdtaxonomy.models.base import tag_model
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.registry import load_components
from kdtaxonomy.train import FitConfig, FitResult, accuracy, fit, loader, wrap_ddp


def build_model(
    key: str, params: dict[str, Any], bundle: DataBundle, view: str = "x", num_classes: int | None = None
) -> nn.Module:
    """A registered architecture sized for ``bundle``'s input ``view``."""
    component = load_components().get("model", key)
    shape = tuple(
        model_input({k: v[:1] for k, v in {"x": bundle.train.x, **bundle.train.views}.items()}, view).shape[
            1:
        ]
    )
    validated = component.validate_params(params)
    classes = num_classes or bundle.num_classes
    model: nn.Module = component.obj(validated, input_shape=shape, num_classes=classes)
    return tag_model(model, key, validated, input_shape=shape, num_classes=classes)


def train_ce(
    model: nn.Module, data: ArrayData, view: str, cfg: FitConfig, val: ArrayData | None = None
) -> FitResult:
    """Train on the labels alone (teachers); selected on ``val``; data-parallel under torchrun."""
    net = wrap_ddp(model, cfg.device)

    def loss(batch: dict[str, torch.Tensor], _epoch: int) -> torch.Tensor:
        return F.cross_entropy(net(model_input(batch, view)).float(), batch["y"])

    def validate() -> float:
        assert val is not None
        return accuracy(model, val, view=view, device=cfg.device)

    return fit(
        net,
        loss,
        lambda e: loader(data, cfg.batch_size, shuffle=True, seed=cfg.seed, epoch=e),
        cfg,
        validate=None if val is None else validate,
        chance=None if val is None else Chance.of(val.y),
    )


def fit_distiller(
    distiller: Distiller, data: ArrayData, cfg: FitConfig, val: ArrayData | None
) -> list[FitResult]:
    """Train ``distiller``'s student on ``data`` with every setting of ``cfg``, selected on ``val``."""
    return distiller.fit(
        data,
        epochs=cfg.epochs,
        steps=cfg.steps,
        batch_size=cfg.batch_size,
        lr=cfg.lr,
        weight_decay=cfg.weight_decay,
        optimizer=cfg.optimizer,
        momentum_delta=cfg.momentum_delta,
        max_steps=cfg.max_steps,
        schedule=cfg.schedule,
        val=val,
        eval_every=cfg.eval_every,
        seed=cfg.seed,
        checkpoint=cfg.checkpoint,
        resume=cfg.resume,
        progress=cfg.progress,
        label=cfg.label,
    )


TEACHER_CONSTRUCTIONS = frozenset({"svm-head", "teacher-init"})
"""Constructions that are themselves the transfer (an SVM on the teacher's features, the teacher's weights
as initialisation): the student-alone baseline is built from scratch instead."""


def online_augment(preps: list[Any]) -> Any:
    """The composed online augmentation of the preparation steps that define one (None if none do)."""
    from kdtaxonomy.prep.base import Prep

    active = [p for p in preps if type(p).augment is not Prep.augment and p.applies_to("student")]
    if not active:
        return None

    def augment(x: torch.Tensor, generator: torch.Generator) -> torch.Tensor:
        for prep in active:
            x = prep.augment(x, generator)
        return x

    return augment


@torch.no_grad()
def ensemble_accuracy(models: list[nn.Module], data: ArrayData, view: str, device: torch.device) -> float:
    probs = None
    for model in models:
        model.eval()
        batch = {"x": data.x, **data.views}
        p = torch.softmax(model(model_input(batch, view).to(device)).float(), dim=1).cpu()
        probs = p if probs is None else probs + p
    assert probs is not None
    return 100.0 * float((probs.argmax(dim=1) == data.y).float().mean())
