"""Hugging Face models through ``kdtaxonomy.instantiate``: tiny GPT-2, T5, BART and BERT built offline from
configs, token losses checked against float64 re-derivations with the right shift and mask."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from typing import Any

import pytest
import torch

import kdtaxonomy
from kdtaxonomy.hf import HFDistiller, model_outputs

os.environ["HF_HUB_OFFLINE"] = "1"  # nothing is downloaded: every model is built from a config
if os.environ.get("CI"):
    import transformers  # CI installs the test extra: a missing transformers is a failure there
else:
    transformers = pytest.importorskip("transformers")
transformers.logging.set_verbosity_error()

pytestmark = pytest.mark.usefixtures("one_thread")
Batch = dict[str, torch.Tensor]
V = 50
NO_DROPOUT = {"resid_pdrop": 0.0, "embd_pdrop": 0.0, "attn_pdrop": 0.0}


def gpt2(width: int = 16, vocab: int = V, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = transformers.GPT2Config(
        n_layer=1, n_embd=width, n_head=2, vocab_size=vocab, n_positions=16, bos_token_id=0, eos_token_id=0,
        initializer_range=0.5,
    )  # fmt: skip
    for key, value in NO_DROPOUT.items():
        setattr(config, key, value)
    return transformers.GPT2LMHeadModel(config)


def t5(width: int = 16, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = transformers.T5Config(
        vocab_size=V, d_model=width, d_ff=2 * width, d_kv=8, num_layers=1, num_heads=2, dropout_rate=0.0,
        decoder_start_token_id=0, pad_token_id=0, eos_token_id=1, initializer_factor=5.0,
    )  # fmt: skip
    return transformers.T5ForConditionalGeneration(config)


def bart(width: int = 16, seed: int = 0) -> Any:
    torch.manual_seed(seed)
    config = transformers.BartConfig(
        vocab_size=V, d_model=width, encoder_layers=1, decoder_layers=1, encoder_attention_heads=2,
        decoder_attention_heads=2, encoder_ffn_dim=2 * width, decoder_ffn_dim=2 * width,
        max_position_embeddings=16, dropout=0.0, attention_dropout=0.0, activation_dropout=0.0, init_std=0.5,
    )  # fmt: skip
    return transformers.BartForConditionalGeneration(config)


def causal_batch() -> Batch:
    """Row 0 right-padded (last two positions), row 1 left-padded (first two), row 2 with a prompt whose
    labels are ignored (the first three)."""
    g = torch.Generator().manual_seed(1)
    ids = torch.randint(3, V, (3, 7), generator=g)
    attention = torch.ones(3, 7, dtype=torch.long)
    attention[0, 5:] = 0
    attention[1, :2] = 0
    labels = ids.masked_fill(attention == 0, -100)
    labels[2, :3] = -100
    return {"input_ids": ids, "attention_mask": attention, "labels": labels}


def seq2seq_batch() -> Batch:
    g = torch.Generator().manual_seed(2)
    labels = torch.randint(3, V, (2, 5), generator=g)
    labels[0, 3:] = -100
    attention = torch.ones(2, 6, dtype=torch.long)
    attention[1, 4:] = 0
    return {
        "input_ids": torch.randint(3, V, (2, 6), generator=g),
        "attention_mask": attention,
        "labels": labels,
    }


# -- float64 re-derivations ------------------------------------------------------------------------------
def kl(p: torch.Tensor, q: torch.Tensor) -> torch.Tensor:
    return (p * (p.log() - q.log())).sum()


def jsd(beta: float) -> Callable[[torch.Tensor, torch.Tensor], torch.Tensor]:
    def div(ps: torch.Tensor, pt: torch.Tensor) -> torch.Tensor:
        m = beta * pt + (1 - beta) * ps
        return beta * kl(pt, m) + (1 - beta) * kl(ps, m)

    return div


def by_hand(
    s: torch.Tensor,
    t: torch.Tensor,
    pairs: list[tuple[int, int]],
    div: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    temperature: float = 1.0,
) -> float:
    """Mean of ``div(p_s, p_t)`` over the ``(row, position)`` pairs, in float64, one position at a time."""
    values = []
    for b, i in pairs:
        ps = torch.softmax(s[b, i].double() / temperature, dim=0)
        pt = torch.softmax(t[b, i].double() / temperature, dim=0)
        values.append(div(ps, pt))
    return float(torch.stack(values).mean())


def causal_pairs(batch: Batch) -> list[tuple[int, int]]:
    """Positions i whose logits predict a kept label: labels[b, i + 1] != -100 and position i attended."""
    labels, attention = batch["labels"], batch["attention_mask"]
    return [
        (b, i)
        for b in range(labels.shape[0])
        for i in range(labels.shape[1] - 1)
        if labels[b, i + 1] != -100 and attention[b, i] == 1
    ]


def logits(model: Any, batch: Batch, **extra: Any) -> torch.Tensor:
    with torch.no_grad():
        inputs = {k: v for k, v in batch.items() if k != "labels"}
        out: torch.Tensor = model(**inputs, **extra).logits
    return out


# -- 1. the values -------------------------------------------------------------------------------------------
def test_causal_jsd_is_the_shifted_masked_token_mean_by_hand() -> None:
    teacher, student, batch = gpt2(32, seed=1), gpt2(16), causal_batch()
    d = kdtaxonomy.instantiate(
        "generalized_jsd", teacher=teacher, student=student, params={"beta": 0.3, "temperature": 2.0}
    )
    assert isinstance(d, HFDistiller) and d.task == "causal" and d.ce_weight == 0.0
    pairs = causal_pairs(batch)
    # 5 / 5 / 4 kept labels; each row's first is predicted by no attended position, except row 2's,
    # which the prompt's last position predicts
    assert len(pairs) == 4 + 4 + 4 and (2, 2) in pairs and (1, 1) not in pairs
    expected = by_hand(logits(student, batch), logits(teacher, batch), pairs, jsd(0.3), 2.0)
    assert d.loss(batch).item() == pytest.approx(expected, rel=1e-5, abs=1e-7)
    # a shift by one in the wrong direction (or none) gives another value
    unshifted = [(b, i + 1) for b, i in pairs]
    wrong = by_hand(logits(student, batch), logits(teacher, batch), unshifted, jsd(0.3), 2.0)
    assert abs(wrong - expected) > 1e-4


def test_the_cross_entropy_part_is_transformers_own_lm_loss() -> None:
    """With right padding only, the student's cross-entropy equals ``model(**batch).loss`` (its own shift)."""
    student = gpt2()
    batch = {k: v[[0, 2]] for k, v in causal_batch().items()}
    d = HFDistiller(student, gpt2(32, seed=1), [], ce_weight=1.0)
    assert d.loss(batch).item() == pytest.approx(student(**batch).loss.item(), rel=1e-6)
    for model in (t5(), bart()):
        batch = seq2seq_batch()
        d = HFDistiller(model, model, [], ce_weight=1.0)
        assert d.loss(batch).item() == pytest.approx(model(**batch).loss.item(), rel=1e-6)


