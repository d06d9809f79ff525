"""``torch.autograd.gradcheck`` in float64 for every functional loss (student inputs vary, teacher fixed)."""

from __future__ import annotations

import functools
from collections.abc import Callable

import pytest
import torch
import torch.nn.functional as F
from torch import Tensor

from kdtaxonomy import losses as L
from kdtaxonomy.registry import REGISTRY


def rand(*shape: int, seed: int, grad: bool = False) -> Tensor:
    x = torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)
    return x.requires_grad_(grad)


Y = torch.tensor([0, 2, 1, 3])
T_LOGITS = rand(4, 5, seed=100)
Y[0] = int(T_LOGITS[0].argmax())  # conditional_kd: at least one teacher-correct sample
MAP_T = rand(3, 4, 6, seed=101)
MAP2_T = rand(2, 3, 3, 4, seed=102)
EMB_T = rand(5, 6, seed=103)
MEM_S = F.normalize(rand(3, 5, 4, seed=104), dim=2)
MEM_T = F.normalize(rand(3, 5, 4, seed=105), dim=2)
SEQ_T = rand(2, 3, 5, seed=106)
SEQ_MASK = torch.tensor([[True, False, True], [True, True, False]])
SIM_T = rand(9, 3, seed=107)
torch.manual_seed(0)
REVIEW = (
    REGISTRY.get("loss", "knowledge-review").obj(s_shape=((2, 6), (3, 3)), t_shape=((4, 6), (2, 3))).double()
)

Case = tuple[Callable[..., Tensor], tuple[Tensor, ...]]

