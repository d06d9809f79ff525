"""Gaps: term combinations no catalogued configuration covers and that :func:`~kdtaxonomy.compose.compose`
accepts, ranked by how common their parts are (no torch)."""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from kdtaxonomy.compose import ComposeError, compose
from kdtaxonomy.schema import step_terms

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog

GAP_STEPS: dict[str, str] = {
    "objective": "objective",
    "data-prep": "modification",
    "teacher": "teacher-setup",
    "knowledge": "knowledge",
    "location": "location",
    "transfer": "transfer",
    "student": "student-construction",
}
"""The one vocabulary step :func:`gaps` enumerates per facet. The teacher and student facets span three
steps each (setup, architecture, construction); crossing e.g. a student *architecture* with a transfer
method gives combinations that say nothing about the method, so only the teacher *setup* and the student
*construction* are enumerated."""


@dataclass
class Gap:
    """A combination of terms that no catalogued configuration uses together."""

    terms: dict[str, str]
    """Facet -> term."""
    counts: dict[str, int]
    """Facet -> number of configurations using the term."""
    support: int
    """Product of the counts: how well-trodden the combination's parts are."""

    def as_dict(self) -> dict[str, Any]:
        return {"terms": self.terms, "counts": self.counts, "support": self.support}


def gaps(
    catalog: Catalog, stages: Iterable[str] = ("knowledge", "transfer", "student"), top: int | None = 20
) -> list[Gap]:
    """Uncovered combinations of one term per facet of ``stages``, most supported first.

    Each facet enumerates the terms of one step (:data:`GAP_STEPS`). A configuration covers a combination
    when it uses every term of it; covered combinations are dropped. The rest are ranked by *support*, the
    product over the facets of the number of configurations using the term (a combination of popular parts
    that nobody tried comes first; a part nobody uses gives support 0), ties by the terms' order. Only
    combinations that :func:`compose` accepts (:data:`RULES`, schema, registry) are kept; ``top`` of them
    (all with ``None``).
    """
    facets = list(dict.fromkeys(stages))
    unknown = [f for f in facets if f not in GAP_STEPS]
    if unknown or not facets:
        raise ValueError(f"unknown gap facets {unknown}; choose from {', '.join(GAP_STEPS)}")
    vocab = catalog.vocabulary
    steps = [GAP_STEPS[f] for f in facets]
    used: list[list[set[str]]] = []
    counts: list[dict[str, int]] = [dict.fromkeys(vocab.terms(s), 0) for s in steps]
    for _, config in catalog.configurations():
        sets = [set(step_terms(config, s)) for s in steps]
        used.append(sets)
        for i, terms in enumerate(sets):
            for term in terms:
                if term in counts[i]:
                    counts[i][term] += 1
    order = [{t: j for j, t in enumerate(vocab.terms(s))} for s in steps]
    combos = [
        combo
        for combo in itertools.product(*(vocab.terms(s) for s in steps))
        if not any(all(t in sets[i] for i, t in enumerate(combo)) for sets in used)
    ]
    combos.sort(
        key=lambda c: (
            -math.prod(counts[i][t] for i, t in enumerate(c)),
            [order[i][t] for i, t in enumerate(c)],
        )
    )
    found: list[Gap] = []
    for combo in combos:
        if top is not None and len(found) >= top:
            break
        choice = dict(zip(facets, combo, strict=True))
        try:
            compose(**{f.replace("-", "_"): t for f, t in choice.items()}, vocabulary=vocab)
        except ComposeError:
            continue
        found.append(
            Gap(
                choice,
                {f: counts[i][t] for i, (f, t) in enumerate(choice.items())},
                math.prod(counts[i][t] for i, t in enumerate(combo)),
            )
        )
    return found
