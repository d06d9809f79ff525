"""CIFAR-10 / CIFAR-100 through ``torchvision.datasets`` (``cifar``); torchvision is optional."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.base import MissingDependencyError, limit, require_dir, standardize
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import CifarSpec

__all__ = ["MissingDependencyError", "build"]


def _torchvision_datasets() -> Any:
    try:
        import torchvision.datasets
    except ImportError as exc:
        raise MissingDependencyError(
            "the 'cifar' dataset needs the package torchvision, which is not installed "
            "(install torchvision matching your torch version)"
        ) from exc
    return torchvision.datasets


@register(spec=CifarSpec)
def build(spec: CifarSpec, *, seed: int = 0) -> DataBundle:
    """CIFAR-10 or CIFAR-100 via torchvision: x ``(N, 3, 32, 32)`` float32 (standardised), y int64.

    Reads torchvision's files under ``root`` (downloading only with ``download: true``); raises
    :class:`MissingDependencyError` naming torchvision when it is not installed.
    """
    datasets = _torchvision_datasets()
    root = Path(spec.root).expanduser()
    if not spec.download:
        require_dir(root, "CIFAR root")
    cls = datasets.CIFAR10 if spec.variant == "cifar10" else datasets.CIFAR100
    try:
        splits = {
            name: cls(str(root), train=name == "train", download=spec.download) for name in ("train", "test")
        }
    except RuntimeError as exc:  # torchvision: "Dataset not found or corrupted"
        raise ValueError(
            f"cannot load {spec.variant} from {root}: {exc} (set download: true to fetch it)"
        ) from exc
    xs: dict[str, torch.Tensor] = {}
    ys: dict[str, torch.Tensor] = {}
    for name, ds in splits.items():
        n = limit(len(ds.targets), spec.train_limit if name == "train" else spec.test_limit)
        xs[name] = (
            torch.from_numpy(np.asarray(ds.data[:n])).permute(0, 3, 1, 2).float().div(255.0).contiguous()
        )
        ys[name] = torch.as_tensor(list(ds.targets[:n]), dtype=torch.int64)
    x_train, x_test = xs["train"], xs["test"]
    stats: dict[str, list[float]] | None = None
    if spec.standardize:
        x_train, x_test, stats = standardize(x_train, x_test)
    classes = list(splits["train"].classes)
    info: dict[str, Any] = {
        "source": f"torchvision.datasets.{cls.__name__}",
        "root": str(root),
        "variant": spec.variant,
        "class_names": classes,
        "num_train": len(ys["train"]),
        "num_test": len(ys["test"]),
        "train_limit": spec.train_limit,
        "test_limit": spec.test_limit,
        "standardization": stats,
    }
    return DataBundle(
        name=spec.variant,
        train=ArrayData.from_tensors(x_train, ys["train"]),
        test=ArrayData.from_tensors(x_test, ys["test"]),
        num_classes=len(classes),
        info=info,
    )
