"""The audio-visual digits set (``av-digits``) on the real FSDD recordings and scikit-learn's digit images,
and the verification metrics a run reports on it.

Skipped without FSDD unless ``KDTAX_REQUIRE_FSDD=1``. Only small builds (``train_limit``/``test_limit``);
the full listing is paired without computing features. Images are identified in the views by their exact
pixels (``load_digits`` holds no two identical images).
"""

from __future__ import annotations

import math
import os
import re
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.data import model_input
from kdtaxonomy.datasets import av_digits, build_dataset, fsdd
from kdtaxonomy.recipe import resolve
from kdtaxonomy.runner import Runner, RunOptions
from kdtaxonomy.stages import build_model

from .conftest import ROOT

FSDD = ROOT.parent / "shared/data/fsdd/recordings"
REQUIRED = os.environ.get("KDTAX_REQUIRE_FSDD") == "1"
SMALL = {"train_limit": 60, "test_limit": 30, "standardize": False}
# column c of the 8x8 image is held for these many of the 63 frames (floor(8 t / 63) = c): 8 x 7, then 7
HOLD = [8] * 7 + [7]


@pytest.fixture(scope="module")
def root() -> Path:
    if not FSDD.is_dir() or not any(FSDD.glob("*.wav")):
        reason = f"the Free Spoken Digit Dataset is not at {FSDD} (see shared/data/fsdd/README.md)"
        if REQUIRED:
            pytest.fail(f"KDTAX_REQUIRE_FSDD=1 but {reason}")
        pytest.skip(reason)
    pytest.importorskip("librosa")
    pytest.importorskip("sklearn")
    return FSDD


@pytest.fixture(scope="module")
def digits() -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    data = load_digits()
    return data.images, data.target


def identify(view: torch.Tensor, images: np.ndarray) -> list[int]:
    """The load_digits index of every row of an unstandardised image view, by exact pixels."""
    by_pixels = {(im / 16.0).astype(np.float32).tobytes(): i for i, im in enumerate(images)}
    found = []
    for row in view.numpy():
        starts = np.concatenate([[0], np.cumsum(HOLD)[:-1]])
        blocks = np.split(row, np.cumsum(HOLD)[:-1], axis=1)
        assert all((b == b[:, :1]).all() for b in blocks), "a column is not held constant"
        found.append(by_pixels[np.ascontiguousarray(row[:, starts]).tobytes()])
    return found


