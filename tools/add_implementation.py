"""Insert an ``implementation`` section into configurations of catalog files (keeps the files' own layout).

Usage: python tools/add_implementation.py spec.json   where spec.json maps "id#config" -> implementation dict.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import yaml

CATALOG = Path(__file__).resolve().parent.parent / "catalog" / "methods"


def insert(entry: str, config: str, impl: dict) -> None:
    path = CATALOG / f"{entry}.yaml"
    lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
    start = next(i for i, ln in enumerate(lines) if re.match(rf"^(\s*)- name: {re.escape(config)}\s*$", ln))
    indent = len(lines[start]) - len(lines[start].lstrip()) + 2
    for i in range(start + 1, len(lines)):
        line = lines[i]
        if line.strip() and len(line) - len(line.lstrip()) < indent:
            raise ValueError(f"{entry}#{config}: no datasets line")
        if line.startswith(" " * indent + "implementation:"):
            raise ValueError(f"{entry}#{config}: already has an implementation")
        if line.startswith(" " * indent + "datasets:"):
            text = yaml.safe_dump(
                {"implementation": impl}, sort_keys=False, width=100, default_flow_style=None
            )
            block = "".join(" " * indent + ln + "\n" for ln in text.splitlines())
            lines.insert(i, block)
            path.write_text("".join(lines), encoding="utf-8")
            return
    raise ValueError(f"{entry}#{config}: no datasets line")


if __name__ == "__main__":
    for key, impl in json.loads(Path(sys.argv[1]).read_text()).items():
        entry, _, config = key.partition("#")
        insert(entry, config, impl)
