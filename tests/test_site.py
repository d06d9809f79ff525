"""The static site: page counts, local links and anchors, escaping of catalog text, the CLI, no torch."""

from __future__ import annotations

import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import unquote

import pytest
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog, load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.render.site import INDEX_SCRIPT, SiteReport, build_site
from tests.conftest import CATALOG, FIXTURES, make_catalog


class Page(HTMLParser):
    """Links, ids and script bodies of one page."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.links: list[str] = []
        self.ids: set[str] = set()
        self.scripts: list[str] = []
        self.rows: dict[str, int] = {}
        self._script: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attr = dict(attrs)
        if attr.get("id"):
            self.ids.add(str(attr["id"]))
        if tag == "a" and attr.get("href") is not None:
            self.links.append(str(attr["href"]))
        if tag == "tr" and attr.get("class"):
            key = str(attr["class"])
            self.rows[key] = self.rows.get(key, 0) + 1
        if tag == "script":
            self._script = []

    def handle_endtag(self, tag: str) -> None:
        if tag == "script" and self._script is not None:
            self.scripts.append("".join(self._script))
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
    assert len(site.pages) == 1 + len(catalog) + len(steps)
    index = parse(site.index)
    assert index.rows["survey-row"] == 18
    assert index.rows["method-row"] == len(catalog.index.rows) == len(list(catalog.configurations()))


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
        tmp_path, FIXTURES / "valid" / "malicious-text.yaml", CATALOG / "methods" / "ahn2019-vid.yaml"
    )
    report = build_site(load_catalog(root, use_cache=False), tmp_path / "site")
    everything = ""
    for path in report.pages:
        text = path.read_text(encoding="utf-8")
        everything += text
        page = parse(path)
        assert page.scripts == (
            [INDEX_SCRIPT] if path.name == "index.html" and path.parent == report.out_dir else []
        )
        assert text.count("<script") == len(page.scripts)
        lowered = text.lower()
        assert "<img" not in lowered
        assert "<svg" not in lowered
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
