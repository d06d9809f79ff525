"""Peer comparison: kdtaxonomy's functional losses vs torchdistill 1.1.5's loss modules.

For every loss both libraries implement, identical seeded tensors (drawn in float64, then cast, so the
float32 and float64 runs see the same values up to rounding) go to kdtaxonomy's functional form and to
torchdistill's module, built with matching hyperparameters. The value table shows both values, their
absolute and relative difference, the ratio ours/theirs and, where they differ, the value torchdistill
*should* give according to the identified cause ("predicted") with the residual |theirs - predicted| /
|theirs|; the notes under the table give each cause, read from both sources. The timing table is the
median forward+backward time per loss at B = 64, 256, 1024 on the same thread count (2).

torchdistill needs its own environment (it must not touch the project venv). Reproduce with::

    bash benchmarks/peer_env.sh                      # idempotent; creates /tmp/peer-venv
    /tmp/peer-venv/bin/python benchmarks/peer_torchdistill.py

``peer_env.sh`` runs ``python3 -m venv /tmp/peer-venv``, then
``/tmp/peer-venv/bin/pip install torch==2.13.0 numpy pyyaml pydantic`` and
``/tmp/peer-venv/bin/pip install --no-deps torchdistill==1.1.5``. torchdistill's ``losses.mid_level``
imports with torch alone (no torchvision, nothing stubbed). kdtaxonomy is imported from this checkout
(its root is put on ``sys.path``); ``kdtaxonomy.losses`` needs only torch and pydantic.

Options: ``--batches 64 256 1024``, ``--value-batch 64``, ``--budget 1.0`` (seconds of timed repeats per
loss, library and batch; 3 to 15 repeats after one warm-up), ``--no-timing``, ``--threads 2``.
"""

from __future__ import annotations

import argparse
import math
import os
import statistics
import sys
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from torchdistill.losses.mid_level import (
    AltActTransferLoss,
    ATLoss,
    CCKDLoss,
    CRDLoss,
    DISTLoss,
    FSPLoss,
    FTLoss,
    HierarchicalContextLoss,
    KDLoss,
    PADL2Loss,
    PKTLoss,
    RKDLoss,
    SimpleLossWrapper,
    SPKDLoss,
    SRDLoss,
    SSKDLoss,
    VIDLoss,
)

from kdtaxonomy.losses import (
    activation_boundary,
    assistant_distillation_loss,
    attention_map,
    attention_transfer,
    correlation_congruence,
    crd_nce,
    factor_transfer,
    feature_l2,
    fitnets,
    fsp,
    fsp_matrix,
    hcl,
    pad_l2,
    pkt,
    rkd_angle,
    rkd_distance,
    similarity_preserving,
    soft_label_kd,
    srd,
    vid,
)
from kdtaxonomy.losses.dist import dist as dist_loss
from kdtaxonomy.losses.dist import dist_parts
from kdtaxonomy.losses.sskd import ss_similarity, sskd_similarity, sskd_transform
from kdtaxonomy.losses.vid import vid_variance

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


# ------------------------------------------------------------------------------------------- the peers


def td_kd(x: Inputs, alpha: float, beta: float | None = None, targets: bool = False) -> Tensor:
    m = KDLoss("fc", "output", "fc", "output", temperature=TAU, alpha=alpha, beta=beta, reduction="batchmean")
    return m(io("fc", x["s"]), io("fc", x["t"]), x["y"] if targets else None)


def td_at(x: Inputs, mode: str) -> Tensor:
    return ATLoss({"pair": pair()}, mode=mode)(io("layer", x["s"]), io("layer", x["t"]))


def td_mse(x: Inputs) -> Tensor:
    m = SimpleLossWrapper(
        nn.MSELoss(),
        input={"is_from_teacher": False, "module_path": "regressor", "io": "output"},
        target={"is_from_teacher": True, "module_path": "layer", "io": "output"},
    )
    return m(io("regressor", x["s"]), io("layer", x["t"]), None)


def td_sp(x: Inputs) -> Tensor:
    return SPKDLoss("layer", "layer", reduction="batchmean")(io("layer", x["s"]), io("layer", x["t"]))


def td_pkt(x: Inputs) -> Tensor:
    m = PKTLoss("fc", "input", "fc", "input", eps=1e-7)
    return m(io("fc", x["s"], "input"), io("fc", x["t"], "input"))


def td_rkd(x: Inputs, dist: float, angle: float) -> Tensor:
    m = RKDLoss("emb", "emb", dist_factor=dist, angle_factor=angle, reduction="mean")
    return m(io("emb", x["s"]), io("emb", x["t"]))


def td_cc(x: Inputs) -> Tensor:
    m = CCKDLoss(
        "linear",
        "linear",
        kernel_config={"type": "gaussian", "gamma": 0.4, "max_p": 2},
        reduction="batchmean",
    )
    return m(io("linear", x["s"]), io("linear", x["t"]))


def td_vid(x: Inputs) -> Tensor:
    var = vid_variance(x["alpha"]).view(1, -1, 1, 1)  # the same sigma_c^2 as kdtaxonomy's vid()
    return VIDLoss({"pair": pair()})(io("layer", (x["s"], var)), io("layer", x["t"]))


