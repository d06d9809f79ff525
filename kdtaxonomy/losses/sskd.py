"""SSKD: Xu, Liu, Li & Loy 2020, "Knowledge Distillation Meets Self-Supervision" (ECCV; arXiv 2006.07114).

Every sample ``x_i`` of a batch of ``B`` gets ``M`` transformed copies ``T_m(x_i)`` (the paper rotates
images). A self-supervision head ``phi`` (two linear layers with a ReLU, on the model's embedding) gives
each model the ``(M B, B)`` matrix ``A[r, j] = cos(phi(f(x~_r)), phi(f(x_j)))`` between the transformed
samples ``x~_r`` (row ``r = m B + i`` holds ``T_m(x_i)``) and the normal ones. The teacher's head is
trained first, the backbone frozen, by contrastive prediction: each row's positive is column ``i``, the
sample it was made from (cross-entropy over the row). The student, with its own head, learns from

* ``L_ss = tau^2 mean_{r in S} KL(softmax(A^t_r / tau) || softmax(A^s_r / tau))``,
* ``L_T = T^2 mean_{r in S_T} KL(softmax(z^t(x~_r) / T) || softmax(z^s(x~_r) / T))`` (the teacher's soft
  labels on the transformed samples),

next to KD on the normal samples and the cross-entropy (separate terms of the recipe). Both sums run over a
selection of rows (the paper's selective transfer of the teacher's noisy predictions): a row's error rank is
the number of entries the teacher scores strictly above the true one (the positive column for ``L_ss``, the
label for ``L_T``); rows of rank 0 are all kept, of the others the ``int(ratio * wrong)`` of the smallest
rank (ties by row order). The exact forms, weights and temperatures (``10 L_ss + 2.7 L_T``, ``tau = 0.5``,
``T = 4``, ratios 0.75 and 1.0) are those of the authors' released code (``student.py``) and of
torchdistill's ``SSKDLoss``, which these functions follow (the paper's equations were not at hand).
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping, Sequence

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, Maps, flat, kl_rows, numel, require, teacher_maps
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import SSKDSpec

Transform = Callable[[Tensor], Tensor]
ViewReader = Callable[[Mapping[str, Tensor], Transform], Maps]
"""``(batch, transform) -> maps``: one model's maps at the term's location on the batch's input transformed
(bound by the distiller, :meth:`SSKD.bind_views`)."""


def transform_one(x: Tensor, name: str) -> Tensor:
    """One named transformation of a ``(B, C, L)`` or ``(B, C, H, W)`` batch (see ``SSKDTransform``)."""
    if name == "reverse":
        return x.flip(-1)
    if name == "negate":
        return -x
    if name == "reverse-negate":
        return -x.flip(-1)
    if name.startswith("rotate") and x.dim() == 4:
        k = {"rotate90": 1, "rotate180": 2, "rotate270": 3}[name]
        if k % 2 and x.shape[-1] != x.shape[-2]:
            raise ValueError(f"SSKD's {name} needs square images, got {tuple(x.shape[-2:])}")
        return torch.rot90(x, k, dims=(-2, -1))
    raise ValueError(f"SSKD's transformation {name!r} does not apply to inputs of shape {tuple(x.shape)}")


def apply_transforms(x: Tensor, names: Sequence[str]) -> Tensor:
    """The ``M`` transformed copies of a batch, ``(M B, ...)``, transformation-major (row ``m B + i``)."""
    return torch.cat([transform_one(x, name) for name in names])


def ss_similarity(transformed: Tensor, normal: Tensor) -> Tensor:
    """``A[r, j] = cos(transformed_r, normal_j)``, ``(R, B)``, of two sets of head outputs ``(R, D)``,
    ``(B, D)`` (each row L2-normalised with ``F.normalize``, eps 1e-12)."""
    return F.normalize(transformed, dim=1) @ F.normalize(normal, dim=1).T


def positives(rows: int, batch: int) -> Tensor:
    """The positive column of every transformed row: ``r mod B`` (row ``m B + i`` was made from sample
    ``i``)."""
    return torch.arange(rows) % batch


def error_rank(scores: Tensor, target: Tensor) -> Tensor:
    """Per row, how many entries of ``scores`` ``(R, K)`` are strictly above the ``target`` entry (0: the
    target is the top-1, ties counting in its favour)."""
    picked = scores.gather(1, target.reshape(-1, 1).long())
    return (scores > picked).sum(dim=1)


def selected_rows(scores: Tensor, target: Tensor, ratio: float) -> Tensor:
    """The selective transfer's rows, ascending: every row whose ``target`` is ranked first and, of the
    ``n`` others, the ``int(ratio * n)`` of the smallest :func:`error_rank` (ties by row order)."""
    rank = error_rank(scores.detach(), target.to(scores.device))
    wrong = int((rank > 0).sum())
    keep = rank.numel() - wrong + int(wrong * ratio)
    order = torch.sort(rank, stable=True).indices
    return torch.sort(order[:keep]).values


def contrastive_prediction(sim: Tensor, temperature: float = 1.0) -> Tensor:
    """The teacher head's self-supervision loss: the mean over the ``(M B, B)`` rows of the cross-entropy
    of ``softmax(A_r / temperature)`` against the row's positive (:func:`positives`)."""
    target = positives(sim.shape[0], sim.shape[1]).to(sim.device)
    return F.cross_entropy(sim / temperature, target)


