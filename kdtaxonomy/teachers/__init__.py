"""Teacher setups (survey Section IV, Fig. 4): the teacher side of the teacher-assistant-student graph.

A setup plans the nodes to train before the student (teachers, assistants, earlier generations, peers), in
topological order, and says which of them the student learns from. The runner trains them in that order.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from kdtaxonomy.registry import register
from kdtaxonomy.specs import teachers as specs


@dataclass
class NodePlan:
    """One model of the graph trained before (or, for peers, with) the student."""

    name: str
    role: str
    """``teacher``, ``assistant``, ``generation`` or ``peer``."""
    model: str
    size: str
    view: str = "x"
    """Input view; ``a+b`` concatenates views along channels."""
    sources: list[str] = field(default_factory=list)
    """Nodes this one distils from (empty: trained on the labels alone)."""
    classes: list[int] | None = None
    """Specialists: the class subset whose examples the node is trained on."""
    seed_offset: int = 0
    low_precision: tuple[int, int] | None = None
    """(weight bits, activation bits) of a low-precision teacher."""


@dataclass
class TeacherPlan:
    """The teacher side of a recipe."""

    nodes: list[NodePlan]
    student_sources: list[str]
    student_view: str = "x"
    reported: str = "teacher"
    """The node whose accuracy is reported as the teacher's."""
    combine_specialists: list[list[int]] | None = None
    fusion: dict[str, Any] | None = None
    peers: list[NodePlan] = field(default_factory=list)
    ensemble_of: list[str] = field(default_factory=list)
    """Nodes whose ensemble with the student is also evaluated (born-again generations)."""

    def graph_edges(self) -> list[tuple[str, str]]:
        """Edges source -> node of the graph, the student included."""
        edges = [(src, node.name) for node in self.nodes for src in node.sources]
        edges += [(src, "student") for src in self.student_sources]
        edges += [(peer.name, "student") for peer in self.peers] + [
            ("student", peer.name) for peer in self.peers
        ]
        return edges


class Setup:
    """Base of teacher setups."""

    def __init__(self, spec: Any) -> None:
        self.spec = spec

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        raise NotImplementedError


def _teacher(spec: Any, name: str = "teacher", **kw: Any) -> NodePlan:
    return NodePlan(name, kw.pop("role", "teacher"), spec.model, spec.size, **kw)


@register(spec=specs.SingleTeacher)
class Single(Setup):
    """One teacher network."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        return TeacherPlan([_teacher(self.spec)], ["teacher"])


@register(spec=specs.LowPrecisionTeacher)
class LowPrecision(Setup):
    """A teacher trained with low-precision weights and activations (Apprentice, [4])."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        bits = (int(self.spec.weight_bits), int(self.spec.activation_bits))
        return TeacherPlan([_teacher(self.spec, low_precision=bits)], ["teacher"])


@register(spec=specs.EnsembleTeacher)
class Ensemble(Setup):
    """An ensemble of similar teachers trained from different seeds ([1])."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [_teacher(self.spec, f"teacher-{i + 1}", seed_offset=i) for i in range(int(self.spec.count))]
        return TeacherPlan(nodes, [n.name for n in nodes], reported=nodes[0].name)


@register(spec=specs.MultiViewTeacher)
class MultiView(Setup):
    """One teacher per view/modality; the student sees the raw view ([5], [13], seed 003)."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        views = list(self.spec.views)
        if self.spec.fused and len(views) > 1:
            node = _teacher(self.spec, "teacher-fused", view="+".join(views))
            return TeacherPlan([node], [node.name], student_view=views[0], reported=node.name)
        nodes = [_teacher(self.spec, f"teacher-{v}", view=v) for v in views]
        return TeacherPlan(nodes, [n.name for n in nodes], student_view=views[0], reported=nodes[0].name)


@register(spec=specs.SpecialistTeachers)
class Specialists(Setup):
    """A generalist and specialists on class groups, combined into one teacher distribution ([1])."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        groups = int(self.spec.specialists)
        nodes = [_teacher(self.spec, "teacher")]
        classes = [[c for c in range(num_classes) if c % groups == g] for g in range(groups)]
        for g, subset in enumerate(classes):
            nodes.append(_teacher(self.spec, f"specialist-{g + 1}", classes=subset, seed_offset=g + 1))
        return TeacherPlan(nodes, ["teacher"], combine_specialists=classes)


@register(spec=specs.AssistantChain)
class AssistantChainSetup(Setup):
    """Teacher -> assistant(s) -> student (TAKD; seed 004's Conv-LSTM assistant)."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [_teacher(self.spec)]
        for i, arch in enumerate(self.spec.assistants):
            model, _, size = str(arch).partition(":")
            nodes.append(
                NodePlan(f"assistant-{i + 1}", "assistant", model, size or "medium", sources=[nodes[-1].name])
            )
        return TeacherPlan(nodes, [nodes[-1].name])


@register(spec=specs.Generations)
class GenerationsSetup(Setup):
    """Born-again networks ([11]): generation k learns from generation k-1; the last one is the student."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [_teacher(self.spec)]
        for g in range(1, int(self.spec.generations)):
            nodes.append(
                NodePlan(
                    f"generation-{g}",
                    "generation",
                    self.spec.model,
                    self.spec.size,
                    sources=[nodes[-1].name],
                    seed_offset=g,
                )
            )
        return TeacherPlan(nodes, [nodes[-1].name], ensemble_of=[n.name for n in nodes[1:]])


@register(spec=specs.AuxiliaryModel)
class Auxiliary(Setup):
    """A pre-trained auxiliary model whose output vector is fused into the student (seed 001)."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        fusion = {"mode": self.spec.fusion, "heads": int(self.spec.heads), "location": self.spec.location}
        return TeacherPlan([_teacher(self.spec, "auxiliary")], [], reported="auxiliary", fusion=fusion)


@register(spec=specs.Peers)
class PeersSetup(Setup):
    """Deep mutual learning: the student and its peers are trained together; no teacher is trained first."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        peers = [
            NodePlan(f"peer-{i + 1}", "peer", self.spec.model, self.spec.size, seed_offset=i + 1)
            for i in range(int(self.spec.count) - 1)
        ]
        return TeacherPlan([], [], reported="", peers=peers)


class SpecialistEnsemble(nn.Module):
    """Generalist + specialists as one teacher (Hinton et al. 2015, Section 5, simplified).

    p(c) = p_g(c) outside every group; inside group k, p(c) = p_g(group k) * p_k(c | group k). The output is
    log p, so a tempered softmax of it at T = 1 is the combined distribution. Intermediate locations are the
    generalist's.
    """

    def __init__(self, generalist: nn.Module, specialists: list[nn.Module], groups: list[list[int]]) -> None:
        super().__init__()
        self.generalist = generalist
        self.specialists = nn.ModuleList(specialists)
        self.groups = groups
        self.locations = {k: f"generalist.{v}" for k, v in getattr(generalist, "locations", {}).items()}

    def forward(self, x: Tensor) -> Tensor:
        probs = torch.softmax(self.generalist(x).float(), dim=1)
        combined = probs.clone()
        for specialist, group in zip(self.specialists, self.groups, strict=True):
            idx = torch.tensor(group, device=x.device)
            within = torch.softmax(specialist(x).float()[:, idx], dim=1)
            combined[:, idx] = probs[:, idx].sum(dim=1, keepdim=True) * within
        return torch.log(combined.clamp_min(1e-12))
