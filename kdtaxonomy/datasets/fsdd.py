"""The Free Spoken Digit Dataset (``fsdd``): real recordings of spoken digits, as log-mel spectrograms.

FSDD (Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0) holds ``{digit}_{speaker}_{index}.wav`` files,
8 kHz mono; its README's split puts index 0-4 in the test set and 5-49 in the training set. Features come
from :mod:`kdtaxonomy.datasets.audio` and are cached in :func:`~kdtaxonomy.datasets.base.cache_dir`, keyed by
the SHA-256 of every selected file's bytes (with its name), the feature parameters, ``skip_bad_files`` and
the library versions. Hashing all 3,000 files (27 MB) takes about 0.1 s with the files in the page cache
(0.4 s cold; a size+mtime+name key 0.02 s), against 2.5-6 s to compute the features and 0.6 s to load
them from the cache, so contents are hashed rather than trusting mtimes.
"""

from __future__ import annotations

import hashlib
import json
import re
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import torch

from kdtaxonomy.data import ArrayData, DataBundle
from kdtaxonomy.datasets.audio import Float32, LogMel, files_features
from kdtaxonomy.datasets.base import cache_dir, limit, require_dir, standardize
from kdtaxonomy.registry import register
from kdtaxonomy.specs.datasets import FSDDSpec
from kdtaxonomy.yamlio import atomic_writer

CACHE_FORMAT = 1
"""Version of the cache file layout (part of the cache key)."""

NAME = re.compile(r"^(?P<digit>[0-9])_(?P<speaker>[A-Za-z0-9-]+)_(?P<index>[0-9]+)\.wav$")
"""``{digit}_{speaker}_{index}.wav``."""
TEST_INDICES = range(5)
"""Recording indices of the official test split (the dataset's README: 0-4 test, 5-49 train)."""
CREDIT = (
    "Free Spoken Digit Dataset (FSDD), Jakobovski/free-spoken-digit-dataset, "
    "licensed CC BY-SA 4.0 (Creative Commons Attribution-ShareAlike 4.0 International)"
)
_PATH = "\x00path\x00"
"""Stands for the file's path in the skip reasons kept in the cache (the folder may move)."""


class Recording:
    """One FSDD file and what its name says."""

    __slots__ = ("digit", "index", "path", "speaker")

    def __init__(self, path: Path, digit: int, speaker: str, index: int) -> None:
        self.path, self.digit, self.speaker, self.index = path, digit, speaker, index

    @property
    def split(self) -> str:
        """``test`` for index 0-4, else ``train``."""
        return "test" if self.index in TEST_INDICES else "train"

    def order(self) -> tuple[int, str, int]:
        """Index first, so that the first recordings of a split cover every speaker and digit."""
        return self.index, self.speaker, self.digit


def parse_name(path: Path) -> Recording:
    """The digit, speaker and index of ``{digit}_{speaker}_{index}.wav``, else a ``ValueError`` naming it."""
    match = NAME.match(path.name)
    if match is None:
        raise ValueError(
            f"FSDD file {path} does not match the layout {{digit}}_{{speaker}}_{{index}}.wav "
            "(e.g. 7_jackson_32.wav)"
        )
    return Recording(path, int(match["digit"]), match["speaker"], int(match["index"]))


def list_recordings(root: Path, *, skip_bad: bool) -> tuple[list[Recording], list[dict[str, str]]]:
    """The ``.wav`` files of ``root`` (hidden ones and other suffixes are ignored), parsed; a misnamed one
    stops the listing unless ``skip_bad``, when it is returned among the skipped files."""
    found: list[Recording] = []
    skipped: list[dict[str, str]] = []
    for path in sorted(root.iterdir(), key=lambda p: p.name):
        if not path.is_file() or path.name.startswith(".") or path.suffix.lower() != ".wav":
            continue
        try:
            found.append(parse_name(path))
        except ValueError as exc:
            if not skip_bad:
                raise
            skipped.append({"file": str(path), "reason": str(exc)})
    if not found:
        raise ValueError(f"FSDD root {root} holds no recordings {{digit}}_{{speaker}}_{{index}}.wav")
    return found, skipped


