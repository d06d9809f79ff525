"""One consistent command surface: ID#CONFIG everywhere, -o/--output, examples in --help that run, completion,
one-line messages for empty results and unknown names."""

from __future__ import annotations

import json
import shlex
from pathlib import Path

import pytest
from typer.testing import CliRunner

from kdtaxonomy.cli import EXAMPLES, app

from .conftest import CATALOG

HEAVY = {"train", "bench", "reproduction-report"}
"""Commands whose examples train models (run by the training tests' own cases, not here)."""


def invoke(*args: str) -> object:
    return CliRunner().invoke(app, ["--catalog", str(CATALOG), *args])


def test_every_command_has_examples_in_its_help() -> None:
    commands = [c.name for c in app.registered_commands]
    assert set(commands) == set(EXAMPLES)
    for name in commands:
        out = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "100"})
        assert out.exit_code == 0
        text = out.stdout
        assert "Examples:" in text, name
        for line in EXAMPLES[name]:
            assert line in text, (name, line)  # printed whole, not re-wrapped


@pytest.mark.parametrize(
    "line", [line for name, lines in EXAMPLES.items() if name not in HEAVY for line in lines]
)
def test_the_light_examples_run_as_printed(
    line: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "catalog").symlink_to(CATALOG)  # `kdtax validate catalog/methods/...` reads it from here
    args = shlex.split(line)
    assert args[0] == "kdtax"
    if args[1:3] == ["train", "--recipe"]:
        pytest.skip("training: covered by the training tests")
    out = invoke(*args[1:])
    assert out.exit_code == 0, (line, out.output)  # type: ignore[attr-defined]


def test_id_hash_config_is_accepted_where_an_id_is() -> None:
    shown = json.loads(invoke("show", "park2019-rkd#angle", "--format", "json").stdout)  # type: ignore[attr-defined]
    assert [c["name"] for c in shown["configurations"]] == ["angle"]
    assert invoke("show", "park2019-rkd#angle", "--config", "angle").exit_code == 0  # type: ignore[attr-defined]
    clash = invoke("show", "park2019-rkd#angle", "--config", "distance")
    assert clash.exit_code == 1 and "name different configurations" in clash.stderr  # type: ignore[attr-defined]
    views = json.loads(invoke("views", "park2019-rkd#distance", "--format", "json").stdout)  # type: ignore[attr-defined]
    assert views["configuration"] == "distance"
    similar = invoke("similar", "park2019-rkd#angle", "--format", "json")
    assert similar.exit_code == 0  # type: ignore[attr-defined]
    cite = invoke("cite", "park2019-rkd#angle", "park2019-rkd")
    assert cite.exit_code == 0 and cite.stdout.count("@inproceedings") + cite.stdout.count("@article") == 1  # type: ignore[attr-defined]


def test_messages_are_one_line_and_deduplicated() -> None:
    empty = invoke("list", "--year", "2025")
    assert empty.exit_code == 0 and empty.stdout == ""  # type: ignore[attr-defined]
    assert empty.stderr.strip().startswith("no configuration matches")  # type: ignore[attr-defined]
    vocab = invoke("vocab", "knowlege")
    assert vocab.exit_code == 1 and "Did you mean: knowledge?" in vocab.stderr  # type: ignore[attr-defined]
    assert "knowledge, knowledge" not in vocab.stderr  # type: ignore[attr-defined]
    far = invoke("vocab", "zzzzqqq")
    assert far.exit_code == 1 and "Did you mean" not in far.stderr  # type: ignore[attr-defined]
    registry = invoke("registry", "dataset", "--format", "csv").stdout  # type: ignore[attr-defined]
    assert "PydanticUndefined" not in registry and "root=(required)" in registry


def test_completion_is_available(monkeypatch: pytest.MonkeyPatch) -> None:
    import typer.completion

    out = CliRunner().invoke(app, ["--help"])
    assert "--install-completion" in out.stdout
    # --show-completion is a flag that detects the calling shell (under `make`, /bin/sh: "not supported")
    monkeypatch.setattr(typer.completion, "_get_shell_name", lambda: "bash")
    script = CliRunner().invoke(app, ["--show-completion"], prog_name="kdtax")
    assert script.exit_code == 0 and "_kdtax_completion" in script.stdout


def test_output_flag_is_o_output_everywhere_with_out_kept() -> None:
    for name in ("train", "schema", "graph", "compose", "reproduction-report"):
        text = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "120"}).stdout
        assert "-o, --output" in text, name
    train_help = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "120"}).stdout
    assert "--out " not in train_help  # the old name works but is not advertised
    both = invoke("train", "park2019-rkd", "-o", "a", "--out", "b")
    assert both.exit_code == 1 and "give the output folder once" in both.stderr  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    "args",
    [
        ["table", "summary", "-o", "{file}/t.md"],
        ["schema", "-o", "{file}/s.json"],
        ["graph", "-o", "{file}/g.graphml"],
        ["site", "build", "-o", "{file}"],
    ],
)
def test_an_output_under_a_file_is_one_line(tmp_path: Path, args: list[str]) -> None:
    a_file = tmp_path / "file.txt"
    a_file.write_text("keep me")
    out = invoke(*[a.format(file=a_file) for a in args])
    lines = [line for line in out.stderr.splitlines() if line.strip()]  # type: ignore[attr-defined]
    assert out.exit_code == 1 and len(lines) == 1 and lines[0].startswith("error: "), out.stderr  # type: ignore[attr-defined]
    assert "Traceback" not in out.stderr  # type: ignore[attr-defined]
    assert a_file.read_text() == "keep me" and sorted(p.name for p in tmp_path.iterdir()) == ["file.txt"]
