"""Student constructions: registry-driven contract tests and independent re-derivations."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from torch import Tensor, nn

import kdtaxonomy.students
from kdtaxonomy.catalog import read_vocabulary
from kdtaxonomy.registry import REGISTRY, Component
from kdtaxonomy.specs import load_specs
from kdtaxonomy.specs.students import (
    FromScratchSpec,
    LowPrecisionSpec,
    PrunedSpec,
    QuantizedSpec,
    SVMHeadSpec,
    TeacherInitSpec,
)
from kdtaxonomy.students import (
    Construction,
    FromScratch,
    LowPrecision,
    Pruned,
    Quantized,
    SVMHead,
    TeacherInit,
    make_low_precision,
    multiclass_hinge,
    quantize_activation,
    quantize_uniform,
    svm_objective,
)
from kdtaxonomy.students.quantized import shadow_weight

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = REGISTRY.list("student")
assert kdtaxonomy.students.__all__  # the import registers the constructions


pytestmark = pytest.mark.usefixtures("one_thread")


class TinyNet(nn.Module):
    """A small 1-D CNN with ``locations`` and ``classifier`` (three Conv/Linear layers)."""

    def __init__(self, classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv1d(1, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU())
        self.block2 = nn.Sequential(nn.Conv1d(width, width, 3, padding=1), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(4), nn.Flatten())
        self.classifier = nn.Linear(4 * width, classes)
        self.locations = {"block1": "block1", "block2": "block2", "embedding": "pool"}

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(self.pool(self.block2(self.block1(x))))
        return out


def net(seed: int, **kwargs: int) -> TinyNet:
    torch.manual_seed(seed)
    return TinyNet(**kwargs)


def batch(seed: int = 0, n: int = 32) -> tuple[Tensor, Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(n, 1, 40, generator=g), torch.randint(0, 10, (n,), generator=g)


def build(component: Component, **params: object) -> Construction[Any]:
    construction = component.obj(component.params.model_validate(params))
    assert isinstance(construction, Construction)
    return construction


def run(construction: Construction[Any], steps: int = 3) -> tuple[nn.Module, Tensor]:
    """The loop's protocol: prepare, rounds of steps, finalize; returns the student and its test output."""
    torch.manual_seed(1)
    teacher = net(0).eval()
    student = construction.prepare(net(1), teacher)
    criterion: Callable[[Tensor, Tensor], Tensor] = construction.criterion() or F.cross_entropy
    optimizer = torch.optim.SGD([p for p in student.parameters() if p.requires_grad], lr=0.05, momentum=0.9)
    for r in range(construction.rounds):
        construction.before_round(r, student)
        student.train()
        for s in range(steps):
            x, y = batch(10 * r + s)
            optimizer.zero_grad()
            criterion(student(x), y).backward()
            optimizer.step()
            construction.after_step(student)
    student = construction.finalize(student)
    student.eval()
    with torch.no_grad():
        return student, student(batch(99)[0])


# ---------------------------------------------------------------------------------------------- registry


def test_every_spec_has_one_implementation_and_vice_versa() -> None:
    specs = load_specs()["student"]
    assert set(specs) == {c.key for c in COMPONENTS}
    for c in COMPONENTS:
        assert c.params is specs[c.key]


def test_terms_are_vocabulary_terms() -> None:
    terms = set(read_vocabulary(ROOT / "catalog" / "vocabulary.yaml").terms("student-construction"))
    assert {c.term for c in COMPONENTS} <= terms


@pytest.mark.parametrize("component", COMPONENTS, ids=[c.key for c in COMPONENTS])
def test_contract(component: Component) -> None:
    construction = build(component)
    assert construction.rounds >= 1
    student, out = run(construction)
    assert out.shape == (32, 10)
    assert torch.isfinite(out).all()
    locations = getattr(student, "locations", None)
    assert isinstance(locations, dict) and "embedding" in locations
    for path in locations.values():
        student.get_submodule(path)
    assert isinstance(student.classifier, nn.Linear)
    info = construction.describe(student)
    assert all(isinstance(k, str) and isinstance(v, float) for k, v in info.items())
    _, again = run(build(component))
    assert torch.equal(out, again), "a construction must be deterministic under a fixed seed"


