"""What Context-Instruct asks and what it accepts: the prompts per language and question type,
the worked example each request opens with, and the reply schema (RoleLLM §3.3).

Prompts are kept short and literal, and each request opens with a worked example (a fixed
user turn and its JSON reply), because the embedded model has 135M parameters: with the
example about half of its first attempts parse, without it almost none do.
"""

from __future__ import annotations

import json
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

FORMAT = '{"items": [{"question": "...", "answer": "...", "confidence": 8}]}'
SCRIPT_BASED_EN = """Here is a scene with {role}:

{scene}

Write {k} questions about this scene that someone could ask {role}, with {role}'s answers \
in the first person. Rate how sure you are of each answer from 0 to 10.
Reply only with JSON like this:
{format}"""
SCRIPT_AGNOSTIC_EN = """{role}: {description}
{catchphrases}
Write {k} questions that someone could ask {role} about who they are, their life, their \
feelings and the people they know, with {role}'s answers in the first person. Rate how sure \
you are of each answer from 0 to 10.
Reply only with JSON like this:
{format}"""
SCRIPT_BASED_ZH = """下面是{role}的一段剧情：

{scene}

请写{k}个别人可能就这段剧情问{role}的问题，并以{role}的第一人称回答。给每个回答的把握打分（0到10）。
只用如下JSON格式回复：
{format}"""
SCRIPT_AGNOSTIC_ZH = """{role}：{description}
{catchphrases}
请写{k}个别人可能问{role}的关于其身份、经历、情感和身边人物的问题，并以{role}的第一人称回答。\
给每个回答的把握打分（0到10）。
只用如下JSON格式回复：
{format}"""
PROMPTS = {
    ("en", "script_based"): SCRIPT_BASED_EN,
    ("en", "script_agnostic"): SCRIPT_AGNOSTIC_EN,
    ("zh", "script_based"): SCRIPT_BASED_ZH,
    ("zh", "script_agnostic"): SCRIPT_AGNOSTIC_ZH,
}

# One worked example per (language, type), sent as a first user/assistant exchange: a small
# model copies a demonstrated JSON reply far more reliably than it follows a description.
# Items that echo an example question or answer are dropped (reason copies_example).
EXAMPLE_FIELDS = {
    "en": {
        "role": "ALICE",
        "scene": "BOB: Where were you last night?\nALICE: At the harbour, waiting for my "
        "brother's ship to come in.",
        "description": "Alice is a sailor's sister who lives in a small harbour town.",
        "catchphrases": 'Catchphrases: "The sea gives and the sea takes"\n',
    },
    "zh": {
        "role": "小红",
        "scene": "小明：你昨晚去哪儿了？\n小红：我在码头等我哥哥的船回来。",
        "description": "小红是海边小镇上一个水手的妹妹。",
        "catchphrases": "口头禅：“大海给的，大海也会拿走”\n",
    },
}
EXAMPLE_ITEMS = {
    ("en", "script_based"): [
        ("Where were you last night?", "At the harbour. I waited all night for my brother's ship."),
        ("Who were you waiting for?", "My brother. His ship was late, and I was worried."),
    ],
    ("en", "script_agnostic"): [
        ("Where do you live?", "In a small harbour town. The sea gives and the sea takes."),
        ("Do you have any family?", "Yes, my brother. He is a sailor, always far away."),
    ],
    ("zh", "script_based"): [
        ("你昨晚去哪儿了？", "我在码头，等了一整夜哥哥的船。"),
        ("你在等谁？", "等我哥哥，他的船晚了，我很担心。"),
    ],
    ("zh", "script_agnostic"): [
        ("你住在哪里？", "住在海边的小镇上。大海给的，大海也会拿走。"),
        ("你有家人吗？", "有，我哥哥是个水手，总是不在家。"),
    ],
}


def example_turns(lang: str, kind: str) -> list[dict[str, str]]:
    """The worked example of (lang, kind) as a user turn and an assistant JSON reply."""
    items = EXAMPLE_ITEMS[(lang, kind)]
    prompt = PROMPTS[(lang, kind)].format(**EXAMPLE_FIELDS[lang], k=len(items), format=FORMAT)
    reply = {"items": [{"question": q, "answer": a, "confidence": 9} for q, a in items]}
    return [
        {"role": "user", "content": prompt},
        {"role": "assistant", "content": json.dumps(reply, ensure_ascii=False)},
    ]


def example_texts() -> list[str]:
    """Every question and answer of the worked examples."""
    return [text for items in EXAMPLE_ITEMS.values() for item in items for text in item]


def _rating(schema: dict[str, Any]) -> None:
    schema.clear()  # the schema asks for a whole 0-10 rating; validation takes any number
    schema.update({"type": "integer", "minimum": 0, "maximum": 10})


# Schema-only bounds (json_schema_extra) are what constrained decoding follows: non-empty, not
# endless text, a required rating; validation stays as lenient as the filters after it expect.
# (No docstrings on reply models: pydantic would put them into the schema sent with requests.)
class QAItem(BaseModel):
    model_config = ConfigDict(json_schema_extra={"required": ["question", "answer", "confidence"]})

    question: Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": 160})]
    answer: Annotated[str, Field(json_schema_extra={"minLength": 1, "maxLength": 320})]
    confidence: Annotated[float | None, Field(json_schema_extra=_rating)] = None


class QAReply(BaseModel):
    """{"items": [...]}; a bare list of items or one bare item is accepted as well."""

    items: Annotated[list[QAItem], Field(json_schema_extra={"minItems": 1})]

    @model_validator(mode="before")
    @classmethod
    def _wrap(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"items": data}
        if isinstance(data, dict) and "items" not in data and "question" in data:
            return {"items": [data]}
        return data


def scaled_confidence(value: float | None) -> float | None:
    """A 0-10 rating as 0.0-1.0, clamped to the scale; None stays None (dropped later)."""
    return None if value is None else min(max(float(value), 0.0), 10.0) / 10.0