def td_crd(x: Inputs, with_contrast: bool = True) -> Tensor:
    supp = {"pos_idx": x["pos"]}
    if with_contrast:
        supp["contrast_idx"] = x["contrast"]
    student = {"s_norm": {"output": x["s"]}, "s_empty": {"input": supp}}
    return x["td"](student, io("t_norm", x["t"]))


def td_dist(x: Inputs) -> Tensor:
    m = DISTLoss("fc", "output", "fc", "output", beta=DIST_BETA, gamma=DIST_GAMMA, tau=TAU, eps=1e-8)
    return m(io("fc", x["s"]), io("fc", x["t"]))


def td_srd(x: Inputs) -> Tensor:
    """torchdistill's SRDLoss reads the features after SRDModelWrapper's norm layer: here an
    ``nn.BatchNorm1d(D, affine=False, eps=1e-4)`` in training mode applied to each side."""
    bn = nn.BatchNorm1d(x["s"].shape[1], affine=False, eps=SRD_EPS).to(x["s"].dtype).train()
    zs, zt = bn(x["s"]), bn(x["t"])
    m = SRDLoss(
        "norm", "output", "norm", "output", "fc", "output", "fc", "output",
        exponent=SRD_EXPONENT, temperature=1.0, reduction="batchmean",
    )  # fmt: skip
    return m(
        {"norm": {"output": zs}, "fc": {"output": x["s_logits"]}},
        {"norm": {"output": zt}, "fc": {"output": x["t_logits"]}},
    )


def td_pad(x: Inputs, log_var: Tensor | None = None) -> Tensor:
    v = x["log_var"] if log_var is None else log_var
    m = PADL2Loss("emb", "emb", module_path="var_estimator", eps=PAD_EPS, reduction="mean")
    return m({"emb": {"output": x["s"]}, "var_estimator": {"output": v}}, io("emb", x["t"]))


def td_fsp(x: Inputs) -> Tensor:
    def side(first: str, second: str) -> dict[str, str]:
        return {"io": "output", "path": first}, {"io": "output", "path": second}

    sf, ss = side("first", "second")
    cfg = {
        "pair": {
            "student_first": sf,
            "student_second": ss,
            "teacher_first": sf,
            "teacher_second": ss,
            "weight": 1,
        }
    }
    m = FSPLoss(cfg)
    student = {"first": {"output": x["s"]}, "second": {"output": x["s2"]}}
    teacher_ = {"first": {"output": x["t"]}, "second": {"output": x["t2"]}}
    return m(student, teacher_)


def td_ft(x: Inputs) -> Tensor:
    m = FTLoss(p=1, reduction="mean", paraphraser_path="paraphraser", translator_path="translator")
    return m(io("translator", x["s"]), io("paraphraser", x["t"]))


def td_ab(x: Inputs) -> Tensor:
    m = AltActTransferLoss({"pair": pair()}, margin=AB_MARGIN, reduction="mean")
    return m(io("layer", x["s"]), io("layer", x["t"]))


def td_hcl(x: Inputs) -> Tensor:
    m = HierarchicalContextLoss("abf", "output", "layer", "output", reduction="mean", output_sizes=[4, 2, 1])
    return m(io("abf", (x["s"], None)), io("layer", x["t"]))


def td_sskd(x: Inputs) -> Tensor:
    """torchdistill's SSKDLoss with the recipe's weights for its self-supervision and transform terms only
    (loss_weights [0, 0, 10, 2.7]: its CE and KD on the normal samples are separate terms in kdtaxonomy)."""
    m = SSKDLoss(
        "fc", "fc", "ss", "ss", kl_temp=TAU, ss_temp=SSKD_SS_T, tf_temp=SSKD_TF_T, ss_ratio=SSKD_SS_RATIO,
        tf_ratio=SSKD_TF_RATIO, loss_weights=[0.0, 0.0, SSKD_SS_W, SSKD_TF_W], reduction="batchmean",
    )  # fmt: skip
    student = {"fc": {"output": x["s_logits"]}, "ss": {"output": x["s_head"]}}
    teacher_ = {"fc": {"output": x["t_logits"]}, "ss": {"output": x["t_head"]}}
    return m(student, teacher_, x["y"])


def ours_sskd(x: Inputs) -> Tensor:
    s_sim = ss_similarity(x["s_head_tf"], x["s_head_n"])
    t_sim = ss_similarity(x["t_head_tf"], x["t_head_n"])
    l_ss = sskd_similarity(s_sim, t_sim, SSKD_SS_T, SSKD_SS_RATIO)
    y = x["y"].repeat(SSKD_M)
    l_t = sskd_transform(x["s_logits_tf"], x["t_logits_tf"], y, SSKD_TF_T, SSKD_TF_RATIO)
    return SSKD_SS_W * l_ss + SSKD_TF_W * l_t


def dist_eps0(x: Inputs, _: float) -> float:
    """DIST with the Pearson correlation's eps removed (torchdistill's cosine_similarity only clamps)."""
    inter, intra = dist_parts(x["s"], x["t"], TAU, eps=0.0)
    return float(DIST_BETA * inter + DIST_GAMMA * intra)


