"""A generated catalog of N entries for the large-catalog benchmarks: copies of the shipped entries.

Each copy gets a new id and keeps its configurations, terms and results; survey rows and cross-references are
dropped so that the copies stay valid.
"""

from __future__ import annotations

import shutil
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _template(path: Path) -> tuple[str, str]:
    """An entry as a template: id placeholder, no survey rows or cross-references (copies must stay valid)."""
    import yaml

    data = yaml.safe_load(path.read_text(encoding="utf-8"))
    data["id"] = "__ID__"
    data.pop("survey_label", None)
    data["related"] = []
    for config in data["configurations"]:
        config.pop("survey_row", None)
    for result in data.get("results", []):
        paper = result["source"].get("paper")  # repository sources reference no other entry
        if paper is not None and paper not in {"self", "survey"}:
            result["source"]["paper"] = "survey"
    return path.stem, yaml.safe_dump(data, sort_keys=False, allow_unicode=True)


def write_generated_catalog(n: int, dest: Path) -> Path:
    """Write ``dest/vocabulary.yaml`` and ``dest/methods/gen00000-<stem>.yaml``... (n entries); returns dest."""
    sources = sorted((ROOT / "catalog" / "methods").glob("*.yaml"))
    methods = dest / "methods"
    methods.mkdir(parents=True, exist_ok=True)
    shutil.copy(ROOT / "catalog" / "vocabulary.yaml", dest / "vocabulary.yaml")
    templates = [_template(p) for p in sources]
    for i in range(n):
        stem, text = templates[i % len(templates)]
        new = f"gen{i:05d}-{stem}"
        (methods / f"{new}.yaml").write_text(text.replace("__ID__", new), encoding="utf-8")
    return dest
