"""Peer comparison: kdtaxonomy's ``generalized_jsd`` (kdtaxonomy.losses.sequence) vs TRL's
``GKDTrainer.generalized_jsd_loss`` (trl 1.16.0; the trainer lives in ``trl.experimental.gkd`` there).

Agreement: identical seeded tensors (drawn in float64, then cast, so float32 and float64 see the same values up
to rounding) go to both functions for beta in {0, 0.1, 0.5, 0.9, 1}, temperature 1 and 2, every position counted
or a random mask (TRL: ``labels`` with -100 at the ignored positions), float32 and float64. The value and the
student gradient are compared. A second table checks TRL's reductions against the value they should give from
ours (``labels=None`` with ``batchmean`` divides by B, not by B*T, and so on). kdtaxonomy runs with a small
``chunk_size`` there, so its chunked and checkpointed path is the one compared.

Time and memory: V = 32000, B = 1, float32, CPU, ``--threads`` (2) threads, forward + backward. Time: median
of alternating repeats at T = 512 (and, fewer repeats, T = 2048), reported as the ratio ours / TRL's measured
in this run. Peak memory: each implementation runs once in a fresh subprocess (``--worker``), at T = 512
and T = 2048: "RSS" is the peak resident set of the call (VmHWM; getrusage's ru_maxrss is unusable in a
child, it starts at the parent's peak), with glibc's default allocator settings and with a fixed 1 MiB mmap
threshold; the tensor peak of a second call is the running sum of torch.profiler's ``[memory]`` events (and,
for comparison, the function-event method of benchmarks/sequence_losses.py, which can miss a peak).

TRL needs its own environment (it must not touch the project venv). Reproduce with::

    bash benchmarks/peer_trl_env.sh                  # idempotent; creates /tmp/trl-venv
    /tmp/trl-venv/bin/python benchmarks/peer_trl.py  # prints a markdown section; exit 1 if agreement fails

``peer_trl_env.sh`` runs ``python3 -m venv /tmp/trl-venv``, ``pip install -c C torch==2.13.0`` and
``pip install -c C trl==1.16.0`` where C pins torch==2.13.0 (trl pulls transformers, accelerate, datasets, ...).
kdtaxonomy is imported from this checkout (its root is put on ``sys.path``).

Options: ``--threads 2``, ``--repeat 7``, ``--batch 1``, ``--vocab 32000``, ``--seq 512``,
``--mem-seqs 512 2048``, ``--time-seqs 512 2048``, ``--long-repeat 3`` (repeats at T other than ``--seq``),
``--no-timing`` (agreement tables only).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import statistics
import subprocess
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

os.environ.setdefault("TRL_EXPERIMENTAL_SILENCE", "1")  # GKDTrainer is under trl.experimental in trl 1.x

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import transformers
import trl
from torch import Tensor
from trl.experimental.gkd.gkd_trainer import GKDTrainer

from kdtaxonomy.losses.sequence import CHUNK_ELEMENTS, generalized_jsd, mask_from_labels

trl_jsd = GKDTrainer.generalized_jsd_loss  # the staticmethod GKDTrainer.compute_loss calls

BETAS = (0.0, 0.1, 0.5, 0.9, 1.0)
TEMPS = (1.0, 2.0)
SHAPE = (2, 24, 503)  # B, T, V of the agreement tensors
AGREE_CHUNK = 16  # kdtaxonomy's chunk_size in the agreement tables: 3 checkpointed chunks of the 48 positions
SCALE = 3.0  # logit scale
TOL = {torch.float32: 2e-6, torch.float64: 1e-12}  # self-check: relative difference of the value
GRAD_TOL = {torch.float32: 2e-5, torch.float64: 1e-12}  # of the gradient: max abs diff / max abs gradient


# ------------------------------------------------------------------------------------------- inputs


@dataclass
class Inputs:
    s: Tensor  # student logits (leaf, float32/64)
    t: Tensor  # teacher logits
    labels: Tensor | None  # (B, T) int64, -100 where ignored; None: every position counts
    mask: Tensor | None  # ours: mask_from_labels(labels)


def draw(shape: tuple[int, int, int], dtype: torch.dtype, seed: int, with_labels: bool) -> Inputs:
    g = torch.Generator().manual_seed(seed)
    s = (SCALE * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)
    t = (SCALE * torch.randn(*shape, generator=g, dtype=torch.float64)).to(dtype)
    labels = torch.randint(0, shape[-1], shape[:-1], generator=g)
    drop = torch.rand(*shape[:-1], generator=g) < 0.3
    drop.view(-1)[0] = False  # at least one position counts
    labels[drop] = -100
    if not with_labels:
        return Inputs(s, t, None, None)
    return Inputs(s, t, labels, mask_from_labels(labels))


def all_valid(x: Inputs) -> Tensor:
    """Labels with no -100 (TRL's way of saying 'every position counts' under batchmean)."""
    return torch.zeros(x.s.shape[:-1], dtype=torch.long)


def value_and_grad(fn: Callable[..., Tensor], s: Tensor, *args: Any, **kwargs: Any) -> tuple[float, Tensor]:
    """``fn(s, *args, **kwargs)`` on a fresh leaf copy of ``s``: the value and the gradient w.r.t. ``s``."""
    leaf = s.detach().clone().requires_grad_(True)
    out = fn(leaf, *args, **kwargs)
    out.backward()  # type: ignore[no-untyped-call]
    assert leaf.grad is not None
    return float(out.detach()), leaf.grad


# ------------------------------------------------------------------------------------------- agreement


def rel(a: float, b: float) -> float:
    return abs(a - b) / abs(b) if b != 0 else abs(a - b)


def agreement(seed: int) -> tuple[list[str], list[str]]:
    """The main agreement table (markdown rows) and the self-check failures."""
    rows, failures = [], []
    case = 0
    for dtype in (torch.float32, torch.float64):
        for with_labels in (False, True):
            x = draw(SHAPE, dtype, seed, with_labels)
            for temp in TEMPS:
                for beta in BETAS:
                    case += 1
                    ours, g_ours = value_and_grad(
                        generalized_jsd, x.s, x.t, x.mask, beta=beta, temperature=temp, chunk_size=AGREE_CHUNK
                    )
                    labels = x.labels if x.labels is not None else all_valid(x)
                    theirs, g_theirs = value_and_grad(
                        trl_jsd, x.s, x.t, labels=labels, beta=beta, temperature=temp
                    )
                    d = abs(ours - theirs)
                    r = rel(ours, theirs)
                    gd = float((g_ours - g_theirs).abs().max())
                    gr = gd / float(g_theirs.abs().max())
                    ok = r <= TOL[dtype] and gr <= GRAD_TOL[dtype] and math.isfinite(ours)
                    if not ok:
                        failures.append(
                            f"case {case}: {str(dtype)[6:]} beta={beta} T={temp} labels={with_labels}: "
                            f"rel {r:.2e}, grad rel {gr:.2e}"
                        )
                    rows.append(
                        f"| {case} | {str(dtype)[6:]} | {beta:g} | {temp:g} | {'-100 labels' if with_labels else 'all'} "
                        f"| {ours:.10g} | {theirs:.10g} | {d:.1e} | {r:.1e} | {gd:.1e} | {gr:.1e} "
                        f"| {'ok' if ok else 'FAIL'} |"
                    )
    return rows, failures


@dataclass
class Mapping:
    name: str
    labels: str  # "none" | "all" | "masked" | "empty"
    kwargs: dict[str, Any]
    predict: Callable[[float, int, int, int, int], float]  # (ours, B, T, V, N) -> TRL's value
    formula: str


MAPPINGS = [
    Mapping("labels=None, batchmean", "none", {}, lambda o, b, t, v, n: o * t, "T * ours (sum / B)"),
    Mapping(
        "labels=None, num_items_in_batch=B*T",
        "none",
        {"num_items_in_batch": "BT"},
        lambda o, b, t, v, n: o,
        "ours",
    ),
    Mapping("labels all valid, batchmean", "all", {}, lambda o, b, t, v, n: o, "ours"),
    Mapping("labels=None, mean", "none", {"reduction": "mean"}, lambda o, b, t, v, n: o / v, "ours / V"),
    Mapping("labels=None, sum", "none", {"reduction": "sum"}, lambda o, b, t, v, n: o * b * t, "B*T * ours"),
    Mapping("labels -100, batchmean", "masked", {}, lambda o, b, t, v, n: o, "ours(mask)"),
    Mapping(
        "labels -100, num_items_in_batch=N",
        "masked",
        {"num_items_in_batch": "N"},
        lambda o, b, t, v, n: o,
        "ours(mask)",
    ),
    Mapping(
        "labels -100, mean", "masked", {"reduction": "mean"}, lambda o, b, t, v, n: o / v, "ours(mask) / V"
    ),
    Mapping(
        "labels -100, sum", "masked", {"reduction": "sum"}, lambda o, b, t, v, n: o * n, "N * ours(mask)"
    ),
    Mapping("labels all -100, batchmean", "empty", {}, lambda o, b, t, v, n: 0.0, "0 (ours: 0)"),
]


def reductions(seed: int, beta: float = 0.5) -> tuple[list[str], list[str]]:
    """TRL's reductions vs the value predicted from ours (float64, temperature 1)."""
    rows, failures = [], []
    b, t, v = SHAPE
    masked = draw(SHAPE, torch.float64, seed, True)
    assert masked.labels is not None and masked.mask is not None
    for m in MAPPINGS:
        x = masked
        labels: Tensor | None = None
        if m.labels == "all":
            labels = all_valid(x)
        elif m.labels == "masked":
            labels = x.labels
        elif m.labels == "empty":
            labels = torch.full((b, t), -100)
        mask = None if labels is None or m.labels == "all" else mask_from_labels(labels)
        n = b * t if mask is None else int(mask.sum())
        with torch.no_grad():
            ours = float(generalized_jsd(x.s, x.t, mask, beta=beta, chunk_size=AGREE_CHUNK))
            kwargs = dict(m.kwargs)
            if "num_items_in_batch" in kwargs:
                kwargs["num_items_in_batch"] = b * t if kwargs["num_items_in_batch"] == "BT" else n
            theirs = float(trl_jsd(x.s, x.t, labels=labels, beta=beta, **kwargs))
        pred = m.predict(ours, b, t, v, n)
        resid = abs(theirs - pred) / abs(theirs) if theirs != 0 else abs(theirs - pred)
        ok = resid <= TOL[torch.float64]
        if not ok:
            failures.append(f"reduction '{m.name}': resid {resid:.2e}")
        rows.append(
            f"| {m.name} | {ours:.12g} | {theirs:.12g} | {m.formula} | {pred:.12g} | {resid:.1e} "
            f"| {'ok' if ok else 'FAIL'} |"
        )
    return rows, failures


# ------------------------------------------------------------------------------------------- time and memory


def big_inputs(b: int, t_len: int, v: int, seed: int = 0) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    s = torch.randn(b, t_len, v, generator=g).mul_(SCALE).requires_grad_(True)
    t = torch.randn(b, t_len, v, generator=g).mul_(SCALE)
    return s, t


def loss_fn(impl: str, beta: float, b: int, t_len: int) -> Callable[[Tensor, Tensor], Tensor]:
    """Both sides compute the mean over all B*T positions. TRL: ``labels=None`` and
    ``num_items_in_batch=B*T`` (its cheapest path to that value: no boolean-mask gather)."""
    if impl == "ours":
        return lambda s, t: generalized_jsd(s, t, None, beta=beta)
    return lambda s, t: trl_jsd(s, t, labels=None, beta=beta, num_items_in_batch=b * t_len)


def vm_kib(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def worker(impl: str, beta: float, b: int, t_len: int, v: int, threads: int) -> None:
    """One forward+backward in this fresh process (peak RSS), then a profiled call (peak tensor memory).

    The RSS peak is VmHWM (the high-water mark of this process's own address space), not getrusage's
    ru_maxrss: on Linux a child's ru_maxrss starts at its parent's peak (the parent's RSS is carried over at
    fork/exec), so after the parent's timing runs every child reported the same ~1.3 GiB. Both are printed.
    The tensor peak is the running sum of the profiler's ``[memory]`` events (one per allocation and free, in
    time order); ``prof_fn`` is the method of benchmarks/sequence_losses.py (function events' self memory,
    sorted by start time), which books a free inside a child op at its parent's start and so can miss a peak.
    """
    torch.set_num_threads(threads)
    s, t = big_inputs(b, t_len, v)
    fn = loss_fn(impl, beta, b, t_len)
    rss0, hwm0 = vm_kib("VmRSS"), vm_kib("VmHWM")
    maxrss0 = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    fn(s, t).backward()  # type: ignore[no-untyped-call]
    hwm1, maxrss1 = vm_kib("VmHWM"), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    s.grad = None
    from torch.profiler import ProfilerActivity, profile

    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        fn(s, t).backward()  # type: ignore[no-untyped-call]
    current = peak = 0
    mem = [e for e in prof.profiler.kineto_results.events() if e.name() == "[memory]"]  # type: ignore[union-attr]
    for e in sorted(mem, key=lambda e: e.start_ns()):
        current += e.nbytes()
        peak = max(peak, current)
    current = peak_fn = 0
    for _, delta in sorted((e.time_range.start, e.self_cpu_memory_usage) for e in prof.events()):
        current += delta
        peak_fn = max(peak_fn, current)
    result = {
        "rss0": rss0,
        "hwm0": hwm0,
        "hwm1": hwm1,
        "maxrss0": maxrss0,
        "maxrss1": maxrss1,
        "prof": peak,
        "prof_fn": peak_fn,
    }
    print(json.dumps(result))


# MALLOC_MMAP_THRESHOLD_ for the second RSS column (glibc; set in the worker's environment only)
MMAP_THRESHOLD = 1 << 20


def measure_memory(
    impl: str, beta: float, b: int, t_len: int, v: int, threads: int, mmap_threshold: int | None = None
) -> dict[str, Any]:
    cmd = [
        sys.executable,
        str(Path(__file__).resolve()),
        "--worker",
        impl,
        str(beta),
        str(b),
        str(t_len),
        str(v),
    ]
    cmd += ["--threads", str(threads)]
    env = dict(os.environ)
    if mmap_threshold is not None:
        env["MALLOC_MMAP_THRESHOLD_"] = str(mmap_threshold)
    out = subprocess.run(cmd, capture_output=True, text=True, check=False, env=env)
    if out.returncode != 0:
        return {"error": (out.stderr.strip().splitlines() or ["?"])[-1][:80]}
    result: dict[str, Any] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def timing(betas: tuple[float, ...], b: int, t_len: int, v: int, repeat: int) -> list[str]:
    rows = []
    s, t = big_inputs(b, t_len, v)
    for beta in betas:
        fns = {impl: loss_fn(impl, beta, b, t_len) for impl in ("ours", "trl")}
        vals: dict[str, float] = {}
        grads: dict[str, Tensor] = {}
        samples: dict[str, list[float]] = {impl: [] for impl in fns}
        for impl, fn in fns.items():  # warm-up; keeps value and gradient for the diff columns
            s.grad = None
            out = fn(s, t)
            out.backward()  # type: ignore[no-untyped-call]
            assert s.grad is not None
            vals[impl], grads[impl] = float(out.detach()), s.grad.clone()
        for _ in range(repeat):
            for impl, fn in fns.items():
                s.grad = None
                t0 = time.perf_counter()
                fn(s, t).backward()  # type: ignore[no-untyped-call]
                samples[impl].append(time.perf_counter() - t0)
        med = {impl: statistics.median(x) * 1e3 for impl, x in samples.items()}
        mins = {impl: min(x) * 1e3 for impl, x in samples.items()}
        gd = float((grads["ours"] - grads["trl"]).abs().max())
        rows.append(
            f"| {beta:g} | {t_len} | {repeat} | {med['ours']:.0f} | {med['trl']:.0f} "
            f"| **{med['ours'] / med['trl']:.2f}** | {mins['ours'] / mins['trl']:.2f} "
            f"| {rel(vals['ours'], vals['trl']):.1e} | {gd:.1e} |"
        )
        s.grad = None
        del grads
    return rows


def memory_rows(
    betas: tuple[float, ...], b: int, seqs: list[int], v: int, threads: int
) -> tuple[list[str], list[str]]:
    """Rows of the RSS table and of the tensor-peak table."""
    rss_rows, tensor_rows = [], []
    for beta in betas:
        for t_len in seqs:
            full = b * t_len * v * 4 / 2**20

            def mib(kib: int, full: float = full) -> str:
                return f"{kib / 1024:.0f} ({kib / 1024 / full:.1f}x)"

            rss: dict[tuple[str, int | None], str] = {}
            peak: dict[str, float] = {}
            peak_fn: dict[str, float] = {}
            default_rss: dict[str, float] = {}
            for impl in ("ours", "trl"):
                for threshold in (None, MMAP_THRESHOLD):
                    r = measure_memory(impl, beta, b, t_len, v, threads, threshold)
                    if "error" in r:
                        rss[impl, threshold] = f"error: {r['error']}"
                        continue
                    flag = "" if r["hwm1"] > r["hwm0"] else " (≤)"
                    rss[impl, threshold] = mib(r["hwm1"] - r["rss0"]) + flag
                    if threshold is None:
                        default_rss[impl] = (r["hwm1"] - r["rss0"]) / 1024
                        peak[impl], peak_fn[impl] = r["prof"] / 2**20, r["prof_fn"] / 2**20
            ratio = default_rss["ours"] / default_rss["trl"] if len(default_rss) == 2 else math.nan
            cells = [rss.get((impl, th), "-") for impl in ("ours", "trl") for th in (None, MMAP_THRESHOLD)]
            rss_rows.append(
                f"| {beta:g} | {t_len} | {full:.1f} | " + " | ".join(cells) + f" | **{ratio:.2f}** |"
            )
            tcells = []
            for impl in ("ours", "trl"):
                if impl in peak:
                    p = peak[impl]
                    tcells += [f"{p:.0f} ({p / full:.1f}x)", f"{p - full:.0f}", f"{peak_fn[impl]:.0f}"]
                else:
                    tcells += ["-", "-", "-"]
            tensor_rows.append(f"| {beta:g} | {t_len} | {full:.1f} | " + " | ".join(tcells) + " |")
    return rss_rows, tensor_rows


# ------------------------------------------------------------------------------------------- report


def load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except OSError:
        return "n/a"


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--batch", type=int, default=1)
    parser.add_argument("--vocab", type=int, default=32000)
    parser.add_argument("--seq", type=int, default=512)
    parser.add_argument("--mem-seqs", type=int, nargs="+", default=[512, 2048])
    parser.add_argument("--time-seqs", type=int, nargs="+", default=[512, 2048])
    parser.add_argument(
        "--long-repeat", type=int, default=3, help="repeats at the --time-seqs other than --seq"
    )
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--no-timing", action="store_true")
    parser.add_argument("--worker", nargs=5, metavar=("IMPL", "BETA", "B", "T", "V"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        impl, beta, b, t_len, v = args.worker
        worker(impl, float(beta), int(b), int(t_len), int(v), args.threads)
        return 0
    torch.set_num_threads(args.threads)
    b, t_len, v = args.batch, args.seq, args.vocab
    venv = Path(sys.executable).parent.parent
    print("## Peer comparison: TRL (GKD `generalized_jsd_loss`; `benchmarks/peer_trl.py`)")
    print()
    print("```")
    print("bash benchmarks/peer_trl_env.sh          # idempotent; separate venv, default /tmp/trl-venv")
    print(" ".join([f"{venv}/bin/python", "benchmarks/peer_trl.py", *sys.argv[1:]]))
    print("```")
    print()
    print(
        f"torch {torch.__version__}, trl {trl.__version__}, transformers {transformers.__version__}, "
        f"python {sys.version.split()[0]}, threads {torch.get_num_threads()}. TRL side: "
        f"`{GKDTrainer.__module__}.GKDTrainer.generalized_jsd_loss` (the whole trainer module imported; "
        "in trl 1.x GKD lives in `trl.experimental.gkd`, there is no `trl.trainer.gkd_trainer`)."
    )
    print()
    print("### Conventions (read from both sources)")
    print()
    print(
        "- TRL: `F.kl_div(input, target, log_target=True)` is `exp(target) * (target - input)`, i.e. "
        "KL(target || input). `beta == 0`: `kl_div(log p_s, log p_t)` = KL(p_t || p_s) = our `beta=0` "
        "(`forward_kl`); `beta == 1`: `kl_div(log p_t, log p_s)` = KL(p_s || p_t) = our `beta=1` "
        "(`reverse_kl`). Otherwise `log m = logsumexp([log p_s + log1p(-beta), log p_t + log beta])`, i.e. "
        "m = beta p_t + (1 - beta) p_s (ours: `logaddexp(log p_t + log beta, log p_s + log(1 - beta))`), and "
        "`beta * kl_div(log m, log p_t) + (1 - beta) * kl_div(log m, log p_s)` = "
        "beta KL(p_t || m) + (1 - beta) KL(p_s || m): TRL's `kl_teacher` is our `beta * _kl(log_pt, log_m)` "
        "term, its `kl_student` our `(1 - beta) * _kl(log_ps, log_m)` term. Same beta, same endpoint switch."
    )
    print(
        "- Temperature: both divide both logits by T before `log_softmax`; neither multiplies by T^2 "
        "(ours only with `scale_by_t2=True`). Note: GKDTrainer.compute_loss calls it without `temperature` "
        "(GKDConfig.temperature is the sampling temperature), so in training TRL's divergence is always at T = 1."
    )
    print(
        "- Reduction: TRL computes the elementwise (B, T, V) terms, keeps `jsd[labels != -100]` and with "
        "`reduction='batchmean'` divides the sum by the number of kept positions (`mask.sum().clamp_min(1)`) = "
        "our mean over masked-in positions (our mask = `mask_from_labels(labels)`). Without `labels`, "
        "`batchmean` divides by `jsd.size(0)` = B, giving T x ours (a per-sequence sum); to get our "
        "`mask=None` value pass all-valid labels or `num_items_in_batch=B*T`. `mean` divides by the element "
        "count, V x too small. Table 2 checks each of these."
    )
    print(
        "- Teacher: TRL does not detach it (GKDTrainer computes it under `no_grad`); ours detaches. Float64 "
        "works in both; TRL makes `beta` a tensor of the logits' dtype (float32 rounding of 0.1 / 0.9)."
    )
    print()
    print(
        f"### 1. Agreement (B, T, V = {SHAPE}, logits {SCALE:g} * N(0, 1), seed {args.seed}; ours with "
        f"`chunk_size={AGREE_CHUNK}`, chunked and checkpointed; TRL `reduction='batchmean'` with all-valid "
        "labels when every position counts; 'grad' = the student logits' gradient)"
    )
    print()
    print(
        "| # | dtype | beta | T | positions | kdtaxonomy | TRL | abs diff | rel diff | grad max abs diff "
        "| grad diff / max grad | check |"
    )
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows, failures = agreement(args.seed)
    for row in rows:
        print(row)
    print()
    print(
        f"Self-check tolerance: value relative difference float32 {TOL[torch.float32]:g}, float64 "
        f"{TOL[torch.float64]:g}; gradient max abs diff / max abs gradient float32 {GRAD_TOL[torch.float32]:g}, "
        f"float64 {GRAD_TOL[torch.float64]:g}. Value differences in float32 are summation-order rounding (TRL sums "
        "all B*T*V terms at once, ours per row and per chunk); the float32 gradient differs a little more "
        "(seeds 0-3: up to 3e-6 of the largest entry) because the two autograd graphs differ (TRL: logsumexp "
        "of a stack and two kl_div; ours: logaddexp, recomputed per chunk), with cancellation in "
        "log p_s - log m. In float64 both agree to a few ulps."
    )
    print()
    print("### 2. TRL's reductions vs the value predicted from ours (float64, beta 0.5, T = 1)")
    print()
    print("| TRL call | kdtaxonomy | TRL | TRL should be | predicted | resid | check |")
    print("|---|---|---|---|---|---|---|")
    rrows, rfail = reductions(args.seed)
    for row in rrows:
        print(row)
    failures += rfail
    print()
    if not args.no_timing:
        chunk = max(1, CHUNK_ELEMENTS // v)
        print(
            f"### 3. Time (forward + backward, float32, B = {b}, V = {v}, every position counts; median of "
            "alternating repeats after one warm-up call each)"
        )
        print()
        print(
            f"kdtaxonomy: default chunks of {chunk} rows, checkpointed "
            f"({math.ceil(b * t_len / chunk)} chunk(s) at T = {t_len}); TRL: one pass over full (B, T, V) "
            "tensors, `labels=None, num_items_in_batch=B*T` "
            f"(its cheapest call giving our value). **Noisy machine** ({os.cpu_count()} cores, other benchmarks "
            "running in the background): compare the ratios within this run only, not absolute times; the "
            "median and the min ratio disagree where the load changed during the repeats. "
            f"Load average before: {load()}."
        )
        print()
        print(
            "| beta | T | repeats | kdtaxonomy ms | TRL ms | ours / TRL (median) | ours / TRL (min) "
            "| value rel diff | grad max abs diff |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for seq in [t_len, *[x for x in args.time_seqs if x != t_len]]:
            for row in timing((0.0, 0.5, 1.0), b, seq, v, args.repeat if seq == t_len else args.long_repeat):
                print(row)
        print()
        print(f"Load average after: {load()}.")
        print()
        print(
            f"### 4. Peak memory (one forward + backward per fresh subprocess, B = {b}, V = {v}, float32, "
            f"{args.threads} threads)"
        )
        print()
        print(
            "MiB, and in brackets as a multiple of 'full' = one (B, T, V) float32 tensor. The inputs exist before "
            "the call; the student gradient (one full tensor) is included. **RSS** = peak resident set during "
            "the call (VmHWM after it) minus VmRSS just before it, in a fresh subprocess per implementation, "
            "beta, T and allocator setting ('(≤)' would mark a call that did not raise the process's earlier "
            "peak). Not getrusage's ru_maxrss: on Linux a child's ru_maxrss starts at its parent's peak "
            "(carried over at fork/exec), so every worker read the parent's peak (~1.3 GiB in one run). "
            "**RSS mmap** = the same "
            f"with glibc's MALLOC_MMAP_THRESHOLD_={MMAP_THRESHOLD} (fixed, so freed buffers go back to the OS; "
            "by default glibc raises the threshold to 32 MiB after the first free of an mmapped block, so our "
            "~16 MiB chunk intermediates are then recycled inside the heap, which fragments and keeps them "
            "resident). TRL's buffers are all full-size (> 32 MiB): always mmapped, same RSS either way."
        )
        print()
        print("| beta | T | full | ours RSS | ours RSS mmap | TRL RSS | TRL RSS mmap | ours / TRL RSS |")
        print("|---|---|---|---|---|---|---|---|")
        rss_rows, tensor_rows = memory_rows((0.0, 0.5, 1.0), b, args.mem_seqs, v, args.threads)
        for row in rss_rows:
            print(row)
        print()
        print(
            "Tensor memory (a second, profiled call in the same subprocesses): **peak** = the running sum of "
            "torch.profiler's `[memory]` events (every allocation and free, in time order); **- grad** = peak "
            "minus the student gradient (one full tensor): what the loss itself holds at its peak; **fn-events** "
            "= the method of benchmarks/sequence_losses.py (function events' self memory sorted by start time), "
            "which books a free made inside a child op at its parent's start time and so can miss a peak: for "
            "kdtaxonomy it misses the full-size zero-filled gradient that each chunk's `SliceBackward0` "
            "allocates (the chunk is `s[start:stop]` inside the checkpoint) before autograd adds it into "
            "`s.grad`, so at the peak two full tensors are alive, and each of the n_chunks chunks memsets and "
            "adds one full tensor in the backward pass (work ~ n_chunks x B*T*V, quadratic in T at fixed V)."
        )
        print()
        print(
            "| beta | T | full | ours peak | ours - grad | ours fn-events | TRL peak | TRL - grad "
            "| TRL fn-events |"
        )
        print("|---|---|---|---|---|---|---|---|---|")
        for row in tensor_rows:
            print(row)
        print()
    print("### Self-check")
    print()
    if failures:
        print("FAILED:")
        for f in failures:
            print(f"- {f}")
        return 1
    print(f"passed: {len(rows)} agreement cases and {len(rrows)} reduction mappings within tolerance.")
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except Exception:
        traceback.print_exc()
        sys.exit(1)
