"""The benchmark suite on the site: ``benchmark.html``, the method pages' suite tables, the empty case."""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest
from markupsafe import escape
from typer.testing import CliRunner

from kdtaxonomy import suite
from kdtaxonomy.benchmark_table import build
from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.render.benchmark import display_row, source_line, spearman_line
from kdtaxonomy.render.site import SiteReport, build_site
from kdtaxonomy.render.site_benchmark import regime_anchors
from tests.conftest import CATALOG, write_suite_run
from tests.test_site import csp, parse

HINTON, FITNETS = "hinton2015-distilling", "romero2015-fitnets"
# method id -> (configuration, published row label, Δ added per seed)
METHODS: dict[str, tuple[str | None, str | None, tuple[float, ...]]] = {
    "kd": (f"{HINTON}#ex2", "KD", (1.5, 2.5, 1.0)),
    "fitnets": (f"{FITNETS}#main", "FitNet", (-0.5, 0.25, -1.5)),
    "at": ("not-in-catalog#main", "AT", (0.5, 1.0, 0.0)),
}
REGIMES = ("full", "limited-3")  # written alphabetically; the page follows the suite (limited-3 first)
CELLS = ("teacher", "gap", "alone", "distilled", "delta", "p", "n", "wins", "chosen", "published")


def write_suite(results: Path) -> Path:
    """2 regimes x 3 methods x 3 seeds."""
    for i, regime in enumerate(REGIMES):
        for method, (configuration, published, deltas) in METHODS.items():
            for seed, delta in enumerate(deltas):
                alone = 70.0 + 5 * i + seed
                write_suite_run(
                    results, regime, method, seed, configuration=configuration, published_method=published,
                    student_baseline_accuracy=alone, student_accuracy=alone + delta * (1 + i),
                )  # fmt: skip
    return results


@pytest.fixture(scope="module")
def results(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_suite(tmp_path_factory.mktemp("results"))


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog, results: Path) -> SiteReport:
    return build_site(catalog, tmp_path_factory.mktemp("site") / "site", results)


def sections(text: str) -> dict[str, str]:
    """The HTML of each ``<section class="regime">`` by its id, in page order."""
    return dict(re.findall(r'<section class="regime" id="([^"]+)">(.*?)</section>', text, re.S))


def table_rows(text: str, kind: str) -> list[list[str]]:
    """Cells (tags stripped, unescaped) of every ``<tr class="{kind}">``."""
    rows = re.findall(rf'<tr class="{kind}">(.*?)</tr>', text, re.S)
    return [
        [html.unescape(re.sub(r"<[^>]+>", "", c)) for c in re.findall(r"<td>(.*?)</td>", r)] for r in rows
    ]


def test_benchmark_page_shows_the_suite_table(site: SiteReport, results: Path) -> None:
    text = (site.out_dir / "benchmark.html").read_text(encoding="utf-8")
    table = build(results)
    assert len(table.rows) == 6 and not table.problems
    anchors = regime_anchors(r.regime for r in table.rows)
    found = sections(text)
    assert list(found) == [anchors["limited-3"], anchors["full"]] == ["regime-limited-3", "regime-full"]
    labels = {m.id: m.label for m in suite.METHODS}
    for regime in (r for r in suite.REGIMES if r.id in REGIMES):
        body = found[anchors[regime.id]]
        assert f"<h2>{escape(regime.label)} <code>{regime.id}</code></h2>" in body
        assert f"<p>{escape(regime.description)}</p>" in body
        rows = [r for r in table.rows if r.regime == regime.id]
        assert [r.method for r in rows] == ["kd", "fitnets", "at"]  # the suite's order
        shown = table_rows(body, "benchmark-row")
        assert len(shown) == len(rows) == 3
        for row, cells in zip(rows, shown, strict=True):
            assert cells[0].startswith(labels[row.method]) and row.method in cells[0]
            assert cells[1:] == [display_row(row)[key] for key in CELLS]
        (line,) = [s for s in table.spearman if s.regime == regime.id]
        assert f'<p class="spearman">{escape(spearman_line(line))}</p>' in body
    kd = next(r for r in table.rows if r.method == "kd" and r.regime == "limited-3")
    assert kd.delta_ci95 is not None and kd.p_paired is not None and kd.published_delta is not None
    assert f"<td>{escape(display_row(kd)['delta'])}</td>" in text and "[" in display_row(kd)["delta"]
    # method labels link to their configuration's permalink; one the catalog lacks is named as text
    assert text.count(f'href="methods/{HINTON}.html#config-ex2"') == 2
    assert text.count(f'href="methods/{FITNETS}.html#config-main"') == 2
    assert "not-in-catalog#main" in text and 'href="methods/not-in-catalog' not in text
    assert all(s.rho is not None and s.n == 3 for s in table.spearman)
    for s in table.sources:
        assert str(escape(source_line(s))) in text
    for note in table.notes:
        assert str(escape(note)) in text
    statement = text[text.index('<ul id="protocol-statement">') :]
    for words in ("Matched student alone", "Paired seeds", "Model selection on validation", "Test read once"):
        assert words in statement
    assert "<script" not in text and "script-src 'none'" in csp(text)


