"""MNIST-1D generated offline with the ``mnist1d`` package (``mnist1d``), and its two-view form.

Generation takes about a second, so the arrays are cached in :func:`~kdtaxonomy.datasets.base.cache_dir`
under a name derived from the generator arguments and the package version; the cache is written atomically
and a cache file that cannot be read back is regenerated. Generation seeds the package's global random state
(``random`` and ``numpy.random``); the caller's state is saved and restored around it.
"""

from __future__ import annotations

import hashlib
import json
import random
import zipfile
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.base import cache_dir, limit
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import MNIST1DSpec, MNIST1DTwoViewSpec
from kdtaxonomy.yamlio import atomic_writer

CACHE_FORMAT = 1
"""Version of the cache file layout (part of the cache key)."""

CLASS_NAMES = [str(d) for d in range(10)]

Array = npt.NDArray[Any]


def _package_version() -> str:
    try:
        return metadata.version("mnist1d")
    except metadata.PackageNotFoundError:
        return "unknown"


def cache_key(spec: MNIST1DSpec) -> str:
    """Hash of everything that determines the generated arrays."""
    fields = {
        "num_samples": spec.num_samples,
        "train_split": spec.train_split,
        "seed": spec.seed,
        "mnist1d": _package_version(),
        "format": CACHE_FORMAT,
    }
    return hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]


def cache_path(spec: MNIST1DSpec) -> Path:
    """Cache file of the arrays generated for ``spec``."""
    return cache_dir() / f"mnist1d-{cache_key(spec)}.npz"


def generate(spec: MNIST1DSpec) -> tuple[dict[str, Array], dict[str, Any]]:
    """Run ``mnist1d.data.make_dataset``: arrays ``x``, ``y``, ``x_test``, ``y_test``, and the arguments used.

    The global ``random`` and ``numpy.random`` states are restored afterwards.
    """
    try:
        from mnist1d.data import get_dataset_args, make_dataset
        from mnist1d.utils import ObjectView
    except ImportError as exc:
        raise ImportError("the 'mnist1d' dataset needs the package mnist1d (pip install mnist1d)") from exc
    args: dict[str, Any] = get_dataset_args(as_dict=True)
    args.pop("url", None)
    args["num_samples"] = spec.num_samples
    args["train_split"] = spec.train_split
    if spec.seed is not None:
        args["seed"] = spec.seed
    py_state, np_state = random.getstate(), np.random.get_state()
    try:
        data = make_dataset(ObjectView(dict(args)))
    finally:
        random.setstate(py_state)
        np.random.set_state(np_state)
    arrays: dict[str, Array] = {
        "x": np.asarray(data["x"], dtype=np.float32),
        "y": np.asarray(data["y"], dtype=np.int64),
        "x_test": np.asarray(data["x_test"], dtype=np.float32),
        "y_test": np.asarray(data["y_test"], dtype=np.int64),
    }
    return arrays, args