# ---------------------------------------------------------------------------------------------- init


def test_teacher_init_copies_exactly() -> None:
    teacher, student = net(0), net(1)
    with torch.no_grad():
        teacher.block1[1].running_mean.add_(3.0)
    TeacherInit(TeacherInitSpec()).prepare(student, teacher)
    t_state, s_state = teacher.state_dict(), student.state_dict()
    assert all(torch.equal(t_state[k], s_state[k]) for k in t_state)
    pairs = zip(teacher.parameters(), student.parameters(), strict=True)
    assert all(a.data_ptr() != b.data_ptr() for a, b in pairs)


def test_teacher_init_mismatch_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match=r"block1\.0\.weight: student \(4, 1, 5\) vs teacher \(8, 1, 5\)"):
        TeacherInit(TeacherInitSpec()).prepare(net(1, width=4), net(0))
    other = nn.Sequential(nn.Linear(3, 3))
    with pytest.raises(ValueError, match="missing in the teacher"):
        TeacherInit(TeacherInitSpec()).prepare(net(1), other)
    with pytest.raises(ValueError, match="needs a teacher"):
        TeacherInit(TeacherInitSpec()).prepare(net(1), None)


def test_from_scratch_reinitialises_with_a_seed() -> None:
    a = FromScratch(FromScratchSpec(seed=3)).prepare(net(0), None)
    b = FromScratch(FromScratchSpec(seed=3)).prepare(net(5), None)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.classifier.weight, net(0).classifier.weight)
    state = torch.random.get_rng_state()
    FromScratch(FromScratchSpec(seed=3)).prepare(net(0), None)
    assert torch.equal(state, torch.random.get_rng_state())


# ---------------------------------------------------------------------------------------------- quantized


def np_quantize(w: np.ndarray, bits: int, bucket: int | None) -> np.ndarray:
    flat = w.reshape(-1).astype(np.float64)
    size = flat.size if bucket is None else bucket
    out = np.empty_like(flat)
    s = 2.0**bits - 1
    for start in range(0, flat.size, size):
        v = flat[start : start + size]
        lo, alpha = v.min(), v.max() - v.min()
        out[start : start + size] = v if alpha == 0 else np.round(s * (v - lo) / alpha) / s * alpha + lo
    return out.reshape(w.shape)


@pytest.mark.parametrize(("bits", "bucket"), [(2, None), (4, None), (3, 16), (8, 50)])
def test_uniform_quantization_matches_numpy_and_level_count(bits: int, bucket: int | None) -> None:
    w = torch.randn(12, 5, 7, generator=torch.Generator().manual_seed(bits), dtype=torch.float64)
    q = quantize_uniform(w, bits, bucket)
    np.testing.assert_allclose(q.numpy(), np_quantize(w.numpy(), bits, bucket), rtol=0, atol=1e-12)
    flat = q.reshape(-1)
    size = flat.numel() if bucket is None else bucket
    for start in range(0, flat.numel(), size):
        assert torch.unique(flat[start : start + size]).numel() <= 2**bits
    assert torch.equal(quantize_uniform(torch.full((5,), 0.3), 2), torch.full((5,), 0.3))


def test_quantized_forward_uses_quantized_weights_and_ste_gradient() -> None:
    student = Quantized(QuantizedSpec(bits=3)).prepare(net(1), None)
    layer = student.classifier
    shadow = shadow_weight(layer)
    q = quantize_uniform(shadow, 3)
    assert torch.equal(layer.weight, q)
    assert torch.unique(layer.weight).numel() <= 8
    x, y = batch()
    F.cross_entropy(student(x), y).backward()
    assert shadow.grad is not None
    # the same loss with the quantized weight as an explicit leaf: its gradient is the STE gradient
    feats = student.pool(student.block2(student.block1(x))).detach()
    leaf = q.clone().requires_grad_(True)
    F.cross_entropy(F.linear(feats, leaf, layer.bias), y).backward()
    assert leaf.grad is not None
    torch.testing.assert_close(shadow.grad, leaf.grad, rtol=1e-5, atol=1e-7)


