"""Forward+backward time and peak memory of the token-level divergences (kdtaxonomy.losses.sequence),
chunked (the library's default chunks with activation checkpointing) vs. a naive unchunked reference
written here, at V = 32000, T = 512, B = 1 (float32, CPU, every position counts).

Peak memory: the largest net tensor memory (allocations minus frees) held at any moment during one
forward+backward, relative to its start (the inputs already exist; the student gradient, one full
``(B*T, V)`` tensor, is included), reconstructed from torch.profiler's memory events sorted by time.
Time: median wall time of ``--repeat`` forward+backward calls.

Usage: python benchmarks/sequence_losses.py [--vocab 32000] [--seq 512] [--batch 1] [--repeat 3]
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import Tensor
from torch.profiler import ProfilerActivity, profile

from kdtaxonomy.losses import sequence as S

Loss = Callable[[Tensor, Tensor], Tensor]
BETA, ALPHA = 0.5, 0.1


def _probs(s: Tensor, t: Tensor) -> tuple[Tensor, Tensor, Tensor, Tensor]:
    ls, lt = F.log_softmax(s, dim=-1), F.log_softmax(t.detach(), dim=-1)
    return ls, lt, ls.exp(), lt.exp()


def naive_forward_kl(s: Tensor, t: Tensor) -> Tensor:
    ls, lt, _, pt = _probs(s, t)
    return (pt * (lt - ls)).sum(-1).mean()


def naive_reverse_kl(s: Tensor, t: Tensor) -> Tensor:
    ls, lt, ps, _ = _probs(s, t)
    return (ps * (ls - lt)).sum(-1).mean()


def naive_jsd(s: Tensor, t: Tensor) -> Tensor:
    ls, lt, ps, pt = _probs(s, t)
    lm = torch.log(BETA * pt + (1 - BETA) * ps)
    return (BETA * (pt * (lt - lm)).sum(-1) + (1 - BETA) * (ps * (ls - lm)).sum(-1)).mean()


def naive_skew_kl(s: Tensor, t: Tensor) -> Tensor:
    _, lt, ps, pt = _probs(s, t)
    return (pt * (lt - torch.log(ALPHA * pt + (1 - ALPHA) * ps))).sum(-1).mean()


def naive_skew_reverse_kl(s: Tensor, t: Tensor) -> Tensor:
    ls, _, ps, pt = _probs(s, t)
    return (ps * (ls - torch.log(ALPHA * ps + (1 - ALPHA) * pt))).sum(-1).mean()


def naive_total_variation(s: Tensor, t: Tensor) -> Tensor:
    _, _, ps, pt = _probs(s, t)
    return 0.5 * (pt - ps).abs().sum(-1).mean()


CASES: dict[str, tuple[Loss, Loss]] = {
    "forward_kl": (S.forward_kl, naive_forward_kl),
    "reverse_kl": (S.reverse_kl, naive_reverse_kl),
    f"generalized_jsd(b={BETA})": (lambda s, t: S.generalized_jsd(s, t, beta=BETA), naive_jsd),
    f"skew_kl(a={ALPHA})": (lambda s, t: S.skew_kl(s, t, alpha=ALPHA), naive_skew_kl),
    f"skew_reverse_kl(a={ALPHA})": (lambda s, t: S.skew_reverse_kl(s, t, alpha=ALPHA), naive_skew_reverse_kl),
    "total_variation": (S.total_variation, naive_total_variation),
}


def step(loss: Loss, s: Tensor, t: Tensor) -> Tensor:
    s.grad = None
    value = loss(s, t)
    value.backward()  # type: ignore[no-untyped-call]
    return value.detach()


def peak_bytes(loss: Loss, s: Tensor, t: Tensor) -> int:
    """Peak of the running sum of tensor allocations minus frees during one forward+backward (from
    torch.profiler's memory events sorted by time); ``s.grad`` is cleared before, so it counts."""
    s.grad = None
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        loss(s, t).backward()  # type: ignore[no-untyped-call]
    current = peak = 0
    for _, delta in sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()):
        current += delta
        peak = max(peak, current)
    return peak


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    b, t_len, v = args.batch, args.seq, args.vocab
    g = torch.Generator().manual_seed(0)
    s = (3 * torch.randn(b, t_len, v, generator=g)).requires_grad_(True)
    t = 3 * torch.randn(b, t_len, v, generator=g)
    full = b * t_len * v * 4 / 2**20
    rows = max(1, S.CHUNK_ELEMENTS // v)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}, B={b} T={t_len} V={v} float32")
    print(
        f"one full (B*T, V) float32 tensor = {full:.1f} MiB; chunks of {rows} rows ({math.ceil(b * t_len / rows)} chunks)"
    )
    print(f"{'divergence':26} {'value':>9} {'|diff|':>8} {'grad |diff|':>11}   {'chunked ms':>10} {'MiB':>6} {'x full':>6}"
          f"   {'naive ms':>8} {'MiB':>6} {'x full':>6}")  # fmt: skip
    for name, (chunked, naive) in CASES.items():
        value = step(chunked, s, t)
        grad = s.grad.clone() if s.grad is not None else None
        ref = step(naive, s, t)
        grad_diff = (
            (grad - s.grad).abs().max().item() if grad is not None and s.grad is not None else math.nan
        )
        cols = []
        for loss in (chunked, naive):
            times = []
            for _ in range(args.repeat):
                start = time.perf_counter()
                step(loss, s, t)
                times.append(time.perf_counter() - start)
            mib = peak_bytes(loss, s, t) / 2**20
            cols.append(f"{1000 * statistics.median(times):10.0f} {mib:6.0f} {mib / full:6.1f}")
        diff = abs(value.item() - ref.item())
        print(f"{name:26} {value.item():9.5f} {diff:8.1e} {grad_diff:11.1e}   {cols[0]}   {cols[1]}")


if __name__ == "__main__":
    main()
