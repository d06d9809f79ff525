"""Partitioning for teachers: classes split into groups, one per teacher or specialist (survey [1]).

Hinton et al. 2015 (survey [1]) train specialist models, each on a subset of the classes, and the survey
(Fig. 3) calls data given to the teachers in parts "for teacher(s)". Groups are either given explicitly
(``groups``, e.g. confusable classes) or made by a seeded random permutation of the classes
``0..K-1`` cut into ``parts`` contiguous groups whose sizes differ by at most one (the first
``K mod parts`` groups are one larger). :meth:`ClassPartition.partition` returns the rows of one group with
their labels and indices unchanged; :meth:`ClassPartition.apply` is a no-op (the teacher setup asks for
the partitions it needs).
"""

from __future__ import annotations

import torch

from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep.base import Prep
from kdtaxonomy.registry import register
from kdtaxonomy.specs.prep import ClassPartitionSpec


def class_groups(num_classes: int, parts: int, seed: int) -> list[list[int]]:
    """Classes ``0..num_classes-1`` randomly (``seed``) cut into ``parts`` near-equal groups."""
    if parts > num_classes:
        raise ValueError(f"cannot split {num_classes} classes into {parts} non-empty groups")
    perm = torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed))
    return [sorted(chunk.tolist()) for chunk in torch.tensor_split(perm, parts)]


@register(spec=ClassPartitionSpec)
class ClassPartition(Prep[ClassPartitionSpec]):
    """Hinton et al. 2015 (survey [1]): classes split into groups, one per teacher/specialist."""

    def num_classes(self, data: ArrayData) -> int:
        """The spec's ``num_classes``, or ``max(y) + 1``."""
        if self.spec.num_classes is not None:
            return self.spec.num_classes
        return int(data.y.max().item()) + 1 if len(data) else 0

    def groups(self, data: ArrayData) -> list[list[int]]:
        """The class groups (explicit ones, or the seeded random split)."""
        if self.spec.groups is not None:
            return [list(g) for g in self.spec.groups]
        return class_groups(self.num_classes(data), self.spec.parts, self.spec.seed)

    def partition(self, data: ArrayData, part: int) -> ArrayData:
        """The rows of ``data`` whose class is in group ``part`` (labels and indices kept)."""
        groups = self.groups(data)
        if not 0 <= part < len(groups):
            raise IndexError(f"part {part} out of range: the partition has {len(groups)} groups")
        classes = torch.tensor(groups[part], dtype=data.y.dtype, device=data.y.device)
        return data.subset(torch.isin(data.y, classes))
