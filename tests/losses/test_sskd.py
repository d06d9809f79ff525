"""SSKD (Xu et al. 2020): the transformations, the selective transfer on hand-built cases, the similarity and
transformed-sample terms and the whole module against float64 loop re-derivations, gradcheck through the
module's readers, and the distiller that binds them (the head's stage, then the student's)."""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import numpy as np
import pytest
import torch
from torch import Tensor, nn

import kdtaxonomy.losses as L
from kdtaxonomy.data import ArrayData
from kdtaxonomy.losses.sskd import SSKD, apply_transforms, error_rank, positives, selected_rows, transform_one
from kdtaxonomy.pipeline import Distiller
from kdtaxonomy.registry import REGISTRY, load_components
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec

pytestmark = pytest.mark.usefixtures("one_thread")

FLIPS = ("reverse", "negate", "reverse-negate")


def _rand(*shape: int, seed: int) -> Tensor:
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=torch.float64)


# -- independent references (plain Python loops over float64 values) -----------------------------------------


def cos_reference(a: Tensor, b: Tensor) -> list[list[float]]:
    """``cos(a_r, b_j)`` for every pair of rows."""
    rows_a, rows_b = a.tolist(), b.tolist()
    out = []
    for u in rows_a:
        nu = math.sqrt(sum(x * x for x in u))
        out.append([sum(x * y for x, y in zip(u, v, strict=True)) / (nu * math.sqrt(sum(y * y for y in v)))
                    for v in rows_b])  # fmt: skip
    return out


def softmax_reference(row: list[float], tau: float) -> list[float]:
    top = max(row)
    e = [math.exp((x - top) / tau) for x in row]
    return [x / sum(e) for x in e]


def keep_reference(scores: list[list[float]], target: list[int], ratio: float) -> list[int]:
    """Rows kept by the selective transfer: all of rank 0, then ``int(ratio * wrong)`` by rank, row order."""
    rank = [sum(1 for x in row if x > row[k]) for row, k in zip(scores, target, strict=True)]
    wrong = sorted((r for r in range(len(rank)) if rank[r] > 0), key=lambda r: (rank[r], r))
    right = [r for r in range(len(rank)) if rank[r] == 0]
    return sorted(right + wrong[: int(len(wrong) * ratio)])


def selected_kd_reference(
    s: list[list[float]], t: list[list[float]], target: list[int], tau: float, ratio: float
) -> float:
    """``tau^2`` times the mean over the kept rows of ``KL(softmax(t_r / tau) || softmax(s_r / tau))``."""
    rows = keep_reference(t, target, ratio)
    if not rows:
        return 0.0
    total = 0.0
    for r in rows:
        p, q = softmax_reference(t[r], tau), softmax_reference(s[r], tau)
        total += sum(pi * (math.log(pi) - math.log(qi)) for pi, qi in zip(p, q, strict=True))
    return tau * tau * total / len(rows)


def head_reference(head: nn.Sequential, x: Tensor) -> Tensor:
    """``W2 relu(W1 x + b1) + b2`` with the head's own weights (independent of its modules' forward)."""
    first, second = head[0], head[2]
    assert isinstance(first, nn.Linear) and isinstance(second, nn.Linear)
    hidden = (x @ first.weight.detach().T + first.bias.detach()).clamp_min(0.0)
    return hidden @ second.weight.detach().T + second.bias.detach()


# -- transformations and the selective transfer --------------------------------------------------------------


def test_the_signal_transformations() -> None:
    x = torch.tensor([[[1.0, 2.0, 3.0, 4.0]]])
    assert transform_one(x, "reverse").flatten().tolist() == [4.0, 3.0, 2.0, 1.0]
    assert transform_one(x, "negate").flatten().tolist() == [-1.0, -2.0, -3.0, -4.0]
    assert transform_one(x, "reverse-negate").flatten().tolist() == [-4.0, -3.0, -2.0, -1.0]
    batch = torch.arange(2 * 1 * 3, dtype=torch.float64).reshape(2, 1, 3)
    stacked = apply_transforms(batch, FLIPS)  # transformation-major: row m B + i is T_m(x_i)
    assert stacked.shape == (6, 1, 3)
    for m, name in enumerate(FLIPS):
        for i in range(2):
            torch.testing.assert_close(stacked[m * 2 + i], transform_one(batch[i : i + 1], name)[0])
    with pytest.raises(ValueError, match="does not apply"):
        transform_one(x, "rotate90")


