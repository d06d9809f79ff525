"""Sound reading, resampling and log-mel features (kdtaxonomy.datasets.audio, used by ``wav-folder`` and
``fsdd``), against references computed here: files written by the standard library's ``wave`` or by
soundfile, a linear interpolator, the Slaney mel formula, librosa called directly."""

from __future__ import annotations

import math
import re
import sys
from pathlib import Path

import numpy as np
import pytest
import torch

from kdtaxonomy.datasets import MissingDependencyError, audio, build_dataset

from .test_datasets import RATE, WAV_PARAMS, make_wav_folder, write_wav

sf = pytest.importorskip("soundfile")


def test_reads_integer_pcm_written_by_the_wave_module(tmp_path: Path) -> None:
    values = np.array([0.0, 0.5, -0.5, 0.25, -1.0])
    for width, tol in ((1, 1 / 120), (2, 1e-4), (3, 1e-6)):
        write_wav(tmp_path / f"w{width}.wav", values, width=width)
        samples, rate = audio.read_audio(tmp_path / f"w{width}.wav")
        assert rate == RATE and samples.dtype == np.float64
        assert np.allclose(samples, values, atol=tol), width
    write_wav(tmp_path / "stereo.wav", np.stack([values, 0.5 * values], axis=1))
    assert np.allclose(audio.read_audio(tmp_path / "stereo.wav")[0], 0.75 * values, atol=1e-4)  # mean


