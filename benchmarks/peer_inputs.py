"""Shared pieces of ``peer_torchdistill.py``: constants, torchdistill's io_dict helpers, seeded draws,
the ``Case`` record and the input builders (one per loss family)."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor
from torchdistill.losses.mid_level import CRDLoss

Inputs = dict[str, Any]

TAU = 4.0  # KD temperature
NUM_CLASSES = 100
CRD_N, CRD_D, CRD_K, CRD_T = 16384, 128, 512, 0.07  # dataset size, feat dim, negatives, temperature
CRD_T_F32 = float(torch.tensor(CRD_T, dtype=torch.float32))  # what torchdistill's float32 buffer holds
DIST_BETA, DIST_GAMMA = 1.0, 2.0  # DIST weights of the inter- and intra-class terms (tau = TAU)
SRD_EXPONENT, SRD_EPS = 4.0, 1e-4  # SRD's power (ImageNet recipe) and its batch-norm epsilon
PAD_EPS = 1e-6  # PAD-L2's variance epsilon (both libraries' default)
AB_MARGIN = 1.0
SSKD_M, SSKD_D = 3, 128  # transformed copies per sample (torchdistill's layout fixes 3), head width
SSKD_SS_T, SSKD_TF_T, SSKD_SS_RATIO, SSKD_TF_RATIO = 0.5, 4.0, 0.75, 1.0
SSKD_SS_W, SSKD_TF_W = 10.0, 2.7
SSKD_HEAD_T = 1.0  # SSKDSpec.head_temperature's default (the authors' head stage: no temperature)
RKD_ANGLE_MAX_B_THEIRS = 256  # torchdistill's angle loss materialises (B, B, D) and B^3 tensors at once


def io(path: str, value: Any, key: str = "output") -> dict[str, dict[str, Any]]:
    """torchdistill's io_dict layout: ``{module_path: {'input'|'output': value}}``."""
    return {path: {key: value}}


def pair(path: str = "layer", weight: float = 1.0) -> dict[str, Any]:
    """One student/teacher pair of a torchdistill ``*_pairs`` config."""
    return {
        "student": {"io": "output", "path": path},
        "teacher": {"io": "output", "path": path},
        "weight": weight,
    }


class Draw:
    """Seeded float64 draws, cast to ``dtype`` (identical values for both libraries and both dtypes)."""

    def __init__(self, seed: int, dtype: torch.dtype) -> None:
        self.g = torch.Generator().manual_seed(seed)
        self.dtype = dtype

    def randn(self, *shape: int, scale: float = 1.0) -> Tensor:
        return (torch.randn(*shape, generator=self.g, dtype=torch.float64) * scale).to(self.dtype)

    def rand(self, *shape: int) -> Tensor:
        return torch.rand(*shape, generator=self.g, dtype=torch.float64).to(self.dtype)

    def randint(self, high: int, *shape: int) -> Tensor:
        return torch.randint(0, high, shape, generator=self.g)

    def randperm(self, n: int) -> Tensor:
        return torch.randperm(n, generator=self.g)


@dataclass
class Case:
    """One comparison: ``make(batch, dtype)`` -> inputs; ``ours``/``theirs`` -> scalar loss tensors."""

    name: str
    make: Callable[[int, torch.dtype], Inputs]
    ours: Callable[[Inputs], Tensor] | None
    theirs: Callable[[Inputs], Tensor]
    note: str
    predict: Callable[[Inputs, float], float] | None = None  # torchdistill's value per the stated cause
    grad_keys: tuple[str, ...] = ("s",)
    timed: bool = True
    max_b_theirs: int | None = None
    skip_note: str = ""
    time_note: str = ""  # what the two implementations do differently, for the timing table
    results: dict[str, Any] = field(default_factory=dict)


# ---------------------------------------------------------------------------------------------- inputs


def logits(b: int, dtype: torch.dtype) -> Inputs:
    d = Draw(1000 + b, dtype)
    return {
        "s": d.randn(b, NUM_CLASSES, scale=2.0),
        "t": d.randn(b, NUM_CLASSES, scale=3.0),
        "y": d.randint(NUM_CLASSES, b),
    }


