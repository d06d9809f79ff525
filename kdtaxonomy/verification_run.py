"""Verification metrics of trained models for datasets whose ``info["evaluation"]`` is ``"verification"``.

Every model embeds the test split at its ``embedding`` location (the model's ``locations``, else the input
of its last ``nn.Linear``: :mod:`kdtaxonomy.locations`); trials from one fixed, seeded trial list
(:func:`kdtaxonomy.verification.trial_list` over the test labels, e.g. speakers) are scored by the cosine of
the two embeddings, as in seed paper 003, and summarised by the EER (ROCCH, in %) and the minimum normalised DCF
(NIST SRE). The trial list does not depend on the run seed, so runs and models are scored on the same
trials.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn

from kdtaxonomy.data import ArrayData, model_input
from kdtaxonomy.hooks import FeatureTap
from kdtaxonomy.locations import EMBEDDING, resolve_role
from kdtaxonomy.verification import Trials, trial_list, verification_report

TRIALS = 10_000
"""Trials asked for (half target); fewer when the test split holds fewer pairs of a kind."""
TRIAL_SEED = 0
"""Seed of the trial list (fixed: the same trials for every run seed and every model)."""
P_TARGET, C_MISS, C_FA = 0.01, 1.0, 1.0
"""Operating point of the minimum DCF (the NIST SRE 2016 primary parameters, one of its two priors)."""


@torch.no_grad()
def embeddings(
    model: nn.Module, data: ArrayData, view: str, device: torch.device, batch_size: int = 512
) -> np.ndarray[Any, np.dtype[np.float64]]:
    """The ``embedding`` of every row of ``data`` (flattened per row), as float64 ``(N, D)``."""
    path = resolve_role(model, None, [EMBEDDING], "model")[EMBEDDING].path
    model.eval()
    rows: list[torch.Tensor] = []
    with FeatureTap(model, {EMBEDDING: path}) as tap:
        for start in range(0, len(data), batch_size):
            idx = torch.arange(start, min(start + batch_size, len(data)))
            batch = {"x": data.x[idx].to(device), **{k: v[idx].to(device) for k, v in data.views.items()}}
            model(model_input(batch, view))
            rows.append(tap.features[EMBEDDING].detach().flatten(1).double().cpu())
    return torch.cat(rows).numpy()


def fixed_trials(labels: torch.Tensor) -> Trials:
    """The fixed trial list over the test labels (up to :data:`TRIALS`, half target)."""
    y = labels.cpu().numpy()
    counts = np.unique(y, return_counts=True)[1]
    targets = int((counts * (counts - 1) // 2).sum())
    non_targets = len(y) * (len(y) - 1) // 2 - targets
    n = min(TRIALS, 2 * min(targets, non_targets))
    return trial_list(y, n, TRIAL_SEED)


def verification_metrics(
    models: dict[str, tuple[nn.Module, ArrayData, str] | None], device: torch.device
) -> dict[str, Any]:
    """``<name>_eer`` (%) and ``<name>_min_dcf`` of every named ``(model, test data, view)`` (``None``
    values for a missing model or one without an embedding), and a ``verification`` description."""
    out: dict[str, Any] = {}
    notes: dict[str, str] = {}
    trials: Trials | None = None
    for name, entry in models.items():
        out[f"{name}_eer"] = out[f"{name}_min_dcf"] = None
        if entry is None:
            continue
        model, data, view = entry
        trials = trials or fixed_trials(data.y)
        try:
            report = verification_report(
                embeddings(model, data, view, device), trials, P_TARGET, C_MISS, C_FA
            )
        except (ValueError, KeyError) as exc:
            notes[name] = str(exc)
            continue
        out[f"{name}_eer"] = 100.0 * report["eer"]
        out[f"{name}_min_dcf"] = report["min_dcf"]
    out["verification"] = {
        "trials": 0 if trials is None else len(trials),
        "target_trials": 0 if trials is None else int(trials.is_target.sum()),
        "trial_seed": TRIAL_SEED,
        "scoring": "cosine of the embeddings (the models' 'embedding' location) of the two test items",
        "eer": "ROC convex hull EER (Brummer & de Villiers, BOSARIS), in %",
        "min_dcf": {"p_target": P_TARGET, "c_miss": C_MISS, "c_fa": C_FA, "normalised": "NIST SRE"},
        **({"not_scored": notes} if notes else {}),
    }
    return out
