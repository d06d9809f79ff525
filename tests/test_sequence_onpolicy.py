"""On-policy distillation on tiny cases: GKD's on-policy fraction and loss, MiniLLM's gradient estimator
against an exact enumeration of a 3-token, length-2 sequence distribution, DistiLLM's skew losses and
adaptive schedule on hand-built cases, the frozen teacher, and the runner's pairing with the student alone."""

from __future__ import annotations

import itertools
import math
from typing import Any

import pytest
import torch

from kdtaxonomy.losses.sequence import generalized_jsd
from kdtaxonomy.sequence import run as run_module
from kdtaxonomy.sequence.decode import pad
from kdtaxonomy.sequence.kd import METHODS, method_params
from kdtaxonomy.sequence.minillm import minillm_loss
from kdtaxonomy.sequence.models import ModelConfig, Seq2SeqTransformer
from kdtaxonomy.sequence.onpolicy import (
    gkd_loss,
    gkd_step_loss,
    onpolicy_step_loss,
    sgo_source,
    skew_loss,
    update_phi,
)
from kdtaxonomy.sequence.rollout import on_policy, sample
from kdtaxonomy.sequence.task import EOS, TaskConfig, make_task
from kdtaxonomy.sequence.training import IGNORE, teacher_forcing

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ModelConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=1, ff=32, dropout=0.0)
TASK = TaskConfig(train=16, valid=4, test=4)


def _models(seed: int = 0) -> tuple[Any, Seq2SeqTransformer, Seq2SeqTransformer]:
    task = make_task(TASK)
    torch.manual_seed(seed)
    teacher = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), TINY).eval()
    student = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), TINY)
    with torch.no_grad():
        teacher.tgt_embed.weight.mul_(4.0)
    return task, teacher, student


# --- GKD ---------------------------------------------------------------------------------------------------


def test_on_policy_fraction_is_lambda() -> None:
    g = torch.Generator().manual_seed(0)
    assert not any(on_policy(g, 0.0) for _ in range(2000))
    assert all(on_policy(g, 1.0) for _ in range(2000))
    share = sum(on_policy(g, 0.3) for _ in range(4000)) / 4000
    assert abs(share - 0.3) < 0.03


@pytest.mark.parametrize("lam", [0.0, 1.0])
def test_gkd_samples_from_the_student_exactly_when_drawn(lam: float, monkeypatch: pytest.MonkeyPatch) -> None:
    task, teacher, student = _models()
    calls: list[int] = []
    real = sample

    def spy(model: Seq2SeqTransformer, sources: Any, **kw: Any) -> Any:
        assert model is student
        calls.append(len(sources))
        return real(model, sources, **kw)

    monkeypatch.setattr("kdtaxonomy.sequence.onpolicy.sample", spy)
    step, stats = gkd_step_loss(
        teacher, task.train.src, task.train.tgt, lam=lam, beta=0.5, temperature=1.0, init_steps=2,
        max_len=12, seed=3,
    )  # fmt: skip
    for s in range(1, 9):
        step(student, s, torch.arange(4))
    assert stats["steps"] == 6 and stats["on_policy_steps"] == (6 if lam else 0)
    assert calls == ([4] * 6 if lam else [])


def test_gkd_loss_is_the_generalized_jsd_per_sequence() -> None:
    task, teacher, student = _models()
    rows = [3, 0, 7, 5]
    src = pad([task.train.src[i] for i in rows])
    tgt_in, labels = teacher_forcing([task.train.tgt[i] for i in rows])
    with torch.no_grad():
        t_logits = teacher(src, tgt_in)
    s_logits = student(src, tgt_in)
    mask = labels != IGNORE
    lengths = mask.sum(1).tolist()
    assert len(set(lengths)) > 1  # unequal lengths: a token mean over the batch would differ
    by_hand = (
        sum(generalized_jsd(s_logits[i : i + 1], t_logits[i : i + 1], mask[i : i + 1], 0.3) for i in range(4))
        / 4
    )
    assert float(gkd_loss(s_logits, t_logits, labels, 0.3)) == pytest.approx(float(by_hand), rel=1e-6)
    assert float(gkd_loss(s_logits, t_logits, labels, 0.3)) != pytest.approx(
        float(generalized_jsd(s_logits, t_logits, mask, 0.3)), rel=1e-4
    )
    step, _ = gkd_step_loss(
        teacher, task.train.src, task.train.tgt, lam=0.0, beta=0.3, temperature=1.0, init_steps=0,
        max_len=12, seed=0,
    )  # fmt: skip
    assert float(step(student, 1, torch.tensor(rows))) == pytest.approx(float(by_hand), rel=1e-6)