def _selected_kd(
    s_scores: Tensor, t_scores: Tensor, target: Tensor, temperature: float, ratio: float
) -> Tensor:
    """``T^2`` times the mean KL of the tempered distributions over the :func:`selected_rows` (0 if none)."""
    rows = selected_rows(t_scores, target, ratio)
    if rows.numel() == 0:
        return s_scores.sum() * 0.0
    tau = temperature
    kl = kl_rows(F.log_softmax(t_scores[rows] / tau, dim=1), F.log_softmax(s_scores[rows] / tau, dim=1))
    return tau * tau * kl.mean()


def sskd_similarity(s_sim: Tensor, t_sim: Tensor, temperature: float = 0.5, ratio: float = 0.75) -> Tensor:
    """``L_ss``: ``tau^2`` times the mean over the selected rows of ``KL(softmax(A^t_r / tau) ||
    softmax(A^s_r / tau))``, rows selected by the teacher's rank of the positive column."""
    target = positives(t_sim.shape[0], t_sim.shape[1])
    return _selected_kd(s_sim, t_sim, target, temperature, ratio)


def sskd_transform(
    s_logits: Tensor, t_logits: Tensor, targets: Tensor, temperature: float = 4.0, ratio: float = 1.0
) -> Tensor:
    """``L_T``: ``T^2`` times the mean over the selected transformed samples of ``KL(softmax(z^t / T) ||
    softmax(z^s / T))``, rows selected by the teacher's rank of the ground-truth label ``targets``."""
    return _selected_kd(s_logits, t_logits, targets, temperature, ratio)


def ss_head(dim: int) -> nn.Sequential:
    """A self-supervision head on a ``dim``-wide embedding: ``Linear(dim, dim)``, ReLU, ``Linear(dim, dim)``
    (the authors' ``proj_head``)."""
    return nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Linear(dim, dim))


def _pair(maps: Maps | list[Maps], side: str) -> tuple[Tensor, Tensor]:
    """The (embedding, logits) maps of one side of the term (location ``embedding&output``)."""
    if isinstance(maps, Tensor) or len(maps) != 2:
        raise ValueError(
            f"SSKD reads two maps of the {side}, the embedding and the logits (embedding&output)"
        )
    emb, logits = maps
    if not isinstance(emb, Tensor) or not isinstance(logits, Tensor):
        raise TypeError(f"SSKD reads one model's maps on the {side} side, got a list of several")
    return emb, logits


