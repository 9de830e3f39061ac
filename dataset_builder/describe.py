"""Description and catchphrases of a role, written by the LLM from the role's own lines.

Input columns: the role's name, its play, a sample of its lines.
Output: {description: str, catchphrases: [str]} (structured JSON reply, validated).
`PersonaTask` is the generation task (dataset_builder.generation) of a list of roles: one
request each, rows {role, persona}.
A user YAML file may override any field for any role (by name); a role whose generated reply
stays invalid after the engine's retries is reported, unless the override file covers it.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Annotated

import yaml
from pydantic import BaseModel, Field, ValidationError

from dataset_builder.filters import FilterRunner
from dataset_builder.generation.task import GenerationTask, Row
from dataset_builder.scripts.base import Line
from rolellm.engine.types import ChatRequest, ChatResult, at_most
from rolellm.errors import InputError
from rolellm.sections import Sampling, Section

PROMPT = """Here are lines spoken by {name} in {source}:
{lines}

Write a JSON object describing {name} with two keys: "description" (two or three sentences \
about who the character is, their situation and personality) and "catchphrases" (a list of \
{k} short phrases or sayings typical of the character, taken from or inspired by the lines). \
Reply with the JSON object only."""
PROMPT_ZH = """以下是{name}在{source}中说过的话：
{lines}

写一个描述{name}的 JSON 对象，包含两个键："description"（两三句话，说明这个角色是谁、\
处境和性格）和 "catchphrases"（{k} 个{name}常说的短语或口头禅，取自或化用上面的台词）。\
只回复这个 JSON 对象。"""


class DescribeConfig(Section):
    sampling: Sampling = Sampling(temperature=0.7, max_new_tokens=200)
    lines_in_prompt: Annotated[int, Field(gt=0, le=200)] = 12
    max_line_chars: Annotated[int, Field(gt=10)] = 200
    catchphrases: Annotated[int, Field(gt=0, le=20)] = 3
    overrides: str | None = None  # YAML: {role name: {description: ..., catchphrases: [...]}}


# maxLength bounds only the schema that constrained decoding follows (a small model otherwise
# loops inside a string until the token limit cuts it off); validation accepts longer text.
class Persona(BaseModel):
    description: Annotated[str, Field(min_length=20, json_schema_extra={"maxLength": 320})]
    catchphrases: Annotated[
        list[Annotated[str, Field(min_length=2, json_schema_extra={"maxLength": 60})]],
        Field(min_length=1),
    ]


class PersonaOverride(BaseModel):
    model_config = {"extra": "forbid"}
    description: str | None = None
    catchphrases: list[str] | None = None


def sample_lines(lines: Sequence[Line], k: int, max_chars: int) -> list[str]:
    """k of the role's lines spread evenly over the play, longest-first within each stretch."""
    if not lines:
        return []
    step = max(1, len(lines) // k)
    picked = [
        max(lines[i : i + step], key=lambda ln: len(ln.content)) for i in range(0, len(lines), step)
    ]
    return [ln.content[:max_chars] for ln in picked[:k]]


def persona_request(
    name: str, source: str, lines: Sequence[Line], cfg: DescribeConfig, seed: int, lang: str = "en"
) -> ChatRequest:
    shown = "\n".join(
        f"- {text}" for text in sample_lines(lines, cfg.lines_in_prompt, cfg.max_line_chars)
    )
    template = PROMPT_ZH if lang == "zh" else PROMPT
    prompt = template.format(name=name, source=source, lines=shown, k=cfg.catchphrases)
    return ChatRequest.of(
        [{"role": "user", "content": prompt}],
        sampling=cfg.sampling,
        seed=seed,
        reply_model=at_most(Persona, "catchphrases", cfg.catchphrases),
        lang=lang,
    )


class PersonaTask(GenerationTask[str]):
    """A persona for each role.

    Input: (role name, source, the role's own lines, language) per role. Output rows: role, persona
    (a validated Persona). A role whose reply stays invalid after the engine's retries is
    an InputError naming it: a persona is an input of every later stage, not a droppable row.
    """

    def __init__(
        self, roles: Sequence[tuple[str, str, Sequence[Line], str]], cfg: DescribeConfig, seed: int
    ):
        self.roles, self.cfg, self.seed = list(roles), cfg, seed

    def requests(self) -> list[tuple[ChatRequest, str]]:
        return [
            (persona_request(name, source, lines, self.cfg, self.seed, lang), name)
            for name, source, lines, lang in self.roles
        ]

    def rows(self, context: str, result: ChatResult, filters: FilterRunner) -> list[Row]:
        if not result.ok:
            raise InputError(
                f"role {context!r}: no valid persona reply: {result.errors[0]}; write its"
                " description and catchphrases in the personas file (profiles.describe.overrides)"
                " or raise profiles.describe.sampling.max_new_tokens"
            )
        return [{"role": context, "persona": result.replies[0].parsed}]


def load_overrides(path: str | None) -> dict[str, PersonaOverride]:
    if path is None:
        return {}
    file = Path(path)
    if not file.is_file():
        raise InputError(f"{file}: persona override file not found (profiles.describe.overrides)")
    try:
        data = yaml.safe_load(file.read_text(encoding="utf-8")) or {}
    except (UnicodeDecodeError, yaml.YAMLError) as err:
        raise InputError(f"{file}: not valid UTF-8 YAML ({type(err).__name__})") from None
    if not isinstance(data, dict):
        raise InputError(f"{file}: top level must map role names to fields")
    try:
        return {str(name): PersonaOverride.model_validate(v or {}) for name, v in data.items()}
    except ValidationError as err:
        first = err.errors()[0]
        raise InputError(f"{file}: {'.'.join(map(str, first['loc']))}: {first['msg']}") from None