@pytest.mark.parametrize("build", [t5, bart], ids=["t5", "bart"])
def test_seq2seq_forward_kl_compares_decoder_positions_without_a_shift(build: Callable[..., Any]) -> None:
    teacher, student, batch = build(32, seed=1), build(16), seq2seq_batch()
    d = kdtaxonomy.instantiate("forward-kl", teacher=teacher, student=student)
    assert d.task == "seq2seq"
    pairs = [(b, i) for b in range(2) for i in range(5) if batch["labels"][b, i] != -100]
    decoder = {"decoder_input_ids": student.prepare_decoder_input_ids_from_labels(labels=batch["labels"])}
    s, t = logits(student, batch, **decoder), logits(teacher, batch, **decoder)
    expected = by_hand(s, t, pairs, lambda ps, pt: kl(pt, ps))
    assert d.loss(batch).item() == pytest.approx(expected, rel=1e-5)
    # given decoder inputs are used as they are
    shifted = {**batch, "decoder_input_ids": decoder["decoder_input_ids"].roll(1, dims=1)}
    s2, t2 = logits(student, shifted), logits(teacher, shifted)
    assert d.loss(shifted).item() == pytest.approx(
        by_hand(s2, t2, pairs, lambda ps, pt: kl(pt, ps)), rel=1e-5
    )


