"""Settings of the RoleBench quality gate (the `validate` section of params.yaml).

Defaults are tuned so that an import of the original release passes: every tolerance below
names the release figure it was measured against. A pipeline run can tighten them.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field, model_validator

from rolellm.sections import Section

Fraction = Annotated[float, Field(ge=0.0, le=1.0)]
PositiveInt = Annotated[int, Field(gt=0)]


class Bounds(Section):
    """Inclusive [min, max] character counts."""

    min: Annotated[int, Field(ge=0)]
    max: PositiveInt

    @model_validator(mode="after")
    def _ordered(self) -> Bounds:
        if self.min > self.max:
            raise ValueError(f"min ({self.min}) is greater than max ({self.max})")
        return self


class ReferenceCounts(Section):
    """How many answers (`generated`) one general sample carries, per split.

    The pipeline writes 5 references in train/test and 1 in rolegpt_baseline; the original
    release has rows with 1 to 5 in train/test (where RoleGPT answers were filtered out).
    """

    train: Bounds = Bounds(min=1, max=5)
    test: Bounds = Bounds(min=1, max=5)
    rolegpt_baseline: Bounds = Bounds(min=1, max=1)

    def for_split(self, split: str) -> Bounds:
        return getattr(self, split)


class OocTolerance(Section):
    """Largest fraction of rows per split allowed to carry an out-of-character marker.

    The rolegpt_baseline split is a model output kept for comparison; in the release 0.4%
    of its rows break character ("As an AI language model, ...").
    """

    train: Fraction = 0.001
    test: Fraction = 0.001
    rolegpt_baseline: Fraction = 0.01

    def for_split(self, split: str) -> Fraction:
        return getattr(self, split)


class ValidateConfig(Section):
    """Every threshold of the quality gate.

    Fields:
        question_chars / answer_chars: length bounds in characters (release: questions 8-269,
            answers 1-1091).
        en_min_latin_ratio / zh_min_cjk_ratio: per row, Latin (resp. CJK) letters over
            Latin + CJK letters in question and answers; `language_mostly` is the share of
            rows that must reach it (release: zh general has translation tasks near 0.2).
        references: answers per general sample, per split.
        min_confidence: Context-Instruct confidence floor (null confidences are skipped).
        ooc_max_fraction: per split, the share of rows allowed an out-of-character marker.
            The markers, the exempt roles and the copy rule are the `rules:` section
            (rolellm.rules.RulesConfig), shared with the generation filters.
        max_duplicate_fraction: rows in duplicate (role, question) groups (release: 1.05% in
            the English role-specific test file, where the same question differs by spaces).
        max_leak_fraction: test rows whose (role, question) is in the same config's train
            split (release: 7 of 239 Chinese role-specific test rows, 2.9%).
    """

    question_chars: Bounds = Bounds(min=4, max=2000)
    answer_chars: Bounds = Bounds(min=1, max=4000)
    en_min_latin_ratio: Fraction = 0.8
    zh_min_cjk_ratio: Fraction = 0.5
    language_mostly: Fraction = 0.95
    references: ReferenceCounts = ReferenceCounts()
    min_confidence: float = 0.5
    ooc_max_fraction: OocTolerance = OocTolerance()
    max_duplicate_fraction: Fraction = 0.02
    max_leak_fraction: Fraction = 0.05
    examples: Annotated[int, Field(ge=0, le=20)] = 3
