"""``kdtax list --gou`` (Gou et al. 2021 categories) and ``--loss`` (registry loss components of the recipe)."""

from __future__ import annotations

import json
from pathlib import Path

from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.recipe import RecipeError, resolve

from .conftest import CATALOG


def _ids(*args: str) -> list[str]:
    result = CliRunner().invoke(app, ["--catalog", str(CATALOG), "list", *args, "--format", "json"])
    assert result.exit_code == 0, result.stderr
    return [f"{r['id']}#{r['configuration']}" for r in json.loads(result.stdout)]


def test_loss_selects_exactly_the_configurations_whose_recipe_uses_it(catalog: Catalog) -> None:
    expected = []
    for entry, config in catalog.configurations():
        try:
            components = {k.component for k in resolve(config, entry.id).knowledge}
        except RecipeError:
            continue
        if "rkd-area" in components:
            expected.append(f"{entry.id}#{config.name}")
    assert expected and sorted(_ids("--loss", "rkd-area")) == sorted(expected)
    assert "cho2023-area-rkd#audio-angle" not in expected  # angle only: no area term
    both = _ids("--loss", "rkd-area", "--loss", "rkd-distance")  # repeated options AND together
    assert both and set(both) < set(expected)


def test_gou_categories_follow_the_vocabulary_mapping(catalog: Catalog) -> None:
    vocab = catalog.vocabulary
    expected = sorted(
        f"{e.id}#{c.name}"
        for e, c in catalog.configurations()
        if any("feature-based" in vocab.gou(s, t) for s in vocab.steps for t in _terms(c, s))
    )
    assert expected and sorted(_ids("--gou", "feature-based")) == expected
    assert _ids("--gou", "Feature-based knowledge") == _ids("--gou", "feature-based")  # label or slug
    assert "romero2015-fitnets#main" in expected


def _terms(config: object, step: str) -> list[str]:
    from kdtaxonomy.schema import step_terms

    return list(step_terms(config, step))  # type: ignore[arg-type]


def test_unknown_loss_or_category_is_one_line_with_close_matches() -> None:
    runner = CliRunner()
    loss = runner.invoke(app, ["--catalog", str(CATALOG), "list", "--loss", "rkd-aera"])
    assert loss.exit_code == 1
    assert loss.stderr.strip() == (
        "error: unknown loss component 'rkd-aera'. Did you mean: rkd-area, rkd-angle, rkd-distance? "
        "(kdtax registry loss lists them)"
    )
    gou = runner.invoke(app, ["--catalog", str(CATALOG), "list", "--gou", "feature-basd"])
    assert (
        gou.exit_code == 1 and "Did you mean: feature-based" in gou.stderr and "\n" not in gou.stderr.strip()
    )


def test_tables_take_the_same_facets() -> None:
    result = CliRunner().invoke(
        app, ["--catalog", str(CATALOG), "table", "distillation", "--loss", "rkd-area"]
    )
    assert result.exit_code == 0, result.stderr
    assert "cho2023-area-rkd#image-area" in result.stdout and "park2019-rkd" not in result.stdout


def test_similar_tells_rkd_distance_from_rkd_angle(catalog: Catalog) -> None:
    from kdtaxonomy.similarity import similar

    angle = next(s for s in similar(catalog, "park2019-rkd", "distance", k=50) if s.configuration == "angle")
    assert angle.score < 1.0  # same terms, different loss components
    assert angle.different == {"loss": {"query": ["rkd-distance"], "other": ["rkd-angle"]}}


def test_compose_takes_loss_components_and_the_result_trains(tmp_path: Path) -> None:
    out = tmp_path / "area-cond.yaml"
    args = ["--catalog", str(CATALOG), "compose", "--knowledge", "soft-labels", "--transfer", "conditional"]
    args += ["--loss", "conditional-kd", "--loss", "rkd-area@embedding", "-o", str(out)]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.stderr
    import yaml

    data = yaml.safe_load(out.read_text())
    assert data["implementation"]["knowledge"] == [
        {"component": "conditional-kd", "location": "output"},  # weight 1 is the default, left out
        {"component": "rkd-area", "location": "embedding"},
    ]
    assert "relations" in data["distillation"]["knowledge"]  # rkd-area's knowledge term was added
    trained = CliRunner().invoke(
        app,
        ["--catalog", str(CATALOG), "train", "--recipe", str(out), "--max-steps", "3", "--format", "json"],
    )
    assert trained.exit_code == 0, trained.stderr
    recipe = json.loads(trained.stdout)["provenance"]["recipe"]
    assert [k["component"] for k in recipe["knowledge"]] == ["conditional-kd", "rkd-area"]
    bad = CliRunner().invoke(app, ["--catalog", str(CATALOG), "compose", "--loss", "rkd-aera"])
    assert bad.exit_code == 1 and "Did you mean: rkd-area" in bad.stderr
