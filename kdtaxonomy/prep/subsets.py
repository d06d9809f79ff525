"""Decreased training data and eliminated parts of the data (survey [1], [9], [14]).

* ``decrease-data`` — Hinton et al. 2015 (survey [1], Ex. 2) train the student on 3% of JFT, Ahn et al.
  2019 ([9]) on 2% of the data. Stratified: in every class ``c`` present with ``n_c`` training samples,
  ``k_c = min(n_c, max(min_per_class, floor(fraction * n_c + 1/2)))`` samples are drawn without
  replacement (one permutation per class from the generator); the kept rows stay in their original order
  and keep their original indices. Test splits are untouched.
* ``truncate`` — Wang et al. 2019, "Progressive Teacher-student Learning for Early Action Prediction"
  (survey [14]): the teacher sees full sequences, the student only the first part (observation ratio
  ``keep``). The first ``ceil(keep * L)`` samples of the time axis are kept; the rest is zeroed
  (``mode="zero"``, shape kept) or removed (``mode="crop"``). Train and test inputs of the role.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep.base import Prep, randperm
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import DecreaseDataSpec, TruncateSpec


def per_class_count(n: int, fraction: float, min_per_class: int = 1) -> int:
    """Samples kept of a class of ``n``: ``min(n, max(min_per_class, floor(fraction * n + 1/2)))``."""
    return min(n, max(min_per_class, math.floor(fraction * n + 0.5)))


def stratified_rows(y: Tensor, fraction: float, generator: torch.Generator, min_per_class: int = 1) -> Tensor:
    """Sorted row indices of a stratified random subset of the labels ``y`` (see the module docstring)."""
    labels = y.detach().cpu()
    keep: list[Tensor] = []
    for c in torch.unique(labels).tolist():
        rows = torch.nonzero(labels == c, as_tuple=False).flatten()
        k = per_class_count(rows.numel(), fraction, min_per_class)
        keep.append(rows[randperm(rows.numel(), generator)[:k]])
    if not keep:
        return torch.zeros(0, dtype=torch.long)
    return torch.sort(torch.cat(keep)).values


@register(spec=DecreaseDataSpec)
class DecreaseData(Prep[DecreaseDataSpec]):
    """Hinton et al. 2015 (survey [1] Ex. 2), Ahn et al. 2019 ([9]): a stratified fraction of the data."""

    def apply(self, data: ArrayData, *, role: str, generator: torch.Generator) -> ArrayData:
        if not self.applies_to(role):
            return data
        rows = stratified_rows(data.y, self.spec.fraction, generator, self.spec.min_per_class)
        return data.subset(rows.to(data.y.device))


def observed_length(length: int, keep: float) -> int:
    """``ceil(keep * L)`` (at least 1), with a tolerance for ratios like 0.3 * 10 = 3.0000000000000004."""
    return max(1, min(length, math.ceil(keep * length - 1e-9)))


def truncate(x: Tensor, keep: float, mode: str = "zero", axis: int = -1) -> Tensor:
    """The first ``ceil(keep * L)`` samples along ``axis``; the rest zeroed or cropped."""
    if x.dim() < 3 or axis % x.dim() < 2:
        raise ValueError(f"axis {axis} of shape {tuple(x.shape)} is not a time axis (the batch/channel axes)")
    length = x.shape[axis]
    n = observed_length(length, keep)
    if mode == "crop":
        return x.narrow(axis, 0, n).clone()
    if mode != "zero":
        raise ValueError(f"unknown truncation mode {mode!r}")
    out = x.clone()
    out.narrow(axis, n, length - n).zero_()
    return out


@register(spec=TruncateSpec)
class Truncate(Prep[TruncateSpec]):
    """Wang et al. 2019 (survey [14]): early prediction, the student sees only the start of each sequence."""

    def _transform(self, data: ArrayData, role: str) -> ArrayData:
        if not self.applies_to(role):
            return data
        return data.with_x(truncate(data.x, self.spec.keep, self.spec.mode, self.spec.axis))

    def apply(self, data: ArrayData, *, role: str, generator: torch.Generator) -> ArrayData:
        return self._transform(data, role)

    def apply_eval(self, data: ArrayData, *, role: str) -> ArrayData:
        return self._transform(data, role)
