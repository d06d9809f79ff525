"""Reading intermediate features through forward hooks on named modules (model code is never edited)."""

from __future__ import annotations

from collections.abc import Mapping
from types import TracebackType
from typing import Any

from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

OUTPUT = "output"
"""The location name of a model's logits (its forward output)."""
INPUT = ":input"
"""Suffix of a module path whose *input* (not output) is read: ``"fc:input"``."""


def module_path(path: str) -> tuple[str, bool]:
    """``"fc:input"`` -> ``("fc", True)``; ``"features"`` -> ``("features", False)``."""
    return (path[: -len(INPUT)], True) if path.endswith(INPUT) else (path, False)


def resolve_locations(model: nn.Module, locations: Mapping[str, str] | None = None) -> dict[str, str]:
    """Location name -> submodule path: the model's own ``locations`` updated by ``locations``."""
    found: dict[str, str] = dict(getattr(model, "locations", {}) or {})
    found.update(locations or {})
    return found


class FeatureTap:
    """Context manager capturing the outputs of named submodules during forward passes.

    ``tap.features[name]`` holds the latest output of the submodule registered under ``name`` (its input
    for a path written ``"module:input"``).
    """

    def __init__(self, model: nn.Module, wanted: Mapping[str, str]) -> None:
        self.model = model
        self.wanted = dict(wanted)
        self.features: dict[str, Tensor] = {}
        self._handles: list[RemovableHandle] = []

    def __enter__(self) -> FeatureTap:
        names = dict(self.model.named_modules())
        for name, wanted in self.wanted.items():
            path, reads_input = module_path(wanted)
            if path not in names:
                known = ", ".join(n for n in names if n)[:400]
                raise KeyError(
                    f"location {name!r}: the model has no submodule {path!r} (submodules: {known})"
                )
            module = names[path]
            self._handles.append(
                module.register_forward_pre_hook(self._pre_hook(name))
                if reads_input
                else module.register_forward_hook(self._hook(name))
            )
        return self

    def _hook(self, name: str) -> Any:
        def hook(_module: nn.Module, _inputs: Any, output: Any) -> None:
            self.features[name] = output[0] if isinstance(output, tuple) else output

        return hook

    def _pre_hook(self, name: str) -> Any:
        def hook(_module: nn.Module, inputs: Any) -> None:
            self.features[name] = inputs[0] if isinstance(inputs, tuple) else inputs

        return hook

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles.clear()
