"""The primitive types every catalog model shares: slugs, texts, parameter values and the strict base node."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field

SLUG = r"^[a-z0-9]+(-[a-z0-9]+)*$"
UNKNOWN = "unknown"
"""The literal written wherever a source does not say."""

Slug = Annotated[str, Field(pattern=SLUG, min_length=1, max_length=80)]
Text = Annotated[str, Field(min_length=1, max_length=20_000)]
ShortText = Annotated[str, Field(min_length=1, max_length=400)]
Count = int | Literal["unknown"]
ParamValue = str | int | float | bool | None | list[str | int | float | bool]


class Node(BaseModel):
    """Base of every model: unknown keys are rejected and attribute docstrings document the fields."""

    model_config = ConfigDict(
        extra="forbid",
        use_attribute_docstrings=True,
        frozen=True,
        str_strip_whitespace=True,
        defer_build=True,
    )
