"""One generic registry: the single place where names (vocabulary terms, recipe keys) meet code.

Components register under a kind (``loss``, ``model``, ``dataset``, ``transfer``, ...) and a key, with an
optional pydantic model of their parameters, by decorator::

    @register("loss", "soft-labels", params=SoftLabelParams, term="soft-labels")
    class SoftLabelLoss(nn.Module): ...

Duplicate keys are an error; an unknown key is an error that lists close matches. This module imports
nothing heavy: the modules that register components are imported lazily by :func:`load_components`.
"""

from __future__ import annotations

import builtins
import difflib
import fnmatch
import importlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any, TypeVar

from pydantic import BaseModel, ConfigDict

T = TypeVar("T")

COMPONENT_MODULES: tuple[str, ...] = (
    "kdtaxonomy.losses",
    "kdtaxonomy.models",
    "kdtaxonomy.datasets",
    "kdtaxonomy.prep",
    "kdtaxonomy.teachers",
    "kdtaxonomy.students",
    "kdtaxonomy.transfer",
    "kdtaxonomy.sequence.components",
    "kdtaxonomy.embedding_kd.components",
)
"""Modules whose import registers the torch components (imported only by :func:`load_components`)."""


class NoParams(BaseModel):
    """Parameter model of a component that takes no parameters."""

    model_config = ConfigDict(extra="forbid")


class RegistryError(KeyError):
    """Unknown or duplicate registry key; ``str()`` is a complete, user-facing message."""

    def __str__(self) -> str:
        return str(self.args[0]) if self.args else ""


@dataclass(frozen=True)
class Component:
    """A registered component."""

    kind: str
    key: str
    obj: Any
    params: type[BaseModel] = NoParams
    term: str | None = None
    """The vocabulary term the component implements, if any."""
    summary: str = ""
    """First line of the component's docstring."""
    extra: dict[str, Any] = field(default_factory=dict)

    def validate_params(self, params: dict[str, Any]) -> BaseModel:
        """Validate parameters against the component's parameter model."""
        return self.params.model_validate(params)


def suggest(name: str, choices: list[str], n: int = 3) -> str:
    """``" Did you mean: a, b?"`` for the closest choices, or an empty string."""
    close = difflib.get_close_matches(name, choices, n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


class Registry:
    """Components by kind and key."""

    def __init__(self) -> None:
        self._items: dict[str, dict[str, Component]] = {}

    def add(self, component: Component) -> None:
        """Add a component; a duplicate (kind, key) is an error."""
        bucket = self._items.setdefault(component.kind, {})
        if component.key in bucket:
            existing = bucket[component.key].obj
            raise RegistryError(
                f"duplicate {component.kind} key {component.key!r}: already registered by "
                f"{getattr(existing, '__module__', '?')}.{getattr(existing, '__qualname__', existing)!s}"
            )
        bucket[component.key] = component

    def register(
        self,
        kind: str | None = None,
        key: str | None = None,
        *,
        spec: type[BaseModel] | None = None,
        params: type[BaseModel] | None = None,
        term: str | None = None,
        **extra: Any,
    ) -> Callable[[T], T]:
        """Decorator registering a class or function.

        Preferred form: ``@register(spec=SomeSpec)`` where the torch-free spec (``kdtaxonomy.specs``) carries
        kind, key, term and is the parameter model. The long form ``@register(kind, key, params=..., term=...)``
        is kept for components without a spec.
        """
        if spec is not None:
            kind = kind or getattr(spec, "kind", None)
            key = key or getattr(spec, "key", None)
            term = term or getattr(spec, "term", None)
            params = spec
        if not kind or not key:
            raise RegistryError("register() needs a kind and a key (or a spec that declares them)")
        reg_kind, reg_key, reg_params = kind, key, params or NoParams

        def decorator(obj: T) -> T:
            doc = (getattr(obj, "__doc__", None) or "").strip().splitlines()
            self.add(
                Component(
                    kind=reg_kind,
                    key=reg_key,
                    obj=obj,
                    params=reg_params,
                    term=term,
                    summary=doc[0] if doc else "",
                    extra=dict(extra),
                )
            )
            return obj

        return decorator

    def kinds(self) -> list[str]:
        """Registered kinds, sorted."""
        return sorted(self._items)

    def get(self, kind: str, key: str) -> Component:
        """The component ``kind``/``key``; unknown keys raise :class:`RegistryError` with suggestions."""
        if kind not in self._items:
            raise RegistryError(f"unknown component kind {kind!r}.{suggest(kind, self.kinds())}")
        bucket = self._items[kind]
        if key not in bucket:
            raise RegistryError(
                f"unknown {kind} {key!r}.{suggest(key, sorted(bucket))} Known {kind}s: {', '.join(sorted(bucket))}"
            )
        return bucket[key]

    def has(self, kind: str, key: str) -> bool:
        """Whether ``kind``/``key`` is registered."""
        return key in self._items.get(kind, {})

    def list(self, kind: str | None = None, pattern: str = "*") -> list[Component]:
        """Components of one kind (or all), optionally filtered by a wildcard pattern on the key."""
        kinds = [kind] if kind else self.kinds()
        if kind and kind not in self._items:
            raise RegistryError(f"unknown component kind {kind!r}.{suggest(kind, self.kinds())}")
        return [
            self._items[k][key]
            for k in kinds
            for key in sorted(self._items[k])
            if fnmatch.fnmatchcase(key, pattern)
        ]

    def by_term(self, kind: str, term: str) -> builtins.list[Component]:
        """Components of ``kind`` that implement vocabulary ``term``."""
        return [c for c in self._items.get(kind, {}).values() if c.term == term]

    def __iter__(self) -> Iterator[Component]:
        return iter(self.list())


REGISTRY = Registry()
"""The process-wide registry."""
register = REGISTRY.register

_loaded = False


def load_components() -> Registry:
    """Import the component modules (torch) so that everything is registered; idempotent."""
    global _loaded
    if not _loaded:
        for module in COMPONENT_MODULES:
            try:
                importlib.import_module(module)
            except ModuleNotFoundError as exc:
                if exc.name != module:
                    raise
        _loaded = True
    return REGISTRY
