"""A static HTML site of the catalog (no torch, no network, works from ``file://``).

``build_site(catalog, out_dir)`` writes

- ``index.html``: the four-stage model and one figure per stage (SVG from the vocabulary, survey Figs. 1-6),
  the survey's Tables I and II, and the methods table with one filter per facet of ``kdtax list`` (counts per
  value), full-text search, sortable columns and a sticky header;
- ``methods/<id>.html``: references, one four-stage card and topology figure per configuration (permalinks
  ``#config-<name>``), how to run it, reported results with their source, reproduced results (the paired
  Δ against the matched student alone, its 95% CI and paired p), BibTeX / CSL-JSON, similar configurations;
- ``results.html``: charts of reported results per dataset and metric, and of reproduced results;
- ``benchmark.html``: the benchmark suite per regime (Δ against the matched student alone, its 95% CI, paired p,
  the published Δ and the Spearman line), its published sources and protocol; the method pages of the
  configurations in the suite carry their rows (:mod:`kdtaxonomy.render.site_benchmark`);
- ``leaderboards/<dataset id>.html``: per dataset with results naming teacher and student, methods x teacher
  -> student pairs with their sources (:mod:`kdtaxonomy.render.leaderboard`), linked from the index;
- ``vocab/<step>.html``: every term of a vocabulary step and the configurations using it.

Every page is a jinja2 template rendered with autoescaping and ``StrictUndefined``, so catalog text is never
markup; all links are relative and every page embeds what it needs. The site is written into a temporary
folder beside ``out_dir`` and swapped in whole, so a failed build leaves the previous site untouched.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.lookup import FACETS
from kdtaxonomy.render.cite import bibtex, csl_json, short_citation
from kdtaxonomy.render.formats import cell
from kdtaxonomy.render.site_benchmark import CONFIG_HEADER, configuration_rows, page_context
from kdtaxonomy.render.site_method import Topologies, configuration_context, identifiers, reported_rows
from kdtaxonomy.render.site_results import reported_charts, reproduced_context
from kdtaxonomy.render.tables import summary_tables, template_dir
from kdtaxonomy.schema import step_terms

if TYPE_CHECKING:
    from kdtaxonomy.bench import Aggregate
    from kdtaxonomy.benchmark_table import BenchmarkTable

MARKER = ".kdtax-site"
"""File that marks a folder as a site written by :func:`build_site` (only such a folder is replaced)."""

SIMILAR_LIMIT = 3000
"""Above this many configurations, pages list no similar configurations (the all-pairs cost is quadratic)."""

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


class SiteError(Exception):
    """The site cannot be written where asked; ``str()`` is the user-facing message."""


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

    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(str(template_dir())),
        autoescape=jinja2.select_autoescape(default=True, default_for_string=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    # |tojson escapes <, >, & and ' as \u00XX, so embedded data can never close its <script> element
    env.policies["json.dumps_kwargs"] = {"separators": (",", ":"), "ensure_ascii": False}
    return env


SCRIPTS = {"index": "site_index.js", "method": "site_copy.js"}
"""The site's only scripts, shipped beside the templates: the index's filters, the method pages' copy buttons."""


def site_script(page: str = "index") -> str:
    """The script of a kind of page (``index`` or ``method``)."""
    return (template_dir() / SCRIPTS[page]).read_text(encoding="utf-8")


def _script_context(page: str) -> dict[str, Any]:
    """``script`` (markup: a file shipped with the package, never catalog text) and its CSP source."""
    from markupsafe import Markup

    script = site_script(page)
    digest = base64.b64encode(hashlib.sha256(script.encode("utf-8")).digest()).decode("ascii")
    return {"script": Markup(script), "csp_script": f"'sha256-{digest}'"}


def _facet_panel(catalog: Catalog, counts: dict[tuple[str, str], int]) -> list[dict[str, Any]]:
    """One filter per facet of ``kdtax list``: its terms (``step:term`` values), labels and counts."""
    vocab = catalog.vocabulary
    panel = []
    for facet, steps in FACETS.items():
        values = [
            {
                "value": f"{step}:{term}",
                "label": vocab.label(step, term),
                "count": counts.get((step, term), 0),
            }
            for step in steps
            for term in vocab.terms(step)
        ]
        panel.append({"facet": facet, "label": facet.replace("-", " ").capitalize(), "values": values})
    return panel


