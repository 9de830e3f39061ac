"""The `train` section of params.yaml: RoCIT hyperparameters, validated at load time."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import Field, field_validator

from dataset_builder.schema import CONFIGS_BY_NAME
from rolellm.errors import ConfigError
from rolellm.sections import NonNegInt, PositiveInt, Probability, Section
from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, check_template

LLAMA_LINEAR = ("q_proj", "k_proj", "v_proj", "o_proj", "gate_proj", "up_proj", "down_proj")


class LoraSettings(Section):
    """PEFT LoRA adapter. ``target_modules: [all-linear]`` targets every linear layer."""

    r: PositiveInt = 16
    alpha: Annotated[float, Field(gt=0)] = 32
    dropout: Probability = 0.05
    target_modules: tuple[str, ...] = LLAMA_LINEAR

    @field_validator("target_modules")
    @classmethod
    def _non_empty(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one module name (or all-linear)")
        return value


class TrainConfig(Section):
    """RoCIT: TRL SFT with a LoRA adapter on role-conditioned RoleBench samples."""

    base_model: str = "models/smollm2"
    revision: str | None = None
    train_configs: tuple[str, ...] = (
        "eng_instruction_generalization_general",
        "eng_instruction_generalization_role_specific",
    )
    split: str = "train"
    references_per_sample: PositiveInt | None = None  # general rows: first N references; None = all
    system_prompt_template: str = DEFAULT_SYSTEM_PROMPT_TEMPLATE
    lora: LoraSettings = LoraSettings()
    learning_rate: Annotated[float, Field(gt=0)] = 2e-4
    lr_scheduler: Literal["cosine", "linear", "constant", "constant_with_warmup"] = "cosine"
    warmup_ratio: Annotated[float, Field(ge=0, lt=1)] = 0.03
    weight_decay: Annotated[float, Field(ge=0)] = 0.0
    epochs: Annotated[float, Field(gt=0)] = 1.0
    max_steps: PositiveInt | None = None
    per_device_batch_size: PositiveInt = 8
    gradient_accumulation: PositiveInt = 1
    max_length: Annotated[int, Field(gt=0)] = 512
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    mixed_precision: Literal["auto", "no", "bf16", "fp16"] = "auto"
    # None: sdpa for padded batches, per-sample "sdpa_varlen" for padding-free/packed ones
    attn_implementation: Literal["sdpa", "sdpa_varlen", "eager", "flash_attention_2"] | None = None
    gradient_checkpointing: bool = False
    batching: Literal["padded", "padding_free", "packing"] = "padding_free"
    seed: NonNegInt = 0
    save_steps: PositiveInt = 50
    save_total_limit: PositiveInt = 2
    logging_steps: PositiveInt = 5
    merge: bool = False

    @field_validator("train_configs")
    @classmethod
    def _known_configs(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("name at least one RoleBench config")
        unknown = [name for name in value if name not in CONFIGS_BY_NAME]
        if unknown:
            raise ValueError(
                f"unknown RoleBench config {unknown[0]!r}; known: {sorted(CONFIGS_BY_NAME)}"
            )
        return value

    @field_validator("system_prompt_template")
    @classmethod
    def _template_renders(cls, value: str) -> str:
        try:
            return check_template(value)
        except ConfigError as err:
            raise ValueError(str(err).removeprefix("system_prompt_template: ")) from None