def test_the_image_rotations_are_numpys() -> None:
    img = torch.arange(2 * 3 * 3, dtype=torch.float64).reshape(1, 2, 3, 3)
    for k, name in ((1, "rotate90"), (2, "rotate180"), (3, "rotate270")):
        expected = np.rot90(img.numpy(), k, axes=(2, 3))  # the authors rotate with np.rot90 (H, W axes)
        np.testing.assert_array_equal(transform_one(img, name).numpy(), expected)
    wide = torch.zeros(1, 1, 2, 3)
    assert transform_one(wide, "rotate180").shape == wide.shape
    with pytest.raises(ValueError, match="square"):
        transform_one(wide, "rotate90")


# rows: (scores, target) -> error rank; row 3 ties its target with another entry (rank 0, in its favour)
SCORES = torch.tensor(
    [
        [3.0, 1.0, 0.0, 2.0],  # target 0: rank 0
        [1.0, 5.0, 2.0, 0.0],  # target 0: rank 2
        [0.0, 4.0, 1.0, 3.0],  # target 3: rank 1
        [2.0, 2.0, 1.0, 0.0],  # target 1: rank 0 (a tie)
        [0.0, 1.0, 2.0, 3.0],  # target 0: rank 3
        [1.0, 0.0, 0.5, 2.0],  # target 0: rank 1 (ties row 2's rank: row order decides)
    ]
)
TARGET = torch.tensor([0, 0, 3, 1, 0, 0])


def test_error_rank_counts_the_entries_above_the_target() -> None:
    assert error_rank(SCORES, TARGET).tolist() == [0, 2, 1, 0, 3, 1]


@pytest.mark.parametrize(
    ("ratio", "kept"),
    [
        (1.0, [0, 1, 2, 3, 4, 5]),
        (0.75, [0, 1, 2, 3, 5]),  # 4 wrong rows, int(3.0) kept: ranks 1, 1, 2 (rows 2, 5, 1)
        (0.5, [0, 2, 3, 5]),  # int(2.0): the two of rank 1
        (0.4, [0, 2, 3]),  # int(1.6) = 1: of the two of rank 1 the first row
        (0.0, [0, 3]),  # only the rows ranked right
    ],
)
def test_the_selective_transfer_on_a_hand_built_case(ratio: float, kept: list[int]) -> None:
    assert selected_rows(SCORES, TARGET, ratio).tolist() == kept
    assert keep_reference(SCORES.tolist(), TARGET.tolist(), ratio) == kept


def test_positives_and_the_contrastive_prediction() -> None:
    assert positives(6, 2).tolist() == [0, 1, 0, 1, 0, 1]
    sim = _rand(6, 2, seed=3)
    for tau in (1.0, 0.1):
        expected = (
            -sum(math.log(softmax_reference(row, tau)[r % 2]) for r, row in enumerate(sim.tolist())) / 6
        )
        assert L.contrastive_prediction(sim, tau).item() == pytest.approx(expected, rel=1e-12)


def test_similarity_matrix_is_the_cosines() -> None:
    a, b = _rand(6, 4, seed=4), _rand(2, 4, seed=5)
    np.testing.assert_allclose(L.ss_similarity(a, b).numpy(), np.array(cos_reference(a, b)), rtol=1e-12)


@pytest.mark.parametrize(("tau", "ratio"), [(0.5, 0.75), (2.0, 0.0), (1.0, 1.0)])
def test_similarity_term_matches_the_formula(tau: float, ratio: float) -> None:
    s, t = _rand(9, 3, seed=6), _rand(9, 3, seed=7)
    target = [r % 3 for r in range(9)]
    expected = selected_kd_reference(s.tolist(), t.tolist(), target, tau, ratio)
    assert L.sskd_similarity(s, t, tau, ratio).item() == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize(("tau", "ratio"), [(4.0, 1.0), (1.0, 0.5)])
def test_transform_term_matches_the_formula(tau: float, ratio: float) -> None:
    s, t = _rand(8, 5, seed=8), _rand(8, 5, seed=9)
    y = torch.tensor([0, 1, 2, 3, 4, 0, 1, 2])
    expected = selected_kd_reference(s.tolist(), t.tolist(), y.tolist(), tau, ratio)
    assert L.sskd_transform(s, t, y, tau, ratio).item() == pytest.approx(expected, rel=1e-12)


def test_no_row_kept_gives_zero_and_no_nan() -> None:
    t = torch.tensor([[0.0, 5.0], [0.0, 4.0]], dtype=torch.float64)  # both rows rank their target 0 second
    s = _rand(2, 2, seed=10).requires_grad_(True)
    value = L.sskd_transform(s, t, torch.tensor([0, 0]), 4.0, 0.4)  # int(2 * 0.4) = 0 wrong rows kept
    assert value.item() == 0.0
    value.backward()
    assert s.grad is not None and bool((s.grad == 0).all())


