"""The taxonomy as a graph: export, similarity, gaps, composition, topology and the two taxonomy views.

Everything here is torch-free except :func:`topology`, which imports the teacher setups (torch) inside the
function. Functions:

- :func:`taxonomy_graph` / :func:`write_graph`: stage -> step -> term nodes of the vocabulary plus one node
  per catalogued configuration linked to the terms it uses (GraphML, node-link JSON, DOT or SVG).
- :func:`similar`: configurations ranked by a weighted Jaccard similarity of their terms per facet.
- :func:`gaps`: term combinations no configuration covers, ranked by how common their terms are.
- :func:`compose`: a new configuration from chosen terms, checked against :data:`RULES` and the registry.
- :func:`topology` / :func:`check_topology`: the teacher-assistant-student graph of a recipe.
- :func:`views`: a configuration under the four-stage model and under Gou et al.'s taxonomy.
"""

from __future__ import annotations

import itertools
import json
import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from xml.sax.saxutils import escape

import networkx as nx

from kdtaxonomy.lookup import FACETS, VocabularyError
from kdtaxonomy.schema import UNKNOWN, Configuration, step_terms

if TYPE_CHECKING:
    from kdtaxonomy.catalog import Catalog
    from kdtaxonomy.recipe import Recipe
    from kdtaxonomy.vocabulary import Vocabulary

GraphFormat = Literal["graphml", "json", "dot", "svg"]
GRAPH_FORMATS: tuple[str, ...] = ("graphml", "json", "dot", "svg")

FACET_WEIGHTS: dict[str, float] = {
    "objective": 0.5,
    "modality": 0.5,
    "data-prep": 1.0,
    "teacher": 1.0,
    "knowledge": 2.0,
    "location": 1.0,
    "transfer": 2.0,
    "student": 1.0,
}
"""Weight of each facet in :func:`similar` (what is distilled and how it is transferred count double;
the inputs, which say little about the method, count half)."""

GAP_STEPS: dict[str, str] = {
    "objective": "objective",
    "data-prep": "modification",
    "teacher": "teacher-setup",
    "knowledge": "knowledge",
    "location": "location",
    "transfer": "transfer",
    "student": "student-construction",
}
"""The one vocabulary step :func:`gaps` enumerates per facet. The teacher and student facets span three
steps each (setup, architecture, construction); crossing e.g. a student *architecture* with a transfer
method gives combinations that say nothing about the method, so only the teacher *setup* and the student
*construction* are enumerated."""


# -- the taxonomy graph ------------------------------------------------------------------------------------
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


# -- similarity --------------------------------------------------------------------------------------------
def facet_terms(config: Configuration) -> dict[str, set[str]]:
    """The terms of a configuration per query facet (``unknown`` left out)."""
    return {
        facet: {t for step in steps for t in step_terms(config, step) if t != UNKNOWN}
        for facet, steps in FACETS.items()
    }


@dataclass
class Similarity:
    """A configuration similar to the query one, with the explanation per facet."""

    id: str
    configuration: str
    title: str
    year: int
    score: float
    """Weighted Jaccard similarity in [0, 1]."""
    shared: dict[str, list[str]] = field(default_factory=dict)
    """Per facet: terms both configurations use."""
    different: dict[str, dict[str, list[str]]] = field(default_factory=dict)
    """Per facet: ``{"query": terms only the query uses, "other": terms only this one uses}``."""

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "configuration": self.configuration,
            "title": self.title,
            "year": self.year,
            "score": round(self.score, 4),
            "shared": self.shared,
            "different": self.different,
        }


def similarity(a: dict[str, set[str]], b: dict[str, set[str]]) -> float:
    """Weighted Jaccard over facets: sum_f w_f |A_f & B_f| / |A_f | B_f|, over the facets either side uses,
    divided by the sum of those facets' weights (0 when neither uses any term)."""
    num = den = 0.0
    for facet, weight in FACET_WEIGHTS.items():
        union = a.get(facet, set()) | b.get(facet, set())
        if not union:
            continue
        num += weight * len(a.get(facet, set()) & b.get(facet, set())) / len(union)
        den += weight
    return num / den if den else 0.0


