"""Bad input: every fixture gives a clear one-line reason with file, line and field; exit code 1."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdtaxonomy.catalog import CatalogError, load_catalog
from kdtaxonomy.cli import app
from kdtaxonomy.schema import entry_json_schema
from kdtaxonomy.yamlio import MAX_BYTES

from .conftest import FIXTURES, make_catalog

INVALID = FIXTURES / "invalid"

# fixture -> (line or None, field or None, reason fragment)
EXPECTED: dict[str, tuple[int | None, str | None, str]] = {
    "malformed-yaml.yaml": (3, None, "malformed YAML: while parsing a flow sequence"),
    "python-tag.yaml": (
        2,
        None,
        "YAML tag '!!python/object/apply:os.system' refused: only plain YAML is allowed",
    ),
    "not-a-mapping.yaml": (1, None, "top level must be a mapping of fields, not list"),
    "unknown-key.yaml": (5, "impact_factor", "unknown key (not part of the schema)"),
    "unknown-term.yaml": (
        15,
        "configurations.0.distillation.knowledge",
        "unknown knowledge term 'soft-lables'. Did you mean: soft-labels",
    ),
    "synonym-term.yaml": (
        15,
        "configurations.0.distillation.knowledge",
        "'logits' is a synonym: write the term as 'soft-labels'",
    ),
    "wrong-type.yaml": (4, "year", "Input should be a valid integer"),
    "missing-field.yaml": (None, "title", "required field is missing"),
    "id-mismatch.yaml": (1, "id", "id 'another-id' must equal the file name 'id-mismatch'"),
    "empty.yaml": (None, None, "file is empty"),
    "non-utf8.yaml": (3, None, "not UTF-8: byte 0xe9"),
    "deeply-nested.yaml": (2, None, "nesting deeper than 40 levels"),
    "duplicate-key.yaml": (5, None, "duplicate key 'year' (first at line 4)"),
    "unknown-reference.yaml": (None, "related.0", "unknown entry id 'no-such-entry'"),
    "unknown-component.yaml": (
        18,
        "configurations.0.implementation",
        "recipe: knowledge.0.component: unknown loss 'soft-label-kdd'. Did you mean: soft-label-kd",
    ),
    "bad-parameter.yaml": (
        18,
        "configurations.0.implementation",
        "recipe: knowledge.0.params.temperature: Input should be greater than 0",
    ),
    "unknown-dataset.yaml": (
        18,
        "configurations.0.implementation",
        "recipe: dataset.component: unknown dataset 'mnist-2d'. Did you mean: mnist1d",
    ),
}


def expected_line(name: str) -> str:
    line, field, reason = EXPECTED[name]
    where = f"{INVALID / name}" + (f":{line}" if line else "")
    return f"error: {where}: " + (f"{field}: " if field else "") + reason


def test_every_invalid_fixture_has_an_expectation() -> None:
    assert sorted(p.name for p in INVALID.glob("*.yaml")) == sorted(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_gives_one_clear_line(runner: CliRunner, name: str) -> None:
    result = runner.invoke(app, ["validate", str(INVALID / name)])
    assert result.exit_code == 1
    lines = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith(expected_line(name)), (lines[0], expected_line(name))
    assert "Traceback" not in result.output + result.stderr


def test_python_tag_executes_nothing(runner: CliRunner) -> None:
    marker = Path("/tmp/kdtax-pwned")
    marker.unlink(missing_ok=True)
    runner.invoke(app, ["validate", str(INVALID / "python-tag.yaml")])
    assert not marker.exists()


def test_duplicate_ids_across_folders(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(INVALID / "duplicate-id")])
    assert result.exit_code == 1
    assert "duplicate id 'example-kd' (also in" in result.stderr


def test_absurdly_large_file(runner: CliRunner, tmp_path: Path) -> None:
    big = tmp_path / "absurdly-large.yaml"
    big.write_text("id: absurdly-large\ndescription: " + "x" * (MAX_BYTES + 10) + "\n")
    result = runner.invoke(app, ["validate", str(big)])
    assert result.exit_code == 1
    size = big.stat().st_size
    assert f"error: {big}: file is {size:,} bytes; the limit is {MAX_BYTES:,}\n" in result.stderr


def test_extremely_deep_nesting_does_not_crash(runner: CliRunner, tmp_path: Path) -> None:
    deep = tmp_path / "deep.yaml"
    deep.write_text("id: deep\ntitle: " + "[" * 100_000 + "]" * 100_000 + "\n")
    result = runner.invoke(app, ["validate", str(deep)])
    assert result.exit_code == 1
    assert "nesting deeper than 40 levels" in result.stderr


def test_all_problems_reported_in_one_run(runner: CliRunner) -> None:
    result = runner.invoke(app, ["validate", str(INVALID)])
    assert result.exit_code == 1
    errors = [ln for ln in result.stderr.splitlines() if ln.startswith("error: ")]
    # one per fixture file, plus the duplicate id
    assert len(errors) == len(EXPECTED) + 1
    assert result.stderr.rstrip().endswith(f"{len(errors)} problem(s) found")


def test_valid_fixture_passes(runner: CliRunner, tmp_path: Path) -> None:
    # the markup fixture's dataset names are added to the catalog's dataset vocabulary
    root = make_catalog(tmp_path, datasets=FIXTURES / "datasets" / "malicious.yaml")
    result = runner.invoke(app, ["--catalog", str(root), "validate", str(FIXTURES / "valid")])
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "ok: 2 entries, 2 configurations valid\n"


def test_list_and_show_on_a_broken_catalog_print_the_same_errors(runner: CliRunner, tmp_path: Path) -> None:
    root = make_catalog(tmp_path, FIXTURES / "valid" / "example-kd.yaml", INVALID / "unknown-term.yaml")
    for args in (["list"], ["show", "example-kd"], ["table", "summary"]):
        result = runner.invoke(app, ["--catalog", str(root), *args])
        assert result.exit_code == 1
        assert "unknown knowledge term 'soft-lables'" in result.stderr
        assert result.stdout == ""
    with pytest.raises(CatalogError) as info:
        load_catalog(root)
    assert len(info.value.problems) == 1


def test_json_schema_is_documented_and_lists_terms(runner: CliRunner) -> None:
    result = runner.invoke(app, ["schema"])
    assert result.exit_code == 0
    schema = json.loads(result.stdout)
    assert schema["additionalProperties"] is False
    assert "Catalog id; equals the file name" in schema["properties"]["id"]["description"]
    distill = schema["$defs"]["KnowledgeDistillation"]["properties"]["knowledge"]
    assert "mutual-information" in distill["items"]["enum"]
    assert "unknown" in distill["items"]["enum"]
    assert schema["$defs"]["Configuration"]["additionalProperties"] is False


def test_schema_without_vocabulary_has_no_enums() -> None:
    schema = entry_json_schema(None)
    assert "enum" not in json.dumps(schema["$defs"]["KnowledgeDistillation"])
