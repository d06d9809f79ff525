"""Data-preparation transforms: registry-driven contract tests and independent numpy re-derivations."""

from __future__ import annotations

import math
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import kdtaxonomy.prep
from kdtaxonomy.catalog import read_vocabulary
from kdtaxonomy.data import ArrayData
from kdtaxonomy.prep import (
    Augment,
    ClassPartition,
    DataImpressions,
    DecreaseData,
    DownsampleUpsample,
    Prep,
    SpectralView,
    Truncate,
    class_similarity,
    sample_dirichlet,
)
from kdtaxonomy.registry import REGISTRY, Component
from kdtaxonomy.specs import load_specs
from kdtaxonomy.specs.prep import (
    AugmentSpec,
    ClassPartitionSpec,
    DataImpressionsSpec,
    DecreaseDataSpec,
    DownsampleUpsampleSpec,
    SpectralViewSpec,
    TruncateSpec,
)

ROOT = Path(__file__).resolve().parent.parent
COMPONENTS = REGISTRY.list("prep")
assert kdtaxonomy.prep.__all__  # the import registers the transforms


pytestmark = pytest.mark.usefixtures("one_thread")


def gen(seed: int = 0) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


def make_data(n: int = 64, length: int = 40, classes: int = 10, seed: int = 0) -> ArrayData:
    g = gen(seed)
    x = torch.randn(n, 1, length, generator=g)
    y = torch.arange(n) % classes
    y = y[torch.randperm(n, generator=g)]
    return ArrayData(x, y, torch.arange(100, 100 + n))


class TinyNet(nn.Module):
    """A small 1-D CNN with the attributes the library expects (``locations``, ``classifier``)."""

    def __init__(self, classes: int = 10, width: int = 8) -> None:
        super().__init__()
        self.block1 = nn.Sequential(nn.Conv1d(1, width, 5, padding=2), nn.BatchNorm1d(width), nn.ReLU())
        self.pool = nn.Sequential(nn.AdaptiveAvgPool1d(4), nn.Flatten())
        self.classifier = nn.Linear(4 * width, classes)
        self.locations = {"block1": "block1", "embedding": "pool"}

    def forward(self, x: Tensor) -> Tensor:
        out: Tensor = self.classifier(self.pool(self.block1(x)))
        return out


def teacher_net() -> TinyNet:
    torch.manual_seed(0)
    return TinyNet()


def same(a: ArrayData, b: ArrayData) -> bool:
    return (
        torch.equal(a.x, b.x)
        and torch.equal(a.y, b.y)
        and torch.equal(a.index, b.index)
        and set(a.views) == set(b.views)
        and all(torch.equal(a.views[k], b.views[k]) for k in a.views)
    )


def build(component: Component, **params: object) -> Prep[Any]:
    spec = component.params.model_validate(params)
    transform = component.obj(spec)
    assert isinstance(transform, Prep)
    return transform


# ---------------------------------------------------------------------------------------------- registry


def test_every_spec_has_one_implementation_and_vice_versa() -> None:
    specs = load_specs()["prep"]
    assert set(specs) == {c.key for c in COMPONENTS}
    for c in COMPONENTS:
        assert c.params is specs[c.key]
        assert len([k for k in COMPONENTS if k.obj is c.obj]) == 1


def test_terms_are_vocabulary_terms() -> None:
    vocab = read_vocabulary(ROOT / "catalog" / "vocabulary.yaml")
    allowed = set(vocab.terms("modification")) | set(vocab.terms("partitioning"))
    for c in COMPONENTS:
        assert c.term in allowed, c.key


def test_spec_modules_do_not_import_torch() -> None:
    code = "import sys, kdtaxonomy.specs.prep, kdtaxonomy.specs.students; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# ---------------------------------------------------------------------------------------------- contract