def similar(catalog: Catalog, entry_id: str, config: str | None = None, k: int = 5) -> list[Similarity]:
    """The ``k`` configurations most similar to ``entry_id``'s configuration ``config`` (default: its first).

    The query configuration itself is excluded; the entry's other configurations are ranked like any other.
    Unknown ids or configuration names raise ``KeyError``.
    """
    entry = catalog.get(entry_id)
    query = entry.configuration(config)
    terms = facet_terms(query)
    found: list[Similarity] = []
    for other_entry, other in catalog.configurations():
        if other_entry.id == entry.id and other.name == query.name:
            continue
        other_terms = facet_terms(other)
        shared: dict[str, list[str]] = {}
        different: dict[str, dict[str, list[str]]] = {}
        for facet in FACETS:
            a, b = terms[facet], other_terms[facet]
            if a & b:
                shared[facet] = sorted(a & b)
            if a ^ b:
                different[facet] = {"query": sorted(a - b), "other": sorted(b - a)}
        found.append(
            Similarity(
                other_entry.id,
                other.name,
                other.title or other_entry.title,
                other_entry.year,
                similarity(terms, other_terms),
                shared,
                different,
            )
        )
    found.sort(key=lambda s: (-s.score, s.id, s.configuration))
    return found[: max(k, 0)]


# -- composition -------------------------------------------------------------------------------------------
class ComposeError(ValueError):
    """Choices that do not make a valid configuration; the message names the choice and the reason."""


@dataclass(frozen=True)
class Rule:
    """When a configuration uses ``term`` of ``step``, its ``needs_step`` terms must satisfy ``mode``:
    ``any`` (at least one of ``needs``) or ``only`` (at least one, and all of them, in ``needs``)."""

    step: str
    term: str
    needs_step: str
    needs: tuple[str, ...]
    mode: Literal["any", "only"]
    reason: str


RULES: tuple[Rule, ...] = (
    Rule("transfer", "mutual", "teacher-setup", ("peers",), "any",
         "mutual learning trains the student together with peer networks instead of a pre-trained teacher"),
    Rule("teacher-setup", "peers", "transfer", ("mutual",), "any",
         "peers are trained together with the student, which only mutual learning does"),
    Rule("transfer", "mutual", "knowledge", ("soft-labels",), "only",
         "deep mutual learning exchanges the peers' class distributions (soft labels) and nothing else"),
    Rule("transfer", "fusion", "teacher-setup", ("auxiliary-model",), "any",
         "fusion feeds the output of an auxiliary (pre-trained) model into the student"),
    Rule("transfer", "fusion", "knowledge", ("tag-vectors",), "only",
         "what fusion transfers is the auxiliary model's output vector (tag vectors), not a loss on features"),
    Rule("teacher-setup", "auxiliary-model", "transfer", ("fusion",), "any",
         "an auxiliary model is not distilled from: its output is fused into the student"),
    Rule("knowledge", "tag-vectors", "transfer", ("fusion",), "any",
         "tag vectors have no distillation loss: they are fused into the student"),
    Rule("transfer", "aggregated", "teacher-setup", ("ensemble", "multi-teacher", "specialists"), "any",
         "aggregated distillation combines the outputs of several teachers"),
    Rule("transfer", "dense-guidance", "teacher-setup", ("assistant-chain",), "any",
         "dense guidance lets the teacher and every teacher assistant guide the student"),
    Rule("student-construction", "teacher-initialized", "student-architecture", ("teacher-like",), "only",
         "a student initialised from the teacher's weights needs the teacher's architecture"),
    Rule("student-construction", "teacher-initialized", "teacher-setup", ("single", "specialists"), "only",
         "the student copies the weights of one teacher network (a single teacher, or the specialists' "
         "generalist), which ensembles, assistant chains, peers and auxiliary models do not provide"),
    Rule("student-construction", "trained-on-features", "knowledge", ("deep-features",), "only",
         "a student trained on features (e.g. an SVM) learns from the teacher's deep features only"),
)  # fmt: skip
"""Compatibility rules of :func:`compose` (and so of :func:`gaps`), each with its reason."""

