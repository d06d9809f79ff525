"""A static HTML site of the catalog (no torch, no network, works from ``file://``).

``build_site(catalog, out_dir)`` writes ``index.html`` (the survey's Tables I and II, the methods table and
a facet count summary), ``methods/<id>.html`` (one page per entry: references, one four-stage card per
configuration, how to run it, reported results, BibTeX / CSL-JSON, similar methods) and
``vocab/<step>.html`` (every term of a vocabulary step and the configurations using it). Every page is a
jinja2 template rendered with autoescaping and ``StrictUndefined``, so catalog text is never markup; all
links are relative; each file is written atomically.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.render.cite import bibtex, csl_json, short_citation
from kdtaxonomy.render.console import STAGE_LAYOUT
from kdtaxonomy.render.formats import cell
from kdtaxonomy.render.tables import summary_tables, template_dir
from kdtaxonomy.schema import Configuration, Entry, step_terms
from kdtaxonomy.yamlio import atomic_write_text

INDEX_SCRIPT = """
(function () {
  var table = document.getElementById("methods");
  var box = document.getElementById("filter");
  if (!table || !box) { return; }
  var body = table.tBodies[0];
  box.hidden = false;
  box.addEventListener("input", function () {
    var needle = box.value.toLowerCase();
    for (var i = 0; i < body.rows.length; i++) {
      var row = body.rows[i];
      row.hidden = needle !== "" && row.textContent.toLowerCase().indexOf(needle) < 0;
    }
  });
  var heads = table.tHead.rows[0].cells;
  for (var c = 0; c < heads.length; c++) {
    (function (col) {
      var head = heads[col];
      head.style.cursor = "pointer";
      head.title = "sort";
      head.addEventListener("click", function () {
        var up = head.getAttribute("data-dir") !== "up";
        head.setAttribute("data-dir", up ? "up" : "down");
        var rows = Array.prototype.slice.call(body.rows);
        rows.sort(function (a, b) {
          var x = a.cells[col].textContent, y = b.cells[col].textContent;
          var n = Number(x) - Number(y);
          var r = isNaN(n) ? x.localeCompare(y) : n;
          return up ? r : -r;
        });
        for (var i = 0; i < rows.length; i++) { body.appendChild(rows[i]); }
      });
    })(c);
  }
})();
"""
"""The only script of the site (index.html): a text filter and sortable columns; the page works without."""

METHOD_COLUMNS = (
    ("year", "Year"),
    ("objective", "Objective"),
    ("teacher", "Teacher"),
    ("knowledge", "Knowledge"),
    ("transfer", "Transfer"),
    ("student", "Student"),
    ("datasets", "Datasets"),
)
"""Columns of the methods table after the id (keys of ``catalog.index.rows``)."""


@dataclass
class SiteReport:
    """What :func:`build_site` wrote."""

    out_dir: Path
    pages: list[Path]

    @property
    def index(self) -> Path:
        return self.out_dir / "index.html"


def _environment() -> Any:
    import jinja2

    return jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def _safe_url(url: str | None) -> str | None:
    """The URL when it is http(s), else None (never a ``javascript:`` or other scheme)."""
    if url and url.lower().startswith(("http://", "https://")) and not any(c.isspace() for c in url):
        return url
    return None


def _identifiers(entry: Entry) -> list[tuple[str, str | None]]:
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
    from kdtaxonomy.graph import similar

    return [
        {"id": s.id, "configuration": s.configuration, "title": s.title, "score": f"{s.score:.3f}"}
        for s in similar(catalog, entry.id, config.name, 5)
    ]


def _python_snippet(entry: Entry, config: Configuration) -> str:
    return (
        "import kdtaxonomy\n\n"
        f"distiller = kdtaxonomy.instantiate(\n"
        f"    {entry.id!r}, config={config.name!r},\n"
        "    teacher=my_teacher, student=my_student,\n"
        "    layers=None,  # map the method's locations to your submodules if it needs them\n"
        ")\n"
        "distiller.fit(train_loader, epochs=5)\n"
    )


def _results(entry: Entry, ids: set[str]) -> list[dict[str, str]]:
    rows = []
    for result in entry.results:
        unit = result.unit if result.unit in {"%", ""} else " " + result.unit
        setting = "; ".join(
            x
            for x in (
                result.teacher and f"T: {result.teacher}",
                result.student and f"S: {result.student}",
                result.setting,
            )
            if x
        )
        paper = "this paper" if result.source.paper == "self" else result.source.paper
        rows.append(
            {
                "configuration": result.configuration or "",
                "method": result.method,
                "dataset": result.dataset,
                "metric": result.metric,
                "value": f"{result.value:g}{unit}",
                "setting": setting,
                "source": f"{paper}, {result.source.table}",
                "source_id": result.source.paper if result.source.paper in ids else "",
            }
        )
    return rows


def build_site(catalog: Catalog, out_dir: Path) -> SiteReport:
    """Write the static site of ``catalog`` into ``out_dir``; returns the pages written."""
    out_dir = Path(out_dir)
    env = _environment()
    vocab = catalog.vocabulary
    pages: list[Path] = []
    nav = [(step, vocab.step(step).label) for step in vocab.steps]

    def write(rel: str, template: str, **context: Any) -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        text = env.get_template(template).render(steps=nav, **context)
        atomic_write_text(path, text)
        pages.append(path)

    pairs = list(catalog.configurations())
    users: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for entry, config in pairs:
        for step in vocab.steps:
            for term in step_terms(config, step):
                users.setdefault((step, term), []).append((entry.id, config.name))

    # index.html
    from markupsafe import Markup

    tables = [(t, [[cell(r.get(k)) for k in t.keys] for r in t.rows]) for t in summary_tables(pairs)]
    methods = []
    for row in catalog.index.rows:
        cells = [cell(row.get(key)) for key, _ in METHOD_COLUMNS]
        methods.append({"id": row["id"], "configuration": row["configuration"], "cells": cells})
    facets = [
        {"term": t, "label": vocab.label("knowledge", t), "count": len(users.get(("knowledge", t), []))}
        for t in vocab.terms("knowledge")
    ]
    write(
        "index.html",
        "site_index.html.j2",
        root="",
        title="kdtaxonomy: knowledge-distillation methods",
        tables=tables,
        columns=[header for _, header in METHOD_COLUMNS],
        methods=methods,
        facets=facets,
        n_entries=len(catalog),
        n_configs=len(pairs),
        script=Markup(INDEX_SCRIPT),  # a constant of this module, never catalog text
    )

    # methods/<id>.html
    ids = set(catalog.entries)
    for entry in catalog:
        configs = []
        for config in entry.configurations:
            configs.append(
                {
                    "name": config.name,
                    "title": config.title or "",
                    "summary": config.summary,
                    "survey": (
                        f"survey Table {config.survey_row.table}, row {config.survey_row.work}"
                        if config.survey_row
                        else ""
                    ),
                    "stages": _stage_card(catalog, config),
                    "details": _details(config),
                    "train": f"kdtax train {entry.id} --config {config.name}",
                    "python": _python_snippet(entry, config),
                    "similar": _similar(catalog, entry, config),
                }
            )
        results = _results(entry, ids)
        write(
            f"methods/{entry.id}.html",
            "site_method.html.j2",
            root="../",
            title=entry.title,
            entry=entry,
            citation=short_citation(entry),
            identifiers=_identifiers(entry),
            related=[r for r in entry.related if r in ids],
            configs=configs,
            results=results,
            bibtex=bibtex(entry),
            csl=json.dumps(csl_json(entry), indent=2, ensure_ascii=False),
        )

    # vocab/<step>.html
    gou = vocab.data.gou_categories
    for step in vocab.steps:
        info = vocab.step(step)
        terms = []
        for term in vocab.terms(step):
            t = vocab.term(step, term)
            terms.append(
                {
                    "term": term,
                    "label": t.label,
                    "description": t.description,
                    "synonyms": list(t.synonyms),
                    "gou": [gou[g].label if g in gou else g for g in t.gou],
                    "users": users.get((step, term), []),
                }
            )
        write(
            f"vocab/{step}.html",
            "site_vocab.html.j2",
            root="../",
            title=f"{info.label} ({vocab.step_stage[step]})",
            step=step,
            info=info,
            terms=terms,
        )
    return SiteReport(out_dir, pages)
