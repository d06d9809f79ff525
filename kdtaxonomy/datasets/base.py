"""Helpers shared by the dataset builders: cache folder, class folders, reading files, standardisation, limits."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import torch
from torch import Tensor

T = TypeVar("T")


class MissingDependencyError(ImportError):
    """An optional package that a component needs is not installed."""


def cache_dir() -> Path:
    """Folder of cached generated data: ``$KDTAX_CACHE_DIR/datasets`` or ``~/.cache/kdtaxonomy/datasets``."""
    base = (
        os.environ.get("KDTAX_CACHE_DIR")
        or Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "kdtaxonomy"
    )
    return Path(base) / "datasets"


def require_dir(path: Path, what: str) -> Path:
    """``path`` if it is a folder, else a ``ValueError`` naming it."""
    if not path.exists():
        raise ValueError(f"{what} {path} does not exist")
    if not path.is_dir():
        raise ValueError(f"{what} {path} is not a folder")
    return path


def class_folders(root: Path, what: str) -> list[Path]:
    """The class sub-folders of ``root`` (sorted by name; hidden folders are skipped), at least one."""
    require_dir(root, what)
    folders = sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not folders:
        raise ValueError(f"{what} {root} holds no class folders (expected {root}/<class>/...)")
    return folders


def files_with_suffix(folder: Path, suffixes: tuple[str, ...]) -> list[Path]:
    """Files of ``folder`` with one of ``suffixes`` (case-insensitive), sorted; none is an error."""
    files = sorted(
        p
        for p in folder.iterdir()
        if p.is_file() and not p.name.startswith(".") and p.suffix.lower() in suffixes
    )
    if not files:
        raise ValueError(f"class folder {folder} is empty: it holds no {'/'.join(suffixes)} files")
    return files


def channel_stats(x: Tensor) -> tuple[Tensor, Tensor]:
    """Mean and standard deviation of every channel (dim 1) of ``x``, shaped to broadcast against ``x``.

    A constant channel gets a standard deviation of 1 (it is only centred).
    """
    dims = [d for d in range(x.dim()) if d != 1]
    mean = x.double().mean(dim=dims, keepdim=True)
    std = x.double().std(dim=dims, keepdim=True, unbiased=False)
    std = torch.where(std > 1e-12, std, torch.ones_like(std))
    return mean.to(x.dtype), std.to(x.dtype)


def standardize(train: Tensor, test: Tensor) -> tuple[Tensor, Tensor, dict[str, list[float]]]:
    """Standardise both splits per channel with the training split's statistics (returned for ``info``)."""
    mean, std = channel_stats(train)
    stats = {"mean": mean.flatten().tolist(), "std": std.flatten().tolist()}
    return (train - mean) / std, (test - mean) / std, stats


def limit(n: int, cap: int | None) -> int:
    """``min(n, cap)`` (``n`` when there is no cap)."""
    return n if cap is None else min(n, cap)


def read_error_reason(exc: BaseException) -> str:
    """A reader exception as a non-empty reason (``EOFError()`` and friends print as empty strings)."""
    text = str(exc).strip()
    if text:
        return text
    if isinstance(exc, EOFError):
        return "the file ends before its header or data does (truncated?)"
    return type(exc).__name__


def read_files(
    files: list[tuple[Path, str]], reader: Callable[[Path], T], *, skip_bad: bool
) -> tuple[list[T], list[tuple[Path, str]], list[dict[str, str]]]:
    """``reader`` applied to every ``(path, label)`` of ``files``.

    A file the reader refuses (``ValueError`` naming the file and the reason) stops the load, unless
    ``skip_bad``: then it is left out and reported. Returns the items, the ``(path, label)`` pairs kept and
    the skipped files as ``{"file", "reason"}``.
    """
    items: list[T] = []
    kept: list[tuple[Path, str]] = []
    skipped: list[dict[str, str]] = []
    for path, label in files:
        try:
            items.append(reader(path))
        except ValueError as exc:
            if not skip_bad:
                raise
            skipped.append({"file": str(path), "reason": str(exc)})
            continue
        kept.append((path, label))
    return items, kept, skipped


def skipped_note(skipped: list[dict[str, str]], shown: int = 5) -> str:
    """One line saying how many files were skipped and which (the first ``shown``), or ``""``."""
    if not skipped:
        return ""
    names = ", ".join(s["file"] for s in skipped[:shown])
    more = f" and {len(skipped) - shown} more" if len(skipped) > shown else ""
    return f"skipped {len(skipped)} unreadable file(s): {names}{more}"