IMPLIED_TEACHER: dict[str, str] = {
    "mutual": "peers",
    "fusion": "auxiliary-model",
    "aggregated": "ensemble",
    "dense-guidance": "assistant-chain",
}
"""The teacher setup :func:`compose` picks for a transfer method when no teacher setup is chosen."""

DEFAULT_LOCATION: dict[str, str] = {"output": "output", "block2": "blocks", "embedding": "embedding-layer"}


def check_rules(config: Configuration) -> None:
    """Raise :class:`ComposeError` for the first rule of :data:`RULES` the configuration breaks."""
    for rule in RULES:
        if rule.term not in step_terms(config, rule.step):
            continue
        have = [t for t in step_terms(config, rule.needs_step) if t != UNKNOWN]
        ok = any(t in rule.needs for t in have)
        if rule.mode == "only":
            ok = ok and all(t in rule.needs for t in have)
        if not ok:
            needs = " or ".join(repr(n) for n in rule.needs)
            qualifier = "only " if rule.mode == "only" else ""
            raise ComposeError(
                f"{rule.step} {rule.term!r} needs {qualifier}{rule.needs_step} {needs} "
                f"(got {', '.join(have) or 'none'}): {rule.reason}"
            )


def _names(value: str | Sequence[str] | None) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str):
        return [value]
    return list(value)


def _default_vocabulary() -> Vocabulary:
    from kdtaxonomy.catalog import default_vocabulary_path, read_vocabulary

    return read_vocabulary(default_vocabulary_path())


