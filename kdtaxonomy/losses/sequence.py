"""Token-level divergences for sequence / language-model distillation (forward and reverse KL, the
generalized JSD of GKD, the skew KLs of DistiLLM, total variation).

Conventions shared by every function here:

* logits are ``(B, T, V)`` (or ``(N, V)``); student and teacher have the same shape;
* ``mask`` is a boolean ``(B, T)`` (or ``(N,)``) tensor, True where a position counts (``None``: all
  count); positions are those of the logits, so for next-token targets shift first, e.g.
  ``mask_from_labels(labels[:, 1:])`` with ``logits[:, :-1]``. Masked-out positions are never read;
* with ``p_t = softmax(t / T)`` and ``p_s = softmax(s / T)`` per position, each function returns the
  **mean over the masked-in positions** of a per-position divergence, with no ``T^2`` factor
  (``scale_by_t2=True`` multiplies by ``T^2``); no position counting gives 0 (with a gradient path);
* the teacher is detached; computation is in float32 at least (float64 stays float64);
* teacher logits may be ``-inf`` (excluded tokens, ``p_t = 0``); student logits must be finite;
* positions are processed in chunks of ``chunk_size`` rows (default: about ``CHUNK_ELEMENTS`` elements
  of ``(rows, V)`` per chunk) and, when the student needs a gradient and there is more than one chunk,
  with activation checkpointing per chunk, so that no full ``(B*T, V)`` intermediate is kept for the
  backward pass (only the gradient of the student logits is full-sized).

``KL(p || q) = sum_v p_v (log p_v - log q_v)`` (Kullback & Leibler 1951, "On Information and
Sufficiency"), computed from log-probabilities; mixtures ``log(w a + (1 - w) b)`` are computed in log
space with ``torch.logaddexp`` (never the log of a sum of probabilities that can underflow).

These are not registered components: the registered losses (:mod:`kdtaxonomy.losses.base`) take
per-sample ``(B, ...)`` tensors without a token mask, and every registered loss must be used by a
catalog configuration.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any, ClassVar

import torch
import torch.nn.functional as F
from torch import Tensor, nn
from torch.utils.checkpoint import checkpoint

CHUNK_ELEMENTS = 1 << 22
"""Target number of elements of one chunk's ``(rows, V)`` intermediates (the default ``chunk_size`` is
``max(1, CHUNK_ELEMENTS // V)`` rows)."""

RowDivergence = Callable[[Tensor, Tensor], Tensor]
"""``(log_ps, log_pt)``, both ``(rows, V)`` -> the per-row divergence, ``(rows,)``."""


# --- helpers -----------------------------------------------------------------------------------------------


def mask_from_labels(labels: Tensor, ignore_index: int = -100) -> Tensor:
    """The boolean mask ``labels != ignore_index`` (True = the position counts), same shape as ``labels``."""
    return labels != ignore_index


def _log(w: float) -> float:
    return math.log(w) if w > 0 else -math.inf


def _kl(log_p: Tensor, log_q: Tensor) -> Tensor:
    """Per-row ``KL(p || q)``; entries with ``p_v = 0`` (``log p_v = -inf``) contribute exactly 0."""
    diff = torch.where(log_p > -math.inf, log_p - log_q, 0.0)
    return (log_p.exp() * diff).sum(dim=-1)


def _log_mix(log_a: Tensor, log_b: Tensor, w: float) -> Tensor:
    """``log(w a + (1 - w) b)`` elementwise from ``log a`` and ``log b``, for ``0 < w < 1``."""
    return torch.logaddexp(log_a + _log(w), log_b + _log(1.0 - w))


def _check_unit(name: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:  # also rejects NaN
        raise ValueError(f"{name} must be in [0, 1], got {value}")


def _check_common(temperature: float, chunk_size: int | None) -> None:
    if not (temperature > 0 and math.isfinite(temperature)):
        raise ValueError(f"temperature must be a finite number > 0, got {temperature}")
    if chunk_size is not None and chunk_size < 1:
        raise ValueError(f"chunk_size must be >= 1 (or None for the default), got {chunk_size}")


def _flatten(s_logits: Tensor, t_logits: Tensor, mask: Tensor | None) -> tuple[Tensor, Tensor, Tensor | None]:
    """Validated ``(R, V)`` student rows, detached teacher rows and the ``(R,)`` mask (None = all)."""
    if s_logits.shape != t_logits.shape:
        raise ValueError(
            f"s_logits and t_logits must have the same shape, got {tuple(s_logits.shape)} and "
            f"{tuple(t_logits.shape)}"
        )
    if s_logits.dim() not in (2, 3) or s_logits.shape[-1] == 0:
        raise ValueError(
            f"expected logits of shape (B, T, V) or (N, V) with V >= 1, got {tuple(s_logits.shape)}"
        )
    v = s_logits.shape[-1]
    s, t = s_logits.reshape(-1, v), t_logits.detach().reshape(-1, v)
    if mask is None:
        return s, t, None
    if mask.shape != s_logits.shape[:-1]:
        raise ValueError(
            f"mask must have shape {tuple(s_logits.shape[:-1])} (the logits' shape without V), got "
            f"{tuple(mask.shape)}"
        )
    if mask.dtype != torch.bool:
        raise ValueError(
            f"mask must be a boolean tensor (True = the position counts), got dtype {mask.dtype}; "
            "use mask_from_labels(labels) for labels with ignore_index -100"
        )
    keep = mask.reshape(-1).to(s.device)
    return s, t, None if bool(keep.all()) else keep


def _chunk_sum(
    s_rows: Tensor, t_rows: Tensor, div: RowDivergence, temperature: float, dtype: torch.dtype
) -> Tensor:
    """Sum of the per-row divergences of one chunk of rows."""
    s_rows, t_rows = s_rows.to(dtype), t_rows.to(dtype)
    if temperature != 1.0:
        s_rows, t_rows = s_rows / temperature, t_rows / temperature
    return div(F.log_softmax(s_rows, dim=-1), F.log_softmax(t_rows, dim=-1)).sum()


def _token_mean(
    div: RowDivergence | None,
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None,
    temperature: float,
    scale_by_t2: bool,
    chunk_size: int | None,
) -> Tensor:
    """Mean of ``div`` over the masked-in positions, chunked (``div=None``: the divergence is 0)."""
    _check_common(temperature, chunk_size)
    s, t, keep = _flatten(s_logits, t_logits, mask)
    dtype = torch.promote_types(s.dtype, torch.float32)
    rows = None if keep is None else keep.nonzero().squeeze(1)
    n = s.shape[0] if rows is None else rows.numel()
    if n == 0 or div is None:
        return s[:0].to(dtype).sum()  # exactly 0, connected to the student (zero gradient)
    size = chunk_size if chunk_size is not None else max(1, CHUNK_ELEMENTS // s.shape[1])
    grad = torch.is_grad_enabled() and s.requires_grad
    if rows is not None:  # gathered once: the chunks below are views, whose backward is one concatenation
        s, t = s.index_select(0, rows), t.index_select(0, rows)
    total = s.new_zeros((), dtype=dtype)
    # split outside the checkpoints: slicing the whole tensor inside one would allocate a full-size
    # gradient per chunk in the backward pass (work quadratic in the positions)
    for s_rows, t_rows in zip(torch.split(s, size), torch.split(t, size), strict=True):
        if grad and size < n:
            part: Tensor = checkpoint(
                _chunk_sum, s_rows, t_rows, div, temperature, dtype, use_reentrant=False
            )
        else:
            part = _chunk_sum(s_rows, t_rows, div, temperature, dtype)
        total = total + part
    value = total / n
    return value * (temperature * temperature) if scale_by_t2 else value


# --- per-row divergences -----------------------------------------------------------------------------------


def _row_forward_kl(log_ps: Tensor, log_pt: Tensor) -> Tensor:
    return _kl(log_pt, log_ps)


def _row_reverse_kl(log_ps: Tensor, log_pt: Tensor) -> Tensor:
    return _kl(log_ps, log_pt)


def _row_total_variation(log_ps: Tensor, log_pt: Tensor) -> Tensor:
    return 0.5 * (log_pt.exp() - log_ps.exp()).abs().sum(dim=-1)


def _row_jsd(beta: float) -> RowDivergence:
    def row(log_ps: Tensor, log_pt: Tensor) -> Tensor:
        log_m = _log_mix(log_pt, log_ps, beta)
        return beta * _kl(log_pt, log_m) + (1.0 - beta) * _kl(log_ps, log_m)

    return row


def _row_skew_kl(alpha: float) -> RowDivergence:
    def row(log_ps: Tensor, log_pt: Tensor) -> Tensor:
        return _kl(log_pt, _log_mix(log_pt, log_ps, alpha))

    return row


def _row_skew_reverse_kl(alpha: float) -> RowDivergence:
    def row(log_ps: Tensor, log_pt: Tensor) -> Tensor:
        return _kl(log_ps, _log_mix(log_ps, log_pt, alpha))

    return row


# --- functional forms --------------------------------------------------------------------------------------


def forward_kl(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Token-level forward KL, ``mean_{masked positions} KL(p_t || p_s)`` (Kullback & Leibler 1951; the
    word-level soft-target loss of Hinton et al. 2015 applied per token, without its ``T^2``)."""
    return _token_mean(_row_forward_kl, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


def reverse_kl(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Token-level reverse KL, ``mean_{masked positions} KL(p_s || p_t)`` (mode-seeking; the direction
    advocated by MiniLLM, Gu, Dong, Wei & Huang 2024, "Knowledge Distillation of Large Language Models",
    ICLR, which optimises it at sequence level). Infinite where the student puts mass on a token whose
    teacher logit is ``-inf``."""
    return _token_mean(_row_reverse_kl, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


def generalized_jsd(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    beta: float = 0.5,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Generalized Jensen-Shannon divergence ``D_JSD(beta)`` of GKD: Agarwal et al. 2024, "On-Policy
    Distillation of Language Models: Learning from Self-Generated Mistakes" (ICLR; arXiv:2306.13649).

    For ``0 < beta < 1``, with ``m = beta p_t + (1 - beta) p_s`` (``log m`` by ``logaddexp``), the mean over
    masked positions of ``beta KL(p_t || m) + (1 - beta) KL(p_s || m)``; ``beta = 0`` is exactly
    :func:`forward_kl` and ``beta = 1`` exactly :func:`reverse_kl` (the convention of TRL's
    ``GKDTrainer.generalized_jsd_loss``). The endpoints are a switch, not a continuous limit: the
    interior formula tends to 0 at both ends (``D_JSD(beta) / beta -> KL(p_t || p_s)`` as ``beta -> 0``).
    """
    _check_unit("beta", beta)
    if beta == 0.0:
        div: RowDivergence = _row_forward_kl
    elif beta == 1.0:
        div = _row_reverse_kl
    else:
        div = _row_jsd(beta)
    return _token_mean(div, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


def skew_kl(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    alpha: float = 0.1,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Skew KL (SKL) of DistiLLM: Ko, Kim, Chen & Yun 2024, "DistiLLM: Towards Streamlined Distillation
    for Large Language Models" (ICML; arXiv:2402.03898): ``mean KL(p_t || alpha p_t + (1 - alpha) p_s)``.

    ``alpha = 0`` is exactly :func:`forward_kl`, ``alpha = 1`` gives 0. DistiLLM's code
    (``skewed_forward_kl``) drops the teacher-entropy term (a cross-entropy, same student gradient);
    here the full KL is returned, so the value is 0 when the student matches the teacher.
    """
    _check_unit("alpha", alpha)
    div = None if alpha == 1.0 else _row_forward_kl if alpha == 0.0 else _row_skew_kl(alpha)
    return _token_mean(div, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


def skew_reverse_kl(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    alpha: float = 0.1,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Skew reverse KL (SRKL) of DistiLLM (Ko et al. 2024, ICML):
    ``mean KL(p_s || alpha p_s + (1 - alpha) p_t)``; ``alpha = 0`` is exactly :func:`reverse_kl`,
    ``alpha = 1`` gives 0. Finite even where the teacher logit is ``-inf`` (for ``alpha > 0``)."""
    _check_unit("alpha", alpha)
    div = None if alpha == 1.0 else _row_reverse_kl if alpha == 0.0 else _row_skew_reverse_kl(alpha)
    return _token_mean(div, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


def total_variation(
    s_logits: Tensor,
    t_logits: Tensor,
    mask: Tensor | None = None,
    temperature: float = 1.0,
    *,
    scale_by_t2: bool = False,
    chunk_size: int | None = None,
) -> Tensor:
    """Token-level total variation distance, ``mean_{masked positions} 1/2 sum_v |p_t,v - p_s,v|`` (in
    [0, 1]; one of the baselines in DistiLLM's code, ``tv_distance``)."""
    return _token_mean(_row_total_variation, s_logits, t_logits, mask, temperature, scale_by_t2, chunk_size)


# --- module forms ------------------------------------------------------------------------------------------


class _TokenDivergence(nn.Module):
    """Base of the module forms: parameters fixed in ``__init__``, ``forward(s_logits, t_logits, mask)``."""

    divergence: ClassVar[Callable[..., Tensor]]

    def __init__(self, temperature: float = 1.0, *, scale_by_t2: bool = False, chunk_size: int | None = None):
        super().__init__()
        _check_common(temperature, chunk_size)
        self.params: dict[str, Any] = {
            "temperature": float(temperature),
            "scale_by_t2": bool(scale_by_t2),
            "chunk_size": chunk_size,
        }

    def forward(self, s_logits: Tensor, t_logits: Tensor, mask: Tensor | None = None) -> Tensor:
        return type(self).divergence(s_logits, t_logits, mask, **self.params)

    def extra_repr(self) -> str:
        return ", ".join(f"{k}={v}" for k, v in self.params.items())


class TokenForwardKL(_TokenDivergence):
    """Module form of :func:`forward_kl`."""

    divergence = staticmethod(forward_kl)


class TokenReverseKL(_TokenDivergence):
    """Module form of :func:`reverse_kl`."""

    divergence = staticmethod(reverse_kl)


class TokenTotalVariation(_TokenDivergence):
    """Module form of :func:`total_variation`."""

    divergence = staticmethod(total_variation)


class GeneralizedJSD(_TokenDivergence):
    """Module form of :func:`generalized_jsd` (GKD, Agarwal et al. 2024)."""

    divergence = staticmethod(generalized_jsd)

    def __init__(
        self,
        beta: float = 0.5,
        temperature: float = 1.0,
        *,
        scale_by_t2: bool = False,
        chunk_size: int | None = None,
    ):
        _check_unit("beta", beta)
        super().__init__(temperature, scale_by_t2=scale_by_t2, chunk_size=chunk_size)
        self.params = {"beta": float(beta), **self.params}


class SkewKL(_TokenDivergence):
    """Module form of :func:`skew_kl` (DistiLLM, Ko et al. 2024)."""

    divergence = staticmethod(skew_kl)

    def __init__(
        self,
        alpha: float = 0.1,
        temperature: float = 1.0,
        *,
        scale_by_t2: bool = False,
        chunk_size: int | None = None,
    ):
        _check_unit("alpha", alpha)
        super().__init__(temperature, scale_by_t2=scale_by_t2, chunk_size=chunk_size)
        self.params = {"alpha": float(alpha), **self.params}


class SkewReverseKL(SkewKL):
    """Module form of :func:`skew_reverse_kl` (DistiLLM, Ko et al. 2024)."""

    divergence = staticmethod(skew_reverse_kl)
