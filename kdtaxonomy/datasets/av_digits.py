"""Audio-visual digits (``av-digits``): FSDD recordings paired with real handwritten digit images.

After AV-MNIST (MNIST images paired by label with FSDD recordings), on data that needs no download: the
images are scikit-learn's ``load_digits`` (a copy of the test set of the UCI "Optical Recognition of
Handwritten Digits" data, E. Alpaydin and C. Kaynak: 1,797 images of 8x8 integer pixels 0-16, 43 writers),
shipped inside scikit-learn. The audio is the ``fsdd`` builder's log-mel spectrogram (same parameters,
same cache).

Pairing (seeded by ``pairing_seed``, fixed across run seeds):

1. the images of each digit are shuffled and ``image_test_fraction`` of them (rounded, at least one) is
   held out for the test split, the rest kept for training, so no image is shared between the splits;
2. within each split and digit, the recordings (every parsable file of the folder, in (index, speaker,
   digit) order, before limits and unreadable files) take the images of that digit's pool in the order of
   successive independent shuffles of the pool, so every image is used ``floor(n/m)`` or ``ceil(n/m)``
   times. The pair of a recording therefore does not depend on ``train_limit``/``test_limit``.
   With ``image_class=target`` and speaker labels, "that digit" is the speaker's position k instead: every
   recording of the k-th speaker shows a handwritten k, an identity cue of another modality (seed paper 003's
   face beside the voice).

The image view ``(N, 8, frames)``: the 8 pixel rows are channels and each pixel column is held for
``frames / 8`` time steps (column ``floor(8 t / frames)`` at step ``t``; nearest-neighbour, so the pixel
values stay exact). 1-D models read channels x time, as they read mel bands x frames; giving the image the
audio's length lets one teacher read each view and a fused teacher read ``x+image`` (channels
concatenated). The two time axes are not aligned in any physical sense. Pixels are scaled to [0, 1] and,
with ``standardize``, standardised per row with the training split's statistics, like the mel bands.
"""

from __future__ import annotations

from collections.abc import Callable
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.base import MissingDependencyError, standardize
from kdtaxonomy.datasets.fsdd import (
    CREDIT,
    Recording,
    class_names,
    label_views,
    labels,
    load,
    parse_name,
    recordings_info,
    tensor,
)
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import AVDigitsSpec

IMAGE_SIDE = 8
"""Pixels per side of a ``load_digits`` image."""
IMAGE_CREDIT = (
    "scikit-learn load_digits: a copy of the test set of the UCI Optical Recognition of Handwritten Digits "
    "data set (E. Alpaydin, C. Kaynak, 1998)"
)

Int64s = npt.NDArray[np.int64]


def digit_images() -> tuple[npt.NDArray[np.float64], Int64s]:
    """``sklearn.datasets.load_digits``: images ``(1797, 8, 8)`` with pixels 0-16 and their digits."""
    try:
        from sklearn.datasets import load_digits
    except ImportError as exc:
        raise MissingDependencyError(
            "the av-digits dataset needs scikit-learn, which is not installed (pip install "
            "'kdtaxonomy[audio]', the audio extra, whose librosa depends on it, or pip install scikit-learn)"
        ) from exc
    digits = load_digits()
    return np.asarray(digits.images, dtype=np.float64), np.asarray(digits.target, dtype=np.int64)


def split_images(digits: Int64s, test_fraction: float, rng: np.random.Generator) -> dict[str, list[Int64s]]:
    """Per digit 0-9, the image indices of the ``train`` and ``test`` pools (a stratified, seeded split)."""
    pools: dict[str, list[Int64s]] = {"train": [], "test": []}
    for d in range(10):
        shuffled = rng.permutation(np.flatnonzero(digits == d)).astype(np.int64)
        if len(shuffled) < 2:
            raise ValueError(f"digit {d} has {len(shuffled)} image(s); the split needs two")
        n_test = min(max(1, round(test_fraction * len(shuffled))), len(shuffled) - 1)
        pools["test"].append(shuffled[:n_test])
        pools["train"].append(shuffled[n_test:])
    return pools