def fsp_col_norms(x: Inputs, _: float) -> float:
    """torchdistill's FSP: (1/B) sum_{b,j} ||G^S_b[:, j] - G^T_b[:, j]||_2 (column norms, not squared)."""
    d = fsp_matrix(x["s"], x["s2"]) - fsp_matrix(x["t"], x["t2"])
    return float(d.norm(dim=1).sum() / d.shape[0])


def crd_eps_shift(x: Inputs, ours: float) -> float:
    """torchdistill's value to first order in its eps: every log term of both sides loses
    ``eps / (P_ik + K/N)``, so the loss grows by ``(1/B) sum_{i, k=0..K} eps / (P_ik + K/N)`` per side."""
    c, shift = x["contrast"], 0.0
    with torch.no_grad():
        for emb, mem, log_z in ((x["s"], x["mem_t"], x["log_z_s"]), (x["t"], x["mem_s"], x["log_z_t"])):
            p = (torch.bmm(mem[c], emb.unsqueeze(2)).squeeze(2) / x["temperature"] - log_z).exp()
            shift += float((x["eps"] / (p + CRD_K / CRD_N)).sum(dim=1).mean())
    return ours + shift


def ours_crd(x: Inputs) -> Tensor:
    c = x["contrast"]
    return crd_nce(
        x["s"], x["t"], x["mem_s"][c], x["mem_t"][c], CRD_N, x["temperature"], x["log_z_s"], x["log_z_t"]
    )


# ------------------------------------------------------------------------------------------------ cases


