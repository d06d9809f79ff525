"""The package's layout: no import cycles, light query and design modules, modules of a readable size."""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import networkx as nx

from .conftest import CATALOG

PACKAGE = Path(__file__).resolve().parents[1] / "kdtaxonomy"
MAX_LINES = 500
"""A module longer than this needs a line ``Length: <reason>`` in its docstring."""


def _modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _typing_only(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_graph(modules: dict[str, Path]) -> nx.DiGraph:
    """Module -> imported module, for every import statement at any depth (module level and inside
    functions); ``if TYPE_CHECKING:`` blocks never run and are left out. ``from pkg import name`` points at
    ``pkg.name`` when that is a module of the package, else at ``pkg``."""
    graph = nx.DiGraph()
    for name, path in modules.items():
        graph.add_node(name)
        tree = ast.parse(path.read_text(encoding="utf-8"))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        typing_only = {
            id(sub)
            for node in ast.walk(tree)
            if isinstance(node, ast.If) and _typing_only(node)
            for stmt in node.body
            for sub in ast.walk(stmt)
        }
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package.split(".")[: len(package.split(".")) - node.level + 1]
                    source = ".".join([*base, *([node.module] if node.module else [])])
                else:
                    source = node.module or ""
                targets = [
                    f"{source}.{alias.name}" if f"{source}.{alias.name}" in modules else source
                    for alias in node.names
                ]
            for target in targets:
                if target in modules and target != name:
                    graph.add_edge(name, target)
    return graph


def test_import_graph_reads_imports_at_every_depth() -> None:
    graph = import_graph(_modules())
    # module level, inside a function, relative-free `from pkg import module`
    assert graph.has_edge("kdtaxonomy.cli", "kdtaxonomy.commands.query")
    assert graph.has_edge("kdtaxonomy.commands.training", "kdtaxonomy.commands.suite")  # in a function
    assert graph.has_edge("kdtaxonomy.catalog", "kdtaxonomy.checks")  # `from kdtaxonomy import checks`
    assert not graph.has_edge("kdtaxonomy.commands.common", "kdtaxonomy.vocabulary")  # TYPE_CHECKING only


def test_no_import_cycles() -> None:
    cycles = list(nx.simple_cycles(import_graph(_modules())))
    assert not cycles, "import cycles: " + "; ".join(" -> ".join([*c, c[0]]) for c in cycles[:5])


def test_a_cycle_is_found(tmp_path: Path) -> None:
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "__init__.py").write_text("")
    (tmp_path / "pkg" / "a.py").write_text("def f():\n    from pkg import b\n")
    (tmp_path / "pkg" / "b.py").write_text("from pkg.a import f\n")
    modules = {"pkg": tmp_path / "pkg" / "__init__.py"} | {
        f"pkg.{m}": tmp_path / "pkg" / f"{m}.py" for m in "ab"
    }
    assert list(nx.simple_cycles(import_graph(modules))) in ([["pkg.a", "pkg.b"]], [["pkg.b", "pkg.a"]])


def test_modules_are_of_a_readable_size() -> None:
    long = []
    for name, path in _modules().items():
        lines = path.read_text(encoding="utf-8").count("\n")
        doc = ast.get_docstring(ast.parse(path.read_text(encoding="utf-8"))) or ""
        if lines > MAX_LINES and "Length: " not in doc:
            long.append(f"{name} ({lines} lines)")
    assert not long, f"over {MAX_LINES} lines without a 'Length: <reason>' line in the docstring: {long}"


def _run(code: str) -> None:
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "ok"


def test_design_and_catalog_modules_import_neither_torch_nor_scipy() -> None:
    light = ["graph", "similarity", "compose", "gaps", "topology", "views", "problems", "checks", "catalog"]
    light += ["cli", "commands.common", "commands.query", "commands.tables", "commands.design"]
    light += ["commands.site", "commands.training"]
    _run(
        "import importlib, sys\n"
        f"for m in {light!r}:\n"
        "    importlib.import_module('kdtaxonomy.' + m)\n"
        "heavy = [m for m in ('torch', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )


def test_kdtax_list_imports_neither_torch_nor_scipy() -> None:
    _run(
        "import sys\n"
        "from typer.testing import CliRunner\n"
        "from kdtaxonomy.cli import app\n"
        f"r = CliRunner().invoke(app, ['--catalog', {str(CATALOG)!r}, 'list', '--knowledge=MI', '--format', 'json'])\n"
        "assert r.exit_code == 0, r.output\n"
        "assert 'ahn2019-vid' in r.output\n"
        "heavy = [m for m in ('torch', 'scipy') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
        "print('ok')\n"
    )
