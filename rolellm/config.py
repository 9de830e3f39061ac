"""Typed configuration: params.yaml is read once by the CLI and validated here.

`Params` lists every section of params.yaml as a typed field. Each section is defined beside
the stage it configures (in a config module that imports only `rolellm.sections`), and is
composed here, above the stages: no stage imports this module. Every section forbids unknown
keys, so a typo stops the run with one line naming the key. Library code receives these
objects; it never reads params.yaml itself.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import yaml
from pydantic import ValidationError

from cards.config import ReleaseConfig
from dataset_builder.assemble_config import AssembleConfig
from dataset_builder.context_instruct_config import ContextInstructConfig
from dataset_builder.instructions_config import InstructionsConfig
from dataset_builder.profiles_config import ProfilesConfig
from dataset_builder.rolegpt_config import RoleGPTConfig
from dataset_builder.validation.config import ValidateConfig
from rolellm.engine.config import EngineConfig, PrepareModelConfig
from rolellm.errors import ConfigError
from rolellm.overrides import apply_overrides
from rolellm.rules import RulesConfig
from rolellm.sections import NonNegInt, Section, describe_error
from training.eval_config import EvaluateConfig
from training.rocit_config import TrainConfig


class Params(Section):
    """params.yaml: the seed, the engine, and one section per stage."""

    seed: NonNegInt = 0
    engine: EngineConfig = EngineConfig()
    prepare_model: PrepareModelConfig = PrepareModelConfig()
    profiles: ProfilesConfig = ProfilesConfig()
    instructions: InstructionsConfig = InstructionsConfig()
    rolegpt: RoleGPTConfig = RoleGPTConfig()
    context_instruct: ContextInstructConfig = ContextInstructConfig()
    assemble: AssembleConfig = AssembleConfig()
    validation: ValidateConfig = ValidateConfig()
    train: TrainConfig = TrainConfig()
    evaluate: EvaluateConfig = EvaluateConfig()
    release: ReleaseConfig = ReleaseConfig()
    rules: RulesConfig = RulesConfig()


def parse_params(
    data: object, source: str = "params.yaml", overrides: Sequence[str] = ()
) -> Params:
    """Validate a params mapping after applying `--set key=value` overrides to it."""
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(f"{source}: top level must be a mapping of sections")
    if overrides:
        data = apply_overrides(data, overrides, source, Params)
    try:
        return Params.model_validate(data)
    except ValidationError as err:
        raise ConfigError(describe_error(err, source)) from None


def load_params(path: str | Path = "params.yaml", overrides: Sequence[str] = ()) -> Params:
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
    return parse_params(data, str(path), overrides)
