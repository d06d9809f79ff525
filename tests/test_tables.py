"""Comparison tables: stage tables, results, and the HTML/LaTeX renderings (catalog text is never markup)."""

from __future__ import annotations

import json
import re
from pathlib import Path

from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog, load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.render import tables

from .conftest import CATALOG, FIXTURES, make_catalog


def test_every_stage_table_has_a_row_per_configuration_and_a_column_per_step(catalog: Catalog) -> None:
    pairs = list(catalog.configurations())
    for name, (stage, _) in tables.STAGE_TABLES.items():
        table = tables.stage_table(catalog, name, pairs)
        assert len(table.rows) == len(pairs)
        steps = list(catalog.vocabulary.data.stages[stage].steps)
        assert [k for k in table.keys if k in steps] == steps
    teacher = tables.stage_table(catalog, "teacher", catalog.filter(knowledge="MI"))
    vid = next(r for r in teacher.rows if r["id"] == "ahn2019-vid#main")
    assert vid["teacher-setup"] == "Single" and vid["teacher_models"] == "ResNet-34"


def test_results_table_lists_reported_numbers_with_sources(catalog: Catalog, tmp_path: Path) -> None:
    table = tables.results_table(catalog.filter(search="Ghosh Dastidar"), results_dir=tmp_path)
    values = {(r["model"], r["value"]) for r in table.rows}
    assert ("Teacher InceptionV3, Assistant Conv-LSTM", "89.19%") in values
    assert all(r["kind"] == "reported" for r in table.rows)
    # the search also finds FitNets and AT, which now hold repository-sourced results
    own = [r for r in table.rows if r["id"].startswith("ghoshdastidar2021")]
    assert own and all(r["source"].startswith("this paper, ") for r in own)
    assert any(r["source"] == "this paper, Table 6" for r in table.rows)


def test_latex_is_booktabs_with_cite_keys_matching_kdtax_cite(catalog: Catalog) -> None:
    text = tables.to_latex(tables.summary_tables(catalog.configurations())[0])
    assert r"\toprule" in text and r"\midrule" in text and r"\bottomrule" in text
    keys = re.findall(r"\\cite\{([^}]+)\}", text)
    assert len(keys) == 9 and all(k in catalog.entries for k in keys)
    assert tables.latex_escape("a & b % $ # _ ~ ^ \\ {c}") == (
        r"a \& b \% \$ \# \_ \textasciitilde{} \textasciicircum{} \textbackslash{} \{c\}"
    )


def test_html_renders_catalog_text_as_inert_text(tmp_path: Path) -> None:
    root = make_catalog(
        tmp_path,
        FIXTURES / "valid" / "malicious-text.yaml",
        datasets=FIXTURES / "datasets" / "malicious.yaml",
    )
    catalog = load_catalog(root)
    pairs = list(catalog.configurations())
    built = [tables.stage_table(catalog, "teacher", pairs), tables.results_table(pairs, results_dir=tmp_path)]
    page = tables.to_html(built, "<script>title</script>")
    assert "<script>" not in page and "<img" not in page and "<svg" not in page and "<b>" not in page
    assert "&lt;b&gt;big&lt;/b&gt;" in page and "&lt;svg onload=alert(4)&gt;" in page
    assert "&#34;&gt;&lt;img src=x onerror=alert(6)&gt;" in page
    assert "<table>" in page and page.count("<tr>") == 1 + 1 + 1 + 1  # two tables: header + one row each


def test_cli_tables_all_formats(runner: CliRunner, tmp_path: Path) -> None:
    for name in tables.TABLES:
        for fmt in ("md", "csv", "json", "html", "latex"):
            result = runner.invoke(app, ["--catalog", str(CATALOG), "table", name, "--format", fmt])
            assert result.exit_code == 0, (name, fmt, result.stderr)
            assert result.stdout.strip(), (name, fmt)
    out = tmp_path / "summary.html"
    result = runner.invoke(
        app, ["--catalog", str(CATALOG), "table", "summary", "--format", "html", "-o", str(out)]
    )
    assert result.exit_code == 0
    page = out.read_text(encoding="utf-8")
    assert "TABLE I. Summarization" in page and "TABLE II. Summarization" in page
    assert page.count("<tr>") == 18 + 2
    rows = json.loads(
        runner.invoke(
            app,
            [
                "--catalog",
                str(CATALOG),
                "table",
                "distillation",
                "--transfer",
                "conditional",
                "--format",
                "json",
            ],
        ).stdout
    )
    assert [r["id"] for r in rows] == ["meng2019-conditional-ts#main"]
    bad = runner.invoke(app, ["--catalog", str(CATALOG), "table", "teacher", "--knowledge", "nope"])
    assert bad.exit_code == 1 and "unknown --knowledge value 'nope'" in bad.stderr
