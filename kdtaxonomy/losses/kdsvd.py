"""KD-SVD: "Self-supervised Knowledge Distillation Using Singular Value Decomposition" (Lee, Kim & Song
2018, ECCV).

A feature map is compressed by a truncated singular value decomposition: read as the ``N x C`` matrix
``M`` of its ``N`` positions and ``C`` channels, ``M = U S V^T``, and only the leading right singular
vectors ``v_1..v_k`` (``C``-dimensional) are kept. Singular vectors are defined up to their sign (and,
between student and teacher, up to their order), so each teacher vector is matched by the student vector
of largest absolute cosine among the student's leading ``k + candidates`` and that vector's sign is
aligned with the teacher's. Both sides' vectors are scaled by the teacher's singular values normalised to
unit norm. The knowledge is the correlation between two maps ``a, b`` of a model: the radial basis function
``G[i, j, l] = exp(-(v^a_l[i] - v^b_l[j])^2 / sigma)`` between the entries of their ``l``-th vectors, and
the student's ``G`` is matched to the teacher's in squared L2 distance.

The paper's text was not available to this library; the formulas above follow the authors' released code
(``sseung0703/SSKD_SVD``, its later ``KD_methods_with_TF``) and mdistiller's port. Where they differ: the
student is aligned to the teacher (``KD_methods_with_TF`` and mdistiller; the ECCV code flips the teacher
to the student), which makes the loss invariant to sign flips of the student's singular vectors; the
teacher's signs, arbitrary in every decomposition, are fixed by a convention (largest-magnitude entry
positive) so that the loss does not depend on the solver; the squared differences are summed and divided
by the batch size (mdistiller; the ECCV code scales ``sum / 2`` by ``sqrt(k)``). mdistiller's port reads an
``(B, C, H, W)`` map as ``(B, C H, W)`` matrices (the TensorFlow code's ``(B, H W, C)`` reshape of NHWC maps
carried over to NCHW); here it is positions by channels, as in the authors' code. The authors also add the
distillation gradient, scaled up over the first epochs and clipped to the norm of the task gradient, to the
gradients of all the student's layers but the last; here the term is one weighted loss of the objective.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise
from typing import Any, cast

import torch
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, Maps, Shape, connector, teacher_maps
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import KDSVDSpec


def as_matrix(x: Tensor) -> Tensor:
    """A ``(B, C, *spatial)`` map as the ``(B, N, C)`` matrices of its positions by channels; a vector
    ``(B, D)`` as ``(B, 1, D)``."""
    if x.dim() == 2:
        return x.unsqueeze(1)
    return x.reshape(x.shape[0], x.shape[1], -1).transpose(1, 2)


class _LeadingRightSingular(torch.autograd.Function):
    """The ``k`` leading right singular vectors ``(B, C, k)`` of ``(B, N, C)`` matrices (a thin SVD), with the
    exact gradient of those ``k`` vectors only.

    With ``A = M^T M = sum_j l_j v_j v_j^T`` (``l_j = s_j^2``; the thin SVD's ``r = min(N, C)`` vectors and,
    for ``N < C``, the complement of their span, where ``A`` is 0), ``dv_i = sum_{j != i} v_j v_j^T dA v_i /
    (l_i - l_j) + (I - V V^T) dA v_i / l_i``. It is finite whenever the kept values are simple and not 0:
    unlike the gradient of a full decomposition, repeated values among the discarded ones (the zero ones of
    dead channels) do not make it ``0 / 0``. A sample whose gradient is still not finite (a tie among the kept
    ones, an all-zero map) gets none, as the authors' code removes it.
    """

    @staticmethod
    def forward(ctx: Any, m: Tensor, k: int) -> Tensor:
        _, singular, vh = torch.linalg.svd(m, full_matrices=False)
        vectors = vh.transpose(1, 2)
        ctx.save_for_backward(m, singular.pow(2), vectors)
        ctx.k = k
        kept: Tensor = vectors[..., :k].clone()
        return kept

    @staticmethod
    def backward(ctx: Any, *grad_outputs: Tensor) -> tuple[Tensor, None]:
        m, values, vectors = ctx.saved_tensors
        k: int = ctx.k
        grad_v, kept, kept_values = grad_outputs[0], vectors[..., :k], values[:, None, :k]
        gaps = kept_values - values[:, :, None]  # (B, r, k): l_i - l_j, row j, column i
        own = torch.eye(values.shape[1], k, dtype=torch.bool, device=values.device).expand_as(gaps)
        inner = vectors.transpose(1, 2) @ grad_v  # (B, r, k): v_j^T g_i
        coeff = torch.where(own, torch.zeros_like(gaps), inner / gaps)
        outside = (grad_v - vectors @ inner) / kept_values  # the part of g_i outside the span of V
        grad_gram = (vectors @ coeff + outside) @ kept.transpose(1, 2)
        grad = m @ (grad_gram + grad_gram.transpose(1, 2))
        finite = torch.isfinite(grad).flatten(1).all(dim=1)
        return torch.where(finite[:, None, None], grad, torch.zeros_like(grad)), None


def leading_right_singular(m: Tensor, k: int) -> tuple[Tensor, Tensor]:
    """The ``k`` leading right singular vectors ``(B, C, k)`` of ``(B, N, C)`` matrices and their singular
    values ``(B, k)`` (``||M v_i||``, differentiable); half precision is computed in float32."""
    if m.dtype in (torch.float16, torch.bfloat16):
        m = m.float()
    vectors = cast(Tensor, _LeadingRightSingular.apply(m, k))  # type: ignore[no-untyped-call]
    return vectors, (m @ vectors).norm(dim=1)


def _nonzero_sign(x: Tensor) -> Tensor:
    return torch.where(x < 0, -torch.ones_like(x), torch.ones_like(x))


def canonical_signs(vectors: Tensor) -> Tensor:
    """``(B, C, k)`` vectors with each one's largest-magnitude entry made positive (the teacher's sign
    convention; the first such entry where several tie)."""
    top = vectors.abs().argmax(dim=1, keepdim=True)
    return vectors * _nonzero_sign(torch.gather(vectors, 1, top)).detach()


def align(s_vectors: Tensor, t_vectors: Tensor) -> Tensor:
    """For each teacher vector (``(B, C, k)``), the student candidate (``(B, C, k')``) of largest absolute
    cosine (the first where several tie), its sign flipped where the cosine is negative: ``(B, C, k)``."""
    cosine = s_vectors.transpose(1, 2) @ t_vectors  # (B, k', k)
    best = cosine.abs().argmax(dim=1, keepdim=True)  # (B, 1, k)
    picked = torch.gather(s_vectors, 2, best.expand(-1, s_vectors.shape[1], -1))
    return picked * _nonzero_sign(torch.gather(cosine, 1, best)).detach()


def rbf(a: Tensor, b: Tensor, sigma: float = 8.0) -> Tensor:
    """``G[:, i, j, l] = exp(-(a[:, i, l] - b[:, j, l])^2 / sigma)`` of ``(B, Ca, k)`` and ``(B, Cb, k)``."""
    return torch.exp(-(a.unsqueeze(2) - b.unsqueeze(1)).pow(2) / sigma)


def kdsvd_from_vectors(
    s_vectors: Sequence[Tensor], t_vectors: Sequence[Tensor], t_values: Sequence[Tensor], sigma: float = 8.0
) -> Tensor:
    """The KD-SVD loss from decompositions: per map the student's candidate vectors ``(B, C, k')``, the
    teacher's vectors ``(B, C, k)`` and singular values ``(B, k)``; :func:`align` the student to the
    teacher (:func:`canonical_signs`), scale both by the teacher's values over their norm, and sum
    ``(G_s - G_t)^2`` (:func:`rbf`) over every consecutive pair of maps, divided by the batch size."""
    if not len(s_vectors) == len(t_vectors) == len(t_values) >= 2:
        raise ValueError("KD-SVD needs the decompositions of at least two maps of each side")
    sides: list[tuple[Tensor, Tensor]] = []
    for s_vec, t_vec, t_val in zip(s_vectors, t_vectors, t_values, strict=True):
        t_vec = canonical_signs(t_vec.detach())
        weight = (t_val / t_val.norm(dim=1, keepdim=True).clamp_min(1e-30)).detach().unsqueeze(1)
        sides.append((align(s_vec, t_vec) * weight, t_vec * weight))
    total = torch.zeros((), dtype=sides[0][0].dtype, device=sides[0][0].device)
    for (sa, ta), (sb, tb) in pairwise(sides):
        total = total + (rbf(sa, sb, sigma) - rbf(ta, tb, sigma)).pow(2).sum()
    return total / s_vectors[0].shape[0]


def kdsvd(
    s_maps: Sequence[Tensor], t_maps: Sequence[Tensor], k: int = 1, candidates: int = 1, sigma: float = 8.0
) -> Tensor:
    """The KD-SVD loss of the student's maps and the teacher's (two or more per side, in order; map ``i``
    of the student with the teacher's channels ``C_i``): the ``k`` leading right singular vectors of each
    (:func:`leading_right_singular` of :func:`as_matrix`; ``k`` is capped by the smallest ``min(N, C)``),
    the student's ``k + candidates``, then :func:`kdsvd_from_vectors`."""
    if len(s_maps) != len(t_maps) or len(s_maps) < 2:
        raise ValueError(f"KD-SVD reads two or more maps per side, got {len(s_maps)} and {len(t_maps)}")
    s_mats, t_mats = [as_matrix(x) for x in s_maps], [as_matrix(x.detach()) for x in t_maps]
    for s_mat, t_mat in zip(s_mats, t_mats, strict=True):
        if s_mat.shape[0] != t_mat.shape[0] or s_mat.shape[2] != t_mat.shape[2]:
            raise ValueError(
                f"KD-SVD needs student and teacher maps of one batch and channel count, got "
                f"{tuple(s_mat.shape)} and {tuple(t_mat.shape)} (positions x channels)"
            )
    kept = min(k, *(min(m.shape[1:]) for m in (*s_mats, *t_mats)))
    with torch.no_grad():
        t_decomposed = [leading_right_singular(m, kept) for m in t_mats]
    s_vectors = [leading_right_singular(m, min(kept + candidates, *m.shape[1:]))[0] for m in s_mats]
    return kdsvd_from_vectors(s_vectors, [v for v, _ in t_decomposed], [s for _, s in t_decomposed], sigma)


def _channel_connector(s_shape: Shape, t_shape: Shape) -> nn.Module:
    """Identity where the student's channels (vector size) are the teacher's, else a 1x1 convolution and
    BN (maps; :func:`~kdtaxonomy.losses.base.connector`) or a linear map without bias (vectors)."""
    if len(s_shape) != len(t_shape):
        raise ValueError(f"KD-SVD pairs two maps or two vectors, got shapes {s_shape} and {t_shape}")
    if s_shape[0] == t_shape[0]:
        return nn.Identity()
    if len(t_shape) == 1:
        return nn.Linear(s_shape[0], t_shape[0], bias=False)
    return connector(s_shape, t_shape, "KD-SVD")


@register(spec=KDSVDSpec, needs=(), inputs="features")
class KDSVD(DistillationLoss):
    """KD-SVD (Lee et al. 2018) on a location ``a&b`` (or ``a&b&c...``: each consecutive pair, as the
    authors sum over the consecutive stage outputs of VGG): :func:`kdsvd`. The paper's student keeps the
    teacher's channel widths; where a student map's channels differ, a trainable 1x1 convolution and BN map
    it to the teacher's first (not in the paper). The maps' spatial sizes may differ between student and
    teacher: the right singular vectors live in channel space."""

    params_model = KDSVDSpec
    config: KDSVDSpec

    def build(self) -> None:
        if len(self.s_shapes) < 2 or len(self.s_shapes) != len(self.t_shapes):
            raise ValueError(
                f"KD-SVD reads two or more maps per model ('a&b') and needs their shapes, got "
                f"s_shape={self.s_shapes} and t_shape={self.t_shapes}"
            )
        self.connectors = nn.ModuleList(
            [_channel_connector(s, t) for s, t in zip(self.s_shapes, self.t_shapes, strict=True)]
        )

    def forward(
        self,
        s: Maps,
        t: Maps | list[Tensor] | list[Maps],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        maps = (s,) if isinstance(s, Tensor) else tuple(s)
        if len(maps) != len(self.connectors):
            raise ValueError(f"this KD-SVD term reads {len(self.connectors)} maps per model, got {len(maps)}")
        t_maps = teacher_maps(t, len(maps))
        connected = [c(x) for c, x in zip(self.connectors, maps, strict=True)]
        c = self.config
        return kdsvd(connected, t_maps, c.k, c.candidates, c.sigma)