def cases() -> list[Case]:
    def rows_norm_mean(x: Inputs, _: float) -> float:
        d = attention_map(x["s"]) - attention_map(x["t"])
        return float(d.norm(dim=1).mean())

    def sp_l1_rows(x: Inputs, _: float) -> float:
        def gram(f: Tensor) -> Tensor:
            f = f.flatten(1)
            return F.normalize(f @ f.T, p=1, dim=1)

        return float((gram(x["t"]) - gram(x["s"])).pow(2).sum() / x["s"].shape[0] ** 2)

    return [
        Case(
            "Hinton KD (soft only)",
            logits,
            lambda x: soft_label_kd(x["s"], x["t"], TAU),
            lambda x: td_kd(x, alpha=0.0),
            "torchdistill KDLoss(T=4, alpha=0): with alpha 0 or None, or without targets, it returns the bare "
            "KLDivLoss(batchmean) and applies neither beta nor T^2 (T^2 appears only in its "
            "alpha*CE + beta*T^2*KL branch). kdtaxonomy's soft_label_kd always includes T^2: ratio = T^2 = 16. "
            "(KDLoss's default alpha=None without an explicit beta fails in __init__: 1 - None.)",
            predict=lambda x, v: v / TAU**2,
            time_note="kdtaxonomy: log_softmax of both sides and sum p*(log p - log q); torchdistill: log_softmax + "
            "softmax and nn.KLDivLoss (xlogy). Similar work; no structural difference.",
        ),
        Case(
            "Hinton KD + CE (alpha 0.6/0.4)",
            logits,
            lambda x: assistant_distillation_loss(x["s"], x["t"], x["y"], alpha=0.4, temperature=TAU),
            lambda x: td_kd(x, alpha=0.6, beta=0.4, targets=True),
            "Full objective: torchdistill alpha*CE + beta*T^2*KL (alpha=0.6, beta=0.4) vs kdtaxonomy "
            "assistant_distillation_loss (1-alpha)*CE + alpha*T^2*KL (alpha=0.4, no features): same formula.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "attention transfer (mode=code)",
            at_maps,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "code"),
            "Same formula: normalize(mean_c F^2) per sample, squared difference averaged over B*H*W "
            "(kdtaxonomy uses |F|^p with p=2, identical for p=2). torchdistill sums weight*loss over pairs; "
            "one pair with weight 1 here.",
            predict=lambda x, v: v,
            time_note="kdtaxonomy computes |F|^p for a general p (abs + float pow, and their backward) and checks "
            "spatial sizes; torchdistill squares (pow 2). One extra elementwise pass over the feature maps.",
        ),
        Case(
            "attention transfer (mode=paper)",
            at_maps,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "paper"),
            "torchdistill mode='paper' (Eq. 2): normalize(sum_c F^2) and (1/B) sum_i ||Q_s,i - Q_t,i||_2 (norm, "
            "not squared, not divided by H*W). kdtaxonomy follows the authors' code (= mode 'code'). "
            "Predicted: mean_i ||d_i|| from kdtaxonomy's attention_map (sum vs mean over channels is removed "
            "by the normalisation).",
            predict=rows_norm_mean,
            timed=False,
        ),
        Case(
            "attention transfer (s 8x8, t 16x16)",
            at_maps_mismatch,
            lambda x: attention_transfer(x["s"], x["t"], 2.0),
            lambda x: td_at(x, "code"),
            "Different spatial sizes: kdtaxonomy adaptive-average-pools the larger map to the smaller size; "
            "torchdistill's ATLoss subtracts the maps as they are and fails on the shape mismatch "
            "(torchdistill expects the pairs to be chosen with equal H*W).",
            timed=False,
        ),
        Case(
            "FitNets hint (regressed features)",
            hint_maps,
            lambda x: fitnets(x["s"], x["t"]),
            td_mse,
            "torchdistill has no FitNets loss class: its FitNets configs use SimpleLossWrapper(nn.MSELoss()) "
            "on the regressor output vs the hint. Both are mean((r(s)-t)^2) over all elements.",
            predict=lambda x, v: v,
            time_note="Both are F.mse_loss; any gap is wrapper overhead/noise.",
        ),
        Case(
            "similarity-preserving",
            at_maps,
            lambda x: similarity_preserving(x["s"], x["t"]),
            td_sp,
            "Both: G = F F^T, each row normalised, ||G_t - G_s||_F^2 / B^2 (SPKDLoss reduction batchmean). "
            "But torchdistill calls normalize(G, 1): the positional 1 is F.normalize's p, not dim, so its rows "
            "are L1-normalised (p=1, dim=1 by default); the paper and kdtaxonomy L2-normalise the rows. "
            "Predicted: the same loss with L1-normalised rows. Not a constant factor (depends on the data).",
            predict=sp_l1_rows,
            time_note="Same work (two B x B Gram matmuls dominate); p=1 vs p=2 row normalisation costs the same.",
        ),
        Case(
            "PKT",
            embeddings,
            lambda x: pkt(x["s"], x["t"]),
            td_pkt,
            "Same formula (both refactor the authors' code): x/(||x||+eps), (K+1)/2, row-normalised, "
            "mean over B^2 of p_t log((p_t+eps)/(p_s+eps)), eps 1e-7. The float32 gap (~1e-6 relative) is "
            "rounding: the loss is a mean of p_t * log(ratio ~ 1) terms (heavy cancellation); float64 agrees.",
            predict=lambda x, v: v,
            time_note="Same operations; torchdistill also does two NaN-masking index assignments.",
        ),
        Case(
            "RKD distance",
            embeddings,
            lambda x: rkd_distance(x["s"], x["t"]),
            lambda x: td_rkd(x, 1.0, 0.0),
            "Same formula: pairwise distances over the off-diagonal mean, smooth-L1 (beta 1) averaged over "
            "B^2. torchdistill clamps squared distances at 1e-12 and computes the teacher side under no_grad "
            "(kdtaxonomy's functional form does not detach; the teacher carries no grad here).",
            predict=lambda x, v: v,
            time_note="torchdistill: clamp + sqrt, clone, diagonal index assignment and d[d > 0] boolean-mask "
            "gathers for the means; kdtaxonomy: masked_fill of the diagonal and a sum-based off-diagonal mean.",
        ),
        Case(
            "RKD angle",
            embeddings,
            lambda x: rkd_angle(x["s"], x["t"]),
            lambda x: td_rkd(x, 0.0, 1.0),
            "Same formula: cos angle(e_j-e_i, e_k-e_i) for all B^3 triples, smooth-L1 averaged over B^3. "
            "torchdistill materialises (B,B,D) differences and the (B,B,B) angle tensors at once; kdtaxonomy "
            "chunks anchors and checkpoints (recomputes) each chunk in backward when B is large.",
            predict=lambda x, v: v,
            max_b_theirs=RKD_ANGLE_MAX_B_THEIRS,
            time_note="B=64: one chunk, same work. B=256 (D=256): kdtaxonomy splits into 4 chunks of 64 anchors "
            "and checkpoints them (forward recomputed in backward) yet stays close. B=1024: only kdtaxonomy runs "
            "(B^3 ~ 1.07e9 triples in chunks of 4 anchors).",
            skip_note="torchdistill RKD angle skipped above B=256: it is unchunked; at B=1024 each of its (B,B,B) "
            "float32 tensors (student and teacher angles, smooth-L1 intermediates, saved for backward) is 4 GiB.",
        ),
        Case(
            "RKD distance + 2 * angle",
            embeddings,
            lambda x: rkd_distance(x["s"], x["t"]) + 2.0 * rkd_angle(x["s"], x["t"]),
            lambda x: td_rkd(x, 1.0, 2.0),
            "torchdistill's RKDLoss sample config (dist_factor 1, angle_factor 2, the paper's weights) vs the "
            "sum of kdtaxonomy's two functional losses with the same weights.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "correlation congruence (raw emb)",
            embeddings,
            lambda x: correlation_congruence(x["s"], x["t"], 0.4, 2),
            td_cc,
            "Raw (unnormalised) embeddings: kdtaxonomy L2-normalises them before the Gaussian-RBF Taylor "
            "kernel (the expansion exp(-2g) sum (2g)^p/p! (x.y)^p equals the RBF only for unit vectors); "
            "torchdistill applies the kernel to the raw tensor, so x.y ~ +-sqrt(D) and the values differ "
            "by orders of magnitude. Also a different reduction (next row).",
            timed=False,
        ),
        Case(
            "correlation congruence (unit emb)",
            unit_embeddings,
            lambda x: correlation_congruence(x["s"], x["t"], 0.4, 2),
            td_cc,
            "Unit-norm inputs (kdtaxonomy's normalisation is then a no-op): the kernels agree; torchdistill "
            "returns torch.dist(C_s, C_t, 2) / B^2 = ||dC||_F / B^2 (norm, not squared), kdtaxonomy "
            "||dC||_F^2 / B^2 (the paper's squared Frobenius norm). Predicted theirs = sqrt(ours) / B.",
            predict=lambda x, v: math.sqrt(v) / x["s"].shape[0],
            time_note="torchdistill builds the Gaussian-kernel matrix row by row in a Python loop (B matvecs + "
            "stack); kdtaxonomy computes one B x B Gram matrix and a vectorised polynomial.",
        ),
        Case(
            "VID (same mean and variance)",
            vid_inputs,
            lambda x: vid(x["s"], x["t"], x["alpha"]),
            td_vid,
            "Both: 0.5*log(var) + (t-mu)^2/(2 var) with the same mu and per-channel var = softplus(alpha)+1e-5 "
            "(torchdistill takes (pred_mean, pred_var) from the student; RepDistiller's VID computes "
            "var the same way). torchdistill averages over all B*C*H*W elements, kdtaxonomy sums over channels "
            "and averages over B*H*W (the paper's per-position sum over channels): ratio = C = 64.",
            predict=lambda x, v: v / x["t"].shape[1],
            grad_keys=("s", "alpha"),
            time_note="Same elementwise work (torchdistill receives var from the timed closure, as kdtaxonomy "
            "computes it inside vid()).",
        ),
        Case(
            "CRD (fixed contrast_idx, eps 1e-7)",
            crd_inputs,
            ours_crd,
            td_crd,
            "Aligned deterministically by passing torchdistill the same (B, K+1) contrast_idx, memory banks and "
            "(first-batch) Z = N*mean(exp(score/T)); the same NCE objective on both sides. torchdistill adds "
            "eps=1e-7 to every denominator P + K/N (log_d1, log_d0); kdtaxonomy has no eps (log space). "
            "Predicted: ours + (1/B) sum_{sides,i,k} eps/(P_ik + K/N) (first order in eps; ~ 2(K+1) eps N/K). "
            "The next row (eps 0) removes the difference.",
            predict=crd_eps_shift,
            grad_keys=("s", "t"),
            time_note="Both gather (B, K+1, d) memory rows and do one bmm per side; kdtaxonomy works in log space "
            "(logaddexp), torchdistill with exp/div/log and updates the memory banks in the same call.",
        ),
        Case(
            "CRD (fixed contrast_idx, eps 0)",
            crd_inputs_eps0,
            ours_crd,
            td_crd,
            "As above with torchdistill eps=0: the values agree to rounding. In both rows kdtaxonomy gets "
            "torchdistill's effective temperature: its float32 params buffer holds T=0.07 as 0.0700000003 "
            "(visible only in float64, ~1e-8 relative).",
            predict=lambda x, v: v,
            grad_keys=("s", "t"),
            timed=False,
        ),
        Case(
            "CRD (torchdistill draws negatives)",
            crd_inputs,
            None,
            lambda x: td_crd(x, with_contrast=False),
            "Without contrast_idx torchdistill 1.1.5 samples negatives itself with draw(), which reads "
            "self.prob (the attribute is self.probs): AttributeError, so its own sampling path cannot run; "
            "the alias table's init_prob_alias has the same typo (not reached with uniform unigrams).",
            timed=False,
        ),
        Case(
            "DIST (tau 4, beta 1, gamma 2)",
            logits,
            lambda x: dist_loss(x["s"], x["t"], DIST_BETA, DIST_GAMMA, TAU),
            td_dist,
            "Same formula: tau^2 * (beta * (1 - mean_i rho(Y_s,i:, Y_t,i:)) + gamma * (1 - mean_j rho(Y_s,:j, "
            "Y_t,:j))) on Y = softmax(Z / tau). Only the Pearson eps differs: kdtaxonomy divides by "
            "||u_c|| ||v_c|| + 1e-8 (the authors' code), torchdistill calls F.cosine_similarity(eps=1e-8), which "
            "only clamps the norm product at 1e-8 (no shift here); the column norms of the probabilities are "
            "small, so the shift is visible in float64 (~1e-8 relative). Predicted: kdtaxonomy's dist_parts "
            "with eps 0.",
            predict=dist_eps0,
            timed=False,
        ),
        Case(
            "SRD (alpha 4, + KL at T 1)",
            srd_inputs,
            lambda x: (
                2.0 * srd(x["s"], x["t"], SRD_EXPONENT, SRD_EPS)
                + soft_label_kd(x["s_logits"], x["t_logits"], 1.0)
            ),
            td_srd,
            "torchdistill's SRDLoss returns 2 * log sum |z_s - z_t|^alpha + KL(batchmean, T=1) on the features "
            "after SRDModelWrapper's norm layer (here nn.BatchNorm1d(D, affine=False, eps=1e-4) in training mode "
            "on each side); kdtaxonomy's srd() batch-standardises inside (F.batch_norm, same eps) and the KD term "
            "is soft_label_kd at T=1 (T^2 = 1), so ours = 2*srd + soft_label_kd: the same value.",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "PAD-L2 (learned log-variance)",
            pad_inputs,
            lambda x: pad_l2(x["s"], x["t"], x["log_var"], PAD_EPS),
            td_pad,
            "Same formula: mean over B*D of (t - s)^2 / (eps + exp(v)) + v with eps 1e-6 (torchdistill averages "
            "over D, then over B: the same mean for flattened (B, D) features).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "PAD plain L2 (vs PADL2Loss, v = 0)",
            pad_inputs,
            lambda x: feature_l2(x["s"], x["t"]),
            lambda x: td_pad(x, torch.zeros_like(x["log_var"])),
            "kdtaxonomy's feature_l2 (PAD's L2 baseline, the mean squared error) against torchdistill's PADL2Loss "
            "with log-variance 0 (torchdistill 1.1.5 has no separate plain-L2 PAD module; its configs use "
            "nn.MSELoss through SimpleLossWrapper, compared in the FitNets row): theirs divides by eps + exp(0), "
            "so predicted theirs = ours / (1 + 1e-6).",
            predict=lambda x, v: v / (1.0 + PAD_EPS),
            timed=False,
        ),
        Case(
            "FSP (one pair of 8x8 maps per side)",
            fsp_inputs,
            lambda x: fsp(x["s"], x["s2"], x["t"], x["t2"]),
            td_fsp,
            "Same FSP matrices G = F1 F2^T / (H*W) (equal spatial sizes, so neither library pools; on unequal "
            "sizes torchdistill max-pools, kdtaxonomy average-pools). kdtaxonomy takes the paper's squared L2 "
            "norm, (1/B) sum_b ||G^S_b - G^T_b||_F^2; torchdistill (G^S - G^T).norm(dim=1).sum() / B, the sum of "
            "the (unsquared) column norms over the n columns. Predicted: that sum from kdtaxonomy's fsp_matrix.",
            predict=fsp_col_norms,
            grad_keys=("s", "s2"),
            timed=False,
        ),
        Case(
            "FT factor loss (p=1)",
            ft_factors,
            lambda x: factor_transfer(x["s"], x["t"], 1.0),
            td_ft,
            "Both L2-normalise each flattened factor (torchdistill without an eps). torchdistill with p=1 returns "
            "F.l1_loss(reduction='mean'), the mean over B*D elements; kdtaxonomy the batch mean of the per-sample "
            "L1 norm (the paper's ||.||_1): ratio = D = C*H*W = 2048. Predicted theirs = ours / D.",
            predict=lambda x, v: v / x["s"][0].numel(),
            timed=False,
        ),
        Case(
            "AB alternative loss (margin 1)",
            ab_inputs,
            lambda x: activation_boundary(x["s"], x["t"], AB_MARGIN),
            td_ab,
            "Same loss: torchdistill's AltActTransferLoss sums (s + m)^2 [s > -m, t <= 0] + (s - m)^2 [s <= m, "
            "t > 0] and divides by B (reduction 'mean'); kdtaxonomy's hinges relu(m -+ s)^2 select the same "
            "elements (at s = +-m both give 0).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "ReviewKD HCL (8x8, sizes 4/2/1)",
            hint_maps,
            lambda x: hcl(x["s"], x["t"], (4, 2, 1)),
            td_hcl,
            "Same hierarchical context loss: MSE of the maps plus the MSEs of both adaptive-average-pooled to "
            "4x4, 2x2, 1x1 weighted 1/2, 1/4, 1/8, divided by the weight sum 1.875 (torchdistill's "
            "HierarchicalContextLoss for one level, as the authors' hcl).",
            predict=lambda x, v: v,
            timed=False,
        ),
        Case(
            "SSKD (10 L_ss + 2.7 L_T)",
            sskd_inputs,
            ours_sskd,
            td_sskd,
            "torchdistill's SSKDLoss (ss_temp 0.5, tf_temp 4, ss_ratio 0.75, tf_ratio 1, loss_weights [0, 0, 10, "
            "2.7], batchmean) on its stacked io_dict (row 4i sample i, rows 4i+1..4i+3 its transformed copies) vs "
            "10 sskd_similarity + 2.7 sskd_transform on the same tensors in kdtaxonomy's layout (normal rows, "
            "transformed rows transformation-major, A = ss_similarity; its CE and KD terms are separate terms in "
            "kdtaxonomy and weighted 0 here). Same forms: cosine matrix A[r, j], T^2 * batchmean KL over the "
            "selected rows, positives and labels per transformed row, the same selection (rank 0 rows kept, then "
            "int(ratio * wrong) of the smallest rank; tf_ratio 1 keeps all rows). Only the tie-break differs by "
            "design: at equal ranks on the cut kdtaxonomy keeps rows in its transformation-major order, "
            "torchdistill by argsort of its sample-major ranks, so the kept rows (and values) can differ; these "
            "inputs have no tie on the cut (B=64: 127 of 192 rows wrong, 160 kept, ranks 13 | 14), and "
            "F.normalize's eps 1e-12 vs cosine_similarity's 1e-8 clamp do not act: the same value to rounding "
            "(each term alone also agrees, float64: L_ss 0.00804904858, L_T 6.50474916). "
            "The teacher head's contrastive_prediction (torchdistill's AuxSSKDLoss) is not part of this loss.",
            predict=lambda x, v: v,
            timed=False,
        ),
    ]