def cache_key(recordings: list[Recording], params: LogMel, skip_bad: bool) -> str:
    """Hash of the selected files' names and bytes, the feature parameters and the libraries' versions."""
    digest = hashlib.sha256()
    fields = {"features": params.info(), "skip_bad_files": skip_bad, "format": CACHE_FORMAT}
    digest.update(json.dumps(fields, sort_keys=True).encode())
    for rec in recordings:
        digest.update(f"\n{rec.split}/{rec.path.name}:".encode())
        digest.update(hashlib.sha256(rec.path.read_bytes()).digest())
    return digest.hexdigest()[:24]


Cached = tuple[dict[str, Float32], dict[str, Any]]


def _read_cache(path: Path, params: LogMel) -> Cached | None:
    """Features and metadata from a cache file, or ``None`` when it is missing or unusable."""
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: np.array(npz[name]) for name in ("train", "test")}
            meta = json.loads(str(npz["meta"]))
    except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile, json.JSONDecodeError):
        return None
    shape = (params.n_mels, params.frames)
    ok = isinstance(meta, dict) and all(
        arrays[s].dtype == np.float32
        and arrays[s].ndim == 3
        and arrays[s].shape[1:] == shape
        and len(meta.get(s, [])) == len(arrays[s])
        and bool(np.isfinite(arrays[s]).all())
        for s in ("train", "test")
    )
    return (arrays, meta) if ok else None


def _write_cache(path: Path, arrays: dict[str, Float32], meta: dict[str, Any]) -> bool:
    try:
        with atomic_writer(path, "wb") as handle:
            payload: dict[str, Any] = {"meta": np.array(json.dumps(meta, sort_keys=True)), **arrays}
            np.savez(handle, **payload)
    except OSError:  # a read-only cache folder only costs the next run the features
        return False
    return True


def _compute(splits: dict[str, list[Recording]], params: LogMel, skip_bad: bool, root: Path) -> Cached:
    rates: set[int] = set()
    arrays: dict[str, Float32] = {}
    meta: dict[str, Any] = {"skipped": []}
    for name, recs in splits.items():
        rows, kept, bad = files_features(
            [(r.path, name) for r in recs], params, skip_bad=skip_bad, source_rates=rates
        )
        if not kept and recs:
            raise ValueError(f"FSDD root {root}: none of the {len(recs)} {name} recordings can be read")
        arrays[name] = rows
        meta[name] = [p.name for p, _ in kept]
        meta["skipped"] += [
            {"name": Path(s["file"]).name, "reason": s["reason"].replace(s["file"], _PATH)} for s in bad
        ]
    meta["source_sample_rates"] = sorted(rates)
    return arrays, meta


def labels(names: list[str], target: str, speakers: list[str]) -> torch.Tensor:
    """The digit or the speaker's position in ``speakers`` of every ``{digit}_{speaker}_{index}.wav`` name."""
    recs = [parse_name(Path(n)) for n in names]
    index = {s: i for i, s in enumerate(speakers)}
    values = [r.digit if target == "digit" else index[r.speaker] for r in recs]
    return torch.tensor(values, dtype=torch.int64)


def tensor(array: npt.NDArray[np.float32]) -> torch.Tensor:
    """A contiguous torch view of ``array``."""
    return torch.from_numpy(np.ascontiguousarray(array))


@dataclass(frozen=True)
class Loaded:
    """What :func:`load` found and computed: the listing, the kept files' features and the provenance."""

    root: Path
    recordings: list[Recording]
    """Every recording of the folder whose name parses (before limits and unreadable files)."""
    speakers: list[str]
    available: dict[str, int]
    params: LogMel
    arrays: dict[str, Float32]
    names: dict[str, list[str]]
    """File names of the rows of ``arrays["train"]`` and ``arrays["test"]``."""
    source_sample_rates: list[int]
    cache: dict[str, Any]
    skipped: list[dict[str, str]]


