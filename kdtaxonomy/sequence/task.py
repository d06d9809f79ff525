"""A seeded, generated translation task between two synthetic languages (no download, no torch).

Grammar (``Sentence`` is the meaning; both languages realise it deterministically, except the target's
free variation below):

Source ("English-like", SVO, adjectives after nouns, number on the noun form, uninflected verb)::

    S  -> NP_subj V NP_obj [P NP]            (the prepositional phrase with probability ``pp_p``)
    NP -> DET N[num] ADJ_1 .. ADJ_k           (k = 0, 1, 2 distinct adjectives, probabilities ``adj_p``)
    DET: "the" (definite, either number), "a" (indefinite singular), "some" (indefinite plural)

Target (SOV, case-marked, adjectives before nouns in mirror order, verb agreeing with the subject)::

    S  -> NP ga [NP postp] NP wo V[num(subj)]      canonical order: the PP after the subject
    NP -> [to] ADJ_k .. ADJ_1 N [ky]              "to": definite; "ky": plural suffix token

* ``ga`` marks the subject (nominative), ``wo`` the object (accusative); the preposition becomes a
  postposition after its NP (with -> se, near -> u, behind -> za, for -> pro);
* the verb has a singular form (stem + "a") and a plural form (stem + "an") agreeing in number with the
  subject, which stands at the other end of the sentence; the source verb carries no number;
* free variation (the reason a teacher's mode is easier to learn than the data, Kim & Rush 2016, Sec. 3):
  four nouns have a second translation used with probability ``synonym_p`` per occurrence, and the PP is
  scrambled to just before the verb with probability ``scramble_p``. ``canonical_target`` is the mode.

Sources are distinct across the three splits (no test sentence is seen in training). Generation uses
``random.Random(seed)`` only, so a seed gives the same task on every machine.
"""

from __future__ import annotations

import hashlib
import json
import random
from dataclasses import asdict, dataclass, field

PAD, BOS, EOS = 0, 1, 2
SPECIALS = ["<pad>", "<s>", "</s>"]

NOUNS = [
    ("dog", "dogs"), ("cat", "cats"), ("bird", "birds"), ("horse", "horses"), ("man", "men"),
    ("woman", "women"), ("child", "children"), ("king", "kings"), ("farmer", "farmers"),
    ("teacher", "teachers"), ("fox", "foxes"), ("wolf", "wolves"),
]  # fmt: skip
ADJECTIVES = ["big", "small", "red", "old", "young", "happy", "angry", "tall"]
VERBS = ["see", "like", "chase", "find", "help", "follow", "know", "call"]
PREPOSITIONS = ["with", "near", "behind", "for"]
DETERMINERS = ["the", "a", "some"]

T_NOUNS = ["inu", "neko", "tori", "uma", "otok", "zena", "dite", "kral", "sedl", "ucit", "lisk", "vlk"]
T_SYNONYMS = {0: "pes", 3: "kon", 6: "decko", 7: "vlad"}  # noun index -> second translation
T_ADJECTIVES = ["veli", "mali", "cerv", "star", "mlad", "vese", "zlo", "vyso"]
T_VERB_STEMS = ["vid", "mil", "hon", "nach", "pom", "sled", "zn", "vol"]
T_POSTPOSITIONS = ["se", "u", "za", "pro"]
T_DEF, T_PLURAL, T_NOM, T_ACC = "to", "ky", "ga", "wo"


def verb_form(verb: int, plural: bool) -> str:
    """The target verb agreeing in number: stem + "an" (plural subject) or stem + "a" (singular)."""
    return T_VERB_STEMS[verb] + ("an" if plural else "a")


SOURCE_WORDS = [w for pair in NOUNS for w in pair] + ADJECTIVES + VERBS + PREPOSITIONS + DETERMINERS
TARGET_WORDS = (
    T_NOUNS + list(T_SYNONYMS.values()) + T_ADJECTIVES
    + [verb_form(v, p) for v in range(len(VERBS)) for p in (False, True)]
    + T_POSTPOSITIONS + [T_DEF, T_PLURAL, T_NOM, T_ACC]
)  # fmt: skip


@dataclass(frozen=True)
class NounPhrase:
    noun: int
    plural: bool
    definite: bool
    adjectives: tuple[int, ...]


@dataclass(frozen=True)
class Sentence:
    subject: NounPhrase
    verb: int
    obj: NounPhrase
    pp: tuple[int, NounPhrase] | None  # (preposition, its noun phrase)


@dataclass(frozen=True)
class TaskConfig:
    """Sizes and probabilities of the generated task (all of it is the cache key of its models)."""

    train: int = 8000
    valid: int = 500
    test: int = 1000
    seed: int = 0
    pp_p: float = 0.5
    adj_p: tuple[float, float, float] = (0.5, 0.3, 0.2)
    plural_p: float = 0.4
    definite_p: float = 0.5
    synonym_p: float = 0.25
    scramble_p: float = 0.25


