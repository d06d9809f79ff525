"""Loading, validating, caching and filtering the catalog (no torch).

A catalog directory holds ``vocabulary.yaml``, ``datasets.yaml`` and ``methods/<id>.yaml`` (either
vocabulary file, when missing, is the shipped one). Loading validates every file and
collects *all* problems (file, line, field path, reason) before raising :class:`CatalogError`. A validated
catalog is cached in a pickle keyed on the size and modification time of every file and on the package's
own schema, so repeated queries skip YAML parsing and validation.
"""

from __future__ import annotations

import gc
import os
import pickle
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from kdtaxonomy.dataset_vocabulary import DatasetVocabulary
from kdtaxonomy.lookup import (
    CatalogIndex,
    cache_paths,
    catalog_files,
    close_matches,
    datasets_file,
    default_catalog_dir,
    fold,
    read_cache,
    signature,
    write_cache,
)
from kdtaxonomy.problems import CatalogError as CatalogError  # re-exported: kdtaxonomy.CatalogError
from kdtaxonomy.problems import Problem as Problem
from kdtaxonomy.schema import Configuration, Entry, is_slug, step_terms
from kdtaxonomy.vocabulary import Vocabulary
from kdtaxonomy.yamlio import Document, YamlError, read_document

PACKAGE_DIR = Path(__file__).resolve().parent


def default_vocabulary_path() -> Path:
    """The vocabulary shipped with the package (used when a catalog directory has none)."""
    shipped = PACKAGE_DIR / "_data" / "catalog" / "vocabulary.yaml"
    return shipped if shipped.is_file() else PACKAGE_DIR.parent / "catalog" / "vocabulary.yaml"


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
    path: Path, doc: Document, vocabulary: Vocabulary, datasets: DatasetVocabulary | None = None
) -> tuple[Entry | None, list[Problem]]:
    """Validate one parsed document against both vocabularies (``datasets`` defaults to the shipped one);
    returns the entry (or None) and its problems."""
    if not isinstance(doc.data, dict):
        kind = type(doc.data).__name__ if doc.data is not None else "null"
        return None, [Problem(str(path), f"top level must be a mapping of fields, not {kind}", 1)]
    try:
        context = {"vocabulary": vocabulary, "datasets": datasets or shipped_datasets()}
        entry = Entry.model_validate(doc.data, context=context)
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


def read_datasets(path: Path, vocabulary: Vocabulary | None = None) -> DatasetVocabulary:
    """Read and validate a dataset vocabulary (its modalities against ``vocabulary``, when given);
    problems raise :class:`CatalogError`."""
    try:
        doc = read_document(path)
    except YamlError as exc:
        raise CatalogError([Problem(str(path), exc.reason, exc.line)]) from exc
    try:
        datasets = DatasetVocabulary.from_mapping(doc.data)
    except ValidationError as exc:
        raise CatalogError(_pydantic_problems(path, exc, doc)) from exc
    if vocabulary is not None:
        wrong = datasets.check_modalities(vocabulary.terms("modality"))
        if wrong:
            raise CatalogError([Problem(str(path), reason, None, "datasets") for reason in wrong])
    return datasets


_SHIPPED: list[DatasetVocabulary] = []


def shipped_datasets() -> DatasetVocabulary:
    """The dataset vocabulary shipped with the package (read once)."""
    if not _SHIPPED:
        _SHIPPED.append(read_datasets(datasets_file(PACKAGE_DIR / "_data" / "catalog")))
    return _SHIPPED[0]


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
            if paper is not None and paper not in {"self", "survey"} and paper not in known:
                problems.append(
                    Problem(
                        str(path),
                        f"unknown paper {paper!r} (use self, survey or an entry id)",
                        None,
                        f"results.{i}.source.paper",
                    )
                )
    return problems


def validate_paths(
    paths: Iterable[Path], vocabulary: Vocabulary, datasets: DatasetVocabulary | None = None
) -> tuple[list[Entry], list[Problem]]:
    """Validate files and directories (``datasets`` defaults to the shipped dataset vocabulary); returns valid
    entries and every problem found."""
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
        entry, found = validate_document(path, doc, vocabulary, datasets)
        lines[path] = doc
        problems.extend(found)
        if entry is not None:
            entries.append((path, entry))
    problems.extend(cross_check(entries))
    from kdtaxonomy import checks

    problems.extend(checks.run_extra_checks(entries, vocabulary, lines))
    return [e for _, e in entries], problems


class LazyEntries(Mapping[str, Entry]):
    """Entries by id, unpickled on first access (a cached 10,000-entry catalog opens in milliseconds)."""

    def __init__(self, blobs: dict[str, bytes]) -> None:
        self._blobs = blobs
        self._loaded: dict[str, Entry] = {}

    def __getitem__(self, key: str) -> Entry:
        entry = self._loaded.get(key)
        if entry is None:
            entry = pickle.loads(self._blobs[key])
            self._loaded[key] = entry
        return entry

    def __iter__(self) -> Iterator[str]:
        return iter(self._blobs)

    def __len__(self) -> int:
        return len(self._blobs)


