"""Sound clips in class folders, UrbanSound8K-style (``wav-folder``), as log-mel spectrograms.

Layouts: ``root/<class>/*`` (split into train and test by a seeded stratified draw) or
``root/train/<class>/*`` + ``root/test/<class>/*``, of WAV, FLAC, OGG or AIFF files. Reading, resampling and
features are :mod:`kdtaxonomy.datasets.audio` (soundfile, ``scipy.signal.resample_poly``, librosa).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.audio import AUDIO_SUFFIXES, LogMel, files_features
from kdtaxonomy.datasets.base import class_folders, files_with_suffix, require_dir, standardize
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import WavFolderSpec


def _stratified_split(
    files: list[tuple[Path, str]], fraction: float, seed: int
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """Hold out ``round(fraction * n)`` files per class (at least 1, at most ``n - 1``; 0 if ``n == 1``)."""
    rng = np.random.default_rng(seed)
    train: list[tuple[Path, str]] = []
    test: list[tuple[Path, str]] = []
    for name in sorted({c for _, c in files}):
        members = [f for f in files if f[1] == name]
        n_test = min(max(1, round(fraction * len(members))), len(members) - 1)
        chosen = set(rng.permutation(len(members))[:n_test].tolist())
        test += [f for i, f in enumerate(members) if i in chosen]
        train += [f for i, f in enumerate(members) if i not in chosen]
    return train, test


def _class_files(folder: Path, what: str) -> list[tuple[Path, str]]:
    return [
        (path, class_dir.name)
        for class_dir in class_folders(folder, what)
        for path in files_with_suffix(class_dir, AUDIO_SUFFIXES)
    ]


@register(spec=WavFolderSpec)
def build(spec: WavFolderSpec, *, seed: int = 0) -> DataBundle:
    """Sound classification folder (UrbanSound8K-style): x ``(N, n_mels, frames)`` float32 log-mel spectra.

    Every clip is read with soundfile (mixed to mono), resampled to ``sample_rate`` with
    ``scipy.signal.resample_poly``, cut or padded to ``seconds`` and turned into a log-mel spectrogram by
    librosa; mel bands are the channels and frames the length, so 1-D models apply directly. Without
    ``train``/``test`` folders, ``test_fraction`` of every class is held out by a stratified draw seeded with
    ``split_seed`` (default: the run ``seed``).
    """
    root = require_dir(Path(spec.root).expanduser(), "wav-folder root")
    split_seed = seed if spec.split_seed is None else spec.split_seed
    if (root / "train").is_dir() and (root / "test").is_dir():
        layout = "train/test folders"
        train_files = _class_files(root / "train", "wav-folder split folder")
        test_files = _class_files(root / "test", "wav-folder split folder")
    else:
        layout = f"class folders, stratified split (test_fraction={spec.test_fraction}, seed={split_seed})"
        train_files, test_files = _stratified_split(
            _class_files(root, "wav-folder root"), spec.test_fraction, split_seed
        )
    classes = sorted({c for _, c in train_files})
    unknown = sorted({c for _, c in test_files} - set(classes))
    if unknown:
        raise ValueError(f"test classes {', '.join(unknown)} under {root} have no training clips")
    params = LogMel.from_spec(spec)
    source_rates: set[int] = set()

    def features(files: list[tuple[Path, str]]) -> tuple[torch.Tensor, list[tuple[Path, str]]]:
        rows, kept, bad = files_features(
            files, params, skip_bad=spec.skip_bad_files, source_rates=source_rates
        )
        skipped.extend(bad)
        if not kept:
            raise ValueError(f"wav-folder root {root}: none of its {len(files)} clips of a split can be read")
        return torch.from_numpy(rows), kept

    skipped: list[dict[str, str]] = []
    (x_train, train_files), (x_test, test_files) = features(train_files), features(test_files)
    label = {name: i for i, name in enumerate(classes)}
    y_train = torch.tensor([label[c] for _, c in train_files], dtype=torch.int64)
    y_test = torch.tensor([label[c] for _, c in test_files], dtype=torch.int64)
    stats: dict[str, list[float]] | None = None
    if spec.standardize:
        x_train, x_test, stats = standardize(x_train, x_test)
    info: dict[str, Any] = {
        "source": "wav folder",
        "root": str(root),
        "layout": layout,
        "split_seed": split_seed if layout.startswith("class") else None,
        "class_names": classes,
        "num_train": len(train_files),
        "num_test": len(test_files),
        "source_sample_rates": sorted(source_rates),
        "features": params.info(),
        "standardization": stats,
        "skipped_files": skipped,
    }
    return DataBundle(
        name="wav-folder",
        train=ArrayData.from_tensors(x_train, y_train),
        test=ArrayData.from_tensors(x_test, y_test),
        num_classes=len(classes),
        info=info,
    )
