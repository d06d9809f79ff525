"""kdtaxonomy: the knowledge base and method registry of knowledge distillation.

The query side (``load_catalog``) imports no torch; ``instantiate`` and training import it on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kdtaxonomy.catalog import Catalog, CatalogError, load_catalog

if TYPE_CHECKING:
    pass

__all__ = ["Catalog", "CatalogError", "__version__", "load_catalog"]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "instantiate":
        from kdtaxonomy.pipeline import instantiate

        return instantiate
    raise AttributeError(f"module 'kdtaxonomy' has no attribute {name!r}")
