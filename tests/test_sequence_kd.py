"""Kim & Rush's three methods on tiny cases: the word-level loss against a float64 re-derivation, the
sequence-level targets (the teacher's beam output), the interpolation targets (the K-best element closest
to the reference by sentence BLEU), and the runner's pairing of student alone and distilled student."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from kdtaxonomy.sequence import run as run_module
from kdtaxonomy.sequence.decode import Hypothesis, beam_search, pad
from kdtaxonomy.sequence.kd import (
    method_params,
    seq_inter_targets,
    seq_kd_targets,
    teacher_distributions,
    teacher_kbest,
    word_kd_batch_loss,
    word_kd_loss,
)
from kdtaxonomy.sequence.metrics import sentence_bleu
from kdtaxonomy.sequence.models import ModelConfig, Seq2SeqTransformer
from kdtaxonomy.sequence.task import TaskConfig, make_task
from kdtaxonomy.sequence.training import IGNORE, teacher_forcing

pytestmark = pytest.mark.usefixtures("one_thread")

TINY = ModelConfig(d_model=16, heads=2, encoder_layers=1, decoder_layers=1, ff=32, dropout=0.0)


def _reference_word_kd(s: torch.Tensor, t: torch.Tensor, labels: torch.Tensor, alpha: float) -> torch.Tensor:
    """(1 - alpha) mean_j -log p(y_j) + alpha mean_j sum_k q_k (log q_k - log p_k), in float64, by loops."""
    s, t = s.double(), t.double()
    nll, kl, n = 0.0, 0.0, 0
    for b in range(labels.shape[0]):
        for j in range(labels.shape[1]):
            if labels[b, j] == IGNORE:
                continue
            log_p = s[b, j] - torch.logsumexp(s[b, j], 0)
            log_q = t[b, j] - torch.logsumexp(t[b, j], 0)
            nll = nll - log_p[labels[b, j]]
            kl = kl + (log_q.exp() * (log_q - log_p)).sum()
            n += 1
    return (1 - alpha) * nll / n + alpha * kl / n


@pytest.mark.parametrize("alpha", [0.0, 0.5, 1.0])
def test_word_kd_loss_equals_float64_rederivation(alpha: float) -> None:
    torch.manual_seed(0)
    s, t = torch.randn(3, 5, 7) * 2, torch.randn(3, 5, 7) * 2
    labels = torch.randint(0, 7, (3, 5))
    labels[0, 3:] = IGNORE
    labels[2, 1:] = IGNORE
    t[0, 3:] = float("nan")  # padded teacher positions are never read
    expected = _reference_word_kd(s, torch.nan_to_num(t), labels, alpha)
    assert float(word_kd_loss(s, t, labels, alpha)) == pytest.approx(float(expected), rel=1e-5, abs=1e-6)


def test_word_kd_gradient_is_that_of_the_papers_cross_entropy() -> None:
    """KL(q || p) and the paper's -sum q log p differ by the teacher's entropy: the same student gradient."""
    torch.manual_seed(1)
    s = torch.randn(2, 4, 6, dtype=torch.float64, requires_grad=True)
    t = torch.randn(2, 4, 6, dtype=torch.float64)
    labels = torch.randint(0, 6, (2, 4))
    labels[1, 2:] = IGNORE
    (g_kl,) = torch.autograd.grad(word_kd_loss(s, t, labels, 0.7), s)
    keep = labels != IGNORE
    ce = -(torch.softmax(t, -1) * torch.log_softmax(s, -1)).sum(-1)[keep].mean()
    nll = torch.nn.functional.cross_entropy(s[keep], labels[keep])
    (g_ce,) = torch.autograd.grad(0.3 * nll + 0.7 * ce, s)
    assert torch.allclose(g_kl, g_ce, atol=1e-12)


def _tiny_teacher(seed: int = 0) -> Seq2SeqTransformer:
    torch.manual_seed(seed)
    task = make_task(TaskConfig(train=8, valid=2, test=2))
    model = Seq2SeqTransformer(len(task.src_vocab), len(task.tgt_vocab), TINY).eval()
    with torch.no_grad():
        model.tgt_embed.weight.mul_(5.0)
    return model


def test_word_kd_batch_loss_uses_each_examples_teacher_forcing_logits() -> None:
    task = make_task(TaskConfig(train=8, valid=2, test=2))
    teacher = _tiny_teacher()
    dists = teacher_distributions(teacher, task.train.src, task.train.tgt, batch_size=3)
    assert [d.shape[0] for d in dists] == [len(t) + 1 for t in task.train.tgt]
    index = torch.tensor([5, 1, 6])
    rows = index.tolist()
    tgt_in, labels = teacher_forcing([task.train.tgt[i] for i in rows])
    src = pad([task.train.src[i] for i in rows])
    with torch.no_grad():
        t_logits = teacher(src, tgt_in)
    s_logits = torch.randn_like(t_logits)
    expected = word_kd_loss(s_logits, t_logits, labels, 0.4)
    got = word_kd_batch_loss(dists, 0.4, 1.0)(s_logits, labels, index)
    assert float(got) == pytest.approx(float(expected), rel=1e-5)


def test_seq_kd_targets_are_the_teachers_beam_output() -> None:
    task = make_task(TaskConfig(train=8, valid=2, test=2))
    teacher = _tiny_teacher()
    kbest = teacher_kbest(teacher, task.train.src, beam=3, max_len=8)
    assert all(len(h) == 3 for h in kbest)
    expected = [h[0].tokens for h in beam_search(teacher, task.train.src, 3, max_len=8)]
    assert seq_kd_targets(kbest) == expected


def test_seq_inter_picks_the_kbest_element_with_the_highest_sentence_bleu() -> None:
    vocab = ["<pad>", "<s>", "</s>", "a", "b", "c", "d", "e"]

    def text(ids: list[int]) -> str:
        return " ".join(vocab[i] for i in ids)

    def hyp(ids: list[int], score: float) -> Hypothesis:
        return Hypothesis(ids, score, score)

    kbest = [
        [hyp([3, 4, 7], -1.0), hyp([3, 4, 5, 6], -2.0), hyp([3, 7, 7, 6], -3.0)],  # rank 1 is the reference
        [hyp([3, 4, 5, 6], -1.0), hyp([3, 4, 5, 7], -2.0)],  # rank 0 is closest
        [hyp([5, 5], -1.0), hyp([5, 5], -1.5)],  # a tie: the higher-scored hypothesis
    ]
    refs = [[3, 4, 5, 6], [3, 4, 5, 6, 7], [6, 7]]
    chosen, ranks = seq_inter_targets(kbest, refs, text)
    assert ranks == [1, 0, 0]
    assert chosen == [[3, 4, 5, 6], [3, 4, 5, 6], [5, 5]]
    for hyps, ref, r in zip(kbest, refs, ranks, strict=True):
        sims = [sentence_bleu(text(h.tokens), text(ref)) for h in hyps]
        assert sims[r] == max(sims)


def test_method_params() -> None:
    assert method_params("word-kd") == {"alpha": 0.5, "temperature": 1.0}
    assert method_params("seq-kd", {"beam": 3})["beam"] == 3
    with pytest.raises(ValueError, match="unknown method"):
        method_params("hint")
    with pytest.raises(ValueError, match="no parameter"):
        method_params("seq-kd", {"alpha": 0.5})
    with pytest.raises(ValueError, match="alpha"):
        method_params("word-kd", {"alpha": 2})


TINY_RUN: dict[str, Any] = {
    "teacher_steps": 4,
    "steps": 3,
    "task": {"train": 40, "valid": 6, "test": 6},
    "teacher": {"d_model": 16, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 32},
    "student": {"d_model": 8, "heads": 2, "encoder_layers": 1, "decoder_layers": 1, "ff": 16},
    "batch_size": 8,
    "eval_every": 2,
    "eval_beam": 2,
    "max_len": 20,
}


@pytest.fixture
def fits(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Every call of the training loop during a run: model, initial weights, training targets."""
    calls: list[dict[str, Any]] = []
    real = run_module.fit

    def spy(model: Seq2SeqTransformer, sources: Any, targets: Any, cfg: Any, **kw: Any) -> Any:
        initial = {k: v.clone() for k, v in model.state_dict().items()}
        calls.append({"model": model, "initial": initial, "targets": [list(t) for t in targets]})
        return real(model, sources, targets, cfg, **kw)

    monkeypatch.setattr(run_module, "fit", spy)
    return calls


