"""The folders kdtaxonomy reads and writes (no torch): the cache folder, checks made before any work starts
(one-line reasons), and the manifest (``run.json``) that ties a ``kdtax train --out`` folder to one run so
that runs never mix."""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path
from typing import Any

MANIFEST = "run.json"
"""Name of the manifest in a ``--out`` folder."""
MANIFEST_FORMAT = "kdtax-run/1"


def cache_dir() -> Path:
    """Where trained teachers, baselines and generated datasets are cached (``KDTAX_CACHE_DIR``, else
    ``$XDG_CACHE_HOME/kdtaxonomy``, else ``~/.cache/kdtaxonomy``)."""
    base = os.environ.get("KDTAX_CACHE_DIR") or str(
        Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "kdtaxonomy"
    )
    return Path(base)


def writable_dir(path: Path, what: str) -> str | None:
    """None when ``path`` is a writable folder or can be created as one; else why not (naming ``what``).

    Nothing is created: the nearest existing ancestor is probed with a temporary file that is removed.
    """
    if path.exists() and not path.is_dir():
        return f"{what} {path}: is a file, not a folder"
    probe = path
    while not probe.exists():
        if probe.parent == probe:
            break
        probe = probe.parent
    if not probe.is_dir():
        return f"{what} {path}: {probe} is a file, not a folder"
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as exc:
        return f"{what} {path}: {probe} is not writable ({exc.strerror or exc})"
    return None


def readable_dir(path: Path, what: str) -> str | None:
    """None when ``path`` is a folder that can be listed; else why not (naming ``what``)."""
    if not path.exists():
        return f"{what} {path}: does not exist"
    if not path.is_dir():
        return f"{what} {path}: is a file, not a folder"
    try:
        next(iter(os.scandir(path)), None)
    except OSError as exc:
        return f"{what} {path}: cannot be read ({exc.strerror or exc})"
    return None


def check_run_folder(out: Path, manifest: dict[str, Any], resume: bool) -> str | None:
    """None when ``out`` may receive the run described by ``manifest``; else why not.

    A folder holding the manifest of another run (recipe hash or settings differ) is refused with or
    without ``--resume``; ``--resume`` into a folder with checkpoints but no manifest is refused too.
    """
    path = out / MANIFEST
    if not path.is_file():
        if resume and out.is_dir() and any(out.glob("*.ckpt")):
            return f"--resume: {out} holds checkpoints but no {MANIFEST}; they cannot be matched to this run"
        return None
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        return f"{path}: not a readable run manifest ({exc})"
    if not isinstance(found, dict) or found.get("format") != MANIFEST_FORMAT:
        return f"{path}: not a {MANIFEST_FORMAT} run manifest"
    theirs = f"{found.get('id')}#{found.get('configuration')}"
    if found.get("recipe_hash") != manifest["recipe_hash"]:
        return (
            f"--out {out}: holds a run of another recipe ({theirs}, recipe hash "
            f"{str(found.get('recipe_hash'))[:12]}); choose another folder or delete it"
        )
    differ = [k for k, v in manifest["settings"].items() if found.get("settings", {}).get(k) != v]
    if differ:
        changes = ", ".join(
            f"{k} {found.get('settings', {}).get(k)!r} -> {manifest['settings'][k]!r}" for k in differ
        )
        return f"--out {out}: holds a run of {theirs} with other settings ({changes}); choose another folder"
    return None
