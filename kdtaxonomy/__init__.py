"""kdtaxonomy: the knowledge base and method registry of knowledge distillation.

``load_catalog`` (query side) imports no torch; ``instantiate`` and training import it on first use.
Attributes are resolved lazily so that ``kdtax list`` pays only for what it uses.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog, CatalogError, load_catalog
    from kdtaxonomy.hf.entry import instantiate
    from kdtaxonomy.pipeline import Distiller
    from kdtaxonomy.student_io import load_student

__all__ = [
    "Catalog",
    "CatalogError",
    "Distiller",
    "__version__",
    "instantiate",
    "load_catalog",
    "load_student",
]
__version__ = "0.1.0"

_LAZY = {
    "Catalog": "kdtaxonomy.catalog",
    "CatalogError": "kdtaxonomy.catalog",
    "load_catalog": "kdtaxonomy.catalog",
    "Distiller": "kdtaxonomy.pipeline",
    "instantiate": "kdtaxonomy.hf.entry",  # classification models, or Hugging Face ones (kdtaxonomy.hf)
    "load_student": "kdtaxonomy.student_io",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kdtaxonomy' has no attribute {name!r}")
    import importlib

    return getattr(importlib.import_module(module), name)
