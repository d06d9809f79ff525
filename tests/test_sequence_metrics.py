"""Translation metrics: exact match and token accuracy on hand-computed cases, sacrebleu BLEU / chrF on
small examples whose values are computed by hand."""

from __future__ import annotations

import math

import pytest

from kdtaxonomy.sequence.metrics import (
    corpus_bleu,
    corpus_chrf,
    exact_match,
    sentence_bleu,
    token_accuracy,
    translation_scores,
)


def test_exact_match() -> None:
    refs = [[1, 2, 3], [4, 5], [6]]
    assert exact_match(refs, refs) == 100.0
    assert exact_match([[1, 2, 3], [4], [7]], refs) == pytest.approx(100 / 3)
    assert exact_match([[1, 2, 3, 4], [5, 4], []], refs) == 0.0
    with pytest.raises(ValueError):
        exact_match([[1]], refs)


@pytest.mark.parametrize(
    ("hyp", "right"),
    [
        ([1, 2, 3], 4),  # 3 tokens + the end, all right
        ([1, 9, 3], 3),  # one substitution
        ([1, 2], 2),  # too short: position 2 missing, the end is wrong
        ([1, 2, 3, 4], 3),  # too long: the end is wrong
        ([2, 3], 0),  # shifted by one: nothing lines up, length differs
        ([], 0),
    ],
)
def test_token_accuracy_one_sentence(hyp: list[int], right: int) -> None:
    assert token_accuracy([hyp], [[1, 2, 3]]) == pytest.approx(100 * right / 4)


def test_token_accuracy_is_micro_averaged() -> None:
    # 4/4 right on the first (3 tokens + end), 1/2 on the second (1 token + end: the token is wrong)
    assert token_accuracy([[1, 2, 3], [9]], [[1, 2, 3], [8]]) == pytest.approx(100 * 5 / 6)
    assert token_accuracy([], []) == 0.0


def test_corpus_bleu_by_hand() -> None:
    # n-gram precisions 5/6, 3/5, 2/4, 1/3 and no brevity penalty: BLEU = (5/6 * 3/5 * 1/2 * 1/3)^(1/4)
    expected = 100 * (5 / 6 * 3 / 5 * 1 / 2 * 1 / 3) ** 0.25
    assert corpus_bleu(["a b c d e f"], ["a b c d x f"]) == pytest.approx(expected, abs=1e-6)
    # every n-gram right, 5 words for 6: brevity penalty exp(1 - 6/5)
    assert corpus_bleu(["a b c d e"], ["a b c d e f"]) == pytest.approx(100 * math.exp(-0.2), abs=1e-6)
    # corpus level: counts are summed over sentences before the precisions are taken
    pooled = corpus_bleu(["a b c d e f", "g h i j"], ["a b c d x f", "g h i j"])
    assert pooled == pytest.approx(100 * (9 / 10 * 6 / 8 * 4 / 6 * 2 / 4) ** 0.25, abs=1e-6)
    assert corpus_bleu(["a b c d"], ["a b c d"]) == pytest.approx(100.0)


def test_words_are_tokens() -> None:
    # tokenize="none": punctuation inside a word is not split off (13a would split "x," into "x ,")
    assert corpus_bleu(["a, b c d"], ["a, b c d"]) == pytest.approx(100.0)
    assert corpus_bleu(["a b c d"], ["a, b c d"]) < 100.0


def test_chrf() -> None:
    assert corpus_chrf(["vida to inu ga"], ["vida to inu ga"]) == pytest.approx(100.0)
    assert corpus_chrf(["xyz"], ["abc"]) == pytest.approx(0.0)
    near, far = (
        corpus_chrf(["to inu ga vida"], ["to inu ga vidan"]),
        corpus_chrf(["to pes"], ["to inu ga vidan"]),
    )
    assert 0.0 < far < near < 100.0


def test_sentence_bleu_is_smoothed() -> None:
    assert sentence_bleu("a b c d", "a b c d") == pytest.approx(100.0)
    # no matching 4-gram: unsmoothed BLEU would be 0, the smoothed one is not
    assert 0.0 < sentence_bleu("a b c x", "a b c d") < 100.0
    assert sentence_bleu("a b c x", "a b c d") > sentence_bleu("a b y x", "a b c d")


def test_translation_scores_names() -> None:
    scores = translation_scores(["to inu ga vida", "neko ga"], ["to inu ga vida", "neko wo"])
    assert set(scores) == {"accuracy", "token_accuracy", "bleu", "chrf"}
    assert scores["accuracy"] == 50.0
    assert scores["token_accuracy"] == pytest.approx(100 * (5 + 2) / 8)
