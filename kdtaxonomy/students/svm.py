"""Student trained on deep features: linear SVM on frozen teacher features (Mahbod et al. 2019, survey [12]).

"Skin Lesion Classification Using Hybrid Deep Neural Networks": deep features of (three) pre-trained
networks are extracted and an SVM classifies them; the survey files the SVM as a complex student trained on
the teachers' deep features. Here the student is

* a frozen feature extractor: a deep copy of each teacher (the teacher itself is untouched) in eval mode,
  run without gradient, whose output at ``locations["embedding"]`` (captured by a forward hook and
  flattened) is concatenated over teachers;
* a trainable linear head ``f(x) = W phi(x) + b`` (``classifier``), one row per class;

trained with the multi-class soft-margin SVM objective of Crammer & Singer (2001): per sample, with scores
``f_j`` and margin ``m`` (default 1),

    xi_i = max(0, m + max_{j != y_i} f_j(x_i) - f_{y_i}(x_i))

and the batch loss is the primal ``1/2 ||W||_F^2 + C sum_i xi_i`` divided by ``C N``::

    loss = (1/B) sum_i xi_i + ||W||_F^2 / (2 C N)

(the bias is not regularised; ``N`` = ``num_samples`` when given, the training-set size, so that the
expected batch loss is the full primal divided by ``C N``; else the batch size ``B``). The student's own
architecture is not used: the returned module has ``locations = {"embedding": "features"}`` and
``classifier`` = the head; several teachers are accepted as an ``nn.ModuleList`` (or list/tuple).
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, cast

import torch
from torch import Tensor, nn
from torch.utils.hooks import RemovableHandle

from kdtaxonomy.registry import register
from kdtaxonomy.specs.students import SVMHeadSpec
from kdtaxonomy.students.base import Construction, Criterion


def multiclass_hinge(scores: Tensor, targets: Tensor, margin: float = 1.0) -> Tensor:
    """Crammer-Singer hinge ``(1/B) sum_i max(0, m + max_{j != y_i} s_ij - s_{i y_i})``."""
    targets = targets.long()
    true = scores.gather(1, targets.unsqueeze(1)).squeeze(1)
    if scores.shape[1] < 2:
        return torch.zeros((), dtype=scores.dtype, device=scores.device) * scores.sum()
    others = scores.masked_fill(nn.functional.one_hot(targets, scores.shape[1]).bool(), float("-inf"))
    return torch.clamp(margin + others.max(dim=1).values - true, min=0.0).mean()


def svm_objective(
    scores: Tensor, targets: Tensor, weight: Tensor, c: float = 1.0, margin: float = 1.0, n: int | None = None
) -> Tensor:
    """``multiclass_hinge + ||weight||_F^2 / (2 c n)`` with ``n`` defaulting to the batch size."""
    count = n if n is not None else scores.shape[0]
    return multiclass_hinge(scores, targets, margin) + weight.pow(2).sum() / (2.0 * c * count)


class _Capture:
    """Forward hook keeping the last output of a module."""

    def __init__(self) -> None:
        self.value: Tensor | None = None

    def __call__(self, module: nn.Module, args: Any, output: Any) -> None:
        self.value = output if isinstance(output, Tensor) else None


def _embedding_module(teacher: nn.Module) -> nn.Module:
    locations = getattr(teacher, "locations", None)
    if not isinstance(locations, dict) or "embedding" not in locations:
        raise ValueError(
            f"an SVM on teacher features needs `locations['embedding']` on {type(teacher).__name__}"
        )
    return teacher.get_submodule(str(locations["embedding"]))


def _feature_dim(teacher: nn.Module) -> int | None:
    layer = getattr(teacher, "classifier", None)
    return (
        layer.in_features if isinstance(layer, nn.Linear) and not isinstance(layer, nn.LazyLinear) else None
    )


class FrozenFeatures(nn.Module):
    """Frozen copies of the teacher(s); output: their concatenated, flattened embeddings ``(B, D)``."""

    def __init__(self, teachers: Sequence[nn.Module]) -> None:
        super().__init__()
        self.teachers = nn.ModuleList(copy.deepcopy(t) for t in teachers)
        self.teachers.requires_grad_(False)
        self.teachers.eval()
        self._captures: list[_Capture] = []
        self._handles: list[RemovableHandle] = []
        for t in self.teachers:
            capture = _Capture()
            self._handles.append(_embedding_module(t).register_forward_hook(capture))
            self._captures.append(capture)

    def train(self, mode: bool = True) -> FrozenFeatures:
        super().train(mode)
        self.teachers.eval()
        return self

    def forward(self, x: Tensor) -> Tensor:
        parts: list[Tensor] = []
        with torch.no_grad():
            for t, capture in zip(self.teachers, self._captures, strict=True):
                capture.value = None
                t(x)
                if capture.value is None:
                    raise RuntimeError(
                        f"the embedding location of {type(t).__name__} produced no tensor output"
                    )
                parts.append(capture.value.flatten(1))
                capture.value = None
        return torch.cat(parts, dim=1)


class SVMOnFeatures(nn.Module):
    """A linear head ``classifier`` on :class:`FrozenFeatures`; ``locations = {"embedding": "features"}``."""

    def __init__(self, features: FrozenFeatures, feature_dim: int | None, num_classes: int) -> None:
        super().__init__()
        self.features = features
        self.classifier: nn.Linear = (
            nn.Linear(feature_dim, num_classes) if feature_dim is not None else nn.LazyLinear(num_classes)
        )
        self.locations: dict[str, str] = {"embedding": "features"}

    def forward(self, x: Tensor) -> Tensor:
        return cast(Tensor, self.classifier(self.features(x)))


def _members(teacher: nn.Module | Sequence[nn.Module] | None) -> list[nn.Module]:
    if teacher is None:
        raise ValueError("an SVM student on deep features needs a teacher (or a ModuleList of teachers)")
    if isinstance(teacher, nn.ModuleList | list | tuple):
        members = [cast(nn.Module, m) for m in teacher]
        if not members:
            raise ValueError("an SVM student on deep features needs at least one teacher")
        return members
    if not isinstance(teacher, nn.Module):
        raise TypeError(f"expected a teacher module or a list of them, got {type(teacher).__name__}")
    return [teacher]


@register(spec=SVMHeadSpec)
class SVMHead(Construction[SVMHeadSpec]):
    """Mahbod et al. 2019 (survey [12]): a linear multi-class SVM on frozen deep teacher features."""

    def __init__(self, spec: SVMHeadSpec) -> None:
        super().__init__(spec)
        self.head: nn.Linear | None = None

    def prepare(self, student: nn.Module, teacher: nn.Module | None) -> nn.Module:
        members = _members(teacher)
        dims = [_feature_dim(t) for t in members]
        feature_dim = None if any(d is None for d in dims) else sum(d for d in dims if d is not None)
        own = getattr(student, "classifier", None)
        head_of = own if isinstance(own, nn.Linear) else getattr(members[0], "classifier", None)
        if not isinstance(head_of, nn.Linear):
            raise ValueError(
                "cannot tell the number of classes: neither student nor teacher has a Linear classifier"
            )
        params = list(members[0].parameters())
        model = SVMOnFeatures(FrozenFeatures(members), feature_dim, head_of.out_features)
        if params:
            model.classifier.to(params[0].device)
        self.head = model.classifier
        return model

    def criterion(self) -> Criterion | None:
        head = self.head
        if head is None:
            raise RuntimeError(
                "call prepare() before criterion(): the SVM loss regularises the head's weights"
            )
        s = self.spec

        def loss(scores: Tensor, targets: Tensor) -> Tensor:
            return svm_objective(scores, targets, head.weight, s.c, s.margin, s.num_samples)

        return loss

    def describe(self, student: nn.Module) -> dict[str, float]:
        head = getattr(student, "classifier", None)
        if not isinstance(head, nn.Linear) or isinstance(head.weight, nn.parameter.UninitializedParameter):
            return {}
        return {
            "feature_dim": float(head.in_features),
            "num_classes": float(head.out_features),
            "c": self.spec.c,
        }
