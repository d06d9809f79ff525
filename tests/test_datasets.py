"""Datasets: MNIST-1D generation and cache, the two-view form, image and sound folders, CIFAR's guard."""

from __future__ import annotations

import importlib.util
import math
import random
import wave
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
import torch

from kdtaxonomy.data import DataBundle
from kdtaxonomy.datasets import MissingDependencyError, build_dataset, cache_dir
from kdtaxonomy.datasets import image_folder as imf
from kdtaxonomy.datasets import mnist1d as m1d
from kdtaxonomy.models import build_model
from kdtaxonomy.specs.datasets import MNIST1DSpec, WavFolderSpec

HAS_PILLOW = importlib.util.find_spec("PIL") is not None
HAS_TORCHVISION = importlib.util.find_spec("torchvision") is not None


# ------------------------------------------------------------------------------------------------------
# MNIST-1D


@pytest.fixture(scope="session")
def mnist(tmp_path_factory: pytest.TempPathFactory) -> Iterator[DataBundle]:
    """The default MNIST-1D, generated once per session into the session's cache folder (see conftest)."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("KDTAX_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "kdtax-cache"))
        yield build_dataset("mnist1d")


def test_mnist1d_defaults(mnist: DataBundle) -> None:
    assert (len(mnist.train), len(mnist.test)) == (4000, 1000)
    assert mnist.train.x.shape == (4000, 1, 40) and mnist.test.x.shape == (1000, 1, 40)
    assert mnist.train.x.dtype == torch.float32 and mnist.train.y.dtype == torch.int64
    assert mnist.num_classes == 10 and mnist.input_shape == (1, 40)
    assert sorted(mnist.train.y.unique().tolist()) == list(range(10))
    assert sorted(mnist.test.y.unique().tolist()) == list(range(10))
    assert torch.equal(mnist.train.index, torch.arange(4000))
    info = mnist.info
    assert info["generator_args"]["num_samples"] == 5000 and info["generator_args"]["seed"] == 42
    assert info["class_names"] == [str(d) for d in range(10)]
    assert (info["num_train"], info["num_test"]) == (4000, 1000)


def test_mnist1d_generation_is_deterministic_and_leaves_rng_alone() -> None:
    spec = MNIST1DSpec(num_samples=200)
    random.seed(7)
    np.random.seed(7)
    expected = (random.random(), np.random.rand())
    random.seed(7)
    np.random.seed(7)
    first, args = m1d.generate(spec)
    assert (random.random(), np.random.rand()) == expected
    second, _ = m1d.generate(spec)
    for name in ("x", "y", "x_test", "y_test"):
        assert np.array_equal(first[name], second[name]), name
    assert first["x"].shape == (160, 40) and first["x_test"].shape == (40, 40)
    assert args["seed"] == 42
    other, other_args = m1d.generate(MNIST1DSpec(num_samples=200, seed=3))
    assert other_args["seed"] == 3 and not np.array_equal(other["x"], first["x"])


def test_mnist1d_cache_hit_and_corrupt_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path))
    spec = MNIST1DSpec(num_samples=200, train_limit=100, test_limit=30)
    fresh = build_dataset(spec)
    assert fresh.info["cache"]["hit"] is False and fresh.info["cache"]["written"] is True
    path = Path(fresh.info["cache"]["file"])
    assert path.parent == tmp_path / "datasets" == cache_dir() and path.is_file()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temporary file left behind
    cached = build_dataset(spec)
    assert cached.info["cache"]["hit"] is True
    assert (len(cached.train), len(cached.test)) == (100, 30)
    for a, b in (
        (fresh.train.x, cached.train.x),
        (fresh.train.y, cached.train.y),
        (fresh.test.x, cached.test.x),
    ):
        assert torch.equal(a, b)
    generated, _ = m1d.generate(spec)
    assert np.array_equal(cached.train.x[:, 0].numpy(), generated["x"][:100])
    for corrupt in (b"not an npz file", path.read_bytes()[:200]):
        path.write_bytes(corrupt)
        again = build_dataset(spec)
        assert again.info["cache"]["hit"] is False
        assert torch.equal(again.train.x, fresh.train.x) and torch.equal(again.test.y, fresh.test.y)
        assert build_dataset(spec).info["cache"]["hit"] is True  # rewritten


def test_mnist1d_limits(mnist: DataBundle) -> None:
    small = build_dataset("mnist1d", {"train_limit": 64, "test_limit": 16})
    assert small.train.x.shape == (64, 1, 40) and small.test.x.shape == (16, 1, 40)
    assert torch.equal(small.train.x, mnist.train.x[:64]) and torch.equal(small.test.y, mnist.test.y[:16])


def test_mnist1d_two_view_spectral_view(mnist: DataBundle) -> None:
    two = build_dataset("mnist1d-two-view")
    assert torch.equal(two.train.x, mnist.train.x) and torch.equal(two.test.y, mnist.test.y)
    assert two.train.view("spectral").shape == (4000, 1, 40) and two.test.view("spectral").shape == (
        1000,
        1,
        40,
    )
    # independent re-derivation: |rfft|, np.interp onto 40 points, standardised with the training split
    raw_train = mnist.train.x[:, 0].double().numpy()

    def resampled(signal: np.ndarray) -> np.ndarray:
        magnitude = np.abs(np.fft.rfft(signal))
        return np.interp(
            np.linspace(0, len(magnitude) - 1, signal.shape[-1]), np.arange(len(magnitude)), magnitude
        )

    train_spec = np.stack([resampled(s) for s in raw_train])
    mean, std = train_spec.mean(), train_spec.std()
    sample = mnist.test.x[7, 0].double().numpy()
    expected = (resampled(sample) - mean) / std
    assert np.allclose(two.test.view("spectral")[7, 0].numpy(), expected, atol=1e-5)
    assert np.allclose(two.train.view("spectral")[3, 0].numpy(), (train_spec[3] - mean) / std, atol=1e-5)
    assert abs(float(two.train.view("spectral").mean())) < 1e-4
    limited = build_dataset("mnist1d-two-view", {"train_limit": 10, "test_limit": 5})
    assert torch.equal(limited.test.view("spectral"), two.test.view("spectral")[:5])


# ------------------------------------------------------------------------------------------------------
# image folders


def write_pgm(path: Path, pixels: np.ndarray, *, binary: bool = True, maxval: int = 255) -> None:
    h, w = pixels.shape
    if binary:
        dtype = ">u2" if maxval > 255 else "u1"
        path.write_bytes(
            f"P5\n# made by a test\n{w} {h}\n{maxval}\n".encode() + pixels.astype(dtype).tobytes()
        )
    else:
        rows = "\n".join(" ".join(str(int(v)) for v in row) for row in pixels)
        path.write_text(f"P2\n{w} {h}\n# comment\n{maxval}\n{rows}\n")


def write_ppm(path: Path, pixels: np.ndarray) -> None:
    h, w, _ = pixels.shape
    path.write_bytes(f"P6 {w} {h} 255\n".encode() + pixels.astype("u1").tobytes())


def make_image_folder(root: Path, *, colour: bool = False) -> Path:
    rng = np.random.default_rng(0)
    counts = {"train": 3, "test": 2}
    for split, count in counts.items():
        for label, cls in enumerate(["cat", "dog"]):
            folder = root / split / cls
            folder.mkdir(parents=True)
            for i in range(count):
                base = 60 + 120 * label
                img = np.clip(base + rng.integers(-30, 30, size=(10, 12)), 0, 255)
                if colour and i == 0:
                    write_ppm(folder / f"{i}.ppm", np.stack([img, img // 2, 255 - img], axis=-1))
                else:
                    write_pgm(folder / f"{i}.pgm", img, binary=i % 2 == 0)
    (root / "train" / "cat" / "notes.txt").write_text("ignored")
    return root


def test_netpbm_reader_exact_values(tmp_path: Path) -> None:
    pixels = np.array([[0, 1, 2], [3, 4, 5]])
    write_pgm(tmp_path / "a.pgm", pixels, binary=False, maxval=5)
    assert np.allclose(imf.read_netpbm(tmp_path / "a.pgm")[:, :, 0], pixels / 5)
    deep = np.array([[0, 1000], [40000, 65535]])
    write_pgm(tmp_path / "b.pgm", deep, maxval=65535)
    assert np.allclose(imf.read_netpbm(tmp_path / "b.pgm")[:, :, 0], deep / 65535)
    rgb = np.arange(2 * 2 * 3).reshape(2, 2, 3) * 10
    write_ppm(tmp_path / "c.ppm", rgb)
    assert imf.read_netpbm(tmp_path / "c.ppm").shape == (2, 2, 3)
    assert np.allclose(imf.read_netpbm(tmp_path / "c.ppm"), rgb / 255)
    (tmp_path / "d.ppm").write_text("P3\n2 1\n255\n255 0 0  0 255 0\n")
    assert np.allclose(imf.read_netpbm(tmp_path / "d.ppm"), [[[1, 0, 0], [0, 1, 0]]])


def test_image_folder_grey(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "imgs")
    bundle = build_dataset("image-folder", {"root": str(root), "image_size": 8})
    assert bundle.train.x.shape == (6, 1, 8, 8) and bundle.test.x.shape == (4, 1, 8, 8)
    assert bundle.info["class_names"] == ["cat", "dog"] and bundle.num_classes == 2
    assert bundle.train.y.tolist() == [0, 0, 0, 1, 1, 1] and bundle.test.y.tolist() == [0, 0, 1, 1]
    assert (
        abs(float(bundle.train.x.mean())) < 1e-5 and abs(float(bundle.train.x.std(unbiased=False)) - 1) < 1e-4
    )
    # dogs are brighter than cats in the generated data
    assert bundle.test.x[2:].mean() > bundle.test.x[:2].mean()
    native = build_dataset("image-folder", {"root": str(root), "image_size": None, "standardize": False})
    assert native.train.x.shape == (6, 1, 10, 12)
    assert float(native.train.x.min()) >= 0.0 and float(native.train.x.max()) <= 1.0
    rect = build_dataset(
        "image-folder", {"root": str(root), "image_size": (5, 6), "interpolation": "nearest"}
    )
    assert rect.train.x.shape == (6, 1, 5, 6)
    model = build_model(
        "cnn2d", {"size": "tiny"}, input_shape=bundle.input_shape, num_classes=bundle.num_classes
    )
    assert model(bundle.train.x).shape == (6, 2)


def test_image_folder_colour(tmp_path: Path) -> None:
    root = make_image_folder(tmp_path / "imgs", colour=True)
    bundle = build_dataset("image-folder", {"root": str(root), "image_size": 16})
    assert bundle.train.x.shape == (6, 3, 16, 16)
    assert len(bundle.info["standardization"]["mean"]) == 3
    grey = build_dataset("image-folder", {"root": str(root), "image_size": 16, "channels": 1})
    assert grey.train.x.shape == (6, 1, 16, 16)


@pytest.mark.skipif(not HAS_PILLOW, reason="Pillow is not installed")
def test_image_folder_png(tmp_path: Path) -> None:
    from PIL import Image

    root = make_image_folder(tmp_path / "imgs")
    Image.fromarray(np.full((10, 12, 3), 200, dtype=np.uint8)).save(root / "train" / "dog" / "extra.png")
    bundle = build_dataset("image-folder", {"root": str(root), "image_size": 8, "standardize": False})
    assert bundle.train.x.shape == (7, 3, 8, 8)
    assert torch.allclose(bundle.train.x[-1], torch.full((3, 8, 8), 200 / 255))


def test_image_folder_without_pillow(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    root = make_image_folder(tmp_path / "imgs")
    monkeypatch.setattr(imf, "_pillow", lambda: None)
    assert build_dataset("image-folder", {"root": str(root), "image_size": 8}).train.x.shape == (6, 1, 8, 8)
    png = root / "train" / "dog" / "extra.png"
    png.write_bytes(b"\x89PNG\r\n\x1a\n")
    with pytest.raises(ValueError, match=r"extra\.png.*needs Pillow.*only \.pgm, \.ppm"):
        build_dataset("image-folder", {"root": str(root)})


def test_image_folder_errors(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere"
    with pytest.raises(ValueError, match=f"image-folder root {missing} does not exist"):
        build_dataset("image-folder", {"root": str(missing)})
    root = make_image_folder(tmp_path / "a")
    (root / "train" / "dog" / "0.pgm").write_bytes(b"P5\n12 10\n255\n\x00\x01")
    with pytest.raises(ValueError, match=r"cannot read image .*0\.pgm: truncated"):
        build_dataset("image-folder", {"root": str(root)})
    root = make_image_folder(tmp_path / "b")
    (root / "test" / "cat" / "1.pgm").write_bytes(b"GIF89a")
    with pytest.raises(ValueError, match=r"1\.pgm: not a PGM/PPM file"):
        build_dataset("image-folder", {"root": str(root)})
    root = make_image_folder(tmp_path / "c")
    (root / "train" / "bird").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*bird is empty"):
        build_dataset("image-folder", {"root": str(root)})
    root = make_image_folder(tmp_path / "d")
    (root / "test" / "cow").mkdir()
    write_pgm(root / "test" / "cow" / "0.pgm", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"cow has no counterpart in the training split"):
        build_dataset("image-folder", {"root": str(root)})
    root = make_image_folder(tmp_path / "e")
    write_pgm(root / "train" / "cat" / "odd.pgm", np.zeros((3, 3)))
    with pytest.raises(ValueError, match="differ in size"):
        build_dataset("image-folder", {"root": str(root), "image_size": None})
    (tmp_path / "f" / "train" / "cat").mkdir(parents=True)
    write_pgm(tmp_path / "f" / "train" / "cat" / "0.pgm", np.zeros((2, 2)))
    with pytest.raises(ValueError, match=r"split folder .*f/test does not exist"):
        build_dataset("image-folder", {"root": str(tmp_path / "f")})


# ------------------------------------------------------------------------------------------------------
# CIFAR


@pytest.mark.skipif(HAS_TORCHVISION, reason="torchvision is installed")
def test_cifar_without_torchvision_names_the_package() -> None:
    with pytest.raises(MissingDependencyError, match="torchvision"):
        build_dataset("cifar")
    assert issubclass(MissingDependencyError, ImportError)


@pytest.mark.skipif(not HAS_TORCHVISION, reason="torchvision is not installed")
def test_cifar_missing_root(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="nowhere"):
        build_dataset("cifar", {"root": str(tmp_path / "nowhere")})
    (tmp_path / "empty").mkdir()
    with pytest.raises(ValueError, match="empty"):
        build_dataset("cifar", {"root": str(tmp_path / "empty")})


# ------------------------------------------------------------------------------------------------------
# sound folders

RATE = 8000


def write_wav(path: Path, samples: np.ndarray, *, rate: int = RATE, width: int = 2) -> None:
    """Write float samples in [-1, 1] (shape (n,) or (n, channels)) as integer PCM."""
    data = samples if samples.ndim == 2 else samples[:, None]
    if width == 1:
        raw = np.clip(np.round(data * 127 + 128), 0, 255).astype("u1").tobytes()
    elif width == 2:
        raw = np.clip(np.round(data * 32767), -32768, 32767).astype("<i2").tobytes()
    else:
        ints = np.clip(np.round(data * (2**23 - 1)), -(2**23), 2**23 - 1).astype("<i4")
        raw = b"".join(int(v).to_bytes(3, "little", signed=True) for v in ints.flatten())
    with wave.open(str(path), "wb") as handle:
        handle.setnchannels(data.shape[1])
        handle.setsampwidth(width)
        handle.setframerate(rate)
        handle.writeframes(raw)


def make_wav_folder(root: Path, per_class: int = 5) -> Path:
    rng = np.random.default_rng(0)
    for cls in ("sine", "noise"):
        (root / cls).mkdir(parents=True)
        for i in range(per_class):
            rate = 11025 if i == 1 else RATE
            t = np.arange(int(0.4 * rate)) / rate  # shorter than the clip length: padded
            if cls == "sine":
                signal = 0.5 * np.sin(2 * math.pi * (500 + 100 * i) * t)
            else:
                signal = 0.3 * rng.standard_normal(len(t)).clip(-3, 3) / 3
            if i == 2:
                signal = np.stack([signal, signal], axis=1)  # stereo
            write_wav(root / cls / f"{cls}{i}.wav", signal, rate=rate, width=1 if i == 3 else 2)
    return root


WAV_PARAMS = {"sample_rate": RATE, "seconds": 0.5, "n_fft": 128, "hop_length": 64, "n_mels": 16}


def test_wav_folder_stratified_split(tmp_path: Path) -> None:
    root = make_wav_folder(tmp_path / "sounds")
    params = {"root": str(root), "test_fraction": 0.4, **WAV_PARAMS}
    bundle = build_dataset("wav-folder", params, seed=1)
    frames = 1 + int(0.5 * RATE) // 64  # centred STFT frames
    assert bundle.train.x.shape == (6, 16, frames) and bundle.test.x.shape == (4, 16, frames)
    assert bundle.train.x.dtype == torch.float32 and torch.isfinite(bundle.train.x).all()
    assert bundle.info["class_names"] == ["noise", "sine"] and bundle.num_classes == 2
    assert bundle.train.y.tolist() == [0, 0, 0, 1, 1, 1] and bundle.test.y.tolist() == [0, 0, 1, 1]
    assert bundle.info["split_seed"] == 1 and bundle.info["source_sample_rates"] == [RATE, 11025]
    again = build_dataset("wav-folder", params, seed=1)
    assert torch.equal(bundle.train.x, again.train.x)
    fixed = build_dataset("wav-folder", {**params, "split_seed": 1}, seed=99)
    assert torch.equal(bundle.test.x, fixed.test.x)
    splits = {tuple(build_dataset("wav-folder", params, seed=s).test.x[:, 0, 0].tolist()) for s in range(6)}
    assert len(splits) > 1  # the split depends on the seed
    model = build_model("cnn1d", {"size": "tiny"}, input_shape=bundle.input_shape, num_classes=2)
    assert model(bundle.train.x).shape == (6, 2)


def test_wav_folder_features_separate_sine_from_noise(tmp_path: Path) -> None:
    root = make_wav_folder(tmp_path / "sounds")
    raw = build_dataset("wav-folder", {"root": str(root), "standardize": False, **WAV_PARAMS}, seed=0)
    x, y = torch.cat([raw.train.x, raw.test.x]), torch.cat([raw.train.y, raw.test.y])
    active = x[:, :, :10]  # frames inside the 0.4 s of signal
    peakiness = active.max(dim=1).values.mean(dim=1) - active.median(dim=1).values.mean(dim=1)
    assert peakiness[y == 1].min() > peakiness[y == 0].max()  # a sine concentrates in one band


def test_wav_folder_train_test_folders(tmp_path: Path) -> None:
    make_wav_folder(tmp_path / "s" / "train", per_class=3)
    make_wav_folder(tmp_path / "s" / "test", per_class=2)
    bundle = build_dataset("wav-folder", {"root": str(tmp_path / "s"), **WAV_PARAMS})
    assert (len(bundle.train), len(bundle.test)) == (6, 4)
    assert bundle.info["layout"] == "train/test folders"


def test_wav_folder_errors(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match=r"wav-folder root .*nowhere does not exist"):
        build_dataset("wav-folder", {"root": str(tmp_path / "nowhere"), **WAV_PARAMS})
    root = make_wav_folder(tmp_path / "a")
    (root / "silence").mkdir()
    with pytest.raises(ValueError, match=r"class folder .*silence is empty"):
        build_dataset("wav-folder", {"root": str(root), **WAV_PARAMS})
    root = make_wav_folder(tmp_path / "b")
    (root / "sine" / "broken.wav").write_bytes(b"RIFF\x00\x00garbage")
    with pytest.raises(ValueError, match=r"cannot read sound file .*broken\.wav"):
        build_dataset("wav-folder", {"root": str(root), **WAV_PARAMS})
    (tmp_path / "c").mkdir()
    with pytest.raises(ValueError, match="holds no class folders"):
        build_dataset("wav-folder", {"root": str(tmp_path / "c"), **WAV_PARAMS})
    with pytest.raises(ValueError, match="n_mels"):
        WavFolderSpec(root="x", n_fft=16, n_mels=20)
    with pytest.raises(ValueError, match="fmax"):
        WavFolderSpec(root="x", sample_rate=8000, fmax=5000.0)


def test_wav_folder_retired_parameters_say_what_replaced_them() -> None:
    with pytest.raises(ValueError, match="n_bands was renamed n_mels"):
        WavFolderSpec(root="x", n_bands=16)
    with pytest.raises(ValueError, match=r"band_scale is gone.*log-mel"):
        WavFolderSpec.model_validate({"root": "x", "band_scale": "linear"})
