"""Specs of the datasets (kind ``dataset``), importable without torch.

Builders (``kdtaxonomy.datasets``) have the signature ``build(spec, *, seed=0) -> DataBundle`` and fill the
bundle's ``info`` with provenance (generator arguments or source folder, sizes, class names).
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator
from pydantic_core import PydanticCustomError

from kdtaxonomy.specs import Spec


class DatasetSpec(Spec):
    """Base of the dataset specs."""

    kind: ClassVar[str] = "dataset"


class MNIST1DSpec(DatasetSpec):
    """MNIST-1D, generated offline with the ``mnist1d`` package (the embedded default benchmark).

    With the defaults: 4000 training and 1000 test signals of length 40 in 10 classes (the package's default
    arguments, seed 42). The generated arrays are cached on disk, keyed on the generator arguments.
    """

    key: ClassVar[str] = "mnist1d"

    num_samples: int = Field(default=5000, ge=10)
    """Signals generated in all (train and test together; the package default is 5000)."""
    train_split: float = Field(default=0.8, gt=0.0, lt=1.0)
    """Fraction of the generated signals that goes to the training split (package default 0.8)."""
    seed: int | None = None
    """Seed of the generator; ``None`` keeps the package's default seed (42). The run seed passed to the
    builder does not change the data."""
    train_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``train_limit`` training signals (for fast tests)."""
    test_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``test_limit`` test signals (for fast tests)."""


class MNIST1DTwoViewSpec(MNIST1DSpec):
    """MNIST-1D with a second, spectral view of every signal (for multi-view / multi-modal teachers).

    ``views["spectral"]`` holds the magnitude of the real FFT of each raw signal (21 bins for length 40),
    linearly resampled to the signal length and standardised with the training split's mean and standard
    deviation, shape ``(N, 1, 40)``. The default view ``x`` is the raw signal, as in ``mnist1d``.
    """

    key: ClassVar[str] = "mnist1d-two-view"


class ImageFolderSpec(DatasetSpec):
    """Images in class folders: ``root/<split>/<class>/*.png|jpg|jpeg|ppm|pgm`` (splits ``train``, ``test``),
    or flat ``root/<class>/*`` split per class (``test_fraction``, ``split_seed``).

    PNG and JPEG need Pillow; without it only the netpbm formats (.ppm, .pgm) are read. Images are resized
    to ``image_size`` and scaled to [0, 1], then standardised per channel with the training split's
    statistics.
    """

    key: ClassVar[str] = "image-folder"

    root: str
    """Folder holding the split folders."""
    image_size: int | tuple[int, int] | None = 32
    """Size every image is resized to (one side for square images, or ``(height, width)``); ``None`` keeps the
    native size, which must then be the same for all images."""
    channels: Literal[1, 3] | None = None
    """Channels of ``x``: 1 (grey) or 3 (RGB); ``None`` gives 1 when every image is grey, else 3."""
    interpolation: Literal["nearest", "bilinear"] = "bilinear"
    """Resampling used for resizing."""
    standardize: bool = True
    """Standardise every channel with the mean and standard deviation of the training split."""
    train_split: str = "train"
    """Name of the training split folder."""
    test_split: str = "test"
    """Name of the test split folder."""
    test_fraction: float = Field(0.2, gt=0, lt=1)
    """Flat layout (``root/<class>/*``, no split folders): fraction of each class held out as the test split."""
    split_seed: int = 0
    """Flat layout: seed of that stratified split (fixed, so every run seed sees the same test rows)."""
    skip_bad_files: bool = False
    """Leave out files that cannot be read (reported in the run's dataset info and printed) instead of
    stopping at the first one with its name and the reason."""


class CifarSpec(DatasetSpec):
    """CIFAR-10 / CIFAR-100 through ``torchvision.datasets`` (needs torchvision and the downloaded data)."""

    key: ClassVar[str] = "cifar"

    root: str = "data/cifar"
    """Folder holding torchvision's CIFAR files (e.g. ``cifar-10-batches-py``)."""
    variant: Literal["cifar10", "cifar100"] = "cifar10"
    """Which CIFAR: 10 or 100 classes."""
    download: bool = False
    """Let torchvision download the data if it is missing."""
    standardize: bool = True
    """Standardise every channel with the mean and standard deviation of the training split."""
    train_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``train_limit`` training images."""
    test_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``test_limit`` test images."""


class LogMelSpec(DatasetSpec):
    """Base of the sound datasets: clips read with soundfile, resampled with ``scipy.signal.resample_poly``,
    cut or zero-padded to ``seconds`` and turned into log-mel spectrograms by librosa, ``x`` shaped
    ``(N, n_mels, frames)`` with ``frames = 1 + samples // hop_length`` (centred STFT frames), so 1-D models
    see the mel bands as channels. Needs the ``audio`` extra (soundfile, librosa)."""

    root: str
    """Folder of the sound files."""
    sample_rate: int = Field(default=16000, ge=100)
    """Sample rate (Hz) the clips are resampled to."""
    seconds: float = Field(default=4.0, gt=0.0)
    """Clip length in seconds (longer clips are cut, shorter ones zero-padded at the end)."""
    n_mels: int = Field(default=32, ge=1)
    """Mel bands (the channels of ``x``)."""
    n_fft: int = Field(default=512, ge=8)
    """STFT window length in samples."""
    hop_length: int | None = Field(default=None, ge=1)
    """STFT hop in samples; ``None`` is ``n_fft // 2``."""
    window: Literal["hann", "hamming", "blackman"] = "hann"
    """STFT window."""
    fmin: float = Field(default=0.0, ge=0.0)
    """Lowest frequency (Hz) of the mel filters."""
    fmax: float | None = Field(default=None, gt=0.0)
    """Highest frequency (Hz) of the mel filters; ``None`` is ``sample_rate / 2``."""
    top_db: float | None = Field(default=80.0, gt=0.0)
    """Clip the log power at this many dB below each clip's peak; ``None`` keeps the -100 dB floor only."""
    standardize: bool = True
    """Standardise every mel band with the mean and standard deviation of the training split."""
    skip_bad_files: bool = False
    """Leave out files that cannot be read (reported in the run's dataset info and printed) instead of
    stopping at the first one with its name and the reason."""

    @model_validator(mode="after")
    def _check_features(self) -> LogMelSpec:
        if self.n_mels > self.n_fft // 2 + 1:
            raise ValueError(
                f"n_mels ({self.n_mels}) exceeds the {self.n_fft // 2 + 1} STFT bins of n_fft={self.n_fft}"
            )
        if round(self.seconds * self.sample_rate) < self.n_fft:
            raise ValueError(
                f"a clip of {self.seconds} s at {self.sample_rate} Hz is shorter than n_fft={self.n_fft}"
            )
        top = self.sample_rate / 2 if self.fmax is None else self.fmax
        if top > self.sample_rate / 2 or self.fmin >= top:
            raise ValueError(
                f"the mel filters need 0 <= fmin < fmax <= sample_rate / 2 = {self.sample_rate / 2:g} Hz "
                f"(fmin={self.fmin:g}, fmax={top:g})"
            )
        return self


_RETIRED_WAV_PARAMS = {
    "n_bands": "n_bands was renamed n_mels: wav-folder features are now log-mel spectrograms (librosa)",
    "band_scale": "band_scale is gone: wav-folder features are now log-mel spectrograms (librosa mel "
    "filters, always mel-spaced); drop it",
}


class WavFolderSpec(LogMelSpec):
    """Sound clips in class folders (UrbanSound8K-style): ``root/<class>/*.wav``, as log-mel spectrograms.

    Either ``root/<class>/*`` split by a seeded stratified draw of ``test_fraction`` of every class, or
    ``root/train/<class>/*`` and ``root/test/<class>/*``. Clips are WAV, FLAC, OGG or AIFF of any bit depth
    (read with soundfile; several channels are mixed to mono), resampled to ``sample_rate`` by polyphase
    filtering and cut or zero-padded to ``seconds``; ``x`` is the log-mel spectrogram ``(N, n_mels, frames)``.
    """

    key: ClassVar[str] = "wav-folder"

    root: str
    """Folder holding the class folders (or ``train`` and ``test`` folders of class folders)."""
    test_fraction: float = Field(default=0.2, gt=0.0, lt=1.0)
    """Fraction of every class held out for testing (without ``train``/``test`` folders)."""
    split_seed: int | None = None
    """Seed of the stratified split; ``None`` uses the run seed passed to the builder."""

    @model_validator(mode="before")
    @classmethod
    def _retired(cls, data: Any) -> Any:
        if isinstance(data, dict):
            for name, message in _RETIRED_WAV_PARAMS.items():
                if name in data:
                    raise PydanticCustomError("retired_parameter", message)
        return data


class FSDDSpec(LogMelSpec):
    """The Free Spoken Digit Dataset (FSDD, Jakobovski/free-spoken-digit-dataset, CC BY-SA 4.0): 3,000
    recordings ``{digit}_{speaker}_{index}.wav`` of the digits 0-9 by 6 speakers, 8 kHz mono.

    The official split: recordings with index 0-4 are the test set (300), 5-49 the training set (2,700).
    Labels are the digit or the speaker (``target``). Features as for every sound dataset (log-mel,
    ``(N, n_mels, frames)``), cached on disk keyed by the files' contents and the feature parameters.
    """

    key: ClassVar[str] = "fsdd"

    root: str
    """Folder of the recordings (the ``recordings/`` folder of a clone of the FSDD repository)."""
    target: Literal["digit", "speaker"] = "digit"
    """What the labels are: the spoken digit (10 classes) or the speaker (names in sorted order)."""
    sample_rate: int = Field(default=8000, ge=100)
    """Sample rate (Hz) the clips are resampled to (the recordings are 8 kHz)."""
    seconds: float = Field(default=1.0, gt=0.0)
    """Clip length in seconds (the recordings last 0.14-2.28 s; longer ones are cut, shorter ones padded)."""
    n_mels: int = Field(default=40, ge=1)
    """Mel bands (the channels of ``x``)."""
    n_fft: int = Field(default=256, ge=8)
    """STFT window length in samples (256 is 32 ms at 8 kHz)."""
    train_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``train_limit`` training recordings, in (index, speaker, digit) order, so that
    a small limit still holds every digit and speaker (for fast tests)."""
    test_limit: int | None = Field(default=None, ge=1)
    """Keep only the first ``test_limit`` test recordings, in the same order."""


class AVDigitsSpec(FSDDSpec):
    """Audio-visual digits: every FSDD recording paired with a handwritten image of the same digit from
    scikit-learn's ``load_digits`` (1,797 images of 8x8 pixels, shipped inside scikit-learn).

    After AV-MNIST (MNIST images paired by label with FSDD recordings). ``x`` is the recording's log-mel
    spectrogram (as in ``fsdd``); ``views["image"]`` is the image ``(N, 8, frames)``: its 8 rows are the
    channels and its 8 columns are held along the time axis for ``frames / 8`` steps each, so that a 1-D
    model reads it like a spectrogram and ``x+image`` concatenates along channels. The images are split per
    digit (``image_test_fraction``, ``pairing_seed``): test recordings get only held-out images. Needs the
    ``audio`` extra (librosa pulls in scikit-learn).
    """

    key: ClassVar[str] = "av-digits"

    image_test_fraction: float = Field(default=0.25, gt=0.0, lt=1.0)
    """Fraction of each digit's images held out for the test recordings (0.25: about 45 per digit, more
    than the 30 test recordings of a digit, so no test image is used twice)."""
    pairing_seed: int = 0
    """Seed of the image split and of the pairing (fixed, so every run seed sees the same pairs)."""
    image_class: Literal["digit", "target"] = "digit"
    """Which class a recording's image shows: the spoken digit, or the recording's label (with
    ``target=speaker``, the recordings of the k-th speaker get images of the digit k: an identity cue in
    another modality, as a face is for a voice; at most 10 speakers)."""