def _methods_data(catalog: Catalog) -> dict[str, Any]:
    """The methods table as compact data for the index page's script (embedded as JSON, never as markup).

    ``entries``: per entry ``[id, title, folded text]``; ``terms``: the ``step:term`` values of the facet
    filters; ``rows``: per configuration ``[entry index, configuration, cells, term indices, folded text]``.
    The folded texts are what ``kdtax list --search`` searches, so the page's search matches the CLI's.
    """
    index = catalog.index
    facet_steps = {s for steps in FACETS.values() for s in steps}
    terms: dict[str, int] = {}
    entries: dict[str, int] = {}
    entry_rows: list[list[str]] = []
    rows: list[list[Any]] = []
    for i, row in enumerate(index.rows):
        entry_id = row["id"]
        if entry_id not in entries:
            entries[entry_id] = len(entry_rows)
            entry_rows.append([entry_id, str(row.get("title", "")), index.entry_text.get(entry_id, "")])
        tokens = [
            terms.setdefault(f"{s}:{t}", len(terms))
            for s, values in index.steps[i].items()
            if s in facet_steps
            for t in values
        ]
        cells = [cell(row.get(key)) for key, _ in METHOD_COLUMNS]
        datasets = [str(d) for d in row.get("datasets") or []]
        rows.append(
            [entries[entry_id], row["configuration"], cells, tokens, index.text[i], row["year"], datasets]
        )
    return {"entries": entry_rows, "terms": list(terms), "rows": rows}


def _check_target(out_dir: Path) -> None:
    if out_dir.exists() and not out_dir.is_dir():
        raise SiteError(f"{out_dir}: exists and is not a folder; refusing to replace it")
    if out_dir.is_dir() and any(out_dir.iterdir()) and not (out_dir / MARKER).exists():
        raise SiteError(
            f"{out_dir}: folder is not empty and was not written by 'kdtax site build' (no {MARKER}); "
            "refusing to replace it - choose another --output"
        )


def _swap(tmp: Path, out_dir: Path) -> None:
    """Put the freshly built ``tmp`` in place of ``out_dir`` (two renames; the old site is removed after)."""
    old = out_dir.with_name(f".{out_dir.name}.old-{os.getpid()}")
    if out_dir.exists():
        out_dir.rename(old)
    try:
        tmp.rename(out_dir)
    except OSError:
        if old.exists():
            old.rename(out_dir)
        raise
    shutil.rmtree(old, ignore_errors=True)


