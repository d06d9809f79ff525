"""In-memory data splits shared by datasets, data-preparation transforms and the training loop.

A split is an :class:`ArrayData`: the default input view ``x``, labels ``y``, the original sample indices
(needed by CRD's memory bank and by caches of teacher outputs) and optional extra named views (e.g. the
spectral view of a signal for a multi-view teacher). Batches are dictionaries with the keys ``x``, ``y``,
``index`` and one key per extra view.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

import torch
from torch import Tensor
from torch.utils.data import Dataset


@dataclass(frozen=True)
class ArrayData:
    """One split held in memory."""

    x: Tensor
    """Default input view, shape ``(N, C, L)`` for signals or ``(N, C, H, W)`` for images."""
    y: Tensor
    """Integer class labels, shape ``(N,)``."""
    index: Tensor
    """Original sample indices, shape ``(N,)`` (kept through subsets)."""
    views: Mapping[str, Tensor] = field(default_factory=dict)
    """Extra named input views, each with first dimension N."""

    def __post_init__(self) -> None:
        n = self.x.shape[0]
        for name, tensor in {"y": self.y, "index": self.index, **self.views}.items():
            if tensor.shape[0] != n:
                raise ValueError(f"view {name!r} has {tensor.shape[0]} rows, expected {n}")

    @classmethod
    def from_tensors(cls, x: Tensor, y: Tensor, views: Mapping[str, Tensor] | None = None) -> ArrayData:
        """A split whose indices are ``0..N-1``."""
        return cls(x, y.long(), torch.arange(x.shape[0]), dict(views or {}))

    def __len__(self) -> int:
        return int(self.x.shape[0])

    def view(self, name: str) -> Tensor:
        """The input view ``name`` (``x`` is the default view)."""
        if name == "x":
            return self.x
        if name not in self.views:
            raise KeyError(f"no input view {name!r}; available: x, {', '.join(self.views) or '-'}")
        return self.views[name]

    def subset(self, rows: Tensor) -> ArrayData:
        """Rows selected by a boolean mask or an index tensor (indices are preserved)."""
        return ArrayData(
            self.x[rows], self.y[rows], self.index[rows], {k: v[rows] for k, v in self.views.items()}
        )

    def with_views(self, **views: Tensor) -> ArrayData:
        """A copy with extra views added or replaced."""
        return replace(self, views={**self.views, **views})

    def with_x(self, x: Tensor) -> ArrayData:
        """A copy with the default view replaced."""
        return replace(self, x=x)


@dataclass(frozen=True)
class DataBundle:
    """A dataset ready for training: train and test splits and what describes them."""

    name: str
    train: ArrayData
    test: ArrayData
    num_classes: int
    info: dict[str, Any] = field(default_factory=dict)
    """Provenance: generator arguments, source folder, sizes (recorded with results)."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """Per-sample shape of the default view."""
        return tuple(self.train.x.shape[1:])


class ArrayDataset(Dataset[dict[str, Tensor]]):
    """A torch ``Dataset`` over an :class:`ArrayData` yielding batch dictionaries."""

    def __init__(self, data: ArrayData) -> None:
        self.data = data

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> dict[str, Tensor]:
        item = {"x": self.data.x[i], "y": self.data.y[i], "index": self.data.index[i]}
        for name, tensor in self.data.views.items():
            item[name] = tensor[i]
        return item


def as_batch(batch: Any) -> dict[str, Tensor]:
    """Normalise what a user's DataLoader yields to a batch dictionary.

    Accepts a dict with ``x`` and ``y`` (and optionally ``index``), or a tuple/list ``(x, y)`` or
    ``(x, y, index)``.
    """
    if isinstance(batch, Mapping):
        if "x" not in batch or "y" not in batch:
            raise ValueError(f"a batch dictionary needs keys 'x' and 'y', got {sorted(batch)}")
        return dict(batch)
    if isinstance(batch, list | tuple) and len(batch) in (2, 3):
        out = {"x": batch[0], "y": batch[1]}
        if len(batch) == 3:
            out["index"] = batch[2]
        return out
    raise ValueError("a batch must be a dict with 'x' and 'y' or a tuple (x, y[, index])")


def model_input(batch: Mapping[str, Tensor], view: str) -> Tensor:
    """The input of a model that reads ``view`` (``a+b`` concatenates views along channels)."""
    parts = view.split("+")
    try:
        return batch[parts[0]] if len(parts) == 1 else torch.cat([batch[p] for p in parts], dim=1)
    except KeyError:
        missing = next(p for p in parts if p not in batch)
        known = ", ".join(k for k in batch if k not in {"y", "index"})
        raise KeyError(
            f"the data has no input view {missing!r} (model view {view!r}; views: {known})"
        ) from None
