"""Every catalogued configuration's "run it" Python snippet runs as ``kdtax show`` and the site print it."""

from __future__ import annotations

import html
import json
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from kdtaxonomy.catalog import load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.render.snippet import SNIPPET_STEPS, TASK_OPTIONS, python_snippet

from .conftest import CATALOG

PAIRS = [(e.id, c.name) for e, c in load_catalog(CATALOG, use_cache=False).configurations()]


def _shown(entry_id: str, config: str) -> str:
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "show", entry_id, "--config", config, "--format", "json"]
    )
    assert result.exit_code == 0, result.stderr
    snippets: dict[str, str] = json.loads(result.stdout)["python"]
    assert list(snippets) == [config]
    return snippets[config]


@pytest.mark.parametrize(("entry_id", "config"), PAIRS, ids=[f"{e}#{c}" for e, c in PAIRS])
def test_the_run_it_snippet_runs_as_printed(
    entry_id: str, config: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    text = _shown(entry_id, config)
    if "run_recipe(recipe" in text:  # a task with its own runner (the sequence benchmark, sentences)
        assert f"run_recipe(recipe, {TASK_OPTIONS})" in text
        tiny = "RunOptions(seed=0, steps=2, teacher_steps=2, max_steps=2, cache=False, dataset_params="
        small = text.replace(TASK_OPTIONS, tiny + "{'train': 24, 'valid': 10, 'test': 10})")
        namespace: dict[str, object] = {}
        exec(compile(small, "snippet", "exec"), namespace)
        result = namespace["result"]
        assert isinstance(result, dict) and 0.0 <= result["student_accuracy"] <= 100.0
        return
    assert f"steps={SNIPPET_STEPS})" in text
    assert "data = build_dataset('mnist1d')\n" in text
    # The only edits: CI-sized data and budget; the student is saved in the test's folder.
    small = text.replace(f"steps={SNIPPET_STEPS})", "steps=2)").replace(
        "build_dataset('mnist1d')", "build_dataset('mnist1d', {'train_limit': 200, 'test_limit': 100})"
    )
    monkeypatch.chdir(tmp_path)
    torch.manual_seed(0)
    namespace = {}
    exec(compile(small, "snippet", "exec"), namespace)
    accuracy = namespace["distiller"].evaluate(namespace["data"].test)  # type: ignore[attr-defined]
    assert 0.0 <= accuracy <= 100.0
    assert (tmp_path / "student.safetensors").is_file()


def test_the_site_shows_the_same_snippet(tmp_path: Path) -> None:
    from kdtaxonomy.render.site import build_site

    catalog = load_catalog(CATALOG, use_cache=False)
    build_site(catalog, tmp_path / "site")
    entry = catalog.get("romero2015-fitnets")
    page = (tmp_path / "site" / "methods" / f"{entry.id}.html").read_text()
    assert python_snippet(entry, entry.configurations[0]) in html.unescape(page)


def test_the_snippet_of_a_chain_passes_every_model_in_order() -> None:
    catalog = load_catalog(CATALOG, use_cache=False)
    takd = catalog.get("mirzadeh2020-takd")
    text = python_snippet(takd, takd.configurations[0])
    assert "teacher=[teacher, assistant_1], student=student" in text
    fitnets = catalog.get("romero2015-fitnets")
    text = python_snippet(fitnets, fitnets.configurations[0])
    assert "# layers={'student': {'block2': 'MODULE'}, 'teacher': {'block2': 'MODULE'}}," in text
