"""The building blocks of every params section: a frozen, typo-proof base and shared types.

This module is a leaf (it imports only pydantic), so stage config modules can import it and
`rolellm.config` can compose them all into one `Params` without an import circle.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, ValidationError

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Section(BaseModel):
    """A params section: unknown keys are errors, and a loaded section never changes."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(Section):
    """Sampling parameters of one generating step; all of them enter the cache key."""

    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    max_new_tokens: Annotated[int, Field(gt=0, le=32768)] = 128

    @property
    def greedy(self) -> bool:
        return self.temperature == 0.0


def describe_error(err: ValidationError, source: str) -> str:
    """The first problem of a validation error as one line: `source: dotted.key: problem`."""
    first = err.errors()[0]
    loc = ".".join(str(part) for part in first["loc"]) or "<root>"
    kind = first["type"]
    if kind == "extra_forbidden":
        problem = "unknown key"
    elif kind == "missing":
        problem = "required key is missing"
    else:
        problem = first["msg"].removeprefix("Value error, ")
        if (
            "input" in first
            and kind != "value_error"
            and not isinstance(first["input"], dict | list)
        ):
            problem += f" (got {first['input']!r})"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {loc}: {problem}{suffix}"
