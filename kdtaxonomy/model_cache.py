"""The on-disk cache of trained models: where it lives, per-model locks, and keys of what determines a model.

A cached model is reused only for exactly what it was trained on: keys hash the training and validation
tensors (:func:`data_digest`), the architecture, the budget, the seed, the models it learned from and, when it
is not the default of 1, the torch thread count (CPU numerics depend on it).
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import torch

from kdtaxonomy.data import ArrayData
from kdtaxonomy.folders import cache_dir as cache_dir  # re-exported


@contextlib.contextmanager
def model_lock(path: Path) -> Iterator[None]:
    """An exclusive lock beside a cached model, so parallel bench workers train a shared teacher once."""
    try:
        import fcntl
    except ImportError:  # no advisory locks here: workers may train the same model twice (still correct)
        yield
        return
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def model_key(*parts: Any) -> str:
    threads = torch.get_num_threads()  # CPU numerics depend on it; 1 is the benchmarks' fixed default
    blob = json.dumps(
        [*parts, *([f"threads={threads}"] if threads != 1 else [])], sort_keys=True, default=str
    )
    return hashlib.sha256(f"{torch.__version__}|{blob}".encode()).hexdigest()[:20]


def data_digest(*splits: ArrayData) -> str:
    """Hash of the tensors of ``splits`` (inputs, views, labels, indices): a cached model is reused only for
    exactly the data it was trained and selected on."""
    digest = hashlib.sha256()
    for data in splits:
        for name, tensor in sorted({"x": data.x, "y": data.y, "index": data.index, **data.views}.items()):
            t = tensor.detach().cpu().contiguous()
            digest.update(f"{name}{tuple(t.shape)}{t.dtype}".encode())
            digest.update(t.numpy().tobytes())
    return digest.hexdigest()[:20]


def write_provenance(path: Path, key: str, about: dict[str, Any]) -> None:
    """Write ``<model>.json`` beside the cached model at ``path``: its key, what it is (``about``: model,
    data digest, recipe hash) and the code that trained it (kdtaxonomy and torch versions)."""
    from kdtaxonomy import __version__
    from kdtaxonomy.yamlio import atomic_write_text

    record = {"key": key, **about, "kdtaxonomy": __version__, "torch": torch.__version__}
    atomic_write_text(path.with_suffix(".json"), json.dumps(record, indent=2, sort_keys=True) + "\n")
