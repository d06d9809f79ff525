"""Registry-driven checks of every registered loss module (a new registration is tested automatically).

Inputs are built from the component's ``inputs`` ("logits" | "features" | "embeddings") and ``needs``
(``targets``/``indices``); each loss gets a finite scalar, gradients to the student input and to its own
parameters, and none to the teacher.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
import torch
from pydantic import BaseModel
from torch import Tensor

import kdtaxonomy.losses as L
from kdtaxonomy.losses.base import DistillationLoss
from kdtaxonomy.losses.vid import vid_variance
from kdtaxonomy.registry import REGISTRY, Component

# kdtaxonomy.losses (imported above) registers the losses; the other component packages are not imported so
# that this suite does not depend on them.
LOSSES = REGISTRY.list("loss")
KEYS = [c.key for c in LOSSES]
B, K, N = 6, 5, 40

Shapes = tuple[tuple[int, ...], tuple[int, ...]]
# per-sample (student, teacher) shapes for each kind of input; several variants per kind
INPUT_SHAPES: dict[str, dict[str, Shapes]] = {
    "logits": {"logits": ((K,), (K,))},
    "features": {
        "1d-maps": ((3, 12), (5, 8)),
        "1d-maps-equal": ((4, 8), (4, 8)),
        "2d-maps": ((3, 6, 6), (4, 3, 3)),
    },
    "embeddings": {"vectors": ((6,), (10,)), "vectors-equal": ((8,), (8,))},
}
NEEDS: dict[str, Callable[[torch.Generator], Tensor]] = {
    "targets": lambda g: torch.randint(0, K, (B,), generator=g),
    "indices": lambda g: torch.randperm(N, generator=g)[:B],
}
TRAINABLE = {
    "fitnets", "vid", "crd", "ickd", "activation-boundary", "factor-transfer", "pad-l2", "srd",
    "knowledge-review", "ofd",
}  # fmt: skip
BOUND_VIEWS = {"sskd"}
"""Terms that forward the models on transformed inputs through readers the distiller binds (``bind_views``,
``needs`` ``batch``): tested with such readers in their own files (test_sskd.py), not on the tensors here."""


def cases() -> list[Any]:
    out = []
    for comp in LOSSES:
        if comp.key in BOUND_VIEWS:
            continue
        for variant in INPUT_SHAPES[comp.extra["inputs"]]:
            out.append(pytest.param(comp.key, variant, id=f"{comp.key}-{variant}"))
    return out


def levels(shape: tuple[int, ...]) -> tuple[tuple[int, ...], ...]:
    """Two levels for a loss that reads several maps (location ``a&b``): the map, then one of one more
    channel and half the size."""
    return shape, (shape[0] + 1, *(max(d // 2, 1) for d in shape[1:]))


def build(
    comp: Component, variant: str, seed: int = 0
) -> tuple[DistillationLoss, Any, Any, dict[str, Tensor]]:
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    s_shape, t_shape = INPUT_SHAPES[comp.extra["inputs"]][variant]
    params = comp.validate_params({}).model_dump()
    if comp.params.maps[0] > 1:  # tuples of maps and of shapes per side
        s_shapes, t_shapes = levels(s_shape), levels(t_shape)
        loss = comp.obj(s_shape=s_shapes, t_shape=t_shapes, num_samples=N, num_classes=K, **params)
        s = tuple(torch.randn(B, *x, generator=g).requires_grad_(True) for x in s_shapes)
        t = tuple(torch.randn(B, *x, generator=g).requires_grad_(True) for x in t_shapes)
        return loss, s, t, {name: NEEDS[name](g) for name in comp.extra["needs"]}
    loss = comp.obj(s_shape=s_shape, t_shape=t_shape, num_samples=N, num_classes=K, **params)
    s = torch.randn(B, *s_shape, generator=g).requires_grad_(True)
    t = torch.randn(B, *t_shape, generator=g).requires_grad_(True)
    extras = {name: NEEDS[name](g) for name in comp.extra["needs"]}
    return loss, s, t, extras


def each(x: Any) -> tuple[Tensor, ...]:
    """The tensors of one side (one, or the maps of a multi-map term)."""
    return tuple(x) if isinstance(x, tuple) else (x,)


def test_registry_entries_are_complete() -> None:
    expected = """soft-label-kd hard-label-kd conditional-kd weighted-kd multi-teacher-kd dkd dml fitnets
        attention-transfer similarity-preserving correlation-congruence vid pkt nst rkd-distance rkd-angle
        rkd-area mmd cosine-embedding assistant-feature-matching crd"""
    assert set(KEYS) >= set(expected.split())
    terms = {
        "soft-labels", "hard-labels", "mutual-information", "deep-features", "similarity-matrix", "relations",
        "embeddings", "distributions", "attention-maps", "contrastive-representations", "tag-vectors",
    }  # fmt: skip
    for comp in LOSSES:
        assert issubclass(comp.obj, DistillationLoss), comp.key
        assert comp.obj.params_model is comp.params, f"{comp.key}: registered params != params_model"
        assert comp.term in terms, comp.key
        assert comp.extra["inputs"] in INPUT_SHAPES, comp.key
        bound = {"batch"} if comp.key in BOUND_VIEWS else set()
        assert set(comp.extra["needs"]) <= set(NEEDS) | bound, comp.key
        assert comp.summary, comp.key
        model: type[BaseModel] = comp.params
        assert model.model_config.get("extra") == "forbid", comp.key
        for name, field in model.model_fields.items():
            assert field.description, f"{comp.key}.{name} is undocumented"
        with pytest.raises(ValueError):
            comp.validate_params({"no_such_parameter": 1})


@pytest.mark.parametrize(("key", "variant"), cases())
def test_module_forward_backward(key: str, variant: str) -> None:
    comp = REGISTRY.get("loss", key)
    loss, s, t, extras = build(comp, variant)
    value = loss(s, t, **extras)
    assert value.dim() == 0 and torch.isfinite(value), value
    value.backward()
    assert all(x.grad is not None and torch.isfinite(x.grad).all() for x in each(s))
    assert all(x.grad is None for x in each(t)), "the teacher must be treated as a constant"
    params = list(loss.parameters())
    if key in TRAINABLE:
        assert params, f"{key} must own trainable parameters"
    for p in params:
        assert p.grad is not None and torch.isfinite(p.grad).all(), key


@pytest.mark.parametrize(("key", "variant"), cases())
def test_module_float64_and_batch_of_two(key: str, variant: str) -> None:
    comp = REGISTRY.get("loss", key)
    loss, s, t, extras = build(comp, variant, seed=1)
    loss = loss.double()
    s2, t2 = (tuple(x[:2].double() for x in each(side)) for side in (s, t))
    value = loss(
        s2 if len(s2) > 1 else s2[0], t2 if len(t2) > 1 else t2[0], **{k: v[:2] for k, v in extras.items()}
    )
    assert value.dtype == torch.float64 and torch.isfinite(value)


def test_vid_variance_parameter_gets_gradient() -> None:
    loss, s, t, _ = build(REGISTRY.get("loss", "vid"), "2d-maps")
    loss(s, t).backward()
    alpha = loss.alpha
    assert isinstance(alpha, torch.nn.Parameter) and alpha.shape == (4,)
    assert alpha.grad is not None and bool((alpha.grad != 0).all())
    initial = vid_variance(REGISTRY.get("loss", "vid").obj(s_shape=(3,), t_shape=(2,)).alpha)
    torch.testing.assert_close(initial, torch.full((2,), 5.0))


@pytest.mark.parametrize("key", ["fitnets", "vid", "similarity-preserving", "assistant-feature-matching"])
def test_feature_losses_on_vectors(key: str) -> None:
    loss = REGISTRY.get("loss", key).obj(s_shape=(6,), t_shape=(10,))
    s, t = torch.randn(B, 6, requires_grad=True), torch.randn(B, 10, requires_grad=True)
    value = loss(s, t)
    value.backward()
    assert torch.isfinite(value) and s.grad is not None and t.grad is None


def test_multi_teacher_module_accepts_a_list() -> None:
    comp = REGISTRY.get("loss", "multi-teacher-kd")
    loss = comp.obj(s_shape=(K,), t_shape=(K,), weights=[1.0, 3.0])
    s = torch.randn(B, K, requires_grad=True)
    ts = [torch.randn(B, K, requires_grad=True) for _ in range(2)]
    value = loss(s, ts)
    torch.testing.assert_close(value, L.multi_teacher_kd(s, [x.detach() for x in ts], 4.0, [0.25, 0.75]))
    value.backward()
    assert all(x.grad is None for x in ts)


FUNCTIONAL = {
    "soft-label-kd": lambda s, t, y: L.soft_label_kd(s, t),
    "hard-label-kd": lambda s, t, y: L.hard_label_kd(s, t),
    "conditional-kd": lambda s, t, y: L.conditional_kd(s, t, y),
    "weighted-kd": lambda s, t, y: L.weighted_kd(s, t, y),
    "dkd": lambda s, t, y: L.dkd(s, t, y),
    "dml": lambda s, t, y: L.dml(s, t),
    "dist": lambda s, t, y: L.dist(s, t),
    "tfkd-reg": lambda s, t, y: L.tfkd_reg(s, y),
}


@pytest.mark.parametrize("key", sorted(FUNCTIONAL))
def test_logit_modules_wrap_functionals(key: str) -> None:
    loss, s, t, extras = build(REGISTRY.get("loss", key), "logits")
    torch.testing.assert_close(loss(s, t, **extras), FUNCTIONAL[key](s, t, extras.get("targets")))


def test_dkd_warmup_factor() -> None:
    loss = REGISTRY.get("loss", "dkd").obj()
    assert loss.config.warmup_epochs == 20
    assert [loss.warmup_factor(e) for e in (0, 10, 20, 40)] == [0.0, 0.5, 1.0, 1.0]
    assert REGISTRY.get("loss", "dkd").obj(warmup_epochs=0).warmup_factor(0) == 1.0


def test_missing_needs_and_shapes_raise() -> None:
    with pytest.raises(ValueError, match="targets"):
        REGISTRY.get("loss", "dkd").obj()(torch.randn(2, 3), torch.randn(2, 3))
    for key in TRAINABLE | BOUND_VIEWS:
        with pytest.raises(ValueError):
            REGISTRY.get("loss", key).obj(num_samples=N)