@dataclass(frozen=True)
class Split:
    """Parallel token-id lists (no BOS/EOS), one pair per sentence."""

    src: list[list[int]]
    tgt: list[list[int]]

    def __len__(self) -> int:
        return len(self.src)


@dataclass(frozen=True)
class SequenceTask:
    config: TaskConfig
    train: Split
    valid: Split
    test: Split
    canonical_test: list[list[int]] = field(repr=False)
    """The mode translation of each test source (no synonyms, canonical order): the best one can do."""
    src_vocab: list[str] = field(default_factory=lambda: SPECIALS + SOURCE_WORDS, repr=False)
    tgt_vocab: list[str] = field(default_factory=lambda: SPECIALS + TARGET_WORDS, repr=False)

    def digest(self) -> str:
        """Hash of the config and every token of every split (the cache key of models trained on it)."""
        blob = json.dumps(
            [asdict(self.config), self.src_vocab, self.tgt_vocab,
             *[[s.src, s.tgt] for s in (self.train, self.valid, self.test)]],
            separators=(",", ":"),
        )  # fmt: skip
        return hashlib.sha256(blob.encode()).hexdigest()[:20]

    def target_text(self, ids: list[int]) -> str:
        return " ".join(self.tgt_vocab[i] for i in ids)

    def source_text(self, ids: list[int]) -> str:
        return " ".join(self.src_vocab[i] for i in ids)


def _noun_phrase(rng: random.Random, cfg: TaskConfig) -> NounPhrase:
    k = rng.choices(range(3), weights=cfg.adj_p)[0]
    return NounPhrase(
        noun=rng.randrange(len(NOUNS)),
        plural=rng.random() < cfg.plural_p,
        definite=rng.random() < cfg.definite_p,
        adjectives=tuple(rng.sample(range(len(ADJECTIVES)), k)),
    )


def sample_sentence(rng: random.Random, cfg: TaskConfig) -> Sentence:
    subject, verb, obj = _noun_phrase(rng, cfg), rng.randrange(len(VERBS)), _noun_phrase(rng, cfg)
    pp = None
    if rng.random() < cfg.pp_p:
        pp = (rng.randrange(len(PREPOSITIONS)), _noun_phrase(rng, cfg))
    return Sentence(subject, verb, obj, pp)


def _source_np(np_: NounPhrase) -> list[str]:
    det = "the" if np_.definite else ("some" if np_.plural else "a")
    return [det, NOUNS[np_.noun][int(np_.plural)], *(ADJECTIVES[a] for a in np_.adjectives)]


def source_words(s: Sentence) -> list[str]:
    words = [*_source_np(s.subject), VERBS[s.verb], *_source_np(s.obj)]
    if s.pp is not None:
        words += [PREPOSITIONS[s.pp[0]], *_source_np(s.pp[1])]
    return words


def _target_np(np_: NounPhrase, synonym: bool) -> list[str]:
    noun = T_SYNONYMS[np_.noun] if synonym and np_.noun in T_SYNONYMS else T_NOUNS[np_.noun]
    return [
        *([T_DEF] if np_.definite else []),
        *(T_ADJECTIVES[a] for a in reversed(np_.adjectives)),
        noun,
        *([T_PLURAL] if np_.plural else []),
    ]


def target_words(
    s: Sentence, synonyms: tuple[bool, bool, bool] = (False,) * 3, scramble: bool = False
) -> list[str]:
    """The target realisation; ``synonyms`` (subject, object, PP noun) and ``scramble`` pick the variant."""
    subj = [*_target_np(s.subject, synonyms[0]), T_NOM]
    obj = [*_target_np(s.obj, synonyms[1]), T_ACC]
    pp = [] if s.pp is None else [*_target_np(s.pp[1], synonyms[2]), T_POSTPOSITIONS[s.pp[0]]]
    middle = [*obj, *pp] if scramble else [*pp, *obj]
    return [*subj, *middle, verb_form(s.verb, s.subject.plural)]


def sample_target(rng: random.Random, s: Sentence, cfg: TaskConfig) -> list[str]:
    syn = (rng.random() < cfg.synonym_p, rng.random() < cfg.synonym_p, rng.random() < cfg.synonym_p)
    return target_words(s, syn, s.pp is not None and rng.random() < cfg.scramble_p)


def make_task(config: TaskConfig | None = None) -> SequenceTask:
    """Generate the task of ``config`` (default sizes 8000/500/1000, seed 0)."""
    cfg = config or TaskConfig()
    rng = random.Random(f"kdtaxonomy.sequence/{cfg.seed}")
    src_index = {w: i for i, w in enumerate(SPECIALS + SOURCE_WORDS)}
    tgt_index = {w: i for i, w in enumerate(SPECIALS + TARGET_WORDS)}
    seen: set[tuple[str, ...]] = set()
    splits: list[Split] = []
    canonical: list[list[int]] = []
    for size in (cfg.train, cfg.valid, cfg.test):
        src: list[list[int]] = []
        tgt: list[list[int]] = []
        while len(src) < size:
            sentence = sample_sentence(rng, cfg)
            words = tuple(source_words(sentence))
            if words in seen:
                continue
            seen.add(words)
            src.append([src_index[w] for w in words])
            tgt.append([tgt_index[w] for w in sample_target(rng, sentence, cfg)])
            if len(splits) == 2:
                canonical.append([tgt_index[w] for w in target_words(sentence)])
        splits.append(Split(src, tgt))
    return SequenceTask(cfg, splits[0], splits[1], splits[2], canonical)