def load(spec: FSDDSpec) -> Loaded:
    """The official split, limited, featurised (from the cache when it holds these files and parameters)."""
    root = require_dir(Path(spec.root).expanduser().resolve(), "FSDD root")
    recordings, misnamed = list_recordings(root, skip_bad=spec.skip_bad_files)
    splits = {
        name: sorted((r for r in recordings if r.split == name), key=Recording.order)
        for name in ("train", "test")
    }
    available = {name: len(recs) for name, recs in splits.items()}
    splits["train"] = splits["train"][: limit(available["train"], spec.train_limit)]
    splits["test"] = splits["test"][: limit(available["test"], spec.test_limit)]
    params = LogMel.from_spec(spec)
    key = cache_key(splits["train"] + splits["test"], params, spec.skip_bad_files)
    path = cache_dir() / f"fsdd-{key}.npz"
    cached = _read_cache(path, params)
    cache: dict[str, Any] = {"key": key, "file": str(path), "hit": cached is not None}
    cache["key_basis"] = "sha256 of every selected file's name and bytes + feature parameters + versions"
    if cached is None:
        cached = _compute(splits, params, spec.skip_bad_files, root)
        cache["written"] = _write_cache(path, *cached)
    arrays, meta = cached
    if not len(arrays["train"]) or not len(arrays["test"]):
        raise ValueError(
            f"FSDD root {root}: no {'training' if not len(arrays['train']) else 'test'} recordings"
        )
    skipped = misnamed + [
        {"file": str(root / s["name"]), "reason": s["reason"].replace(_PATH, str(root / s["name"]))}
        for s in meta["skipped"]
    ]
    return Loaded(
        root=root,
        recordings=recordings,
        speakers=sorted({r.speaker for r in recordings}),
        available=available,
        params=params,
        arrays=arrays,
        names={"train": list(meta["train"]), "test": list(meta["test"])},
        source_sample_rates=list(meta["source_sample_rates"]),
        cache=cache,
        skipped=skipped,
    )


LABEL_SETS = ("digit", "speaker")
"""The label sets of every recording; each is also carried as the integer view ``<set>_label``, so that a
model can be pre-trained on another label set than the task's (an auxiliary tagger on the speakers)."""


def label_views(names: list[str], speakers: list[str]) -> dict[str, torch.Tensor]:
    """``digit_label`` and ``speaker_label``: both label sets of the rows ``names``, as int64 views."""
    return {f"{s}_label": labels(names, s, speakers) for s in LABEL_SETS}


def label_sets_info(speakers: list[str]) -> dict[str, dict[str, Any]]:
    """``info["label_sets"]``: per label set, its view and class names."""
    return {s: {"view": f"{s}_label", "class_names": class_names(s, speakers)} for s in LABEL_SETS}


def class_names(target: str, speakers: list[str]) -> list[str]:
    """Label names: the digits ``0``..``9``, or the speakers in sorted order."""
    return [str(d) for d in range(10)] if target == "digit" else speakers


def recordings_info(got: Loaded, spec: FSDDSpec) -> dict[str, Any]:
    """What a bundle built from :func:`load` reports of its recordings (shared by ``fsdd`` and
    ``av-digits``)."""
    return {
        "root": str(got.root),
        "target": spec.target,
        "class_names": class_names(spec.target, got.speakers),
        "speakers": got.speakers,
        "available": got.available,
        "train_limit": spec.train_limit,
        "test_limit": spec.test_limit,
        "num_train": len(got.names["train"]),
        "num_test": len(got.names["test"]),
        "source_sample_rates": got.source_sample_rates,
        "features": got.params.info(),
        "cache": got.cache,
        "skipped_files": got.skipped,
        "label_sets": label_sets_info(got.speakers),
    }


@register(spec=FSDDSpec)
def build(spec: FSDDSpec, *, seed: int = 0) -> DataBundle:
    """FSDD (Jakobovski): x ``(N, n_mels, frames)`` float32 log-mel spectra, y the digit or the speaker.

    The official split (index 0-4 test: 300 recordings; 5-49 train: 2,700); ``train_limit``/``test_limit``
    keep the first recordings in (index, speaker, digit) order. Features are cached on disk; the run
    ``seed`` does not change the data.
    """
    got = load(spec)
    x_train, x_test = tensor(got.arrays["train"]), tensor(got.arrays["test"])
    stats: dict[str, list[float]] | None = None
    if spec.standardize:
        x_train, x_test, stats = standardize(x_train, x_test)
    speakers = got.speakers
    classes = class_names(spec.target, speakers)
    info: dict[str, Any] = {
        "source": "Free Spoken Digit Dataset (FSDD) recordings",
        "split": "official: recordings with index 0-4 are the test set, 5-49 the training set",
        **recordings_info(got, spec),
        "standardization": stats,
        "credit": CREDIT,
    }
    return DataBundle(
        name="fsdd",
        train=ArrayData.from_tensors(
            x_train,
            labels(got.names["train"], spec.target, speakers),
            label_views(got.names["train"], speakers),
        ),
        test=ArrayData.from_tensors(
            x_test, labels(got.names["test"], spec.target, speakers), label_views(got.names["test"], speakers)
        ),
        num_classes=len(classes),
        info=info,
    )
