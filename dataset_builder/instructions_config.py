"""Settings of the `instructions` stage (the `instructions:` section): sources and sizes."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, model_validator

from rolellm.sections import NonNegInt, Probability, Section

Lang = Literal["en", "zh"]
LANGS: tuple[str, ...] = ("en", "zh")
SEED_PREFIX = "seed:"
DEFAULT_OUT = "data/instructions/pool.jsonl"
FormatName = Literal["auto", "jsonl", "json", "csv", "tsv", "parquet", "hub"]
_KIND_NAME = r"^[a-z0-9][a-z0-9_]*$"


class ColumnMap(Section):
    """Pool field -> source column name. `kind` / `id` set to null: not read."""

    instruction: Annotated[str, Field(min_length=1)] = "instruction"
    answer: Annotated[str, Field(min_length=1)] = "answer"
    kind: Annotated[str, Field(min_length=1)] | None = "kind"
    id: Annotated[str, Field(min_length=1)] | None = "id"

    @model_validator(mode="after")
    def _distinct(self) -> ColumnMap:
        if self.instruction == self.answer:
            raise ValueError(
                f"instruction and answer both read column {self.instruction!r}; "
                "map them to different columns"
            )
        return self


class InstructionSource(Section):
    """One instruction file, dataset folder or Hub dataset."""

    path: Annotated[str, Field(min_length=1)]
    format: FormatName = "auto"  # auto: by suffix; a folder or an `owner/name` id -> hub
    split: Annotated[str, Field(min_length=1)] = "train"  # Hub / dataset folder only
    subset: str | None = None  # Hub configuration name (load_dataset's `name`)
    revision: str | None = None  # Hub revision (branch, tag or commit)
    lang: Lang
    columns: ColumnMap = ColumnMap()
    kind_default: Annotated[str, Field(pattern=_KIND_NAME)] = "open_ended"


def default_sources() -> list[InstructionSource]:
    return [
        InstructionSource(path=f"{SEED_PREFIX}instructions_en.jsonl", lang="en"),
        InstructionSource(path=f"{SEED_PREFIX}instructions_zh.jsonl", lang="zh"),
    ]


class InstructionsConfig(Section):
    """Stage `instructions`: which general instructions, how many, which are test-only."""

    sources: Annotated[list[InstructionSource], Field(min_length=1)] = Field(
        default_factory=default_sources
    )
    n_en: NonNegInt = 40  # English instructions in the pool (0: none)
    n_zh: NonNegInt = 0  # Chinese instructions in the pool (0: none)
    test_fraction: Probability = 0.25  # share of each (lang, kind) that is test-only
    seed: NonNegInt = 0
    out: str = DEFAULT_OUT

    @model_validator(mode="after")
    def _sources_for_requested_langs(self) -> InstructionsConfig:
        have = {source.lang for source in self.sources}
        for lang in LANGS:
            n = self.requested(lang)
            if n and lang not in have:
                raise ValueError(f"n_{lang} is {n} but no source has lang {lang!r}")
        return self

    def requested(self, lang: str) -> int:
        return {"en": self.n_en, "zh": self.n_zh}.get(lang, 0)