def test_every_link_and_anchor_resolves(site: SiteReport) -> None:
    pages = {p.resolve(): parse(p) for p in site.pages}
    assert site.out_dir / "benchmark.html" in site.pages
    for path, page in pages.items():
        for href in page.links:
            if href.startswith(("http://", "https://")):
                continue
            target, _, anchor = href.partition("#")
            dest = (path.parent / target).resolve() if target else path
            assert dest.is_file(), (path, href)
            assert not anchor or anchor in pages[dest].ids, (path, href)
    index = parse(site.index)
    assert "benchmark.html" in index.links and "results.html" in index.links  # the nav, side by side
    assert "../benchmark.html" in parse(site.out_dir / "methods" / f"{HINTON}.html").links


def test_method_page_has_its_suite_rows(site: SiteReport, results: Path) -> None:
    table = build(results)
    text = (site.out_dir / "methods" / f"{HINTON}.html").read_text(encoding="utf-8")
    section = text[text.index('id="config-ex2"') :]
    assert '<h3 id="suite-ex2">Benchmark suite</h3>' in section
    assert '<a href="../benchmark.html">benchmark suite</a>' in section
    rows = [r for r in table.rows if r.configuration == f"{HINTON}#ex2"]
    regimes = {r.id: r.label for r in suite.REGIMES}
    assert table_rows(section, "suite-row") == [
        [regimes[r.regime], *(display_row(r)[k] for k in ("delta", "p", "n"))] for r in rows
    ]
    assert 'href="../benchmark.html#regime-limited-3"' in section
    ex1 = text[text.index('id="config-ex1"') : text.index('id="config-ex2"')]
    assert "Benchmark suite" not in ex1  # only the configuration the suite runs
    vid = (site.out_dir / "methods" / "ahn2019-vid.html").read_text(encoding="utf-8")
    assert "suite-row" not in vid and "Benchmark suite" in vid  # the nav only


def test_no_suite_results(tmp_path: Path, catalog: Catalog) -> None:
    report = build_site(catalog, tmp_path / "site", tmp_path / "no-results")
    text = (report.out_dir / "benchmark.html").read_text(encoding="utf-8")
    assert 'id="no-results"' in text and "kdtax bench --suite standard" in text
    assert "benchmark-row" not in text and 'id="protocol-statement"' in text
    hinton = (report.out_dir / "methods" / f"{HINTON}.html").read_text(encoding="utf-8")
    assert "suite-row" not in hinton


def test_cli_reads_the_suite_from_results(tmp_path: Path, runner: CliRunner, results: Path) -> None:
    bad = write_suite_run(tmp_path / "with-bad", "full", "kd", 0)
    bad.write_text("{not json", encoding="utf-8")
    for folder, rows in ((results, 2), (bad.parents[3], 0)):
        out = tmp_path / f"site-{rows}"
        args = ["--catalog", str(CATALOG), "site", "build", "-o", str(out), "--results", str(folder)]
        result = runner.invoke(app, args)
        assert result.exit_code == 0, result.output
        text = (out / "benchmark.html").read_text(encoding="utf-8")
        assert text.count('<tr class="benchmark-row">') == 3 * rows
        assert (out / "methods" / f"{HINTON}.html").read_text(encoding="utf-8").count("suite-row") == rows
        assert ("unreadable results file" in result.output) == (rows == 0)
        assert ('id="problems"' in text) == (rows == 0)