def test_quantized_finalize_bakes_and_describes() -> None:
    construction = Quantized(QuantizedSpec(bits=4, bucket_size=8))
    student, _ = run(construction)
    assert "parametrizations" not in dict(student.named_modules())["classifier"]._modules
    info = construction.describe(student)
    assert info["bits"] == 4 and info["quantized_layers"] == 3
    weight = student.classifier.weight.detach().reshape(-1)
    for start in range(0, weight.numel(), 8):
        assert torch.unique(weight[start : start + 8]).numel() <= 16


def test_quantized_init_from_teacher_quantized() -> None:
    teacher = net(0)
    student = Quantized(QuantizedSpec(bits=2, init_from_teacher_quantized=True)).prepare(net(1), teacher)
    assert torch.equal(shadow_weight(student.block2[0]), quantize_uniform(teacher.block2[0].weight, 2))
    assert torch.equal(student.classifier.bias, teacher.classifier.bias)
    with pytest.raises(ValueError, match="differ"):
        Quantized(QuantizedSpec(init_from_teacher_quantized=True)).prepare(net(1, width=4), teacher)


# ---------------------------------------------------------------------------------------------- low precision


def test_low_precision_weights_and_activations() -> None:
    student = LowPrecision(LowPrecisionSpec(weight_bits=3, activation_bits=2)).prepare(net(1), None)
    # first and last layer keep full precision; the middle one is quantized
    assert torch.unique(student.block1[0].weight).numel() > 7
    conv = student.block2[0]
    w = shadow_weight(conv)
    m = w.abs().max()
    expected = torch.round(3 * torch.clamp(w / m, -1, 1)) / 3 * m
    assert torch.equal(conv.weight, expected)
    assert torch.unique(conv.weight).numel() <= 7
    seen: list[Tensor] = []
    conv.register_forward_pre_hook(lambda mod, args: seen.append(args[0].detach()))
    student(batch()[0])
    levels = torch.tensor([0.0, 1 / 3, 2 / 3, 1.0])
    assert torch.isclose(seen[0].unsqueeze(-1), levels).any(-1).all()


def test_activation_quantizer_gradient_is_the_clipped_straight_through() -> None:
    a = torch.tensor([-0.5, 0.1, 0.49, 0.8, 1.5], requires_grad=True)
    q = quantize_activation(a, 2, clip=1.0)
    assert torch.allclose(q, torch.tensor([0.0, 0.0, 1 / 3, 2 / 3, 1.0]))
    q.sum().backward()
    assert a.grad is not None
    assert torch.equal(a.grad, torch.tensor([0.0, 1.0, 1.0, 1.0, 0.0]))


def test_make_low_precision_for_a_teacher() -> None:
    teacher = make_low_precision(net(0), 4, 8, quantize_first_last=True)
    for layer in (teacher.block1[0], teacher.block2[0], teacher.classifier):
        assert torch.unique(layer.weight).numel() <= 15
    make_low_precision(teacher, 4, 8, quantize_first_last=True)  # idempotent
    assert len(teacher.classifier._forward_pre_hooks) == 1


# ---------------------------------------------------------------------------------------------- pruning


@pytest.mark.parametrize("scope", ["global", "layer"])
def test_pruning_is_exact_and_masks_survive_optimizer_steps(scope: str) -> None:
    construction = Pruned(PrunedSpec(sparsity=0.8, scope=scope))
    assert construction.rounds == 2
    student = construction.prepare(net(1), None)
    layers = [student.block1[0], student.block2[0], student.classifier]
    magnitudes = [layer.weight.detach().abs().clone() for layer in layers]
    construction.before_round(0, student)
    assert construction.describe(student)["sparsity"] == 0.0
    construction.before_round(1, student)
    total = sum(m.numel() for m in magnitudes)
    zeros = sum(int((layer.weight == 0).sum()) for layer in layers)
    if scope == "global":
        assert zeros == int(np.floor(0.8 * total + 0.5))
        pruned = torch.cat([m[layer.weight == 0] for m, layer in zip(magnitudes, layers, strict=True)])
        kept = torch.cat([m[layer.weight != 0] for m, layer in zip(magnitudes, layers, strict=True)])
        assert pruned.max() <= kept.min()
    else:
        for m, layer in zip(magnitudes, layers, strict=True):
            assert int((layer.weight == 0).sum()) == int(np.floor(0.8 * m.numel() + 0.5))
    assert construction.describe(student)["sparsity"] == pytest.approx(zeros / total)
    mask = [layer.weight == 0 for layer in layers]
    optimizer = torch.optim.Adam(student.parameters(), lr=0.1)
    for s in range(3):
        x, y = batch(s)
        optimizer.zero_grad()
        F.cross_entropy(student(x), y).backward()
        optimizer.step()
        construction.after_step(student)
    for m, layer in zip(mask, layers, strict=True):
        assert torch.all(layer.weight[m] == 0)
    assert "kd_prune_mask" not in "".join(student.state_dict())