def maps(b: int, dtype: torch.dtype, s_shape: tuple[int, ...], t_shape: tuple[int, ...]) -> Inputs:
    d = Draw(2000 + b, dtype)
    return {"s": d.randn(b, *s_shape), "t": d.randn(b, *t_shape)}


def at_maps(b: int, dtype: torch.dtype) -> Inputs:
    return maps(b, dtype, (32, 8, 8), (64, 8, 8))


def at_maps_mismatch(b: int, dtype: torch.dtype) -> Inputs:
    return maps(b, dtype, (32, 8, 8), (64, 16, 16))


def hint_maps(b: int, dtype: torch.dtype) -> Inputs:
    return maps(b, dtype, (64, 8, 8), (64, 8, 8))


def embeddings(b: int, dtype: torch.dtype) -> Inputs:
    d = Draw(3000 + b, dtype)
    return {"s": d.randn(b, 128), "t": d.randn(b, 256)}


def unit_embeddings(b: int, dtype: torch.dtype) -> Inputs:
    x = embeddings(b, dtype)
    return {"s": F.normalize(x["s"], dim=1), "t": F.normalize(x["t"], dim=1)}


def vid_inputs(b: int, dtype: torch.dtype) -> Inputs:
    d = Draw(4000 + b, dtype)
    return {"s": d.randn(b, 64, 8, 8), "t": d.randn(b, 64, 8, 8), "alpha": d.randn(64)}


def crd_inputs(b: int, dtype: torch.dtype, eps: float = 1e-7) -> Inputs:
    """Unit embeddings, unit memory banks, and a fixed ``(B, K+1)`` contrast index (column 0 = positive,
    negatives uniform over the other N-1 indices), plus a fresh torchdistill ``CRDLoss`` whose memory
    banks are overwritten with the same banks (``memory_v1`` = student bank, ``memory_v2`` = teacher bank).
    kdtaxonomy gets torchdistill's effective temperature (T=0.07 rounded to float32 by its params buffer).
    """
    temperature = CRD_T_F32
    d = Draw(5000 + b, dtype)
    s = F.normalize(d.randn(b, CRD_D), dim=1)
    t = F.normalize(d.randn(b, CRD_D), dim=1)
    mem_s = F.normalize(d.rand(CRD_N, CRD_D) * 2 - 1, dim=1)
    mem_t = F.normalize(d.rand(CRD_N, CRD_D) * 2 - 1, dim=1)
    pos = d.randperm(CRD_N)[:b]
    neg = d.randint(CRD_N - 1, b, CRD_K)
    neg = neg + (neg >= pos.unsqueeze(1)).long()
    contrast = torch.cat([pos.unsqueeze(1), neg], dim=1)
    td = CRDLoss(
        "s_norm", "s_empty", "t_norm", input_size=CRD_D, output_size=CRD_N,
        num_negative_samples=CRD_K, num_samples=CRD_N, temperature=CRD_T, momentum=0.5, eps=eps,
    )  # fmt: skip
    td.memory_v1 = mem_s.clone()
    td.memory_v2 = mem_t.clone()
    with torch.no_grad():  # Z = N * mean(exp(score / T)) on the first batch, as both libraries estimate it
        log_z = []
        for emb, mem in ((s, mem_t), (t, mem_s)):
            scores = torch.bmm(mem[contrast], emb.unsqueeze(2)).flatten() / temperature
            log_z.append(torch.logsumexp(scores, 0) - math.log(scores.numel()) + math.log(CRD_N))
    return {
        "s": s, "t": t, "mem_s": mem_s, "mem_t": mem_t, "pos": pos, "contrast": contrast, "td": td,
        "log_z_s": log_z[0], "log_z_t": log_z[1], "temperature": temperature, "eps": eps,
    }  # fmt: skip


def crd_inputs_eps0(b: int, dtype: torch.dtype) -> Inputs:
    return crd_inputs(b, dtype, eps=0.0)


def srd_inputs(b: int, dtype: torch.dtype) -> Inputs:
    """Projected student and teacher penultimate features (B, 256) plus both logits."""
    d = Draw(6000 + b, dtype)
    return {
        "s": d.randn(b, 256), "t": d.randn(b, 256, scale=2.0),
        "s_logits": d.randn(b, NUM_CLASSES, scale=2.0), "t_logits": d.randn(b, NUM_CLASSES, scale=3.0),
    }  # fmt: skip


