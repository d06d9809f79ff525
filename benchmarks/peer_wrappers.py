"""The peers of ``peer_torchdistill.py``: torchdistill's loss modules called on io_dicts (``td_*``),
kdtaxonomy's compositions where one functional is not enough (``ours_*``), and the predictors of
torchdistill's value from the identified cause of a difference."""

from __future__ import annotations

import torch
from torch import Tensor, nn
from torchdistill.losses.mid_level import (
    AltActTransferLoss,
    ATLoss,
    AuxSSKDLoss,
    CCKDLoss,
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

from benchmarks.peer_inputs import (
    AB_MARGIN,
    CRD_K,
    CRD_N,
    DIST_BETA,
    DIST_GAMMA,
    PAD_EPS,
    SRD_EPS,
    SRD_EXPONENT,
    SSKD_HEAD_T,
    SSKD_M,
    SSKD_SS_RATIO,
    SSKD_SS_T,
    SSKD_SS_W,
    SSKD_TF_RATIO,
    SSKD_TF_T,
    SSKD_TF_W,
    TAU,
    Inputs,
    io,
    pair,
)
from kdtaxonomy.losses import crd_nce, fsp_matrix
from kdtaxonomy.losses.dist import dist_parts
from kdtaxonomy.losses.sskd import contrastive_prediction, ss_similarity, sskd_similarity, sskd_transform
from kdtaxonomy.losses.vid import vid_variance

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


def td_sskd_head(x: Inputs) -> Tensor:
    """torchdistill's AuxSSKDLoss (SSKD's first stage) on the teacher's stacked head outputs (it reads the
    teacher's io_dict only; the student's is unused)."""
    m = AuxSSKDLoss(module_path="ss", module_io="output", reduction="mean")
    return m({}, io("ss", x["t_head"]))


def ours_sskd_head(x: Inputs) -> Tensor:
    """The head stage's loss of kdtaxonomy's SSKD (``phase() == 'head'``: ``contrastive_prediction`` of
    ``teacher_similarity``, i.e. ``ss_similarity`` of the head outputs) at the default head temperature."""
    return contrastive_prediction(ss_similarity(x["t_head_tf"], x["t_head_n"]), SSKD_HEAD_T)


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
