"""Datasets (kind ``dataset``): importing this package registers every builder.

Each builder has the signature ``build(spec, *, seed=0) -> DataBundle`` (:mod:`kdtaxonomy.data`) and records
its provenance in the bundle's ``info``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from kdtaxonomy.data import DataBundle
from kdtaxonomy.datasets import audio, av_digits, cifar, fsdd, image_folder, mnist1d, wav_folder
from kdtaxonomy.datasets.base import MissingDependencyError, cache_dir
from kdtaxonomy.registry import REGISTRY
from kdtaxonomy.specs.datasets import DatasetSpec


def build_dataset(
    spec: DatasetSpec | str, params: Mapping[str, Any] | None = None, *, seed: int = 0
) -> DataBundle:
    """Build a registered dataset from its spec, or from its key and parameters."""
    if isinstance(spec, str):
        component = REGISTRY.get("dataset", spec)
        spec_obj = component.validate_params(dict(params or {}))
    else:
        if params:
            raise TypeError("pass parameters either in the spec or as params with a key, not both")
        component = REGISTRY.get("dataset", spec.key)
        spec_obj = spec
    bundle: DataBundle = component.obj(spec_obj, seed=seed)
    return bundle


__all__ = [
    "MissingDependencyError",
    "audio",
    "av_digits",
    "build_dataset",
    "cache_dir",
    "cifar",
    "fsdd",
    "image_folder",
    "mnist1d",
    "wav_folder",
]