# ------------------------------------------------------------------------------------------- running


def describe(e: BaseException) -> str:
    msg = str(e).strip().splitlines()[0] if str(e).strip() else ""
    return f"{type(e).__name__}: {msg}"[:90]


def value(fn: Callable[[Inputs], Tensor] | None, x: Inputs) -> float | str:
    if fn is None:
        return "-"
    try:
        return float(fn(x).detach())
    except Exception as e:
        return "ERROR " + describe(e)


def fmt(v: float | str | None, spec: str = ".9g") -> str:
    if v is None:
        return "n/a"
    if isinstance(v, str):
        return "error" if v.startswith("ERROR") else v
    return format(v, spec)


def run_values(all_cases: list[Case], batch: int) -> list[str]:
    errors = []
    head = (
        f"{'loss':42} {'dtype':7} {'kdtaxonomy':>15} {'torchdistill':>15} {'abs diff':>9} {'rel diff':>9} "
        f"{'ours/theirs':>12} {'predicted theirs':>16} {'resid':>8}"
    )
    print(f"VALUES (B={batch}; rel diff = |ours-theirs|/|theirs|; resid = |theirs-predicted|/|theirs|)")
    print(head)
    print("-" * len(head))
    for i, case in enumerate(all_cases, 1):
        for dtype in (torch.float32, torch.float64):
            try:
                x = case.make(batch, dtype)
            except Exception as e:
                print(f"[{i:2}] {case.name:37} inputs failed: {describe(e)}")
                continue
            ours, theirs = value(case.ours, x), value(case.theirs, x)
            for lib, v in (("kdtaxonomy", ours), ("torchdistill", theirs)):
                if isinstance(v, str) and v.startswith("ERROR"):
                    errors.append(f"[{i:2}] {case.name} / {lib} / {str(dtype)[6:]}: {v[6:]}")
            absd = reld = ratio = pred = resid = None
            if isinstance(ours, float) and isinstance(theirs, float):
                absd = abs(ours - theirs)
                if theirs != 0:
                    reld, ratio = absd / abs(theirs), ours / theirs
            if case.predict is not None and isinstance(ours, float):
                try:
                    pred = case.predict(x, ours)
                    if isinstance(theirs, float) and theirs != 0:
                        resid = abs(theirs - pred) / abs(theirs)
                except Exception as e:
                    errors.append(f"[{i:2}] {case.name} / predict: {describe(e)}")
            print(
                f"[{i:2}] {case.name:37} {str(dtype)[6:]:7} {fmt(ours):>15} {fmt(theirs):>15} "
                f"{fmt(absd, '.2e'):>9} {fmt(reld, '.2e'):>9} {fmt(ratio, '.9g'):>12} "
                f"{fmt(pred):>16} {fmt(resid, '.1e'):>8}"
            )
    return errors


