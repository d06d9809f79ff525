"""The console tables of ``list``, ``show``, ``vocab`` and ``registry`` fit any width (issue 12, part 4).

At every width: every column is there (as a header of the wide table or a ``Field:`` line of the stacked
layout), ids and ``id#configuration`` names stay whole on one line, no line is longer than the width,
and the one-line ``note:`` at the end appears exactly when a value was shortened with an ellipsis.
"""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from collections import Counter
from collections.abc import Collection
from pathlib import Path

import pytest
from rich.cells import cell_len
from rich.console import Console
from typer.testing import CliRunner

from kdtaxonomy.cli import app
from kdtaxonomy.render.fit import PIPE_WIDTH, Column, Grid, allocate, notice, print_fitted, wrap_items

from .conftest import CATALOG

LIST_HEADERS = ("ID", "Year", "Objective", "Teacher", "Knowledge", "Transfer", "Student", "Datasets")
NOTE = re.compile(r"^note: (\d+) (value\(s\) )?shortened \(…\)")


def invoke(width: int, *args: str) -> str:
    runner = CliRunner(env={"COLUMNS": str(width), "NO_COLOR": "1", "TERM": "dumb"})
    result = runner.invoke(app, ["--catalog", str(CATALOG), *args])
    assert result.exit_code == 0, result.output
    return result.stdout


def as_json(*args: str) -> list[dict[str, object]]:
    data = json.loads(invoke(120, *args, "--format", "json"))
    assert isinstance(data, list)
    return data


def list_names() -> list[str]:
    """The names ``kdtax list`` prints: the id, or ``id#configuration`` for entries with several."""
    rows = as_json("list")
    count = Counter(r["id"] for r in rows)
    return [f"{r['id']}#{r['configuration']}" if count[r["id"]] > 1 else str(r["id"]) for r in rows]


BORDERS = r"[\s│┃]+"


def words(out: str) -> set[str]:
    """Every word of the output, without table borders and commas."""
    return {w.strip(",") for w in re.split(BORDERS, out) if w.strip(",")}


def flat(out: str) -> str:
    """The output's words in order, one space apart, without table and panel borders."""
    return " ".join(w for w in re.split(BORDERS, out) if w)


def whole_on_a_line(name: str, out: str) -> bool:
    return any(name in re.split(BORDERS, line) for line in out.splitlines())


def check_width(out: str, width: int, allowed: Collection[str] = ()) -> None:
    """No line longer than ``width``, except a heading line that is exactly one of ``allowed`` (ids)."""
    long = [line for line in out.splitlines() if cell_len(line) > width and line.strip() not in allowed]
    assert not long, f"{len(long)} line(s) longer than {width}: {long[:3]}"


def check_columns(out: str, headers: tuple[str, ...], heading: str, blocks: int | None = None) -> None:
    """Every column is shown: all headers on one line (the wide table's header), or, stacked, one
    ``Header:`` line per block (``blocks``; at least one when None) for every column but ``heading``."""

    def has(line: str, header: str) -> bool:
        return re.search(rf"(?<![\w-]){re.escape(header)}(?![\w-])", line) is not None

    if any(all(has(line, h) for h in headers) for line in out.splitlines()):
        return
    for header in headers:
        if header != heading:
            count = len(re.findall(rf"^  {re.escape(header)}:", out, flags=re.M))
            assert count == blocks if blocks is not None else count > 0, f"{header}: in {count} blocks"


def check_notice(out: str) -> int:
    """The note appears (last, one line) iff a value was shortened; returns how many were."""
    lines = out.rstrip("\n").splitlines()
    notes = [line for line in lines if NOTE.match(line)]
    body = "\n".join(line for line in lines if not NOTE.match(line))
    cut = body.count("…")
    if cut:
        assert len(notes) == 1 and lines[-1] == notes[0], "shortened values but no note at the end"
        match = NOTE.match(notes[0])
        assert match is not None and int(match.group(1)) == cut
    else:
        assert not notes, "a note without anything shortened"
    return cut


