"""Loading, validating, caching and filtering the catalog (no torch).

A catalog directory holds ``vocabulary.yaml`` and ``methods/<id>.yaml``. Loading validates every file and
collects *all* problems (file, line, field path, reason) before raising :class:`CatalogError`. A validated
catalog is cached in a pickle keyed on the size and modification time of every file and on the package's
own schema, so repeated queries skip YAML parsing and validation.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kdtaxonomy.schema import Configuration, Entry, is_slug, step_terms
from kdtaxonomy.vocabulary import FACETS, Vocabulary, VocabularyError
from kdtaxonomy.yamlio import Document, YamlError, atomic_writer, read_document

PACKAGE_DIR = Path(__file__).resolve().parent
CACHE_VERSION = "1"


def default_catalog_dir() -> Path:
    """``$KDTAX_CATALOG``, else the catalog shipped in the wheel, else the checkout's ``catalog/``."""
    env = os.environ.get("KDTAX_CATALOG")
    if env:
        return Path(env).expanduser()
    shipped = PACKAGE_DIR / "_data" / "catalog"
    if shipped.is_dir():
        return shipped
    return PACKAGE_DIR.parent / "catalog"


def default_vocabulary_path() -> Path:
    """The vocabulary shipped with the package (used when a catalog directory has none)."""
    shipped = PACKAGE_DIR / "_data" / "catalog" / "vocabulary.yaml"
    return shipped if shipped.is_file() else PACKAGE_DIR.parent / "catalog" / "vocabulary.yaml"


@dataclass(frozen=True)
class Problem:
    """One validation problem."""

    file: str
    reason: str
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        where = self.file + (f":{self.line}" if self.line else "")
        return f"{where}: {self.field + ': ' if self.field else ''}{self.reason}"