# -- the module, with readers of small models ----------------------------------------------------------------

B, K, D_S, D_T, LENGTH = 4, 3, 5, 6, 7
Reader = Callable[[Mapping[str, Tensor], Callable[[Tensor], Tensor]], tuple[Tensor, Tensor]]


class Net:
    """A tiny float64 model of a 1-D signal: ``emb = tanh(W x)``, logits ``V emb``."""

    def __init__(self, dim: int, seed: int) -> None:
        self.w = _rand(dim, LENGTH, seed=seed)
        self.v = _rand(K, dim, seed=seed + 1)

    def maps(self, x: Tensor, w: Tensor | None = None) -> tuple[Tensor, Tensor]:
        emb = torch.tanh(x.reshape(x.shape[0], -1) @ (self.w if w is None else w).T)
        return emb, emb @ self.v.T

    def reader(self, w: Tensor | None = None) -> Reader:
        return lambda batch, transform: self.maps(transform(batch["x"]), w)


STUDENT, TEACHER = Net(D_S, 20), Net(D_T, 30)
X = _rand(B, 1, LENGTH, seed=40)
Y = torch.tensor([0, 1, 2, 1])


def _module(**params: object) -> SSKD:
    torch.manual_seed(0)
    loss = SSKD(s_shape=((D_S,), (K,)), t_shape=((D_T,), (K,)), transforms=FLIPS, **params).double()
    loss.bind_views(STUDENT.reader(), TEACHER.reader())
    return loss


def _call(loss: SSKD, w: Tensor | None = None) -> Tensor:
    return loss(STUDENT.maps(X, w), TEACHER.maps(X), targets=Y, batch={"x": X})


def module_reference(loss: SSKD, phase: str) -> float:
    """The module's value re-derived: heads by their weights, cosines, selection and KLs by loops."""
    c = loss.config
    x_tf = torch.cat([X.flip(-1), -X, -X.flip(-1)])  # the three flips, transformation-major
    (s_emb, _), (s_emb_tf, s_logits_tf) = STUDENT.maps(X), STUDENT.maps(x_tf)
    (t_emb, _), (t_emb_tf, t_logits_tf) = TEACHER.maps(X), TEACHER.maps(x_tf)
    a_t = cos_reference(head_reference(loss.teacher_head, t_emb_tf), head_reference(loss.teacher_head, t_emb))
    pos = [r % B for r in range(3 * B)]
    head = -sum(
        math.log(softmax_reference(row, c.head_temperature)[p]) for row, p in zip(a_t, pos, strict=True)
    )
    head /= 3 * B
    if phase == "head":
        return head
    a_s = cos_reference(head_reference(loss.student_head, s_emb_tf), head_reference(loss.student_head, s_emb))
    ss = selected_kd_reference(a_s, a_t, pos, c.ss_temperature, c.ss_ratio)
    tf = selected_kd_reference(
        s_logits_tf.tolist(),
        t_logits_tf.tolist(),
        Y.repeat(3).tolist(),
        c.transform_temperature,
        c.transform_ratio,
    )
    return c.ss_weight * ss + c.transform_weight * tf + (head if phase == "joint" else 0.0)


@pytest.mark.parametrize(
    ("params", "progress", "phase"),
    [
        ({}, None, "joint"),
        ({"head_epochs": 2.0}, 1.5, "head"),
        ({"head_epochs": 2.0, "ss_ratio": 0.25, "transform_ratio": 0.5}, 2.5, "student"),
        ({"ss_temperature": 1.0, "head_temperature": 0.1, "ss_weight": 1.0}, None, "joint"),
    ],
)
def test_module_matches_the_re_derivation(
    params: dict[str, float], progress: float | None, phase: str
) -> None:
    loss = _module(**params)
    if progress is not None:
        loss.set_progress(progress)
    assert loss.phase() == phase
    assert _call(loss).item() == pytest.approx(module_reference(loss, phase), rel=1e-10)


def test_module_gradients_follow_the_phases() -> None:
    loss = _module(head_epochs=1.0)
    w = STUDENT.w.clone().requires_grad_(True)
    loss.set_progress(0.5)
    _call(loss, w).backward()  # the head's stage: its contrastive loss alone
    assert w.grad is None and all(p.grad is None for p in loss.student_head.parameters())
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in loss.teacher_head.parameters())
    loss.zero_grad(set_to_none=True)
    loss.set_progress(1.5)
    _call(loss, w).backward()  # the student's: the teacher's head frozen
    assert w.grad is not None and bool(w.grad.abs().sum() > 0)
    assert all(p.grad is None for p in loss.teacher_head.parameters())
    assert all(p.grad is not None for p in loss.student_head.parameters())


