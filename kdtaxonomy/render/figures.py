"""Inline SVG figures of the site, drawn from the vocabulary, recipes and results (no torch, no network).

- :func:`model_svg`: the general four-stage teacher-student model (survey seed paper 000, Fig. 1);
- :func:`stage_svg`: one stage with its steps and terms (survey Figs. 2-6);
- :func:`topology_svg`: a recipe's teacher -> assistant -> student graph (:func:`kdtaxonomy.topology.topology`);
- :func:`bar_chart_svg`: horizontal bars with optional error whiskers (results page, method pages).

Every text that reaches the SVG passes through :func:`markupsafe.escape`, so catalog text stays data; the
returned :class:`markupsafe.Markup` can be embedded in an autoescaped template as is.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from markupsafe import Markup, escape

if TYPE_CHECKING:
    import networkx as nx

    from kdtaxonomy.vocabulary import Vocabulary

CHAR_W = 6.6
"""Approximate width of one character at the figures' 12 px font."""

PALETTE = {
    "inputs": "#f4e3c1",
    "data-preparation": "#dbe9f6",
    "teacher": "#e3d9f2",
    "distillation": "#d8efdc",
    "student": "#f6dada",
}
ROLE_COLOURS = {
    "teacher": "#e3d9f2",
    "assistant": "#fbe7c6",
    "generation": "#fbe7c6",
    "peer": "#f6dada",
    "student": "#f6dada",
}
STYLE = (
    "<style>text{font:12px system-ui,sans-serif;fill:#1b1b1b}.t{font-weight:600}.s{font-size:11px;fill:#444}"
    ".edge{stroke:#555;stroke-width:1.3;fill:none}.box{stroke:#555;stroke-width:1}</style>"
    '<defs><marker id="arrow" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" '
    'orient="auto-start-reverse"><path d="M0,0L10,5L0,10z" fill="#555"/></marker></defs>'
)


def _width(text: str, char_w: float = CHAR_W) -> float:
    return len(text) * char_w


def _fit(text: str, limit: int) -> str:
    """``text`` shortened to ``limit`` characters with an ellipsis."""
    return text if len(text) <= limit else text[: max(limit - 1, 1)] + "…"


def _svg(width: float, height: float, label: str, body: Iterable[str], css_class: str) -> Markup:
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" class="{css_class}" role="img" aria-label="{escape(label)}" '
        f'width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}">'
        f"<title>{escape(label)}</title>{STYLE}"
    )
    return Markup(head + "".join(body) + "</svg>")


def _box(x: float, y: float, w: float, h: float, fill: str, rx: int = 6) -> str:
    return f'<rect class="box" x="{x:.1f}" y="{y:.1f}" width="{w:.1f}" height="{h:.1f}" rx="{rx}" fill="{fill}"/>'


def _text(x: float, y: float, text: str, cls: str = "", anchor: str = "start") -> str:
    klass = f' class="{cls}"' if cls else ""
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}"{klass}>{escape(text)}</text>'


def _arrow(x1: float, y1: float, x2: float, y2: float, dashed: bool = False, both: bool = False) -> str:
    dash = ' stroke-dasharray="5 3"' if dashed else ""
    start = ' marker-start="url(#arrow)"' if both else ""
    return (
        f'<path class="edge" d="M{x1:.1f},{y1:.1f}L{x2:.1f},{y2:.1f}"{dash}{start} marker-end="url(#arrow)"/>'
    )


def model_svg(vocab: Vocabulary, href: str = "") -> Markup:
    """The general model (survey Fig. 1): objective and data feed the four stages, each box listing its steps.

    With ``href`` (e.g. ``"vocab/"``), each step name links to ``{href}{step}.html``.
    """
    stages = list(vocab.data.stages.items())
    inputs = [(k, s) for k, s in stages if k == "inputs"]
    chain = [(k, s) for k, s in stages if k != "inputs"]
    widest = max(_width(f"• {step.label}") for _, stage in chain for step in stage.steps.values())
    titles = max(_width(f"4. {stage.label}", 7.4) for _, stage in chain)
    box_w, gap, top = max(150.0, widest + 24, titles + 16), 34.0, 96.0
    rows = max(len(s.steps) for _, s in chain)
    box_h = 44 + 20 * rows
    width = 20 + len(chain) * box_w + (len(chain) - 1) * gap + 20
    body = []
    # inputs: one box spanning the chain, arrow down into stage 1
    for key, stage in inputs:
        body.append(_box(20, 16, width - 40, 44, PALETTE.get(key, "#eee")))
        steps = " and ".join(stage.steps[s].label.lower() for s in stage.steps)
        body.append(_text(width / 2, 35, f"Inputs: {steps}", "t", "middle"))
        body.append(_text(width / 2, 52, _fit(stage.description, int((width - 60) / 6.0)), "s", "middle"))
        body.append(_arrow(20 + box_w / 2, 60, 20 + box_w / 2, top - 2))
    for i, (key, stage) in enumerate(chain):
        x = 20 + i * (box_w + gap)
        body.append(_box(x, top, box_w, box_h, PALETTE.get(key, "#eee")))
        body.append(_text(x + box_w / 2, top + 20, f"{i + 1}. {stage.label}", "t", "middle"))
        for j, (step_key, step) in enumerate(stage.steps.items()):
            label = _text(x + 12, top + 46 + 20 * j, f"• {step.label}")
            body.append(f'<a href="{escape(href)}{escape(step_key)}.html">{label}</a>' if href else label)
        if i + 1 < len(chain):
            body.append(_arrow(x + box_w, top + box_h / 2, x + box_w + gap - 2, top + box_h / 2))
    return _svg(width, top + box_h + 16, "The general four-stage teacher-student model", body, "figure model")


