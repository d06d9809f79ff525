"""Teacher setups (survey Section IV, Fig. 4): the teacher side of the teacher-assistant-student graph.

A setup plans the nodes to train before the student (teachers, assistants, earlier generations, peers), in
topological order, and says which of them the student learns from. The runner trains them in that order.
"""

from __future__ import annotations

import torch
from torch import Tensor, nn

from kdtaxonomy.registry import register
from kdtaxonomy.specs import teachers as specs
from kdtaxonomy.specs.teachers import NodePlan, TeacherPlan

__all__ = ["NodePlan", "Setup", "SpecialistEnsemble", "TeacherPlan"]


class Setup:
    """Base of teacher setups: the plan comes from the torch-free spec (``kdtaxonomy.specs.teachers``)."""

    def __init__(self, spec: specs.TeacherSpec) -> None:
        self.spec = spec

    def plan(self, num_classes: int = 10) -> TeacherPlan:
        return self.spec.plan(num_classes)


@register(spec=specs.SingleTeacher)
class Single(Setup):
    """One teacher network."""


@register(spec=specs.LowPrecisionTeacher)
class LowPrecision(Setup):
    """A teacher trained with low-precision weights and activations (Apprentice, [4])."""


@register(spec=specs.EnsembleTeacher)
class Ensemble(Setup):
    """An ensemble of similar teachers trained from different seeds ([1])."""


@register(spec=specs.MultiViewTeacher)
class MultiView(Setup):
    """One teacher per view/modality; the student sees the raw view ([5], [13], seed paper 003)."""


@register(spec=specs.SpecialistTeachers)
class Specialists(Setup):
    """A generalist and specialists on class groups, combined into one teacher distribution ([1])."""


@register(spec=specs.AssistantChain)
class AssistantChainSetup(Setup):
    """Teacher -> assistant(s) -> student (TAKD; seed paper 004's Conv-LSTM assistant)."""


@register(spec=specs.Generations)
class GenerationsSetup(Setup):
    """Born-again networks ([11]): generation k learns from generation k-1; the last one is the student."""


@register(spec=specs.AuxiliaryModel)
class Auxiliary(Setup):
    """A pre-trained auxiliary model whose output vector is fused into the student (seed paper 001)."""


@register(spec=specs.Peers)
class PeersSetup(Setup):
    """Deep mutual learning: the student and its peers are trained together; no teacher is trained first."""


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
