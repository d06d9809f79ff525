"""The taxonomy as a graph: stage -> step -> term nodes of the vocabulary plus one node per catalogued
configuration linked to the terms it uses, exported as GraphML, node-link JSON, DOT or SVG (no torch)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

import networkx as nx

from kdtaxonomy.schema import UNKNOWN, step_terms

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog

GraphFormat = Literal["graphml", "json", "dot", "svg"]
GRAPH_FORMATS: tuple[str, ...] = ("graphml", "json", "dot", "svg")


def term_node(step: str, term: str) -> str:
    """Node id of a vocabulary term."""
    return f"term:{step}/{term}"


def config_node(entry_id: str, name: str) -> str:
    """Node id of a catalogued configuration."""
    return f"config:{entry_id}#{name}"


def taxonomy_graph(catalog: Catalog) -> nx.DiGraph:
    """Stage -> step -> term nodes of the vocabulary, and configuration -> term ``uses`` edges.

    Terms written as ``unknown`` have no node and no edge.
    """
    vocab = catalog.vocabulary
    graph = nx.DiGraph(name="kdtaxonomy")
    for stage_key, stage in vocab.data.stages.items():
        stage_id = f"stage:{stage_key}"
        graph.add_node(stage_id, kind="stage", label=stage.label, description=stage.description, gou=[])
        for step_key, step in stage.steps.items():
            step_id = f"step:{step_key}"
            graph.add_node(
                step_id, kind="step", label=step.label, description=step.description, gou=[], stage=stage_key
            )
            graph.add_edge(stage_id, step_id, kind="has-step")
            for term_key, term in step.terms.items():
                node = term_node(step_key, term_key)
                graph.add_node(
                    node,
                    kind="term",
                    label=term.label,
                    description=term.description,
                    gou=list(term.gou),
                    step=step_key,
                    stage=stage_key,
                )
                graph.add_edge(step_id, node, kind="has-term")
    for entry, config in catalog.configurations():
        node = config_node(entry.id, config.name)
        graph.add_node(
            node,
            kind="configuration",
            label=f"{entry.id}#{config.name}",
            title=config.title or entry.title,
            year=entry.year,
            entry=entry.id,
            configuration=config.name,
        )
        for step_key in vocab.steps:
            for term_key in step_terms(config, step_key):
                if term_key != UNKNOWN:
                    graph.add_edge(node, term_node(step_key, term_key), kind="uses")
    return graph


def _plain(value: Any) -> str | int | float | bool:
    if isinstance(value, list | tuple | set):
        return ", ".join(str(v) for v in value)
    if isinstance(value, bool | int | float | str):
        return value
    return str(value)


def _dot_quote(text: str) -> str:
    return '"' + str(text).replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def to_dot(graph: nx.DiGraph) -> str:
    """Graphviz DOT text of a graph (node labels from the ``label`` attribute)."""
    lines = ["digraph kdtaxonomy {", "  rankdir=LR;"]
    for node, data in graph.nodes(data=True):
        attrs = [f"label={_dot_quote(data.get('label', node))}"]
        if data.get("kind"):
            attrs.append(f"kind={_dot_quote(data['kind'])}")
        lines.append(f"  {_dot_quote(node)} [{', '.join(attrs)}];")
    for src, dst, data in graph.edges(data=True):
        label = data.get("label", data.get("kind", ""))
        lines.append(f"  {_dot_quote(src)} -> {_dot_quote(dst)} [label={_dot_quote(str(label))}];")
    lines.append("}")
    return "\n".join(lines) + "\n"


def to_svg(graph: nx.DiGraph) -> str:
    """A plain SVG of a taxonomy graph: one column per stage, each step's terms with their usage counts."""
    col_w, line_h, pad = 300, 16, 12
    columns: list[list[tuple[str, str]]] = []  # (css class, text)
    for stage in (n for n, d in graph.nodes(data=True) if d.get("kind") == "stage"):
        lines = [("stage", str(graph.nodes[stage]["label"]))]
        for step in graph.successors(stage):
            lines.append(("step", str(graph.nodes[step]["label"])))
            for term in graph.successors(step):
                used = sum(
                    1 for src in graph.predecessors(term) if graph.nodes[src].get("kind") == "configuration"
                )
                lines.append(("term", f"{graph.nodes[term]['label']} ({used})"))
        columns.append(lines)
    height = pad * 2 + line_h * (max((len(c) for c in columns), default=0) + 1)
    width = pad * 2 + col_w * len(columns)
    configs = sum(1 for _, d in graph.nodes(data=True) if d.get("kind") == "configuration")
    out = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
        f'viewBox="0 0 {width} {height}" font-family="sans-serif" font-size="12">',
        "<style>.stage{font-weight:bold;font-size:14px}.step{font-weight:bold;fill:#335}"
        ".term{fill:#222}</style>",
        f'<rect width="{width}" height="{height}" fill="white"/>',
    ]
    for i, lines in enumerate(columns):
        x = pad + i * col_w
        out.append(
            f'<rect x="{x - 4}" y="{pad - 2}" width="{col_w - 8}" height="{height - 2 * pad}" '
            'fill="none" stroke="#bbb"/>'
        )
        for j, (css, text) in enumerate(lines):
            indent = {"stage": 0, "step": 6, "term": 16}[css]
            y = pad + line_h * (j + 1)
            out.append(f'<text class="{css}" x="{x + indent}" y="{y}">{escape(text)}</text>')
    out.append(
        f'<text x="{pad}" y="{height - 4}" font-size="10" fill="#666">(n) = number of the {configs} '
        "catalogued configurations using the term</text>"
    )
    out.append("</svg>")
    return "\n".join(out) + "\n"


def write_graph(graph: nx.DiGraph, fmt: str, path: str | Path | None = None) -> str:
    """Serialise a graph as ``graphml``, ``json`` (node-link data), ``dot`` or ``svg``.

    Returns the text; with ``path`` also writes it there atomically.
    """
    if fmt == "graphml":
        plain = nx.DiGraph()
        plain.graph.update({k: _plain(v) for k, v in graph.graph.items() if v is not None})
        for node, data in graph.nodes(data=True):
            plain.add_node(node, **{k: _plain(v) for k, v in data.items() if v is not None})
        for src, dst, data in graph.edges(data=True):
            plain.add_edge(src, dst, **{k: _plain(v) for k, v in data.items() if v is not None})
        text = "\n".join(nx.generate_graphml(plain)) + "\n"
    elif fmt == "json":
        text = json.dumps(nx.node_link_data(graph, edges="edges"), indent=2, ensure_ascii=False) + "\n"
    elif fmt == "dot":
        text = to_dot(graph)
    elif fmt == "svg":
        text = to_svg(graph)
    else:
        raise ValueError(f"unknown graph format {fmt!r}; use one of {', '.join(GRAPH_FORMATS)}")
    if path is not None:
        from kdtaxonomy.yamlio import atomic_write_text

        atomic_write_text(Path(path), text)
    return text
