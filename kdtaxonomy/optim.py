"""DOT: the distillation-oriented trainer (Zhao, Cui, Song, Liang 2023, ICCV), an optimizer for distillation.

DOT observes a trade-off between the task loss (the cross-entropy with the labels) and the distillation loss
when both are optimised through one momentum buffer, and attributes it to the distillation loss being
optimised insufficiently. It therefore keeps the gradients of the two losses apart: SGD with one momentum
buffer per loss, a smaller momentum ``mu - Delta`` for the task-loss gradient and a larger one
``mu + Delta`` for the distillation-loss gradient, and the parameters move by the sum of the two buffers.

For one parameter ``theta`` with learning rate ``lr``, weight decay ``wd`` and gradients ``g_task`` and
``g_dist`` of the two losses at the same ``theta``, one step is::

    b_task = (mu - Delta) * b_task + (g_task + wd * theta)      # b = g + wd * theta at the first step
    b_dist = (mu + Delta) * b_dist + g_dist                     # b = g at the first step
    theta  = theta - lr * (b_task + b_dist)

A parameter that only one of the losses reaches in a step (a distillation loss's own trainable head, a model
trained on its labels alone) is updated with that loss's buffer at the plain momentum ``mu``, and weight
decay then goes with that gradient: the convention of the authors' released code (mdistiller's
``DistillationOrientedTrainer``). With ``Delta = 0`` every step equals SGD with momentum ``mu`` (PyTorch's
form, no dampening) on the summed loss.

Usage (what :func:`dot_step` does): compute the two losses from one forward pass, back-propagate the
distillation loss first and hand its gradients to the optimizer, then back-propagate the task loss and step::

    optimizer.zero_grad(set_to_none=True)
    distill.backward(retain_graph=True)
    optimizer.hold_distillation_gradients()
    task.backward()
    optimizer.step()
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import Tensor

DEFAULT_MOMENTUM = 0.9
"""The base momentum ``mu`` (the SGD momentum of this project and of the paper's code's configurations)."""
DEFAULT_DELTA = 0.075
"""Default ``Delta``: mdistiller's ``SOLVER.DOT.DELTA`` (its CIFAR-100 configurations; ImageNet ResNet-34 ->
ResNet-18 uses 0.09)."""


class DistillationOrientedTrainer(torch.optim.Optimizer):
    """SGD with separate momentum buffers for the task-loss and the distillation-loss gradients (DOT).

    ``momentum`` is ``mu`` and ``delta`` is ``Delta``: the task gradient's buffer decays with
    ``mu - delta``, the distillation gradient's with ``mu + delta`` (both must lie in ``[0, 1)``). See the
    module docstring for the update and the order of the calls.
    """

    def __init__(
        self,
        params: Iterable[Tensor] | Iterable[dict[str, Any]],
        lr: float,
        momentum: float = DEFAULT_MOMENTUM,
        delta: float = DEFAULT_DELTA,
        weight_decay: float = 0.0,
    ) -> None:
        if lr < 0:
            raise ValueError(f"DOT: learning rate must be >= 0, got {lr}")
        if weight_decay < 0:
            raise ValueError(f"DOT: weight decay must be >= 0, got {weight_decay}")
        if delta < 0 or momentum - delta < 0 or momentum + delta >= 1:
            raise ValueError(
                f"DOT needs 0 <= delta and 0 <= momentum - delta <= momentum + delta < 1, got momentum "
                f"{momentum} and delta {delta}"
            )
        defaults = {"lr": lr, "momentum": momentum, "delta": delta, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    @torch.no_grad()
    def hold_distillation_gradients(self) -> None:
        """Take the gradients now in ``.grad`` as the distillation loss's (kept for the coming
        :meth:`step`) and clear ``.grad`` for the task loss's backward pass."""
        for group in self.param_groups:
            for p in group["params"]:
                if p.grad is not None:
                    self.state[p]["held_distillation_grad"] = p.grad.detach().clone()
                    p.grad = None

    @torch.no_grad()
    def step(self, closure: Callable[[], float] | None = None) -> float | None:  # type: ignore[override]
        """One DOT update from the held distillation gradients and the task gradients in ``.grad``."""
        loss = None
        if closure is not None:
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, mu, delta, wd = group["lr"], group["momentum"], group["delta"], group["weight_decay"]
            for p in group["params"]:
                state = self.state[p]
                g_dist: Tensor | None = state.pop("held_distillation_grad", None)
                g_task: Tensor | None = p.grad
                if g_task is None and g_dist is None:
                    continue
                both = g_task is not None and g_dist is not None
                update = torch.zeros_like(p)
                if g_task is not None:
                    d_p = g_task.add(p, alpha=wd) if wd != 0 else g_task
                    update.add_(_buffer(state, "task_buffer", d_p, mu - delta if both else mu))
                if g_dist is not None:
                    d_p = g_dist.add(p, alpha=wd) if wd != 0 and g_task is None else g_dist
                    update.add_(_buffer(state, "distillation_buffer", d_p, mu + delta if both else mu))
                p.add_(update, alpha=-lr)
        return loss


def _buffer(state: dict[str, Any], name: str, d_p: Tensor, momentum: float) -> Tensor:
    """Update (or start, with ``d_p`` itself) the momentum buffer ``state[name]`` and return it."""
    buf: Tensor | None = state.get(name)
    if buf is None:
        buf = d_p.detach().clone()
        state[name] = buf
    else:
        buf.mul_(momentum).add_(d_p)
    return buf


def dot_step(optimizer: torch.optim.Optimizer, task: Tensor, distill: Tensor | None) -> None:
    """One DOT step from one forward pass: the distillation loss's gradients first (held by the optimizer),
    then the task loss's, then the update with one momentum buffer per loss. ``distill`` None (or without
    grad): every gradient is the task loss's."""
    if not isinstance(optimizer, DistillationOrientedTrainer):
        raise TypeError(f"a DOT step needs the DistillationOrientedTrainer, got {type(optimizer).__name__}")
    optimizer.zero_grad(set_to_none=True)
    if distill is not None and distill.requires_grad:
        distill.backward(retain_graph=True)  # type: ignore[no-untyped-call]
        optimizer.hold_distillation_gradients()
    if task.requires_grad:
        task.backward()  # type: ignore[no-untyped-call]
    optimizer.step()