@pytest.mark.parametrize("component", COMPONENTS, ids=[c.key for c in COMPONENTS])
def test_contract(component: Component) -> None:
    data = make_data()
    transform = build(component)
    assert transform.target in ("teacher", "student", "both")
    for role in ("teacher", "student"):
        out = transform.apply(data, role=role, generator=gen(1))
        again = transform.apply(data, role=role, generator=gen(1))
        assert same(out, again), "apply must be deterministic given the generator"
        if not transform.applies_to(role):
            assert same(out, data)
        # rows are a subset of the original rows, with their labels
        pos = {int(i): k for k, i in enumerate(data.index)}
        assert all(int(i) in pos for i in out.index)
        rows = torch.tensor([pos[int(i)] for i in out.index], dtype=torch.long)
        assert torch.equal(out.y, data.y[rows])
        assert out.x.shape[1] == data.x.shape[1]
        if component.key != "truncate":
            assert out.x.shape[1:] == data.x.shape[1:]
        for view in out.views.values():
            assert view.shape[0] == len(out)
        ev = transform.apply_eval(data, role=role)
        assert same(ev, transform.apply_eval(data, role=role))
        assert len(ev) == len(data)
        assert torch.equal(ev.index, data.index)
    with pytest.raises(ValueError, match="role"):
        transform.apply(data, role="assistant", generator=gen())
    aug = transform.augment(data.x, gen(2))
    assert aug.shape == data.x.shape
    assert torch.equal(aug, transform.augment(data.x, gen(2)))
    if transform.needs_teacher:
        teacher = teacher_net()
        small = build(component, steps=5, count=12)
        first = small.synthesize(teacher, data, gen(3))
        second = small.synthesize(teacher, data, gen(3))
        assert same(first, second)
        assert first.x.shape == (12, *data.x.shape[1:])
    else:
        with pytest.raises(NotImplementedError):
            transform.synthesize(teacher_net(), data, gen())


# ---------------------------------------------------------------------------------------------- resolution


def np_area(x: np.ndarray, m: int) -> np.ndarray:
    n = x.shape[-1]
    bins = [(math.floor(i * n / m), math.ceil((i + 1) * n / m)) for i in range(m)]
    return np.stack([x[..., a:b].mean(axis=-1) for a, b in bins], axis=-1)


def np_linear_up(low: np.ndarray, n: int) -> np.ndarray:
    m = low.shape[-1]
    pos = (np.arange(n) + 0.5) * m / n - 0.5
    return np.apply_along_axis(lambda row: np.interp(pos, np.arange(m), row), -1, low)