def stage_svg(vocab: Vocabulary, stage_key: str, counts: dict[tuple[str, str], int] | None = None) -> Markup:
    """One stage as a tree (survey Figs. 2-6): stage -> steps -> terms, each term with its usage count."""
    stage = vocab.data.stages[stage_key]
    counts = counts or {}
    fill = PALETTE.get(stage_key, "#eee")
    leaves = [(s, t) for s in stage.steps for t in stage.steps[s].terms]
    line = 20.0
    step_gap = 10.0
    height = 20 + len(leaves) * line + (len(stage.steps) - 1) * step_gap + 20
    root_w = max(_width(stage.label) + 24, 130)
    step_w = max(_width(s.label) for s in stage.steps.values()) + 24
    term_x = 20 + root_w + 40 + step_w + 40
    labels = [f"{vocab.label(s, t)} ({counts.get((s, t), 0)})" for s, t in leaves]
    width = term_x + max(_width(x) for x in labels) + 30
    body = [
        _box(20, height / 2 - 16, root_w, 32, fill),
        _text(20 + root_w / 2, height / 2 + 4, stage.label, "t", "middle"),
    ]
    y = 20.0
    step_x = 20 + root_w + 40
    for step_key, step in stage.steps.items():
        n = len(step.terms)
        mid = y + n * line / 2
        body.append(f'<path class="edge" d="M{20 + root_w:.1f},{height / 2:.1f}L{step_x:.1f},{mid:.1f}"/>')
        body.append(_box(step_x, mid - 13, step_w, 26, fill))
        body.append(_text(step_x + step_w / 2, mid + 4, step.label, "", "middle"))
        for k, term in enumerate(step.terms):
            ty = y + k * line + line / 2
            body.append(
                f'<path class="edge" d="M{step_x + step_w:.1f},{mid:.1f}L{term_x - 6:.1f},{ty:.1f}"/>'
            )
            text = f"{vocab.label(step_key, term)} ({counts.get((step_key, term), 0)})"
            body.append(_text(term_x, ty + 4, text))
        y += n * line + step_gap
    return _svg(width, height, f"{stage.label}: steps and terms", body, "figure stage")


def _layers(graph: nx.DiGraph) -> list[list[str]]:
    """Nodes in columns: the longest path from a source, mutual peers beside the student."""
    depth: dict[str, int] = {}
    acyclic = [(u, v) for u, v, kind in graph.edges(data="kind") if kind != "mutual"]
    import networkx as nx

    dag = nx.DiGraph(acyclic)
    dag.add_nodes_from(graph.nodes)
    for node in nx.topological_sort(dag):
        preds = list(dag.predecessors(node))
        depth[node] = 1 + max(depth[p] for p in preds) if preds else 0
    student = depth.get("student", 0)
    for node, role in graph.nodes(data="role"):
        if role == "peer":
            depth[node] = student
    columns: list[list[str]] = [[] for _ in range(max(depth.values(), default=0) + 1)]
    for node in graph.nodes:
        columns[depth[node]].append(node)
    return columns


def topology_svg(graph: nx.DiGraph, label: str = "teacher-student topology") -> Markup:
    """The teacher -> assistant -> student graph as columns of boxes joined by labelled arrows."""
    columns = _layers(graph)
    node_w, node_h, col_gap, row_gap = 150.0, 42.0, 130.0, 26.0
    rows = max(len(c) for c in columns)
    height = 24 + rows * node_h + (rows - 1) * row_gap + 24
    width = 24 + len(columns) * node_w + (len(columns) - 1) * col_gap + 24
    pos: dict[str, tuple[float, float]] = {}
    for i, column in enumerate(columns):
        span = len(column) * node_h + (len(column) - 1) * row_gap
        y0 = (height - span) / 2
        for j, node in enumerate(column):
            pos[node] = (24 + i * (node_w + col_gap), y0 + j * (node_h + row_gap))
    body: list[str] = []
    drawn: set[frozenset[str]] = set()
    for u, v, data in graph.edges(data=True):
        kind = data.get("kind", "distils")
        if kind == "mutual":
            if frozenset((u, v)) in drawn:
                continue
            drawn.add(frozenset((u, v)))
        (ux, uy), (vx, vy) = pos[u], pos[v]
        if ux == vx:  # same column (mutual peers): vertical
            down = vy > uy
            x1, y1 = ux + node_w / 2, uy + (node_h if down else 0)
            x2, y2 = vx + node_w / 2, vy + (0 if down else node_h)
        else:
            x1, y1 = ux + node_w, uy + node_h / 2
            x2, y2 = vx, vy + node_h / 2
        body.append(_arrow(x1, y1, x2 - 2, y2, dashed=kind in {"fusion", "combined"}, both=kind == "mutual"))
        text = _fit(str(data.get("label", "")), int(col_gap / 5.6))
        body.append(_text((x1 + x2) / 2, (y1 + y2) / 2 - 5, text, "s", "middle"))
    for node, data in graph.nodes(data=True):
        x, y = pos[node]
        role = str(data.get("role", ""))
        body.append(_box(x, y, node_w, node_h, ROLE_COLOURS.get(role, "#eee")))
        body.append(_text(x + node_w / 2, y + 17, _fit(str(node), 22), "t", "middle"))
        desc = " ".join(str(data.get(k) or "") for k in ("model", "size")).strip()
        view = str(data.get("view") or "x")
        if view != "x":
            desc += f" · view {view}"
        body.append(_text(x + node_w / 2, y + 33, _fit(desc, 24), "s", "middle"))
    return _svg(width, height, label, body, "figure topology")


