"""Sound clips in class folders, UrbanSound8K-style (``wav-folder``), as log band-energy spectrograms.

Layouts: ``root/<class>/*.wav`` (split into train and test by a seeded stratified draw) or
``root/train/<class>/*.wav`` + ``root/test/<class>/*.wav``. WAV files are read with the standard library's
``wave`` module (integer PCM of 8, 16, 24 or 32 bits; several channels are averaged to mono).
"""

from __future__ import annotations

import math
import wave
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.base import (
    class_folders,
    files_with_suffix,
    read_error_reason,
    read_files,
    require_dir,
    standardize,
)
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import WavFolderSpec

Float64 = npt.NDArray[np.float64]
LOG_FLOOR = 1e-6
"""Added to the band sums before the logarithm."""


def read_wav(path: Path) -> tuple[Float64, int]:
    """Samples of a PCM WAV file as float64 in [-1, 1], mixed to mono, and its sample rate."""
    try:
        with wave.open(str(path), "rb") as handle:
            channels, width, rate = handle.getnchannels(), handle.getsampwidth(), handle.getframerate()
            frames = handle.readframes(handle.getnframes())
    except (wave.Error, EOFError, OSError) as exc:
        raise ValueError(f"cannot read sound file {path}: {read_error_reason(exc)}") from exc
    if width not in (1, 2, 3, 4):
        raise ValueError(f"cannot read sound file {path}: {8 * width}-bit samples are not supported")
    usable = len(frames) - len(frames) % (width * channels)
    if usable == 0:
        raise ValueError(f"cannot read sound file {path}: it holds no samples")
    raw = np.frombuffer(frames[:usable], dtype=np.uint8)
    if width == 1:
        samples = (raw.astype(np.float64) - 128.0) / 128.0
    elif width == 3:
        triples = raw.reshape(-1, 3).astype(np.int32)
        ints = triples[:, 0] | (triples[:, 1] << 8) | (triples[:, 2] << 16)
        ints = np.where(ints >= 1 << 23, ints - (1 << 24), ints)
        samples = ints.astype(np.float64) / float(1 << 23)
    else:
        dtype = np.dtype("<i2") if width == 2 else np.dtype("<i4")
        samples = np.frombuffer(raw.tobytes(), dtype=dtype).astype(np.float64) / float(1 << (8 * width - 1))
    mono: Float64 = samples.reshape(-1, channels).mean(axis=1)
    return mono, rate


def resample(signal: Float64, rate_in: int, rate_out: int) -> Float64:
    """Linear-interpolation resampling from ``rate_in`` to ``rate_out`` Hz."""
    if rate_in == rate_out:
        return signal
    n_out = max(1, round(len(signal) * rate_out / rate_in))
    times = np.arange(n_out) * (rate_in / rate_out)
    out: Float64 = np.interp(times, np.arange(len(signal)), signal)
    return out


def fix_length(signal: Float64, length: int) -> Float64:
    """Cut ``signal`` to ``length`` samples or zero-pad it at the end."""
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))


def hz_to_mel(hz: Float64) -> Float64:
    """The mel scale (O'Shaughnessy): ``2595 log10(1 + f / 700)``."""
    mel: Float64 = 2595.0 * np.log10(1.0 + hz / 700.0)
    return mel


def mel_to_hz(mel: Float64) -> Float64:
    """Inverse of :func:`hz_to_mel`."""
    hz: Float64 = 700.0 * (10.0 ** (mel / 2595.0) - 1.0)
    return hz


def band_edges(n_bins: int, n_bands: int, sample_rate: int, scale: str) -> npt.NDArray[np.int64]:
    """Bin edges ``e`` of the bands (length ``n_bands + 1``, ``e[0] = 0``, ``e[-1] = n_bins``).

    Band ``b`` sums bins ``e[b] <= k < e[b + 1]``. Edges are equally spaced in mel or Hz, then spread so that
    every band has at least one bin.
    """
    if not 1 <= n_bands <= n_bins:
        raise ValueError(f"cannot split {n_bins} STFT bins into {n_bands} bands")
    nyquist = sample_rate / 2.0
    if scale == "mel":
        hz = mel_to_hz(np.linspace(0.0, float(hz_to_mel(np.array(nyquist))), n_bands + 1))
    else:
        hz = np.linspace(0.0, nyquist, n_bands + 1)
    edges = np.rint(hz / nyquist * n_bins).astype(np.int64)
    edges[0], edges[-1] = 0, n_bins
    for b in range(1, n_bands + 1):  # at least one bin per band, from the low end ...
        edges[b] = max(edges[b], edges[b - 1] + 1)
    for b in range(n_bands - 1, 0, -1):  # ... and room for the bands above
        edges[b] = min(edges[b], edges[b + 1] - 1)
    edges[-1] = n_bins
    return edges


def band_spectrogram(signal: Float64, n_fft: int, hop: int, edges: npt.NDArray[np.int64]) -> Float64:
    """``log(1e-6 + sum of |STFT| over each band)``: shape ``(n_bands, frames)``, Hann window, no centring."""
    if len(signal) < n_fft:
        signal = np.pad(signal, (0, n_fft - len(signal)))
    window = 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(n_fft) / n_fft)  # periodic Hann
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=-1))  # (frames, n_fft // 2 + 1)
    sums = np.add.reduceat(magnitude, edges[:-1], axis=1)  # (frames, n_bands)
    out: Float64 = np.log(LOG_FLOOR + sums).T
    return out


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
        for path in files_with_suffix(class_dir, (".wav",))
    ]


@register(spec=WavFolderSpec)
def build(spec: WavFolderSpec, *, seed: int = 0) -> DataBundle:
    """Sound classification folder (UrbanSound8K-style): x ``(N, n_bands, frames)`` float32 log band energies.

    Every clip is resampled to ``sample_rate``, cut or padded to ``seconds``, turned into a magnitude STFT
    whose bins are summed into ``n_bands`` mel- or linearly-spaced bands, and logged; bands are the
    channels and frames the length, so 1-D models apply directly. Without ``train``/``test`` folders,
    ``test_fraction`` of every class is held out by a stratified draw seeded with ``split_seed`` (default:
    the run ``seed``).
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
    hop = spec.hop_length or spec.n_fft // 2
    length = round(spec.seconds * spec.sample_rate)
    edges = band_edges(spec.n_fft // 2 + 1, spec.n_bands, spec.sample_rate, spec.band_scale)
    source_rates: set[int] = set()

    def featurise(path: Path) -> Float64:
        signal, rate = read_wav(path)
        source_rates.add(rate)
        return band_spectrogram(
            fix_length(resample(signal, rate, spec.sample_rate), length), spec.n_fft, hop, edges
        )

    def features(files: list[tuple[Path, str]]) -> tuple[torch.Tensor, list[tuple[Path, str]]]:
        rows, kept, bad = read_files(files, featurise, skip_bad=spec.skip_bad_files)
        skipped.extend(bad)
        if not rows:
            raise ValueError(f"wav-folder root {root}: none of its {len(files)} clips of a split can be read")
        return torch.from_numpy(np.stack(rows).astype(np.float32)), kept

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
        "features": {
            "kind": "log(1e-6 + band-summed |STFT|), Hann window",
            "sample_rate": spec.sample_rate,
            "seconds": spec.seconds,
            "n_fft": spec.n_fft,
            "hop_length": hop,
            "n_bands": spec.n_bands,
            "band_scale": spec.band_scale,
            "band_edges_bins": edges.tolist(),
            "shape": list(x_train.shape[1:]),
        },
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
