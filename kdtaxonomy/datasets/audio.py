"""Sound I/O and log-mel features through well-kept libraries, shared by ``wav-folder`` and ``fsdd``.

- Reading: ``soundfile`` (libsndfile: WAV, FLAC, OGG/Vorbis, AIFF; any bit depth; channels mixed to mono).
- Resampling: ``scipy.signal.resample_poly``, a polyphase FIR filter (Kaiser window) that removes what lies
  above the new Nyquist frequency before decimating, with ``up/down = rate_out/rate_in`` reduced by their gcd.
- Features: ``librosa.feature.melspectrogram`` (power STFT through Slaney-normalised triangular mel filters)
  and ``librosa.power_to_db``, on a waveform cropped or zero-padded to a fixed length.

soundfile and librosa are the ``audio`` extra; they are imported inside the functions that need them, and a
missing one raises :class:`~kdtaxonomy.datasets.base.MissingDependencyError` naming the package and the extra.
"""

from __future__ import annotations

import importlib
import math
import re
from dataclasses import asdict, dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from kdtaxonomy.datasets.base import MissingDependencyError, read_error_reason, read_files
from kdtaxonomy.specs.datasets import LogMelSpec

Float64 = npt.NDArray[np.float64]
Float32 = npt.NDArray[np.float32]

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".aif", ".aiff")
"""File suffixes read as sound (case-insensitive)."""

