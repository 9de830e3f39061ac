"""Settings of the `evaluate` stage (the `evaluate:` section)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from dataset_builder.schema import CONFIGS_BY_NAME, SPLITS
from rolellm.errors import ConfigError
from rolellm.sections import NonNegInt, PositiveInt, Section
from training.eval_views import RougeSettings
from training.judge import JudgeConfig
from training.prompts import check_template


class EvaluateConfig(Section):
    """The `evaluate` section of params.yaml."""

    model: str | None = None  # base model; None: the one the adapter was trained on
    revision: str | None = None
    adapter: str | None = "models/rocit/adapter"  # None: evaluate `model` alone
    compare_base: bool = True  # with an adapter: also the base model without it
    rolegpt: bool = True  # score the rolegpt_baseline rows as a third system
    configs: tuple[str, ...] | None = None  # None: every config with a `split` shard
    split: str = "test"
    max_per_role: PositiveInt | None = None  # first N rows of each role per config
    max_new_tokens: Annotated[int, Field(gt=0, le=32768)] = 128
    system_prompt_template: str | None = None  # None: the adapter's training template
    seed: NonNegInt = 0
    cache_stage: str = "evaluate"
    rouge: RougeSettings = RougeSettings()
    judge: JudgeConfig = JudgeConfig()

    @field_validator("configs")
    @classmethod
    def _known_configs(cls, value: tuple[str, ...] | None) -> tuple[str, ...] | None:
        unknown = [name for name in value or () if name not in CONFIGS_BY_NAME]
        if unknown:
            raise ValueError(f"unknown RoleBench config {unknown[0]!r}")
        return value

    @field_validator("split")
    @classmethod
    def _known_split(cls, value: str) -> str:
        if value not in SPLITS or value == "rolegpt_baseline":
            raise ValueError("must be test or train (rolegpt_baseline is the baseline)")
        return value

    @field_validator("system_prompt_template")
    @classmethod
    def _template_renders(cls, value: str | None) -> str | None:
        if value is None:
            return None
        try:
            return check_template(value)
        except ConfigError as err:
            raise ValueError(str(err).removeprefix("system_prompt_template: ")) from None


@dataclass(frozen=True)
class EvalPaths:
    data: Path = Path("data/rolebench")
    metrics: Path = Path("metrics/eval.json")
    reports: Path = Path("reports")

    @property
    def report(self) -> Path:
        return self.reports / "eval.md"

    @property
    def per_role_csv(self) -> Path:
        return self.reports / "eval_per_role.csv"

    @property
    def details(self) -> Path:
        return self.reports / "eval_details.json"

    @property
    def plots(self) -> Path:
        return self.reports / "plots"

    @property
    def predictions(self) -> Path:
        return self.reports / "predictions"