def compose(
    knowledge: str | Sequence[str] | None = None,
    transfer: str | Sequence[str] | None = None,
    teacher: str | Sequence[str] | None = None,
    student: str | Sequence[str] | None = None,
    objective: str | Sequence[str] | None = None,
    data_prep: str | Sequence[str] | None = None,
    location: str | Sequence[str] | None = None,
    *,
    vocabulary: Vocabulary | None = None,
) -> Configuration:
    """A new configuration (name ``composed``) from chosen terms (terms, labels or synonyms, any case).

    Defaults: transfer ``mutual`` for peers, ``fusion`` for an auxiliary model, else ``permuted``; knowledge
    ``tag-vectors`` for fusion, else ``soft-labels``; teacher setup implied by the transfer (:data:`IMPLIED_TEACHER`, else ``single``), a complex
    pre-trained teacher (jointly trained for peers), a single simplified student trained from scratch,
    objective ``accuracy``, locations from the knowledge terms' default losses, MNIST-1D as data. The result
    is validated against the schema and vocabulary, :data:`RULES` and the registry specs
    (:func:`kdtaxonomy.recipe.resolve`); any problem raises :class:`ComposeError`.
    """
    from pydantic import ValidationError

    from kdtaxonomy.recipe import KNOWLEDGE_DEFAULTS, RecipeError, resolve

    vocab = vocabulary if vocabulary is not None else _default_vocabulary()
    steps: dict[str, list[str]] = {step: [] for step in vocab.steps}
    for facet, values in (
        ("knowledge", knowledge),
        ("transfer", transfer),
        ("teacher", teacher),
        ("student", student),
        ("objective", objective),
        ("data-prep", data_prep),
        ("location", location),
    ):
        for name in _names(values):
            try:
                resolved = vocab.resolve(facet, name)
            except VocabularyError as exc:
                raise ComposeError(str(exc)) from None
            if resolved.term not in steps[resolved.step]:
                steps[resolved.step].append(resolved.term)
    if not steps["transfer"]:
        implied_transfer = {v: k for k, v in IMPLIED_TEACHER.items() if k in {"mutual", "fusion"}}
        setup = steps["teacher-setup"]
        steps["transfer"] = [next((implied_transfer[t] for t in setup if t in implied_transfer), "permuted")]
    if not steps["knowledge"]:
        steps["knowledge"] = ["tag-vectors" if "fusion" in steps["transfer"] else "soft-labels"]
    if not steps["teacher-setup"]:
        implied = next((IMPLIED_TEACHER[t] for t in steps["transfer"] if t in IMPLIED_TEACHER), "single")
        steps["teacher-setup"] = [implied]
    peers = "peers" in steps["teacher-setup"]
    steps["teacher-architecture"] = steps["teacher-architecture"] or ["complex"]
    steps["teacher-construction"] = steps["teacher-construction"] or [
        "trained-jointly" if peers else "pre-trained"
    ]
    steps["student-setup"] = steps["student-setup"] or ["peers" if peers else "single"]
    same = "teacher-initialized" in steps["student-construction"]
    steps["student-architecture"] = steps["student-architecture"] or [
        "teacher-like" if same else "simplified-teacher"
    ]
    steps["student-construction"] = steps["student-construction"] or ["from-scratch"]
    steps["objective"] = steps["objective"] or ["accuracy"]
    steps["modality"] = steps["modality"] or ["signal"]
    if not steps["location"]:
        for term in steps["knowledge"]:
            for _, where, _ in KNOWLEDGE_DEFAULTS.get(term, []) or [("", "output", 1.0)]:
                loc = DEFAULT_LOCATION.get(where, "intermediate-layers")
                if loc not in steps["location"]:
                    steps["location"].append(loc)
    choices = "; ".join(
        f"{step} {', '.join(steps[step])}"
        for step in ("knowledge", "transfer", "teacher-setup", "student-construction")
    )
    data = {
        "name": "composed",
        "title": "Composed: " + " + ".join([*steps["knowledge"], *steps["transfer"]]),
        "summary": f"Composed with kdtax compose: {choices}.",
        "objective": steps["objective"],
        "data": {"description": "MNIST-1D, the embedded benchmark", "modalities": steps["modality"]},
        "data_preparation": {"modification": steps["modification"], "partitioning": steps["partitioning"]},
        "teacher": {
            "setup": steps["teacher-setup"],
            "architecture": steps["teacher-architecture"],
            "construction": steps["teacher-construction"],
        },
        "distillation": {
            "knowledge": steps["knowledge"],
            "location": steps["location"],
            "transfer": steps["transfer"],
        },
        "student": {
            "setup": steps["student-setup"],
            "architecture": steps["student-architecture"],
            "construction": steps["student-construction"],
        },
        "datasets": ["MNIST-1D"],
    }
    try:
        config = Configuration.model_validate(data, context={"vocabulary": vocab})
    except ValidationError as exc:
        first = exc.errors(include_url=False)[0]
        where = ".".join(str(p) for p in first["loc"] if not str(p).startswith("function-"))
        raise ComposeError(f"{where}: {first['msg'].removeprefix('Value error, ')}") from None
    check_rules(config)
    try:
        resolve(config, "composed")
    except RecipeError as exc:
        raise ComposeError(f"recipe: {exc}") from None
    return config


def configuration_yaml(config: Configuration) -> str:
    """YAML text of a composed configuration, readable by ``kdtax train --recipe``."""
    from kdtaxonomy.yamlio import dump

    header = "# Composed by `kdtax compose`; train it with `kdtax train --recipe FILE`.\n"
    return header + dump(config.model_dump(mode="json", exclude_defaults=True))


# -- gaps --------------------------------------------------------------------------------------------------
@dataclass
class Gap:
    """A combination of terms that no catalogued configuration uses together."""

    terms: dict[str, str]
    """Facet -> term."""
    counts: dict[str, int]
    """Facet -> number of configurations using the term."""
    support: int
    """Product of the counts: how well-trodden the combination's parts are."""

    def as_dict(self) -> dict[str, Any]:
        return {"terms": self.terms, "counts": self.counts, "support": self.support}


