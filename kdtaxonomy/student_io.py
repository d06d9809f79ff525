"""Saving a distilled student with its provenance, and loading it back.

Layout: ``save_student(model, "out/student.safetensors")`` writes two files, each atomically:

* ``out/student.safetensors`` — the student's ``state_dict`` (``safetensors``, no pickle);
* ``out/student.safetensors.json`` — the sidecar (``<weights path>.json``): ``format``, the kdtaxonomy and
  torch versions, the weights' SHA-256, the recipe (when known: the catalogued method's resolved recipe), its
  hash (:meth:`Recipe.digest`), the registry model (key, params, input shape, number of classes) when the
  student was built by the registry (``build_model``, :func:`build_student`, the runner), the student's class and construction, and the metrics.

:func:`load_student` rebuilds a registry student from the sidecar (or loads the weights, strictly, into a
given module) and returns it in eval mode.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from kdtaxonomy.models.base import MODEL_ATTRIBUTE
from kdtaxonomy.yamlio import atomic_writer

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe

FORMAT = "kdtaxonomy-student/1"


def build_student(
    key: str, params: Mapping[str, Any] | None = None, *, input_shape: Sequence[int], num_classes: int
) -> nn.Module:
    """A registered architecture (``kdtax registry``, kind ``model``: ``cnn1d``, ``resnet8x4``, ...) for
    per-sample inputs of ``input_shape`` and ``num_classes`` classes, tagged with how to rebuild it (as every
    registry-built model is)."""
    from kdtaxonomy.models import build_model

    return build_model(key, dict(params or {}), input_shape=tuple(input_shape), num_classes=num_classes)


def sidecar_path(path: Path) -> Path:
    """The JSON sidecar of a weights file: ``<path>.json``."""
    return path.with_name(path.name + ".json")


def save_student(
    model: nn.Module,
    path: Path,
    *,
    recipe: Recipe | None = None,
    construction: str | None = None,
    metrics: Mapping[str, Any] | None = None,
) -> Path:
    """Write ``model``'s weights to ``path`` (safetensors) and the provenance sidecar ``<path>.json``."""
    from safetensors.torch import save

    import kdtaxonomy

    state = model.state_dict()
    bad = [k for k, v in state.items() if not isinstance(v, torch.Tensor)]
    if bad:
        raise ValueError(f"cannot save {type(model).__name__}: non-tensor state entries {bad}")
    # clones: safetensors refuses tensors that share storage (tied weights)
    payload = save({k: v.detach().to("cpu").contiguous().clone() for k, v in state.items()})
    path = Path(path)
    with atomic_writer(path, "wb") as handle:
        handle.write(payload)
    sidecar = {
        "format": FORMAT,
        "kdtaxonomy_version": kdtaxonomy.__version__,
        "torch_version": torch.__version__,
        "weights": path.name,
        "weights_sha256": hashlib.sha256(payload).hexdigest(),
        "method": None if recipe is None else {"entry": recipe.entry, "configuration": recipe.configuration},
        "recipe": None if recipe is None else recipe.model_dump(mode="json"),
        "recipe_hash": None if recipe is None else recipe.digest(),
        "model": getattr(model, MODEL_ATTRIBUTE, None),
        "student_class": f"{type(model).__module__}.{type(model).__qualname__}",
        "construction": construction,
        "metrics": _plain(dict(metrics or {})),
    }
    with atomic_writer(sidecar_path(path)) as handle:
        handle.write(json.dumps(sidecar, indent=2, sort_keys=False) + "\n")
    return path


def _plain(value: Any) -> Any:
    """JSON-safe metrics: tensors and numpy scalars become numbers, mappings and sequences recurse."""
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, torch.Tensor):
        return value.tolist()
    if hasattr(value, "item") and callable(value.item):
        return value.item()
    return value if isinstance(value, str | int | float | bool | type(None)) else str(value)


def read_sidecar(path: str | Path) -> dict[str, Any]:
    """The provenance sidecar of a saved student (``<path>.json``)."""
    side = sidecar_path(Path(path))
    if not side.is_file():
        raise FileNotFoundError(f"{side}: no sidecar next to {path} (was it written by Distiller.save?)")
    data: dict[str, Any] = json.loads(side.read_text(encoding="utf-8"))
    if data.get("format") != FORMAT:
        raise ValueError(f"{side}: format {data.get('format')!r} is not {FORMAT!r}")
    return data


def load_student(path: str | Path, module: nn.Module | None = None, *, device: str = "cpu") -> nn.Module:
    """A saved student, in eval mode: the registry model recorded in the sidecar, rebuilt, or ``module``
    (any architecture) with the weights loaded strictly; mismatched keys or shapes are a ``ValueError``."""
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no saved student")
    if module is None:
        spec = read_sidecar(path).get("model")
        if not spec:
            raise ValueError(
                f"{path}: the student was not built by the registry (kdtaxonomy.models.build_model); "
                "pass module= (an instance of its architecture) to load the weights into"
            )
        module = build_student(
            spec["key"], spec["params"], input_shape=spec["input_shape"], num_classes=spec["num_classes"]
        )
    state = load_file(str(path), device=device)
    own = module.state_dict()
    missing = sorted(set(own) - set(state))
    unexpected = sorted(set(state) - set(own))
    shapes = [
        f"{k} {tuple(state[k].shape)} in the file vs {tuple(own[k].shape)}"
        for k in sorted(set(own) & set(state))
        if state[k].shape != own[k].shape
    ]
    if missing or unexpected or shapes:
        parts = [
            f"missing keys {_short(missing)}" if missing else "",
            f"unexpected keys {_short(unexpected)}" if unexpected else "",
            f"shape mismatch {_short(shapes)}" if shapes else "",
        ]
        raise ValueError(f"{path} does not fit {type(module).__name__}: " + "; ".join(p for p in parts if p))
    module.load_state_dict(state, strict=True)
    return module.to(device).eval()


def _short(items: Sequence[str], limit: int = 4) -> str:
    shown = ", ".join(items[:limit])
    return shown + (f", ... ({len(items) - limit} more)" if len(items) > limit else "")