@register(spec=SSKDSpec, needs=("targets", "batch"), inputs="embeddings")
class SSKD(DistillationLoss):
    """SSKD (Xu et al. 2020) owning both self-supervision heads; reads ``embedding&output`` of each model.

    The transformed copies are made here (``transforms``) and both models are forwarded on them through the
    readers the distiller binds (:meth:`bind_views`; the teacher without gradients); the normal samples'
    maps are the term's inputs. The term returns ``ss_weight * L_ss + transform_weight * L_T``. With
    ``head_epochs`` (and the distiller's progress) it returns only the teacher head's contrastive loss until
    then (the paper's separate pre-training, within the student's budget and optimiser), and afterwards only
    the student's terms with the teacher's head frozen; with ``head_epochs = 0`` (or no progress) the head's
    loss is added throughout and ``L_ss`` reads its similarities detached. The student's head learns through
    ``L_ss``. Separate forwards mean that batch normalisation sees the normal and the transformed samples in
    separate batches (the authors' code stacks them into one).
    """

    params_model = SSKDSpec
    config: SSKDSpec
    progress: float | None = None

    def build(self) -> None:
        if len(self.s_shapes) != 2 or len(self.t_shapes) != 2:
            raise ValueError(
                "SSKD reads two maps per model, the embedding and the logits (location embedding&output), "
                f"and needs their shapes; got {self.s_shapes} and {self.t_shapes}"
            )
        self.student_head = ss_head(numel(self.s_shapes[0]))
        self.teacher_head = ss_head(numel(self.t_shapes[0]))
        self.student_views: ViewReader | None = None
        self.teacher_views: ViewReader | None = None

    def bind_views(self, student: ViewReader, teacher: ViewReader) -> None:
        """The readers of the student's maps (with gradients) and the frozen teacher's (without) on a batch's
        transformed input (called by the :class:`~kdtaxonomy.pipeline.Distiller` when it builds the term)."""
        self.student_views, self.teacher_views = student, teacher

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def phase(self) -> str:
        """``joint`` (no head phase or no progress), ``head`` (within it) or ``student``."""
        n = self.config.head_epochs
        if n <= 0 or self.progress is None:
            return "joint"
        return "head" if self.progress <= n else "student"

    def teacher_similarity(self, transformed: Tensor, normal: Tensor) -> Tensor:
        """``A^t`` from the teacher's embeddings of the transformed and the normal samples."""
        return ss_similarity(self.teacher_head(flat(transformed)), self.teacher_head(flat(normal)))

    def forward(
        self,
        s: Tensor | Maps,
        t: Tensor | list[Tensor] | Maps | list[Maps],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
        batch: Mapping[str, Tensor] | None = None,
    ) -> Tensor:
        if self.student_views is None or self.teacher_views is None:
            raise ValueError(
                "SSKD forwards the models on transformed inputs itself: bind_views(student, teacher) first "
                "(the Distiller does)"
            )
        if batch is None:
            raise ValueError("this loss needs `batch` (pass batch=... to forward)")
        data, c = batch, self.config
        s_emb, _ = _pair(s, "student")
        t_emb, _ = teacher_maps(t, 2)
        transform = functools.partial(apply_transforms, names=c.transforms)
        t_emb_tf, t_logits_tf = teacher_maps(self.teacher_views(data, transform), 2)
        phase = self.phase()
        if phase == "head":
            return contrastive_prediction(self.teacher_similarity(t_emb_tf, t_emb), c.head_temperature)
        with torch.set_grad_enabled(phase == "joint" and torch.is_grad_enabled()):
            t_sim = self.teacher_similarity(t_emb_tf, t_emb)
        s_emb_tf, s_logits_tf = _pair(self.student_views(data, transform), "student")
        s_sim = ss_similarity(self.student_head(flat(s_emb_tf)), self.student_head(flat(s_emb)))
        y = require(targets, "targets").repeat(len(c.transforms))
        loss = c.ss_weight * sskd_similarity(s_sim, t_sim.detach(), c.ss_temperature, c.ss_ratio)
        loss = loss + c.transform_weight * sskd_transform(
            s_logits_tf, t_logits_tf, y, c.transform_temperature, c.transform_ratio
        )
        if phase == "joint":
            loss = loss + contrastive_prediction(t_sim, c.head_temperature)
        return loss
