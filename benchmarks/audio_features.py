"""Sound features: time per clip of the library pipeline against the hand-written one it replaced, the
aliasing of each resampler, and the FSDD feature cache.

- new: soundfile read, ``scipy.signal.resample_poly``, librosa log-mel (:mod:`kdtaxonomy.datasets.audio`);
- old: the standard library's ``wave`` reader, linear interpolation (``np.interp``) and log band energies
  of a magnitude STFT (bins summed into mel-spaced bands), re-implemented here for comparison only.

Clips are FSDD recordings (8 kHz), featurised at 8 kHz (no resampling) and at 16 kHz (upsampling by 2);
the time per clip is the median over ``--repeat`` passes of the mean over ``--clips`` clips, for the new
pipeline both clip by clip and as the dataset builders run it (librosa called on chunks of 256 clips). Aliasing: a
full-scale tone above the new Nyquist frequency is resampled and the level at its alias frequency is given
in dB relative to the tone (Hann-windowed FFT of 1 s). Cache: a full ``fsdd`` build into an empty cache
folder, then again from the cache, and the cost of the cache key (hashing the bytes of the 3,000 files)
against a size+mtime+name key.

Usage: python benchmarks/audio_features.py [--root ../shared/data/fsdd/recordings] [--clips 200]
       [--repeat 5] [--no-cache]
"""

from __future__ import annotations

import argparse
import hashlib
import math
import os
import statistics
import tempfile
import time
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import numpy.typing as npt

from kdtaxonomy.datasets import audio

ROOT = Path(__file__).resolve().parents[1]
Array = npt.NDArray[np.float64]


# ---- the old pipeline (for comparison only) -----------------------------------------------------------


def old_read(path: Path) -> tuple[Array, int]:
    """16-bit PCM through the ``wave`` module, mixed to mono (the removed reader, narrowed to FSDD's format)."""
    with wave.open(str(path), "rb") as handle:
        channels, rate = handle.getnchannels(), handle.getframerate()
        raw = handle.readframes(handle.getnframes())
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float64) / 32768.0
    return samples.reshape(-1, channels).mean(axis=1), rate


def old_resample(signal: Array, rate_in: int, rate_out: int) -> Array:
    """Linear interpolation onto the new sample times."""
    if rate_in == rate_out:
        return signal
    n_out = max(1, round(len(signal) * rate_out / rate_in))
    return np.interp(np.arange(n_out) * (rate_in / rate_out), np.arange(len(signal)), signal)


def old_band_edges(n_bins: int, n_bands: int, rate: int) -> npt.NDArray[np.int64]:
    """Bin edges of ``n_bands`` bands equally spaced in mel (O'Shaughnessy), at least one bin each."""
    top = 2595.0 * math.log10(1.0 + rate / 2 / 700.0)
    hz = 700.0 * (10.0 ** (np.linspace(0.0, top, n_bands + 1) / 2595.0) - 1.0)
    edges = np.rint(hz / (rate / 2) * n_bins).astype(np.int64)
    edges[0], edges[-1] = 0, n_bins
    for b in range(1, n_bands + 1):
        edges[b] = max(edges[b], edges[b - 1] + 1)
    for b in range(n_bands - 1, 0, -1):
        edges[b] = min(edges[b], edges[b + 1] - 1)
    edges[-1] = n_bins
    return edges


def old_features(signal: Array, n_fft: int, hop: int, edges: npt.NDArray[np.int64]) -> Array:
    """``log(1e-6 + band sums of |STFT|)``, periodic Hann window, no centring."""
    window = 0.5 - 0.5 * np.cos(2.0 * math.pi * np.arange(n_fft) / n_fft)
    frames = np.lib.stride_tricks.sliding_window_view(signal, n_fft)[::hop]
    magnitude = np.abs(np.fft.rfft(frames * window, axis=-1))
    out: Array = np.log(1e-6 + np.add.reduceat(magnitude, edges[:-1], axis=1)).T
    return out


# ---- measurements ---------------------------------------------------------------------------------------


def per_clip_ms(fn: Callable[[list[Path]], object], clips: list[Path], repeat: int) -> float:
    """Median over ``repeat`` passes of ``fn(clips)``, in ms per clip."""
    fn(clips[:1])  # warm-up
    passes = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn(clips)
        passes.append((time.perf_counter() - start) / len(clips) * 1e3)
    return statistics.median(passes)


