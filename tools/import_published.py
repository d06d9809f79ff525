"""Append the rows of ``published_results.tsv`` of catalogued methods to their entries' ``results``.

Usage: ``python tools/import_published.py [TSV]`` (default: the catalog's ``published/published_results.tsv``).
Each row of a method in :data:`kdtaxonomy.published_rows.METHOD_CONFIGS` (and each teacher/student-alone row)
becomes a reported result with the row's repository provenance; the YAML files are edited as text (only
appended to, comments kept). Rows already imported (same provenance, method and pair) are skipped, so the
script can be run again. Prints the counts per method and the rows left out.
"""

from __future__ import annotations

import json
import re
import sys
from collections import Counter
from pathlib import Path
from typing import Any

import yaml

from kdtaxonomy.catalog import shipped_datasets
from kdtaxonomy.published import published_results_path, read_published
from kdtaxonomy.published_rows import home_of, result_of
from kdtaxonomy.specs import load_specs

_PLAIN = re.compile(r"[A-Za-z][A-Za-z0-9 ._/()+-]*")
"""Text written as a plain YAML scalar (no ``:``, ``#``, quotes or commas); the rest is double-quoted."""
CATALOG = Path(__file__).resolve().parent.parent / "catalog" / "methods"


def scalar(value: Any) -> str:
    """A YAML scalar: numbers and booleans plain, text double-quoted (JSON strings are YAML)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    text = str(value)
    if _PLAIN.fullmatch(text) and yaml.safe_load(text) == text:
        return text
    return json.dumps(text, ensure_ascii=False)


def block(result: dict[str, Any], printed: str) -> str:
    """The YAML text of one result as an item of the top-level ``results`` list."""
    lines = []
    for i, (key, value) in enumerate(result.items()):
        lead = "  - " if i == 0 else "    "
        if key == "source":
            lines.append(f"{lead}source:")
            lines.extend(f"      {k}: {scalar(v)}" for k, v in value.items())
        elif key == "value":
            lines.append(f"{lead}value: {printed}")  # the digits as printed (70.50 stays 70.50)
        else:
            lines.append(f"{lead}{key}: {scalar(value)}")
    return "\n".join(lines) + "\n"


def identity(result: dict[str, Any]) -> tuple[Any, ...]:
    """What makes an imported result unique: its provenance, row label and pair."""
    src = result.get("source") or {}
    return (
        src.get("repository"),
        src.get("commit"),
        src.get("file"),
        src.get("table"),
        result.get("method"),
        result.get("teacher"),
        result.get("student"),
    )


def append(path: Path, blocks: list[str]) -> None:
    """Append result blocks to the file's top-level ``results`` (the last key of every entry file)."""
    text = path.read_text(encoding="utf-8")
    if not text.endswith("\n"):
        text += "\n"
    lines = text.splitlines(keepends=True)
    tops = [i for i, line in enumerate(lines) if line[:1].isalpha()]
    if not lines[tops[-1]].startswith("results:"):
        raise SystemExit(f"{path}: results is not the last top-level key")
    if lines[tops[-1]].strip() == "results: []":
        lines[tops[-1]] = "results:\n"
    path.write_text("".join(lines) + "".join(blocks), encoding="utf-8")


def main(argv: list[str]) -> int:
    tsv = Path(argv[0]) if argv else published_results_path()
    rows = read_published(tsv)
    datasets = shipped_datasets()
    keys = set(load_specs()["model"])

    def label(name: str) -> str:
        found = datasets.lookup.resolve(name)
        if found is None:
            raise SystemExit(f"dataset {name!r} is not in catalog/datasets.yaml")
        return found

    pending: dict[str, list[str]] = {}
    counts: Counter[str] = Counter()
    left_out: Counter[str] = Counter()
    no_number: list[str] = []
    existing: dict[str, set[tuple[Any, ...]]] = {}
    for row in rows:
        home = home_of(row["method"])
        if home is None:
            left_out[row["method"]] += 1
            continue
        result = result_of(row, label, keys)
        if result is None:
            no_number.append(f"{row['source']} {row['table']}: {row['method']} = {row['value']}")
            continue
        entry = home[0]
        if entry not in existing:
            data = yaml.safe_load((CATALOG / f"{entry}.yaml").read_text(encoding="utf-8"))
            existing[entry] = {identity(r) for r in data.get("results") or []}
        if identity(result) in existing[entry]:
            continue
        existing[entry].add(identity(result))
        printed = row["value"].strip().rstrip("*\u2020\u2021")
        pending.setdefault(entry, []).append(block(result, printed))
        counts[f"{row['method']} -> {entry}#{home[1]}"] += 1
    for entry, blocks in pending.items():
        append(CATALOG / f"{entry}.yaml", blocks)
    for name, n in sorted(counts.items()):
        print(f"imported {n:3d}  {name}")
    print(f"imported {sum(counts.values())} results into {len(pending)} entries")
    for text in no_number:
        print(f"no number: {text}")
    for name, n in sorted(left_out.items()):
        print(f"not catalogued: {name} ({n} rows)")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
