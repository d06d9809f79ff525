"""Specs of teacher setups (kind ``teacher``): how many teachers, what they see, how they are chained.

Survey seed paper 000, Section IV and Fig. 4. Each setup turns into nodes of the teacher-assistant-student graph
that the pipeline trains in topological order. The plans (:class:`TeacherPlan`) are computed here, without
torch, so that the site and ``kdtax graph`` can draw a recipe's topology without importing torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar, Literal

from pydantic import Field

from kdtaxonomy.specs import Spec

Size = Literal["tiny", "small", "medium", "large"]


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
    labels: str | None = None
    """Label set the node learns instead of the task's (a ``label_sets`` entry of the dataset's info)."""


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


class TeacherSpec(Spec):
    """Fields shared by every teacher setup."""

    kind: ClassVar[str] = "teacher"
    model: str = "cnn1d"
    """Registry key of the teacher architecture."""
    size: Size = "large"
    """Size preset of the teacher architecture (a 'complex' teacher is large)."""
    epochs: int | None = Field(default=None, ge=1)
    """Epochs to train each teacher (default: the recipe's ``training.teacher_epochs``)."""

    def node(self, name: str = "teacher", **kw: Any) -> NodePlan:
        """A node of this setup's teacher architecture."""
        return NodePlan(name, kw.pop("role", "teacher"), self.model, self.size, **kw)

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        """The nodes to train before the student, in topological order (default: one teacher)."""
        return TeacherPlan([self.node()], ["teacher"])


class SingleTeacher(TeacherSpec):
    """One teacher network (the survey's 'Single')."""

    key: ClassVar[str] = "single"
    term: ClassVar[str | None] = "single"


class EnsembleTeacher(TeacherSpec):
    """An ensemble of N similar teachers trained from different seeds ([1]: 10 baseline networks)."""

    key: ClassVar[str] = "ensemble"
    term: ClassVar[str | None] = "ensemble"
    count: int = Field(default=3, ge=2, le=16)
    """Number of ensemble members."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [self.node(f"teacher-{i + 1}", seed_offset=i) for i in range(int(self.count))]
        return TeacherPlan(nodes, [n.name for n in nodes], reported=nodes[0].name)


class MultiViewTeacher(TeacherSpec):
    """One teacher per input view or modality ([5], [13], seed paper 003); the student sees ``student_view``."""

    key: ClassVar[str] = "multi-view"
    term: ClassVar[str | None] = "multi-teacher"
    views: list[str] = Field(default_factory=lambda: ["x", "spectral"], min_length=1)
    """Input views, one teacher each (``x`` is the raw view)."""
    fused: bool = False
    """Also train one teacher on all views concatenated along channels (seed paper 003's audio-visual system)."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        views = list(self.views)
        if self.fused and len(views) > 1:
            fused = self.node("teacher-fused", view="+".join(views))
            return TeacherPlan([fused], [fused.name], student_view=views[0], reported=fused.name)
        nodes = [self.node(f"teacher-{v}", view=v) for v in views]
        return TeacherPlan(nodes, [n.name for n in nodes], student_view=views[0], reported=nodes[0].name)


class SpecialistTeachers(TeacherSpec):
    """A generalist plus specialists on class partitions ([1], Hinton et al. Section 5)."""

    key: ClassVar[str] = "specialists"
    term: ClassVar[str | None] = "specialists"
    specialists: int = Field(default=2, ge=1, le=10)
    """Number of specialists; classes are split into this many groups."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        groups = int(self.specialists)
        nodes = [self.node()]
        classes = [[c for c in range(num_classes) if c % groups == g] for g in range(groups)]
        for g, subset in enumerate(classes):
            nodes.append(self.node(f"specialist-{g + 1}", classes=subset, seed_offset=g + 1))
        return TeacherPlan(nodes, ["teacher"], combine_specialists=classes)


class AssistantChain(TeacherSpec):
    """Teacher -> assistant(s) -> student chain (TAKD; seed paper 004's Conv-LSTM assistant)."""

    key: ClassVar[str] = "assistant-chain"
    term: ClassVar[str | None] = "assistant-chain"
    assistants: list[str] = Field(default_factory=lambda: ["cnn1d:medium"], min_length=1)
    """Assistant architectures in chain order, each ``model:size``."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [self.node()]
        for i, arch in enumerate(self.assistants):
            model, _, size = str(arch).partition(":")
            nodes.append(
                NodePlan(f"assistant-{i + 1}", "assistant", model, size or "medium", sources=[nodes[-1].name])
            )
        return TeacherPlan(nodes, [nodes[-1].name])


class Generations(TeacherSpec):
    """Born-again generations ([11]): each generation teaches the next; the student has the teacher's architecture."""

    key: ClassVar[str] = "generations"
    term: ClassVar[str | None] = "generations"
    generations: int = Field(default=2, ge=1, le=6)
    """Number of student generations after the first teacher."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        nodes = [self.node()]
        for g in range(1, int(self.generations)):
            nodes.append(
                NodePlan(
                    f"generation-{g}",
                    "generation",
                    self.model,
                    self.size,
                    sources=[nodes[-1].name],
                    seed_offset=g,
                )
            )
        return TeacherPlan(nodes, [nodes[-1].name], ensemble_of=[n.name for n in nodes[1:]])


class LowPrecisionTeacher(TeacherSpec):
    """A teacher trained with low-precision weights and activations (Apprentice, [4])."""

    key: ClassVar[str] = "low-precision"
    term: ClassVar[str | None] = None
    weight_bits: int = Field(default=8, ge=2, le=16)
    """Bits of the teacher's weights."""
    activation_bits: int = Field(default=8, ge=2, le=16)
    """Bits of the teacher's activations."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        bits = (int(self.weight_bits), int(self.activation_bits))
        return TeacherPlan([self.node(low_precision=bits)], ["teacher"])


class AuxiliaryModel(TeacherSpec):
    """A pre-trained auxiliary model whose output vector is fused into the student (seed paper 001's tag vectors)."""

    key: ClassVar[str] = "auxiliary"
    term: ClassVar[str | None] = "auxiliary-model"
    fusion: Literal["concat", "attention", "both"] = "concat"
    """How the tag vector enters the student: concatenated with its embedding, multi-head attention over its
    feature map, or both (seed paper 001, Sections 3.2-3.4)."""
    heads: int = Field(default=4, ge=1, le=16)
    """Attention heads."""
    location: str = "block2"
    """Student location whose feature map the attention reads."""
    labels: str | None = None
    """Label set the auxiliary model is pre-trained on instead of the task's labels: one of the dataset's
    ``label_sets`` (``fsdd``: ``speaker``), as seed paper 001's tagger learns sound events, not scenes.
    None: the task's labels."""

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        fusion = {"mode": self.fusion, "heads": int(self.heads), "location": self.location}
        node = self.node("auxiliary", labels=self.labels)
        return TeacherPlan([node], [], reported="auxiliary", fusion=fusion)


class Peers(TeacherSpec):
    """No fixed teacher: a cohort of peers trained jointly (deep mutual learning)."""

    key: ClassVar[str] = "peers"
    term: ClassVar[str | None] = "peers"
    count: int = Field(default=2, ge=2, le=8)
    """Number of peers (the first one is reported as the student)."""
    size: Size = "small"

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        peers = [
            NodePlan(f"peer-{i + 1}", "peer", self.model, self.size, seed_offset=i + 1)
            for i in range(int(self.count) - 1)
        ]
        return TeacherPlan([], [], reported="", peers=peers)