def pipelines(rate: int, n_fft: int, n_mels: int) -> dict[str, Callable[[list[Path]], object]]:
    params = audio.LogMel(sample_rate=rate, seconds=1.0, n_mels=n_mels, n_fft=n_fft, hop_length=n_fft // 2)
    edges = old_band_edges(n_fft // 2 + 1, n_mels, rate)

    def old(paths: list[Path]) -> object:
        out = []
        for path in paths:
            signal, sr = old_read(path)
            clip = audio.fix_length(old_resample(signal, sr, rate), params.length)
            out.append(old_features(clip, n_fft, n_fft // 2, edges))
        return out

    def new_each(paths: list[Path]) -> object:
        return [audio.clip_features(path, params) for path in paths]

    def new_chunks(paths: list[Path]) -> object:
        return audio.files_features([(p, "") for p in paths], params, skip_bad=False)

    return {
        "old: wave + np.interp + band energies": old,
        "new, clip by clip: audio.clip_features": new_each,
        "new, as the builders run it: files_features": new_chunks,
    }


def level_db(signal: Array, rate: int, freq: float) -> float:
    """Level near ``freq`` in dB relative to a sine of amplitude 1 (Hann-windowed FFT)."""
    window = np.hanning(len(signal))
    spectrum = np.abs(np.fft.rfft(signal * window)) / (window.sum() / 2)
    k = round(freq * len(signal) / rate)
    return float(20 * np.log10(spectrum[max(k - 3, 0) : k + 4].max() + 1e-20))


def aliasing() -> None:
    print("\naliasing of a full-scale tone above the new Nyquist frequency (level at the alias, dB re tone)")
    print(f"{'tone':>8} {'from':>7} {'to':>6} {'alias':>7} {'np.interp':>10} {'resample_poly':>14}")
    for tone, rate_in, rate_out in ((3500.0, 16000, 4000), (5000.0, 11025, 8000), (6000.0, 44100, 8000)):
        signal = np.sin(2 * math.pi * tone * np.arange(rate_in) / rate_in)
        alias = abs(rate_out * round(tone / rate_out) - tone)
        lin = level_db(old_resample(signal, rate_in, rate_out), rate_out, alias)
        poly = level_db(audio.resample(signal, rate_in, rate_out), rate_out, alias)
        print(f"{tone:>6.0f}Hz {rate_in:>7} {rate_out:>6} {alias:>5.0f}Hz {lin:>10.1f} {poly:>14.1f}")


def cache(root: Path) -> None:
    from kdtaxonomy.datasets import build_dataset

    files = sorted(root.glob("*.wav"))
    start = time.perf_counter()
    for path in files:
        hashlib.sha256(path.read_bytes()).digest()
    content = time.perf_counter() - start
    start = time.perf_counter()
    for path in files:
        st = path.stat()
        hashlib.sha256(f"{path.name}:{st.st_size}:{st.st_mtime_ns}".encode()).digest()
    stat = time.perf_counter() - start
    print(
        f"\nfsdd cache key over {len(files)} files: sha256 of contents {content * 1e3:.0f} ms, "
        f"size+mtime+name {stat * 1e3:.0f} ms"
    )
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["KDTAX_CACHE_DIR"] = tmp
        times = []
        for _ in range(2):
            start = time.perf_counter()
            bundle = build_dataset("fsdd", {"root": str(root)})
            times.append(time.perf_counter() - start)
        size = Path(bundle.info["cache"]["file"]).stat().st_size / 2**20
    print(
        f"fsdd full build ({len(bundle.train)} + {len(bundle.test)} clips, x {tuple(bundle.train.x.shape[1:])}): "
        f"features {times[0]:.2f} s, from the cache {times[1]:.2f} s ({size:.0f} MiB cache file)"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--root", type=Path, default=ROOT.parent / "shared/data/fsdd/recordings")
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--no-cache", action="store_true", help="skip the fsdd cache measurement")
    args = parser.parse_args()
    versions = ", ".join(f"{k} {v}" for k, v in audio.library_versions().items())
    print(f"{versions}; {os.cpu_count()} CPUs")
    start = time.perf_counter()
    audio.librosa_module().feature.melspectrogram(y=np.zeros(2048, np.float32), sr=8000)
    print(f"librosa import + first melspectrogram: {time.perf_counter() - start:.2f} s (numba cache warm)")
    files = sorted(args.root.glob("*.wav"))
    clips = files[:: max(1, len(files) // args.clips)][: args.clips]
    print(
        f"\n{len(clips)} FSDD clips from {args.root}, 1 s each; ms per clip, median of {args.repeat} passes"
    )
    for rate, n_fft, n_mels in ((8000, 256, 40), (16000, 512, 32)):
        print(f"  at {rate} Hz (n_fft {n_fft}, {n_mels} bands, hop {n_fft // 2}):")
        for name, fn in pipelines(rate, n_fft, n_mels).items():
            print(f"    {name:44} {per_clip_ms(fn, clips, args.repeat):7.3f} ms")
    aliasing()
    if not args.no_cache:
        cache(args.root)


if __name__ == "__main__":
    main()