@dataclass(frozen=True)
class Bar:
    """One bar of :func:`bar_chart_svg`."""

    label: str
    value: float
    error: float | None = None
    """Half-width of the whisker (e.g. one standard deviation)."""
    kind: str = "reported"
    """``reported``, ``teacher``, ``baseline`` or ``distilled``: the bar's colour."""
    note: str = ""
    """Shown after the value (e.g. the source table)."""


BAR_COLOURS = {"reported": "#6c8ebf", "teacher": "#9673a6", "baseline": "#b3b3b3", "distilled": "#82b366"}


def _value_text(bar: Bar, unit: str) -> str:
    text = f"{bar.value:g}{unit}"
    if bar.error:
        text += f" ± {bar.error:.2f}"
    return f"{text} {bar.note}" if bar.note else text


def bar_chart_svg(title: str, bars: Sequence[Bar], unit: str = "", max_value: float | None = None) -> Markup:
    """Horizontal bars, one per row, from zero to each value, with whiskers and value labels."""
    if not bars:
        return Markup("")
    label_chars = min(max(len(b.label) for b in bars), 56)
    left = 16 + label_chars * CHAR_W
    plot_w, row_h = 300.0, 20.0
    top = 30.0
    top_value = max_value or max(max(b.value + (b.error or 0) for b in bars), 1e-9)
    note_w = max(_width(_value_text(b, unit)) for b in bars)
    width = max(left + plot_w + 14 + note_w + 16, _width(title, 7.4) + 32)
    height = top + row_h * len(bars) + 16
    body = [_text(16, 19, title, "t")]
    scale = plot_w / top_value
    for i, bar in enumerate(bars):
        y = top + i * row_h
        body.append(f"<g><title>{escape(bar.label)}: {escape(_value_text(bar, unit))}</title>")
        body.append(_text(left - 8, y + 14, _fit(bar.label, label_chars), "s", "end"))
        w = max(bar.value, 0.0) * scale
        colour = BAR_COLOURS.get(bar.kind, "#6c8ebf")
        body.append(
            f'<rect x="{left:.1f}" y="{y + 3:.1f}" width="{w:.1f}" height="{row_h - 6:.1f}" fill="{colour}"/>'
        )
        end = left + w
        if bar.error:
            lo, hi = left + max(bar.value - bar.error, 0) * scale, left + (bar.value + bar.error) * scale
            body.append(f'<path class="edge" d="M{lo:.1f},{y + row_h / 2:.1f}H{hi:.1f}M{lo:.1f},{y + 6:.1f}'
                        f'V{y + row_h - 6:.1f}M{hi:.1f},{y + 6:.1f}V{y + row_h - 6:.1f}"/>')  # fmt: skip
            end = max(end, hi)
        body.append(_text(end + 6, y + 14, _value_text(bar, unit), "s"))
        body.append("</g>")
    return _svg(width, height, title, body, "figure chart")


def legend_html(kinds: Iterable[str]) -> Markup:
    """A small HTML legend of the bar colours used."""
    names = {
        "reported": "reported",
        "teacher": "teacher",
        "baseline": "student alone",
        "distilled": "distilled",
    }
    items = [
        f'<span class="swatch" style="background:{BAR_COLOURS[k]}"></span>{escape(names[k])}'
        for k in kinds
        if k in BAR_COLOURS
    ]
    return Markup('<p class="legend">' + " ".join(items) + "</p>")


def figure_context(vocab: Vocabulary, counts: dict[tuple[str, str], int]) -> dict[str, Any]:
    """The model figure and one figure per stage, for the index page."""
    return {
        "model": model_svg(vocab, href="vocab/"),
        "stages": [
            {"key": key, "label": stage.label, "svg": stage_svg(vocab, key, counts)}
            for key, stage in vocab.data.stages.items()
        ],
    }