SINGLE_SHOT_S = 20.0  # a warm-up call longer than this is reported as the time (no repeats), marked '*'


def run_timing(all_cases: list[Case], batches: list[int], budget: float) -> list[str]:
    """Per loss and batch: one warm-up call per library, then 3-15 repeats (within about ``budget`` seconds
    per library) alternating kdtaxonomy and torchdistill so both see the same machine load; medians."""
    errors = []
    head = (
        f"{'loss':42} {'B':>5} {'kdtaxonomy ms':>14} {'torchdistill ms':>16} {'ours/theirs':>12} "
        f"{'min ratio':>10}"
    )
    print(
        "TIMING (forward+backward, float32, median of alternating repeats; grads w.r.t. the student inputs, "
        "VID: mean and alpha, CRD: both embeddings; min ratio = fastest ours / fastest theirs)"
    )
    print(head)
    print("-" * len(head))
    for i, case in enumerate(all_cases, 1):
        if not case.timed:
            continue
        for b in batches:
            cells: dict[str, float | str] = {}
            runs: dict[str, Callable[[], float]] = {}
            for lib, fn in (("kdtaxonomy", case.ours), ("torchdistill", case.theirs)):
                if fn is None:
                    cells[lib] = "-"
                elif lib == "torchdistill" and case.max_b_theirs is not None and b > case.max_b_theirs:
                    cells[lib] = "skipped"
                else:
                    try:
                        x = case.make(b, torch.float32)
                        for k in case.grad_keys:
                            x[k].requires_grad_(True)
                        runs[lib] = timer(fn, x, case.grad_keys)
                    except Exception as e:
                        cells[lib] = "error"
                        errors.append(f"[{i:2}] {case.name} / {lib} / B={b}: {describe(e)}")
            samples: dict[str, list[float]] = {lib: [] for lib in runs}
            first: dict[str, float] = {}
            for lib in list(runs):
                try:
                    first[lib] = runs[lib]()
                except Exception as e:
                    del runs[lib]
                    cells[lib] = "error"
                    errors.append(f"[{i:2}] {case.name} / {lib} / B={b}: {describe(e)}")
            single = {lib for lib, t in first.items() if t > SINGLE_SHOT_S}
            for lib in single:
                cells[lib] = first[lib] * 1e3
                del runs[lib]
            if runs:
                n = min(15, max(3, int(budget / max(max(first[lib] for lib in runs), 1e-6))))
                for _ in range(n):
                    for lib, run in runs.items():
                        samples[lib].append(run())
                for lib in runs:
                    cells[lib] = statistics.median(samples[lib]) * 1e3
            ours, theirs = cells["kdtaxonomy"], cells["torchdistill"]
            ratio = ours / theirs if isinstance(ours, float) and isinstance(theirs, float) else None
            both = all(samples.get(lib) for lib in ("kdtaxonomy", "torchdistill"))
            min_ratio = min(samples["kdtaxonomy"]) / min(samples["torchdistill"]) if both else None
            star = {lib: "*" if lib in single else " " for lib in cells}
            print(
                f"[{i:2}] {case.name:37} {b:>5} {fmt(ours, '.3f'):>13}{star['kdtaxonomy']} "
                f"{fmt(theirs, '.3f'):>15}{star['torchdistill']} {fmt(ratio, '.2f'):>12} {fmt(min_ratio, '.2f'):>10}"
            )
            runs.clear()
    return errors