def build_site(
    catalog: Catalog,
    out_dir: Path,
    results_dir: Path | None = None,
    reproduced: dict[tuple[str, str], Aggregate] | None = None,
    similar_limit: int = SIMILAR_LIMIT,
    benchmark: BenchmarkTable | None = None,
) -> SiteReport:
    """Write the static site of ``catalog`` to ``out_dir`` (replaced whole); returns the pages written.

    Reproduced results and the benchmark suite's table are read from ``results_dir`` (default: the
    repository's ``results/``) unless given as ``reproduced`` and ``benchmark``. ``out_dir`` must be absent,
    empty or a site written earlier by this function.
    """
    out_dir = Path(out_dir).absolute()
    _check_target(out_dir)
    out_dir.parent.mkdir(parents=True, exist_ok=True)
    tmp = out_dir.with_name(f".{out_dir.name}.tmp-{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        pages = _write_pages(catalog, tmp, results_dir, reproduced, similar_limit, benchmark)
        (tmp / MARKER).write_text("written by kdtax site build; the folder is replaced on each build\n")
        _swap(tmp, out_dir)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    return SiteReport(out_dir, [out_dir / p.relative_to(tmp) for p in pages])


def _write_pages(
    catalog: Catalog,
    out_dir: Path,
    results_dir: Path | None,
    reproduced: dict[tuple[str, str], Aggregate] | None,
    similar_limit: int,
    benchmark: BenchmarkTable | None,
) -> list[Path]:
    from kdtaxonomy.bench import load_reproduced, load_reproduced_on
    from kdtaxonomy.benchmark_table import build
    from kdtaxonomy.render.figures import figure_context

    env = _environment()
    vocab = catalog.vocabulary
    pages: list[Path] = []
    nav = [(step, vocab.step(step).label) for step in vocab.steps]
    if reproduced is None:
        reproduced = load_reproduced(results_dir)
    elsewhere = list(load_reproduced_on(results_dir).values())  # results/<dataset>/
    if benchmark is None:
        benchmark = build(results_dir)

    def write(rel: str, template: str, **context: Any) -> None:
        path = out_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        context.setdefault("csp_script", "'none'")
        path.write_text(env.get_template(template).render(steps=nav, **context), encoding="utf-8")
        pages.append(path)

    pairs = list(catalog.configurations())
    users: dict[tuple[str, str], list[tuple[str, str]]] = {}
    for entry, config in pairs:
        for step in vocab.steps:
            for term in step_terms(config, step):
                users.setdefault((step, term), []).append((entry.id, config.name))
    counts = {key: len(value) for key, value in users.items()}
    known = {(e.id, c.name) for e, c in pairs}

    from kdtaxonomy.render import leaderboard

    boards = {catalog.datasets.id_of(d): d for d in leaderboard.datasets_with_results(catalog)}

    # index.html
    tables = [(t, [[cell(r.get(k)) for k in t.keys] for r in t.rows]) for t in summary_tables(pairs)]
    write(
        "index.html",
        "site_index.html.j2",
        root="",
        title="kdtaxonomy: knowledge-distillation methods",
        figures=figure_context(vocab, counts),
        tables=tables,
        columns=[header for _, header in METHOD_COLUMNS],
        methods=_methods_data(catalog),
        facets=_facet_panel(catalog, counts),
        n_entries=len(catalog),
        n_configs=len(pairs),
        leaderboards=list(boards.items()),
        **_script_context("index"),
    )

    # methods/<id>.html
    ids = set(catalog.entries)
    method_script = _script_context("method")
    with_similar = len(pairs) <= similar_limit
    topologies = Topologies()
    in_suite = configuration_rows(benchmark)
    for entry in catalog:
        configs = []
        for config in entry.configurations:
            context = configuration_context(catalog, entry, config, topologies, with_similar)
            configs.append({**context, "suite": in_suite.get(f"{entry.id}#{config.name}")})
        mine = [v for k, v in reproduced.items() if k[0] == entry.id]
        mine += [agg for agg in elsewhere if agg.entry_id == entry.id]
        write(
            f"methods/{entry.id}.html",
            "site_method.html.j2",
            root="../",
            title=entry.title,
            entry=entry,
            citation=short_citation(entry),
            identifiers=identifiers(entry),
            related=[r for r in entry.related if r in ids],
            configs=configs,
            similar_limit=None if with_similar else similar_limit,
            results=reported_rows(entry, ids),
            reproduced=reproduced_context(mine, f"Reproduced: {entry.id}"),
            bibtex=bibtex(entry),
            csl=json.dumps(csl_json(entry), indent=2, ensure_ascii=False),
            suite_header=CONFIG_HEADER,
            **method_script,
        )

    # results.html, benchmark.html
    write(
        "results.html",
        "site_results.html.j2",
        root="",
        title="Results: reported and reproduced",
        reported=reported_charts(catalog),
        reproduced=reproduced_context(
            [v for k, v in reproduced.items() if k in known]
            + [a for a in elsewhere if (a.entry_id, a.config) in known],
            "Reproduced (kdtax bench)",
        ),
    )
    title = "Benchmark suite: distilled vs. the matched student alone"
    write("benchmark.html", "site_benchmark.html.j2", root="", title=title, **page_context(benchmark, known))

    # leaderboards/<dataset id>.html
    for key, label in boards.items():
        board = leaderboard.site_context(leaderboard.build(catalog, label))
        title = f"Leaderboard: {label}"
        write(
            f"leaderboards/{key}.html",
            "site_leaderboard.html.j2",
            root="../",
            title=title,
            board=board,
            dataset=label,
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
    return pages
