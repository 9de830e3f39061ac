"""Systems and generation of the `evaluate` stage: which model (and adapter) each system is,
the system prompt template, one request per distinct prompt, and the answers through the
cached, batched engine.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rolellm.engine.config import EngineConfig
from rolellm.engine.types import ChatRequest
from rolellm.errors import ConfigError, InputError
from rolellm.sections import Sampling
from training.eval_config import EvaluateConfig
from training.eval_data import EvalData
from training.prompts import DEFAULT_SYSTEM_PROMPT_TEMPLATE, build_messages


@dataclass(frozen=True)
class ModelSystem:
    name: str
    engine: EngineConfig
    label: str


def training_summary(adapter: str | None) -> dict[str, Any] | None:
    """The training_summary.json written beside the adapter by `rolellm train`, if any."""
    if not adapter:
        return None
    for path in (Path(adapter).parent / "training_summary.json", Path(adapter) / "summary.json"):
        if path.is_file():
            try:
                summary = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                return None
            return summary if isinstance(summary, dict) else None
    return None


def _trained_setting(adapter: str | None, name: str) -> Any:
    summary = training_summary(adapter) or {}
    return (summary.get("hyperparameters") or {}).get(name)


def resolve_template(cfg: EvaluateConfig, train_template: str | None = None) -> tuple[str, str]:
    """(template, where it came from): this section, the adapter's training, train, default."""
    if cfg.system_prompt_template is not None:
        return cfg.system_prompt_template, "evaluate.system_prompt_template"
    trained = _trained_setting(cfg.adapter, "system_prompt_template")
    if isinstance(trained, str) and trained.strip():
        return trained, "the adapter's training_summary.json"
    if train_template is not None:
        return train_template, "train.system_prompt_template"
    return DEFAULT_SYSTEM_PROMPT_TEMPLATE, "the default of training.prompts"


def resolve_model(cfg: EvaluateConfig) -> str:
    if cfg.model:
        return cfg.model
    trained = _trained_setting(cfg.adapter, "base_model")
    if isinstance(trained, str) and trained:
        return trained
    config = Path(cfg.adapter or "") / "adapter_config.json"
    if cfg.adapter and config.is_file():
        base = json.loads(config.read_text(encoding="utf-8")).get("base_model_name_or_path")
        if base:
            return str(base)
    raise ConfigError("evaluate.model: name the model to evaluate (a folder or a Hub id)")


def _check_adapter(adapter: str) -> None:
    path = Path(adapter).expanduser()
    hub_like = adapter.count("/") == 1 and not adapter.startswith((".", "/", "~"))
    if not path.is_dir() and not (hub_like and not Path(adapter.split("/")[0]).is_dir()):
        raise InputError(
            f"evaluate.adapter: adapter folder {adapter!r} not found "
            "(run `rolellm train` first, or set the adapter to null)"
        )


def _check_model(model: str) -> None:
    """A local-looking model that is not a folder fails here, before any cache is opened
    (the same rule as the local backend's loader, which would fail later)."""
    path = Path(model).expanduser()
    looks_local = model.startswith((".", "/", "~")) or path.exists() or model.count("/") != 1
    if looks_local and not path.is_dir():
        raise InputError(f"evaluate.model: model folder {model!r} not found")


def model_systems(cfg: EvaluateConfig, engine: EngineConfig) -> list[ModelSystem]:
    """The systems that generate: rocit and base (with an adapter), or one model."""
    if cfg.adapter and engine.backend == "openai":
        raise ConfigError("evaluate.adapter: adapters need the local backend")
    if cfg.adapter:
        _check_adapter(cfg.adapter)
    model = resolve_model(cfg)
    if engine.backend == "local":
        _check_model(model)
    if engine.backend == "openai":
        served = engine.model_copy(
            update={"openai": engine.openai.model_copy(update={"model": model})}
        )
        return [ModelSystem("model", served, f"{model} at {engine.openai.base_url}")]
    local = engine.local.model_copy(
        update={"model": model, "revision": cfg.revision, "adapter": None}
    )
    plain = engine.model_copy(update={"backend": "local", "local": local})
    if not cfg.adapter:
        return [ModelSystem("model", plain, model)]
    tuned_local = local.model_copy(update={"adapter": cfg.adapter})
    tuned = engine.model_copy(update={"backend": "local", "local": tuned_local})
    systems = [ModelSystem("rocit", tuned, f"{model} + adapter {cfg.adapter}")]
    if cfg.compare_base:
        systems.append(ModelSystem("base", plain, model))
    return systems


@dataclass
class Answers:
    texts: list[str | None]  # None: generation failed
    errors: list[str]


def requests_for(
    data: EvalData, template: str, cfg: EvaluateConfig
) -> tuple[list[ChatRequest], list[int]]:
    """Unique requests (repeated role + question asked once) and each item's request index."""
    sampling = Sampling(temperature=0.0, top_p=1.0, max_new_tokens=cfg.max_new_tokens)
    unique: dict[tuple, ChatRequest] = {}
    index: list[int] = []
    positions: dict[tuple, int] = {}
    for item, card in zip(data.items, data.cards, strict=True):
        messages = build_messages(card, item.question, template)
        key = tuple((m["role"], m["content"]) for m in messages)
        if key not in positions:
            positions[key] = len(unique)
            unique[key] = ChatRequest.of(messages, sampling=sampling, seed=cfg.seed)
        index.append(positions[key])
    return list(unique.values()), index


def generate(system: ModelSystem, requests: list[ChatRequest], index: list[int], stage: str):
    """Answers of one system to every item (via the cached, batched engine)."""
    from rolellm.engine.engine import build_engine

    engine = build_engine(system.engine, stage)
    try:
        results = engine.generate(requests)
        engine.cache.create()  # a declared DVC output
    finally:
        engine.close()
    texts = [r.texts[0].strip() if r.ok and r.texts else None for r in results]
    errors = [e for r in results for e in r.errors]
    return Answers([texts[i] for i in index], errors)