def test_reads_flac_24_bit_and_float_files_written_by_soundfile(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    stereo = rng.uniform(-0.9, 0.9, size=(2000, 2))
    for name, subtype, tol in (
        ("a.flac", "PCM_24", 2**-22),
        ("b.wav", "PCM_24", 2**-22),
        ("c.wav", "FLOAT", 1e-7),
        ("d.aiff", "PCM_16", 2**-14),
    ):
        sf.write(tmp_path / name, stereo, 22050, subtype=subtype)
        samples, rate = audio.read_audio(tmp_path / name)
        assert rate == 22050 and samples.shape == (2000,), name
        assert np.abs(samples - stereo.mean(axis=1)).max() < tol, name
    assert sf.info(str(tmp_path / "b.wav")).subtype == "PCM_24"
    tone = 0.5 * np.sin(2 * math.pi * 440 * np.arange(RATE) / RATE)
    sf.write(tmp_path / "e.ogg", tone, RATE, format="OGG", subtype="VORBIS")  # lossy: compare spectra
    samples, _ = audio.read_audio(tmp_path / "e.ogg")
    peak = np.fft.rfftfreq(len(samples), 1 / RATE)[np.abs(np.fft.rfft(samples)).argmax()]
    assert abs(peak - 440) < 2


def test_unreadable_files_give_one_line_with_a_reason(tmp_path: Path) -> None:
    write_wav(tmp_path / "good.wav", 0.3 * np.sin(np.arange(4000) / 5.0))
    data = (tmp_path / "good.wav").read_bytes()
    write_wav(tmp_path / "silent.wav", np.zeros(0))
    cases = {
        "header.wav": (data[:30], r"No 'data' chunk marker"),
        "cut.wav": (data[:1000], r"ends before its data does \(truncated\?\).*8000 data bytes, .*956"),
        "nodata.wav": (data[:44], r"truncated\?.*holds 0"),
        "empty.wav": ((tmp_path / "silent.wav").read_bytes(), r"holds no samples"),
        "junk.wav": (b"RIFF\x00\x00garbage", r"Format not recognised"),
        "zero.wav": (b"", r"\S"),
    }
    for name, (content, reason) in cases.items():
        (tmp_path / name).write_bytes(content)
        with pytest.raises(ValueError) as err:
            audio.read_audio(tmp_path / name)
        line = str(err.value)
        assert "\n" not in line and line.startswith(f"cannot read sound file {tmp_path / name}: "), line
        assert not line.endswith(": ") and re.search(reason, line), line
    with pytest.raises(ValueError, match=r"cannot read sound file .*missing\.wav: no such file$"):
        audio.read_audio(tmp_path / "missing.wav")


def _level_db(signal: np.ndarray, rate: int, freq: float) -> float:
    """Amplitude (dB re a full-scale sine of amplitude 1) of ``signal`` near ``freq``: Hann-windowed |rfft|."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) / (window.sum() / 2)
    k = round(freq * len(signal) / rate)
    return float(20 * np.log10(spectrum[max(k - 3, 0) : k + 4].max() + 1e-20))


def test_resample_poly_removes_what_a_linear_interpolator_aliases() -> None:
    rate_in, rate_out, tone = 16000, 4000, 3500.0  # above the new Nyquist (2 kHz): aliases to 500 Hz
    t = np.arange(rate_in) / rate_in
    signal = np.sin(2 * math.pi * tone * t)
    alias = abs(rate_out - tone)
    poly = audio.resample(signal, rate_in, rate_out)
    linear = np.interp(np.arange(rate_out) * rate_in / rate_out, np.arange(len(signal)), signal)  # reference
    assert len(poly) == rate_out
    assert _level_db(linear, rate_out, alias) > -3.0  # the interpolator folds the tone down almost whole
    assert _level_db(poly, rate_out, alias) < -40.0
    kept = audio.resample(np.sin(2 * math.pi * 700 * t), rate_in, rate_out)  # in band: kept
    assert abs(_level_db(kept, rate_out, 700) - _level_db(np.sin(2 * math.pi * 700 * t), rate_in, 700)) < 0.5
    odd = audio.resample(np.sin(2 * math.pi * 5000 * np.arange(11025) / 11025), 11025, 8000)  # 320/441
    assert len(odd) == 8000 and _level_db(odd, 8000, 3000) < -40.0
    assert audio.resample(signal, 16000, 16000) is signal


def _slaney_mel(hz: np.ndarray) -> np.ndarray:
    hz = np.asarray(hz, dtype=np.float64)
    return np.where(
        hz < 1000, hz / (200 / 3), 15 + np.log(np.maximum(hz, 1e-9) / 1000) / (math.log(6.4) / 27)
    )


def _slaney_hz(mel: np.ndarray) -> np.ndarray:
    return np.where(mel < 15, mel * (200 / 3), 1000 * np.exp((mel - 15) * math.log(6.4) / 27))


def test_log_mel_of_a_tone_peaks_in_the_band_centred_on_it() -> None:
    params = audio.LogMel(sample_rate=RATE, seconds=1.0, n_mels=40, n_fft=1024, hop_length=256, top_db=None)
    centres = _slaney_hz(np.linspace(_slaney_mel(0.0), _slaney_mel(RATE / 2), 42))[1:-1]
    t = np.arange(params.length) / RATE
    for band in (4, 17, 33):
        features = audio.log_mel(0.5 * np.sin(2 * math.pi * centres[band] * t), params)
        assert features.shape == (40, 1 + params.length // 256) == (40, params.frames)
        assert features.dtype == np.float32
        profile = features[:, 2:-2].mean(axis=1)  # frames away from the edges
        assert int(profile.argmax()) == band
        assert profile[band] - np.delete(profile, [band - 1, band, band + 1]).max() > 20.0
    silent = audio.log_mel(np.zeros(params.length), params)
    assert np.allclose(silent, -100.0, atol=1e-3)  # 10 log10(amin = 1e-10): the floor


def test_fix_length_and_the_feature_chain(tmp_path: Path) -> None:
    assert audio.fix_length(np.arange(5.0), 3).tolist() == [0, 1, 2]
    assert audio.fix_length(np.arange(2.0), 4).tolist() == [0, 1, 0, 0]
    params = audio.LogMel(sample_rate=RATE, seconds=0.5, n_mels=16, n_fft=128, hop_length=64)
    signal = 0.4 * np.sin(2 * math.pi * 900 * np.arange(3000) / 11025)
    sf.write(tmp_path / "x.flac", signal, 11025, subtype="PCM_16")
    rates: set[int] = set()
    got = audio.clip_features(tmp_path / "x.flac", params, rates)
    resampled = audio.resample(sf.read(tmp_path / "x.flac")[0], 11025, RATE)
    expected = audio.log_mel(np.pad(resampled, (0, params.length - len(resampled))), params)
    assert rates == {11025} and np.array_equal(got, expected)
    info = params.info()
    assert info["shape"] == [16, 63] and info["resampler"] == "scipy.signal.resample_poly"
    assert info["libraries"]["librosa"] != "not installed"


def test_a_missing_library_names_the_package_and_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    for module in ("soundfile", "librosa"):
        monkeypatch.setitem(sys.modules, module, None)  # import raises ImportError
        with pytest.raises(MissingDependencyError) as err:
            audio.soundfile_module() if module == "soundfile" else audio.librosa_module()
        message = str(err.value)
        assert "\n" not in message and f"package {module}" in message and "kdtaxonomy[audio]" in message


def test_wav_folder_reads_flac_and_24_bit_files_and_matches_librosa(tmp_path: Path) -> None:
    import librosa

    root = make_wav_folder(tmp_path / "sounds", per_class=4)
    tone = 0.5 * np.sin(2 * math.pi * 1000 * np.arange(RATE // 4) / RATE)
    sf.write(root / "sine" / "deep.flac", tone, RATE, subtype="PCM_24")
    sf.write(root / "sine" / "deep24.wav", tone, RATE, subtype="PCM_24")
    params = {"root": str(root), "standardize": False, "test_fraction": 0.25, **WAV_PARAMS}
    bundle = build_dataset("wav-folder", params, seed=0)
    assert len(bundle.train) + len(bundle.test) == 10
    # independent reference for one clip at the target rate: librosa on the samples, padded to 0.5 s
    padded = np.pad(tone, (0, RATE // 2 - len(tone))).astype(np.float32)
    power = librosa.feature.melspectrogram(y=padded, sr=RATE, n_fft=128, hop_length=64, n_mels=16)
    expected = librosa.power_to_db(power, ref=1.0, top_db=80.0)
    x = torch.cat([bundle.train.x, bundle.test.x])
    matches = [i for i in range(len(x)) if np.allclose(x[i].numpy(), expected, atol=1e-3)]
    assert len(matches) == 2  # deep.flac and deep24.wav, read alike
    features = bundle.info["features"]
    assert features["n_mels"] == 16 and features["shape"] == [16, 63] and "librosa" in features["kind"]