@pytest.mark.parametrize("method", ["seq-kd", "seq-inter", "word-kd"])
def test_run_trains_the_matched_student_on_the_methods_data(method: str, fits: list[dict[str, Any]]) -> None:
    params = {"beam": 3} if method != "word-kd" else {"alpha": 0.5}
    result = run_module.run_sequence(method, 0, params=params, cache=False, **TINY_RUN)
    teacher, baseline, student = fits
    task = make_task(TaskConfig(train=40, valid=6, test=6))
    assert teacher["targets"] == baseline["targets"] == task.train.tgt
    assert baseline["initial"].keys() == student["initial"].keys()
    assert all(torch.equal(baseline["initial"][k], student["initial"][k]) for k in student["initial"])
    kbest = beam_search(teacher["model"], task.train.src, 3, max_len=20)
    if method == "seq-kd":
        assert student["targets"] == [h[0].tokens for h in kbest]
    elif method == "seq-inter":
        for hyps, ref, chosen in zip(kbest, task.train.tgt, student["targets"], strict=True):
            sims = [sentence_bleu(task.target_text(h.tokens), task.target_text(ref)) for h in hyps]
            assert chosen in [h.tokens for h in hyps]
            assert sentence_bleu(task.target_text(chosen), task.target_text(ref)) == max(sims)
    else:
        assert student["targets"] == task.train.tgt
    for role in ("teacher", "student_baseline", "student"):
        for name in ("accuracy", "token_accuracy", "bleu", "chrf", "greedy_accuracy", "mode_accuracy"):
            assert 0.0 <= result[f"{role}_{name}"] <= 100.0
    assert result["curves"]["student"][-1][0] == 3 and result["best_steps"]["student"] in (2, 3)


def test_run_caches_teacher_and_student_alone() -> None:
    first = run_module.run_sequence("student-alone", 1, **TINY_RUN)
    again = run_module.run_sequence("seq-kd", 1, params={"beam": 2}, **TINY_RUN)
    assert not first["teacher_cached"] and again["teacher_cached"] and again["student_baseline_cached"]
    for name in ("teacher_accuracy", "teacher_bleu", "student_baseline_token_accuracy"):
        assert again[name] == first[name]
    assert first["student_accuracy"] == first["student_baseline_accuracy"]
    assert again["curves"]["teacher"] == first["curves"]["teacher"]


def test_run_rejects_unknown_settings() -> None:
    with pytest.raises(ValueError, match="no setting bogus"):
        run_module.run_sequence("seq-kd", 0, task={"bogus": 1})
    with pytest.raises(ValueError, match="no parameter alpha"):
        run_module.run_sequence("seq-kd", 0, params={"alpha": 0.5})
