"""The RoleBench layout this project writes, imports, validates, trains on and publishes.

A RoleBench folder looks like this (the pipeline's `data/rolebench/`, an import, a release):

    <root>/README.md                      card whose `configs:` block makes load_dataset work
    <root>/roles.json                     roster: [{name, slug, lang, held_out, ...}]
    <root>/data/<config>/<split>.parquet  one shard per config and split

Every split of one config shares one schema, so `load_dataset(root, config)` loads all splits.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from datasets import Features

Lang = Literal["en", "zh"]
Kind = Literal["general", "role_specific"]

SPLITS: tuple[str, ...] = ("train", "test", "rolegpt_baseline")
QUESTION_TYPES: tuple[str, ...] = ("script_based", "script_agnostic")


@cache
def features_of(kind: Kind) -> Features:
    """The datasets Features of one kind of config (built on first use: importing `datasets`
    costs about a second, and the params schema, which every verb loads, imports this module).

    general: `generated` holds the RoleGPT in-character references (5 by default; 1 in the
    rolegpt_baseline split), `reference` the instruction's original answer (RAW view; "" when
    unknown, e.g. in an import of the original release), `kind` the instruction kind.
    role_specific: Context-Instruct items; `confidence` is null only for imported rows (the
    original release does not carry it).
    """
    from datasets import Features, Sequence, Value

    text = Value("string")
    if kind == "general":
        columns = {"role": text, "question": text, "generated": Sequence(text)}
        return Features({**columns, "reference": text, "kind": text})
    columns = {"role": text, "question": text, "generated": Sequence(text), "type": text}
    return Features({**columns, "confidence": Value("float64")})


@dataclass(frozen=True)
class ConfigSpec:
    name: str
    lang: Lang
    kind: Kind
    setting: Literal["instruction_generalization", "role_generalization", "zh"]

    @property
    def features(self) -> Features:
        return features_of(self.kind)

    def shard_path(self, split: str) -> str:
        return f"data/{self.name}/{split}.parquet"


CONFIGS: tuple[ConfigSpec, ...] = (
    ConfigSpec(
        "eng_instruction_generalization_general", "en", "general", "instruction_generalization"
    ),
    ConfigSpec(
        "eng_instruction_generalization_role_specific",
        "en",
        "role_specific",
        "instruction_generalization",
    ),
    ConfigSpec("eng_role_generalization_general", "en", "general", "role_generalization"),
    ConfigSpec(
        "eng_role_generalization_role_specific", "en", "role_specific", "role_generalization"
    ),
    ConfigSpec("zh_general", "zh", "general", "zh"),
    ConfigSpec("zh_role_specific", "zh", "role_specific", "zh"),
)
CONFIGS_BY_NAME = {spec.name: spec for spec in CONFIGS}
