"""The built site in headless Chromium, used as a person would: filter, search, sort, open a method page.

Chromium is Debian's ``/usr/bin/chromium`` (``$KDTAX_CHROMIUM`` elsewhere) driven by Python playwright.
``.ci/run`` installs it and sets ``KDTAX_REQUIRE_BROWSER=1``, which turns a missing browser into a failure
instead of a skip. Screenshots go to ``test-artifacts/screenshots/`` (``$KDTAX_ARTIFACTS``).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from benchmarks.browser import CHROMIUM, FLAGS
from kdtaxonomy.catalog import Catalog, load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.lookup import FACETS
from kdtaxonomy.render.site import SiteReport, build_site
from tests.conftest import CATALOG, FIXTURES, make_catalog

ROOT = Path(__file__).resolve().parent.parent
REQUIRED = os.environ.get("KDTAX_REQUIRE_BROWSER") == "1"
SHOTS = Path(os.environ.get("KDTAX_ARTIFACTS", ROOT / "test-artifacts")) / "screenshots"


def _unavailable(reason: str) -> None:
    if REQUIRED:
        pytest.fail(f"KDTAX_REQUIRE_BROWSER=1 but {reason}")
    pytest.skip(reason)


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        _unavailable("playwright is not installed")
    if not CHROMIUM.is_file():
        _unavailable(f"no Chromium at {CHROMIUM}")
    with sync_playwright() as pw:
        chromium = pw.chromium.launch(executable_path=str(CHROMIUM), args=FLAGS)
        yield chromium
        chromium.close()


class Visit:
    """A page of the browser that records console errors, uncaught exceptions and dialogs."""

    def __init__(self, browser: Any) -> None:
        self.page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.dialogs: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("dialog", self._dialog)
        self.page.on("requestfailed", lambda req: self.errors.append(f"request failed: {req.url}"))

    def _console(self, message: Any) -> None:
        if message.type in {"error", "warning"}:
            self.errors.append(f"{message.type}: {message.text}")

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def open(self, path: Path, fragment: str = "") -> Any:
        self.page.goto(path.as_uri() + fragment)
        return self.page

    def shown(self) -> list[tuple[str, str]]:
        """(id, configuration) of the rows of the methods table that are displayed, in table order."""
        rows = self.page.eval_on_selector_all(
            "#methods tbody tr",
            "rows => rows.filter(r => !r.hidden && r.offsetParent !== null)"
            ".map(r => [r.dataset.id, r.dataset.config])",
        )
        return [(str(a), str(b)) for a, b in rows]

    def shot(self, name: str, full_page: bool = False) -> Path:
        SHOTS.mkdir(parents=True, exist_ok=True)
        path = SHOTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=full_page)
        return path

    def close(self) -> None:
        self.page.close()


@pytest.fixture
def visit(browser: Any) -> Iterator[Visit]:
    v = Visit(browser)
    yield v
    v.close()


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> SiteReport:
    return build_site(catalog, tmp_path_factory.mktemp("browser") / "site")


def expected(catalog: Catalog, **facets: Any) -> list[tuple[str, str]]:
    rows = catalog.index.rows
    return [(rows[i]["id"], rows[i]["configuration"]) for i in catalog.index.select(**facets)]


def test_knowledge_filter_shows_what_kdtax_list_returns(
    visit: Visit, site: SiteReport, runner: CliRunner, catalog: Catalog
) -> None:
    listed = runner.invoke(
        app, ["--catalog", str(CATALOG), "list", "--knowledge=mutual-information", "--format", "json"]
    )
    assert listed.exit_code == 0, listed.output
    import json

    cli = [(r["id"], r["configuration"]) for r in json.loads(listed.output)]
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    page.check("input[value='knowledge:mutual-information']")
    assert visit.shown() == cli and len(cli) >= 3
    assert page.text_content("#shown") == f"{len(cli)} of {len(catalog.index.rows)} configurations match"
    assert page.url.endswith("#knowledge=mutual-information")  # the filtered view is a link
    visit.shot("index-filtered-mutual-information")
    assert visit.errors == [] and visit.dialogs == []


def test_every_facet_value_and_its_counts_match_the_index(
    visit: Visit, site: SiteReport, catalog: Catalog
) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    boxes = page.eval_on_selector_all("#facets input", "bs => bs.map(b => [b.name, b.value])")
    assert len(boxes) == sum(len(catalog.vocabulary.terms(s)) for steps in FACETS.values() for s in steps)
    for facet, value in boxes:
        term = value.split(":")[1]
        selector = f"#facets input[value='{value}']"
        page.check(selector)
        assert visit.shown() == expected(catalog, **{facet.replace("-", "_"): term}), value
        page.uncheck(selector)
    assert len(visit.shown()) == len(catalog.index.rows)
    # with one filter on, each value's count is the size of the AND of both filters
    page.check("input[value='teacher-setup:single']")
    counts = page.eval_on_selector_all(
        "#facets [data-count]", "ns => ns.map(n => [n.dataset.count, n.textContent])"
    )
    facet_of = {step: facet for facet, steps in FACETS.items() for step in steps}
    for value, text in counts:
        step, term = value.split(":")
        facet = facet_of[step].replace("-", "_")
        both = catalog.index.select(
            **({"teacher": ["single", term]} if facet == "teacher" else {"teacher": "single", facet: term})
        )
        assert text == f"({len(both)})", value
    assert visit.errors == []


def test_filters_combine_with_and(visit: Visit, site: SiteReport, catalog: Catalog) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    page.check("input[value='knowledge:soft-labels']")
    page.check("input[value='transfer:sequential']")
    page.check("input[value='objective:simple-model']")
    want = expected(catalog, knowledge="soft-labels", transfer="sequential", objective="simple-model")
    assert visit.shown() == want and want
    page.click("#clear")
    assert len(visit.shown()) == len(catalog.index.rows)
    assert not page.url.endswith("#knowledge=soft-labels")


def test_search_finds_a_method_by_a_word_of_its_title(
    visit: Visit, site: SiteReport, catalog: Catalog
) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    for word, method in (
        ("assistant", "mirzadeh2020-takd"),
        ("Multi-Script", "ghoshdastidar2021-multiscript-kd"),
    ):
        assert word.lower() in catalog.get(method).title.lower()
        page.fill("#search", word)
        shown = visit.shown()
        assert shown == expected(catalog, search=word)
        assert method in {i for i, _ in shown}
    page.fill("#search", "relational area-wise")
    assert visit.shown() == expected(catalog, search="relational area-wise")
    page.fill("#search", "no-such-word-anywhere")
    assert visit.shown() == []
    assert page.text_content("#shown", timeout=1000).startswith("0 of ")
    assert visit.errors == []


def test_dataset_and_year_filters_match_the_cli(visit: Visit, site: SiteReport, catalog: Catalog) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#dataset", "cifar")
    assert visit.shown() == expected(catalog, dataset="cifar") and visit.shown()
    page.fill("#year-from", "2018")
    page.fill("#year-to", "2020")
    want = expected(catalog, dataset="cifar", year="2018-2020")
    assert visit.shown() == want and 0 < len(want) < len(expected(catalog, dataset="cifar"))
    assert page.url.endswith("#dataset=cifar&year=2018-2020")
    page.fill("#dataset", "")
    page.fill("#year-to", "")
    assert visit.shown() == expected(catalog, year="2018-")
    page = visit.open(site.index, "#year=2019&knowledge=relations")
    page.wait_for_selector("body[data-ready='1']")
    assert visit.shown() == expected(catalog, year="2019", knowledge="relations")
    assert visit.errors == []


def test_fragment_restores_filters(visit: Visit, site: SiteReport, catalog: Catalog) -> None:
    page = visit.open(site.index, "#knowledge=mutual-information&search=student")
    page.wait_for_selector("body[data-ready='1']")
    assert page.is_checked("input[value='knowledge:mutual-information']")
    assert page.input_value("#search") == "student"
    assert visit.shown() == expected(catalog, knowledge="mutual-information", search="student")


def test_sorting_by_year(visit: Visit, site: SiteReport) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    page.click("#methods thead th:nth-child(2)")
    years = page.eval_on_selector_all(
        "#methods tbody tr td:nth-child(2)", "cs => cs.map(c => Number(c.textContent))"
    )
    assert years == sorted(years) and len(set(years)) > 3
    page.click("#methods thead th:nth-child(2)")
    years = page.eval_on_selector_all(
        "#methods tbody tr td:nth-child(2)", "cs => cs.map(c => Number(c.textContent))"
    )
    assert years == sorted(years, reverse=True)


def test_method_page_opens_from_the_table(visit: Visit, site: SiteReport, catalog: Catalog) -> None:
    page = visit.open(site.index)
    page.wait_for_selector("body[data-ready='1']")
    page.fill("#search", "teacher assistant")
    page.click("a[href='methods/mirzadeh2020-takd.html#config-main']")
    page.wait_for_url("**/methods/mirzadeh2020-takd.html#config-main")
    assert page.text_content("h1") == catalog.get("mirzadeh2020-takd").title
    assert page.is_visible("#config-main svg.topology")
    assert page.eval_on_selector("#config-main svg.topology", "s => s.getBBox().width") > 100
    visit.shot("method-mirzadeh2020-takd", full_page=True)
    # the BibTeX is selected (and copied where the clipboard is allowed) by its button
    page.click("button[aria-label='copy BibTeX']")
    assert (
        page.evaluate("() => window.getSelection().toString()").strip()
        == page.text_content("#bibtex").strip()
    )
    page.wait_for_function(
        "() => document.querySelector(\"button[aria-label='copy BibTeX']\").textContent !== 'Copy'",
        timeout=5000,
    )
    assert page.text_content("button[aria-label='copy BibTeX']") in {"Copied", "Selected: press Ctrl+C"}
    assert visit.errors == []


def test_no_console_errors_on_any_page(visit: Visit, site: SiteReport) -> None:
    for path in site.pages:
        visit.open(path)
        assert visit.errors == [], path
    assert visit.dialogs == []
    visit.open(site.out_dir / "results.html")
    visit.shot("results")
    visit.open(site.index)
    visit.page.click("#stage-figures summary")
    visit.shot("index", full_page=True)
    visit.open(site.out_dir / "vocab" / "knowledge.html")
    visit.shot("vocab-knowledge")


def test_malicious_fixture_executes_nothing(visit: Visit, tmp_path: Path) -> None:
    root = make_catalog(
        tmp_path,
        FIXTURES / "valid" / "malicious-text.yaml",
        CATALOG / "methods" / "ahn2019-vid.yaml",
        datasets=FIXTURES / "datasets" / "malicious.yaml",
    )
    report = build_site(load_catalog(root, use_cache=False), tmp_path / "site")
    for path in report.pages:
        page = visit.open(path)
        assert page.title() != "pwned"
        # nothing from the catalog became an element: no images, frames, or extra scripts
        assert page.eval_on_selector_all("img, iframe, object, embed", "xs => xs.length") == 0
        scripts = page.eval_on_selector_all("script:not([type='application/json'])", "xs => xs.length")
        assert scripts == (1 if path == report.index or path.parent.name == "methods" else 0)
        data = page.eval_on_selector_all("script[type='application/json']", "xs => xs.length")
        assert data == (1 if path == report.index else 0)
    page = visit.open(report.out_dir / "methods" / "malicious-text.html")
    assert "<script>alert('x')</script> Distillation" in page.text_content("h1")
    visit.shot("malicious-text")
    page = visit.open(report.index)
    page.fill("#search", "alert")
    assert {i for i, _ in visit.shown()} == {"malicious-text"}
    assert visit.dialogs == [] and visit.errors == []


def test_large_catalog_draws_rows_a_page_at_a_time(visit: Visit, tmp_path: Path) -> None:
    from benchmarks.generated_catalog import write_generated_catalog

    big = load_catalog(write_generated_catalog(120, tmp_path / "big"), use_cache=False)
    report = build_site(big, tmp_path / "site", reproduced={})
    total = len(big.index.rows)
    assert total > 200
    page = visit.open(report.index)
    page.wait_for_selector("body[data-ready='1']")
    assert len(visit.shown()) == 100
    assert page.text_content("#more") == f"Show 100 more ({total - 100} not shown)"
    while page.is_visible("#more"):
        page.click("#more")
    assert visit.shown() == expected(big)
    page.check("input[value='knowledge:mutual-information']")
    want = expected(big, knowledge="mutual-information")
    drawn = visit.shown()
    assert drawn == want[:100]
    if len(want) > 100:
        page.click("#more")
        assert visit.shown() == want[:200]
    assert visit.errors == []