@pytest.mark.parametrize("width", [60, 80, 100, 120, 150, 190, 250])
def test_list_keeps_every_column_and_whole_ids(width: int) -> None:
    out = invoke(width, "list")
    names = list_names()
    check_width(out, width)
    check_columns(out, LIST_HEADERS, "ID", len(names))
    broken = [n for n in names if not whole_on_a_line(n, out)]
    assert not broken, f"ids not whole on one line: {broken[:5]}"
    assert check_notice(out) == 0
    # no column was dropped: every term and dataset word of every row is printed
    shown = words(out)
    for row in as_json("list"):
        for key in ("objective", "teacher", "knowledge", "transfer", "student", "datasets"):
            values = row[key]
            assert isinstance(values, list)
            missing = [w for v in values for w in str(v).split() if w not in shown]
            assert not missing, (row["id"], key, missing)


def test_list_at_80_and_150_names_the_layout() -> None:
    stacked = invoke(80, "list")
    assert stacked.splitlines()[1].startswith("(one block per row: the table needs ")
    assert "┃" not in stacked and "Student:" in stacked and "Datasets:" in stacked
    wide = invoke(250, "list")
    assert "┃ Student" in wide and "┃ Datasets" in wide
    filtered = invoke(150, "list", "--knowledge=mutual-information")
    assert "Student" in filtered.splitlines()[1] and "Datasets" in filtered.splitlines()[1]


@pytest.mark.parametrize("width", [24, 30, 36, 40, 80])
def test_notice_iff_something_was_shortened(width: int) -> None:
    names = set(list_names())
    out = invoke(width, "list")
    check_width(out, width, allowed=names)  # only an id longer than the width may overrun it
    assert all(whole_on_a_line(n, out) for n in names)
    cut = check_notice(out)
    assert (cut > 0) == (width <= 30)  # "contrastive-representations" is 27 cells (28 with a comma)


@pytest.mark.parametrize("width", [80, 150])
@pytest.mark.parametrize("entry", ["ahn2019-vid", "zhang-multimodal-kd", "cho2023-area-rkd"])
def test_show_fits(width: int, entry: str) -> None:
    out = invoke(width, "show", entry)
    check_width(out, width)
    assert check_notice(out) == 0
    assert whole_on_a_line(entry, out)
    data = json.loads(invoke(120, "show", entry, "--format", "json"))
    for config in data["configurations"]:
        assert whole_on_a_line(config["name"], out)
        assert f"kdtax train {entry} --config {config['name']}" in flat(out)
        if config.get("title"):
            assert " ".join(config["title"].split()) in flat(out)  # not cut off in the panel border
    for stage in ("Objective & data", "1. Data preparation", "3. Knowledge distillation", "Datasets"):
        assert stage in out
    if data["results"]:
        check_columns(out, ("Method", "Dataset", "Metric", "Value", "Setting", "Source"), "Method")


@pytest.mark.parametrize("width", [40, 60])
def test_show_narrow(width: int) -> None:
    out = invoke(width, "show", "ahn2019-vid")
    check_width(out, width)
    assert whole_on_a_line("ahn2019-vid", out)
    assert "Mutual-information distillation between intermediate layers" in flat(out)
    assert check_notice(out) == 0


@pytest.mark.parametrize("width", [80, 150])
def test_vocab_fits(width: int) -> None:
    out = invoke(width, "vocab")
    check_width(out, width)
    assert check_notice(out) == 0
    terms = as_json("vocab")
    headers = ("Step", "Term", "Label", "Synonyms", "Gou", "Used")
    wide = any(all(h in line for h in headers) for line in out.splitlines())
    if not wide:
        check_columns(out, ("Term", "Step", "Label", "Synonyms", "Gou et al.", "Used by"), "Term", len(terms))
    missing = [t["term"] for t in terms if not whole_on_a_line(str(t["term"]), out)]
    assert not missing


