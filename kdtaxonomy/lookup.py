"""The query path in plain Python: term resolution, the catalog index, filtering and its cache.

Nothing here imports pydantic or torch, so ``kdtax list`` can answer from the cached index at the cost of
unpickling plain data. The validated models (:mod:`kdtaxonomy.catalog`) build the index and use the same
code to filter, so both paths give the same answers.
"""

from __future__ import annotations

import difflib
import hashlib
import os
import pickle
import re
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

PACKAGE_DIR = Path(__file__).resolve().parent
CACHE_VERSION = "3"

FACETS: dict[str, tuple[str, ...]] = {
    "objective": ("objective",),
    "modality": ("modality",),
    "data-prep": ("modification", "partitioning"),
    "teacher": ("teacher-setup", "teacher-architecture", "teacher-construction"),
    "knowledge": ("knowledge",),
    "location": ("location",),
    "transfer": ("transfer",),
    "student": ("student-setup", "student-architecture", "student-construction"),
}
"""Query facets (options of ``kdtax list``) and the vocabulary steps each one searches."""

FILTERS = (*FACETS, "gou", "loss", "dataset", "year", "search")


class VocabularyError(ValueError):
    """An unknown or non-canonical term, or a bad query; the message names close matches."""


def normalise(name: str) -> str:
    """Case-, space-, underscore- and hyphen-insensitive form of a name."""
    return re.sub(r"[\s_\-]+", "-", name.strip().lower())


def fold(text: str) -> str:
    """Lower-case text with runs of spaces, hyphens and underscores folded to one space (for search)."""
    return re.sub(r"[\s_\-]+", " ", text.lower())


def close_matches(value: str, names: list[str], n: int = 3) -> str:
    """``" Did you mean: a, b?"`` for the closest names, or an empty string."""
    close = difflib.get_close_matches(value, names, n=n, cutoff=0.5)
    return f" Did you mean: {', '.join(close)}?" if close else ""


def dataset_key(name: str) -> str:
    """Case-, space- and punctuation-insensitive form of a dataset name (``CIFAR-100`` == ``cifar100``)."""
    return re.sub(r"[\W_]+", "", name.casefold())


@dataclass
class DatasetLookup:
    """Dataset names (ids, labels, synonyms; as :func:`dataset_key`) resolved to canonical labels."""

    names: dict[str, str]
    labels: list[str]

    def resolve(self, name: str) -> str | None:
        """The canonical label ``name`` stands for, or None."""
        return self.names.get(dataset_key(name))

    def suggest(self, name: str) -> str:
        """``" Did you mean: A, B?"`` naming the canonical labels of the closest names."""
        close = difflib.get_close_matches(dataset_key(name), list(self.names), n=6, cutoff=0.6)
        labels = list(dict.fromkeys(self.names[c] for c in close))[:4]
        return f" Did you mean: {', '.join(labels)}?" if labels else ""

    def match(self, query: str) -> set[str]:
        """Labels a ``--dataset`` query selects: the dataset it names, else every dataset one of whose names
        contains it (``cifar``: CIFAR-10 and CIFAR-100); none raises :class:`VocabularyError`."""
        label = self.resolve(query)
        if label is not None:
            return {label}
        needle = dataset_key(query)
        found = {label for name, label in self.names.items() if needle and needle in name}
        if not found:
            raise VocabularyError(f"unknown dataset {query!r}.{self.suggest(query)}")
        return found


@dataclass
class TermLookup:
    """Names (terms, labels, synonyms; normalised) of every step, resolved to canonical terms."""

    names: dict[str, dict[str, str]]
    terms: dict[str, list[str]]

    def resolve(self, facet: str, name: str) -> tuple[str, str]:
        """(step, term) of a query name for a facet of ``kdtax list``."""
        if facet not in FACETS:
            raise VocabularyError(f"unknown facet {facet!r}.{close_matches(facet, list(FACETS))}")
        norm = normalise(name)
        candidates: list[str] = []
        for step in FACETS[facet]:
            term = self.names[step].get(norm)
            if term is not None:
                return step, term
            candidates.extend(self.names[step])
        known = ", ".join(t for s in FACETS[facet] for t in self.terms[s])
        hint = self.suggest(candidates, name, FACETS[facet])
        raise VocabularyError(f"unknown --{facet} value {name!r}.{hint} Known terms: {known}")

    def suggest(self, names: list[str], value: str, steps: Iterable[str]) -> str:
        """Close matches of ``value`` among ``names``, reported as canonical terms."""
        steps = tuple(steps)
        close = difflib.get_close_matches(normalise(value), names, n=6, cutoff=0.6)
        canon: list[str] = []
        for name in close:
            term = next((self.names[s][name] for s in steps if name in self.names[s]), name)
            if term not in canon:
                canon.append(term)
        return f" Did you mean: {', '.join(canon[:4])}?" if canon else ""


