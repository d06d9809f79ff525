"""Every query command through typer's CliRunner at a fixed width, and the no-torch query path."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys

import pytest
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.render.rows import SUMMARY_KEYS

from .conftest import CATALOG


def run(runner: CliRunner, *args: str) -> str:
    result = runner.invoke(app, ["--catalog", str(CATALOG), *args])
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_list_table(runner: CliRunner) -> None:
    out = run(runner, "list", "--knowledge=mutual-information")
    assert "ahn2019-vid" in out
    assert "configuration(s)" in out
    assert "park2019-rkd" not in out


def test_list_json_has_ids_titles_years_and_terms(runner: CliRunner, catalog: Catalog) -> None:
    data = json.loads(run(runner, "list", "--knowledge", "Mutual information", "--format", "json"))
    assert data and all(
        {"id", "title", "year", "knowledge", "transfer", "teacher", "student"} <= set(d) for d in data
    )
    assert {d["id"] for d in data} == {e.id for e, _ in catalog.filter(knowledge="mutual-information")}
    assert all("mutual-information" in d["knowledge"] for d in data)


@pytest.mark.parametrize("spelling", ["MI", "mutual-information", "Mutual information"])
def test_synonyms_give_the_same_list(runner: CliRunner, spelling: str) -> None:
    reference = run(runner, "list", "--knowledge=mutual-information", "--format", "json")
    assert run(runner, "list", f"--knowledge={spelling}", "--format", "json") == reference


def test_list_csv_and_markdown(runner: CliRunner) -> None:
    rows = list(
        csv.DictReader(io.StringIO(run(runner, "list", "--transfer", "conditional", "--format", "csv")))
    )
    assert [r["id"] for r in rows] == ["meng2019-conditional-ts"]
    md = run(runner, "list", "--transfer", "conditional", "--format", "md")
    assert md.startswith("| id | configuration | title |")


def test_unknown_term_exits_1_with_close_matches(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--catalog", str(CATALOG), "list", "--knowledge=mutual-infomation"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        "error: unknown --knowledge value 'mutual-infomation'. Did you mean: mutual-information?"
    )
    assert "Traceback" not in result.output


def test_show_formats(runner: CliRunner) -> None:
    out = run(runner, "show", "zhang-multimodal-kd")
    for text in (
        "Knowledge Distillation from Multi-Modality to Single-Modality",
        "distribution-level",
        "Reported results",
        "Table 2",
    ):
        assert text in out
    data = json.loads(
        run(runner, "show", "zhang-multimodal-kd", "--config", "distribution-level", "--format", "json")
    )
    assert [c["name"] for c in data["configurations"]] == ["distribution-level"]
    assert all(r.get("configuration") in (None, "distribution-level") for r in data["results"])
    md = run(runner, "show", "ahn2019-vid", "--format", "md")
    assert md.startswith("# Variational Information Distillation")
    assert "| 3. Knowledge distillation | Knowledge | Mutual information |" in md


def test_show_unknown_id_and_config(runner: CliRunner) -> None:
    result = runner.invoke(app, ["--catalog", str(CATALOG), "show", "ahn2019-vd"])
    assert result.exit_code == 1 and "Did you mean: ahn2019-vid" in result.stderr
    result = runner.invoke(app, ["--catalog", str(CATALOG), "show", "ahn2019-vid", "--config", "nope"])
    assert result.exit_code == 1 and "has no configuration 'nope'" in result.stderr


def test_vocab(runner: CliRunner) -> None:
    assert "mutual-information" in run(runner, "vocab", "distillation")
    data = json.loads(run(runner, "vocab", "knowledge", "--format", "json"))
    mi = next(d for d in data if d["term"] == "mutual-information")
    assert "MI".lower() in [s.lower() for s in mi["synonyms"]]
    assert mi["gou"] == ["feature-based"]
    result = runner.invoke(app, ["--catalog", str(CATALOG), "vocab", "distilation"])
    assert result.exit_code == 1 and "Did you mean: distillation" in result.stderr


def test_validate_shipped_catalog(runner: CliRunner) -> None:
    assert run(runner, "validate").startswith("ok: ")


def test_cite_bibtex_and_csl(runner: CliRunner) -> None:
    bib = run(runner, "cite", "ahn2019-vid")
    assert bib.startswith("@inproceedings{ahn2019-vid,")
    assert "author = {Sungsoo Ahn and Shell Xu Hu and" in bib
    assert "pages = {9163--9171}" in bib
    assert bib.count("{") == bib.count("}")
    items = json.loads(run(runner, "cite", "ahn2019-vid", "zhang-multimodal-kd", "--format", "csl-json"))
    assert items[0]["author"][0] == {"family": "Ahn", "given": "Sungsoo"}
    assert items[0]["issued"] == {"date-parts": [[2019]]}
    assert items[1]["id"] == "zhang-multimodal-kd"


def test_table_summary_json_has_exactly_the_survey_keys(runner: CliRunner) -> None:
    data = json.loads(run(runner, "table", "summary", "--format", "json"))
    assert len(data) == 18
    assert all(list(row) == list(SUMMARY_KEYS) for row in data)
    assert data[4]["work"] == "[1] (Ex.1)" and data[4]["student_model"] == "ASR"


def test_table_summary_md_and_filters_and_output_file(runner: CliRunner, tmp_path) -> None:
    md = run(runner, "table", "summary")
    assert "TABLE I. Summarization" in md and "TABLE II. Summarization" in md
    assert (
        "| Work | Objective | Data Modification |" in md and "| Work | Objective | Data Preparation |" in md
    )
    filtered = json.loads(run(runner, "table", "summary", "--knowledge", "MI", "--format", "json"))
    assert {r["work"] for r in filtered} == {"[9]", "[14]", "[15]", "[16]", "[8]"}
    target = tmp_path / "summary.csv"
    runner.invoke(app, ["--catalog", str(CATALOG), "table", "summary", "--format", "csv", "-o", str(target)])
    assert target.read_text().splitlines()[0] == ",".join(SUMMARY_KEYS)


def test_version_and_help(runner: CliRunner) -> None:
    assert run(runner, "--version").startswith("kdtax ")
    assert "list" in run(runner, "--help")


def test_query_commands_do_not_import_torch() -> None:
    code = (
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kdtaxonomy.cli import app\n"
        f"for args in (['list', '--knowledge=MI'], ['show', 'ahn2019-vid'], ['validate'], ['table', 'summary'], ['schema'], ['cite', 'ahn2019-vid'], ['vocab']):\n"
        f"    r = CliRunner().invoke(app, ['--catalog', {str(CATALOG)!r}, *args])\n"
        "    assert r.exit_code == 0, (args, r.output)\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"
