"""FT: factor transfer (Kim, Park, Kwak 2018, NeurIPS, "Paraphrasing Complex Network").

A paraphraser, a convolutional autoencoder trained without labels on the teacher's last feature map ``x``
with the reconstruction loss ``L_rec = ||x - P(x)||^2``, "paraphrases" it into *factors* (its encoder's
output, ``k`` times the teacher's channels for a paraphrase rate ``k``). A translator of convolutions on the
student's feature map gives the student's factors, and the student is trained with
``L_cls + beta * L_FT``, ``L_FT = ||F_T / ||F_T||_2 - F_S / ||F_S||_2||_p`` on the flattened factors
(``p = 1`` in the paper), the paraphraser fixed.
"""

from __future__ import annotations

import itertools

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from kdtaxonomy.losses.base import DistillationLoss, flat, match_spatial, require_shapes, teacher
from kdtaxonomy.registry import register
from kdtaxonomy.specs.losses import FactorTransferSpec

SLOPE = 0.1
"""Negative slope of the leaky ReLUs of the paraphraser and the translator (as RepDistiller's)."""


def factor_transfer(s_factor: Tensor, t_factor: Tensor, p: float = 1.0) -> Tensor:
    """FT loss ``L_FT`` (Kim et al. 2018, Sec. 3): ``(1/B) sum_b ||F_T,b / ||F_T,b||_2 - F_S,b / ||F_S,b||_2||_p``.

    Each sample's factor is flattened and L2-normalised (``F.normalize``, eps 1e-12); the ``p``-norm of the
    difference (not its ``p``-th power) is averaged over the batch. Factors are ``(B, C, *spatial)`` maps
    (where the spatial sizes differ the larger is adaptive-average-pooled to the smaller, as RepDistiller
    does) or ``(B, D)`` vectors; they need the same channels. RepDistiller's ``FactorTransfer`` differs: it
    reduces a factor to the channel mean of its squares before normalising and takes the element mean.
    """
    if s_factor.dim() > 2 or t_factor.dim() > 2:
        s_factor, t_factor = match_spatial(s_factor, t_factor)
    if s_factor.shape != t_factor.shape:
        raise ValueError(
            f"FT needs factors of one shape, got {tuple(s_factor.shape)} and {tuple(t_factor.shape)}"
        )
    diff = F.normalize(flat(s_factor), dim=1) - F.normalize(flat(t_factor), dim=1)
    norms: Tensor = torch.linalg.vector_norm(diff, ord=p, dim=1)
    return norms.mean()


def _conv(dims: int, c_in: int, c_out: int, *, transpose: bool = False) -> nn.Module:
    """A 3-tap (3x3) convolution, or transposed convolution, that keeps the spatial size."""
    if dims == 1:
        cls: type[nn.Module] = nn.ConvTranspose1d if transpose else nn.Conv1d
    else:
        cls = nn.ConvTranspose2d if transpose else nn.Conv2d
    return cls(c_in, c_out, kernel_size=3, stride=1, padding=1)


def _stack(dims: int, widths: list[int], *, transpose: bool = False, norm: bool = False) -> nn.Sequential:
    """Convolutions between consecutive ``widths``, each followed by (batch norm and) a leaky ReLU."""
    layers: list[nn.Module] = []
    for c_in, c_out in itertools.pairwise(widths):
        layers.append(_conv(dims, c_in, c_out, transpose=transpose))
        if norm:
            layers.append(nn.BatchNorm1d(c_out) if dims == 1 else nn.BatchNorm2d(c_out))
        layers.append(nn.LeakyReLU(SLOPE))
    return nn.Sequential(*layers)


@register(spec=FactorTransferSpec, needs=(), inputs="features")
class FactorTransfer(DistillationLoss):
    """FT (Kim et al. 2018) owning the paraphraser and the translator (maps only, 1-D or 2-D).

    Paraphraser (on the teacher's ``C`` channels, factors of ``c = max(1, int(k C))`` channels): encoder of
    three convolutions ``C -> C -> c -> c``, decoder of three transposed convolutions ``c -> c -> C -> C``,
    each with a leaky ReLU (slope 0.1), no batch norm. Translator (student's ``C_s`` channels):
    ``C_s -> C_s -> c -> c`` convolutions with batch norm and leaky ReLU. The reconstruction loss is the mean
    squared error of the decoder output (the paper's ``||x - P(x)||^2`` up to a constant factor).

    The paper trains the paraphraser first and then keeps it fixed. With ``paraphraser_epochs`` (and the
    distiller's progress) the term returns only the reconstruction loss until then and afterwards only
    ``L_FT`` with the paraphraser frozen; with the transfer's ``hint_epochs`` equal, nothing else trains in
    the first phase. The phase shares the student's optimizer, learning-rate schedule and step budget, and
    the reconstruction is scaled by the term's weight. With ``paraphraser_epochs = 0`` (or no progress) the
    term returns ``L_FT`` (teacher factors detached) plus the reconstruction loss: the paraphraser is trained
    alongside the student, a simplification of the separate pre-training.
    """

    params_model = FactorTransferSpec
    config: FactorTransferSpec
    progress: float | None = None

    def build(self) -> None:
        require_shapes(self)
        s_shape, t_shape = self.s_shape, self.t_shape
        if len(s_shape) != len(t_shape) or len(t_shape) not in (2, 3):
            raise ValueError(f"FT needs two 1-D or two 2-D feature maps, got shapes {s_shape} and {t_shape}")
        dims, c_s, c_t = len(t_shape) - 1, s_shape[0], t_shape[0]
        c_f = max(1, int(self.config.factor_rate * c_t))
        self.encoder = _stack(dims, [c_t, c_t, c_f, c_f])
        self.decoder = _stack(dims, [c_f, c_f, c_t, c_t], transpose=True)
        self.translator = _stack(dims, [c_s, c_s, c_f, c_f], norm=True)

    def set_progress(self, epochs: float) -> None:
        """Epochs of training elapsed at the end of the coming step (fractional)."""
        self.progress = float(epochs)

    def phase(self) -> str:
        """``joint`` (no paraphraser phase or no progress), ``paraphraser`` (within it) or ``transfer``."""
        n = self.config.paraphraser_epochs
        if n <= 0 or self.progress is None:
            return "joint"
        return "paraphraser" if self.progress <= n else "transfer"

    def reconstruction(self, t_feat: Tensor) -> tuple[Tensor, Tensor]:
        """The teacher's factors and the paraphraser's reconstruction loss (mean squared error)."""
        factors: Tensor = self.encoder(t_feat)
        return factors, F.mse_loss(self.decoder(factors), t_feat)

    def forward(
        self,
        s: Tensor,
        t: Tensor | list[Tensor],
        *,
        targets: Tensor | None = None,
        indices: Tensor | None = None,
    ) -> Tensor:
        t = teacher(t)
        phase = self.phase()
        if phase == "paraphraser":
            return self.reconstruction(t)[1]
        if phase == "transfer":
            with torch.no_grad():
                t_factors: Tensor = self.encoder(t)
            return factor_transfer(self.translator(s), t_factors, self.config.p)
        t_factors, rec = self.reconstruction(t)
        return factor_transfer(self.translator(s), t_factors.detach(), self.config.p) + rec