@dataclass
class CatalogIndex:
    """One plain row per configuration: what ``kdtax list`` shows and what filters read."""

    rows: list[dict[str, Any]]
    """``kdtax list --format json`` objects (id, configuration, title, year, facet terms, datasets...)."""
    steps: list[dict[str, list[str]]]
    """Per row: terms of every vocabulary step."""
    text: list[str]
    """Per row: folded searchable text of the configuration."""
    lookup: TermLookup
    entry_text: dict[str, str] = field(default_factory=dict)
    """Per entry id: folded searchable text shared by its configurations."""
    datasets: DatasetLookup | None = None
    """Resolves ``dataset`` queries; without it they match dataset names as substrings."""
    gou: list[list[str]] = field(default_factory=list)
    """Per row: Gou et al. 2021 categories its terms map to (``feature-based``, ``online``, ...)."""
    gou_names: dict[str, str] = field(default_factory=dict)
    """Normalised category slugs and labels -> slug."""
    losses: list[list[str]] = field(default_factory=list)
    """Per row: registry loss components of its recipe's knowledge terms (``rkd-area``, ...)."""
    loss_keys: list[str] = field(default_factory=list)
    """Every registered loss key (for ``loss`` queries and their suggestions)."""
    _postings: dict[tuple[str, str], set[int]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for i, steps in enumerate(self.steps):
            for step, terms in steps.items():
                for term in terms:
                    self._postings.setdefault((step, term), set()).add(i)

    def select(self, **facets: Any) -> list[int]:
        """Row positions matching every facet (values: one name or a list; a list must all match).

        Facets: ``objective, modality, data_prep, teacher, knowledge, location, transfer, student`` (term,
        label or synonym), ``gou`` (a Gou et al. 2021 category: slug or label), ``loss`` (a registry loss
        component of the configuration's recipe), ``dataset`` (id, label or synonym of a dataset, or a part of one), ``year``
        (``2019`` or ``2018-2020``), ``search`` (words that must all occur in the entry's text).
        """
        selected: set[int] | None = None
        everything = range(len(self.rows))
        for name, value in facets.items():
            if value is None or value == [] or value == ():
                continue
            facet = name.replace("_", "-")
            for item in value if isinstance(value, list | tuple) else [value]:
                text = str(item)
                if facet in FACETS:
                    hits = self._postings.get(self.lookup.resolve(facet, text), set())
                elif facet == "gou":
                    hits = self._gou_hits(text)
                elif facet == "loss":
                    hits = self._loss_hits(text)
                elif facet == "dataset":
                    hits = self._dataset_hits(text)
                elif facet == "year":
                    low, high = year_range(text)
                    hits = {i for i in everything if low <= self.rows[i]["year"] <= high}
                elif facet == "search":
                    words = fold(text).split()
                    hits = {i for i in everything if all(w in self._text(i) for w in words)}
                else:
                    raise VocabularyError(f"unknown filter {name!r}.{close_matches(facet, list(FILTERS))}")
                selected = hits if selected is None else selected & hits
        return sorted(everything if selected is None else selected)

    def _gou_hits(self, query: str) -> set[int]:
        slug = self.gou_names.get(normalise(query))
        if slug is None:
            known = sorted(set(self.gou_names.values()))
            raise VocabularyError(
                f"unknown Gou et al. category {query!r}.{close_matches(normalise(query), known)}"
                f" Known: {', '.join(known)}"
            )
        return {i for i, categories in enumerate(self.gou) if slug in categories}

    def _loss_hits(self, query: str) -> set[int]:
        key = normalise(query)
        if key not in self.loss_keys:
            raise VocabularyError(
                f"unknown loss component {query!r}.{close_matches(key, self.loss_keys)}"
                " (kdtax registry loss lists them)"
            )
        return {i for i, losses in enumerate(self.losses) if key in losses}

    def _dataset_hits(self, query: str) -> set[int]:
        rows = range(len(self.rows))
        if self.datasets is None:
            needle = fold(query)
            return {i for i in rows if any(needle in fold(d) for d in self.rows[i]["datasets"])}
        labels = self.datasets.match(query)
        return {i for i in rows if not labels.isdisjoint(self.rows[i]["datasets"])}

    def _text(self, i: int) -> str:
        return f"{self.entry_text.get(self.rows[i]['id'], '')} {self.text[i]}"


def year_range(text: str) -> tuple[int, int]:
    """``2019`` -> (2019, 2019); ``2018-2020`` or ``2018..2020``; ``2018-`` is open-ended."""
    match = re.fullmatch(r"\s*(\d{4})\s*(?:(-|\.\.)\s*(\d{4})?)?\s*", text)
    if not match:
        raise VocabularyError(f"--year must be a year or a range like 2018-2020, not {text!r}")
    low = int(match.group(1))
    high = int(match.group(3)) if match.group(3) else (9999 if match.group(2) else low)
    return low, high


def default_catalog_dir() -> Path:
    """``$KDTAX_CATALOG``, else the catalog shipped in the wheel, else the checkout's ``catalog/``."""
    env = os.environ.get("KDTAX_CATALOG")
    if env:
        return Path(env).expanduser()
    shipped = PACKAGE_DIR / "_data" / "catalog"
    if shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent / "catalog"


# -- cache -------------------------------------------------------------------------------------------------
def cache_base() -> Path:
    """``$KDTAX_CACHE_DIR``, else ``$XDG_CACHE_HOME/kdtaxonomy``, else ``~/.cache/kdtaxonomy``."""
    env = os.environ.get("KDTAX_CACHE_DIR")
    if env:
        return Path(env)
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kdtaxonomy"


def cache_paths(root: Path) -> tuple[Path, Path]:
    """(validated-models cache, plain index cache) of a catalog directory."""
    key = hashlib.blake2b(str(root.resolve()).encode(), digest_size=8).hexdigest()
    base = cache_base()
    return base / f"catalog-{key}.pickle", base / f"catalog-{key}.index.pickle"


def catalog_files(root: Path) -> tuple[Path, list[Path]]:
    """The vocabulary file and the entry files of a catalog directory."""
    vocab = root / "vocabulary.yaml"
    if not vocab.is_file():
        shipped = PACKAGE_DIR / "_data" / "catalog" / "vocabulary.yaml"
        vocab = shipped if shipped.is_file() else PACKAGE_DIR.parent / "catalog" / "vocabulary.yaml"
    methods = root / "methods"
    files = sorted(p for p in methods.iterdir() if p.suffix in {".yaml", ".yml"}) if methods.is_dir() else []
    return vocab, files


def datasets_file(root: Path) -> Path:
    """The dataset vocabulary of a catalog directory (the shipped one when it has none)."""
    own = root / "datasets.yaml"
    if own.is_file():
        return own
    shipped = PACKAGE_DIR / "_data" / "catalog" / "datasets.yaml"
    return shipped if shipped.is_file() else PACKAGE_DIR.parent / "catalog" / "datasets.yaml"


def signature(root: Path) -> str:
    """Key of a catalog's caches: size and mtime of every file, and the code that validates them."""
    vocab, _ = catalog_files(root)
    digest = hashlib.blake2b(digest_size=16)
    digest.update(CACHE_VERSION.encode())
    own_code = ("schema.py", "vocabulary.py", "dataset_vocabulary.py", "checks.py", "recipe.py", "lookup.py")
    for own in (*own_code, "catalog.py", "specs/losses.py"):  # the index holds each recipe's loss components
        digest.update((PACKAGE_DIR / own).read_bytes())
    for path in (vocab, datasets_file(root)):
        stat = path.stat()
        digest.update(f"{path}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    with os.scandir(root / "methods") as listing:
        found = sorted(
            (item.name, item.stat().st_size, item.stat().st_mtime_ns)
            for item in listing
            if item.name.endswith((".yaml", ".yml"))
        )
    for name, size, mtime in found:
        digest.update(f"{name}\0{size}\0{mtime}\n".encode())
    return digest.hexdigest()


def read_cache(path: Path, sig: str) -> Any:
    """The cached object at ``path`` if its signature is ``sig``; None when missing, stale or corrupt."""
    if not path.is_file():
        return None
    import gc

    enabled = gc.isenabled()
    gc.disable()  # unpickling many small objects triggers needless full collections
    try:
        with path.open("rb") as handle:
            stored = pickle.load(handle)
    except Exception:  # a corrupt cache is rebuilt
        return None
    finally:
        if enabled:
            gc.enable()
    if not isinstance(stored, dict) or stored.get("signature") != sig:
        return None
    return stored.get("value")


def write_cache(path: Path, sig: str, value: Any) -> None:
    """Store ``value`` under ``sig`` atomically; failures to write are ignored (the cache is optional)."""
    import tempfile

    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(fd, "wb") as handle:
            pickle.dump({"signature": sig, "value": value}, handle, protocol=pickle.HIGHEST_PROTOCOL)
        os.replace(tmp, path)
    except OSError:
        return


def fast_index(root: Path) -> CatalogIndex | None:
    """The cached index of the catalog at ``root`` if it is up to date (no validation, no pydantic)."""
    if not (root / "methods").is_dir():
        return None
    try:
        sig = signature(root)
    except OSError:
        return None
    index = read_cache(cache_paths(root)[1], sig)
    return index if isinstance(index, CatalogIndex) else None