class Catalog:
    """A validated catalog: entries by id, the two vocabularies, the query index, and filtering."""

    def __init__(
        self,
        entries: Mapping[str, Entry],
        vocabulary: Vocabulary,
        root: Path | None = None,
        datasets: DatasetVocabulary | None = None,
    ) -> None:
        from kdtaxonomy.render.rows import list_row

        self.entries: Mapping[str, Entry] = dict(entries)
        self.vocabulary = vocabulary
        self.datasets = datasets or shipped_datasets()
        self.root = root
        pairs = [(e, c) for e in self.entries.values() for c in e.configurations]
        self.index = CatalogIndex(
            rows=[list_row(e, c) for e, c in pairs],
            steps=[{step: list(step_terms(c, step)) for step in vocabulary.steps} for _, c in pairs],
            text=[_config_text(c) for _, c in pairs],
            lookup=vocabulary.lookup,
            entry_text={e.id: _entry_text(e) for e in self.entries.values()},
            datasets=self.datasets.lookup,
            gou=[_gou_categories(vocabulary, c) for _, c in pairs],
            gou_names=_gou_names(vocabulary),
            losses=[_recipe_losses(e, c) for e, c in pairs],
            loss_keys=_loss_keys(),
        )

    def __getstate__(self) -> dict[str, Any]:
        blobs = {
            key: pickle.dumps(entry, protocol=pickle.HIGHEST_PROTOCOL) for key, entry in self.entries.items()
        }
        return {"blobs": blobs, "vocabulary": self.vocabulary, "datasets": self.datasets, "index": self.index}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.entries = LazyEntries(state["blobs"])
        self.vocabulary = state["vocabulary"]
        self.datasets = state["datasets"]
        self.index = state["index"]
        self.root = None

    def __iter__(self) -> Iterator[Entry]:
        return iter(self.entries.values())

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, entry_id: str) -> Entry:
        """The entry ``entry_id``; unknown ids raise ``KeyError`` naming close matches."""
        if entry_id in self.entries:
            return self.entries[entry_id]
        raise KeyError(f"no catalog entry {entry_id!r}.{close_matches(entry_id, list(self.entries))}")

    def pair(self, position: int) -> tuple[Entry, Configuration]:
        """The (entry, configuration) of an index row."""
        row = self.index.rows[position]
        entry = self.entries[row["id"]]
        return entry, entry.configuration(row["configuration"])

    def configurations(self) -> Iterator[tuple[Entry, Configuration]]:
        """Every (entry, configuration) pair, in index order."""
        return (self.pair(i) for i in range(len(self.index.rows)))

    def filter(self, **facets: Any) -> list[tuple[Entry, Configuration]]:
        """Configurations matching every facet (see :meth:`kdtaxonomy.lookup.CatalogIndex.select`).

        Unknown terms raise :class:`~kdtaxonomy.vocabulary.VocabularyError` listing close matches.
        """
        positions = self.index.select(**facets)
        enabled = gc.isenabled()
        gc.disable()  # materialising many lazily unpickled entries triggers needless full collections
        try:
            return [self.pair(i) for i in positions]
        finally:
            if enabled:
                gc.enable()


def _gou_categories(vocabulary: Vocabulary, config: Configuration) -> list[str]:
    """The Gou et al. 2021 categories the configuration's terms map to, in vocabulary order."""
    found = {
        g
        for step in vocabulary.steps
        for term in step_terms(config, step)
        for g in vocabulary.gou(step, term)
    }
    return [g for g in vocabulary.data.gou_categories if g in found]


def _gou_names(vocabulary: Vocabulary) -> dict[str, str]:
    from kdtaxonomy.lookup import normalise

    names = {normalise(slug): slug for slug in vocabulary.data.gou_categories}
    names.update({normalise(c.label): slug for slug, c in vocabulary.data.gou_categories.items()})
    return names


def _recipe_losses(entry: Entry, config: Configuration) -> list[str]:
    """The registry loss components of the configuration's resolved recipe (torch-free); none if it cannot
    be resolved."""
    from kdtaxonomy.recipe import RecipeError, resolve

    try:
        return sorted({k.component for k in resolve(config, entry.id).knowledge})
    except RecipeError:
        return []


def _loss_keys() -> list[str]:
    from kdtaxonomy.specs import load_specs

    return sorted(load_specs().get("loss", {}))


def _entry_text(entry: Entry) -> str:
    return fold(" ".join([entry.id, entry.title, entry.description, " ".join(entry.authors), entry.venue]))


def _config_text(config: Configuration) -> str:
    parts = [config.name, config.summary, config.title or "", " ".join(config.datasets)]
    parts += [" ".join(config.teacher.models), " ".join(config.student.models)]
    return fold(" ".join(parts))


def load_catalog(path: str | os.PathLike[str] | None = None, *, use_cache: bool = True) -> Catalog:
    """Load and validate the catalog at ``path`` (default: :func:`default_catalog_dir`).

    Raises :class:`CatalogError` listing every problem when any file is invalid. The validated catalog and
    its plain query index are cached (see :mod:`kdtaxonomy.lookup`).
    """
    root = Path(path).expanduser() if path is not None else default_catalog_dir()
    if not root.is_dir():
        raise CatalogError([Problem(str(root), "catalog directory not found")])
    if not (root / "methods").is_dir():
        raise CatalogError([Problem(str(root), "catalog directory has no methods/ folder")])
    models_cache, index_cache = cache_paths(root)
    sig = signature(root) if use_cache else ""
    if use_cache:
        cached = read_cache(models_cache, sig)
        if isinstance(cached, Catalog):
            cached.root = root
            return cached
    vocab_path, _ = catalog_files(root)
    vocabulary = read_vocabulary(vocab_path)
    datasets = read_datasets(datasets_file(root), vocabulary)
    entries, problems = validate_paths([root / "methods"], vocabulary, datasets)
    if problems:
        raise CatalogError(problems)
    catalog = Catalog({e.id: e for e in sorted(entries, key=lambda e: e.id)}, vocabulary, root, datasets)
    if use_cache:
        write_cache(models_cache, sig, catalog)
        write_cache(index_cache, sig, catalog.index)
    return catalog
