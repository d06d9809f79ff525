"""Base class of the student constructions (survey Section VI, Fig. 6, step "student construction & train").

A construction is built from its validated spec, ``Cls(spec)``, and hooks into the training loop::

    student = construction.prepare(student, teacher)       # before training (may wrap the student)
    for r in range(construction.rounds):
        construction.before_round(r, student)                # e.g. prune before round 1
        for batch in ...:
            loss = ... (construction.criterion() replaces cross-entropy when not None)
            optimizer.step(); construction.after_step(student)   # e.g. re-apply pruning masks
    student = construction.finalize(student)                 # e.g. bake quantized weights
    construction.describe(student)                           # e.g. {"sparsity": 0.8}

A module returned by :meth:`Construction.prepare` keeps the student's ``locations`` (names of the modules
whose outputs are read by feature distillation) and ``classifier`` working.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Generic, TypeVar

from torch import Tensor, nn

from kdtaxonomy.specs.students import StudentSpec

S = TypeVar("S", bound=StudentSpec)

Criterion = Callable[[Tensor, Tensor], Tensor]
"""``criterion(logits, targets) -> scalar loss``."""

WEIGHT_LAYERS: tuple[type[nn.Module], ...] = (
    nn.Linear,
    nn.Conv1d,
    nn.Conv2d,
    nn.Conv3d,
    nn.ConvTranspose1d,
    nn.ConvTranspose2d,
    nn.ConvTranspose3d,
)
"""Layers whose ``weight`` the compressing constructions quantize or prune."""


def weight_layers(module: nn.Module) -> Iterator[tuple[str, nn.Module]]:
    """``(name, layer)`` of every Conv/Linear layer of ``module``, in registration order."""
    for name, layer in module.named_modules():
        if isinstance(layer, WEIGHT_LAYERS):
            yield name, layer


class Construction(Generic[S]):
    """A student construction; subclasses register with ``@register(spec=TheSpec)``."""

    rounds: int = 1
    """Training rounds the loop runs."""

    def __init__(self, spec: S) -> None:
        self.spec = spec

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        """Called before training; returns the module to train (the student itself by default)."""
        return student

    def before_round(self, round_index: int, student: nn.Module) -> None:
        """Called before each training round ``0..rounds-1``."""

    def after_step(self, student: nn.Module) -> None:
        """Called after every optimizer step."""

    def finalize(self, student: nn.Module) -> nn.Module:
        """Called after training; returns the deployable student."""
        return student

    def criterion(self) -> Criterion | None:
        """A loss ``(logits, targets) -> scalar`` that replaces cross-entropy, or None."""
        return None

    def describe(self, student: nn.Module) -> dict[str, float]:
        """Numbers that characterise the constructed student (sparsity, bits, ...)."""
        return {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.spec!r})"