def gaps(
    catalog: Catalog, stages: Iterable[str] = ("knowledge", "transfer", "student"), top: int | None = 20
) -> list[Gap]:
    """Uncovered combinations of one term per facet of ``stages``, most supported first.

    Each facet enumerates the terms of one step (:data:`GAP_STEPS`). A configuration covers a combination
    when it uses every term of it; covered combinations are dropped. The rest are ranked by *support*, the
    product over the facets of the number of configurations using the term (a combination of popular parts
    that nobody tried comes first; a part nobody uses gives support 0), ties by the terms' order. Only
    combinations that :func:`compose` accepts (:data:`RULES`, schema, registry) are kept; ``top`` of them
    (all with ``None``).
    """
    facets = list(dict.fromkeys(stages))
    unknown = [f for f in facets if f not in GAP_STEPS]
    if unknown or not facets:
        raise ValueError(f"unknown gap facets {unknown}; choose from {', '.join(GAP_STEPS)}")
    vocab = catalog.vocabulary
    steps = [GAP_STEPS[f] for f in facets]
    used: list[list[set[str]]] = []
    counts: list[dict[str, int]] = [dict.fromkeys(vocab.terms(s), 0) for s in steps]
    for _, config in catalog.configurations():
        sets = [set(step_terms(config, s)) for s in steps]
        used.append(sets)
        for i, terms in enumerate(sets):
            for term in terms:
                if term in counts[i]:
                    counts[i][term] += 1
    order = [{t: j for j, t in enumerate(vocab.terms(s))} for s in steps]
    combos = [
        combo
        for combo in itertools.product(*(vocab.terms(s) for s in steps))
        if not any(all(t in sets[i] for i, t in enumerate(combo)) for sets in used)
    ]
    combos.sort(
        key=lambda c: (
            -math.prod(counts[i][t] for i, t in enumerate(c)),
            [order[i][t] for i, t in enumerate(c)],
        )
    )
    found: list[Gap] = []
    for combo in combos:
        if top is not None and len(found) >= top:
            break
        choice = dict(zip(facets, combo, strict=True))
        try:
            compose(**{f.replace("-", "_"): t for f, t in choice.items()}, vocabulary=vocab)
        except ComposeError:
            continue
        found.append(
            Gap(
                choice,
                {f: counts[i][t] for i, (f, t) in enumerate(choice.items())},
                math.prod(counts[i][t] for i, t in enumerate(combo)),
            )
        )
    return found


# -- topology ----------------------------------------------------------------------------------------------
def _spec_labels(specs: Iterable[Any]) -> tuple[list[str], list[str]]:
    knowledge = [f"{k.component}@{k.location or 'output'}" for k in specs]
    locations = sorted({str(k.location or "output") for k in specs})
    return knowledge, locations


def topology(recipe: Recipe, num_classes: int = 10) -> nx.DiGraph:
    """The teacher-assistant-student graph of a recipe (from its teacher setup's torch-free plan).

    Nodes carry ``role`` (teacher, assistant, generation, peer, student), ``model`` and ``size``; edges carry
    ``kind`` (distils, mutual, fusion, combined), ``knowledge`` (``component@location``) and ``locations``.
    """
    from kdtaxonomy.schema import KnowledgeSpec
    from kdtaxonomy.specs import get_spec

    spec: Any = get_spec("teacher", recipe.teacher.component).model_validate(recipe.teacher.params)
    plan = spec.plan(num_classes)
    graph = nx.DiGraph(teacher=recipe.teacher.component, transfer=recipe.transfer.component)
    for node in [*plan.nodes, *plan.peers]:
        graph.add_node(node.name, role=node.role, model=node.model, size=node.size, view=node.view)
    graph.add_node(
        "student",
        role="student",
        model=recipe.student_model.component,
        size=str(recipe.student_model.params.get("size", "")),
        view=plan.student_view,
    )
    student_terms = [k for k in recipe.knowledge if k.component != "dml"] or [
        KnowledgeSpec(component="soft-label-kd")
    ]
    node_terms = [
        k for k in recipe.knowledge if (k.location or "output") == "output" and k.component != "dml"
    ]
    node_terms = node_terms or [KnowledgeSpec(component="soft-label-kd", location="output")]
    for node in plan.nodes:
        for src in node.sources:
            knowledge, locations = _spec_labels(node_terms)
            graph.add_edge(src, node.name, kind="distils", knowledge=knowledge, locations=locations,
                           label=", ".join(knowledge))  # fmt: skip
    sources = list(plan.student_sources)
    if recipe.transfer.component == "dense-guidance":
        sources = [n.name for n in plan.nodes]
    knowledge, locations = _spec_labels(student_terms)
    for src in sources:
        graph.add_edge(src, "student", kind="distils", knowledge=knowledge, locations=locations,
                       label=", ".join(knowledge))  # fmt: skip
    if plan.combine_specialists:
        for node in plan.nodes:
            if node.classes is not None:
                graph.add_edge(node.name, "student", kind="combined", knowledge=knowledge, locations=locations,
                               label="combined with the generalist")  # fmt: skip
    if plan.fusion:
        where = str(plan.fusion.get("location") or "embedding")
        label = f"fusion:{plan.fusion.get('mode')}@{where}"
        graph.add_edge(
            plan.reported, "student", kind="fusion", knowledge=[label], locations=[where], label=label
        )
    for peer in plan.peers:
        for src, dst in ((peer.name, "student"), ("student", peer.name)):
            graph.add_edge(
                src, dst, kind="mutual", knowledge=["dml@output"], locations=["output"], label="dml@output"
            )
    return graph