# ---------------------------------------------------------------------------------------------- SVM


def loop_hinge(scores: np.ndarray, targets: np.ndarray, margin: float) -> float:
    total = 0.0
    for i in range(scores.shape[0]):
        worst = max(scores[i, j] for j in range(scores.shape[1]) if j != targets[i])
        total += max(0.0, margin + worst - scores[i, targets[i]])
    return total / scores.shape[0]


@pytest.mark.parametrize("margin", [1.0, 0.5])
def test_hinge_matches_a_float64_loop(margin: float) -> None:
    g = torch.Generator().manual_seed(2)
    scores = torch.randn(17, 6, generator=g, dtype=torch.float64)
    targets = torch.randint(0, 6, (17,), generator=g)
    ref = loop_hinge(scores.numpy(), targets.numpy(), margin)
    assert multiclass_hinge(scores, targets, margin).item() == pytest.approx(ref, rel=1e-12)
    weight = torch.randn(6, 4, generator=g, dtype=torch.float64)
    value = svm_objective(scores, targets, weight, c=2.0, margin=margin, n=100)
    assert value.item() == pytest.approx(ref + float((weight**2).sum()) / (2 * 2.0 * 100), rel=1e-12)


def test_svm_objective_gradcheck() -> None:
    g = torch.Generator().manual_seed(3)
    scores = torch.randn(8, 5, generator=g, dtype=torch.float64, requires_grad=True)
    weight = torch.randn(5, 3, generator=g, dtype=torch.float64, requires_grad=True)
    targets = torch.randint(0, 5, (8,), generator=g)
    assert torch.autograd.gradcheck(lambda s, w: svm_objective(s, targets, w, c=0.7), (scores, weight))


def test_svm_head_on_frozen_teacher_features() -> None:
    teacher = net(0).eval()
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    construction = SVMHead(SVMHeadSpec())
    student = construction.prepare(net(1), teacher)
    assert student.locations == {"embedding": "features"}
    trainable = [n for n, p in student.named_parameters() if p.requires_grad]
    assert trainable == ["classifier.weight", "classifier.bias"]
    x, y = batch()
    with torch.no_grad():
        expected = teacher.pool(teacher.block2(teacher.block1(x)))
    student.train()
    assert torch.equal(student.features(x), expected)
    assert not any(m.training for m in student.features.teachers.modules())
    criterion = construction.criterion()
    assert criterion is not None
    loss = criterion(student(x), y)
    loss.backward()
    head = student.classifier
    ref = multiclass_hinge(head(expected), y) + (head.weight**2).sum() / (2 * 1.0 * 32)
    assert loss.item() == pytest.approx(ref.item(), rel=1e-6)
    assert all(torch.equal(before[k], v) for k, v in teacher.state_dict().items())
    assert all(p.requires_grad for p in teacher.parameters())
    assert construction.describe(student)["feature_dim"] == 32


def test_svm_head_on_several_teachers() -> None:
    teachers = nn.ModuleList([net(0), net(2, width=4)])
    student = SVMHead(SVMHeadSpec()).prepare(net(1), teachers)
    assert student.classifier.in_features == 32 + 16
    assert student(batch()[0]).shape == (32, 10)
    with pytest.raises(ValueError, match="teacher"):
        SVMHead(SVMHeadSpec()).prepare(net(1), None)
    with pytest.raises(RuntimeError, match="prepare"):
        SVMHead(SVMHeadSpec()).criterion()
