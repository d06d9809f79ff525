"""Validation problems (file, line, field, reason) and the error that carries them.

The lowest module of the catalog side: the loader (:mod:`kdtaxonomy.catalog`) and the whole-catalog checks
(:mod:`kdtaxonomy.checks`) both report through it.
"""

from __future__ import annotations

from dataclasses import dataclass


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
