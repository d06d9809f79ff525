"""One configuration under the survey's four-stage model and under Gou et al.'s taxonomy (no torch)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from kdtaxonomy.schema import step_terms

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog


def views(catalog: Catalog, entry_id: str, config: str | None = None) -> dict[str, Any]:
    """A configuration under the four-stage model (stage -> step -> labels) and under Gou et al.'s taxonomy.

    The Gou et al. view groups the categories its terms map to by axis (knowledge category, distillation
    scheme, algorithm), each with the terms it comes from (``step/term``).
    """
    vocab = catalog.vocabulary
    entry = catalog.get(entry_id)
    configuration = entry.configuration(config)
    four: dict[str, Any] = {}
    gou: dict[str, dict[str, list[str]]] = {"knowledge": {}, "scheme": {}, "algorithm": {}}
    for stage_key, stage in vocab.data.stages.items():
        steps: dict[str, Any] = {}
        for step_key, step in stage.steps.items():
            terms = step_terms(configuration, step_key)
            steps[step_key] = {"label": step.label, "terms": [vocab.label(step_key, t) for t in terms]}
            for term in terms:
                for category in vocab.gou(step_key, term):
                    axis = vocab.data.gou_categories[category].axis
                    gou[axis].setdefault(category, []).append(f"{step_key}/{term}")
        four[stage_key] = {"label": stage.label, "steps": steps}
    gou_view = {
        axis: [
            {"category": key, "label": vocab.data.gou_categories[key].label, "from": sources}
            for key, sources in found.items()
        ]
        for axis, found in gou.items()
    }
    return {
        "id": entry.id,
        "configuration": configuration.name,
        "title": configuration.title or entry.title,
        "four_stage": four,
        "gou": gou_view,
    }