# --- analysis of a target against its source (for tests and error analysis) ---------------------------------


def parse_source(words: list[str]) -> Sentence:
    """The meaning of a grammatical source sentence (inverse of :func:`source_words`)."""
    nouns = {w: (i, p) for i, pair in enumerate(NOUNS) for p, w in enumerate(pair)}

    def np_at(pos: int) -> tuple[NounPhrase, int]:
        det, (noun, plural) = words[pos], nouns[words[pos + 1]]
        pos += 2
        adjs: list[int] = []
        while pos < len(words) and words[pos] in ADJECTIVES:
            adjs.append(ADJECTIVES.index(words[pos]))
            pos += 1
        return NounPhrase(noun, bool(plural), det == "the", tuple(adjs)), pos

    subject, pos = np_at(0)
    verb = VERBS.index(words[pos])
    obj, pos = np_at(pos + 1)
    pp = None
    if pos < len(words):
        prep = PREPOSITIONS.index(words[pos])
        pp_np, pos = np_at(pos + 1)
        pp = (prep, pp_np)
    if pos != len(words):
        raise ValueError(f"trailing words in {' '.join(words)!r}")
    return Sentence(subject, verb, obj, pp)


def parse_target(words: list[str]) -> tuple[Sentence, bool]:
    """The meaning of a target sentence and whether its PP is scrambled; ValueError when it is not
    grammatical (including a verb that does not agree in number with the subject)."""
    nouns = {w: i for i, w in enumerate(T_NOUNS)} | {w: i for i, w in T_SYNONYMS.items()}
    pos = 0

    def np_until(markers: set[str]) -> tuple[NounPhrase, str]:
        nonlocal pos
        definite = pos < len(words) and words[pos] == T_DEF
        pos += int(definite)
        adjs: list[int] = []
        while pos < len(words) and words[pos] in T_ADJECTIVES:
            adjs.append(T_ADJECTIVES.index(words[pos]))
            pos += 1
        if pos >= len(words) or words[pos] not in nouns:
            raise ValueError(f"no noun at {pos} in {' '.join(words)!r}")
        noun = nouns[words[pos]]
        plural = pos + 1 < len(words) and words[pos + 1] == T_PLURAL
        pos += 1 + int(plural)
        if pos >= len(words) or words[pos] not in markers:
            raise ValueError(f"expected one of {sorted(markers)} at {pos} in {' '.join(words)!r}")
        pos += 1
        return NounPhrase(noun, plural, definite, tuple(reversed(adjs))), words[pos - 1]

    subject, _ = np_until({T_NOM})
    phrases: list[tuple[NounPhrase, str]] = []
    while len(phrases) < 2 and pos < len(words) - 1:
        phrases.append(np_until({T_ACC, *T_POSTPOSITIONS}))
    markers = [m for _, m in phrases]
    if markers.count(T_ACC) != 1 or len(phrases) != len(set(markers)):
        raise ValueError(f"need one object and at most one PP in {' '.join(words)!r}")
    forms = {verb_form(v, p): (v, p) for v in range(len(VERBS)) for p in (False, True)}
    if pos != len(words) - 1 or words[pos] not in forms:
        raise ValueError(f"expected the verb last in {' '.join(words)!r}")
    verb, verb_plural = forms[words[pos]]
    if verb_plural != subject.plural:
        raise ValueError(f"the verb does not agree with the subject in {' '.join(words)!r}")
    obj = next(np_ for np_, m in phrases if m == T_ACC)
    pp = next(((T_POSTPOSITIONS.index(m), np_) for np_, m in phrases if m != T_ACC), None)
    return Sentence(subject, verb, obj, pp), markers[0] == T_ACC and pp is not None


def content_order(s: Sentence, scramble: bool = False) -> list[int]:
    """Source positions of the target's content words (adjectives, nouns, postpositions, verb) in target
    order: a permutation of the source's non-determiner positions (the reordering the model must learn)."""

    def np_positions(start: int, np_: NounPhrase) -> list[int]:
        return [start + 2 + j for j in reversed(range(len(np_.adjectives)))] + [start + 1]

    verb_at = 2 + len(s.subject.adjectives)
    obj_at = verb_at + 1
    subj, obj = np_positions(0, s.subject), np_positions(obj_at, s.obj)
    pp: list[int] = []
    if s.pp is not None:
        prep_at = obj_at + 2 + len(s.obj.adjectives)
        pp = [*np_positions(prep_at + 1, s.pp[1]), prep_at]
    return [*subj, *([*obj, *pp] if scramble else [*pp, *obj]), verb_at]
