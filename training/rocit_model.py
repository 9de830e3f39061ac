"""RoCIT's base model: resolve and load it with its tokenizer, check the prompts fit, LoRA config.

Also the base model's identity for the training summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from peft import LoraConfig
from transformers import (
    AutoModelForCausalLM,
    AutoTokenizer,
    PreTrainedModel,
    PreTrainedTokenizerBase,
)

from rolellm.errors import ConfigError, InputError
from training import rocit_attention
from training.prompts import render_system_prompt
from training.rocit_config import TrainConfig
from training.rocit_data import TrainingSet, lineage

DTYPES = {
    "auto": "auto",
    "float32": torch.float32,
    "bfloat16": torch.bfloat16,
    "float16": torch.float16,
}


# --- base model --------------------------------------------------------------------------


def resolve_base_model(ref: str) -> str:
    """A local folder (returned as is) or a Hub id (passed through to from_pretrained)."""
    path = Path(ref).expanduser()
    if path.exists():
        if not path.is_dir():
            raise InputError(f"base model {ref!r} is a file, expected a model folder")
        return str(path)
    first = ref.split("/", 1)[0]
    local_looking = (
        path.is_absolute()
        or ref.startswith((".", "~"))
        or "\\" in ref
        or ref.count("/") > 1
        or (ref.count("/") == 1 and Path(first).is_dir())
    )
    if local_looking:
        raise InputError(f"base model folder not found: {ref}")
    return ref


def _load_error(ref: str, err: Exception) -> InputError:
    first_line = (str(err).strip().splitlines() or [type(err).__name__])[0]
    hint = " (for the embedded default run `rolellm prepare-model`)" if "/" in ref else ""
    return InputError(f"base model {ref!r} could not be loaded{hint}: {first_line[:200]}")


def load_tokenizer(ref: str, revision: str | None) -> PreTrainedTokenizerBase:
    try:
        tokenizer = AutoTokenizer.from_pretrained(ref, revision=revision)
    except (OSError, ValueError) as err:
        raise _load_error(ref, err) from None
    if not getattr(tokenizer, "chat_template", None):
        raise InputError(f"base model {ref!r}: tokenizer has no chat template")
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    return tokenizer


def attention_for(cfg: TrainConfig) -> str | None:
    """Padding-free and packed batches default to per-sample SDPA (see rocit_attention)."""
    attn = cfg.attn_implementation
    if attn == rocit_attention.NAME or (attn is None and cfg.batching != "padded"):
        return rocit_attention.register()
    return attn


def load_model(ref: str, cfg: TrainConfig) -> PreTrainedModel:
    kwargs: dict[str, Any] = {"revision": cfg.revision, "dtype": DTYPES[cfg.dtype]}
    attn = attention_for(cfg)
    if attn:
        kwargs["attn_implementation"] = attn
    try:
        return AutoModelForCausalLM.from_pretrained(ref, **kwargs)
    except (OSError, ValueError) as err:
        raise _load_error(ref, err) from None


# --- checks ------------------------------------------------------------------------------


def check_prompts_fit(
    data: TrainingSet, tokenizer: PreTrainedTokenizerBase, cfg: TrainConfig
) -> int:
    """Raise when ``max_length`` cannot hold the longest system prompt; return its length."""
    longest, who = 0, ""
    for name in data.role_counts:
        system = [
            {
                "role": "system",
                "content": render_system_prompt(data.roles[name], cfg.system_prompt_template),
            }
        ]
        n = len(tokenizer.apply_chat_template(system, tokenize=True, return_dict=True)["input_ids"])
        if n > longest:
            longest, who = n, name
    if cfg.max_length <= longest:
        raise ConfigError(
            f"train.max_length={cfg.max_length} is shorter than the longest system prompt "
            f"({longest} tokens, role {who!r}); raise max_length or shorten system_prompt_template"
        )
    return longest


def lora_config(cfg: TrainConfig, model: PreTrainedModel) -> LoraConfig:
    """The PEFT LoRA config; every named target module must exist in the model."""
    targets = list(cfg.lora.target_modules)
    if targets != ["all-linear"]:
        names = {name.rsplit(".", 1)[-1] for name, _ in model.named_modules()}
        missing = [t for t in targets if t not in names]
        if missing:
            linear = sorted(
                {
                    n.rsplit(".", 1)[-1]
                    for n, m in model.named_modules()
                    if isinstance(m, torch.nn.Linear)
                }
            )
            raise ConfigError(
                f"train.lora.target_modules: {missing} not in the model; linear layers: {linear}"
            )
    return LoraConfig(
        r=cfg.lora.r,
        lora_alpha=cfg.lora.alpha,
        lora_dropout=cfg.lora.dropout,
        target_modules="all-linear" if targets == ["all-linear"] else targets,
        task_type="CAUSAL_LM",
    )


def base_model_identity(
    ref: str, cfg: TrainConfig, model: PreTrainedModel, dvc_lock: Path | None
) -> dict[str, Any]:
    local = Path(ref).is_dir()
    identity: dict[str, Any] = {
        "ref": cfg.base_model,
        "revision": cfg.revision,
        "local": local,
        "model_type": model.config.model_type,
        "architectures": list(model.config.architectures or []),
        "parameters": sum(p.numel() for p in model.parameters()),
    }
    if local:
        config_md5 = lineage([Path(ref) / "config.json"], None)[0]["md5"]
        folder = lineage([Path(ref)], dvc_lock)[0]
        identity["config_md5"] = config_md5
        if folder["source"] == "dvc.lock":
            identity["dvc_md5"] = folder["md5"]
    return identity
