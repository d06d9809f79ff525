"""Parameter specifications of registry components, importable without torch.

Every runnable component (loss, model, dataset, data-preparation transform, teacher setup, transfer method,
student construction) has a *spec*: a strict pydantic model of its parameters that also declares the
component's ``kind``, registry ``key`` and the vocabulary ``term`` it implements. Specs live here, away from
torch, so that loading the catalog (and ``kdtax validate``) checks every recipe's components and parameters
without importing torch. The torch implementation registers itself with ``@register(spec=TheSpec)``; a test
checks that every spec has exactly one implementation and vice versa.
"""

from __future__ import annotations

import difflib
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict


class Spec(BaseModel):
    """Base of component specs: strict, immutable parameter models that index themselves."""

    model_config = ConfigDict(extra="forbid", frozen=True, use_attribute_docstrings=True)

    kind: ClassVar[str] = ""
    """Registry kind of the component (``loss``, ``model``, ...)."""
    key: ClassVar[str] = ""
    """Registry key of the component."""
    term: ClassVar[str | None] = None
    """The vocabulary term the component implements, if any."""

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if "key" in cls.__dict__ and cls.key:
            index = SPECS.setdefault(cls.kind, {})
            if cls.key in index:
                raise ValueError(
                    f"duplicate {cls.kind} spec {cls.key!r}: {index[cls.key].__qualname__} and {cls.__qualname__}"
                )
            index[cls.key] = cls


SPECS: dict[str, dict[str, type[Spec]]] = {}
"""Specs by kind and key (filled when the spec modules are imported)."""

_SPEC_MODULES = (
    "losses",
    "models",
    "datasets",
    "prep",
    "teachers",
    "students",
    "transfer",
    "sequence",
    "embedding",
)


def load_specs() -> dict[str, dict[str, type[Spec]]]:
    """Import every spec module (torch-free) and return the index."""
    import importlib

    for name in _SPEC_MODULES:
        try:
            importlib.import_module(f"kdtaxonomy.specs.{name}")
        except ModuleNotFoundError as exc:
            if exc.name != f"kdtaxonomy.specs.{name}":
                raise
    return SPECS


class SpecError(KeyError):
    """Unknown kind or key; ``str()`` is the user-facing message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


def get_spec(kind: str, key: str) -> type[Spec]:
    """The spec of ``kind``/``key``; unknown names raise :class:`SpecError` listing close matches."""
    index = load_specs()
    if kind not in index:
        raise SpecError(f"unknown component kind {kind!r}")
    if key not in index[kind]:
        close = difflib.get_close_matches(key, list(index[kind]), n=3, cutoff=0.5)
        hint = f" Did you mean: {', '.join(close)}?" if close else ""
        raise SpecError(f"unknown {kind} {key!r}.{hint} Known: {', '.join(sorted(index[kind]))}")
    return index[kind][key]