def test_on_policy_step_scores_the_students_own_samples() -> None:
    task, teacher, student = _models()
    rows = [1, 2, 3]
    step, _ = gkd_step_loss(
        teacher, task.train.src, task.train.tgt, lam=1.0, beta=0.9, temperature=1.0, init_steps=0,
        max_len=12, seed=5,
    )  # fmt: skip
    value = step(student, 1, torch.tensor(rows))
    g = torch.Generator().manual_seed(5)
    assert on_policy(g, 1.0)
    srcs = [task.train.src[i] for i in rows]
    tokens = sample(student, srcs, generator=g, max_len=12).tokens
    assert all(len(y) <= 12 and EOS not in y for y in tokens)
    tgt_in, labels = teacher_forcing(tokens)
    with torch.no_grad():
        expected = gkd_loss(student(pad(srcs), tgt_in), teacher(pad(srcs), tgt_in), labels, 0.9)
    assert float(value) == pytest.approx(float(expected), rel=1e-6)


def test_no_gradient_reaches_the_teacher() -> None:
    task, teacher, student = _models()
    for method in ("gkd", "minillm", "distillm"):
        params = method_params(
            method, {"init_fraction": 0.0, **({"capacity": 4} if method == "distillm" else {})}
        )
        step, _ = onpolicy_step_loss(
            method, params, teacher, task.train.src, task.train.tgt, valid=(task.valid.src, task.valid.tgt),
            steps=4, batch_size=4, max_len=10, seed=1,
        )  # fmt: skip
        student.zero_grad()
        step(student, 1, torch.arange(4)).backward()
        assert all(p.grad is None for p in teacher.parameters()), method
        assert any(p.grad is not None and bool(p.grad.abs().sum() > 0) for p in student.parameters()), method


# --- MiniLLM: the estimator against an exact enumeration ----------------------------------------------------


def _markov(theta1: torch.Tensor, theta: torch.Tensor, y: tuple[int, ...]) -> torch.Tensor:
    """Logits ``(1, len(y), V)`` of a tabular policy: ``theta1`` first, then ``theta[previous token]``."""
    return torch.stack([theta1, *(theta[a] for a in y[:-1])])[None]


def _log_prob(theta1: torch.Tensor, theta: torch.Tensor, y: tuple[int, ...]) -> torch.Tensor:
    logits = torch.log_softmax(_markov(theta1, theta, y)[0], -1)
    return logits[torch.arange(len(y)), list(y)].sum()


