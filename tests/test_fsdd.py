"""The Free Spoken Digit Dataset (``fsdd``) on the real recordings in ``../shared/data/fsdd/recordings``.

Without them the tests skip; ``.ci/run`` sets ``KDTAX_REQUIRE_FSDD=1``, which turns their absence into a
failure. Builds use ``train_limit``/``test_limit`` to stay fast; references are computed here (names parsed
with a regular expression of our own, clips read with the ``wave`` module and featurised by librosa).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import wave
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

from kdtaxonomy.cli import app
from kdtaxonomy.datasets import build_dataset, cache_dir
from kdtaxonomy.datasets import fsdd as fsdd_module

from .conftest import CATALOG, ROOT

FSDD = ROOT.parent / "shared/data/fsdd/recordings"
REQUIRED = os.environ.get("KDTAX_REQUIRE_FSDD") == "1"
SPEAKERS = ["george", "jackson", "lucas", "nicolas", "theo", "yweweler"]  # the dataset's README
SMALL = {"train_limit": 60, "test_limit": 30, "standardize": False}


@pytest.fixture(scope="module")
def fsdd() -> Path:
    if not FSDD.is_dir() or not any(FSDD.glob("*.wav")):
        reason = f"the Free Spoken Digit Dataset is not at {FSDD} (see shared/data/fsdd/README.md)"
        if REQUIRED:
            pytest.fail(f"KDTAX_REQUIRE_FSDD=1 but {reason}")
        pytest.skip(reason)
    pytest.importorskip("librosa")
    return FSDD


def _reference(path: Path, seconds: float = 1.0) -> np.ndarray:
    """Log-mel of an 8 kHz 16-bit FSDD clip: read with ``wave``, padded/cut, librosa with the defaults."""
    import librosa

    with wave.open(str(path), "rb") as handle:
        assert handle.getframerate() == 8000 and handle.getsampwidth() == 2 and handle.getnchannels() == 1
        samples = np.frombuffer(handle.readframes(handle.getnframes()), dtype="<i2") / 32768.0
    n = round(seconds * 8000)
    clip = np.pad(samples, (0, max(0, n - len(samples))))[:n].astype(np.float32)
    power = librosa.feature.melspectrogram(y=clip, sr=8000, n_fft=256, hop_length=128, n_mels=40)
    return np.asarray(librosa.power_to_db(power, ref=1.0, top_db=80.0))


def test_the_official_split_over_all_names(fsdd: Path) -> None:
    names = [p.name for p in fsdd.glob("*.wav")]
    parsed = [re.fullmatch(r"(\d)_([a-z]+)_(\d+)\.wav", n) for n in names]
    assert all(parsed) and len(names) == 3000
    test = [m for m in parsed if m and int(m[3]) <= 4]
    assert (len(names) - len(test), len(test)) == (2700, 300)
    bundle = build_dataset("fsdd", {"root": str(fsdd), "train_limit": 12, "test_limit": 12})
    assert bundle.info["available"] == {"train": 2700, "test": 300}
    assert bundle.info["speakers"] == SPEAKERS and bundle.info["class_names"] == [str(d) for d in range(10)]
    assert "CC BY-SA 4.0" in bundle.info["credit"] and "Jakobovski" in bundle.info["credit"]


def test_known_files_have_their_labels_and_features(fsdd: Path) -> None:
    digits = build_dataset("fsdd", {"root": str(fsdd), **SMALL})
    assert digits.train.x.shape == (60, 40, 63) and digits.test.x.shape == (30, 40, 63)
    assert digits.train.x.dtype == torch.float32 and digits.num_classes == 10
    # (index, speaker, digit) order: train row 10 * s + d is f"{d}_{SPEAKERS[s]}_5.wav", test rows index 0
    assert digits.train.y.tolist() == list(range(10)) * 6
    for split, row, name in (("train", 17, "7_jackson_5.wav"), ("test", 23, "3_lucas_0.wav")):
        x = (digits.train if split == "train" else digits.test).x[row].numpy()
        assert np.allclose(x, _reference(fsdd / name), atol=1e-3), name
    speakers = build_dataset("fsdd", {"root": str(fsdd), "target": "speaker", **SMALL})
    assert speakers.info["class_names"] == SPEAKERS and speakers.num_classes == 6
    assert speakers.train.y.tolist() == [s for s in range(6) for _ in range(10)]
    assert torch.equal(speakers.train.x, digits.train.x)  # the same features, only the labels differ
    assert speakers.info["cache"]["hit"] is True  # ... and the same cache entry
    std = build_dataset("fsdd", {"root": str(fsdd), "train_limit": 60, "test_limit": 30})
    assert abs(float(std.train.x.mean())) < 1e-4 and len(std.info["standardization"]["mean"]) == 40


def test_the_cache_gives_identical_tensors_and_follows_contents(
    fsdd: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("KDTAX_CACHE_DIR", str(tmp_path / "cache"))
    params = {"root": str(fsdd), "train_limit": 120, "test_limit": 60}
    fresh = build_dataset("fsdd", params)
    with monkeypatch.context() as mp:  # a hit computes no features at all
        mp.setattr(fsdd_module, "files_features", _no_features)
        cached = build_dataset("fsdd", params)
    assert fresh.info["cache"]["hit"] is False and fresh.info["cache"]["written"] is True
    assert cached.info["cache"]["hit"] is True and cached.info["cache"]["key"] == fresh.info["cache"]["key"]
    path = Path(fresh.info["cache"]["file"])
    assert path.parent == cache_dir() and [p.name for p in path.parent.iterdir()] == [path.name]
    for a, b in (
        (fresh.train.x, cached.train.x),
        (fresh.test.x, cached.test.x),
        (fresh.test.y, cached.test.y),
    ):
        assert torch.equal(a, b)
    other = build_dataset("fsdd", {**params, "n_mels": 32})
    assert other.info["cache"]["key"] != fresh.info["cache"]["key"] and other.train.x.shape[1] == 32
    path.write_bytes(path.read_bytes()[:300])  # a broken cache file is rebuilt
    again = build_dataset("fsdd", params)
    assert again.info["cache"]["hit"] is False and torch.equal(again.train.x, fresh.train.x)
    # the key follows the bytes: a copy with one recording changed gets another key
    copy = _copy(fsdd, tmp_path / "copy", per_split=2)
    first = build_dataset("fsdd", {"root": str(copy)}).info["cache"]["key"]
    clip = copy / "0_george_0.wav"
    data = bytearray(clip.read_bytes())
    data[-1] ^= 0x40
    clip.write_bytes(bytes(data))
    assert build_dataset("fsdd", {"root": str(copy)}).info["cache"]["key"] != first


def _no_features(*args: object, **kwargs: object) -> None:
    raise AssertionError("features computed on a cache hit")


def _copy(fsdd: Path, dest: Path, per_split: int) -> Path:
    """A small FSDD folder: indices 0..per_split-1 (test) and 5..4+per_split (train) of every recording."""
    dest.mkdir(parents=True)
    for path in fsdd.glob("*.wav"):
        index = int(path.stem.rsplit("_", 1)[1])
        if index < per_split or 5 <= index < 5 + per_split:
            shutil.copy(path, dest / path.name)
    return dest


def test_bad_names_and_broken_files_fail_naming_them_or_are_skipped(fsdd: Path, tmp_path: Path) -> None:
    root = _copy(fsdd, tmp_path / "small", per_split=1)
    assert len(list(root.iterdir())) == 120
    (root / "notes.txt").write_text("not a recording: ignored")
    misnamed = root / "seven_jackson_1.wav"
    shutil.copy(root / "7_jackson_0.wav", misnamed)
    with pytest.raises(ValueError, match=rf"FSDD file {re.escape(str(misnamed))} does not match the layout"):
        build_dataset("fsdd", {"root": str(root)})
    misnamed.unlink()
    broken = root / "4_theo_5.wav"
    broken.write_bytes(broken.read_bytes()[:400])
    with pytest.raises(ValueError) as err:
        build_dataset("fsdd", {"root": str(root)})
    line = str(err.value)
    assert "\n" not in line and line.startswith(f"cannot read sound file {broken}: ") and "truncated" in line
    shutil.copy(root / "7_jackson_0.wav", misnamed)
    bundle = build_dataset("fsdd", {"root": str(root), "skip_bad_files": True})
    assert (len(bundle.train), len(bundle.test)) == (59, 60)
    assert [s["file"] for s in bundle.info["skipped_files"]] == [str(misnamed), str(broken)]
    assert bundle.info["skipped_files"][1]["reason"] == line
    again = build_dataset("fsdd", {"root": str(root), "skip_bad_files": True})
    assert again.info["cache"]["hit"] is True and again.info["skipped_files"] == bundle.info["skipped_files"]
    with pytest.raises(ValueError, match=r"FSDD root .* does not exist"):
        build_dataset("fsdd", {"root": str(tmp_path / "nowhere")})


def test_train_on_fsdd_from_the_cli(fsdd: Path, tmp_path: Path) -> None:
    args = ["--catalog", str(CATALOG), "train", "ahn2019-vid", "--dataset", "fsdd", "--data-root", str(fsdd)]
    args += ["--dataset-param", "train_limit=120", "--dataset-param", "test_limit=60"]
    result = CliRunner().invoke(app, [*args, "--dataset-param", "target=speaker", "--max-steps", "3"])
    assert result.exit_code == 0, result.stderr
    result = CliRunner().invoke(app, [*args, "--max-steps", "3", "--format", "json"])
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    assert data["dataset"]["num_train"] == 120 and data["dataset"]["target"] == "digit"
    assert data["provenance"]["recipe"]["dataset"]["component"] == "fsdd"
    root = _copy(fsdd, tmp_path / "small", per_split=1)
    broken = root / "2_nicolas_0.wav"
    broken.write_bytes(broken.read_bytes()[:40])
    small = ["--catalog", str(CATALOG), "train", "ahn2019-vid", "--dataset", "fsdd", "--data-root", str(root)]
    failed = CliRunner().invoke(app, [*small, "--max-steps", "2"])
    assert failed.exit_code == 1
    line = failed.stderr.strip()
    assert "\n" not in line and line.startswith(f"error: ahn2019-vid#main: cannot read sound file {broken}: ")
    skipped = CliRunner().invoke(app, [*small, "--skip-bad-files", "--max-steps", "2"])
    assert skipped.exit_code == 0, skipped.stderr
    assert f"skipped 1 unreadable file(s): {broken}" in skipped.stderr