def pair_images(
    recordings: list[Recording],
    pools: dict[str, list[Int64s]],
    rng: np.random.Generator,
    shown: Callable[[Recording], int] = lambda r: r.digit,
) -> dict[str, int]:
    """File name -> image index: each split's recordings whose image shows digit d (``shown``: the spoken
    digit by default) cycle through successive shuffles of that split's pool of the digit (see the module
    docstring)."""
    pairs: dict[str, int] = {}
    for split in ("train", "test"):
        for d in range(10):
            recs = sorted((r for r in recordings if r.split == split and shown(r) == d), key=Recording.order)
            pool = pools[split][d]
            rounds = -(-len(recs) // len(pool)) if recs else 0
            order = np.concatenate([rng.permutation(pool) for _ in range(rounds)] or [pool[:0]])
            pairs.update({r.path.name: int(i) for r, i in zip(recs, order, strict=False)})
    return pairs


def image_view(images: npt.NDArray[np.float64], frames: int) -> torch.Tensor:
    """Images ``(N, 8, 8)`` (pixels 0-16) as ``(N, 8, frames)`` float32 in [0, 1]: rows are channels, column
    ``floor(8 t / frames)`` is shown at time step ``t``."""
    columns = (np.arange(frames) * images.shape[-1]) // frames
    return torch.from_numpy(np.ascontiguousarray(images[:, :, columns] / 16.0, dtype=np.float32))


def _uses(indices: list[int]) -> dict[str, int]:
    counts = np.bincount(np.asarray(indices, dtype=np.int64))
    counts = counts[counts > 0]
    return {"images": len(counts), "min_uses": int(counts.min()), "max_uses": int(counts.max())}


@register(spec=AVDigitsSpec)
def build(spec: AVDigitsSpec, *, seed: int = 0) -> DataBundle:
    """FSDD log-mel ``x`` ``(N, n_mels, frames)`` with ``views["image"]`` ``(N, 8, frames)``, a handwritten
    image of the same digit; y the digit or the speaker.

    Speaker labels make it a verification set: ``info["evaluation"]`` is ``"verification"`` (trials between
    test recordings, same speaker or not). The run ``seed`` does not change the data.
    """
    got = load(spec)
    images, image_digits = digit_images()
    rng = np.random.default_rng(spec.pairing_seed)
    pools = split_images(image_digits, spec.image_test_fraction, rng)
    speakers = got.speakers
    by_speaker = spec.image_class == "target" and spec.target == "speaker"
    if by_speaker and len(speakers) > 10:
        raise ValueError(
            f"{got.root}: image_class=target pairs speaker k with images of the digit k, so it needs at most "
            f"10 speakers; the folder has {len(speakers)}"
        )
    position = {name: i for i, name in enumerate(speakers)}
    shown: Callable[[Recording], int] = (lambda r: position[r.speaker]) if by_speaker else (lambda r: r.digit)
    pairs = pair_images(got.recordings, pools, rng, shown)
    frames = got.params.frames
    index = {s: [pairs[n] for n in got.names[s]] for s in ("train", "test")}
    for s in ("train", "test"):  # guaranteed by the construction; cheap to check
        if [int(image_digits[i]) for i in index[s]] != [shown(parse_name(Path(n))) for n in got.names[s]]:
            raise RuntimeError(f"av-digits: a {s} recording was paired with an image of another class")
    if set(index["train"]) & set(index["test"]):
        raise RuntimeError("av-digits: an image was paired with both a training and a test recording")
    x_train, x_test = tensor(got.arrays["train"]), tensor(got.arrays["test"])
    v_train, v_test = image_view(images[index["train"]], frames), image_view(images[index["test"]], frames)
    stats: dict[str, Any] | None = None
    if spec.standardize:
        x_train, x_test, audio_stats = standardize(x_train, x_test)
        v_train, v_test, image_stats = standardize(v_train, v_test)
        stats = {"x": audio_stats, "image": image_stats}
    classes = class_names(spec.target, speakers)
    info: dict[str, Any] = {
        "source": "FSDD recordings paired with scikit-learn load_digits images of "
        + ("the digit numbering their speaker" if by_speaker else "the same digit"),
        "split": "official FSDD split (recording index 0-4 test, 5-49 train); images split per digit",
        "evaluation": "verification" if spec.target == "speaker" else "classification",
        **recordings_info(got, spec),
        "views": {
            "image": {
                "shape": [IMAGE_SIDE, frames],
                "description": "8x8 load_digits image / 16: rows as channels, column floor(8 t / frames) "
                "at time step t",
            }
        },
        "images": {
            "source": IMAGE_CREDIT,
            "scikit_learn": _version("scikit-learn"),
            "total": len(image_digits),
            "test_fraction": spec.image_test_fraction,
            "pairing_seed": spec.pairing_seed,
            "image_class": "speaker position" if by_speaker else "digit",
            "pools": {s: sum(len(p) for p in pools[s]) for s in ("train", "test")},
            "used": {s: _uses(index[s]) for s in ("train", "test")},
        },
        "standardization": stats,
        "credit": f"{CREDIT}; {IMAGE_CREDIT}",
    }
    return DataBundle(
        name="av-digits",
        train=ArrayData.from_tensors(
            x_train,
            labels(got.names["train"], spec.target, speakers),
            {"image": v_train, **label_views(got.names["train"], speakers)},
        ),
        test=ArrayData.from_tensors(
            x_test,
            labels(got.names["test"], spec.target, speakers),
            {"image": v_test, **label_views(got.names["test"], speakers)},
        ),
        num_classes=len(classes),
        info=info,
    )


def _version(package: str) -> str:
    try:
        return metadata.version(package)
    except metadata.PackageNotFoundError:
        return "unknown"