def _read_cache(path: Path) -> tuple[dict[str, Array], dict[str, Any]] | None:
    """Arrays and arguments from a cache file, or ``None`` when it is missing or unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.array(npz[name]) for name in ("x", "y", "x_test", "y_test")}
            args = json.loads(str(npz["args"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    ok = (
        isinstance(args, dict)
        and arrays["x"].ndim == 2
        and arrays["x_test"].ndim == 2
        and arrays["x"].shape[1] == arrays["x_test"].shape[1]
        and arrays["y"].shape == arrays["x"].shape[:1]
        and arrays["y_test"].shape == arrays["x_test"].shape[:1]
        and arrays["x"].dtype == np.float32
        and arrays["y"].dtype == np.int64
        and bool(np.isfinite(arrays["x"]).all() and np.isfinite(arrays["x_test"]).all())
    )
    return (arrays, args) if ok else None


def _write_cache(path: Path, arrays: dict[str, Array], args: dict[str, Any]) -> None:
    with atomic_writer(path, "wb") as handle:
        payload: dict[str, Any] = {"args": np.array(json.dumps(args, sort_keys=True)), **arrays}
        np.savez(handle, **payload)


def load_arrays(spec: MNIST1DSpec) -> tuple[dict[str, Array], dict[str, Any], dict[str, Any]]:
    """The generated arrays (from the cache when possible), the generator arguments and cache provenance."""
    path = cache_path(spec)
    cached = _read_cache(path)
    if cached is not None:
        arrays, args = cached
        return arrays, args, {"file": str(path), "hit": True}
    arrays, args = generate(spec)
    written = True
    try:
        _write_cache(path, arrays, args)
    except OSError:  # a read-only cache folder only costs the next run a regeneration
        written = False
    return arrays, args, {"file": str(path), "hit": False, "written": written}


def spectral_view(x: Array) -> Array:
    """|rfft| of every row of ``x`` (N, L), linearly resampled to L points (not standardised)."""
    length = x.shape[-1]
    spectrum = np.abs(np.fft.rfft(x.astype(np.float64), axis=-1))
    bins = spectrum.shape[-1]
    pos = np.linspace(0.0, bins - 1, length)
    lo = np.clip(np.floor(pos).astype(np.int64), 0, bins - 1)
    hi = np.minimum(lo + 1, bins - 1)
    frac = pos - lo
    resampled: Array = spectrum[:, lo] * (1.0 - frac) + spectrum[:, hi] * frac
    return resampled


def _bundle(spec: MNIST1DSpec, name: str, *, two_view: bool) -> DataBundle:
    arrays, args, cache = load_arrays(spec)
    n_train, n_test = limit(len(arrays["y"]), spec.train_limit), limit(len(arrays["y_test"]), spec.test_limit)
    info: dict[str, Any] = {
        "source": "mnist1d package, mnist1d.data.make_dataset (generated offline)",
        "mnist1d_version": _package_version(),
        "generator_args": args,
        "cache": cache,
        "generated_train": len(arrays["y"]),
        "generated_test": len(arrays["y_test"]),
        "train_limit": spec.train_limit,
        "test_limit": spec.test_limit,
        "num_train": n_train,
        "num_test": n_test,
        "signal_length": int(arrays["x"].shape[1]),
        "class_names": CLASS_NAMES,
    }
    views: dict[str, dict[str, torch.Tensor]] = {"train": {}, "test": {}}
    if two_view:
        spec_train, spec_test = spectral_view(arrays["x"]), spectral_view(arrays["x_test"])
        mean, std = float(spec_train.mean()), float(spec_train.std())
        std = std if std > 1e-12 else 1.0
        views["train"]["spectral"] = torch.from_numpy(
            ((spec_train - mean) / std)[:n_train, None, :].astype(np.float32)
        )
        views["test"]["spectral"] = torch.from_numpy(
            ((spec_test - mean) / std)[:n_test, None, :].astype(np.float32)
        )
        info["views"] = {
            "spectral": {
                "description": "|rfft(x)| linearly resampled to the signal length, standardised with the "
                "mean and std of the full generated training split",
                "mean": mean,
                "std": std,
            }
        }
    train = ArrayData.from_tensors(
        torch.from_numpy(arrays["x"][:n_train, None, :].copy()),
        torch.from_numpy(arrays["y"][:n_train].copy()),
        views["train"],
    )
    test = ArrayData.from_tensors(
        torch.from_numpy(arrays["x_test"][:n_test, None, :].copy()),
        torch.from_numpy(arrays["y_test"][:n_test].copy()),
        views["test"],
    )
    return DataBundle(name=name, train=train, test=test, num_classes=len(CLASS_NAMES), info=info)


@register(spec=MNIST1DSpec)
def build(spec: MNIST1DSpec, *, seed: int = 0) -> DataBundle:
    """MNIST-1D (Greydanus): 10 classes of length-40 signals, x ``(N, 1, 40)`` float32, y int64.

    Generated with the ``mnist1d`` package's ``make_dataset`` (4000 train / 1000 test with the defaults) and
    cached on disk. The run ``seed`` does not change the data; the spec's ``seed`` does.
    """
    return _bundle(spec, "mnist1d", two_view=False)


@register(spec=MNIST1DTwoViewSpec)
def build_two_view(spec: MNIST1DTwoViewSpec, *, seed: int = 0) -> DataBundle:
    """MNIST-1D with a second view ``views["spectral"]`` (N, 1, 40): the standardised, resampled |FFT| of x.

    A multi-view teacher can read the raw and the spectral view while a single-view student reads the raw one.
    """
    return _bundle(spec, "mnist1d-two-view", two_view=True)
