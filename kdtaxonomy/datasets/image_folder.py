"""Images in class folders: ``root/<split>/<class>/*.png|jpg|jpeg|ppm|pgm`` (``image-folder``).

PNG and JPEG are read with Pillow when it is installed; the netpbm formats PGM and PPM (P2, P3, P5, P6, 8 or
16 bits) are always read by the parser below, so a folder of .pgm/.ppm files needs nothing beyond numpy.
"""

from __future__ import annotations

import types
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.base import class_folders, files_with_suffix, read_files, require_dir, standardize
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import ImageFolderSpec

NETPBM_SUFFIXES = (".pgm", ".ppm")
PILLOW_SUFFIXES = (".png", ".jpg", ".jpeg")
IMAGE_SUFFIXES = NETPBM_SUFFIXES + PILLOW_SUFFIXES

FloatArray = npt.NDArray[np.float32]


def _pillow() -> types.ModuleType | None:
    """Pillow's ``PIL.Image`` module, or ``None`` when Pillow is not installed."""
    try:
        from PIL import Image
    except ImportError:
        return None
    return Image


def _header(data: bytes, path: Path, count: int) -> tuple[list[int], int]:
    """``count`` integers after the 2-byte magic (skipping whitespace and ``#`` comments), and the offset
    after them."""
    values: list[int] = []
    pos = 2
    while len(values) < count:
        while pos < len(data) and (data[pos : pos + 1].isspace() or data[pos : pos + 1] == b"#"):
            if data[pos : pos + 1] == b"#":
                end = data.find(b"\n", pos)
                pos = len(data) if end < 0 else end
            pos += 1
        start = pos
        while pos < len(data) and data[pos : pos + 1].isdigit():
            pos += 1
        if start == pos:
            raise ValueError(f"cannot read image {path}: malformed netpbm header")
        values.append(int(data[start:pos]))
    return values, pos