class CatalogError(Exception):
    """The catalog (or some files) failed validation; holds every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(str(p) for p in problems))
        self.problems = problems


def _field_path(loc: tuple[str | int, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def _pydantic_problems(path: Path, exc: ValidationError, doc: Document) -> list[Problem]:
    problems = []
    for error in exc.errors(include_url=False):
        loc = tuple(p for p in error["loc"] if not (isinstance(p, str) and p.startswith("function-")))
        reason = error["msg"]
        if reason.startswith("Value error, "):
            reason = reason[len("Value error, ") :]
        if error["type"] == "extra_forbidden":
            reason = "unknown key (not part of the schema)"
        elif error["type"] == "missing":
            reason = "required field is missing"
        elif error["type"] in {
            "string_type",
            "int_type",
            "float_type",
            "list_type",
            "dict_type",
            "bool_type",
        }:
            reason = f"{reason} (got {type(error.get('input')).__name__} {error.get('input')!r:.60})"
        problems.append(Problem(str(path), reason, doc.line_of(loc), _field_path(loc)))
    return problems


def validate_document(
    path: Path, doc: Document, vocabulary: Vocabulary
) -> tuple[Entry | None, list[Problem]]:
    """Validate one parsed document; returns the entry (or None) and its problems."""
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__ if doc.data is not None else "null"
        return None, [Problem(str(path), f"top level must be a mapping of fields, not {kind}", 1)]
    try:
        entry = Entry.model_validate(doc.data, context={"vocabulary": vocabulary})
    except ValidationError as exc:
        return None, _pydantic_problems(path, exc, doc)
    if entry.id != path.stem:
        return None, [
            Problem(
                str(path),
                f"id {entry.id!r} must equal the file name {path.stem!r}",
                doc.line_of(("id",)),
                "id",
            )
        ]
    return entry, []


def read_vocabulary(path: Path) -> Vocabulary:
    """Read and validate a vocabulary file; problems raise :class:`CatalogError`."""
    try:
        doc = read_document(path)
    except YamlError as exc:
        raise CatalogError([Problem(str(path), exc.reason, exc.line)]) from exc
    try:
        return Vocabulary.from_mapping(doc.data)
    except ValidationError as exc:
        raise CatalogError(_pydantic_problems(path, exc, doc)) from exc


def _entry_files(paths: Iterable[Path]) -> tuple[list[Path], list[Problem]]:
    files: list[Path] = []
    problems: list[Problem] = []
    for path in paths:
        if path.is_dir():
            if (path / "methods").is_dir():
                files.extend(sorted(p for p in (path / "methods").iterdir() if p.suffix in {".yaml", ".yml"}))
            else:
                files.extend(
                    sorted(p for p in path.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())
                )
        elif path.is_file():
            files.append(path)
        else:
            problems.append(Problem(str(path), "no such file or directory"))
    return files, problems


def cross_check(entries: list[tuple[Path, Entry]]) -> list[Problem]:
    """Checks that span entries: duplicate ids, references to unknown entries."""
    problems: list[Problem] = []
    first: dict[str, Path] = {}
    for path, entry in entries:
        if entry.id in first:
            problems.append(
                Problem(str(path), f"duplicate id {entry.id!r} (also in {first[entry.id]})", None, "id")
            )
        else:
            first[entry.id] = path
    known = set(first)
    for path, entry in entries:
        for i, rel in enumerate(entry.related):
            if rel not in known:
                problems.append(Problem(str(path), f"unknown entry id {rel!r}", None, f"related.{i}"))
        for i, result in enumerate(entry.results):
            paper = result.source.paper
            if paper not in {"self", "survey"} and paper not in known:
                problems.append(
                    Problem(
                        str(path),
                        f"unknown paper {paper!r} (use self, survey or an entry id)",
                        None,
                        f"results.{i}.source.paper",
                    )
                )
    return problems


def validate_paths(paths: Iterable[Path], vocabulary: Vocabulary) -> tuple[list[Entry], list[Problem]]:
    """Validate files and directories; returns valid entries and every problem found."""
    files, problems = _entry_files(paths)
    entries: list[tuple[Path, Entry]] = []
    lines: dict[Path, Document] = {}
    for path in files:
        if not is_slug(path.stem):
            problems.append(Problem(str(path), "file name must be a slug id like 'ahn2019-vid.yaml'"))
        try:
            doc = read_document(path)
        except YamlError as exc:
            problems.append(Problem(str(path), exc.reason, exc.line))
            continue
        entry, found = validate_document(path, doc, vocabulary)
        lines[path] = doc
        problems.extend(found)
        if entry is not None:
            entries.append((path, entry))
    problems.extend(cross_check(entries))
    from kdtaxonomy import checks

    problems.extend(checks.run_extra_checks(entries, vocabulary, lines))
    return [e for _, e in entries], problems


@dataclass
class Catalog:
    """A validated catalog: entries by id, the vocabulary, and filtering."""

    entries: dict[str, Entry]
    vocabulary: Vocabulary
    root: Path | None = None
    _index: dict[tuple[str, str], set[tuple[str, str]]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        for entry in self.entries.values():
            for config in entry.configurations:
                for step in self.vocabulary.steps:
                    for term in step_terms(config, step):
                        self._index.setdefault((step, term), set()).add((entry.id, config.name))

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Entry:
        """The entry ``entry_id``; unknown ids raise ``KeyError`` naming close matches."""
        if entry_id in self.entries:
            return self.entries[entry_id]
        from kdtaxonomy.registry import suggest

        raise KeyError(f"no catalog entry {entry_id!r}.{suggest(entry_id, list(self.entries))}")

    def configurations(self) -> Iterator[tuple[Entry, Configuration]]:
        """Every (entry, configuration) pair."""
        for entry in self.entries.values():
            for config in entry.configurations:
                yield entry, config

    def filter(self, **facets: Any) -> list[tuple[Entry, Configuration]]:
        """Configurations matching every facet.

        Facets: ``objective, modality, data_prep, teacher, knowledge, location, transfer, student``
        (a term, label or synonym, or a list of them: all must match), ``dataset`` (case-insensitive
        substring of a dataset name), ``year`` (int, or ``"2018-2020"``), ``search`` (words that must all
        occur in the entry's text). Unknown terms raise :class:`~kdtaxonomy.vocabulary.VocabularyError`.
        """
        selected: set[tuple[str, str]] | None = None
        for name, value in facets.items():
            if value is None or value == [] or value == ():
                continue
            facet = name.replace("_", "-")
            values = value if isinstance(value, list | tuple) else [value]
            if facet in FACETS:
                for item in values:
                    resolved = self.vocabulary.resolve(facet, str(item))
                    hits = self._index.get((resolved.step, resolved.term), set())
                    selected = hits if selected is None else selected & hits
            elif facet == "dataset":
                for item in values:
                    needle = _fold(str(item))
                    hits = {
                        (e.id, c.name)
                        for e, c in self.configurations()
                        if any(needle in _fold(d) for d in c.datasets)
                    }
                    selected = hits if selected is None else selected & hits
            elif facet == "year":
                for item in values:
                    low, high = _year_range(str(item))
                    hits = {(e.id, c.name) for e, c in self.configurations() if low <= e.year <= high}
                    selected = hits if selected is None else selected & hits
            elif facet == "search":
                for item in values:
                    words = _fold(str(item)).split()
                    hits = {
                        (e.id, c.name)
                        for e, c in self.configurations()
                        if all(w in _entry_text(e, c) for w in words)
                    }
                    selected = hits if selected is None else selected & hits
            else:
                from kdtaxonomy.registry import suggest

                options = [*FACETS, "dataset", "year", "search"]
                raise VocabularyError(f"unknown filter {name!r}.{suggest(facet, options)}")
        return [(e, c) for e, c in self.configurations() if selected is None or (e.id, c.name) in selected]


def _fold(text: str) -> str:
    return re.sub(r"[\s_\-]+", " ", text.lower())


def _entry_text(entry: Entry, config: Configuration) -> str:
    parts = [
        entry.id,
        entry.title,
        entry.description,
        " ".join(entry.authors),
        entry.venue,
        config.name,
        config.summary,
    ]
    parts += [
        config.title or "",
        " ".join(config.datasets),
        " ".join(config.teacher.models),
        " ".join(config.student.models),
    ]
    return _fold(" ".join(parts))


def _year_range(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"\s*(\d{4})\s*(?:(-|\.\.)\s*(\d{4})?)?\s*", text)
    if not match:
        raise VocabularyError(f"--year must be a year or a range like 2018-2020, not {text!r}")
    low = int(match.group(1))
    high = int(match.group(3)) if match.group(3) else (9999 if match.group(2) else low)
    return low, high


def _signature(files: list[Path], extra: list[Path]) -> str:
    digest = hashlib.blake2b(digest_size=16)
    digest.update(CACHE_VERSION.encode())
    for own in (PACKAGE_DIR / "schema.py", PACKAGE_DIR / "vocabulary.py", PACKAGE_DIR / "checks.py"):
        digest.update(own.read_bytes())
    for path in [*extra, *files]:
        stat = path.stat()
        digest.update(f"{path.name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()


def _cache_path(root: Path) -> Path:
    base = Path(
        os.environ.get("KDTAX_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kdtaxonomy"
    )
    key = hashlib.blake2b(str(root.resolve()).encode(), digest_size=8).hexdigest()
    return base / f"catalog-{key}.pickle"


def load_catalog(path: str | os.PathLike[str] | None = None, *, use_cache: bool = True) -> Catalog:
    """Load and validate the catalog at ``path`` (default: :func:`default_catalog_dir`).

    Raises :class:`CatalogError` listing every problem when any file is invalid.
    """
    root = Path(path).expanduser() if path is not None else default_catalog_dir()
    if not root.is_dir():
        raise CatalogError([Problem(str(root), "catalog directory not found")])
    vocab_path = root / "vocabulary.yaml"
    if not vocab_path.is_file():
        vocab_path = default_vocabulary_path()
    methods = root / "methods"
    if not methods.is_dir():
        raise CatalogError([Problem(str(root), "catalog directory has no methods/ folder")])
    files = sorted(p for p in methods.iterdir() if p.suffix in {".yaml", ".yml"})
    cache = _cache_path(root)
    signature = _signature(files, [vocab_path]) if use_cache else ""
    if use_cache and cache.is_file():
        try:
            with cache.open("rb") as handle:
                stored = pickle.load(handle)
            if stored.get("signature") == signature:
                catalog: Catalog = stored["catalog"]
                catalog.root = root
                return catalog
        except Exception:  # a stale or corrupt cache is rebuilt
            pass
    vocabulary = read_vocabulary(vocab_path)
    entries, problems = validate_paths([methods], vocabulary)
    if problems:
        raise CatalogError(problems)
    catalog = Catalog({e.id: e for e in sorted(entries, key=lambda e: e.id)}, vocabulary, root)
    if use_cache:
        try:
            with atomic_writer(cache, "wb") as handle:
                pickle.dump(
                    {"signature": signature, "catalog": catalog}, handle, protocol=pickle.HIGHEST_PROTOCOL
                )
        except OSError:
            pass
    return catalog
