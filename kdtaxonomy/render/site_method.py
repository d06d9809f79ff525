"""Method pages of the site: a configuration's four-stage card, topology, details, how to run it, similar
configurations, and the entry's identifiers and reported results (context for ``site_method.html.j2``)."""

from __future__ import annotations

from typing import Any

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.render.console import STAGE_LAYOUT, result_setting
from kdtaxonomy.render.snippet import python_snippet
from kdtaxonomy.schema import Configuration, Entry, step_terms


def _safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None (never a ``javascript:`` or other scheme)."""
    if url and url.lower().startswith(("http://", "https://")) and not any(c.isspace() for c in url):
        return url
    return None


def identifiers(entry: Entry) -> list[tuple[str, str | None]]:
    """(text, href or None) of each identifier."""
    ids = entry.identifiers
    out: list[tuple[str, str | None]] = []
    if ids.arxiv:
        out.append((f"arXiv:{ids.arxiv}", _safe_url(f"https://arxiv.org/abs/{ids.arxiv}")))
    if ids.doi:
        out.append((f"doi:{ids.doi}", _safe_url(f"https://doi.org/{ids.doi}")))
    if ids.url:
        out.append((ids.url, _safe_url(ids.url)))
    return out


def _stage_card(catalog: Catalog, config: Configuration) -> list[dict[str, Any]]:
    """The STAGE_LAYOUT of one configuration: stages, their steps, and each step's terms (with links)."""
    vocab = catalog.vocabulary
    stages = []
    for stage, steps in STAGE_LAYOUT:
        rows = []
        for label, step in steps:
            terms = [
                {"term": t, "label": vocab.label(step, t), "known": t in vocab.step(step).terms}
                for t in step_terms(config, step)
            ]
            rows.append({"label": label, "step": step, "terms": terms})
        stages.append({"title": stage, "steps": rows})
    return stages


def _details(config: Configuration) -> list[tuple[str, str]]:
    """Free-text details of a configuration shown under its card."""
    rows = [("Data", config.data.description)]
    rows.append(("Teacher count", str(config.teacher.count)))
    if config.teacher.models:
        rows.append(("Teacher models", ", ".join(config.teacher.models)))
    if config.teacher.assistants:
        rows.append(("Assistants", " -> ".join(config.teacher.assistants)))
    if config.distillation.loss:
        rows.append(("Loss", config.distillation.loss))
    rows.append(("Student count", str(config.student.count)))
    if config.student.models:
        rows.append(("Student models", ", ".join(config.student.models)))
    for label, note in (
        ("Data preparation notes", config.data_preparation.notes),
        ("Teacher notes", config.teacher.notes),
        ("Distillation notes", config.distillation.notes),
        ("Student notes", config.student.notes),
    ):
        if note:
            rows.append((label, note))
    rows.append(("Datasets", ", ".join(config.datasets)))
    return rows


def _similar(catalog: Catalog, entry: Entry, config: Configuration) -> list[dict[str, Any]]:
    from kdtaxonomy.similarity import similar

    return [
        {"id": s.id, "configuration": s.configuration, "title": s.title, "score": f"{s.score:.3f}"}
        for s in similar(catalog, entry.id, config.name, 5)
    ]


class Topologies:
    """Topology figures of recipes, drawn once per distinct recipe (generated catalogs repeat them)."""

    def __init__(self) -> None:
        self._svg: dict[str, Any] = {}

    def figure(self, entry: Entry, config: Configuration) -> tuple[Any, str]:
        """(SVG markup or None, a sentence on the topology or why it is missing)."""
        from kdtaxonomy.recipe import RecipeError, resolve
        from kdtaxonomy.render.figures import topology_svg
        from kdtaxonomy.topology import check_topology, topology

        try:
            recipe = resolve(config, entry.id)
        except RecipeError as exc:
            return None, f"No runnable recipe: {exc}"
        key = recipe.model_dump_json(exclude={"entry", "configuration"})
        if key not in self._svg:
            graph = topology(recipe)
            try:
                check_topology(graph)
                note = ""
            except ValueError as exc:
                note = f"This topology cannot run: {exc}"
            label = "Teacher-student topology: " + "; ".join(f"{u} -> {v}" for u, v in graph.edges)
            self._svg[key] = (topology_svg(graph, label), note)
        svg, note = self._svg[key]
        return svg, note


def reported_rows(entry: Entry, ids: set[str]) -> list[dict[str, str]]:
    rows = []
    for result in entry.results:
        unit = result.unit if result.unit in {"%", ""} else " " + result.unit
        setting = result_setting(result)
        rows.append(
            {
                "configuration": result.configuration or "",
                "method": result.method,
                "dataset": result.dataset_text,
                "metric": result.metric,
                "value": f"{result.value_text}{unit}",
                "setting": setting,
                "source": result.source.text(),
                "source_id": result.source.paper if result.source.paper in ids else "",
            }
        )
    return rows


def configuration_context(
    catalog: Catalog, entry: Entry, config: Configuration, topologies: Topologies, with_similar: bool
) -> dict[str, Any]:
    """What the method page shows of one configuration (its ``suite`` rows are added by the caller)."""
    svg, topology_note = topologies.figure(entry, config)
    return {
        "name": config.name,
        "title": config.title or "",
        "summary": config.summary,
        "survey": (
            f"survey Table {config.survey_row.table}, row {config.survey_row.work}"
            if config.survey_row
            else ""
        ),
        "stages": _stage_card(catalog, config),
        "topology": svg,
        "topology_note": topology_note,
        "details": _details(config),
        "train": f"kdtax train {entry.id} --config {config.name}",
        "python": python_snippet(entry, config),
        "similar": _similar(catalog, entry, config) if with_similar else [],
    }