_DATA_SIZE = re.compile(r"^data\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)
"""libsndfile's log line for a WAV data chunk larger than what the file holds."""
_STREAMING_SIZES = {0, 0xFFFFFFFF, 0x7FFFFFFF}
"""Data sizes that streaming writers put in a header they never fix up: not a sign of truncation."""


def _optional(module: str, package: str) -> Any:
    try:
        return importlib.import_module(module)
    except (ImportError, OSError) as exc:  # soundfile raises OSError when libsndfile itself is missing
        raise MissingDependencyError(
            f"sound datasets need the package {package}, which is not installed "
            f"(pip install 'kdtaxonomy[audio]', the audio extra, or pip install {package})"
        ) from exc


def soundfile_module() -> Any:
    """The ``soundfile`` module, or :class:`MissingDependencyError`."""
    return _optional("soundfile", "soundfile")


def librosa_module() -> Any:
    """The ``librosa`` module, or :class:`MissingDependencyError`."""
    return _optional("librosa", "librosa")


def library_versions() -> dict[str, str]:
    """Versions of the libraries the features depend on (for provenance and cache keys; imports nothing)."""
    versions: dict[str, str] = {}
    for name in ("soundfile", "librosa", "scipy", "numpy"):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = "not installed"
    return versions


def read_audio(path: Path) -> tuple[Float64, int]:
    """Samples of a sound file as float64 in [-1, 1], channels averaged to mono, and its sample rate.

    Any format libsndfile reads. A file it refuses, one without samples, or a WAV whose header declares more
    data than the file holds (truncated) raises ``ValueError("cannot read sound file PATH: REASON")``.
    """
    sf = soundfile_module()
    try:
        with sf.SoundFile(str(path)) as handle:
            frames = handle.read(dtype="float64", always_2d=True)
            rate, log = int(handle.samplerate), str(handle.extra_info)
    except (RuntimeError, OSError, TypeError, EOFError) as exc:  # soundfile.LibsndfileError is a RuntimeError
        reason = str(getattr(exc, "error_string", "") or "").strip().rstrip(".") or read_error_reason(exc)
        if not path.is_file():  # libsndfile says only "System error"
            reason = "no such file" if not path.exists() else "not a file"
        raise ValueError(f"cannot read sound file {path}: {reason}") from exc
    declared = _DATA_SIZE.search(log)
    if declared and int(declared[1]) > int(declared[2]) and int(declared[1]) not in _STREAMING_SIZES:
        raise ValueError(
            f"cannot read sound file {path}: the file ends before its data does (truncated?): its header "
            f"declares {declared[1]} data bytes, the file holds {declared[2]}"
        )
    if frames.shape[0] == 0:
        raise ValueError(f"cannot read sound file {path}: it holds no samples")
    mono: Float64 = frames.mean(axis=1)
    return mono, rate


def resample(signal: Float64, rate_in: int, rate_out: int) -> Float64:
    """``signal`` from ``rate_in`` to ``rate_out`` Hz by polyphase filtering (``scipy.signal.resample_poly``,
    ``up/down = rate_out/rate_in`` in lowest terms), anti-aliased by its low-pass FIR filter."""
    if rate_in == rate_out:
        return signal
    from scipy.signal import resample_poly

    g = math.gcd(rate_in, rate_out)
    out: Float64 = np.asarray(resample_poly(signal, rate_out // g, rate_in // g), dtype=np.float64)
    return out


def fix_length(signal: Float64, length: int) -> Float64:
    """Cut ``signal`` to ``length`` samples or zero-pad it at the end."""
    if len(signal) >= length:
        return signal[:length]
    return np.pad(signal, (0, length - len(signal)))


@dataclass(frozen=True)
class LogMel:
    """Parameters of the log-mel features: clips at ``sample_rate`` cut or padded to ``seconds``; a centred
    power STFT (``n_fft``, ``hop_length``, ``window``), ``n_mels`` mel filters over ``[fmin, fmax]``, and
    ``10 log10(max(amin, S))`` clipped at ``top_db`` below the clip's peak (``None``: no clipping)."""

    sample_rate: int
    seconds: float
    n_mels: int
    n_fft: int
    hop_length: int
    window: str = "hann"
    fmin: float = 0.0
    fmax: float | None = None
    top_db: float | None = 80.0
    amin: float = 1e-10

    @classmethod
    def from_spec(cls, spec: LogMelSpec) -> LogMel:
        """The features of a dataset spec with these fields (``hop_length`` ``None`` is ``n_fft // 2``)."""
        return cls(
            sample_rate=spec.sample_rate,
            seconds=spec.seconds,
            n_mels=spec.n_mels,
            n_fft=spec.n_fft,
            hop_length=spec.hop_length or spec.n_fft // 2,
            window=spec.window,
            fmin=spec.fmin,
            fmax=spec.fmax,
            top_db=spec.top_db,
        )

    @property
    def length(self) -> int:
        """Samples of a clip."""
        return round(self.seconds * self.sample_rate)

    @property
    def frames(self) -> int:
        """STFT frames of a clip (centred frames: ``1 + length // hop_length``)."""
        return 1 + self.length // self.hop_length

    def info(self) -> dict[str, Any]:
        """The parameters, the feature shape and the library versions (for a bundle's ``info``)."""
        return {
            "kind": "log-mel spectrogram: librosa.feature.melspectrogram (power 2, centred, Slaney mel) "
            "+ librosa.power_to_db (ref 1.0)",
            "resampler": "scipy.signal.resample_poly",
            "reader": "soundfile (libsndfile)",
            **asdict(self),
            "shape": [self.n_mels, self.frames],
            "libraries": library_versions(),
        }


def log_mel(signals: npt.NDArray[Any], params: LogMel) -> Float32:
    """Log-mel spectrograms of clips at ``params.sample_rate``, ``(..., samples)`` -> ``(..., n_mels, frames)``
    in dB (``frames = 1 + samples // hop``); ``top_db`` clips each clip at that many dB below its own peak."""
    librosa = librosa_module()
    power = librosa.feature.melspectrogram(
        y=np.ascontiguousarray(signals, dtype=np.float32),
        sr=params.sample_rate,
        n_fft=params.n_fft,
        hop_length=params.hop_length,
        window=params.window,
        center=True,
        pad_mode="constant",
        power=2.0,
        n_mels=params.n_mels,
        fmin=params.fmin,
        fmax=params.fmax,
    )
    db = np.asarray(librosa.power_to_db(power, ref=1.0, amin=params.amin, top_db=None), dtype=np.float32)
    if params.top_db is not None:  # per clip: power_to_db's own top_db would clip at the batch's peak
        db = np.maximum(db, db.max(axis=(-2, -1), keepdims=True) - np.float32(params.top_db))
    return db


def waveform(path: Path, params: LogMel, source_rates: set[int] | None = None) -> Float32:
    """``path`` read, resampled to ``params.sample_rate`` and cut or padded to ``params.length`` samples; the
    file's own sample rate is added to ``source_rates``."""
    signal, rate = read_audio(path)
    if source_rates is not None:
        source_rates.add(rate)
    return fix_length(resample(signal, rate, params.sample_rate), params.length).astype(np.float32)


def clip_features(path: Path, params: LogMel, source_rates: set[int] | None = None) -> Float32:
    """The log-mel spectrogram ``(n_mels, frames)`` of one file (:func:`waveform`, then :func:`log_mel`)."""
    return log_mel(waveform(path, params, source_rates), params)


def files_features(
    files: list[tuple[Path, str]],
    params: LogMel,
    *,
    skip_bad: bool,
    source_rates: set[int] | None = None,
    chunk: int = 256,
) -> tuple[Float32, list[tuple[Path, str]], list[dict[str, str]]]:
    """Log-mel spectrograms ``(N, n_mels, frames)`` of ``(path, label)`` files, computed ``chunk`` clips at
    a time (one librosa call per chunk; memory stays bounded), with :func:`~kdtaxonomy.datasets.base.read_files`
    semantics for unreadable files: returns the features, the files kept and the files skipped."""
    blocks: list[Float32] = [np.zeros((0, params.n_mels, params.frames), np.float32)]
    kept: list[tuple[Path, str]] = []
    skipped: list[dict[str, str]] = []
    for start in range(0, len(files), chunk):
        clips, ok, bad = read_files(
            files[start : start + chunk], lambda p: waveform(p, params, source_rates), skip_bad=skip_bad
        )
        kept += ok
        skipped += bad
        if clips:
            blocks.append(log_mel(np.stack(clips), params))
    return np.concatenate(blocks), kept, skipped