def timer(fn: Callable[[Inputs], Tensor], x: Inputs, grad_keys: tuple[str, ...]) -> Callable[[], float]:
    """A closure timing one forward+backward of ``fn`` on ``x`` (gradients reset first)."""

    def once() -> float:
        for k in grad_keys:
            x[k].grad = None
        t0 = time.perf_counter()
        fn(x).backward()
        return time.perf_counter() - t0

    return once


def load() -> str:
    try:
        return " ".join(f"{v:.2f}" for v in os.getloadavg()) + f" ({os.cpu_count()} CPUs)"
    except OSError:
        return "n/a"


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--batches", type=int, nargs="+", default=[64, 256, 1024])
    parser.add_argument("--value-batch", type=int, default=64)
    parser.add_argument("--budget", type=float, default=1.0)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-timing", action="store_true")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    torch.manual_seed(0)  # torchdistill's CRDLoss draws its (overwritten) memory banks from the global RNG
    import torchdistill

    print(
        f"torch {torch.__version__}, torchdistill {torchdistill.__version__}, threads {torch.get_num_threads()}, "
        f"python {sys.version.split()[0]}"
    )
    print()
    all_cases = cases()
    errors = run_values(all_cases, args.value_batch)
    print()
    print("NOTES (why the values agree or differ)")
    for i, case in enumerate(all_cases, 1):
        print(f"[{i:2}] {case.name}: {case.note}")
    print(
        "[--] Not compared: DKD (kdtaxonomy dkd) has no torchdistill 1.1.5 counterpart (its logit losses are "
        "KD, LogitStdKD, DIST/DIST+, SSKD, SKD); nst, mmd, rkd_area, conditional/weighted/multi-teacher KD, "
        "dml, cosine_embedding are kdtaxonomy-only; SSKD, FT, PAD and ReviewKD are compared on their loss terms "
        "only (SSKD: SSKDLoss's self-supervision and transform terms, not the heads, the transformations, its "
        "CE/KD on the normal samples or the teacher head's contrastive prediction, AuxSSKDLoss; not the "
        "paraphraser/translator, variance head or ABF modules); KTA/Affinity, ChSim and SKD have none."
    )
    if not args.no_timing:
        print()
        print(f"load average before timing: {load()}")
        busy = os.getloadavg()[0] if hasattr(os, "getloadavg") else 0.0
        if args.threads > 1 and busy > (os.cpu_count() or 1) - args.threads + 1:
            print(
                f"WARNING: the machine is busy (load {busy:.1f} on {os.cpu_count()} CPUs): with {args.threads} "
                "threads each parallel region waits for a descheduled OpenMP worker (tens of ms), which swamps "
                "these timings; rerun on an idle machine or with --threads 1."
            )
        errors += run_timing(all_cases, args.batches, args.budget)
        print(
            f"load average after timing: {load()}  ('*' = single call, warm-up included, > {SINGLE_SHOT_S:g} s)"
        )
        for case in all_cases:
            limit = case.max_b_theirs
            if case.timed and case.skip_note and limit is not None and max(args.batches) > limit:
                print(f"     {case.skip_note}")
        print()
        print("TIMING NOTES (what each side does differently)")
        for i, case in enumerate(all_cases, 1):
            if case.timed and case.time_note:
                print(f"[{i:2}] {case.name}: {case.time_note}")
    print()
    print("ERRORS (reported, not fatal)" if errors else "ERRORS: none")
    for e in errors:
        print("  " + e)


if __name__ == "__main__":
    try:
        main()
    except Exception:
        traceback.print_exc()
        sys.exit(1)