def read_netpbm(path: Path) -> FloatArray:
    """A PGM or PPM image (P2, P3, P5, P6; up to 16 bits) as float32 in [0, 1], shape ``(H, W, 1 or 3)``."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ValueError(f"cannot read image {path}: {exc.strerror or exc}") from exc
    magic = data[:2]
    if magic not in (b"P2", b"P3", b"P5", b"P6"):
        raise ValueError(
            f"cannot read image {path}: not a PGM/PPM file (magic {magic!r}; expected P2, P3, P5 or P6)"
        )
    channels = 3 if magic in (b"P3", b"P6") else 1
    (width, height, maxval), pos = _header(data, path, 3)
    if width < 1 or height < 1 or not 0 < maxval < 65536:
        raise ValueError(f"cannot read image {path}: bad size {width}x{height} or maxval {maxval}")
    count = width * height * channels
    if magic in (b"P5", b"P6"):
        start = pos + 1  # exactly one whitespace character ends the header
        dtype = np.dtype(">u2") if maxval > 255 else np.dtype("u1")
        raw = data[start : start + count * dtype.itemsize]
        if len(raw) < count * dtype.itemsize:
            raise ValueError(f"cannot read image {path}: truncated pixel data")
        pixels = np.frombuffer(raw, dtype=dtype).astype(np.float32)
    else:
        body = b"\n".join(line.split(b"#", 1)[0] for line in data[pos:].splitlines())
        try:
            pixels = np.array([int(tok) for tok in body.split()[:count]], dtype=np.float32)
        except ValueError as exc:
            raise ValueError(f"cannot read image {path}: non-numeric pixel value") from exc
        if pixels.size < count:
            raise ValueError(f"cannot read image {path}: truncated pixel data")
    if float(pixels.max(initial=0.0)) > maxval:
        raise ValueError(f"cannot read image {path}: pixel value above maxval {maxval}")
    return _float32(pixels.reshape(height, width, channels) / maxval)


def _float32(array: Any) -> FloatArray:
    out: FloatArray = np.asarray(array, dtype=np.float32)
    return out


def read_image(path: Path) -> FloatArray:
    """An image as float32 in [0, 1], shape ``(H, W, 1)`` for grey images and ``(H, W, 3)`` otherwise."""
    if path.suffix.lower() in NETPBM_SUFFIXES:
        return read_netpbm(path)
    image_module = _pillow()
    if image_module is None:
        raise ValueError(
            f"cannot read image {path}: reading {path.suffix} files needs Pillow (pip install pillow), "
            f"which is not installed; without it only {', '.join(NETPBM_SUFFIXES)} images can be read"
        )
    try:
        with image_module.open(path) as img:
            img.load()
            mode = img.mode
            if mode in ("I", "I;16", "I;16B", "I;16L"):
                return _float32(np.clip(np.asarray(img, dtype=np.float32) / 65535.0, 0.0, 1.0)[:, :, None])
            if mode == "F":
                return _float32(np.clip(np.asarray(img, dtype=np.float32), 0.0, 1.0)[:, :, None])
            if mode in ("1", "L", "LA"):
                return _float32(np.asarray(img.convert("L"), dtype=np.float32)[:, :, None] / 255.0)
            return _float32(np.asarray(img.convert("RGB"), dtype=np.float32) / 255.0)
    except (OSError, ValueError, SyntaxError) as exc:  # Pillow's UnidentifiedImageError is an OSError
        raise ValueError(f"cannot read image {path}: {exc}") from exc


def _to_tensor(image: FloatArray, channels: int, size: tuple[int, int] | None, mode: str) -> Tensor:
    t = torch.from_numpy(np.ascontiguousarray(image)).permute(2, 0, 1)
    if t.shape[0] != channels:
        if channels == 3:
            t = t.expand(3, -1, -1)
        else:
            t = (t * torch.tensor([0.299, 0.587, 0.114]).view(3, 1, 1)).sum(dim=0, keepdim=True)
    if size is not None and tuple(t.shape[1:]) != size:
        kwargs: dict[str, Any] = {"align_corners": False} if mode == "bilinear" else {}
        t = F.interpolate(t[None].float(), size=size, mode=mode, **kwargs)[0]
    return t.float().contiguous()


def _split_files(root: Path, split: str, classes: list[str] | None) -> list[tuple[Path, str]]:
    folder = require_dir(root / split, "image-folder split folder")
    found: list[tuple[Path, str]] = []
    for class_dir in class_folders(folder, "image-folder split folder"):
        if classes is not None and class_dir.name not in classes:
            raise ValueError(
                f"class folder {class_dir} has no counterpart in the training split "
                f"(classes: {', '.join(classes)})"
            )
        found += [(path, class_dir.name) for path in files_with_suffix(class_dir, IMAGE_SUFFIXES)]
    return found


def _flat_split(
    root: Path, test_fraction: float, seed: int
) -> tuple[list[tuple[Path, str]], list[tuple[Path, str]]]:
    """A flat ``root/<class>/*`` tree split per class (stratified, seeded): at least one test image per
    class of two or more images, the rest for training."""
    train: list[tuple[Path, str]] = []
    test: list[tuple[Path, str]] = []
    generator = torch.Generator().manual_seed(seed)
    for class_dir in class_folders(root, "image-folder root"):
        files = files_with_suffix(class_dir, IMAGE_SUFFIXES)
        order = torch.randperm(len(files), generator=generator).tolist()
        n_test = max(1, round(test_fraction * len(files))) if len(files) > 1 else 0
        test += [(files[i], class_dir.name) for i in sorted(order[:n_test])]
        train += [(files[i], class_dir.name) for i in sorted(order[n_test:])]
    return train, test


@register(spec=ImageFolderSpec)
def build(spec: ImageFolderSpec, *, seed: int = 0) -> DataBundle:
    """Image folder ``root/{train,test}/<class>/*`` or flat ``root/<class>/*``: x ``(N, C, H, W)``, y int64.

    Labels are the class folder names in sorted order; images are resized to ``image_size``, scaled to
    [0, 1] and standardised per channel with the training split's statistics. Files are listed in class, then
    name order (the run ``seed`` is not used).
    """
    root = require_dir(Path(spec.root).expanduser(), "image-folder root")
    flat = not (root / spec.train_split).exists() and not (root / spec.test_split).exists()
    if flat:
        train_files, test_files = _flat_split(root, spec.test_fraction, spec.split_seed)
        classes = sorted({name for _, name in train_files + test_files})
    else:
        train_files = _split_files(root, spec.train_split, None)
        classes = sorted({name for _, name in train_files})
        test_files = _split_files(root, spec.test_split, classes)
    train_images, train_files, skipped = read_files(train_files, read_image, skip_bad=spec.skip_bad_files)
    test_images, test_files, skipped_test = read_files(test_files, read_image, skip_bad=spec.skip_bad_files)
    skipped += skipped_test
    if not train_images or not test_images:
        raise ValueError(
            f"image-folder root {root}: no readable {'training' if not train_images else 'test'} images"
        )
    images = {"train": train_images, "test": test_images}
    all_images = images["train"] + images["test"]
    channels = spec.channels or (1 if all(im.shape[2] == 1 for im in all_images) else 3)
    size: tuple[int, int] | None
    if spec.image_size is None:
        shapes = {im.shape[:2] for im in all_images}
        if len(shapes) > 1:
            raise ValueError(
                f"images under {root} differ in size ({sorted(shapes)[:3]}...); set image_size to resize them"
            )
        size = None
    elif isinstance(spec.image_size, int):
        size = (spec.image_size, spec.image_size)
    else:
        size = (int(spec.image_size[0]), int(spec.image_size[1]))
    xs = {
        k: torch.stack([_to_tensor(im, channels, size, spec.interpolation) for im in v])
        for k, v in images.items()
    }
    label = {name: i for i, name in enumerate(classes)}
    ys = {
        "train": torch.tensor([label[c] for _, c in train_files], dtype=torch.int64),
        "test": torch.tensor([label[c] for _, c in test_files], dtype=torch.int64),
    }
    x_train, x_test = xs["train"], xs["test"]
    stats: dict[str, list[float]] | None = None
    if spec.standardize:
        x_train, x_test, stats = standardize(x_train, x_test)
    info: dict[str, Any] = {
        "source": "image folder",
        "root": str(root),
        "splits": (
            {"layout": "flat", "test_fraction": spec.test_fraction, "split_seed": spec.split_seed}
            if flat
            else {"train": spec.train_split, "test": spec.test_split}
        ),
        "class_names": classes,
        "num_train": len(train_files),
        "num_test": len(test_files),
        "image_shape": list(x_train.shape[1:]),
        "interpolation": spec.interpolation,
        "standardization": stats,
        "reader": "Pillow + netpbm" if _pillow() is not None else "netpbm only (Pillow not installed)",
        "skipped_files": skipped,
    }
    return DataBundle(
        name="image-folder",
        train=ArrayData.from_tensors(x_train, ys["train"]),
        test=ArrayData.from_tensors(x_test, ys["test"]),
        num_classes=len(classes),
        info=info,
    )
