"""The offline text corpus of the embedding-distillation task: the catalog's own prose, in sentences.

Sources (torch-free, read with PyYAML): every ``description``, ``summary``, ``notes`` and ``loss`` string of
the method entries (``catalog/methods/*.yaml``, at any depth: entry, configurations, their stages and
implementation notes) and every ``description`` of ``catalog/vocabulary.yaml``. The text ships with the
project (its licence), is domain text of the project itself (knowledge distillation, with short quotations
of the survey), and needs no download.

Splits are by catalog entry, so held-out sentences come from entries that training never saw: the method
entries are ordered by a seeded hash of their id and the first ``test_fraction`` of them give the test
sentences, the next ``valid_fraction`` the validation sentences, the rest (and the vocabulary) the training
sentences. A hash order keeps an entry in its split when others are added. Sentences are deduplicated
(case and spacing ignored); a sentence that also occurs in training text is dropped from the held-out splits,
one of the test split that also occurs in validation text from the test split.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

TEXT_KEYS = frozenset({"description", "summary", "notes", "loss"})
"""Keys whose string values are corpus text in a method entry."""

ABBREVIATIONS = (
    "e.g.", "i.e.", "et al.", "cf.", "vs.", "Eq.", "Eqs.", "Fig.", "Figs.", "Sec.", "Sect.", "Tab.", "No.",
    "resp.", "approx.", "Ref.", "Refs.",
)  # fmt: skip
"""Endings after which a period does not close a sentence."""

_ABBREVIATION_END = re.compile(r"(?:^|[\s(\[\"'])(?:" + "|".join(map(re.escape, ABBREVIATIONS)) + r")$")
_BOUNDARY = re.compile(r"([.!?][\"')\]]?)\s+(?=[A-Z0-9\"'(\[])")
_SPACE = re.compile(r"\s+")
_LETTERS = re.compile(r"[A-Za-z]")


def shipped_catalog() -> Path:
    """The catalog shipped with the package (the wheel's copy, else the checkout's ``catalog/``); not
    ``$KDTAX_CATALOG``: the corpus is the project's own text."""
    package = Path(__file__).resolve().parent.parent
    shipped = package / "_data" / "catalog"
    return shipped if shipped.is_dir() else package.parent / "catalog"


def split_sentences(text: str) -> list[str]:
    """``text`` in sentences: whitespace collapsed, cut after ``.``, ``!`` or ``?`` (and a closing quote or
    bracket) when an upper-case letter, a digit, a quote or a bracket follows, except after the
    :data:`ABBREVIATIONS`."""
    flat = _SPACE.sub(" ", text).strip()
    pieces: list[str] = []
    start = 0
    for match in _BOUNDARY.finditer(flat):
        end = match.end(1)
        candidate = flat[start:end]
        if _ABBREVIATION_END.search(candidate):
            continue
        pieces.append(candidate.strip())
        start = match.end()
    if start < len(flat):
        pieces.append(flat[start:].strip())
    return [p for p in pieces if p]


def _strings(node: Any, keys: frozenset[str]) -> Iterator[str]:
    """Strings under ``keys`` anywhere in a parsed YAML document, in document order."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key in keys and isinstance(value, str):
                yield value
            else:
                yield from _strings(value, keys)
    elif isinstance(node, list):
        for item in node:
            yield from _strings(item, keys)


def entry_texts(root: Path) -> dict[str, list[str]]:
    """The corpus text of every method entry of the catalog at ``root``, by entry id (file stem), sorted."""
    out: dict[str, list[str]] = {}
    for path in sorted((root / "methods").glob("*.yaml")):
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
        out[str(data.get("id", path.stem)) if isinstance(data, dict) else path.stem] = list(
            _strings(data, TEXT_KEYS)
        )
    return out


def vocabulary_texts(root: Path) -> list[str]:
    """Every ``description`` of the catalog's vocabulary (stages, steps, terms, Gou et al. categories)."""
    path = root / "vocabulary.yaml"
    if not path.is_file():
        return []
    return list(_strings(yaml.safe_load(path.read_text(encoding="utf-8")), frozenset({"description"})))


def _key(sentence: str) -> str:
    return _SPACE.sub(" ", sentence).strip().lower()


def _rank(text: str, seed: int) -> str:
    return hashlib.sha256(f"{seed}:{text}".encode()).hexdigest()


@dataclass(frozen=True)
class Corpus:
    """Train, validation and test sentences and the entries they come from."""

    train: tuple[str, ...]
    valid: tuple[str, ...]
    test: tuple[str, ...]
    entries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    """Entry ids per split (``train`` also holds the vocabulary, as ``vocabulary``)."""
    source: str = ""
    """The catalog folder read."""

    def digest(self) -> str:
        """SHA-256 (first 16 hex digits) of the three splits' sentences."""
        h = hashlib.sha256()
        for split in (self.train, self.valid, self.test):
            h.update("\n".join(split).encode())
            h.update(b"\0")
        return h.hexdigest()[:16]

    def sizes(self) -> dict[str, int]:
        """Sentences per split."""
        return {"train": len(self.train), "valid": len(self.valid), "test": len(self.test)}


def _sentences(texts: Sequence[str], min_words: int) -> list[str]:
    out = []
    for text in texts:
        for s in split_sentences(text):
            if len(s.split()) >= min_words and _LETTERS.search(s):
                out.append(s)
    return out


def build_corpus(
    root: Path | None = None,
    *,
    valid_fraction: float = 0.15,
    test_fraction: float = 0.15,
    seed: int = 0,
    min_words: int = 5,
    limits: tuple[int | None, int | None, int | None] = (None, None, None),
    exclude: Sequence[str] = (),
) -> Corpus:
    """The sentences of the catalog at ``root`` (default :func:`shipped_catalog`) split by entry (module
    docstring). Each split is ordered by a seeded hash of its sentences; ``limits`` (train, valid, test)
    keep the first sentences of that order (None: all); the method entries ``exclude`` are left out."""
    root = root or shipped_catalog()
    left_out = set(exclude)
    texts = {e: t for e, t in entry_texts(root).items() if e not in left_out}
    order = sorted(texts, key=lambda e: _rank(e, seed))
    n_test = max(1, round(len(order) * test_fraction))
    n_valid = max(1, round(len(order) * valid_fraction))
    if n_test + n_valid >= len(order):
        raise ValueError(
            f"{root}: {len(order)} method entries cannot give train, validation and test entries"
        )
    groups = {
        "test": sorted(order[:n_test]),
        "valid": sorted(order[n_test : n_test + n_valid]),
        "train": sorted(order[n_test + n_valid :]),
    }
    seen: set[str] = set()
    splits: dict[str, list[str]] = {}
    for split in ("train", "valid", "test"):
        raw = [t for e in groups[split] for t in texts[e]]
        if split == "train":
            raw += vocabulary_texts(root)
        kept: dict[str, str] = {}
        for sentence in _sentences(raw, min_words):
            key = _key(sentence)
            if key not in seen and key not in kept:
                kept[key] = sentence
        seen.update(kept)
        splits[split] = sorted(kept.values(), key=lambda s: _rank(s, seed))
    for split, limit in zip(("train", "valid", "test"), limits, strict=True):
        if limit is not None:
            splits[split] = splits[split][:limit]
    entries = {k: tuple(v) for k, v in groups.items()}
    entries["train"] = (*entries["train"], "vocabulary")
    return Corpus(
        tuple(splits["train"]), tuple(splits["valid"]), tuple(splits["test"]), entries, source=str(root)
    )