def check_topology(graph: nx.DiGraph) -> None:
    """Raise ``ValueError`` unless the graph is a sound teacher-student graph.

    Rules: there is a student; cycles are allowed only among the student and its peers (mutual learning);
    with peers, every peer exchanges with the student both ways; with a fused auxiliary model, a fusion edge
    reaches the student; otherwise the student is reachable from at least one teacher.
    """
    roles = nx.get_node_attributes(graph, "role")
    if "student" not in graph or roles.get("student") != "student":
        raise ValueError("the graph has no student node")
    for cycle in nx.simple_cycles(graph):
        if any(roles.get(n) not in {"student", "peer"} for n in cycle):
            raise ValueError(
                f"cycle {' -> '.join([*cycle, cycle[0]])}: only mutual-learning peers may form cycles"
            )
    peers = [n for n, r in roles.items() if r == "peer"]
    if peers:
        lonely = [p for p in peers if not (graph.has_edge(p, "student") and graph.has_edge("student", p))]
        if lonely:
            raise ValueError(f"peers {lonely} do not exchange with the student both ways (mutual learning)")
        return
    if any(d.get("kind") == "fusion" for _, _, d in graph.in_edges("student", data=True)):
        return
    teachers = [n for n, r in roles.items() if r == "teacher"]
    if not teachers:
        raise ValueError("the graph has no teacher, peer or fused auxiliary model")
    if not any(nx.has_path(graph, t, "student") for t in teachers):
        raise ValueError(f"the student is unreachable from every teacher ({', '.join(teachers)})")


# -- views -------------------------------------------------------------------------------------------------
def views(catalog: Catalog, entry_id: str, config: str | None = None) -> dict[str, Any]:
    """A configuration under the four-stage model (stage -> step -> labels) and under Gou et al.'s taxonomy.

    The Gou et al. view groups the categories its terms map to by axis (knowledge category, distillation
    scheme, algorithm), each with the terms it comes from (``step/term``).
    """
    vocab = catalog.vocabulary
    entry = catalog.get(entry_id)
    configuration = entry.configuration(config)
    four: dict[str, Any] = {}
    gou: dict[str, dict[str, list[str]]] = {"knowledge": {}, "scheme": {}, "algorithm": {}}
    for stage_key, stage in vocab.data.stages.items():
        steps: dict[str, Any] = {}
        for step_key, step in stage.steps.items():
            terms = step_terms(configuration, step_key)
            steps[step_key] = {"label": step.label, "terms": [vocab.label(step_key, t) for t in terms]}
            for term in terms:
                for category in vocab.gou(step_key, term):
                    axis = vocab.data.gou_categories[category].axis
                    gou[axis].setdefault(category, []).append(f"{step_key}/{term}")
        four[stage_key] = {"label": stage.label, "steps": steps}
    gou_view = {
        axis: [
            {"category": key, "label": vocab.data.gou_categories[key].label, "from": sources}
            for key, sources in found.items()
        ]
        for axis, found in gou.items()
    }
    return {
        "id": entry.id,
        "configuration": configuration.name,
        "title": configuration.title or entry.title,
        "four_stage": four,
        "gou": gou_view,
    }