def test_hinton_on_language_models_is_t2_token_kl_plus_cross_entropy() -> None:
    teacher, student = gpt2(32, seed=1), gpt2(16)
    batch = {k: v[[0, 2]] for k, v in causal_batch().items()}
    d = kdtaxonomy.instantiate("hinton2015-distilling", config="plain", teacher=teacher, student=student)
    assert d.recipe is not None and d.ce_weight == 1.0
    assert "soft-label-kd (temperature=4.0, scale_by_t2=True" in d.describe()
    kd = 16.0 * by_hand(
        logits(student, batch), logits(teacher, batch), causal_pairs(batch), lambda ps, pt: kl(pt, ps), 4.0
    )
    assert d.loss(batch).item() == pytest.approx(kd + student(**batch).loss.item(), rel=1e-5)


def test_masked_positions_never_contribute() -> None:
    teacher, student, batch = gpt2(32, seed=1), gpt2(16), causal_batch()
    d = kdtaxonomy.instantiate("reverse-kl", teacher=teacher, student=student, ce_weight=0.5)
    base = d.loss(batch).item()
    # tokens after row 0's last label and row 2's ignored prompt labels changed: the same loss (causal
    # attention: later tokens do not move earlier logits; ignored labels are never read)
    changed = {k: v.clone() for k, v in batch.items()}
    changed["input_ids"][0, 5:] = (changed["input_ids"][0, 5:] + 7) % V
    assert d.loss(changed).item() == pytest.approx(base, rel=1e-6)
    # a row without any kept label adds nothing: the mean is over kept positions only
    empty = {k: v[[0, 1]].clone() for k, v in batch.items()}
    alone = d.loss(empty).item()
    empty = {k: torch.cat([v, v[:1]]) for k, v in empty.items()}
    empty["labels"][2] = -100
    assert d.loss(empty).item() == pytest.approx(alone, rel=1e-6)
    # no kept position at all: exactly 0, and it still back-propagates
    nothing = {**batch, "labels": torch.full_like(batch["labels"], -100)}
    loss = d.loss(nothing)
    loss.backward()
    assert loss.item() == 0.0


def test_masked_lm_and_encoder_hidden_states() -> None:
    config = transformers.BertConfig(
        vocab_size=V, hidden_size=16, num_hidden_layers=2, num_attention_heads=2, intermediate_size=32,
        max_position_embeddings=16, hidden_dropout_prob=0.0, attention_probs_dropout_prob=0.0,
        initializer_range=0.5,
    )  # fmt: skip
    torch.manual_seed(0)
    teacher, student = transformers.BertForMaskedLM(config), transformers.BertForMaskedLM(config)
    batch = causal_batch()
    d = kdtaxonomy.instantiate("total-variation", teacher=teacher, student=student)
    assert d.task == "masked"
    pairs = [(b, i) for b in range(3) for i in range(7) if batch["labels"][b, i] != -100]
    tv = by_hand(
        logits(student, batch), logits(teacher, batch), pairs, lambda ps, pt: 0.5 * (ps - pt).abs().sum()
    )
    assert d.loss(batch).item() == pytest.approx(tv, rel=1e-5)
    encoder = transformers.BertModel(config)
    states = model_outputs(encoder, batch, hidden_states=True).hidden_states
    assert len(states) == 3 and states[-1].shape == (3, 7, 16)


# -- 2. vocabularies checked up front --------------------------------------------------------------------
def word_tokenizer(tokens: list[str]) -> Any:
    from tokenizers import Tokenizer
    from tokenizers.models import WordLevel

    model = WordLevel({tok: i for i, tok in enumerate(tokens)}, unk_token=tokens[0])
    return transformers.PreTrainedTokenizerFast(tokenizer_object=Tokenizer(model))