@pytest.mark.parametrize("factor", [2, 3, 4])
def test_downsample_upsample_1d_matches_numpy(factor: int) -> None:
    data = make_data()
    t = DownsampleUpsample(DownsampleUpsampleSpec(factor=factor))
    out = t.apply(data, role="student", generator=gen())
    x = data.x[5].double().numpy()  # (C, L)
    ref = np_linear_up(np_area(x, 40 // factor), 40)
    np.testing.assert_allclose(out.x[5].double().numpy(), ref, rtol=1e-5, atol=1e-6)


def test_downsample_upsample_2d_matches_numpy() -> None:
    x = torch.randn(3, 2, 8, 12, generator=gen(4), dtype=torch.float64)
    data = ArrayData.from_tensors(x, torch.zeros(3))
    out = DownsampleUpsample(DownsampleUpsampleSpec(factor=4)).apply_eval(data, role="student")
    sample = x[1].numpy()  # (C, H, W)
    low = np_area(np.swapaxes(np_area(sample, 3), -1, -2), 2)  # pool W to 3, then H to 2: (C, 3, 2)
    up = np_linear_up(np.swapaxes(np_linear_up(low, 8), -1, -2), 12)  # H back to 8, then W to 12
    np.testing.assert_allclose(out.x[1].numpy(), up, rtol=1e-10, atol=1e-12)


def test_downsample_upsample_targets_role_in_train_and_eval() -> None:
    data = make_data()
    t = DownsampleUpsample(DownsampleUpsampleSpec())
    assert t.target == "student"
    assert same(t.apply(data, role="teacher", generator=gen()), data)
    assert same(t.apply_eval(data, role="teacher"), data)
    assert not torch.equal(t.apply_eval(data, role="student").x, data.x)
    assert same(DownsampleUpsample(DownsampleUpsampleSpec(factor=1)).apply_eval(data, role="student"), data)


# ---------------------------------------------------------------------------------------------- views


@pytest.mark.parametrize("log", [False, True])
def test_spectral_view_matches_numpy(log: bool) -> None:
    data = make_data()
    out = SpectralView(SpectralViewSpec(log=log)).apply(data, role="teacher", generator=gen())
    assert torch.equal(out.x, data.x)
    spec = out.views["spectral"]
    assert spec.shape == data.x.shape
    x = data.x[7, 0].double().numpy()
    mag = np.abs(np.fft.rfft(x))
    if log:
        mag = np.log1p(mag)
    m, n = mag.size, x.size
    ref = np.interp(np.arange(n) * (m - 1) / (n - 1), np.arange(m), mag)
    np.testing.assert_allclose(spec[7, 0].double().numpy(), ref, rtol=1e-4, atol=1e-5)


def test_spectral_view_is_skipped_when_present_and_applies_to_eval() -> None:
    data = make_data()
    t = SpectralView(SpectralViewSpec())
    assert t.target == "teacher"
    existing = data.with_views(spectral=torch.zeros_like(data.x))
    assert same(t.apply(existing, role="teacher", generator=gen()), existing)
    assert "spectral" in t.apply_eval(data, role="teacher").views
    assert not t.apply_eval(data, role="student").views
    images = ArrayData.from_tensors(torch.randn(2, 3, 6, 8, generator=gen()), torch.zeros(2))
    assert t.apply_eval(images, role="teacher").views["spectral"].shape == (2, 3, 6, 8)


# ---------------------------------------------------------------------------------------------- subsets


@pytest.mark.parametrize(("fraction", "minimum"), [(0.03, 1), (0.25, 1), (0.5, 0), (1.0, 1)])
def test_decrease_data_keeps_the_right_count_per_class(fraction: float, minimum: int) -> None:
    data = make_data(n=200, classes=7)
    t = DecreaseData(DecreaseDataSpec(fraction=fraction, min_per_class=minimum))
    out = t.apply(data, role="student", generator=gen(5))
    for c in range(7):
        n_c = int((data.y == c).sum())
        expected = min(n_c, max(minimum, math.floor(fraction * n_c + 0.5)))
        assert int((out.y == c).sum()) == expected
    assert torch.all(out.index[1:] > out.index[:-1])  # original order kept
    pos = out.index - 100
    assert torch.equal(out.x, data.x[pos]) and torch.equal(out.y, data.y[pos])
    assert same(t.apply(data, role="teacher", generator=gen(5)), data)
    assert same(t.apply_eval(data, role="student"), data)
    other = t.apply(data, role="student", generator=gen(6))
    if 0 < fraction < 1:
        assert not torch.equal(out.index, other.index)


@pytest.mark.parametrize("keep", [0.1, 0.3, 0.5, 1.0])
def test_truncate_zero_and_crop(keep: float) -> None:
    data = make_data()
    n = max(1, math.ceil(round(keep * 40, 9)))
    zero = Truncate(TruncateSpec(keep=keep)).apply(data, role="student", generator=gen())
    assert zero.x.shape == data.x.shape
    assert torch.equal(zero.x[..., :n], data.x[..., :n])
    assert torch.all(zero.x[..., n:] == 0)
    crop = Truncate(TruncateSpec(keep=keep, mode="crop")).apply_eval(data, role="student")
    assert torch.equal(crop.x, data.x[..., :n])
    assert same(Truncate(TruncateSpec(keep=keep)).apply_eval(data, role="teacher"), data)


def test_truncate_rejects_batch_axis() -> None:
    with pytest.raises(ValueError, match="axis"):
        TruncateSpec(axis=1)
    with pytest.raises(ValueError, match="time axis"):
        Truncate(TruncateSpec(axis=-2)).apply_eval(make_data(), role="student")


# ---------------------------------------------------------------------------------------------- partition


def test_class_partition_groups_cover_the_classes() -> None:
    data = make_data()
    t = ClassPartition(ClassPartitionSpec(parts=3, seed=4))
    groups = t.groups(data)
    assert sorted(c for g in groups for c in g) == list(range(10))
    assert sorted(len(g) for g in groups) == [3, 3, 4]
    assert groups == ClassPartition(ClassPartitionSpec(parts=3, seed=4)).groups(data)
    assert groups != ClassPartition(ClassPartitionSpec(parts=3, seed=5)).groups(data)
    total = 0
    for k, g in enumerate(groups):
        part = t.partition(data, k)
        assert set(part.y.tolist()) <= set(g)
        assert torch.equal(part.y, data.y[part.index - 100])
        total += len(part)
    assert total == len(data)
    assert same(t.apply(data, role="teacher", generator=gen()), data)
    with pytest.raises(IndexError):
        t.partition(data, 3)


def test_class_partition_explicit_groups() -> None:
    data = make_data()
    t = ClassPartition(ClassPartitionSpec(groups=[[3, 5], [0]]))
    assert torch.all((t.partition(data, 0).y == 3) | (t.partition(data, 0).y == 5))
    with pytest.raises(ValueError):
        ClassPartitionSpec(groups=[[1, 2], [2]])


# ---------------------------------------------------------------------------------------------- augment


def test_augment_1d_is_a_circular_shift_without_scaling_and_noise() -> None:
    data = make_data()
    t = Augment(AugmentSpec(max_shift=3, scale=0.0, noise_std=0.0))
    assert same(t.apply(data, role="student", generator=gen()), data)
    out = t.augment(data.x, gen(7)).numpy()
    x = data.x.numpy()
    shifts = []
    for i in range(len(x)):
        matches = [s for s in range(-3, 4) if np.array_equal(out[i], np.roll(x[i], s, axis=-1))]
        assert matches, i
        shifts.append(matches[0])
    assert len(set(shifts)) > 1


def test_augment_1d_scaling_noise_and_time_flip() -> None:
    x = torch.randn(256, 1, 40, generator=gen())
    flipped = Augment(AugmentSpec(max_shift=0, scale=0.0, noise_std=0.0, time_flip_p=1.0)).augment(x, gen())
    assert torch.equal(flipped, x.flip(-1))
    scaled = Augment(AugmentSpec(max_shift=0, scale=0.2, noise_std=0.0)).augment(x, gen())
    ratio = scaled[:, 0, 0] / x[:, 0, 0]
    assert torch.all((ratio > 0.8 - 1e-5) & (ratio < 1.2 + 1e-5))
    noisy = Augment(AugmentSpec(max_shift=0, scale=0.0, noise_std=0.5)).augment(x, gen())
    assert abs(float((noisy - x).std()) - 0.5) < 0.02


def test_augment_2d_flip_and_rotations() -> None:
    x = torch.randn(32, 2, 5, 5, generator=gen())
    out = Augment(AugmentSpec()).augment(x, gen(8))
    kinds = set()
    for i in range(len(x)):
        candidates = [(f, k) for f in (0, 1) for k in range(4)]
        ok = [
            (f, k)
            for f, k in candidates
            if torch.equal(out[i], torch.rot90(x[i].flip(-1) if f else x[i], k, dims=(1, 2)))
        ]
        assert ok, i
        kinds.add(ok[0])
    assert len(kinds) > 3
    rect = torch.randn(8, 1, 4, 6, generator=gen())
    assert Augment(AugmentSpec()).augment(rect, gen()).shape == rect.shape


# ---------------------------------------------------------------------------------------------- impressions


def test_class_similarity_matches_numpy() -> None:
    w = torch.randn(6, 9, generator=gen(), dtype=torch.float64)
    ref = np.zeros((6, 6))
    wn = w.numpy()
    for i in range(6):
        for j in range(6):
            ref[i, j] = wn[i] @ wn[j] / (np.linalg.norm(wn[i]) * np.linalg.norm(wn[j]))
    lo, hi = ref.min(axis=1, keepdims=True), ref.max(axis=1, keepdims=True)
    ref = (ref - lo) / (hi - lo)
    np.testing.assert_allclose(class_similarity(w).numpy(), ref, rtol=1e-12, atol=1e-12)
    assert torch.allclose(torch.diagonal(class_similarity(w)), torch.ones(6, dtype=torch.float64))


def test_dirichlet_sampler_moments_and_determinism() -> None:
    alpha = torch.tensor([2.0, 0.5, 0.1, 1e-6], dtype=torch.float64).expand(20000, 4)
    sample = sample_dirichlet(alpha, gen(9))
    assert torch.equal(sample, sample_dirichlet(alpha, gen(9)))
    assert torch.allclose(sample.sum(dim=1), torch.ones(20000, dtype=torch.float64))
    mean = alpha[0] / alpha[0].sum()
    assert torch.allclose(sample.mean(dim=0), mean, atol=0.01)
    a0 = float(alpha[0].sum())
    var = mean * (1 - mean) / (a0 + 1)
    assert torch.allclose(sample.var(dim=0), var, atol=0.01)


def test_data_impressions_shape_labels_and_teacher_untouched() -> None:
    data = make_data()
    teacher = teacher_net()
    teacher.block1[0].weight.requires_grad_(False)  # a mixed set of flags must be restored as it was
    teacher.train()
    teacher.block1[1].eval()  # and so must mixed train/eval modes
    before = {k: v.clone() for k, v in teacher.state_dict().items()}
    flags = [p.requires_grad for p in teacher.parameters()]
    modes = [m.training for m in teacher.modules()]
    t = DataImpressions(DataImpressionsSpec(steps=30))
    assert t.needs_teacher and t.target == "student"
    out = t.synthesize(teacher, data, gen(10))
    assert out.x.shape == data.x.shape and len(out) == len(data)
    assert out.y.min() >= 0 and out.y.max() < 10
    assert torch.equal(out.index, torch.arange(len(data)))
    after = teacher.state_dict()
    assert all(torch.equal(before[k], after[k]) for k in before)
    assert [p.requires_grad for p in teacher.parameters()] == flags
    assert [m.training for m in teacher.modules()] == modes
    assert all(p.grad is None for p in teacher.parameters())
    assert same(t.apply(data, role="student", generator=gen()), data)


def test_data_impressions_lower_the_cross_entropy() -> None:
    data = make_data()
    teacher = teacher_net().eval()
    start = DataImpressions(DataImpressionsSpec(steps=0, count=20)).synthesize(teacher, data, gen(11))
    done = DataImpressions(DataImpressionsSpec(steps=60, count=20)).synthesize(teacher, data, gen(11))
    assert torch.equal(start.y, done.y)  # same sampled targets

    def ce(x: Tensor) -> float:
        with torch.no_grad():
            return float(nn.functional.cross_entropy(teacher(x) / 20.0, done.y))

    assert ce(done.x) < ce(start.x)


def test_data_impressions_need_a_linear_classifier() -> None:
    teacher = nn.Sequential(nn.Flatten(), nn.Linear(40, 10))
    with pytest.raises(TypeError, match="classifier"):
        DataImpressions(DataImpressionsSpec(steps=1)).synthesize(teacher, make_data(), gen())


def test_spec_validation() -> None:
    with pytest.raises(ValueError):
        DataImpressionsSpec(beta=())
    with pytest.raises(ValueError):
        DecreaseDataSpec(fraction=0.0)
    with pytest.raises(ValueError):
        DownsampleUpsampleSpec(factor=2, unknown=1)  # type: ignore[call-arg]
