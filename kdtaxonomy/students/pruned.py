"""Pruned student: magnitude pruning, then fine-tuning with distillation (Kim & Rush 2016, survey [8]).

"Sequence-Level Knowledge Distillation", Sec. 6: the distilled student is pruned by weight magnitude (80%
of the parameters, following See et al. 2016, whose "class-blind" scheme ranks all weights together) and
re-trained; the survey reports "a student with 80% parameter pruning and a slight drop in accuracy".

Two rounds: round 0 trains the student normally; :meth:`Pruned.before_round` for round 1 zeroes the
``k = floor(sparsity * n + 1/2)`` smallest-magnitude weights of the Conv/Linear layers (biases are kept),
ranked over all layers together (``scope="global"``, class-blind, ``n`` = all such weights) or within each
layer (``scope="layer"``, ``n`` = the layer's weights); ties are broken by position (stable sort), so the
sparsity is exact. The masks are kept as non-persistent buffers ``kd_prune_mask`` of the layers (they move
with the module and are not in its ``state_dict``) and are re-applied after every optimizer step of round
1 (fine-tuning with the distillation objective), so pruned weights stay zero.
"""

from __future__ import annotations

import math
from typing import cast

import torch
from torch import Tensor, nn

from kdtaxonomy.registry import register
from kdtaxonomy.specs.students import PrunedSpec
from kdtaxonomy.students.base import Construction, weight_layers

MASK = "kd_prune_mask"
"""Name of the mask buffer registered on pruned layers."""


def pruned_count(n: int, sparsity: float) -> int:
    """Weights to prune among ``n``: ``floor(sparsity * n + 1/2)``."""
    return min(n, math.floor(sparsity * n + 0.5))


def magnitude_masks(weights: list[Tensor], sparsity: float, scope: str = "global") -> list[Tensor]:
    """Keep-masks (1 kept, 0 pruned) removing the smallest magnitudes, globally or per tensor."""

    def mask_of(magnitudes: Tensor) -> Tensor:
        k = pruned_count(magnitudes.numel(), sparsity)
        keep = torch.ones_like(magnitudes)
        order = torch.sort(magnitudes, stable=True).indices
        keep[order[:k]] = 0.0
        return keep

    if scope == "layer":
        return [mask_of(w.detach().abs().flatten()).view_as(w) for w in weights]
    if scope != "global":
        raise ValueError(f"unknown pruning scope {scope!r}")
    if not weights:
        return []
    flat = torch.cat([w.detach().abs().flatten().to(weights[0].device) for w in weights])
    keep = mask_of(flat)
    sizes = [w.numel() for w in weights]
    return [m.view_as(w).to(w.device) for m, w in zip(torch.split(keep, sizes), weights, strict=True)]


def apply_masks(module: nn.Module) -> None:
    """Multiply every masked weight by its mask (in place, without gradient)."""
    with torch.no_grad():
        for _, layer in weight_layers(module):
            mask = getattr(layer, MASK, None)
            if isinstance(mask, Tensor):
                cast(Tensor, layer.weight).mul_(mask)


def prune(module: nn.Module, sparsity: float, scope: str = "global") -> None:
    """Prune ``module``'s Conv/Linear weights by magnitude and register the masks (see module docstring)."""
    layers = [layer for _, layer in weight_layers(module)]
    weights = [cast(Tensor, layer.weight) for layer in layers]
    for layer, mask in zip(layers, magnitude_masks(weights, sparsity, scope), strict=True):
        layer.register_buffer(MASK, mask.to(cast(Tensor, layer.weight).dtype), persistent=False)
    apply_masks(module)


def sparsity_of(module: nn.Module) -> float:
    """Fraction of zero weights over all Conv/Linear layers."""
    zeros = total = 0
    for _, layer in weight_layers(module):
        w = cast(Tensor, layer.weight)
        zeros += int((w == 0).sum())
        total += w.numel()
    return zeros / total if total else 0.0


@register(spec=PrunedSpec)
class Pruned(Construction[PrunedSpec]):
    """Kim & Rush 2016 (survey [8]): magnitude pruning of the distilled student, then KD fine-tuning."""

    rounds = 2

    def before_round(self, round_index: int, student: nn.Module) -> None:
        if round_index == 1:
            prune(student, self.spec.sparsity, self.spec.scope)

    def after_step(self, student: nn.Module) -> None:
        apply_masks(student)

    def finalize(self, student: nn.Module) -> nn.Module:
        apply_masks(student)
        return student

    def describe(self, student: nn.Module) -> dict[str, float]:
        return {"sparsity": sparsity_of(student), "target_sparsity": float(self.spec.sparsity)}