CASES: dict[str, Case] = {
    "soft_label_kd": (lambda s: L.soft_label_kd(s, T_LOGITS, 2.0), (rand(4, 5, seed=1, grad=True),)),
    "hard_label_kd": (lambda s: L.hard_label_kd(s, T_LOGITS), (rand(4, 5, seed=2, grad=True),)),
    "conditional_kd": (lambda s: L.conditional_kd(s, T_LOGITS, Y, 2.0), (rand(4, 5, seed=3, grad=True),)),
    "weighted_kd": (lambda s: L.weighted_kd(s, T_LOGITS, Y), (rand(4, 5, seed=4, grad=True),)),
    "multi_teacher_kd": (
        lambda s: L.multi_teacher_kd(s, [T_LOGITS, 2 * T_LOGITS.flip(0)], 3.0, [0.3, 0.7]),
        (rand(4, 5, seed=5, grad=True),),
    ),
    "dkd": (lambda s: L.dkd(s, T_LOGITS, Y), (rand(4, 5, seed=6, grad=True),)),
    "dml": (lambda s: L.dml(s, T_LOGITS, 1.5), (rand(4, 5, seed=7, grad=True),)),
    "dist": (lambda s: L.dist(s, T_LOGITS, 1.0, 2.0, 2.0), (rand(4, 5, seed=40, grad=True),)),
    "dist_parts": (lambda s: L.dist_parts(s, T_LOGITS, 3.0), (rand(4, 5, seed=41, grad=True),)),
    "ickd_1d": (lambda s: L.ickd(s, MAP_T), (rand(3, 4, 5, seed=42, grad=True),)),
    "ickd_2d": (lambda s: L.ickd(s, MAP2_T), (rand(2, 3, 2, 2, seed=43, grad=True),)),
    "icc_matrix": (L.icc_matrix, (rand(2, 3, 4, seed=44, grad=True),)),
    "fsp_1d": (
        lambda a, b: L.fsp(a, b, MAP_T, MAP_T[:, :2, :3]),
        (rand(3, 4, 6, seed=45, grad=True), rand(3, 2, 3, seed=46, grad=True)),
    ),
    "fsp_2d": (lambda s: L.fsp(s, s, MAP2_T, MAP2_T), (rand(2, 3, 2, 2, seed=47, grad=True),)),
    "fsp_pair_2d": (  # the module's pair form a&b: two student maps, the first pooled 4 x 4 -> 2 x 2
        lambda a, b: L.fsp(a, b, MAP2_T[:, :, :2, :2], MAP2_T[:, :2, 1:, 2:]),
        (rand(2, 3, 4, 4, seed=60, grad=True), rand(2, 2, 2, 2, seed=61, grad=True)),
    ),
    "fsp_matrix": (L.fsp_matrix, (rand(2, 3, 4, seed=48, grad=True), rand(2, 2, 8, seed=49, grad=True))),
    "activation_boundary_1d": (
        lambda s: L.activation_boundary(s, MAP_T, 0.7),
        (rand(3, 4, 6, seed=50, grad=True),),
    ),
    "activation_boundary_2d": (
        lambda s: L.activation_boundary(s, MAP2_T),
        (rand(2, 3, 3, 4, seed=51, grad=True),),
    ),
    "factor_transfer_1d": (lambda s: L.factor_transfer(s, MAP_T), (rand(3, 4, 12, seed=52, grad=True),)),
    "factor_transfer_2d": (
        lambda s: L.factor_transfer(s, MAP2_T, 2.0),
        (rand(2, 3, 3, 4, seed=53, grad=True),),
    ),
    "feature_l2": (lambda s: L.feature_l2(s, EMB_T), (rand(5, 6, seed=54, grad=True),)),
    "srd": (lambda s: L.srd(s, EMB_T, 4.0, 1e-4), (rand(5, 6, seed=62, grad=True),)),
    "hcl_1d": (lambda s: L.hcl(s, MAP_T), (rand(3, 4, 6, seed=64, grad=True),)),
    "hcl_2d": (lambda s: L.hcl(s, MAP2_T, (2, 1)), (rand(2, 3, 3, 4, seed=65, grad=True),)),
    "knowledge_review_1d": (  # the KR module (ABF fusion + HCL) over two student levels, in float64
        lambda a, b: REVIEW((a, b), (MAP_T, MAP_T[:, :2, :3])),
        (rand(3, 2, 6, seed=66, grad=True), rand(3, 3, 3, seed=67, grad=True)),
    ),
    "batch_standardize": (lambda s: L.batch_standardize(s, 1e-4), (rand(5, 6, seed=63, grad=True),)),
    "ofd_1d": (lambda s: L.ofd(s, MAP_T, -MAP_T[0, :, 0].abs()), (rand(3, 4, 6, seed=68, grad=True),)),
    "ofd_2d": (
        lambda s: L.ofd(s, MAP2_T, -MAP2_T[0, :, 0, 0].abs()),
        (rand(2, 3, 3, 4, seed=69, grad=True),),
    ),
    "gaussian_margin": (
        lambda mean, std: L.gaussian_margin(mean, std.abs() + 0.5),
        (rand(6, seed=70, grad=True), rand(6, seed=71, grad=True)),
    ),
    "kdsvd_1d": (  # two student maps of the teacher maps' channels, other lengths; k = 2 of 3 candidates
        lambda a, b: L.kdsvd((a, b), (MAP_T, MAP_T[:, :2, :3]), 2, 1),
        (rand(3, 4, 5, seed=72, grad=True), rand(3, 2, 4, seed=73, grad=True)),
    ),
    "kdsvd_2d": (
        lambda a, b: L.kdsvd((a, b), (MAP2_T, MAP2_T[:, :2, :2, :2])),
        (rand(2, 3, 2, 3, seed=74, grad=True), rand(2, 2, 3, 3, seed=75, grad=True)),
    ),
    "pad_l2": (
        lambda s, v: L.pad_l2(s, EMB_T, v, 1e-3),
        (rand(5, 6, seed=55, grad=True), rand(5, 6, seed=56, grad=True)),
    ),
    "pad_l2_1d": (
        lambda s: L.pad_l2(s, MAP_T, 0.5 * MAP_T.flip(0), 0.1),
        (rand(3, 4, 6, seed=57, grad=True),),
    ),
    "tfkd_reg": (lambda s: L.tfkd_reg(s, Y, 0.9, 2.0), (rand(4, 5, seed=42, grad=True),)),
    "fitnets": (lambda s: L.fitnets(s, MAP_T), (rand(3, 4, 6, seed=8, grad=True),)),
    "attention_transfer_1d": (lambda s: L.attention_transfer(s, MAP_T), (rand(3, 2, 9, seed=9, grad=True),)),
    "attention_transfer_2d": (
        lambda s: L.attention_transfer(s, MAP2_T),
        (rand(2, 5, 3, 4, seed=10, grad=True),),
    ),
    "similarity_preserving": (
        lambda s: L.similarity_preserving(s, MAP_T),
        (rand(3, 2, 5, seed=11, grad=True),),
    ),
    "correlation_congruence": (
        lambda s: L.correlation_congruence(s, EMB_T),
        (rand(5, 3, seed=12, grad=True),),
    ),
    "correlation_congruence_exact": (
        lambda s: L.correlation_congruence(s, EMB_T, 0.4, None),
        (rand(5, 3, seed=13, grad=True),),
    ),
    "vid": (
        lambda mu, alpha: L.vid(mu, MAP_T, alpha),
        (rand(3, 4, 6, seed=14, grad=True), rand(4, seed=15, grad=True)),
    ),
    "pkt": (lambda s: L.pkt(s, EMB_T), (rand(5, 4, seed=16, grad=True),)),
    "nst_1d": (lambda s: L.nst(s, MAP_T), (rand(3, 2, 6, seed=17, grad=True),)),
    "nst_2d": (lambda s: L.nst(s, MAP2_T), (rand(2, 4, 3, 4, seed=18, grad=True),)),
    "rkd_distance": (lambda s: L.rkd_distance(s, EMB_T), (rand(5, 3, seed=19, grad=True),)),
    "rkd_angle": (lambda s: L.rkd_angle(s, EMB_T), (rand(5, 3, seed=20, grad=True),)),
    "rkd_angle_chunked": (lambda s: L.rkd_angle(s, EMB_T, 2), (rand(5, 3, seed=21, grad=True),)),
    "rkd_area": (lambda s: L.rkd_area(s, EMB_T), (rand(5, 3, seed=22, grad=True),)),
    "mmd": (lambda s: L.mmd(s, EMB_T), (rand(5, 6, seed=23, grad=True),)),
    "cosine_embedding": (lambda s: L.cosine_embedding(s, EMB_T), (rand(5, 6, seed=24, grad=True),)),
    "assistant_feature_matching": (
        lambda s: L.assistant_feature_matching(s, MAP_T),
        (rand(3, 4, 6, seed=25, grad=True),),
    ),
    "assistant_distillation_loss": (
        lambda s, f: L.assistant_distillation_loss(s, T_LOGITS, Y, f, EMB_T[:4]),
        (rand(4, 5, seed=26, grad=True), rand(4, 6, seed=27, grad=True)),
    ),
    "ss_similarity": (
        lambda a, b: L.ss_similarity(a, b),
        (rand(6, 4, seed=80, grad=True), rand(2, 4, seed=81, grad=True)),
    ),
    "contrastive_prediction": (lambda a: L.contrastive_prediction(a, 0.5), (rand(6, 2, seed=82, grad=True),)),
    "sskd_similarity": (  # rows selected by the fixed teacher: ratio 0.5 drops some of its wrongly ranked rows
        lambda s: L.sskd_similarity(s, SIM_T, 0.5, 0.5),
        (rand(9, 3, seed=83, grad=True),),
    ),
    "sskd_transform": (
        lambda s: L.sskd_transform(s, T_LOGITS, Y, 2.0, 0.5),
        (rand(4, 5, seed=84, grad=True),),
    ),
    "crd_nce": (
        lambda s, t: L.crd_nce(s, t, MEM_S, MEM_T, 40, 0.07, 10.0, 11.0),
        (
            F.normalize(rand(3, 4, seed=28), dim=1).requires_grad_(),
            F.normalize(rand(3, 4, seed=29), dim=1).requires_grad_(),
        ),
    ),
}
# token-level sequence divergences (more cases in test_sequence.py): masked, in chunks of 2 positions
SEQ_FNS: list[Callable[..., Tensor]] = [
    L.forward_kl, L.reverse_kl, L.generalized_jsd, L.skew_kl, L.skew_reverse_kl, L.total_variation,
]  # fmt: skip
for _i, _fn in enumerate(SEQ_FNS):
    CASES[_fn.__name__] = (
        functools.partial(_fn, t_logits=SEQ_T, mask=SEQ_MASK, temperature=1.5, chunk_size=2),
        (rand(2, 3, 5, seed=30 + _i, grad=True),),
    )


@pytest.mark.parametrize("name", sorted(CASES))
def test_gradcheck(name: str) -> None:
    fn, inputs = CASES[name]
    assert torch.autograd.gradcheck(fn, inputs, eps=1e-6, atol=1e-7, rtol=1e-5)


def test_every_exported_function_has_a_gradcheck_case() -> None:
    exported = {
        n
        for n in L.__all__
        if n[0].islower()
        and n not in {"attention_map", "dkd_parts", "mask_from_labels", "tfkd_virtual_teacher"}
    }
    covered = {
        n.removesuffix("_1d").removesuffix("_2d").removesuffix("_chunked").removesuffix("_exact")
        for n in CASES
    }
    assert exported <= covered, exported - covered