def pad_inputs(b: int, dtype: torch.dtype) -> Inputs:
    d = Draw(7000 + b, dtype)
    return {"s": d.randn(b, 256), "t": d.randn(b, 256), "log_var": d.randn(b, 256, scale=0.5)}


def fsp_inputs(b: int, dtype: torch.dtype) -> Inputs:
    """Two maps per side (the input and the output of a stage), equal spatial size 8x8."""
    d = Draw(8000 + b, dtype)
    return {
        "s": d.randn(b, 16, 8, 8), "s2": d.randn(b, 32, 8, 8),
        "t": d.randn(b, 16, 8, 8), "t2": d.randn(b, 32, 8, 8),
    }  # fmt: skip


def ft_factors(b: int, dtype: torch.dtype) -> Inputs:
    return maps(b, dtype, (32, 8, 8), (32, 8, 8))


def ab_inputs(b: int, dtype: torch.dtype) -> Inputs:
    return maps(b, dtype, (64, 8, 8), (64, 8, 8))


def sskd_inputs(b: int, dtype: torch.dtype) -> Inputs:
    """torchdistill's stacked layout of ``b`` samples: row ``4 i`` is sample ``i``, rows ``4 i + 1 + m`` its
    ``m``-th transformed copy (``4 b`` rows of self-supervision head outputs and logits per model), plus the
    same tensors in kdtaxonomy's layout (normal ``(b, .)``, transformed transformation-major, row ``m b + i``).
    The teacher's transformed head outputs are its normal ones plus noise (most positives ranked first),
    its transformed logits favour the label."""
    d = Draw(9000 + b, dtype)
    y = d.randint(NUM_CLASSES, b)
    t_normal = d.randn(b, 1, SSKD_D)
    t_head = torch.cat([t_normal, t_normal + d.randn(b, SSKD_M, SSKD_D, scale=6.0)], dim=1)
    s_head = d.randn(b, 1 + SSKD_M, SSKD_D)
    t_logits = d.randn(b, 1 + SSKD_M, NUM_CLASSES, scale=3.0)
    t_logits[torch.arange(b), :, y] += 4.0
    s_logits = d.randn(b, 1 + SSKD_M, NUM_CLASSES, scale=2.0)

    def ours(v: Tensor) -> tuple[Tensor, Tensor]:  # (normal, transformed transformation-major)
        return v[:, 0], v[:, 1:].transpose(0, 1).reshape(SSKD_M * b, v.shape[-1])

    x: Inputs = {"y": y}
    for name, v in (("s_head", s_head), ("t_head", t_head), ("s_logits", s_logits), ("t_logits", t_logits)):
        x[name] = v.reshape(b * (1 + SSKD_M), v.shape[-1])  # torchdistill's stacked rows
        x[name + "_n"], x[name + "_tf"] = ours(v)
    return x


def sskd_head_inputs(b: int, dtype: torch.dtype) -> Inputs:
    """The teacher's self-supervision head outputs for SSKD's head stage in torchdistill's stacked layout
    (``t_head``, ``4 b`` rows: row ``4 i`` sample ``i``, row ``4 i + 1 + m`` its ``m``-th transformed copy)
    and, gathered from those rows by an explicit index map, in kdtaxonomy's: ``t_head_n`` the normal rows
    ``4 i`` and ``t_head_tf`` the transformed rows transformation-major (row ``m b + i`` = stacked row
    ``4 i + 1 + m``, kept as ``tf_rows``). The transformed outputs are the normal ones plus noise, so most
    but not all positives are the top-1 of their row."""
    d = Draw(10000 + b, dtype)
    normal = d.randn(b, 1, SSKD_D)
    head = torch.cat([normal, normal + d.randn(b, SSKD_M, SSKD_D, scale=4.0)], dim=1)
    stacked = head.reshape(b * (1 + SSKD_M), SSKD_D)
    r = torch.arange(SSKD_M * b)
    tf_rows = (1 + SSKD_M) * (r % b) + 1 + r // b
    normal_rows = (1 + SSKD_M) * torch.arange(b)
    return {
        "t_head": stacked,
        "t_head_n": stacked[normal_rows],
        "t_head_tf": stacked[tf_rows],
        "tf_rows": tf_rows,
    }
