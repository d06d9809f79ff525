"""The teacher-assistant-student graph of a recipe and its soundness check.

Torch-free: the graph comes from the teacher setup's plan (:mod:`kdtaxonomy.specs`), not from built models.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import networkx as nx

from kdtaxonomy.location_names import map_pairs

if TYPE_CHECKING:
    from kdtaxonomy.recipe import Recipe


def _spec_labels(specs: Iterable[Any]) -> tuple[list[str], list[str]]:
    """``component@location`` per term, and every map read (``block1&block2`` lists both, see
    :func:`kdtaxonomy.location_names.map_pairs`)."""
    knowledge = [f"{k.component}@{k.location or 'output'}" for k in specs]
    locations = sorted({pair for k in specs for pair in map_pairs(k.location)})
    return knowledge, locations


def topology(recipe: Recipe, num_classes: int = 10) -> nx.DiGraph:
    """The teacher-assistant-student graph of a recipe (from its teacher setup's torch-free plan).

    Nodes carry ``role`` (teacher, assistant, generation, peer, student), ``model`` and ``size``; edges carry
    ``kind`` (distils, mutual, fusion, combined), ``knowledge`` (``component@location``) and ``locations`` (each
    map read, ``student:teacher`` where the two names differ).
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