@pytest.mark.parametrize("width", [80, 150])
def test_registry_fits(width: int) -> None:
    out = invoke(width, "registry")
    check_width(out, width)
    assert check_notice(out) == 0
    components = as_json("registry")
    keys = ("kind", "key", "term", "params", "summary")
    wide = any(all(k in line.split() for k in keys) for line in out.splitlines())
    if not wide:
        check_columns(out, keys, "key", len(components))
    missing = [c["key"] for c in components if not whole_on_a_line(str(c["key"]), out)]
    assert not missing


def kdtax(*args: str, columns: str | None) -> str:
    env = {k: v for k, v in os.environ.items() if k not in {"COLUMNS", "LINES"}}
    env |= {"NO_COLOR": "1", "TERM": "dumb"}
    if columns is not None:
        env["COLUMNS"] = columns
    code = "import sys; from kdtaxonomy.cli import main; sys.argv = ['kdtax', *sys.argv[1:]]; main()"
    cmd = [sys.executable, "-c", code, "--catalog", str(CATALOG), *args]
    done = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.mark.parametrize("columns", ["80", "150"])
def test_piped_output_follows_columns(columns: str) -> None:
    out = kdtax("list", columns=columns)
    width = int(columns)
    check_width(out, width)
    check_columns(out, LIST_HEADERS, "ID", len(list_names()))
    assert all(whole_on_a_line(n, out) for n in list_names())
    assert check_notice(out) == 0


def test_piped_output_without_columns_is_pipe_width() -> None:
    out = kdtax("vocab", columns=None)
    check_width(out, PIPE_WIDTH)
    assert max(cell_len(line) for line in out.splitlines()) > 80  # not rich's 80-column default


def render(grid: Grid, width: int) -> tuple[str, int]:
    buffer = io.StringIO()
    con = Console(file=buffer, width=width, color_system=None, legacy_windows=False)
    shortened = print_fitted(con, grid)
    return buffer.getvalue(), shortened


def test_grid_shortens_only_a_word_longer_than_a_line_and_says_so() -> None:
    grid = Grid(
        [Column("Name", keep=True), Column("Text")],
        [["a-very-long-identifier-name", "short words only"], ["b", "x" * 40]],
        title="2 rows",
    )
    assert grid.wide_width() == 27 + 40 + 7
    wide, shortened = render(grid, 80)
    assert shortened == 0 and "note:" not in wide and "x" * 40 in wide
    narrow, shortened = render(grid, 30)
    assert shortened == 1
    lines = narrow.rstrip("\n").splitlines()
    assert lines[-1] == notice(1, 30) and len(lines[-1]) <= 30
    assert "a-very-long-identifier-name" in lines
    assert "    " + "x" * 25 + "…" in lines
    check_width(narrow, 30)


def test_wrap_items_keeps_items_whole_when_it_can() -> None:
    lines, cut = wrap_items(["WMT 2014", "IWSLT 2015"], 12)
    assert lines == ["WMT 2014,", "IWSLT 2015"] and cut == 0
    lines, cut = wrap_items(["SYSU 3D HOI", "NTU RGB-D Action", "UCF101"], 12)
    assert lines == ["SYSU 3D HOI,", "NTU RGB-D", "Action,", "UCF101"] and cut == 0
    lines, cut = wrap_items(["different-from-teacher"], 10)
    assert lines == ["different…"] and cut == 1


def test_allocate_shares_the_spare_width() -> None:
    assert allocate([5, 5], [10, 30], 9) is None
    assert allocate([5, 5], [10, 30], 100) == [10, 30]
    assert allocate([5, 5], [10, 30], 20) == [10, 10]  # the widest column gives way first
    assert allocate([5, 5], [10, 30], 25) == [10, 15]
    assert allocate([5, 20], [10, 30], 26) == [6, 20]


def test_the_module_documents_the_rule() -> None:
    import kdtaxonomy.render.fit as fit

    doc = fit.__doc__ or ""
    for text in ("wide", "stacked", "PIPE_WIDTH", "COLUMNS", "ellipsis"):
        assert text in doc
    assert Path(fit.__file__).name == "fit.py"
