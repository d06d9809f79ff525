"""Where a reported number comes from: a paper's table, or a table of a public repository file at a commit.

A :class:`Source` names either ``paper`` (``self``, ``survey`` or another entry's id) or ``repository`` with
the full ``commit``, the ``file`` path and the ``table`` heading, e.g.::

    source:
      repository: HobbitLong/RepDistiller
      commit: 0eb3a95611e6e006b0db5ccdae1e29522db88b0c
      file: README.md
      table: Benchmark Results on CIFAR-100, 1. same architectural type

:meth:`Source.text` prints either kind readably (``HobbitLong/RepDistiller@0eb3a95 README.md, "..."``).
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, model_validator

REPOSITORY = r"^[A-Za-z0-9](?:[A-Za-z0-9-]{0,38})/[A-Za-z0-9._-]{1,100}$"
"""``owner/name`` as GitHub spells it."""
COMMIT = r"^[0-9a-f]{40}$"
"""A full commit hash (40 lowercase hex digits)."""
FILE_PATH = r"^[^/\s\\][^\\]*$"
"""A relative path inside the repository, ``/``-separated, no ``..`` component."""
SHORT_COMMIT = 7
"""Hex digits of the commit printed by :meth:`Source.text`."""


class Source(BaseModel):
    """Where a number comes from: a paper's table, or a table of a repository file at a commit."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
        str_strip_whitespace=True,
        defer_build=True,
    )

    paper: Annotated[str, Field(min_length=1, max_length=80)] | None = None
    """``self`` (the entry's own paper), ``survey`` (Abbasi et al., seed paper 000) or the id of another entry;
    absent when the number comes from a ``repository`` file."""
    repository: Annotated[str, Field(pattern=REPOSITORY, max_length=140)] | None = None
    """The public repository (``owner/name``) whose ``file`` prints the number; absent for a paper."""
    commit: Annotated[str, Field(pattern=COMMIT)] | None = None
    """Full commit of ``repository`` the file was read at (the same file may print other numbers later)."""
    file: Annotated[str, Field(pattern=FILE_PATH, max_length=300)] | None = None
    """Path of the file inside ``repository``, e.g. ``README.md``."""
    table: Annotated[str, Field(min_length=1, max_length=400)]
    """Table (or section/figure) of the paper, e.g. ``Table 3``; of a repository file, the heading the
    table stands under."""

    @model_validator(mode="after")
    def _one_kind(self) -> Source:
        repo_fields = {"repository": self.repository, "commit": self.commit, "file": self.file}
        if self.paper is not None:
            given = [k for k, v in repo_fields.items() if v is not None]
            if given:
                raise ValueError(f"a paper source cannot have {', '.join(given)} (those are a repository's)")
        else:
            missing = [k for k, v in repo_fields.items() if v is None]
            if len(missing) == len(repo_fields):
                raise ValueError("a source needs paper, or repository with commit and file")
            if missing:
                raise ValueError(f"a repository source needs {', '.join(missing)}")
            if ".." in (self.file or "").split("/"):
                raise ValueError(f"file: {self.file!r} has a '..' component")
        return self

    @property
    def is_repository(self) -> bool:
        """Whether the number comes from a repository file (not a paper)."""
        return self.repository is not None

    def text(self, self_label: str = "this paper") -> str:
        """Readable provenance: ``paper, table`` (``self`` shown as ``self_label``) or
        ``owner/name@0eb3a95 file, "table"``."""
        if self.repository is not None:
            commit = (self.commit or "")[:SHORT_COMMIT]
            return f'{self.repository}@{commit} {self.file}, "{self.table}"'
        paper = self_label if self.paper == "self" else self.paper
        return f"{paper}, {self.table}"
