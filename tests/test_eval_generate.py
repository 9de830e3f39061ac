"""Systems and generation of `evaluate` (training.eval_generate): settings checked before
any model loads, the adapter's training template, one request per distinct prompt."""

from __future__ import annotations

import json

import pytest

from rolellm.engine.config import EngineConfig
from rolellm.errors import ConfigError, InputError
from training.eval_config import EvaluateConfig
from training.eval_data import EvalData
from training.eval_generate import model_systems, requests_for, resolve_template
from training.eval_views import EvalItem


def test_settings_are_checked_early(tmp_path, tiny_model_dir):
    with pytest.raises(ValueError):
        EvaluateConfig(configs=("nope",))
    with pytest.raises(ValueError):
        EvaluateConfig(split="rolegpt_baseline")
    cfg = EvaluateConfig(model=str(tiny_model_dir), adapter=str(tmp_path / "missing"))
    with pytest.raises(InputError, match="adapter folder"):
        model_systems(cfg, EngineConfig())
    with pytest.raises(ConfigError, match="local backend"):
        model_systems(cfg, EngineConfig(backend="openai"))


def test_prompts_use_the_adapter_training_template(tmp_path):
    adapter = tmp_path / "rocit" / "adapter"
    adapter.mkdir(parents=True)
    template = "You are {{ name }} (EVAL-TEMPLATE). {{ description }}"
    summary = {"hyperparameters": {"system_prompt_template": template, "base_model": "m/x"}}
    (adapter.parent / "training_summary.json").write_text(json.dumps(summary))
    cfg = EvaluateConfig(adapter=str(adapter))
    got, source = resolve_template(cfg)
    assert got == template and "training_summary" in source
    assert resolve_template(cfg.model_copy(update={"adapter": None}), "T {{ name }}")[0] == (
        "T {{ name }}"
    )
    from rolellm.records import Role

    card = Role("Hamlet", "hamlet", description="Prince of Denmark.")
    item = EvalItem("c", "s", "en", "general", "Hamlet", "q", references=("x",))
    data = EvalData([item, item], None, [card, card])
    requests, index = requests_for(data, got, cfg)
    assert len(requests) == 1 and index == [0, 0]  # the same question is asked once
    system = requests[0].messages[0]["content"]
    assert system == "You are Hamlet (EVAL-TEMPLATE). Prince of Denmark."
    assert requests[0].sampling.temperature == 0.0
    assert model_systems(cfg, EngineConfig())[0].engine.local.model == "m/x"
