"""The static site: page counts, local links and anchors, escaping of catalog text, the CLI, no torch."""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from markupsafe import escape
from typer.testing import CliRunner

import kdtaxonomy.render.site as site_module
from kdtaxonomy.bench import Aggregate
from kdtaxonomy.catalog import Catalog, load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.lookup import FACETS
from kdtaxonomy.render import leaderboard
from kdtaxonomy.render.figures import Bar, bar_chart_svg, stage_svg
from kdtaxonomy.render.site import MARKER, METHOD_COLUMNS, SiteError, SiteReport, build_site, site_script
from kdtaxonomy.render.site_results import reported_charts
from kdtaxonomy.schema import step_terms
from tests.conftest import CATALOG, FIXTURES, make_catalog, write_suite_run


class Page(HTMLParser):
    """Links, ids and script bodies of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[str] = []
        self.rows: dict[str, int] = {}
        self.handlers: list[str] = []
        self.tags: dict[str, int] = {}
        self.data: list[str] = []
        self._script: list[str] | None = None
        self._is_data = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        self.tags[tag] = self.tags.get(tag, 0) + 1
        self.handlers += [f"{tag} {name}" for name, _ in attrs if name.lower().startswith("on")]
        if attr.get("id"):
            self.ids.add(str(attr["id"]))
        if tag == "a" and attr.get("href") is not None:
            self.links.append(str(attr["href"]))
        if tag == "tr" and attr.get("class"):
            key = str(attr["class"])
            self.rows[key] = self.rows.get(key, 0) + 1
        if tag == "script":
            self._script = []
            self._is_data = attr.get("type") == "application/json"

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            (self.data if self._is_data else self.scripts).append("".join(self._script))
            self._script = None

    def handle_data(self, data: str) -> None:
        if self._script is not None:
            self._script.append(data)


def parse(path: Path) -> Page:
    page = Page()
    page.feed(path.read_text(encoding="utf-8"))
    page.close()
    return page


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory, catalog: Catalog) -> SiteReport:
    return build_site(catalog, tmp_path_factory.mktemp("site"))


def test_pages(site: SiteReport, catalog: Catalog) -> None:
    out = site.out_dir
    assert site.index == out / "index.html"
    assert {p.name for p in (out / "methods").iterdir()} == {f"{i}.html" for i in catalog.entries}
    steps = catalog.vocabulary.steps
    assert {p.name for p in (out / "vocab").iterdir()} == {f"{s}.html" for s in steps}
    boards = leaderboard.datasets_with_results(catalog)
    assert {p.name for p in (out / "leaderboards").iterdir()} == {
        f"{catalog.datasets.id_of(d)}.html" for d in boards
    }
    assert len(site.pages) == 3 + len(catalog) + len(steps) + len(boards)
    assert (
        (out / "results.html").is_file() and (out / "benchmark.html").is_file() and (out / MARKER).is_file()
    )
    index = parse(site.index)
    assert index.rows["survey-row"] == 18
    assert (
        len(json.loads(index.data[0])["rows"])
        == len(catalog.index.rows)
        == len(list(catalog.configurations()))
    )


def test_local_links_resolve(site: SiteReport) -> None:
    pages = {p.resolve(): parse(p) for p in site.pages}
    checked = 0
    for path, page in pages.items():
        for href in page.links:
            assert not href.lower().startswith("javascript:"), (path, href)
            if re.match(r"^[a-z][a-z0-9+.-]*:", href, re.I):
                assert href.startswith(("http://", "https://")), (path, href)
                continue
            target, _, anchor = href.partition("#")
            dest = (path.parent / unquote(target)).resolve() if target else path
            assert dest.is_file(), (path, href)
            if anchor:
                assert anchor in pages[dest].ids, (path, href)
            checked += 1
    assert checked > 500


def test_method_page_content(site: SiteReport) -> None:
    text = (site.out_dir / "methods" / "ahn2019-vid.html").read_text(encoding="utf-8")
    assert 'id="config-main"' in text
    assert "kdtax train ahn2019-vid --config main" in text
    assert (
        "@inproceedings{ahn2019-vid" in text or "@article{ahn2019-vid" in text or "@misc{ahn2019-vid" in text
    )
    assert "&#34;id&#34;: &#34;ahn2019-vid&#34;" in text or "&quot;id&quot;: &quot;ahn2019-vid&quot;" in text
    assert 'href="../vocab/knowledge.html#mutual-information"' in text
    assert "Similar configurations" in text


def test_catalog_text_is_escaped(tmp_path: Path) -> None:
    root = make_catalog(
        tmp_path,
        FIXTURES / "valid" / "malicious-text.yaml",
        CATALOG / "methods" / "ahn2019-vid.yaml",
        datasets=FIXTURES / "datasets" / "malicious.yaml",
    )
    # suite results whose regime, method, configuration, chosen variant and published label are markup
    regime, method = '"><svg onload=alert(8)>', "<script>alert(6)"
    variant = {"<b>k</b>": 1.0}
    for seed in range(3):
        write_suite_run(
            tmp_path / "results", regime, method, seed, configuration="<iframe src=x>#<b>c</b>",
            published_method="<img src=x onerror=alert(9)>", hyperparameters={"variant": variant},
        )  # fmt: skip
    report = build_site(load_catalog(root, use_cache=False), tmp_path / "site", tmp_path / "results")
    everything = ""
    for path in report.pages:
        text = path.read_text(encoding="utf-8")
        everything += text
        page = parse(path)
        if path == report.index:
            assert page.scripts == [site_script("index")]
        elif path.parent.name == "methods":
            assert page.scripts == [site_script("method")]
        else:
            assert page.scripts == []
        assert text.count("<script") == len(page.scripts) + len(page.data)
        lowered = text.lower()
        assert "<img" not in lowered
        # the only SVG elements are the site's own figures
        assert lowered.count("<svg") == lowered.count('<svg xmlns="http://www.w3.org/2000/svg" class="figure')
        assert page.handlers == []  # no element carries an event-handler attribute
        for blob in page.data:  # embedded JSON: no raw < > & that could end its element
            assert not set("<>&") & set(blob)
            json.loads(blob)
        assert "<iframe" not in lowered
        assert 'href="javascript:' not in lowered
        assert "<b>" not in lowered
    malicious = (report.out_dir / "methods" / "malicious-text.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(" in malicious
    assert "&lt;img src=x onerror=alert(1)&gt;" in malicious
    assert "&lt;svg onload=alert(4)&gt;" in malicious
    assert "&lt;iframe src=" in malicious
    assert "javascript:alert(1)" in malicious  # the venue, as text
    assert "&lt;script&gt;alert(&#39;x&#39;)&lt;/script&gt;" in everything  # the title, in the index too
    results = (report.out_dir / "results.html").read_text(encoding="utf-8")
    assert "&lt;script&gt;alert(5)&lt;/script&gt;" in results  # a reported result's dataset, in a chart title
    benchmark = (report.out_dir / "benchmark.html").read_text(encoding="utf-8")
    assert benchmark.count('<tr class="benchmark-row">') == 1
    assert "<code>&lt;script&gt;alert(6)</code>" in benchmark  # the method, as text
    assert "&#34;&gt;&lt;svg onload=alert(8)&gt;" in benchmark  # the regime's heading
    assert 'id="regime-svg-onload-alert-8"' in benchmark  # and its anchor, letters and digits only
    assert "&lt;iframe src=x&gt;#&lt;b&gt;c&lt;/b&gt;" in benchmark and "&lt;b&gt;k&lt;/b&gt;=1" in benchmark


def test_cli_site_build(tmp_path: Path, runner: CliRunner) -> None:
    out = tmp_path / "built"
    result = runner.invoke(app, ["--catalog", str(CATALOG), "site", "build", "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert (out / "index.html").is_file()
    assert str(out / "index.html") in result.output
    assert re.search(r"wrote \d+ page\(s\)", result.output)


def test_site_build_does_not_import_torch(tmp_path: Path) -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kdtaxonomy.cli import app\n"
        f"r = CliRunner().invoke(app, ['--catalog', {str(CATALOG)!r}, 'site', 'build', '-o', {str(tmp_path)!r}])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
    assert (tmp_path / "index.html").is_file()


def test_index_figures_and_filters(site: SiteReport, catalog: Catalog) -> None:
    text = site.index.read_text(encoding="utf-8")
    page = parse(site.index)
    vocab = catalog.vocabulary
    stages = vocab.data.stages
    # one model figure and one figure per stage (survey Figs. 1-6)
    assert page.tags["svg"] == 1 + len(stages)
    for key, stage in stages.items():
        assert f'id="figure-{key}"' in text
        for step in stage.steps.values():
            assert escape(step.label) in text
    # one checkbox per term of every facet of `kdtax list`, with the whole catalog's count
    boxes = re.findall(r'<input type="checkbox" name="([a-z-]+)" value="([a-z-]+):([a-z0-9-]+)">', text)
    expected = {
        (facet, step, term) for facet, steps in FACETS.items() for step in steps for term in vocab.terms(step)
    }
    assert set(boxes) == expected and len(boxes) == len(expected)
    pairs = list(catalog.configurations())
    for _facet, step, term in boxes:
        n = sum(term in step_terms(config, step) for _, config in pairs)
        assert f'data-count="{step}:{term}">({n})</span>' in text
    # the embedded data gives each row the facet tokens its filters read and the CLI's search text
    (blob,) = page.data
    data = json.loads(blob)
    assert len(data["rows"]) == len(pairs)
    by_key = {(e.id, c.name): c for e, c in pairs}
    for i, (entry_index, name, cells, tokens, text, year, datasets) in enumerate(data["rows"]):
        entry_id = data["entries"][entry_index][0]
        config = by_key[(entry_id, name)]
        want = {f"{s}:{t}" for steps in FACETS.values() for s in steps for t in step_terms(config, s)}
        assert {data["terms"][t] for t in tokens} == want
        assert text == catalog.index.text[i] and len(cells) == len(METHOD_COLUMNS)
        assert year == catalog.index.rows[i]["year"] and datasets == list(config.datasets)
        assert data["entries"][entry_index][2] == catalog.index.entry_text[entry_id]


def csp(page: str) -> str:
    match = re.search(r'<meta http-equiv="Content-Security-Policy" content="([^"]*)">', page)
    assert match is not None
    return html.unescape(match.group(1))


def test_content_security_policy_allows_only_the_shipped_script(site: SiteReport) -> None:
    digest = base64.b64encode(hashlib.sha256(site_script().encode()).digest()).decode()
    index = site.index.read_text(encoding="utf-8")
    assert f"script-src 'sha256-{digest}'" in csp(index)
    assert f"<script>{site_script()}</script>" in index
    method = (site.out_dir / "methods" / "ahn2019-vid.html").read_text(encoding="utf-8")
    copy = base64.b64encode(hashlib.sha256(site_script("method").encode()).digest()).decode()
    assert f"script-src 'sha256-{copy}'" in csp(method) and "default-src 'none'" in csp(method)
    vocab = (site.out_dir / "vocab" / "knowledge.html").read_text(encoding="utf-8")
    assert "script-src 'none'" in csp(vocab)


def test_method_page_topology_and_reproduced(tmp_path: Path, catalog: Catalog) -> None:
    agg = Aggregate(
        "mirzadeh2020-takd", "main", [0, 1], teacher=[90.0, 92.0], alone=[70.0, 72.0], distilled=[75.0, 79.0],
        dataset={"name": "mnist1d", "num_train": 4000, "num_test": 1000}, commits=["0123456789abcdef"],
    )  # fmt: skip
    report = build_site(catalog, tmp_path / "s", reproduced={("mirzadeh2020-takd", "main"): agg})
    text = (report.out_dir / "methods" / "mirzadeh2020-takd.html").read_text(encoding="utf-8")
    # the chain teacher -> assistant-1 -> student, as three boxes and two arrows
    figure = text[
        text.index('class="figure topology"') : text.index("</svg>", text.index('class="figure topology"'))
    ]
    assert figure.count("<rect") == 3 and figure.count('marker-end="url(#arrow)"') == 2
    assert ">teacher<" in figure and ">assistant-1<" in figure and ">student<" in figure
    # reproduced: mean ± std (ddof=1) and the difference
    assert "91.00 ± 1.41" in text and "71.00 ± 1.41" in text and "77.00 ± 2.83" in text and "+6.00" in text
    assert "0123456789" in text
    results = (report.out_dir / "results.html").read_text(encoding="utf-8")
    assert 'href="methods/mirzadeh2020-takd.html#config-main"' in results
    other = (report.out_dir / "methods" / "ahn2019-vid.html").read_text(encoding="utf-8")
    assert "None yet: run <code>kdtax bench ahn2019-vid</code>" in other


def test_bar_chart_geometry() -> None:
    svg = str(bar_chart_svg("t", [Bar("a", 50.0, 5.0, "baseline"), Bar("b", 100.0)], "%", 100.0))
    widths = [float(w) for w in re.findall(r'<rect x="[\d.]+" y="[\d.]+" width="([\d.]+)"', svg)]
    assert widths == [150.0, 300.0]  # proportional to the value on a 300-px axis from 0 to 100
    assert "50% ± 5.00" in svg and ">100%<" in svg
    assert str(bar_chart_svg("empty", [])) == ""


def test_stage_figure_counts(catalog: Catalog) -> None:
    svg = str(stage_svg(catalog.vocabulary, "distillation", {("knowledge", "soft-labels"): 42}))
    assert "Soft labels (42)" in svg and "Mutual information (0)" in svg


def test_site_is_replaced_whole_and_user_folders_are_kept(tmp_path: Path, catalog: Catalog) -> None:
    out = tmp_path / "site"
    build_site(catalog, out)
    (out / "stale.html").write_text("old")
    build_site(catalog, out)  # a rebuilt site has no leftovers from the previous one
    assert not (out / "stale.html").exists() and (out / "index.html").is_file()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]  # no temporary folders left
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "notes.txt").write_text("keep me")
    with pytest.raises(SiteError, match="refusing to replace it"):
        build_site(catalog, mine)
    assert (mine / "notes.txt").read_text() == "keep me" and len(list(mine.iterdir())) == 1


def test_failed_build_keeps_the_previous_site(
    tmp_path: Path, catalog: Catalog, monkeypatch: pytest.MonkeyPatch
) -> None:
    out = tmp_path / "site"
    build_site(catalog, out)
    before = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}

    def broken(*args: object, **kwargs: object) -> list[dict[str, object]]:
        raise RuntimeError("disk on fire")

    monkeypatch.setattr(site_module, "reported_charts", broken)
    with pytest.raises(RuntimeError, match="disk on fire"):
        build_site(catalog, out)
    after = {p.relative_to(out): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert after == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["site"]


def test_cli_refuses_a_folder_it_did_not_write(tmp_path: Path, runner: CliRunner) -> None:
    (tmp_path / "precious.txt").write_text("x")
    result = runner.invoke(app, ["--catalog", str(CATALOG), "site", "build", "-o", str(tmp_path)])
    assert result.exit_code == 1
    assert f"error: {tmp_path.absolute()}: folder is not empty" in result.output
    assert "Traceback" not in result.output
    assert [p.name for p in tmp_path.iterdir()] == ["precious.txt"]


def test_reported_charts_group_and_cap(catalog: Catalog) -> None:
    charts = reported_charts(catalog)
    assert sum(c["n"] for c in charts) == sum(len(e.results) for e in catalog)
    assert len({c["anchor"] for c in charts}) == len(charts)
    capped = reported_charts(catalog, max_bars=3)
    for chart in capped:
        assert str(chart["svg"]).count("<rect") == min(chart["n"], 3)
        assert chart["omitted"] == max(chart["n"] - 3, 0)
