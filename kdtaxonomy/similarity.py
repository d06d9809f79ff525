"""Similar configurations: a weighted Jaccard similarity of their terms per query facet and of their recipes'
loss components (no torch)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from kdtaxonomy.lookup import FACETS
from kdtaxonomy.schema import UNKNOWN, Configuration, step_terms

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog

FACET_WEIGHTS: dict[str, float] = {
    "objective": 0.5,
    "modality": 0.5,
    "data-prep": 1.0,
    "teacher": 1.0,
    "knowledge": 2.0,
    "location": 1.0,
    "transfer": 2.0,
    "student": 1.0,
    "loss": 1.0,
}
"""Weight of each facet in :func:`similar` (what is distilled and how it is transferred count double;
the inputs, which say little about the method, count half). ``loss`` is not a vocabulary facet: it holds the
registry loss components of the configuration's recipe, so that RKD distance and RKD angle, whose terms are
the same, are told apart."""

COMPARED = (*FACETS, "loss")
"""The facets :func:`similar` explains, in order."""


def facet_terms(config: Configuration) -> dict[str, set[str]]:
    """The terms of a configuration per query facet (``unknown`` left out)."""
    return {
        facet: {t for step in steps for t in step_terms(config, step) if t != UNKNOWN}
        for facet, steps in FACETS.items()
    }


@dataclass
class Similarity:
    """A configuration similar to the query one, with the explanation per facet."""

    id: str
    configuration: str
    title: str
    year: int
    score: float
    """Weighted Jaccard similarity in [0, 1]."""
    shared: dict[str, list[str]] = field(default_factory=dict)
    """Per facet: terms both configurations use."""
    different: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per facet: ``{"query": terms only the query uses, "other": terms only this one uses}``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "configuration": self.configuration,
            "title": self.title,
            "year": self.year,
            "score": round(self.score, 4),
            "shared": self.shared,
            "different": self.different,
        }


def similarity(a: dict[str, set[str]], b: dict[str, set[str]]) -> float:
    """Weighted Jaccard over facets: sum_f w_f |A_f & B_f| / |A_f | B_f|, over the facets either side uses,
    divided by the sum of those facets' weights (0 when neither uses any term)."""
    num = den = 0.0
    for facet, weight in FACET_WEIGHTS.items():
        union = a.get(facet, set()) | b.get(facet, set())
        if not union:
            continue
        num += weight * len(a.get(facet, set()) & b.get(facet, set())) / len(union)
        den += weight
    return num / den if den else 0.0


def similar(catalog: Catalog, entry_id: str, config: str | None = None, k: int = 5) -> list[Similarity]:
    """The ``k`` configurations most similar to ``entry_id``'s configuration ``config`` (default: its first).

    The query configuration itself is excluded; the entry's other configurations are ranked like any other.
    Unknown ids or configuration names raise ``KeyError``.
    """
    entry = catalog.get(entry_id)
    query = entry.configuration(config)
    pairs = list(catalog.configurations())
    losses = list(catalog.index.losses) or [[] for _ in pairs]
    at = next(i for i, (e, c) in enumerate(pairs) if e.id == entry.id and c.name == query.name)
    terms = {**facet_terms(query), "loss": set(losses[at])}
    found: list[Similarity] = []
    for position, (other_entry, other) in enumerate(pairs):
        if position == at:
            continue
        other_terms = {**facet_terms(other), "loss": set(losses[position])}
        shared: dict[str, list[str]] = {}
        different: dict[str, dict[str, list[str]]] = {}
        for facet in COMPARED:
            a, b = terms[facet], other_terms[facet]
            if a & b:
                shared[facet] = sorted(a & b)
            if a ^ b:
                different[facet] = {"query": sorted(a - b), "other": sorted(b - a)}
        found.append(
            Similarity(
                other_entry.id,
                other.name,
                other.title or other_entry.title,
                other_entry.year,
                similarity(terms, other_terms),
                shared,
                different,
            )
        )
    found.sort(key=lambda s: (-s.score, s.id, s.configuration))
    return found[: max(k, 0)]
