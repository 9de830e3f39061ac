"""Settings of the `assemble` stage (the `assemble:` section)."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from rolellm.sections import Section


class AssembleConfig(Section):
    """test_fraction: share of each role's role-specific items put in test (deterministic).
    references: RoleGPT references kept per general sample (at most; the quality gate
    expects 1..5). seed: salts the role-specific split hash."""

    test_fraction: Annotated[float, Field(gt=0.0, lt=1.0)] = 0.2
    references: Annotated[int, Field(ge=1, le=20)] = 5
    seed: Annotated[int, Field(ge=0)] = 0