def test_shapes_labels_and_no_image_in_both_splits(root: Path, digits: tuple[np.ndarray, np.ndarray]) -> None:
    images, targets = digits
    bundle = build_dataset("av-digits", {"root": str(root), **SMALL})
    assert bundle.train.x.shape == (60, 40, 63) and bundle.test.x.shape == (30, 40, 63)
    assert bundle.train.view("image").shape == (60, 8, 63) and bundle.test.view("image").shape == (30, 8, 63)
    assert bundle.num_classes == 10 and bundle.info["evaluation"] == "classification"
    audio = build_dataset("fsdd", {"root": str(root), **SMALL})
    assert torch.equal(bundle.train.x, audio.train.x) and torch.equal(bundle.test.y, audio.test.y)
    found = {}
    for name, split in (("train", bundle.train), ("test", bundle.test)):
        found[name] = identify(split.view("image"), images)
        assert targets[found[name]].tolist() == split.y.tolist()  # the two views show the same digit
    assert not set(found["train"]) & set(found["test"])
    assert len(set(found["test"])) == 30  # fewer test recordings per digit than held-out images
    speakers = build_dataset("av-digits", {"root": str(root), "target": "speaker", **SMALL})
    assert speakers.info["evaluation"] == "verification" and speakers.num_classes == 6
    assert speakers.train.y.tolist() == [r // 10 for r in range(60)]  # (index, speaker, digit) order
    assert torch.equal(speakers.test.view("image"), bundle.test.view("image"))


def test_image_class_target_gives_each_speaker_the_images_of_one_digit(
    root: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    images, targets = digits
    params = {"root": str(root), "target": "speaker", "image_class": "target", **SMALL}
    bundle = build_dataset("av-digits", params)
    assert bundle.info["images"]["image_class"] == "speaker position"
    assert "numbering their speaker" in bundle.info["source"]
    found = {}
    for name, split in (("train", bundle.train), ("test", bundle.test)):
        found[name] = identify(split.view("image"), images)
        # the k-th speaker (sorted names) shows a handwritten k, whatever digit is spoken
        assert targets[found[name]].tolist() == split.y.tolist()
    assert set(bundle.train.y.tolist()) == set(range(6))
    assert not set(found["train"]) & set(found["test"])
    # the audio is the same as with digit images; only the image view changes
    plain = build_dataset("av-digits", {"root": str(root), "target": "speaker", **SMALL})
    assert torch.equal(bundle.train.x, plain.train.x) and torch.equal(bundle.test.y, plain.test.y)
    assert not torch.equal(bundle.test.view("image"), plain.test.view("image"))


def test_the_full_listing_pairs_every_recording_within_its_split(
    root: Path, digits: tuple[np.ndarray, np.ndarray]
) -> None:
    _, targets = digits
    recordings, _ = fsdd.list_recordings(root, skip_bad=False)
    rng = np.random.default_rng(0)
    pools = av_digits.split_images(targets, 0.25, rng)
    pairs = av_digits.pair_images(recordings, pools, rng)
    assert len(pairs) == 3000
    test_pool = set(np.concatenate(pools["test"]).tolist())
    assert len(test_pool) == sum(round(0.25 * n) for n in np.bincount(targets))
    assert not test_pool & set(np.concatenate(pools["train"]).tolist())
    by_split: dict[str, list[int]] = {"train": [], "test": []}
    for rec in recordings:
        image = pairs[rec.path.name]
        assert targets[image] == rec.digit and (image in test_pool) == (rec.split == "test")
        by_split[rec.split].append(image)
    assert len(set(by_split["test"])) == 300  # no test image twice
    uses = np.bincount(by_split["train"])
    for d in range(10):  # each training image of a digit is used floor or ceil of 270 / pool size times
        used = uses[pools["train"][d]]
        assert used.max() - used.min() <= 1 and used.sum() == 270


def test_determinism_and_seeds(root: Path) -> None:
    base = {"root": str(root), "train_limit": 20, "test_limit": 10}
    a = build_dataset("av-digits", base, seed=0)
    b = build_dataset("av-digits", base, seed=5)  # the run seed does not change the data
    c = build_dataset("av-digits", {**base, "pairing_seed": 1})
    assert torch.equal(a.train.view("image"), b.train.view("image"))
    assert torch.equal(a.test.view("image"), b.test.view("image"))
    assert not torch.equal(a.train.view("image"), c.train.view("image"))
    assert torch.equal(a.train.x, c.train.x)
    assert a.info["standardization"]["image"]["mean"] != [0.0] * 8
    assert abs(float(a.train.view("image").mean())) < 1e-5  # standardised with the training statistics


def test_one_teacher_per_view_and_a_fused_teacher_fit(root: Path) -> None:
    bundle = build_dataset("av-digits", {"root": str(root), "train_limit": 20, "test_limit": 10})
    batch = {"x": bundle.train.x[:4], "image": bundle.train.view("image")[:4]}
    for view in ("x", "image", "x+image"):
        model = build_model("cnn1d", {"size": "tiny"}, bundle, view)
        assert model(model_input(batch, view)).shape == (4, 10), view
    assert model_input(batch, "x+image").shape == (4, 48, 63)


def test_skip_bad_files(root: Path, tmp_path: Path) -> None:
    small = tmp_path / "small"
    small.mkdir()
    for path in root.glob("*_[05].wav"):  # index 0 (test) and 5 (train): 60 + 60 recordings
        shutil.copy(path, small / path.name)
    broken = small / "3_george_5.wav"
    broken.write_bytes(broken.read_bytes()[:200])
    with pytest.raises(ValueError, match=f"cannot read sound file {re.escape(str(broken))}"):
        build_dataset("av-digits", {"root": str(small)})
    bundle = build_dataset("av-digits", {"root": str(small), "skip_bad_files": True, "standardize": False})
    assert (len(bundle.train), len(bundle.test)) == (59, 60)
    assert [s["file"] for s in bundle.info["skipped_files"]] == [str(broken)]
    assert bundle.train.view("image").shape == (59, 8, 63)


def test_a_tiny_run_reports_verification_metrics(root: Path, catalog: Catalog) -> None:
    config = catalog.get("zhang-multimodal-kd").configuration("label-level")
    params = {"root": str(root), "target": "speaker", "train_limit": 60, "test_limit": 30}  # cached features
    recipe = resolve(
        config,
        "zhang-multimodal-kd",
        dataset={"component": "av-digits", "params": params},
        teacher={
            "component": "multi-view",
            "params": {"views": ["x", "image"], "fused": True, "size": "tiny"},
        },
    )
    options = RunOptions(epochs=1, teacher_epochs=1, max_steps=2, batch_size=32, cache=False)
    result = Runner(recipe, options).run()
    for name in ("teacher", "student_baseline", "student"):
        assert 0.0 <= result[f"{name}_eer"] <= 50.0 and math.isfinite(result[f"{name}_eer"]), name
        assert 0.0 <= result[f"{name}_min_dcf"] <= 1.0, name
    # the first 30 test recordings: 3 speakers x 10 digits, 3 x 45 = 135 target pairs, so 270 trials
    assert result["verification"]["trials"] == 270 and result["verification"]["target_trials"] == 135
    assert "not_scored" not in result["verification"]
    assert result["dataset"]["evaluation"] == "verification"
    small = RunOptions(**{**options.__dict__, "dataset_params": {"train_limit": 64, "test_limit": 32}})
    plain = Runner(resolve(config, "zhang-multimodal-kd"), small).run()  # mnist1d: accuracies only
    assert "student_eer" not in plain and "verification" not in plain