def _exact_case(length: int, length_norm: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """``grad KL(q_theta || p)`` of the sequence distributions over 3 tokens and ``length`` positions, exactly,
    and the exact expectation over ``y ~ q_theta`` of the gradient of :func:`minillm_loss` (times ``length``,
    the loss being a mean over positions)."""
    torch.manual_seed(0)
    v = 3
    theta1 = torch.randn(v, dtype=torch.float64, requires_grad=True)
    theta = torch.randn(v, v, dtype=torch.float64, requires_grad=True)
    phi1, phi = torch.randn(v, dtype=torch.float64) * 2, torch.randn(v, v, dtype=torch.float64) * 2
    seqs = list(itertools.product(range(v), repeat=length))
    kl = sum(
        _log_prob(theta1, theta, y).exp() * (_log_prob(theta1, theta, y) - _log_prob(phi1, phi, y))
        for y in seqs
    )
    exact = torch.autograd.grad(kl, [theta1, theta])
    surrogate = torch.zeros((), dtype=torch.float64)
    for y in seqs:
        s = _markov(theta1, theta, y)
        with torch.no_grad():
            log_q_old = torch.log_softmax(s, -1)[0, torch.arange(length), list(y)][None]
            weight = _log_prob(theta1, theta, y).exp()
        loss = minillm_loss(
            s, _markov(phi1, phi, y), torch.tensor([list(y)]), log_q_old, log_q_old,
            length_norm=length_norm, clip=0.2,
        )  # fmt: skip
        surrogate = surrogate + weight * loss * length
    estimate = torch.autograd.grad(surrogate, [theta1, theta])
    return torch.cat([g.flatten() for g in exact]), torch.cat([g.flatten() for g in estimate])


@pytest.mark.parametrize("length", [2, 3])
def test_minillm_estimator_is_unbiased_for_the_sequence_reverse_kl(length: int) -> None:
    exact, estimate = _exact_case(length, length_norm=False)
    assert exact.abs().max() > 0.05
    assert torch.allclose(estimate, exact, atol=1e-10)


def test_minillm_length_normalisation_changes_the_long_term_weights() -> None:
    exact, estimate = _exact_case(3, length_norm=True)
    assert not torch.allclose(estimate, exact, atol=1e-3)  # Eq. 6 rescales R_{t+1}: no longer unbiased


def test_minillm_without_the_single_step_term_is_biased() -> None:
    """Dropping (grad L)_Single leaves out the immediate rewards: the estimator no longer matches."""
    torch.manual_seed(1)
    s = torch.randn(1, 2, 3, requires_grad=True)
    t, labels = torch.randn(1, 2, 3), torch.tensor([[0, 2]])
    log_q = torch.log_softmax(s.detach(), -1)[0, [0, 1], [0, 2]][None]
    (with_single,) = torch.autograd.grad(minillm_loss(s, t, labels, log_q, log_q), s)
    (without,) = torch.autograd.grad(minillm_loss(s, t, labels, log_q, log_q, single_step=False), s)
    assert not torch.allclose(with_single, without, atol=1e-4)


def test_minillm_weights_and_clipping_by_hand() -> None:
    """One sequence of 2 tokens from the teacher-mixed distribution: w_t = q / p~, clipped as PPO."""
    s = torch.tensor([[[1.0, 0.0, -1.0], [0.0, 2.0, 0.0]]], requires_grad=True)
    t = torch.tensor([[[0.0, 1.0, 0.0], [1.0, 0.0, 0.0]]])
    labels = torch.tensor([[1, 0]])
    log_q = torch.log_softmax(s.detach(), -1)[0, [0, 1], [1, 0]][None]
    log_p = torch.log_softmax(t, -1)[0, [0, 1], [1, 0]][None]
    log_mix = torch.logaddexp(log_p + math.log(0.2), log_q + math.log(0.8))
    w = (log_q - log_mix).exp()
    r = log_p - log_q
    kl = (torch.softmax(s.detach(), -1) * (torch.log_softmax(s.detach(), -1) - torch.log_softmax(t, -1))).sum(
        -1
    )
    # position 0: A = r_1 (the mean of the one later reward); position 1: A = 0
    a0 = float(r[0, 1])
    rho0 = float(w[0, 0])
    long0 = max(-rho0 * a0, -min(max(rho0, 0.8), 1.2) * a0)
    expected = (long0 + float(w[0, 0] * kl[0, 0]) + float(w[0, 1] * kl[0, 1])) / 2
    got = minillm_loss(s, t, labels, log_q, log_mix, clip=0.2)
    assert float(got) == pytest.approx(expected, rel=1e-6)
    no_single = minillm_loss(s, t, labels, log_q, log_mix, clip=0.2, single_step=False)
    assert float(no_single) == pytest.approx(long0 / 2, rel=1e-6)


def test_teacher_mixed_sampling_follows_the_mixture() -> None:
    task, teacher, student = _models()
    g = torch.Generator().manual_seed(0)
    srcs = task.train.src[:4]
    pure = sample(student, srcs, generator=g, max_len=6, teacher=teacher, teacher_mix=1.0)
    real = pure.log_mix != 0
    assert bool(real.any())
    with torch.no_grad():  # with teacher_mix 1 the sampling distribution is the teacher's
        tgt_in, labels = teacher_forcing(pure.tokens)
        log_p = torch.log_softmax(teacher(pad(srcs), tgt_in), -1).gather(-1, labels.clamp(min=0)[..., None])
    assert torch.allclose(pure.log_mix[real], log_p.squeeze(-1)[real], atol=1e-5)
    on = sample(student, srcs, generator=g, max_len=6, teacher=teacher, teacher_mix=0.0)
    assert torch.equal(on.log_mix, on.log_q)


# --- DistiLLM ----------------------------------------------------------------------------------------------


def test_skew_losses_by_hand() -> None:
    s = torch.tensor([[[0.0, 1.0, 2.0], [1.0, 1.0, 1.0]]])
    t = torch.tensor([[[2.0, 0.0, 0.0], [0.0, 0.0, 3.0]]])
    labels = torch.tensor([[4, IGNORE]])  # only the first position counts
    ps, pt = torch.softmax(s[0, 0], 0), torch.softmax(t[0, 0], 0)
    skl = float((pt * (pt / (0.1 * pt + 0.9 * ps)).log()).sum())
    srkl = float((ps * (ps / (0.1 * ps + 0.9 * pt)).log()).sum())
    assert float(skew_loss(s, t, labels, 0.1, reverse=False)) == pytest.approx(skl, rel=1e-6)
    assert float(skew_loss(s, t, labels, 0.1, reverse=True)) == pytest.approx(srkl, rel=1e-6)


def test_adaptive_sgo_probability() -> None:
    phi, prev = 0.0, 1.0
    trace = []
    for loss in (0.9, 1.05, 1.2, 1.15, 1.31, 1.0):
        phi, prev = update_phi(phi, prev, loss, loss_eps=0.1)
        trace.append((round(phi, 6), prev))
    assert trace == [(0.0, 1.0), (0.0, 1.0), (0.1, 1.2), (0.1, 1.2), (0.2, 1.31), (0.2, 1.31)]
    phi = 0.95
    phi, _ = update_phi(phi, 0.0, 1.0, loss_eps=0.1)
    assert phi == 1.0


def test_sgo_source_fresh_replay_fixed() -> None:
    # phi 0.5 at t = 5 of 10: fresh below 0.25, replay below 0.5 once the buffer is full, fixed above
    assert sgo_source(0.2, 0.5, 5, 10, buffered=100, capacity=100) == "fresh"
    assert sgo_source(0.3, 0.5, 5, 10, buffered=100, capacity=100) == "replay"
    assert sgo_source(0.3, 0.5, 5, 10, buffered=99, capacity=100) == "fresh"
    assert sgo_source(0.6, 0.5, 5, 10, buffered=99, capacity=100) == "fixed"
    assert sgo_source(0.0, 0.0, 0, 10, buffered=0, capacity=100) == "fixed"  # phi 0: the references only


# --- the runner ----------------------------------------------------------------------------------------------


TINY_RUN: dict[str, Any] = {
    "teacher_steps": 4,
    "steps": 8,
    "task": {"train": 40, "valid": 6, "test": 6},
    "teacher": {"d_model": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 32},
    "student": {"d_model": 8, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 16},
    "batch_size": 8,
    "eval_every": 2,
    "eval_beam": 2,
    "max_len": 16,
    "cache": False,
}


@pytest.mark.parametrize("method", ["gkd", "minillm", "distillm"])
def test_run_pairs_the_on_policy_student_with_the_student_alone(method: str) -> None:
    params: dict[str, float | int] = {"init_fraction": 0.5}
    if method == "distillm":
        params["capacity"] = 8
    result = run_module.run_sequence(method, 0, params=params, **TINY_RUN)
    curves = result["curves"]
    # phase 1 (the first half) is the student alone's training: the same validation curve up to there
    assert curves["student"][:2] == curves["student_baseline"][:2]
    assert result["on_policy"]["init_steps"] == 4 and result["on_policy"]["steps"] == 4
    if method != "distillm":  # DistiLLM's SGO probability starts at 0
        assert result["on_policy"]["on_policy_steps"] == 4
    assert 0.0 <= result["student_token_accuracy"] <= 100.0


def test_defaults_match_the_registered_specs() -> None:
    from kdtaxonomy.specs import sequence as specs

    for spec in (specs.GKD, specs.MiniLLM, specs.DistiLLM):
        assert spec().model_dump() == METHODS[spec.key], spec.key
    with pytest.raises(ValueError, match="lam"):
        onpolicy_step_loss(
            "gkd", {**METHODS["gkd"], "lam": 1.5}, *_models()[1:2], [[3]], [[3]], valid=([[3]], [[3]]),
            steps=4, batch_size=1, max_len=4, seed=0,
        )  # fmt: skip


@pytest.mark.parametrize(
    ("entry", "transfer"),
    [("agarwal2024-gkd", "gkd"), ("gu2024-minillm", "minillm"), ("ko2024-distillm", "distillm")],
)
def test_catalog_configurations_run_the_on_policy_methods(catalog: Any, entry: str, transfer: str) -> None:
    from kdtaxonomy.recipe import resolve
    from kdtaxonomy.runner import RunOptions, run_recipe

    recipe = resolve(catalog.get(entry).configurations[0], entry)
    assert recipe.dataset.component == "seq-translation" and recipe.transfer.component == transfer
    assert recipe.transfer.params == METHODS[transfer]  # the papers' defaults, written out
    if transfer != "gkd":  # one run through the catalog's runner is enough (the others: above)
        return
    options = RunOptions(
        seed=0, steps=4, teacher_steps=2, cache=False, dataset_params={"train": 24, "valid": 10, "test": 10}
    )
    result = run_recipe(recipe, options)
    assert result["params"] == METHODS[transfer] and result["on_policy"]["init_steps"] == 1
    assert result["baseline"]["kind"] == "matched"
