"""Published CIFAR-100 gains of distillation methods over the student alone (torch-free, no scipy).

The numbers are the ones copied verbatim into ``catalog/published/published_results.tsv`` (see the README
there); this module turns them into one "published Δ" per method, the ranking the benchmark suite's
measured gains are compared against.
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

COLUMNS = ("source", "commit", "file", "table", "dataset", "metric", "teacher", "student", "method", "value")
DATASET = "CIFAR-100"
REPDISTILLER = "HobbitLong/RepDistiller"
MDISTILLER = "megvii-research/mdistiller"
NOT_METHODS = frozenset({"teacher", "student"})
"""Row labels of RepDistiller's tables that are references, not distillation methods."""
_NUMBER = re.compile(r"-?\d+(?:\.\d+)?")

NOTES = (
    f"Published Δ of a method = mean over the {DATASET} teacher → student pairs of {REPDISTILLER}'s "
    "README of (method − student alone) on the same pair; FSP's printed 0.00 on wrn-40-2 → wrn-40-1 "
    "is a placeholder and is left out.",
    f"Methods absent from {REPDISTILLER} (DKD, KD+DOT) come from {MDISTILLER}'s {DATASET} tables, "
    "which print no student-alone row: their published Δ = mean over that table's pairs of "
    f"(method − KD) + KD's published Δ from {REPDISTILLER}.",
)


@dataclass(frozen=True)
class Source:
    """A published table the numbers were taken from."""

    repository: str
    commit: str
    file: str
    table: str


@dataclass(frozen=True)
class PublishedDelta:
    method: str
    """The source's row label."""
    delta: float
    """Mean published gain over the student alone (accuracy points)."""
    pairs: int
    """Teacher → student pairs averaged."""


@dataclass
class Published:
    """Published Δ per method (keyed by the casefolded row label), and the tables used."""

    deltas: dict[str, PublishedDelta] = field(default_factory=dict)
    sources: list[Source] = field(default_factory=list)
    notes: tuple[str, ...] = NOTES

    def get(self, method: str | None) -> PublishedDelta | None:
        return None if method is None else self.deltas.get(method.casefold())


def published_results_path() -> Path:
    """``published/published_results.tsv`` of the catalog directory, else the shipped or checkout copy."""
    from kdtaxonomy.lookup import PACKAGE_DIR, default_catalog_dir

    relative = Path("published") / "published_results.tsv"
    for root in (default_catalog_dir(), PACKAGE_DIR / "_data" / "catalog", PACKAGE_DIR.parent / "catalog"):
        if (root / relative).is_file():
            return root / relative
    return PACKAGE_DIR.parent / "catalog" / relative


def read_published(path: Path | None = None) -> list[dict[str, str]]:
    """Rows of the TSV; OSError when unreadable, ValueError when a column is missing."""
    path = path or published_results_path()
    with path.open(encoding="utf-8", newline="") as handle:
        reader = csv.DictReader(handle, delimiter="\t")
        missing = [c for c in COLUMNS if c not in (reader.fieldnames or [])]
        if missing:
            raise ValueError(f"{path}: missing column(s) {', '.join(missing)}")
        return [dict(row) for row in reader]


def _value(text: str) -> float | None:
    """A printed number; None for anything else (``N/A``, footnote marks such as ``69.76*``)."""
    text = text.strip()
    return float(text) if _NUMBER.fullmatch(text) else None


def _cifar_tables(
    rows: list[dict[str, str]], repository: str
) -> dict[Source, dict[tuple[str, str], dict[str, float]]]:
    """Numeric CIFAR-100 values of one repository: table -> (teacher, student) -> method -> value."""
    tables: dict[Source, dict[tuple[str, str], dict[str, float]]] = {}
    for row in rows:
        if row["source"] != repository or row["dataset"] != DATASET:
            continue
        value = _value(row["value"])
        if value is None:
            continue
        if row["method"] == "FSP" and value == 0.0:
            continue  # RepDistiller prints 0.00 as a placeholder for FSP on wrn-40-2 -> wrn-40-1
        source = Source(row["source"], row["commit"], row["file"], row["table"])
        pair = (row["teacher"], row["student"])
        tables.setdefault(source, {}).setdefault(pair, {})[row["method"]] = value
    return tables


def _mean(values: list[float]) -> float:
    return math.fsum(values) / len(values)


def published_deltas(rows: list[dict[str, str]]) -> Published:
    """Published Δ per method from RepDistiller's CIFAR-100 tables, and mdistiller's relative to KD."""
    out = Published()
    gains: dict[str, list[float]] = {}
    for source, pairs in _cifar_tables(rows, REPDISTILLER).items():
        used = False
        for values in pairs.values():
            alone = values.get("student")
            if alone is None:
                continue
            for method, value in values.items():
                if method not in NOT_METHODS:
                    gains.setdefault(method, []).append(value - alone)
                    used = True
        if used:
            out.sources.append(source)
    for method, gain in gains.items():
        out.deltas[method.casefold()] = PublishedDelta(method, _mean(gain), len(gain))
    kd = out.deltas.get("kd")
    if kd is None:
        return out
    over_kd: dict[str, list[float]] = {}
    for source, pairs in _cifar_tables(rows, MDISTILLER).items():
        used = False
        for values in pairs.values():
            if "KD" not in values:
                continue
            for method, value in values.items():
                if method != "KD" and method.casefold() not in out.deltas:
                    over_kd.setdefault(method, []).append(value - values["KD"])
                    used = True
        if used:
            out.sources.append(source)
    for method, gain in over_kd.items():
        out.deltas[method.casefold()] = PublishedDelta(method, _mean(gain) + kd.delta, len(gain))
    return out


def load_published(path: Path | None = None) -> Published:
    """Published Δ per method from the TSV (OSError or ValueError when it cannot be read)."""
    return published_deltas(read_published(path))
