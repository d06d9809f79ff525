"""The generated translation task: determinism, splits, and the grammar's properties on every sentence."""

from __future__ import annotations

import random
from collections.abc import Iterator

import pytest

from kdtaxonomy.sequence.task import (
    ADJECTIVES,
    DETERMINERS,
    NOUNS,
    PREPOSITIONS,
    T_ACC,
    T_ADJECTIVES,
    T_DEF,
    T_NOM,
    T_NOUNS,
    T_PLURAL,
    T_POSTPOSITIONS,
    T_SYNONYMS,
    VERBS,
    SequenceTask,
    TaskConfig,
    content_order,
    make_task,
    parse_source,
    parse_target,
    sample_sentence,
    source_words,
    target_words,
    verb_form,
)

SMALL = TaskConfig(train=600, valid=50, test=100, seed=3)


@pytest.fixture(scope="module")
def task() -> SequenceTask:
    return make_task(SMALL)


def _pairs(task: SequenceTask) -> Iterator[tuple[list[str], list[str]]]:
    for split in (task.train, task.valid, task.test):
        for s, t in zip(split.src, split.tgt, strict=True):
            yield task.source_text(s).split(), task.target_text(t).split()


def test_deterministic_for_a_seed(task: SequenceTask) -> None:
    again = make_task(SMALL)
    assert again.train == task.train and again.test == task.test and again.digest() == task.digest()
    other = make_task(TaskConfig(train=600, valid=50, test=100, seed=4))
    assert other.train != task.train and other.digest() != task.digest()


def test_sizes_vocabularies_lengths_and_disjoint_splits(task: SequenceTask) -> None:
    assert (len(task.train), len(task.valid), len(task.test)) == (600, 50, 100)
    assert 30 <= len(task.src_vocab) <= 80 and 30 <= len(task.tgt_vocab) <= 80
    sources = [tuple(s) for split in (task.train, task.valid, task.test) for s in split.src]
    assert len(set(sources)) == len(sources)  # no sentence in two splits (nor twice in one)
    lengths = [len(s) for s in sources]
    assert min(lengths) >= 4 and max(lengths) <= 15
    assert all(len(t) <= 20 for split in (task.train, task.test) for t in split.tgt)
    assert all(i > 2 for split in (task.train, task.test) for row in split.src + split.tgt for i in row)


def test_every_target_is_grammatical_and_means_its_source(task: SequenceTask) -> None:
    for src, tgt in _pairs(task):
        meaning, _ = parse_target(tgt)  # raises on a verb that does not agree with its subject
        assert meaning == parse_source(src)


def test_verb_agrees_with_the_subject_in_every_target(task: SequenceTask) -> None:
    plural_forms = {verb_form(v, True) for v in range(len(VERBS))}
    singular_forms = {verb_form(v, False) for v in range(len(VERBS))}
    seen = set()
    for _, tgt in _pairs(task):
        subject = tgt[: tgt.index(T_NOM)]
        plural = subject[-1] == T_PLURAL
        assert tgt[-1] in (plural_forms if plural else singular_forms)
        seen.add(plural)
    assert seen == {True, False}


def test_agreement_violation_is_rejected() -> None:
    s = sample_sentence(random.Random(0), TaskConfig())
    words = target_words(s)
    words[-1] = verb_form(s.verb, not s.subject.plural)
    with pytest.raises(ValueError, match="agree"):
        parse_target(words)


def _translates(src_word: str, tgt_word: str) -> bool:
    for i, forms in enumerate(NOUNS):
        if src_word in forms:
            return tgt_word in (T_NOUNS[i], T_SYNONYMS.get(i))
    if src_word in ADJECTIVES:
        return tgt_word == T_ADJECTIVES[ADJECTIVES.index(src_word)]
    if src_word in PREPOSITIONS:
        return tgt_word == T_POSTPOSITIONS[PREPOSITIONS.index(src_word)]
    v = VERBS.index(src_word)
    return tgt_word in (verb_form(v, False), verb_form(v, True))


def test_reordering_is_a_real_permutation_of_source_content(task: SequenceTask) -> None:
    function_words = {T_DEF, T_PLURAL, T_NOM, T_ACC}
    for src, tgt in _pairs(task):
        meaning, scrambled = parse_target(tgt)
        order = content_order(meaning, scrambled)
        content_positions = [j for j, w in enumerate(src) if w not in DETERMINERS]
        assert sorted(order) == content_positions  # every content word once: a permutation
        assert order != content_positions  # never monotone (the verb always moves to the end)
        content = [w for w in tgt if w not in function_words]
        assert len(content) == len(order)
        assert all(_translates(src[j], w) for j, w in zip(order, content, strict=True))


def test_reordering_includes_adjective_mirroring_and_phrase_movement() -> None:
    rng = random.Random(1)
    s = next(
        x for x in (sample_sentence(rng, TaskConfig()) for _ in range(500))
        if len(x.subject.adjectives) == 2 and x.pp is not None
    )  # fmt: skip
    src, tgt = source_words(s), target_words(s)
    a1, a2 = (ADJECTIVES[a] for a in s.subject.adjectives)
    assert src.index(a1) < src.index(a2)  # source: N A1 A2
    assert tgt.index(T_ADJECTIVES[ADJECTIVES.index(a2)]) < tgt.index(T_ADJECTIVES[ADJECTIVES.index(a1)])
    postp = T_POSTPOSITIONS[s.pp[0]]
    assert tgt.index(postp) < tgt.index(T_ACC)  # canonical: the PP moves before the object
    scrambled = target_words(s, scramble=True)
    assert scrambled.index(T_ACC) < scrambled.index(postp) == len(scrambled) - 2


def test_free_variation_rates_and_canonical_mode() -> None:
    task = make_task(TaskConfig(train=3000, valid=10, test=400, seed=0))
    with_syn = synonyms = with_pp = scrambled = 0
    for t in task.train.tgt:
        words = task.target_text(t).split()
        meaning, scr = parse_target(words)
        nps = [meaning.subject, meaning.obj, *([meaning.pp[1]] if meaning.pp else [])]
        with_syn += sum(np_.noun in T_SYNONYMS for np_ in nps)
        synonyms += sum(w in T_SYNONYMS.values() for w in words)
        with_pp += meaning.pp is not None
        scrambled += scr
    assert 0.2 < synonyms / with_syn < 0.3  # synonym_p = 0.25
    assert 0.2 < scrambled / with_pp < 0.3  # scramble_p = 0.25
    for s, c in zip(task.test.src, task.canonical_test, strict=True):
        assert task.target_text(c).split() == target_words(parse_source(task.source_text(s).split()))
    exact = sum(a == b for a, b in zip(task.canonical_test, task.test.tgt, strict=True)) / len(task.test)
    assert 0.55 < exact < 0.85  # the variation caps exact match well below 100%
