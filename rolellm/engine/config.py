"""Settings of the LLM engine: which backend, which model, how to reach it.

`engine:` in params.yaml; every generating stage builds its engine from this section.
"""

from __future__ import annotations

import re
from typing import Annotated, Literal

from pydantic import Field, field_validator

from rolellm.rules import looks_like_secret
from rolellm.sections import Section

_ENV_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")


class LocalBackendConfig(Section):
    """transformers on this machine: a local folder or a Hub id."""

    model: str = "models/smollm2"
    # requests of Chinese roles go to this model (null: `model` answers them too)
    model_zh: str | None = None
    revision: str | None = None
    adapter: str | None = None  # a PEFT adapter folder (or Hub id) applied on top of `model`
    device: Literal["auto", "cpu", "cuda", "mps"] = "auto"
    dtype: Literal["auto", "float32", "bfloat16", "float16"] = "auto"
    batch_size: Annotated[int, Field(gt=0, le=4096)] = 16
    max_input_tokens: Annotated[int, Field(gt=0)] = 4096
    # decode a reply that must be JSON under its schema (llguidance); false: free decoding,
    # then validation and up to engine.json_retries retries
    constrained_json: bool = True


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
        if looks_like_secret(value):
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
    """Materialise the embedded GGUF models as safetensors folders once."""

    out: str = "models/smollm2"  # SmolLM2-135M-Instruct: English, and the RoCIT base
    out_zh: str = "models/gemma3-270m"  # Gemma 3 270M: the Chinese generator