def test_gradcheck_through_the_student_reader() -> None:
    loss = _module(ss_ratio=0.5)

    def fn(w: Tensor) -> Tensor:
        loss.bind_views(STUDENT.reader(w), TEACHER.reader())
        return _call(loss, w)

    w = STUDENT.w.clone().requires_grad_(True)
    assert torch.autograd.gradcheck(fn, (w,), eps=1e-6, atol=1e-7, rtol=1e-5)


def test_module_needs_its_readers_batch_and_two_maps() -> None:
    comp = REGISTRY.get("loss", "sskd")
    assert comp.extra["needs"] == ("targets", "batch") and comp.params.maps == (2, 2)
    unbound = SSKD(s_shape=((D_S,), (K,)), t_shape=((D_T,), (K,))).double()
    with pytest.raises(ValueError, match="bind_views"):
        unbound(STUDENT.maps(X), TEACHER.maps(X), targets=Y, batch={"x": X})
    with pytest.raises(ValueError, match="batch"):
        _module()(STUDENT.maps(X), TEACHER.maps(X), targets=Y)
    with pytest.raises(ValueError, match="two maps"):
        SSKD(s_shape=(D_S,), t_shape=(D_T,))
    with pytest.raises(
        ValueError, match="does not apply"
    ):  # the default, the paper's rotations, needs images
        _call(_rotating())


def _rotating() -> SSKD:
    loss = SSKD(s_shape=((D_S,), (K,)), t_shape=((D_T,), (K,))).double()
    loss.bind_views(STUDENT.reader(), TEACHER.reader())
    return loss


# -- through the distiller -----------------------------------------------------------------------------------


def _cnn(size: str, seed: int) -> nn.Module:
    from kdtaxonomy.specs import get_spec

    torch.manual_seed(seed)
    spec = get_spec("model", "cnn1d").model_validate({"size": size})
    model: nn.Module = load_components().get("model", "cnn1d").obj(spec, input_shape=(1, 24), num_classes=3)
    return model


def _distiller(teachers: int = 1) -> Distiller:
    knowledge = [
        KnowledgeSpec(component="sskd", location="embedding&output", params={"transforms": list(FLIPS),
                                                                              "head_epochs": 1}),
        KnowledgeSpec(component="soft-label-kd", location="output", weight=0.9),
    ]  # fmt: skip
    transfer = ComponentSpec(component="intermediate-layer", params={"hint_epochs": 1})
    models = [_cnn("small", 1 + i) for i in range(teachers)]
    return Distiller(_cnn("tiny", 0), models, knowledge=knowledge, transfer=transfer)


def _data() -> ArrayData:
    g = torch.Generator().manual_seed(5)
    return ArrayData(
        torch.randn(32, 1, 24, generator=g), torch.randint(0, 3, (32,), generator=g), torch.arange(32)
    )


def test_the_distiller_binds_readers_of_the_transformed_inputs() -> None:
    distiller = _distiller()
    before = [p.detach().clone() for p in distiller.student.parameters()]
    distiller.fit(_data(), steps=2, batch_size=16)  # 2 steps per epoch: both within the head's epoch
    loss = distiller.loss_modules[0]
    assert isinstance(loss, SSKD) and loss.phase() == "head"
    for old, new in zip(before, distiller.student.parameters(), strict=True):
        torch.testing.assert_close(old, new.detach(), rtol=0, atol=0, msg="the student trains after the head")
    assert all(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in loss.teacher_head.parameters())
    x = _data().x[:5]
    assert loss.teacher_views is not None and loss.student_views is not None
    emb, logits = loss.teacher_views({"x": x}, lambda v: -v)
    teacher = distiller.teachers[0]
    torch.testing.assert_close(logits, teacher(-x))
    assert not emb.requires_grad and emb.shape == (5, teacher.embedding_dim)
    s_emb, _ = loss.student_views({"x": x}, lambda v: v.flip(-1))
    assert s_emb.requires_grad

    distiller = _distiller()
    distiller.fit(_data(), steps=4, batch_size=16)  # the last two steps are the student's
    loss = distiller.loss_modules[0]
    assert isinstance(loss, SSKD) and loss.phase() == "student"
    assert all(p.grad is None for p in loss.teacher_head.parameters()), "the head is frozen after its stage"
    assert all(p.grad is not None for p in loss.student_head.parameters())
    assert any(p.grad is not None for p in distiller.student.parameters())


def test_the_distiller_refuses_two_teachers() -> None:
    with pytest.raises(ValueError, match="one frozen teacher"):
        _distiller(teachers=2).fit(_data(), steps=1, batch_size=16)