def test_a_vocabulary_mismatch_is_one_clear_error() -> None:
    with pytest.raises(ValueError, match=r"teacher's logits have 60 entries.*student's 50 entries"):
        kdtaxonomy.instantiate("forward-kl", teacher=gpt2(vocab=60), student=gpt2())
    teacher, student = gpt2(), gpt2()
    words = ["<unk>", *(f"w{i}" for i in range(V - 1))]
    kdtaxonomy.instantiate("forward-kl", teacher=teacher, student=student, tokenizers=word_tokenizer(words))
    swapped = [*words[:7], words[8], words[7], *words[9:]]
    with pytest.raises(
        ValueError, match=r"tokenizers differ.*id 7: teacher 'w6', student 'w7'; id 8: teacher 'w7'"
    ):
        kdtaxonomy.instantiate(
            "forward-kl",
            teacher=teacher,
            student=student,
            tokenizers=(word_tokenizer(words), word_tokenizer(swapped)),
        )
    with pytest.raises(
        ValueError, match=r"teacher tokenizer has token ids up to 54 but the teacher's logits have 50 entries"
    ):
        kdtaxonomy.instantiate(
            "forward-kl", teacher=teacher, student=student, tokenizers=word_tokenizer([*words, *"abcde"])
        )


def test_wrong_combinations_are_refused() -> None:
    teacher, student = gpt2(), gpt2()
    with pytest.raises(
        ValueError,
        match=r"park2019-rkd \(main\) cannot run on Hugging Face models: knowledge term 'rkd-distance' @ embedding",
    ):
        kdtaxonomy.instantiate("park2019-rkd", teacher=teacher, student=student)
    with pytest.raises(ValueError, match=r"no catalog entry 'forward-kll'.*forward-kl"):
        kdtaxonomy.instantiate("forward-kll", teacher=teacher, student=student)
    with pytest.raises(ValueError, match=r"token loss 'generalized-jsd'.*'gamma'"):
        kdtaxonomy.instantiate("generalized-jsd", teacher=teacher, student=student, params={"gamma": 1.0})
    with pytest.raises(ValueError, match=r"beta must be in \[0, 1\]"):
        kdtaxonomy.instantiate("generalized-jsd", teacher=teacher, student=student, params={"beta": 2.0})
    with pytest.raises(ValueError, match=r"student \(GPT2LMHeadModel\) is a causal model and the teacher"):
        kdtaxonomy.instantiate("forward-kl", teacher=t5(), student=student)
    with pytest.raises(ValueError, match=r"not a transformers PreTrainedModel"):
        kdtaxonomy.instantiate("forward-kl", teacher=torch.nn.Linear(2, 2), student=student)
    with pytest.raises(TypeError, match=r"tokenizers: options of Hugging Face models"):
        kdtaxonomy.instantiate(
            "park2019-rkd", teacher=torch.nn.Linear(2, 2), student=torch.nn.Linear(2, 2), tokenizers=1
        )


# -- 3. training -------------------------------------------------------------------------------------------
def test_one_step_lowers_the_loss_and_the_teacher_gets_no_gradient() -> None:
    teacher, student, batch = gpt2(32, seed=1), gpt2(16), causal_batch()
    frozen = {k: v.clone() for k, v in teacher.state_dict().items()}
    d = kdtaxonomy.instantiate(
        "skew-kl", teacher=teacher, student=student, params={"alpha": 0.1}, ce_weight=1.0
    )
    before = d.loss(batch)
    before.backward()
    assert all(p.grad is None for p in teacher.parameters()) and not any(
        p.requires_grad for p in teacher.parameters()
    )
    assert all(p.grad is not None for p in student.parameters() if p.requires_grad)
    optimizer = torch.optim.SGD(d.trainable().parameters(), lr=0.5)
    optimizer.step()
    with torch.no_grad():
        after = d.loss(batch)
    assert after.item() < before.item() - 1e-3
    result = d.fit([batch, batch], steps=3, lr=1e-2)[0]
    assert result.steps == 3 and d.metrics["steps"] == 3
    assert all(torch.equal(v, teacher.state_dict()[k]) for k, v in frozen.items())
    assert 0.0 <= d.evaluate([batch]) <= 100.0


def test_importing_the_hf_path_imports_no_transformers() -> None:
    code = (
        "import sys, kdtaxonomy, kdtaxonomy.hf\n"
        "assert callable(kdtaxonomy.instantiate)\n"
        "assert 'transformers' not in sys.modules\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr
